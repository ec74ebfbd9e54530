"""Environment recipes: how to install a repository and run its tests.

A recipe is written by hand under ``recipes/`` (one YAML file per repository)
or inferred from the repository's packaging files by ``infer_recipe``. Only
``python``, ``system_packages``, ``install`` and ``env`` shape the environment
image (``EnvRecipe.key``); the other fields are read at run time.

Recipe file shapes::

    repo: owner/name
    environment:
      python: "3.11"
      install: ["python -m pip install -e '.[test]'"]

or, keyed by a commit or version range (the first entry whose ``when`` matches
the commit wins; an entry without ``when`` matches every commit)::

    repo: owner/name
    environments:
      - when: {since: "2023-01-11"}          # a date, or a commit the commit must contain
        environment: {python: "3.11", install: [...]}
      - when: {versions: "<23.1"}            # PEP 440 specifier on the nearest release tag
        environment: {python: "3.9", install: [...]}

or a list of such mappings (one entry per repository). ``RECIPE_SCHEMA`` is the
JSON Schema of a file (``recipes/environments/recipe.schema.json``).

When no recipe exists, ``infer_recipes`` lists candidates in the order they
should be tried (the validator builds each, smoke-runs test collection in it and
keeps the first that passes).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_TEST_CMD = "python -m pytest -p no:cacheprovider -rA"
SUPPORTED_PYTHONS = ("3.9", "3.11", "3.13")
DEBIAN_PYTHON_PATCH = {"3.9": "3.9.2", "3.11": "3.11.2", "3.13": "3.13.5"}
"""The exact versions of Debian bullseye, bookworm and trixie: a requirement such
as ``>=3.11.4`` rules bookworm's 3.11 out."""
DEFAULT_PYTHON = "3.11"
TEST_EXTRAS = ("test", "tests", "testing")
DEV_EXTRAS = ("dev", "develop", "development")
PIP = "python -m pip install"


class EnvRecipe(BaseModel):
    """How to build a repository's environment and run its tests."""

    model_config = ConfigDict(extra="forbid")

    python: str = DEFAULT_PYTHON
    system_packages: list[str] = Field(default_factory=list, description="Debian packages, installed as root")
    install: list[str] = Field(default_factory=list,
                               description="shell commands run in /testbed with the venv active, network on, at image build")
    pre_test: list[str] = Field(default_factory=list,
                                description="shell commands run before the tests in every test container, network off")
    test_cmd: str = DEFAULT_TEST_CMD
    test_files: list[str] = Field(default_factory=list, description="default test selection when a run names none")
    env: dict[str, str] = Field(default_factory=dict, description="variables set at install and at test time")
    timeout: int | None = Field(default=None, description="test timeout in seconds (Settings.test_timeout if unset)")
    install_timeout: int | None = Field(default=None, description="install timeout in seconds")

    @field_validator("python", mode="before")
    @classmethod
    def _python_str(cls, value: Any) -> str:
        if isinstance(value, float):
            raise ValueError(f"write the Python version as a string (python: \"{value}\"): YAML reads 3.10 as 3.1")
        value = str(value).strip()
        if not re.fullmatch(r"3\.\d+", value):
            raise ValueError(f"python must look like '3.11', got {value!r}")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_str(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for k in value:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)):
                    raise ValueError(f"invalid environment variable name {k!r}")
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return value

    def key(self) -> str:
        """Short stable hash of the fields that shape the environment image."""
        payload = json.dumps({"python": self.python, "system_packages": self.system_packages,
                              "install": self.install, "env": self.env}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ][0-9:.+-Z]*)?")
_SHA = re.compile(r"[0-9a-fA-F]{7,40}")


class RecipeWhen(BaseModel):
    """Which commits a recipe is for. Every field given must hold."""

    model_config = ConfigDict(extra="forbid")

    since: str | None = Field(default=None, description="a date (YYYY-MM-DD: commits made on or after it) or a "
                                                        "commit (commits that contain it)")
    until: str | None = Field(default=None, description="a date (commits made before it) or a commit (commits "
                                                        "that do not contain it)")
    versions: str | None = Field(default=None, description="PEP 440 specifier, e.g. '>=23.1,<25', on the version "
                                                           "of the nearest release tag at or before the commit")

    @field_validator("since", "until", mode="before")
    @classmethod
    def _point(cls, value: Any) -> Any:
        if value is None:
            return None
        value = str(value).strip()  # YAML reads an unquoted date as a date
        if not (_DATE.fullmatch(value) or _SHA.fullmatch(value)):
            raise ValueError(f"since/until must be a date (YYYY-MM-DD) or a commit id, got {value!r}")
        return value

    @field_validator("versions")
    @classmethod
    def _spec(cls, value: str | None) -> str | None:
        if value is not None:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet

            try:
                SpecifierSet(value)
            except InvalidSpecifier as exc:
                raise ValueError(f"versions must be a PEP 440 specifier such as '>=1.2,<2': {exc}") from None
        return value

    def empty(self) -> bool:
        return self.since is None and self.until is None and self.versions is None


class RecipeVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: RecipeWhen = Field(default_factory=RecipeWhen)
    environment: EnvRecipe = Field(default_factory=EnvRecipe)


class RecipeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo: str
    environment: EnvRecipe | None = None
    environments: list[RecipeVariant] | None = Field(default=None, description="recipes by commit or version "
                                                                                "range, first match wins")

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", value):
            raise ValueError(f"repo must be owner/name, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> "RecipeEntry":
        if self.environment is not None and self.environments is not None:
            raise ValueError("give either environment or environments, not both")
        if self.environments is not None and not self.environments:
            raise ValueError("environments is empty")
        return self

    def variants(self) -> list[RecipeVariant]:
        if self.environments is not None:
            return list(self.environments)
        return [RecipeVariant(environment=self.environment or EnvRecipe())]


RECIPE_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "skillforge environment recipe file",
    "description": "One repository's recipe (or a list of them): how to build its environment and run its tests.",
    "oneOf": [{"$ref": "#/$defs/RecipeEntry"},
              {"type": "array", "items": {"$ref": "#/$defs/RecipeEntry"}}],
}


def recipe_schema() -> dict:
    """The JSON Schema of a recipe file (kept in ``recipes/environments/recipe.schema.json``)."""
    inner = RecipeEntry.model_json_schema(ref_template="#/$defs/{model}")
    defs = inner.pop("$defs", {})
    defs["RecipeEntry"] = inner
    return {**RECIPE_SCHEMA, "$defs": dict(sorted(defs.items()))}


