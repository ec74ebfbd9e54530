"""An install plan from what a repository's tree says at a commit.

``read_project`` gathers the facts (build backend, extras, dependency groups,
requirement files, Pipfile, tox, pytest configuration, version tools, the
Python the project asks for); ``install_steps`` turns them into ``sf-install``
commands for one Python. Nothing is executed: ``setup.py`` and ``noxfile.py``
are only scanned with regular expressions.

``sf-install ARGS`` is ``uv pip install ARGS`` into the environment, with every
distribution resolved as of the commit's date (``EnvRecipe.exclude_newer``);
the install commands run in the repository's root.
"""

from __future__ import annotations

import configparser
import posixpath
import re
import shlex
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from skillforge.environments.python import (
    as_utc, version_tuple, ci_pythons, classifier_pythons, factor_python, nox_pythons, python_satisfies, tox_env_names,
    tox_pythons,
)

SF_INSTALL = "sf-install"
TEST_EXTRAS = ("test", "tests", "testing")
DEV_EXTRAS = ("dev", "develop", "development")
ALL_EXTRAS = ("all", "full", "complete")
"""Test extras are chosen by name: a test name, else a name with ``test`` in it,
else a development name; an "all" extra only when nothing else says how to get
the test dependencies; never docs or lint ones."""

ReadFile = Callable[[str], "str | None"]

# --------------------------------------------------------------------------- small parsers


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


def _table(data: Any, *keys: str) -> dict:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _lines(value: str, *, commas: bool = False) -> list[str]:
    """The entries of a multi-line ini value: comments and blank lines dropped,
    ``\\`` continuations joined; ``commas``: a one-line value is a comma list.
    Markers (``; python_version < "3.8"``) stay."""
    value = re.sub(r"\\\s*\n\s*", " ", value or "")
    parts = value.split(",") if commas and "\n" not in value.strip() else value.splitlines()
    out = []
    for line in parts:
        line = re.split(r"\s+#", line, maxsplit=1)[0].strip()
        if line and not line.startswith(("#", ";")):
            out.append(line)
    return out


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int, float))]
    return []


def req_name(req: str) -> str:
    """The normalized distribution name of a requirement (``""`` for a path, URL or option)."""
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    if not m or req.lstrip().startswith(("-", ".", "/")) or re.match(r"^\s*\w+\+?\w*://", req):
        return ""
    return re.sub(r"[-_.]+", "-", m.group(1)).lower()


_URL = re.compile(r"(^|\s|@\s*)(git|hg|svn|bzr)\+|://|^file:", re.IGNORECASE)


def is_url(req: str) -> bool:
    """A URL or VCS requirement (``https://...``, ``git+...``, ``name @ https://...``)."""
    return bool(_URL.search(req))


def _norm(path: str, base: str = "") -> str:
    """A repository-relative path (``""`` for the root itself)."""
    joined = posixpath.normpath(posixpath.join(base, path))
    return "" if joined == "." else joined


