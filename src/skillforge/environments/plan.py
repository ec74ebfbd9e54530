"""An install plan from what a repository's tree says at a commit.

``read_project`` gathers the facts (build backend, extras, dependency groups,
requirement files, Pipfile, tox, pytest configuration, version tools, the
Python the project asks for); ``install_steps`` turns them into ``sf-install``
commands for one Python. Nothing is executed: ``setup.py`` and ``noxfile.py``
are only scanned with regular expressions.

``sf-install ARGS`` is ``uv pip install ARGS`` into the environment, with every
distribution resolved as of the commit's date (``EnvRecipe.exclude_newer``);
the install commands run in the repository's root.

The readers live beside it: ``tox`` (tox configurations), ``requirements``
(requirement files, extras, groups, poetry, Pipfile, setup.py) and ``parsers``
(small forgiving parsers); their public names are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from skillforge.environments.parsers import (
    ReadFile, _cfg, _lines, _norm, _quote, _str_list, _table, _toml, is_url, req_name,
)
from skillforge.environments.python import (
    as_utc, ci_pythons, classifier_pythons, nox_pythons, tox_pythons, version_tuple,
)
from skillforge.environments.requirements import (
    ALL_EXTRAS, DEV_EXTRAS, TEST_EXTRAS, RequirementFiles, _group_packages, choose_extras, pipfile_requirement,
    poetry_requirement, poetry_spec, requirement_files, setup_py_extras, setup_py_tests_require,
)
from skillforge.environments.tox import ToxConfig, ToxEnv, _tox_config

__all__ = [
    "ALL_EXTRAS", "DEV_EXTRAS", "SF_INSTALL", "TEST_EXTRAS", "ProjectFacts", "ReadFile", "RequirementFiles",
    "ToxConfig", "ToxEnv", "choose_extras", "install_steps", "is_url", "pep440_version", "pipfile_requirement",
    "poetry_requirement", "poetry_spec", "read_project", "req_name", "requirement_files", "requirement_lines",
    "setup_py_extras", "setup_py_tests_require", "version_env",
]

SF_INSTALL = "sf-install"


# --------------------------------------------------------------------------- build backends and editable installs

_LEGACY = "setuptools.build_meta:__legacy__"
_EDITABLE_SINCE: tuple[tuple[str, str | None, str | None, str | None, str | None], ...] = (
    # backend (prefix), distribution, first version with PEP 660 editable wheels, its date, its oldest Python
    ("setuptools.build_meta", "setuptools", "64", "2022-08-11", "3.7"),
    ("flit_core.buildapi", "flit-core", "3.4", "2021-10-10", "3.6"),
    ("flit.buildapi", "flit", "3.4", "2021-10-10", "3.6"),
    ("poetry.core.masonry.api", "poetry-core", "1.0.8", "2022-02-27", None),
    ("poetry.masonry.api", None, None, None, None),  # poetry itself as a backend: never
    ("pdm.pep517.api", "pdm-pep517", "0.7", "2021-05-01", None),
    ("maturin", "maturin", "0.12", "2021-12-06", None),
    ("scikit_build_core.build", "scikit-build-core", "0.4", "2023-06-01", None),
    ("mesonpy", "meson-python", "0.13", "2023-04-25", None),
    ("pbr.build", "setuptools", "64", "2022-08-11", "3.7"),
)
"""When each backend could first build editable wheels (PEP 660): before that,
``sf-install -e`` (uv) cannot install the project editable. Backends not listed
(hatchling, pdm-backend, ...) always could. Dates are of the first such release."""


def _editable_rule(backend: str, requires: list[str], commit_date: datetime | None) -> tuple[bool, str | None, str]:
    """(possible in the commit's era, the oldest Python it is possible on, why not)."""
    rule = next((r for r in _EDITABLE_SINCE if backend == r[0] or backend.startswith(r[0] + ":")), None)
    if rule is None:
        return True, None, ""
    _, dist, since, day, oldest = rule
    if dist is None or since is None:
        return False, None, f"{backend} cannot build editable wheels"
    spec = None
    for r in requires:
        try:
            req = Requirement(r)
        except InvalidRequirement:
            continue
        if re.sub(r"[-_.]+", "-", req.name).lower() == dist:
            spec = req.specifier
    first = Version(since)
    if spec is not None and str(spec):
        bounds = [Version(s.version) for s in spec if re.fullmatch(r"[\d.]+", s.version)]
        probes = [first, *(b for b in bounds if b >= first), Version("9999")]
        if not any(spec.contains(p, prereleases=True) for p in probes):
            return False, None, f"{dist}{spec} has no PEP 660 editable install ({dist} {since} added it)"
        if any(s.operator in (">=", "==", "~=", ">", "===") and Version(s.version) >= first
               for s in spec if re.fullmatch(r"[\d.]+", s.version)):
            return True, oldest, ""
    when = as_utc(commit_date)
    if when is not None and day is not None and when < as_utc(day):
        return False, None, f"{dist} of {when:%Y-%m} has no PEP 660 editable install ({dist} {since}, {day}, added it)"
    return True, oldest, ""


# --------------------------------------------------------------------------- the facts


@dataclass
class ProjectFacts:
    """What a repository's tree says about installing and testing it."""

    installable: bool = False
    backend: str | None = None
    build_requires: list[str] = field(default_factory=list)
    editable: bool = True  # the backend could install editable in the commit's era (PEP 660)
    editable_from: str | None = None  # ... on this Python and newer (setuptools >= 64 needs 3.7)
    editable_note: str = ""  # why it could not
    src_dir: str | None = None  # "src" for a src layout
    python_spec: str | None = None
    named_pythons: list[str] = field(default_factory=list)
    extras: dict[str, list[str]] = field(default_factory=dict)  # name -> requirements, as far as known
    test_extras: list[str] = field(default_factory=list)  # chosen by name
    groups: dict[str, list[str]] = field(default_factory=dict)  # PEP 735 (expanded), poetry, pdm, uv, hatch
    test_groups: list[str] = field(default_factory=list)
    tests_require: list[str] = field(default_factory=list)  # setup.py's tests_require
    pipfile_packages: list[str] = field(default_factory=list)
    pipfile_dev_packages: list[str] = field(default_factory=list)
    poetry_dependencies: list[str] = field(default_factory=list)  # of a poetry project that cannot be built
    runtime_requirement_files: list[str] = field(default_factory=list)
    test_requirement_files: list[str] = field(default_factory=list)
    tox: ToxConfig | None = None
    pytest_config: dict[str, Any] = field(default_factory=dict)
    version_tools: list[str] = field(default_factory=list)  # setuptools_scm, hatch-vcs, pbr, ...
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _read: Callable[[str], str | None] | None = field(default=None, repr=False, compare=False)

    def editable_on(self, python: str) -> bool:
        """Whether ``sf-install -e .`` can work on ``python``."""
        return self.installable and self.editable and (
            self.editable_from is None or version_tuple(python) >= version_tuple(self.editable_from))

    def tox_env(self, python: str) -> ToxEnv | None:
        return self.tox.env_for(python) if self.tox else None

    def uses_scm(self) -> bool:
        return any(t in self.version_tools for t in ("setuptools_scm", "hatch-vcs", "versioningit"))

    def requirement_lines(self, path: str) -> list[str]:
        """The lines of a requirements file of the tree (options such as ``-r`` kept)."""
        return requirement_lines(self._read(path) if self._read else None)

    def test_files(self, python: str) -> list[str]:
        """The default test selection: the paths tox's pytest command names for
        ``python``'s env, else pytest's ``testpaths``."""
        env = self.tox_env(python)
        found = _paths_in(env.pytest_args, self.files) if env else []
        return found or [p for p in _as_list(self.pytest_config.get("testpaths")) if _in_tree(p, self.files)]


def requirement_lines(text: str | None) -> list[str]:
    out = []
    for line in re.sub(r"\\\s*\n", " ", text or "").splitlines():
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if line:
            out.append(line)
    return out


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).rstrip("/") for v in value]
    if isinstance(value, str):
        return [v.rstrip("/") for v in value.split()]
    return []


