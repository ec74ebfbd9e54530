"""Where a project declares its dependencies, as the install plan
(``environments.plan``) reads them without running anything: requirement files
chosen by name, extras and dependency groups (the test ones chosen by name),
poetry and Pipfile entries as PEP 508 requirements, and ``setup.py``'s
``extras_require`` / ``tests_require`` (regular expressions only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from skillforge.environments.parsers import req_name
from skillforge.environments.python import python_satisfies

TEST_EXTRAS = ("test", "tests", "testing")
DEV_EXTRAS = ("dev", "develop", "development")
ALL_EXTRAS = ("all", "full", "complete")
"""Test extras are chosen by name: a test name, else a name with ``test`` in it,
else a development name; an "all" extra only when nothing else says how to get
the test dependencies; never docs or lint ones."""

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