def _quote(args: Iterable[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


# --------------------------------------------------------------------------- requirement files

_SKIP_REQ = {"doc", "docs", "lint", "linting", "release", "publish", "deploy", "mypy", "typing", "types", "bench",
             "benchmark", "benchmarks", "style", "min", "minimum", "minimal", "oldest", "lowest", "upstream",
             "nightly", "windows", "win", "win32", "macos", "osx", "constraints", "constraint", "precommit",
             "pre-commit", "examples", "example", "notebooks", "build", "wheel", "pypy", "gpu", "cuda", "optional",
             "extras", "all", "readthedocs", "rtd", "sphinx", "format", "security", "audit"}
_TEST_REQ = {"test", "tests", "testing", "pytest", "unit", "unittest", "unittests"}
_DEV_REQ = {"dev", "develop", "development", "ci", "check"}
_VARIANT_REQ = {"dev", "develop", "development", "latest", "pre", "master", "main", "git", "head"}
_RUNTIME_REQ = {"requirements", "base", "install", "main", "prod", "production", "runtime", "core", "default",
                "common"}


@dataclass
class RequirementFiles:
    runtime: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)


def requirement_files(files: Iterable[str]) -> RequirementFiles:
    """Runtime and test requirement files by their names (``requirements.txt``,
    ``requirements/tests.txt``, ``test-requirements.txt``, ``dev-requirements.in``...):
    test ones when there are any (variants such as ``tests-dev`` only when no plain
    one exists), else development ones; docs, lint, release, minimum-version...
    ones never. A ``.in`` file counts only when no ``.txt`` of the same name exists."""
    files = list(files)
    fileset = set(files)
    runtime, test, dev = [], [], []
    for path in files:
        p = PurePosixPath(path)
        lower = path.lower()
        if p.suffix not in (".txt", ".in") or len(p.parts) > 3 or "requirement" not in lower:
            continue
        if p.suffix == ".in" and path[:-3] + ".txt" in fileset:
            continue
        if p.parts[0].lower() in ("docs", "doc", "examples", "example", "benchmarks", "tests", "test"):
            continue
        tokens = set(re.split(r"[/._-]+", lower[: -len(p.suffix)])) - {""}
        if tokens & _SKIP_REQ:
            continue
        stem = p.stem.lower()
        key = (len(p.parts), path)
        if tokens & _TEST_REQ or "test" in stem:
            test.append((bool(tokens & _VARIANT_REQ), *key))
        elif tokens & _DEV_REQ:
            dev.append((False, *key))
        elif stem in _RUNTIME_REQ and len(p.parts) <= 2:
            runtime.append(key)
    plain = [t for t in test if not t[0]]
    chosen = sorted(plain or test or dev)
    return RequirementFiles([path for _, path in sorted(runtime)], [path for *_, path in chosen])


# --------------------------------------------------------------------------- tox

_NON_TEST_ENV = ("lint", "doc", "cov", "typing", "mypy", "bench", "flake8", "pylint", "style", "format", "black",
                 "isort", "pyright", "precommit", "pre-commit", "release", "publish", "upload", "deploy", "manifest",
                 "changelog", "readme", "spell", "security", "safety", "bandit", "clean", "stats", "report",
                 "codecov", "coveralls", "sdist", "wheel", "build", "package", "pkg", "towncrier", "generate",
                 "fixture", "watch", "serve", "venv", "devenv", "dev-env", "notebook", "example", "upgrade",
                 "pip-compile", "compile", "bump", "fmt", "typecheck", "types", "type", "check", "pypi",
                 "metadata", "dist", "interrogate", "vulture", "yaml", "markdown", "pydocstyle", "ruff", "winpy",
                 "windows", "win32", "macos", "osx")
_PLAIN_TEST_ENV = {"test", "tests", "testing", "unit", "unittest", "unittests", "pytest", "all", "default", "cov",
                   "coverage", "release", "full"}
_VARIANT_ENV = {"min", "minimum", "minimal", "lowest", "oldest", "mindeps", "dev", "devel", "latest", "nightly",
                "upstream", "main", "master", "pre", "prerelease", "future", "next", "alpha", "beta", "git", "head",
                "nodeps", "no-deps", "unpinned", "tip", "trunk"}
_PYTEST_VALUE_OPTS = {"-m", "-k", "-p", "-c", "-o", "-W", "-n", "--ignore", "--ignore-glob", "--deselect",
                      "--rootdir", "--basetemp", "--cov", "--cov-report", "--cov-config", "--junitxml",
                      "--junit-xml", "--confcutdir", "--durations", "--dist", "--maxfail", "--timeout", "--tb",
                      "--log-level", "--log-cli-level", "--import-mode", "--override-ini", "--capture",
                      "--numprocesses", "--reruns", "--randomly-seed", "--hypothesis-profile", "--doctest-glob",
                      "--color", "--cov-fail-under", "-r", "--strict-markers-list", "--benchmark-storage"}


_NON_TEST_BESIDE_PYTHON = ("lint", "doc", "typing", "mypy", "flake8", "pylint", "style", "format", "black",
                           "isort", "pyright", "precommit", "pre-commit", "bench", "spell", "bandit", "safety",
                           "security", "typecheck", "types", "manifest", "readme", "ruff", "winpy", "windows",
                           "win32", "macos", "osx")


def _is_test_env(name: str) -> bool:
    """Not a docs/lint/typing/... env, not PyPy. Beside a Python factor fewer words
    exclude: ``py39-cov`` and ``py27-release`` run the tests, ``coverage-report`` and
    ``release`` do not."""
    words = _NON_TEST_BESIDE_PYTHON if _env_python(name) is not None else _NON_TEST_ENV
    for factor in name.lower().split("-"):
        if factor.startswith(("pypy", "jython")) or any(word in factor for word in words):
            return False
    return True


def _minor_rank(version: str) -> int:
    v = version_tuple(version) + (0, 0)
    return v[0] * 100 + v[1]


def _env_python(name: str) -> str | None:
    return next((v for f in name.split("-") if (v := factor_python(f))), None)


def _env_others(name: str) -> list[str]:
    return [f for f in name.split("-") if f and not factor_python(f) and f not in ("py", "py3", "python", "python3")]


def _condition_holds(condition: str, factors: set[str]) -> bool:
    """A tox factor condition (``py39``, ``py37,py38``, ``py38-django``, ``!py27``,
    ``dbt{020,021}``) against an env's factors."""
    for expanded in _expand(condition):
        for alternative in expanded.split(","):
            parts = [p.strip() for p in alternative.split("-") if p.strip()]
            if parts and all((p[1:] not in factors) if p.startswith("!") else (p in factors) for p in parts):
                return True
    return False


def _expand(text: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", text)
    if not m:
        return [text]
    out: list[str] = []
    for part in m.group(1).split(","):
        out += _expand(text[: m.start()] + part.strip() + text[m.end():])
    return out


_CONDITION = re.compile(r"^\s*([\w.{},!-]+)\s*:\s+(.*)$")


@dataclass
class ToxEnv:
    """One tox environment, its factor conditions evaluated and its substitutions made."""

    name: str
    section: str  # the section its own settings come from (``testenv`` when it has none)
    packages: list[str] = field(default_factory=list)  # requirement strings (URL/VCS ones only when named)
    requirement_files: list[str] = field(default_factory=list)  # repository-relative
    named_files: list[str] = field(default_factory=list)  # ... those a factor of the env or its own section names
    constraint_files: list[str] = field(default_factory=list)
    local_paths: list[str] = field(default_factory=list)  # ./path[extras] of local packages other than the project
    project_extras: list[str] | None = None  # extras of a ``.[x]`` / ``-e .[x]`` dep
    extras: list[str] | None = None  # ``extras =``; None when tox says nothing
    dependency_groups: list[str] | None = None  # ``dependency_groups =`` (tox >= 4.22)
    pytest_args: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # URL/VCS deps nothing specific to this env names

    @property
    def has_deps(self) -> bool:
        return bool(self.packages or self.requirement_files or self.local_paths or self.dependency_groups)


@dataclass
class ToxConfig:
    """A tox configuration (``tox.ini``, ``setup.cfg``'s ``[tox:tox]``, ``pyproject.toml``'s
    ``legacy_tox_ini`` or native ``[tool.tox]``, ``tox.toml``) as ini sections (keys
    lower-cased; ``[tox:tox]`` is ``tox``); ``path`` is where it was read from."""

    path: str
    envlist: list[str]
    sections: dict[str, dict[str, str]]
    files: frozenset[str] = frozenset()

    @property
    def base(self) -> str:
        return posixpath.dirname(self.path)

    # -- env choice --------------------------------------------------------------
    def test_envs(self) -> list[str]:
        """The env list (or the ``[testenv:x]`` sections when there is none) without
        docs/lint/typing/coverage/... and PyPy envs."""
        names = list(self.envlist) or [s.split(":", 1)[1] for s in self.sections if s.startswith("testenv:")]
        return [n for n in names if _is_test_env(n)]

    def env_name(self, python: str) -> str | None:
        """The env whose test setup ``python`` gets: a test env whose Python factor is
        ``python`` with the fewest other factors (``min``/``dev``/... variants last),
        else a plain one (``py``, ``tests``, ``unit``), else the test env of the
        nearest Python, else any test env; with none, ``pyXY`` itself when
        ``[testenv]`` exists."""
        envs = self.test_envs()
        order = {n: i for i, n in enumerate(envs)}

        def cost(n: str) -> tuple[int, int, int]:
            others = _env_others(n)
            return sum(f.lower() in _VARIANT_ENV for f in others), len(others), order[n]

        same = [n for n in envs if _env_python(n) == python]
        plain = [n for n in envs if _env_python(n) is None and set(_env_others(n)) <= _PLAIN_TEST_ENV]
        if same or plain:
            return min(same or plain, key=cost)
        versioned = [n for n in envs if _env_python(n) is not None]
        if versioned:
            rank = _minor_rank(python)
            return min(versioned, key=lambda n: (abs(_minor_rank(_env_python(n) or python) - rank), *cost(n)))
        if envs:
            return min(envs, key=cost)
        return "py" + python.replace(".", "") if "testenv" in self.sections else None

    def env_for(self, python: str) -> ToxEnv | None:
        name = self.env_name(python)
        return self.env(name) if name else None

    # -- evaluation --------------------------------------------------------------
    def _raw(self, name: str, key: str) -> tuple[str | None, bool]:
        """(value, whether the env's own section gives it)."""
        own = self.sections.get(f"testenv:{name}", {})
        if key in own:
            return own[key], True
        return self.sections.get("testenv", {}).get(key), False

    def _refs(self, value: str, depth: int = 0) -> str:
        """``{[section]key}`` references replaced by that key's value."""
        if depth > 5:
            return value

        def sub(m: re.Match) -> str:
            section = m.group(1).strip()
            section = "tox" if section == "tox:tox" else section
            return self._refs(self.sections.get(section, {}).get(m.group(2).strip().lower(), ""), depth + 1)

        return re.sub(r"\{\[([^\]]+)\]([^}]+)\}", sub, value)

    def _subst(self, value: str, name: str) -> str:
        """The substitutions that matter here: ``{toxinidir}``, ``{posargs:DEFAULT}``,
        ``{env:NAME:DEFAULT}``, ``{envname}``; others stay."""
        value = re.sub(r"\{(toxinidir|tox_root)\}", self.base or ".", value)
        value = re.sub(r"\{posargs(?::([^{}]*))?\}", lambda m: m.group(1) or "", value)
        for _ in range(3):
            value = re.sub(r"\{env:[A-Za-z_][A-Za-z0-9_]*(?::([^{}]*))?\}", lambda m: m.group(1) or "", value)
        return value.replace("{envname}", name)

    def entries(self, name: str, key: str) -> list[tuple[str, bool]]:
        """(entry, named) for the lines of ``key`` in env ``name`` whose factor condition
        holds, substituted; ``named``: a positive factor of the env selected the line, or
        the env's own section gives it."""
        raw, own = self._raw(name, key)
        if raw is None:
            return []
        factors = set(name.split("-"))
        text = self._refs(raw)
        lines = _command_lines(text) if key == "commands" else _lines(text)
        out = []
        for line in lines:
            named = own
            if m := _CONDITION.match(line):
                if not _condition_holds(m.group(1), factors):
                    continue
                line = m.group(2).strip()
                named = named or any(not part.startswith("!") for part in re.split(r"[-,{}]", m.group(1)) if part)
            out.append((self._subst(line, name), named))
        return out

    def env(self, name: str) -> ToxEnv:
        env = ToxEnv(name, f"testenv:{name}" if f"testenv:{name}" in self.sections else "testenv")
        for dep, named in self.entries(name, "deps"):
            self._add_dep(env, dep, named)
        extras = [e for entry, _ in self.entries(name, "extras") for e in re.split(r"[,\s]+", entry)
                  if e and "{" not in e]
        env.extras = extras or None
        groups = [g for entry, _ in self.entries(name, "dependency_groups") for g in re.split(r"[,\s]+", entry)
                  if g and "{" not in g]
        env.dependency_groups = groups or None
        for line, _ in self.entries(name, "commands"):
            if (args := _pytest_args(line)) is not None:
                env.pytest_args = args
                break
        return env

    def _add_dep(self, env: ToxEnv, dep: str, named: bool) -> None:
        if not dep or "{" in dep:
            return
        if dep.startswith("-"):
            for option, value in _pip_options(dep):
                path = _norm(value, self.base) if value else None
                if option == "e" and value:
                    self._add_path(env, value)
                elif path and path in self.files:
                    if option == "c":
                        env.constraint_files.append(path)
                    else:
                        env.requirement_files.append(path)
                        if named:
                            env.named_files.append(path)
            return
        if is_url(dep):
            (env.packages if named else env.left_out).append(dep)
        elif dep.startswith((".", "/")) or ("/" in dep.split("[")[0] and not re.search(r"[<>=~;@\s]", dep)):
            self._add_path(env, dep)
        else:
            env.packages.append(dep)

    def _add_path(self, env: ToxEnv, target: str) -> None:
        path, _, extras = target.partition("[")
        where = _norm(path, self.base)
        extra_list = [e.strip() for e in extras.rstrip("]").split(",") if e.strip()]
        if where == "":
            env.project_extras = list(dict.fromkeys((env.project_extras or []) + extra_list))
        elif any(f.startswith(where + "/") for f in self.files):
            env.local_paths.append("./" + where + (f"[{','.join(extra_list)}]" if extra_list else ""))


def _command_lines(value: str) -> list[str]:
    value = re.sub(r"\\\s*\n\s*", " ", value or "")
    return [line.strip() for line in value.splitlines() if line.strip() and not line.strip().startswith("#")]


def _pip_options(text: str) -> list[tuple[str, str]]:
    """pip options of a tox dep line: ``-Urrequirements.txt``, ``-r file``,
    ``--requirement=file``, ``-c file``, ``-e path`` -> [("r", "requirements.txt"), ...];
    the other options are dropped."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    out: list[tuple[str, str]] = []
    long = {"--requirement": "r", "--constraint": "c", "--editable": "e"}
    takes_value = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links"}
    i = 0
    while i < len(words):
        word, i = words[i], i + 1
        if word.startswith("--"):
            option, eq, value = word.partition("=")
            if option in long:
                if not eq and i < len(words):
                    value, i = words[i], i + 1
                out.append((long[option], value))
            elif option in takes_value and not eq:
                i += 1
        elif word.startswith("-") and len(word) > 1:
            for j, ch in enumerate(word[1:], 1):
                if ch in "rceif":
                    value = word[j + 1:].lstrip("=")
                    if not value and i < len(words):
                        value, i = words[i], i + 1
                    if ch in "rce":
                        out.append((ch, value))
                    break
    return out


def _pytest_args(line: str) -> list[str] | None:
    """The arguments of a command that runs pytest (``pytest``, ``py.test``, ``python -m
    pytest``, ``coverage run -m pytest``); None for other commands."""
    try:
        words = shlex.split(line.lstrip("-!").strip())
    except ValueError:
        return None
    for i, word in enumerate(words):
        if not word.startswith("-") and PurePosixPath(word).name in ("pytest", "py.test"):
            return words[i + 1:]
        if word == "-m" and i + 1 < len(words) and words[i + 1] in ("pytest", "py.test"):
            return words[i + 2:]
    return None


def _tox_config(read: ReadFile, pyproject: dict, files: frozenset[str]) -> ToxConfig | None:
    """The tox configuration tox itself would read first."""
    def from_ini(path: str, text: str | None, main: str) -> ToxConfig | None:
        parser = _cfg(text)
        sections = {("tox" if s == main else s): dict(parser[s]) for s in parser.sections()}
        if main not in parser.sections() and not any(s == "testenv" or s.startswith("testenv:") for s in sections):
            return None
        head = sections.get("tox", {})
        return ToxConfig(path, tox_env_names(head.get("envlist") or head.get("env_list") or ""), sections, files)

    if "tox.ini" in files and (config := from_ini("tox.ini", read("tox.ini"), "tox")):
        return config
    if "setup.cfg" in files and "[tox:tox]" in (text := read("setup.cfg") or "") and (
            config := from_ini("setup.cfg", text, "tox:tox")):
        return config
    tool_tox = _table(pyproject, "tool", "tox")
    if isinstance(tool_tox.get("legacy_tox_ini"), str):
        return from_ini("pyproject.toml", tool_tox["legacy_tox_ini"], "tox")
    if tool_tox:
        return _native_tox("pyproject.toml", tool_tox, files)
    if "tox.toml" in files:
        return _native_tox("tox.toml", _toml(read("tox.toml")), files)
    return None


def _toml_command(words: list) -> list[str]:
    """A tox TOML command; ``{replace = "posargs", default = [...]}`` becomes its default."""
    out: list[str] = []
    for word in words:
        if isinstance(word, dict):
            if word.get("replace") == "posargs":
                out += _str_list(word.get("default"))
        else:
            out.append(str(word))
    return out


def _native_tox(path: str, data: dict, files: frozenset[str]) -> ToxConfig | None:
    """tox 4's TOML configuration (``env_list``, ``env_run_base``, ``env.NAME``) as ini sections."""
    def section(table: dict) -> dict[str, str]:
        out = {}
        for key, value in table.items():
            if key == "commands" and isinstance(value, list):
                out[key] = "\n".join(shlex.join(_toml_command(c)) if isinstance(c, list) else str(c) for c in value)
            elif isinstance(value, list):
                out[key] = "\n".join(str(v) for v in value if isinstance(v, (str, int, float)))
            elif isinstance(value, (str, int, float, bool)):
                out[key] = str(value)
        return out

    sections = {f"testenv:{name}": section(table) for name, table in _table(data, "env").items()
                if isinstance(table, dict)}
    if isinstance(data.get("env_run_base"), dict):
        sections["testenv"] = section(data["env_run_base"])
    envlist = [str(e) for e in data.get("env_list", []) if isinstance(e, str)] if isinstance(
        data.get("env_list"), list) else []
    return ToxConfig(path, envlist, sections, files) if sections or envlist else None


# --------------------------------------------------------------------------- extras, groups, poetry


def choose_extras(extras: Iterable[str], *, last_resort: bool = False) -> list[str]:
    """The test extra by name (see ``ALL_EXTRAS``); ``last_resort`` admits "all"."""
    extras = list(dict.fromkeys(extras))
    lowered = {e.lower().replace("_", "-"): e for e in extras}
    for e in TEST_EXTRAS:
        if e in lowered:
            return [lowered[e]]
    testish = sorted((k for k in lowered if "test" in k and not re.search(r"doc|lint|type|mypy", k)), key=len)
    if testish:
        return [lowered[testish[0]]]
    for e in DEV_EXTRAS:
        if e in lowered:
            return [lowered[e]]
    devish = sorted((k for k in lowered if k.startswith("dev") or k.endswith("dev")), key=len)
    if devish:
        return [lowered[devish[0]]]
    if last_resort:
        return [lowered[e] for e in ALL_EXTRAS if e in lowered][:1]
    return []


def _group_packages(groups: dict, name: str, seen: set[str] | None = None) -> list[str]:
    """Packages of a PEP 735 dependency group, ``include-group`` entries expanded."""
    seen = seen if seen is not None else set()
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


def poetry_spec(spec: str) -> str:
    """A poetry version constraint as a PEP 440 specifier: ``^1.2.3`` -> ``>=1.2.3,<2``,
    ``^0.2`` -> ``>=0.2,<0.3``, ``~1.2`` -> ``>=1.2,<1.3``, ``1.2.3`` -> ``==1.2.3``,
    ``*`` -> ``""``; ``||`` alternatives cannot be written in PEP 440 (``""``)."""
    spec = (spec or "").strip()
    if not spec or spec == "*" or "||" in spec:
        return ""
    out = []
    for clause in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", spec):
        clause = clause.strip()
        if not clause or clause == "*":
            continue
        if m := re.fullmatch(r"\^\s*v?(\d+(?:\.\d+)*)(.*)", clause):
            nums = [int(n) for n in m.group(1).split(".")]
            first = next((i for i, n in enumerate(nums) if n != 0), len(nums) - 1)
            upper = nums[: first + 1]
            upper[-1] += 1
            out += [f">={m.group(1)}{m.group(2)}", "<" + ".".join(map(str, upper))]
        elif (m := re.fullmatch(r"~(?!=)\s*v?(\d+(?:\.\d+)*)(.*)", clause)):
            nums = [int(n) for n in m.group(1).split(".")]
            upper = nums[:2] if len(nums) > 1 else nums[:1]
            upper[-1] += 1
            out += [f">={m.group(1)}{m.group(2)}", "<" + ".".join(map(str, upper))]
        elif re.fullmatch(r"v?\d[\w.+!-]*(\.\*)?", clause):
            out.append("==" + clause.lstrip("v"))
        elif re.fullmatch(r"(===|==|!=|<=|>=|<|>|~=)\s*\S+", clause):
            out.append(re.sub(r"\s+", "", clause))
    return ",".join(out)


def poetry_requirement(name: str, value: Any, python: str | None = None) -> str | None:
    """One poetry dependency as a PEP 508 requirement; None for git/path/url ones and for
    those whose ``python`` constraint rules ``python`` out."""
    if name.lower() == "python":
        return None
    choices = value if isinstance(value, list) else [value]
    for choice in choices:
        if isinstance(choice, str):
            return name + poetry_spec(choice)
        if not isinstance(choice, dict):
            continue
        if any(k in choice for k in ("git", "path", "url", "file")):
            return None
        if python and isinstance(choice.get("python"), str) and not python_satisfies(python, choice["python"]):
            continue
        extras = [str(e) for e in choice.get("extras", []) if isinstance(e, str)]
        req = name + (f"[{','.join(extras)}]" if extras else "") + poetry_spec(str(choice.get("version", "")))
        if isinstance(choice.get("markers"), str):
            req += f"; {choice['markers']}"
        return req
    return None


def pipfile_requirement(name: str, value: Any) -> str | None:
    """One Pipfile package as a PEP 508 requirement (None for git/path/file/editable ones)."""
    if isinstance(value, str):
        return name + ("" if value.strip() == "*" else value.strip())
    if not isinstance(value, dict) or any(k in value for k in ("git", "path", "file", "hg", "svn", "editable")):
        return None
    extras = [str(e) for e in value.get("extras", []) if isinstance(e, str)]
    version = str(value.get("version", "*")).strip()
    req = name + (f"[{','.join(extras)}]" if extras else "") + ("" if version == "*" else version)
    if isinstance(value.get("markers"), str):
        req += f"; {value['markers']}"
    return req


# --------------------------------------------------------------------------- setup.py (regular expressions only)


def _bracket(text: str, start: int, open_: str = "[", close: str = "]") -> str:
    """The text from ``start`` (just after an opening bracket) to its matching close."""
    depth = 1
    for i in range(start, min(len(text), start + 20000)):
        ch = text[i]
        depth += (ch == open_) - (ch == close)
        if depth == 0:
            return text[start:i]
    return text[start: start + 4000]


def _setup_py_list(text: str, expression: str) -> list[str] | None:
    """The strings of a list literal or of the module-level list a name refers to."""
    expression = expression.strip()
    if expression.startswith("["):
        return re.findall(r"[\"']([^\"']+)[\"']", _bracket(expression, 1))
    if m := re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expression):
        if d := re.search(rf"^{re.escape(m.group())}\s*=\s*\[", text, re.MULTILINE):
            return re.findall(r"[\"']([^\"']+)[\"']", _bracket(text, d.end()))
    return None


def setup_py_extras(text: str) -> dict[str, list[str]]:
    """Extras of ``extras_require={...}`` / ``dict(...)``, or of the module-level dict it
    names (``extras_require=EXTRAS``, ``EXTRAS = {...}``, ``EXTRAS["x"] = ...``), with
    the requirements found for each (list literals and module-level lists; best effort)."""
    out: dict[str, list[str]] = {}

    def value(rest: str) -> list[str]:
        rest = rest.lstrip()
        if rest.startswith("["):
            return re.findall(r"[\"']([^\"']+)[\"']", _bracket(rest, 1))
        name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", rest)
        return (_setup_py_list(text, name.group()) or []) if name else []

    def read_dict(chunk: str, keywords: bool) -> None:
        key = r"\b([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)" if keywords else r"[\"']([A-Za-z0-9_.-]+)[\"']\s*:"
        for m in re.finditer(key, chunk):
            out[m.group(1)] = value(chunk[m.end():])

    def read_at(start: re.Match | None) -> bool:
        if start is None:
            return False
        brace = start.group().endswith("{")
        read_dict(_bracket(text, start.end(), *(("{", "}") if brace else ("(", ")"))), keywords=not brace)
        return True

    if not read_at(re.search(r"extras_require\s*=\s*(\{|dict\()", text)):
        if v := re.search(r"extras_require[\"']?\s*[=:]\s*([A-Za-z_][A-Za-z0-9_]*)\s*[,)}\n]", text):
            var = re.escape(v.group(1))
            read_at(re.search(rf"^{var}\s*=\s*(\{{|dict\()", text, re.MULTILINE))
            for k in re.finditer(rf"^{var}\[[\"']([A-Za-z0-9_.-]+)[\"']\]\s*=\s*(.*)$", text, re.MULTILINE):
                refs = re.findall(rf"{var}\[[\"']([A-Za-z0-9_.-]+)[\"']\]", k.group(2))
                rest = re.sub(rf"{var}\[[\"'][A-Za-z0-9_.-]+[\"']\]", "", k.group(2))
                reqs = [r for ref in refs for r in out.get(ref, [])] + re.findall(r"[\"']([^\"']+)[\"']", rest)
                out.setdefault(k.group(1), []).extend(reqs)
    return {k: list(dict.fromkeys(v)) for k, v in out.items()}


def setup_py_tests_require(text: str) -> list[str]:
    m = re.search(r"tests_require[\"']?\s*[=:]\s*(\[|[A-Za-z_][A-Za-z0-9_]*)", text)
    if not m:
        return []
    found = _setup_py_list(text, "[" + _bracket(text, m.end()) + "]" if m.group(1) == "[" else m.group(1))
    return [r for r in found or [] if req_name(r)]


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