def load_recipe_variants(path: str | Path) -> dict[str, list[RecipeVariant]]:
    """Recipes of one YAML file, by repository (``owner/name``), each a list of
    variants by commit range (first match wins)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    entries = data if isinstance(data, list) else [data]
    out: dict[str, list[RecipeVariant]] = {}
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: entry {i} must be a mapping with repo and environment")
        try:
            entry = RecipeEntry.model_validate(raw)
        except ValueError as exc:
            raise ValueError(f"{path}: entry {i}: {exc}") from exc
        if entry.repo in out:
            raise ValueError(f"{path}: {entry.repo} has more than one recipe")
        out[entry.repo] = entry.variants()
    return out


def _default_variant(variants: list[RecipeVariant]) -> EnvRecipe:
    """The recipe for commits no range names (the catch-all entry, else the first)."""
    return next((v.environment for v in variants if v.when.empty()), variants[0].environment)


def load_recipe_file(path: str | Path) -> dict[str, EnvRecipe]:
    """Recipes of one YAML file, by repository; for a file with ranges, its
    catch-all recipe (``load_recipe_variants`` keeps the ranges)."""
    return {repo: _default_variant(v) for repo, v in load_recipe_variants(path).items()}


def load_recipe_book(directory: str | Path) -> dict[str, list[RecipeVariant]]:
    """All recipes under ``directory`` (``*.yaml``/``*.yml``, recursively), by
    repository, with their commit ranges."""
    directory = Path(directory)
    out: dict[str, list[RecipeVariant]] = {}
    origin: dict[str, Path] = {}
    if not directory.is_dir():
        return out
    for path in sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")]):
        for repo, variants in load_recipe_variants(path).items():
            if repo in out:
                raise ValueError(f"{repo} has recipes in both {origin[repo]} and {path}")
            out[repo], origin[repo] = variants, path
    return out


def load_recipes(directory: str | Path) -> dict[str, EnvRecipe]:
    """All recipes under ``directory``, by repository (catch-all recipe of each)."""
    return {repo: _default_variant(v) for repo, v in load_recipe_book(directory).items()}


# --------------------------------------------------------------------------- commit ranges


@dataclass
class CommitInfo:
    """What a recipe range is matched against."""

    sha: str
    date: datetime | None = None
    version: str | None = None  # of the nearest release tag at or before the commit
    contains: Callable[[str], bool] | None = None  # whether the commit has the given commit in its history


def git_commit_info(repo_dir: str | Path, commit: str) -> CommitInfo:
    """``CommitInfo`` of ``commit`` in a local clone (``git describe --tags`` for the version)."""
    git = ["git", "-C", str(repo_dir)]

    def out(*args: str) -> str | None:
        proc = subprocess.run([*git, *args], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else None

    when = out("show", "-s", "--format=%cI", f"{commit}^{{commit}}")
    tags = out("tag", "--merged", commit, "--sort=-creatordate") or ""
    version = next((v for t in tags.splitlines() if (v := _tag_version(t))), None)

    def contains(other: str) -> bool:
        return subprocess.run([*git, "merge-base", "--is-ancestor", other, commit],
                              capture_output=True).returncode == 0

    return CommitInfo(commit, datetime.fromisoformat(when) if when else None, version, contains)


def _tag_version(tag: str) -> str | None:
    """``v1.2.3`` / ``1.2.3`` / ``project-1.2`` -> a PEP 440 version, or None."""
    from packaging.version import InvalidVersion, Version

    m = re.search(r"(\d+(?:\.\d+)+(?:[._-]?(?:a|b|rc|post|dev)\.?\d*)*)$", tag.strip())
    if not m:
        return None
    try:
        return str(Version(m.group(1)))
    except InvalidVersion:
        return None


def _as_date(value: str) -> datetime | None:
    if not _DATE.fullmatch(value):
        return None
    d = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def when_matches(when: RecipeWhen, info: CommitInfo) -> bool:
    """Whether ``info``'s commit is in the range ``when`` describes. A range
    that needs what ``info`` lacks (no date, no tag) does not match."""
    for bound, after in ((when.since, True), (when.until, False)):
        if bound is None:
            continue
        date = _as_date(bound)
        if date is not None:
            if info.date is None:
                return False
            mine = info.date if info.date.tzinfo else info.date.replace(tzinfo=timezone.utc)
            if (mine >= date) != after:
                return False
        else:
            if info.contains is None:
                return False
            if info.contains(bound) != after:
                return False
    if when.versions is not None:
        from packaging.specifiers import SpecifierSet
        from packaging.version import Version

        if info.version is None or Version(info.version) not in SpecifierSet(when.versions, prereleases=True):
            return False
    return True


def select_recipe(variants: list[RecipeVariant], info: CommitInfo) -> EnvRecipe | None:
    """The first variant whose range holds the commit (None when none does)."""
    return next((v.environment for v in variants if when_matches(v.when, info)), None)


def dump_recipe(repo: str, recipe: EnvRecipe) -> str:
    """YAML text of a recipe file (e.g. to save an inferred recipe for editing)."""
    body = recipe.model_dump(exclude_defaults=True)
    body.setdefault("python", recipe.python)
    return yaml.safe_dump({"repo": repo, "environment": body}, sort_keys=False)


def recipe_for(repo: str, recipes: dict[str, EnvRecipe], read_file: Callable[[str], str | None],
               files: list[str]) -> EnvRecipe:
    """The hand-written recipe of ``repo`` when there is one, else the inferred one."""
    return recipes[repo] if repo in recipes else infer_recipe(read_file, files)


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


def _clause_ok(version: tuple[int, ...], clause: str) -> bool:
    clause = clause.strip()
    if not clause:
        return True
    # poetry style: ^3.8, ~3.8, 3.8.*
    m = re.fullmatch(r"(\^|~=|~|===|==|!=|<=|>=|<|>)?\s*v?([0-9][0-9.*]*)", clause)
    if not m:
        return True  # unknown syntax: do not exclude
    op, target = m.group(1) or "==", m.group(2).rstrip(".")
    if target.endswith("*"):
        prefix = _ver(target.rstrip(".*"))
        same = version[: len(prefix)] == prefix
        return same if op in ("==", "===") else (not same) if op == "!=" else True
    t = _ver(target)
    c = _cmp(version, t)
    if op in ("==", "==="):
        return version[: len(t)] == t
    if op == "!=":
        return version[: len(t)] != t
    if op == ">=":
        return c >= 0
    if op == ">":
        return c > 0
    if op == "<=":
        return c <= 0 or version[: len(t)] == t
    if op == "<":
        return c < 0
    if op == "^":
        upper = (t[0] + 1,) if t[0] > 0 else t[:2]
        return c >= 0 and _cmp(version, upper) < 0
    if op in ("~=", "~"):
        upper = t[:-1] if op == "~=" and len(t) > 1 else t[:1] if len(t) == 1 else t[:2]
        upper = upper[:-1] + (upper[-1] + 1,)
        return c >= 0 and _cmp(version, upper) < 0
    return True


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
