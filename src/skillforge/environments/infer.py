"""Recipe inference: candidate environment recipes from what a repository's
tree says at a commit (packaging metadata, requirement files, tox, nox, CI
matrices, pytest configuration), in the order they should be tried.

Nothing is executed: ``setup.py`` and ``noxfile.py`` are only scanned with
regular expressions.
"""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any, Callable, Iterable

import yaml

from skillforge.schema import DEFAULT_PYTHON, EnvRecipe


SUPPORTED_PYTHONS = ("3.9", "3.11", "3.13")
DEBIAN_PYTHON_PATCH = {"3.9": "3.9.2", "3.11": "3.11.2", "3.13": "3.13.5"}
"""The exact versions of Debian bullseye, bookworm and trixie: a requirement such
as ``>=3.11.4`` rules bookworm's 3.11 out."""
TEST_EXTRAS = ("test", "tests", "testing")
DEV_EXTRAS = ("dev", "develop", "development")
PIP = "python -m pip install"



# --------------------------------------------------------------------------- version specifiers


def _ver(text: str) -> tuple[int, ...]:
    nums = []
    for part in text.split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        nums.append(int(m.group()))
    return tuple(nums)


def _cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = max(len(a), len(b))
    a, b = a + (0,) * (n - len(a)), b + (0,) * (n - len(b))
    return (a > b) - (a < b)


def python_satisfies(version: str, spec: str) -> bool:
    """Whether Python ``version`` (e.g. "3.11", meaning any 3.11.x) meets ``spec``
    (PEP 440 specifiers, comma-separated; poetry ``^``/``~`` and ``||``)."""
    spec = re.sub(r"(===|<=|>=|==|!=|~=|<|>|\^|~)\s+", r"\1", spec or "")
    for alternative in spec.split("||"):
        clauses = [c for c in re.split(r"[,\s]+", alternative) if c.strip()]
        if all(_clause_ok(version, c) for c in clauses):
            return True
    return False


def _clause_ok(version: str, clause: str) -> bool:
    m = re.fullmatch(r"(===|~=|==|!=|<=|>=|<|>|\^|~)?v?([0-9][0-9.]*(?:\.\*)?)", clause.strip())
    if not m:
        return True  # unknown syntax: do not exclude anything
    op, target = m.group(1) or "==", m.group(2)
    v = _ver(version)
    if target.endswith("*"):
        same = v[: len(_ver(target[:-2]))] == _ver(target[:-2])
        return same if op in ("==", "===") else (not same) if op == "!=" else True
    t = _ver(target)
    hi = v + (99,) if len(v) == 2 else v  # "3.11" stands for its newest 3.11.x
    prefix = v[: len(t)] == t or (len(t) > len(v) and t[: len(v)] == v)  # 3.11 covers 3.11.4
    if op in ("==", "==="):
        return prefix
    if op == "!=":
        return len(t) > len(v) or not prefix  # some 3.11.x other than 3.11.1 is fine
    if op in (">=", ">"):
        return _cmp(hi, t) > 0 if op == ">" else _cmp(hi, t) >= 0
    if op in ("<", "<="):
        return _cmp(v, t) < 0 or (op == "<=" and prefix)
    if op == "^":
        upper = (t[0] + 1,) if t[0] > 0 else t[:2]
        return _cmp(hi, t) >= 0 and _cmp(v, upper) < 0
    # ~= (compatible release) and poetry ~
    if op == "~=" and len(t) > 1:
        upper = t[:-1]
    else:
        upper = t[:2] if len(t) > 1 else t[:1]
    upper = upper[:-1] + (upper[-1] + 1,)
    return _cmp(hi, t) >= 0 and _cmp(v, upper) < 0