def _in_tree(path: str, files: list[str]) -> bool:
    path = path.rstrip("/")
    return bool(path) and any(f == path or f.startswith(path + "/") for f in files)


# options of pytest that take a value (the argument after one is not a path)
_PYTEST_VALUE_OPTS = {"-m", "-k", "-p", "-c", "-o", "-W", "-n", "--ignore", "--ignore-glob", "--deselect",
                      "--rootdir", "--basetemp", "--cov", "--cov-report", "--cov-config", "--junitxml",
                      "--junit-xml", "--confcutdir", "--durations", "--dist", "--maxfail", "--timeout", "--tb",
                      "--log-level", "--log-cli-level", "--import-mode", "--override-ini", "--capture",
                      "--numprocesses", "--reruns", "--randomly-seed", "--hypothesis-profile", "--doctest-glob",
                      "--color", "--cov-fail-under", "-r", "--strict-markers-list", "--benchmark-storage"}


def _paths_in(args: list[str], files: list[str]) -> list[str]:
    """The arguments of a pytest command that are paths in the tree (option values skipped)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = "=" not in arg and arg in _PYTEST_VALUE_OPTS
            continue
        path = _norm(arg.split("::")[0])
        if path and _in_tree(path, files):
            out.append(path)
    return list(dict.fromkeys(out))


def _pytest_config(read: ReadFile, pyproject: dict) -> dict[str, Any]:
    """pytest's own configuration (testpaths, addopts), from the first file pytest would read."""
    for name in ("pytest.ini", ".pytest.ini"):
        parser = _cfg(read(name))
        if parser.has_section("pytest"):
            return dict(parser["pytest"])
    pytest_tool = _table(pyproject, "tool", "pytest")
    if pytest_tool:
        ini = pytest_tool.get("ini_options")
        return dict(ini) if isinstance(ini, dict) else {k: v for k, v in pytest_tool.items() if k != "ini_options"}
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        parser = _cfg(read(name))
        if parser.has_section(section):
            return dict(parser[section])
    return {}


