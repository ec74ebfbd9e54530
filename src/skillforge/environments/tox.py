"""tox configurations as the install plan (``environments.plan``) reads them:
``tox.ini``, ``setup.cfg``'s ``[tox:tox]``, ``pyproject.toml``'s ``legacy_tox_ini``
or native ``[tool.tox]``, ``tox.toml``. Which env runs the tests for a Python
(``ToxConfig.env_name``), and what that env installs and runs (``ToxEnv``):
factor conditions evaluated, ``{[section]key}`` references and the
substitutions that matter made. Nothing is executed.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from skillforge.environments.parsers import ReadFile, _cfg, _lines, _norm, _str_list, _table, _toml, is_url
from skillforge.environments.python import factor_python, tox_env_names, version_tuple

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