def pick_python(spec: str | None, classifiers: Iterable[str] = (), supported: Iterable[str] = SUPPORTED_PYTHONS) -> str:
    """The newest supported Python that meets ``spec``. When the classifiers
    name Python versions, the newest one not beyond the highest of them is
    preferred. With neither, ``DEFAULT_PYTHON``. When no supported version
    meets ``spec``, the one nearest to the versions it allows."""
    supported = sorted(supported, key=_ver)
    ok = [v for v in supported if not spec or python_satisfies(DEBIAN_PYTHON_PATCH.get(v, v), spec)]
    named = [m.group(1) for c in classifiers
             if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", str(c).strip()))]
    highest = max(named, key=_ver) if named else None
    if ok:
        if highest:
            within = [v for v in ok if _ver(v) <= _ver(highest)]
            return within[-1] if within else ok[0]
        if not spec:
            return DEFAULT_PYTHON if DEFAULT_PYTHON in ok else ok[-1]
        return ok[-1]
    allowed = [m for m in range(6, 16) if python_satisfies(f"3.{m}", spec or "")]
    if not allowed:
        return DEFAULT_PYTHON
    return min(reversed(supported), key=lambda v: min(abs(_ver(v)[1] - a) for a in allowed))


# --------------------------------------------------------------------------- inference


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _req_name(req: str) -> str:
    m = _REQ_NAME.match(req)
    return m.group(1).lower().replace("_", "-") if m else ""


_SKIP_REQ = {"doc", "docs", "lint", "linting", "release", "publish", "deploy", "mypy", "typing", "types", "bench",
             "benchmark", "benchmarks", "style", "min", "minimum", "minimal", "oldest", "upstream", "nightly", "windows",
             "win", "win32", "macos", "osx", "constraints", "constraint", "precommit", "pre-commit", "examples",
             "example", "notebooks", "build", "wheel", "pypy", "gpu", "cuda", "optional", "extras", "all"}
_TEST_REQ = {"test", "tests", "testing", "dev", "develop", "development", "ci", "check", "pytest", "unit"}
_RUNTIME_REQ = {"requirements", "base", "install", "main", "prod", "runtime", "core", "default", "common"}


def _requirement_files(files: list[str]) -> list[str]:
    """Runtime and test/dev requirement files, in install order (runtime first,
    shallow first); docs/lint/release/... requirements are left out. A ``.in``
    file is used only when no ``.txt`` of the same name exists."""
    fileset = set(files)
    found = []
    for path in files:
        p = PurePosixPath(path)
        lower = path.lower()
        if p.suffix not in (".txt", ".in") or len(p.parts) > 3 or "requirement" not in lower:
            continue
        if p.suffix == ".in" and path[:-3] + ".txt" in fileset:
            continue
        tokens = set(re.split(r"[/._-]+", lower[: -len(p.suffix)]))
        tokens.discard("")
        if tokens & _SKIP_REQ:
            continue
        stem = p.stem.lower()
        if tokens & _TEST_REQ or "test" in stem:
            rank = 1
        elif stem in _RUNTIME_REQ and len(p.parts) <= 2:
            rank = 0
        else:
            continue
        found.append((rank, len(p.parts), path))
    return [path for _, _, path in sorted(found)]


def _toml(text: str | None) -> dict:
    if not text:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def _cfg(text: str | None) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if text:
        try:
            parser.read_string(text)
        except configparser.Error:
            pass
    return parser


def _cfg_list(value: str) -> list[str]:
    out = []
    for line in value.replace(";", "\n").splitlines() if "\n" in value else value.split(","):
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _extras_from_setup_py(text: str) -> list[str]:
    """Extra names of ``extras_require={...}`` / ``dict(...)``, or of the module-level
    dict it names (``extras_require=EXTRAS``, ``EXTRAS = {...}``, ``EXTRAS["x"] = ...``)."""
    names: list[str] = []
    m = re.search(r"extras_require\s*=\s*(\{|dict\()", text)
    if m:
        chunk = text[m.end(): m.end() + 4000]
        names += re.findall(r"[\"']([A-Za-z0-9_.-]+)[\"']\s*:", chunk)
        names += re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\[", chunk)
    elif v := re.search(r"extras_require\s*=\s*([A-Za-z_][A-Za-z0-9_]*)\s*[,)]", text):
        var = re.escape(v.group(1))
        if d := re.search(rf"^{var}\s*=\s*\{{", text, re.MULTILINE):
            chunk = text[d.end(): d.end() + 4000]
            depth, end = 1, 0
            for end, ch in enumerate(chunk):
                depth += {"{": 1, "}": -1}.get(ch, 0)
                if depth == 0:
                    break
            names += re.findall(r"^\s*[\"']([A-Za-z0-9_.-]+)[\"']\s*:", chunk[:end], re.MULTILINE)
        names += re.findall(rf"^{var}\[[\"']([A-Za-z0-9_.-]+)[\"']\]\s*=", text, re.MULTILINE)
    return list(dict.fromkeys(names))


def _choose_extras(extras: Iterable[str]) -> list[str]:
    extras = list(dict.fromkeys(extras))
    lowered = {e.lower(): e for e in extras}
    tests = [lowered[e] for e in TEST_EXTRAS if e in lowered]
    if tests:
        return tests[:1]
    return [lowered[e] for e in DEV_EXTRAS if e in lowered][:1]


def _tox_info(text: str | None) -> tuple[list[str], list[str]]:
    """(deps, pytest arguments) of tox's testenv."""
    if not text:
        return [], []
    parser = _cfg(text)
    section = "testenv" if parser.has_section("testenv") else next(
        (s for s in parser.sections() if s.startswith("testenv") and "doc" not in s and "lint" not in s), None)
    if section is None:
        return [], []
    deps = [d for d in _cfg_list(parser.get(section, "deps", fallback="")) if "{" not in d]
    pytest_args: list[str] = []
    for line in _cfg_list(parser.get(section, "commands", fallback="")):
        line = line.lstrip("-").strip()
        if re.search(r"(^|\s|/)(py\.test|pytest)(\s|$)", line):
            try:
                words = shlex.split(line.replace("{posargs}", ""))
            except ValueError:
                continue
            idx = next(i for i, w in enumerate(words) if w.endswith(("pytest", "py.test")))
            pytest_args = words[idx + 1:]
            break
    return deps, pytest_args


PYTHON_RELEASES = {"3.9": "2020-10-05", "3.11": "2022-10-24", "3.13": "2024-10-07"}
"""First releases of the supported Pythons: a commit made before a release was
never tested on it, and its pinned dependencies often do not install there."""


def _yaml_strings(text: str | None) -> Any:
    """YAML with every scalar a string (``3.10`` stays "3.10", not 3.1)."""
    if not text:
        return None
    try:
        return yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds only str/list/dict
    except yaml.YAMLError:
        return None


def _versions_in(value: Any) -> list[str]:
    out: list[str] = []
    if isinstance(value, str):
        out += re.findall(r"(?<![\d.])(3\.\d{1,2})(?![\d])", value)
    elif isinstance(value, list):
        for v in value:
            out += _versions_in(v)
    return out


def ci_pythons(read: Callable[[str], str | None], files: Iterable[str]) -> list[str]:
    """Python versions CI runs: GitHub Actions matrices and setup-python inputs,
    ``.travis.yml``, GitLab CI images."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                k = str(key).lower().replace("_", "-")
                if k in ("python-version", "python-versions", "python", "py", "pyver", "python-ver", "toxenv"):
                    found.extend(_versions_in(value))
                    if k == "toxenv" and isinstance(value, (str, list)):
                        found.extend(tox_pythons(" ".join(value) if isinstance(value, list) else value))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in sorted(files):
        lower = path.lower()
        if (lower.startswith(".github/workflows/") and lower.endswith((".yml", ".yaml"))) or lower in (
                ".travis.yml", ".gitlab-ci.yml", "azure-pipelines.yml", ".circleci/config.yml", "appveyor.yml"):
            text = read(path)
            walk(_yaml_strings(text))
            if text and lower == ".gitlab-ci.yml":
                found += re.findall(r"image:\s*['\"]?python:(3\.\d{1,2})", text)
    return list(dict.fromkeys(found))


def _expand_braces(text: str) -> list[str]:
    """tox factor expansion: ``py3{8,9}-x`` -> py38-x, py39-x; ``3.1{0-3}`` -> 3.10 .. 3.13."""
    m = re.search(r"\{([^{}]*)\}", text)
    if not m:
        return [text]
    out = []
    for part in m.group(1).split(","):
        r = re.fullmatch(r"\s*(\d+)-(\d+)\s*", part)
        choices = [str(n) for n in range(int(r.group(1)), int(r.group(2)) + 1)] if r else [part.strip()]
        for c in choices:
            out += _expand_braces(text[: m.start()] + c + text[m.end():])
    return out


def tox_pythons(envlist: str) -> list[str]:
    """Python versions a tox env list names (``py39``, ``py3{10,11}``, ``3.12-tests``)."""
    out = []
    for item in re.split(r"[,\n]+(?![^{]*\})", envlist or ""):
        for env in _expand_braces(item.strip()):
            for factor in re.split(r"-", env):
                if m := re.fullmatch(r"py(3)(\d{1,2})", factor.strip()):
                    out.append(f"3.{m.group(2)}")
                elif m := re.fullmatch(r"(?:py)?(3\.\d{1,2})", factor.strip()):
                    out.append(m.group(1))
    return list(dict.fromkeys(out))


def nox_pythons(text: str | None) -> list[str]:
    """Python versions a ``noxfile.py`` names (in ``python=`` arguments and version lists)."""
    if not text:
        return []
    out = []
    for m in re.finditer(r"(?i)python[a-z_]*\s*=\s*(\[[^\]]*\]|\([^)]*\)|[\"'][^\"']*[\"'])", text):
        out += re.findall(r"[\"'](3\.\d{1,2})[\"']", m.group(1))
    return list(dict.fromkeys(out))


def _pytest_config(read: Callable[[str], str | None], pyproject: dict) -> dict[str, Any]:
    """pytest's own configuration (testpaths, addopts), from the first file pytest would read."""
    tool = pyproject.get("tool", {}) if isinstance(pyproject.get("tool"), dict) else {}
    for name in ("pytest.ini", ".pytest.ini"):
        parser = _cfg(read(name))
        if parser.has_section("pytest"):
            return dict(parser["pytest"])
    pytest_tool = tool.get("pytest") if isinstance(tool.get("pytest"), dict) else None
    if pytest_tool:
        ini = pytest_tool.get("ini_options")
        return dict(ini) if isinstance(ini, dict) else {k: v for k, v in pytest_tool.items() if k != "ini_options"}
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        parser = _cfg(read(name))
        if parser.has_section(section):
            return dict(parser[section])
    return {}


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):
        return value.split()
    return []


def _group_packages(groups: dict, name: str, seen: set[str] | None = None) -> list[str]:
    """Packages of a PEP 735 dependency group, ``include-group`` entries expanded."""
    seen = seen or set()
    if name in seen or not isinstance(groups.get(name), list):
        return []
    seen.add(name)
    out: list[str] = []
    for item in groups[name]:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            out += _group_packages(groups, item["include-group"], seen)
    return out


def _date_of(commit_date: datetime | str | None) -> datetime | None:
    if commit_date is None:
        return None
    if isinstance(commit_date, str):
        commit_date = datetime.fromisoformat(commit_date.replace("Z", "+00:00"))
    return commit_date if commit_date.tzinfo else commit_date.replace(tzinfo=timezone.utc)


def python_candidates(spec: str | None, named: Iterable[str], commit_date: datetime | str | None = None,
                      supported: Iterable[str] = SUPPORTED_PYTHONS) -> list[str]:
    """Supported Pythons in the order to try: the preferred one first (``pick_python``
    over the versions released by the commit date), then the others the
    specifier allows, older before newer."""
    supported = sorted(supported, key=_ver)
    named = list(named)
    when = _date_of(commit_date)
    ok = [v for v in supported if not spec or python_satisfies(DEBIAN_PYTHON_PATCH.get(v, v), spec)]
    released = [v for v in supported if when is None or v not in PYTHON_RELEASES
                or _date_of(PYTHON_RELEASES[v]) <= when]
    if not any(v in ok for v in released):  # the commit asks for a Python newer than its date: take the oldest it allows
        released = ok[:1] or supported
    first = pick_python(spec, [f"Programming Language :: Python :: {v}" for v in named], released)
    older = [v for v in reversed(ok) if _ver(v) < _ver(first)]
    newer = [v for v in ok if _ver(v) > _ver(first)]
    return list(dict.fromkeys([first, *older, *newer]))


def infer_recipes(read_file: Callable[[str], str | None], files: list[str], *,
                  commit_date: datetime | str | None = None, max_candidates: int = 3) -> list[EnvRecipe]:
    """Candidate recipes from a repository tree's configuration, in the order to try.

    ``read_file(path)`` returns a file's text (None when absent); ``files`` lists
    the tree's paths; ``commit_date`` (of the reference commit) keeps Pythons
    released after it for later candidates. Nothing is executed: ``setup.py``
    and ``noxfile.py`` are only scanned with regular expressions.

    - Python: ``requires-python`` / ``python_requires`` / poetry's ``python``,
      versions named by classifiers, CI matrices, the tox env list and the
      noxfile, and the commit date;
    - install: runtime and test ``requirements*.txt``, the editable package with
      its test extra (``pyproject.toml``, ``setup.cfg``, ``setup.py``), test
      dependency groups (PEP 735, poetry) and tox's test dependencies; always pytest;
    - tests: tox's pytest arguments and pytest's ``testpaths`` give the default selection.

    The first candidate is the full install on the preferred Python; the next
    ones try the other Pythons, then a minimal install (package and pytest only).
    """
    fileset = set(files)
    cache: dict[str, str | None] = {}

    def read(path: str) -> str | None:
        if path not in cache:
            cache[path] = read_file(path) if path in fileset else None
        return cache[path]

    pyproject = _toml(read("pyproject.toml"))
    setup_cfg_text = read("setup.cfg")
    setup_cfg = _cfg(setup_cfg_text)
    setup_py = read("setup.py") or ""
    project = pyproject.get("project", {}) if isinstance(pyproject.get("project"), dict) else {}
    poetry = pyproject.get("tool", {}).get("poetry", {}) if isinstance(pyproject.get("tool"), dict) else {}
    tox_text = read("tox.ini")

    # Python version
    spec = project.get("requires-python")
    if not spec and isinstance(poetry.get("dependencies"), dict):
        py = poetry["dependencies"].get("python")
        spec = py if isinstance(py, str) else None
    if not spec and setup_cfg.has_option("options", "python_requires"):
        spec = setup_cfg.get("options", "python_requires")
    if not spec and (m := re.search(r"python_requires\s*=\s*[\"']([^\"']+)[\"']", setup_py)):
        spec = m.group(1)
    classifiers = list(project.get("classifiers", []) or poetry.get("classifiers", []) or [])
    if setup_cfg.has_option("metadata", "classifiers"):
        classifiers += _cfg_list(setup_cfg.get("metadata", "classifiers"))
    classifiers += re.findall(r"[\"'](Programming Language :: Python :: 3\.\d+)[\"']", setup_py)
    named = [m.group(1) for c in classifiers
             if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", str(c).strip()))]
    tox = _cfg(tox_text)
    for section in ("tox", "tox:tox"):
        for key in ("envlist", "env_list"):
            if tox.has_option(section, key):
                named += tox_pythons(tox.get(section, key))
    tox_toml = pyproject.get("tool", {}).get("tox", {}) if isinstance(pyproject.get("tool"), dict) else {}
    if isinstance(tox_toml, dict) and isinstance(tox_toml.get("env_list"), list):
        named += tox_pythons(",".join(map(str, tox_toml["env_list"])))
    named += nox_pythons(read("noxfile.py"))
    named += ci_pythons(read, files)
    named = list(dict.fromkeys(named))
    pythons = python_candidates(spec, named, commit_date)

    # extras
    extras: list[str] = []
    if isinstance(project.get("optional-dependencies"), dict):
        extras += list(project["optional-dependencies"])
    if isinstance(poetry.get("extras"), dict):
        extras += list(poetry["extras"])
    if setup_cfg.has_section("options.extras_require"):
        extras += list(setup_cfg["options.extras_require"].keys())
    extras += _extras_from_setup_py(setup_py)
    chosen = _choose_extras(extras)

    installable = bool(setup_py) or setup_cfg.has_section("metadata") or bool(project) or bool(poetry) or (
        "build-system" in pyproject)
    env: dict[str, str] = {}
    packaging_text = " ".join(t for t in (read("pyproject.toml"), setup_cfg_text, setup_py) if t)
    if re.search(r"setuptools[_-]scm|hatch-vcs|use_scm_version|\bpbr\b", packaging_text):
        # the tree comes from a tar, without .git: give version tools something to report
        env["SETUPTOOLS_SCM_PRETEND_VERSION"] = "0.0.0"
        if re.search(r"\bpbr\b", packaging_text):
            env["PBR_VERSION"] = "0.0.0"

    install = [f"{PIP} --upgrade pip setuptools wheel"]
    tox_deps, pytest_args = _tox_info(tox_text)
    reqs = _requirement_files(files)
    for req in reqs:
        install.append(f"{PIP} -r {shlex.quote(req)}")
    editable = None
    if installable:
        target = "." + (f"[{','.join(chosen)}]" if chosen else "")
        editable = f"{PIP} -e {shlex.quote(target)}"
        install.append(editable)

    extra_pkgs: list[str] = []
    # PEP 735 dependency groups and poetry groups: test/dev packages by name
    groups = pyproject.get("dependency-groups", {}) if isinstance(pyproject.get("dependency-groups"), dict) else {}
    for group in _choose_extras(groups):
        extra_pkgs += _group_packages(groups, group)
    if isinstance(poetry, dict):
        poetry_groups = {k: v.get("dependencies", {}) for k, v in (poetry.get("group") or {}).items() if isinstance(v, dict)}
        if isinstance(poetry.get("dev-dependencies"), dict):
            poetry_groups.setdefault("dev", poetry["dev-dependencies"])
        for group in _choose_extras(poetry_groups):
            extra_pkgs += [name for name in poetry_groups[group] if isinstance(name, str) and name.lower() != "python"]
    for dep in tox_deps:
        if dep.startswith(("-r", "-c")):
            ref = dep[2:].strip().lstrip("=").strip()
            if dep.startswith("-r") and ref in fileset and ref not in reqs:
                install.append(f"{PIP} -r {shlex.quote(ref)}")
            continue
        if dep.startswith("-e") or dep in (".", ".[test]"):
            continue
        extra_pkgs.append(dep)
    extra_pkgs = [p for p in dict.fromkeys(extra_pkgs) if _req_name(p)]
    if extra_pkgs:
        install.append(f"{PIP} " + " ".join(shlex.quote(p) for p in extra_pkgs))
    if "pytest" not in {_req_name(p) for p in extra_pkgs}:
        install.append(f"{PIP} pytest")  # never downgrades a pytest installed above

    def in_tree(arg: str) -> bool:
        a = arg.rstrip("/")
        return any(f == a or f.startswith(a + "/") for f in files)

    test_files = [a.rstrip("/") for a in pytest_args if not a.startswith("-") and in_tree(a)]
    if not test_files:
        test_files = [p.rstrip("/") for p in _as_list(_pytest_config(read, pyproject).get("testpaths")) if in_tree(p)]

    minimal = [f"{PIP} --upgrade pip setuptools wheel"]
    if installable:
        minimal.append(f"{PIP} -e .")
    minimal.append(f"{PIP} pytest")

    candidates: list[EnvRecipe] = []
    for python, steps in [*((p, install) for p in pythons[:2]), (pythons[0], minimal)]:
        recipe = EnvRecipe(python=python, install=list(steps), test_files=test_files, env=env)
        if all(recipe.key() != c.key() for c in candidates):
            candidates.append(recipe)
    return candidates[:max(1, max_candidates)]


def infer_recipe(read_file: Callable[[str], str | None], files: list[str], *,
                 commit_date: datetime | str | None = None) -> EnvRecipe:
    """The first candidate of ``infer_recipes``: the recipe to try first."""
    return infer_recipes(read_file, files, commit_date=commit_date)[0]


def recipe_for(repo: str, recipes: dict[str, EnvRecipe], read_file: Callable[[str], str | None],
               files: list[str]) -> EnvRecipe:
    """The hand-written recipe of ``repo`` when there is one, else the inferred one."""
    return recipes[repo] if repo in recipes else infer_recipe(read_file, files)