def read_project(read_file: ReadFile, files: Iterable[str], *, commit_date: datetime | str | None = None,
                 backends_as_of: datetime | str | None = None) -> ProjectFacts:
    """The facts of a repository's tree. ``read_file(path)`` gives a file's text (None
    when absent); only files listed in ``files`` are read. Whether the build
    backend could install editable is judged as of ``commit_date``, or as of
    ``backends_as_of`` when that is later (build backends resolved newer than the
    project's other dependencies)."""
    files = list(files)
    fileset = set(files)
    cache: dict[str, str | None] = {}

    def read(path: str) -> str | None:
        if path not in fileset:
            return None
        if path not in cache:
            cache[path] = read_file(path)
        return cache[path]

    facts = ProjectFacts(files=files, _read=read)
    pyproject_text = read("pyproject.toml")
    pyproject = _toml(pyproject_text)
    setup_cfg_text = read("setup.cfg")
    setup_cfg = _cfg(setup_cfg_text)
    setup_py = read("setup.py") or ""
    project = _table(pyproject, "project")
    poetry = _table(pyproject, "tool", "poetry")
    flit = _table(pyproject, "tool", "flit", "metadata")
    build = _table(pyproject, "build-system")

    # -- build backend -----------------------------------------------------------
    if build:
        facts.backend = str(build.get("build-backend") or _LEGACY)
        facts.build_requires = _str_list(build.get("requires"))
        facts.installable = bool(build.get("build-backend") or setup_py or project)
    elif setup_py or (project and not poetry):
        facts.backend, facts.build_requires, facts.installable = _LEGACY, ["setuptools>=40.8.0", "wheel"], True
    elif poetry:
        facts.notes.append("poetry project without [build-system]: its dependencies are installed one by one")
    if facts.installable and facts.backend:
        era = as_utc(commit_date)
        if era is not None and backends_as_of is not None:
            era = max(era, as_utc(backends_as_of))
        facts.editable, facts.editable_from, facts.editable_note = _editable_rule(
            facts.backend, facts.build_requires, era)
        if facts.editable_note:
            facts.notes.append(f"no editable install: {facts.editable_note}")
    if any(re.fullmatch(r"src/[^/]+/__init__\.py|src/[^/]+\.py", f) for f in files):
        facts.src_dir = "src"

    # -- Python ------------------------------------------------------------------
    spec = project.get("requires-python") or flit.get("requires-python")
    if not spec and isinstance(poetry.get("dependencies"), dict):
        spec = poetry["dependencies"].get("python")
    if not spec and setup_cfg.has_option("options", "python_requires"):
        spec = setup_cfg.get("options", "python_requires")
    if not spec and (m := re.search(r"python_requires[\"']?\s*[=:]\s*[\"']([^\"']+)[\"']", setup_py)):
        spec = m.group(1)
    facts.python_spec = spec.strip() if isinstance(spec, str) and spec.strip() else None
    classifiers = _str_list(project.get("classifiers")) + _str_list(poetry.get("classifiers")) + _str_list(
        flit.get("classifiers"))
    if setup_cfg.has_option("metadata", "classifiers"):
        classifiers += _lines(setup_cfg.get("metadata", "classifiers"))
    classifiers += re.findall(r"[\"'](Programming Language :: Python :: \d\.\d+)[\"']", setup_py)
    named = classifier_pythons(classifiers)
    facts.tox = tox = _tox_config(read, pyproject, frozenset(files))
    if tox:
        named += tox_pythons(",".join(tox.envlist))
        named += re.findall(r"^\s*(3\.\d{1,2})\s*:", tox.sections.get("gh-actions", {}).get("python", ""),
                            re.MULTILINE)
    named += nox_pythons(read("noxfile.py"))
    named += ci_pythons(read, files)
    facts.named_pythons = list(dict.fromkeys(named))

    # -- extras ------------------------------------------------------------------
    extras: dict[str, list[str]] = {}
    for table in (_table(project, "optional-dependencies"), _table(flit, "requires-extra"), _table(poetry, "extras")):
        for name, reqs in table.items():
            extras[name] = _str_list(reqs)
    if setup_cfg.has_section("options.extras_require"):
        for name, value in setup_cfg["options.extras_require"].items():
            extras[name] = _lines(value)
    for name, reqs in setup_py_extras(setup_py).items():
        extras.setdefault(name, reqs)
    facts.extras = extras

    # -- dependency groups -------------------------------------------------------
    groups: dict[str, list[str]] = {}

    def add_group(name: str, reqs: list[str]) -> None:
        groups[name] = list(dict.fromkeys(groups.get(name, []) + reqs))

    pep735 = _table(pyproject, "dependency-groups")
    for name in pep735:
        add_group(name, _group_packages(pep735, name))
    poetry_groups = {name: _table(group, "dependencies") for name, group in _table(poetry, "group").items()}
    if isinstance(poetry.get("dev-dependencies"), dict):
        poetry_groups.setdefault("dev", poetry["dev-dependencies"])
    for name, deps in poetry_groups.items():
        add_group(name, [r for dep, value in deps.items() if (r := poetry_requirement(str(dep), value))])
    for name, reqs in _table(pyproject, "tool", "pdm", "dev-dependencies").items():
        add_group(name, _str_list(reqs))
    if isinstance(uv_dev := _table(pyproject, "tool", "uv").get("dev-dependencies"), list):
        add_group("dev", _str_list(uv_dev))
    for name, hatch_env in _table(pyproject, "tool", "hatch", "envs").items():
        deps = _str_list(_table({"e": hatch_env}, "e").get("dependencies"))
        if deps:
            add_group("dev" if name == "default" else name, deps)
    facts.groups = groups
    facts.test_groups = choose_extras(groups)
    facts.tests_require = setup_py_tests_require(setup_py)
    if poetry and not facts.installable:
        facts.poetry_dependencies = [r for dep, value in _table(poetry, "dependencies").items()
                                     if (r := poetry_requirement(str(dep), value))]

    # -- Pipfile, requirement files ---------------------------------------------------
    pipfile = _toml(read("Pipfile"))
    facts.pipfile_packages = [r for n, v in _table(pipfile, "packages").items() if (r := pipfile_requirement(n, v))]
    facts.pipfile_dev_packages = [r for n, v in _table(pipfile, "dev-packages").items()
                                  if (r := pipfile_requirement(n, v))]
    reqs = requirement_files(files)
    facts.runtime_requirement_files, facts.test_requirement_files = reqs.runtime, reqs.test

    tox_deps = bool(tox) and any(tox.env(n).has_deps for n in (tox.test_envs() or ["py"])[:5])
    facts.test_extras = choose_extras(extras, last_resort=not (
        reqs.test or facts.test_groups or facts.tests_require or facts.pipfile_dev_packages or tox_deps))

    # -- tests and versions ------------------------------------------------------
    facts.pytest_config = _pytest_config(read, pyproject)
    packaging_text = "\n".join(t for t in (pyproject_text, setup_cfg_text, setup_py) if t)
    for tool, pattern in (("setuptools_scm", r"setuptools[_-]scm|use_scm_version"),
                          ("hatch-vcs", r"hatch[_-]vcs|\[tool\.hatch\.version\][^\[]*source\s*=\s*[\"']vcs"),
                          ("versioningit", r"versioningit"), ("pbr", r"\bpbr\b"),
                          ("poetry-dynamic-versioning", r"poetry[_-]dynamic[_-]versioning")):
        if re.search(pattern, packaging_text):
            facts.version_tools.append(tool)
    return facts


