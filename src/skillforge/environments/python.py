"""Which Python a commit's environment gets: the version specifier the project
declares, the versions it names (classifiers, CI matrices, tox env lists,
noxfiles), and the commit's date weighed against Python's release and
end-of-life dates.

A version counts as *of its era* for a commit when it was released at least
``MATURITY`` before the commit: by then the packages of that era published
wheels for it. Specifiers are checked against the exact patch version of each
available interpreter (``>=3.11.4`` rules out a 3.11.2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml

from skillforge.schema import DEFAULT_PYTHON

DEFAULT_PYTHONS: Mapping[str, str] = {
    "3.6": "3.6.9",    # Ubuntu bionic
    "3.8": "3.8.10",   # Ubuntu focal
    "3.9": "3.9.2",    # Debian bullseye
    "3.10": "3.10.12",  # Ubuntu jammy
    "3.11": "3.11.2",  # Debian bookworm
    "3.12": "3.12.3",  # Ubuntu noble
    "3.13": "3.13.5",  # Debian trixie
}
"""The Pythons base images can be made of, version -> exact patch version."""

PYTHON_RELEASES: Mapping[str, str] = {
    "3.5": "2015-09-13", "3.6": "2016-12-23", "3.7": "2018-06-27", "3.8": "2019-10-14", "3.9": "2020-10-05",
    "3.10": "2021-10-04", "3.11": "2022-10-24", "3.12": "2023-10-02", "3.13": "2024-10-07", "3.14": "2025-10-07",
}
"""First final release of each Python."""

PYTHON_END_OF_LIFE: Mapping[str, str] = {
    "2.7": "2020-01-01", "3.4": "2019-03-18", "3.5": "2020-09-30", "3.6": "2021-12-23", "3.7": "2023-06-27",
    "3.8": "2024-10-07", "3.9": "2025-10-31",
    "3.10": "2026-10-31", "3.11": "2027-10-31", "3.12": "2028-10-31", "3.13": "2029-10-31", "3.14": "2030-10-31",
}
"""End of life of each Python (the last security release)."""

MATURITY = timedelta(days=90)
"""How long after its release a Python counts as the era's Python."""
STALE_AFTER_EOL = timedelta(days=365)
"""A version a project names this long after its end of life is a stale name
(classifiers nobody updated), not a choice."""

SPEC_CLASSIFIER = re.compile(r"Programming Language :: Python :: (\d\.\d+)")

# --------------------------------------------------------------------------- versions and specifiers


def version_tuple(text: str) -> tuple[int, ...]:
    """``"3.11.2"`` -> ``(3, 11, 2)``; stops at the first part that is not a number."""
    nums = []
    for part in str(text).split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        nums.append(int(m.group()))
    return tuple(nums)


def _cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = max(len(a), len(b))
    a, b = a + (0,) * (n - len(a)), b + (0,) * (n - len(b))
    return (a > b) - (a < b)


def python_satisfies(version: str, spec: str | None) -> bool:
    """Whether Python ``version`` (``"3.11"``: any 3.11.x; ``"3.11.2"``: exactly that)
    meets ``spec`` (PEP 440 specifiers, comma-separated; poetry ``^``/``~`` and ``||``)."""
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
    v = version_tuple(version)
    if target.endswith("*"):
        same = v[: len(version_tuple(target[:-2]))] == version_tuple(target[:-2])
        return same if op in ("==", "===") else (not same) if op == "!=" else True
    t = version_tuple(target)
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