# --------------------------------------------------------------------------- the plan


def _names(reqs: Iterable[str]) -> set[str]:
    return {n for r in reqs if (n := req_name(r))}


def install_steps(facts: ProjectFacts, python: str, *, editable: bool = True, minimal: bool = False) -> list[str]:
    """``sf-install`` commands for ``python``, in order:

    1. requirement files: the runtime ones, then the test ones the tox env of
       ``python`` names (else those named for tests);
    2. the project with its test extras (tox's ``extras`` when it names them, else
       chosen by name): ``sf-install -e '.[tests]'``, without ``-e`` when ``editable``
       is False or the backend could not install editable in the commit's era;
    3. test dependency groups, tox deps, local packages tox installs, Pipfile
       dev packages (setup.py's ``tests_require`` when nothing else says);
    4. pytest, when nothing above names it.

    A URL or VCS requirement is installed only when the tox env names it
    itself (a ``dev:`` line in a ``dev`` env): a requirements file that has
    one is installed line by line without it. ``minimal``: the project (its
    runtime requirements when it cannot be installed) and pytest."""
    env = facts.tox_env(python)
    constraints = [a for c in (env.constraint_files if env else []) for a in ("-c", c)]
    steps: list[str] = []
    named: set[str] = set()
    packages: list[str] = []

    def step(args: list[str]) -> None:
        steps.append(f"{SF_INSTALL} {_quote(constraints + args)}")

    def req_file(path: str) -> None:
        lines = facts.requirement_lines(path)
        named.update(_names(lines))
        if any(is_url(line) for line in lines) and not (env and path in env.named_files):
            packages.extend(line for line in lines if not is_url(line) and not line.startswith("-"))
        else:
            step(["-r", path])

    def project(extras: list[str]) -> None:
        target = "." + (f"[{','.join(extras)}]" if extras else "")
        step(["-e", target] if editable and facts.editable_on(python) else [target])

    if minimal:
        if facts.installable:
            project([])
        else:
            for path in facts.runtime_requirement_files:
                req_file(path)
            packages += facts.pipfile_packages + facts.poetry_dependencies
            if packages:
                step(list(dict.fromkeys(packages)))
        step(["pytest"])
        return steps

    test_files = env.requirement_files if env is not None and env.has_deps else facts.test_requirement_files
    for path in dict.fromkeys(facts.runtime_requirement_files + test_files):
        req_file(path)
    if facts.installable:
        extras = (env.project_extras or env.extras if env else None) or facts.test_extras
        for extra in extras:
            named.update(_names(facts.extras.get(extra, [])))
        project(extras)
    else:
        packages += facts.pipfile_packages + facts.poetry_dependencies
    for group in (env.dependency_groups if env and env.dependency_groups else facts.test_groups):
        packages += facts.groups.get(group, [])
    if env is not None:
        packages += env.packages + env.local_paths
    packages += facts.pipfile_dev_packages
    if facts.tests_require and not (facts.test_extras or facts.test_groups or test_files or (env and env.has_deps)):
        packages += facts.tests_require
    packages = [p for p in dict.fromkeys(packages) if req_name(p) or p.startswith("./") or is_url(p)]
    if packages:
        named.update(_names(packages))
        step(packages)
    if "pytest" not in named:
        step(["pytest"])
    return steps


def version_env(facts: ProjectFacts, version: str | None) -> dict[str, str]:
    """Variables that give version tools a version in a tree without ``.git``:
    ``SETUPTOOLS_SCM_PRETEND_VERSION`` (setuptools_scm, hatch-vcs, versioningit),
    ``PBR_VERSION`` (pbr), ``POETRY_DYNAMIC_VERSIONING_BYPASS``; the value is
    ``version`` (the nearest release tag's) as PEP 440, ``0.0.0`` without one."""
    value = pep440_version(version)
    env: dict[str, str] = {}
    if facts.uses_scm():
        env["SETUPTOOLS_SCM_PRETEND_VERSION"] = value
    if "pbr" in facts.version_tools:
        env["PBR_VERSION"] = value
    if "poetry-dynamic-versioning" in facts.version_tools:
        env["POETRY_DYNAMIC_VERSIONING_BYPASS"] = value
    return env


def pep440_version(version: str | None) -> str:
    """``v2.1.0`` -> ``2.1.0``; of what is not a PEP 440 version, its first dotted
    numbers (``astroid-2.4.0`` -> ``2.4.0``); nothing -> ``0.0.0``."""
    text = (version or "").strip().lstrip("vV")
    try:
        return str(Version(text))
    except InvalidVersion:
        m = re.search(r"\d+(\.\d+)*", text)
        return m.group() if m else "0.0.0"