def as_utc(value: datetime | str | None) -> datetime | None:
    """A moment (ISO 8601 text or datetime) as an aware datetime; naive means UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _rank(version: str) -> int:
    """A distance scale over versions (minors apart; another major is far)."""
    v = version_tuple(version) + (0, 0)
    return v[0] * 100 + v[1]


# --------------------------------------------------------------------------- the choice


def python_candidates(spec: str | None, named: Iterable[str] = (), commit_date: datetime | str | None = None,
                      pythons: Mapping[str, str] = DEFAULT_PYTHONS) -> list[str]:
    """The available Pythons (``pythons``: version -> exact patch version) in the order
    to try for a commit; never empty.

    First the newest version that the specifier allows (checked against the exact
    patch version), that was released ``MATURITY`` before the commit, and that the
    project names (``named``: classifiers, CI, tox, nox) when it names any (a
    version named a year past its end of life at the commit's date is a stale
    name and does not count); then the others the specifier allows, nearest
    first (older on a tie, versions past their end of life at the commit's date
    last). Without a date every version counts as released; with neither a
    specifier, named versions nor a date, ``DEFAULT_PYTHON`` comes first. When
    no available version meets the specifier: the closest ones to what it
    allows, closest first."""
    available = sorted(pythons, key=version_tuple)
    if not available:
        raise ValueError("no Python available")
    when = as_utc(commit_date)
    named_set = {n for n in (str(x).strip() for x in named) if re.fullmatch(r"\d\.\d+", n)}
    if when is not None:  # stale names: a Python a year past its end of life at the commit's date
        named_set = {n for n in named_set if n not in PYTHON_END_OF_LIFE
                     or as_utc(PYTHON_END_OF_LIFE[n]) + STALE_AFTER_EOL >= when}
    ok = [v for v in available if not spec or python_satisfies(pythons[v], spec)]
    if not ok:
        return _closest(spec or "", available)

    def released(v: str, margin: timedelta = timedelta(0)) -> bool:
        day = PYTHON_RELEASES.get(v)
        return when is None or day is None or as_utc(day) + margin <= when

    def past_eol(v: str) -> bool:
        day = PYTHON_END_OF_LIFE.get(v)
        return when is not None and day is not None and as_utc(day) < when

    mature = [v for v in ok if released(v, MATURITY)]
    fresh = [v for v in ok if released(v)]
    if mature:
        first = _prefer(mature, named_set, newest=True, past_eol=past_eol)
        if not named_set and not spec and when is None and DEFAULT_PYTHON in mature:
            first = DEFAULT_PYTHON
    elif fresh:  # only Pythons younger than MATURITY: the most mature of them
        first = _prefer(fresh, named_set, newest=False, past_eol=past_eol)
    else:  # the commit asks for a Python newer than its date: the oldest it allows
        first = _prefer(ok, named_set, newest=False, past_eol=past_eol)
    rest = sorted((v for v in ok if v != first),
                  key=lambda v: (past_eol(v), abs(_rank(v) - _rank(first)), version_tuple(v)))
    return [first, *rest]


def _prefer(pool: list[str], named: set[str], *, newest: bool, past_eol: Callable[[str], bool]) -> str:
    """From ``pool`` (sorted oldest first): the named versions, else those inside the
    range the named versions span, else the ones nearest to that range (older on a
    tie, alive before past their end of life); without named versions, the newest
    (or oldest) of the pool."""
    pick = (lambda vs: vs[-1]) if newest else (lambda vs: vs[0])
    if named:
        hits = [v for v in pool if v in named]
        if hits:
            return pick(hits)
        lo, hi = min(map(_rank, named)), max(map(_rank, named))
        inside = [v for v in pool if lo <= _rank(v) <= hi]
        if inside:
            return pick(inside)
        return min(pool, key=lambda v: (past_eol(v), max(lo - _rank(v), _rank(v) - hi), version_tuple(v)))
    return pick(pool)


def _closest(spec: str, available: list[str]) -> list[str]:
    """Available versions by distance to the versions ``spec`` allows (newer on a tie)."""
    allowed = [_rank(f"{major}.{minor}") for major, top in ((2, 7), (3, 20)) for minor in range(top + 1)
               if python_satisfies(f"{major}.{minor}", spec)]
    if not allowed:
        allowed = [_rank(DEFAULT_PYTHON)]
    return sorted(available, key=lambda v: (min(abs(_rank(v) - a) for a in allowed), [-x for x in version_tuple(v)]))


def pick_python(spec: str | None, classifiers: Iterable[str] = (), supported: Iterable[str] | None = None,
                commit_date: datetime | str | None = None) -> str:
    """The first of ``python_candidates`` for a specifier and the trove classifiers
    (``Programming Language :: Python :: 3.x``); ``supported`` restricts the
    available versions (default: ``DEFAULT_PYTHONS``)."""
    pythons = DEFAULT_PYTHONS if supported is None else {v: DEFAULT_PYTHONS.get(v, v) for v in supported}
    named = [m.group(1) for c in classifiers if (m := SPEC_CLASSIFIER.fullmatch(str(c).strip()))]
    return python_candidates(spec, named, commit_date, pythons)[0]


# --------------------------------------------------------------------------- versions a project names


def classifier_pythons(classifiers: Iterable[str]) -> list[str]:
    """``Programming Language :: Python :: 3.9`` -> ``3.9``."""
    return list(dict.fromkeys(m.group(1) for c in classifiers if (m := SPEC_CLASSIFIER.fullmatch(str(c).strip()))))


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
        if re.search(r"(?i)pypy", value):
            return out
        out += re.findall(r"(?<![\d.])(3\.\d{1,2})(?![\d])", value)
    elif isinstance(value, list):
        for v in value:
            out += _versions_in(v)
    return out


_CI_KEYS = {"python-version", "python-versions", "python", "py", "pyver", "python-ver", "toxenv", "tox-env",
            "python.version", "python-version-matrix"}
CI_FILES = (".travis.yml", ".gitlab-ci.yml", "azure-pipelines.yml", ".azure-pipelines.yml", ".circleci/config.yml",
            "appveyor.yml", ".appveyor.yml")


def is_ci_file(path: str) -> bool:
    lower = path.lower()
    return (lower.startswith(".github/workflows/") and lower.endswith((".yml", ".yaml"))) or lower in CI_FILES or (
        lower.startswith(("ci/", ".ci/", ".azure-pipelines/", "azure-pipelines/")) and lower.endswith((".yml", ".yaml"))
        and "azure" in lower)


def ci_pythons(read: Callable[[str], str | None], files: Iterable[str]) -> list[str]:
    """Python versions CI runs: GitHub Actions matrices and setup-python inputs,
    Travis, GitLab CI, Azure Pipelines, CircleCI and AppVeyor (keys such as
    ``python-version``, ``TOXENV``, ``python.version``; ``python:3.9`` images;
    AppVeyor's ``C:\\Python37``)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                k = str(key).lower().replace("_", "-")
                if k in _CI_KEYS:
                    found.extend(_versions_in(value))
                    if k in ("toxenv", "tox-env") and isinstance(value, (str, list)):
                        found.extend(tox_pythons(" ".join(value) if isinstance(value, list) else value))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in sorted(files):
        if not is_ci_file(path):
            continue
        text = read(path)
        if not text:
            continue
        walk(_yaml_strings(text))
        found += re.findall(r"(?:image|docker)[^\n]*?\bpython:(3\.\d{1,2})(?![\d])", text)
        found += [f"3.{m}" for m in re.findall(r"(?i)\\Python3(\d{1,2})(?![\d])", text)]
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


def tox_env_names(envlist: str) -> list[str]:
    """The env names a tox ``envlist`` expands to (commas and new lines separate,
    braces expand)."""
    out = []
    for item in re.split(r"[,\s]+(?![^{]*\})", envlist or ""):
        item = item.strip()
        if item and not item.startswith("#"):
            out += [e.strip() for e in _expand_braces(item) if e.strip()]
    return list(dict.fromkeys(out))


def factor_python(factor: str) -> str | None:
    """``py39``/``py3.9``/``3.9`` -> ``3.9``, ``py27`` -> ``2.7``; anything else (``py``,
    ``pypy3``, ``lint``) -> None."""
    factor = factor.strip()
    if m := re.fullmatch(r"py([23])(\d{1,2})", factor):
        return f"{m.group(1)}.{m.group(2)}"
    if m := re.fullmatch(r"(?:py)?(3\.\d{1,2})", factor):
        return m.group(1)
    return None


def tox_pythons(envlist: str) -> list[str]:
    """Python versions a tox env list names (``py39``, ``py3{10,11}``, ``3.12-tests``)."""
    out = []
    for env in tox_env_names(envlist):
        for factor in env.split("-"):
            if (v := factor_python(factor)) and v.startswith("3."):
                out.append(v)
    return list(dict.fromkeys(out))


def nox_pythons(text: str | None) -> list[str]:
    """Python versions a ``noxfile.py`` names (in ``python=`` arguments and version lists)."""
    if not text:
        return []
    out = []
    for m in re.finditer(r"(?i)python[a-z_]*\s*=\s*(\[[^\]]*\]|\([^)]*\)|[\"'][^\"']*[\"'])", text):
        out += re.findall(r"[\"'](3\.\d{1,2})[\"']", m.group(1))
    return list(dict.fromkeys(out))
