"""Whether an environment works, read from runs of tests in it.

An environment works when tests run in it. One in which every selected test of
every run errors or fails with ONE shared cause that points at the environment
(a module missing at collection, a conftest that cannot import, a fixture no
plugin provides, a third-party module that is too new or too old), or in which
no test can even be collected, is an environment failure: the PR is not at
fault, so it is never dropped as "no FAIL_TO_PASS" but triaged ``environment``
and handed to the repair loop.

Tests that fail only because the network is off in the sandbox are told apart
(``needs_network``): they are excluded from FAIL_TO_PASS and PASS_TO_PASS alike.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from skillforge.execution.spec import RunResult
from skillforge.schema import Outcome, Triage

_NETWORK = re.compile(
    r"gaierror|Temporary failure in name resolution|Name or service not known|Network is unreachable|"
    r"\[Errno (?:101|-2|-3|-5)\]|No address associated with hostname|nodename nor servname|"
    r"Failed to establish a new connection|Max retries exceeded with url|Could not resolve host|"
    r"urlopen error|getaddrinfo failed|NameResolutionError|ConnectTimeout|Network is down",
    re.IGNORECASE)
_LOCAL = re.compile(r"localhost|127\.0\.0\.1|\[::1\]|0\.0\.0\.0")

_ENVIRONMENT = re.compile(
    r"ModuleNotFoundError|ImportError|No module named|cannot import name|fixture '[^']+' not found|"
    r"AttributeError: module '[^']+' has no attribute|unrecognized arguments|PluginValidationError|"
    r"DistributionNotFound|VersionConflict|pkg_resources|site-packages|PytestUnknownMarkWarning|"
    r"PytestRemovedIn\d+Warning|DeprecationWarning|invalid escape sequence|"
    r"errors? (?:during|while) (?:collection|loading conftest)|ImportError while loading conftest|"
    r"usage: .*pytest|INTERNALERROR|ERROR: file or directory not found", re.IGNORECASE)

_VOLATILE = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])"), "N"),
    (re.compile(r"(/[\w.@+-]+)+"), "/PATH"),
    (re.compile(r"\s+"), " "),
)


def needs_network(message: str) -> bool:
    """Whether a failure message says the test reached for the internet (not a local server)."""
    return bool(message and _NETWORK.search(message)) and not _LOCAL.search(message or "")


def normalise(message: str) -> str:
    """A failure message with the details that differ from test to test taken out (numbers, paths, ids)."""
    text = message.strip().splitlines()[0] if message.strip() else ""
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text.strip()[:200]


def _collection_cause(result: RunResult) -> str:
    """Why a run could not collect its tests: the first ``E   `` line of pytest's output, or its reason."""
    for line in result.output.splitlines():
        s = line.strip()
        if s.startswith("E ") and len(s) > 2:
            return s[1:].strip()
    for line in result.output.splitlines():
        if _ENVIRONMENT.search(line):
            return line.strip()
    return result.reason or "tests cannot be collected"


def shared_cause(results: Iterable[RunResult]) -> str | None:
    """The one cause every test of every run failed or errored for, when there is one and no test passed
    (a run that could not collect counts with its collection error); None otherwise."""
    causes: Counter = Counter()
    examples: dict[str, str] = {}
    seen = False
    for r in results:
        if r.status in ("apply_failed", "infra_error", "timeout"):
            return None  # the patch, the machinery or the clock, not the environment
        seen = True
        if r.status == "collection_error":
            cause = _collection_cause(r)
            causes[normalise(cause)] += 1
            examples.setdefault(normalise(cause), cause)
            continue
        if not r.tests or any(o in ("passed", "skipped") for o in r.tests.values()):
            return None
        for test, outcome in r.tests.items():
            message = r.messages.get(test, "") or outcome
            causes[normalise(message)] += 1
            examples.setdefault(normalise(message), message)
    if not seen or len(causes) != 1:
        return None
    (key, _n), = causes.items()
    return examples[key]


def environment_failure(results: list[RunResult]) -> Outcome | None:
    """An ``environment`` outcome when the runs show the environment, not the code, is broken: one shared
    cause that points at the environment, or setup errors everywhere; None when tests really ran."""
    cause = shared_cause(results)
    if cause is None:
        return None
    setup_errors = all(r.status == "ok" and r.tests and set(r.tests.values()) == {"error"} for r in results)
    if not (_ENVIRONMENT.search(cause) or setup_errors or any(r.status == "collection_error" for r in results)):
        return None
    log = next((r.log_path for r in results if r.log_path), None)
    return Outcome.failed(Triage.ENVIRONMENT, f"every test fails the same way before and after the fix: {cause[:300]}",
                          log)


def log_text(results: Iterable[RunResult], limit: int = 2 << 20) -> str:
    """The logs of some runs, for the repair loop's diagnosis (their files when written, else their output)."""
    parts = []
    for r in results:
        text = ""
        if r.log_path and Path(r.log_path).is_file():
            text = Path(r.log_path).read_text(errors="replace")
        parts.append(text or r.output)
    joined = "\n".join(parts)
    return joined[-limit:]


SMOKE_MODULES = 3
"""Test modules a smoke run runs at most: enough to see the environment work, few enough to be quick."""


def choose_smoke_tests(candidates: list[str], present: list[str] | tuple[str, ...], *,
                       is_test_module, limit: int = SMOKE_MODULES) -> list[str]:
    """The test modules a smoke run runs: the ``candidates`` (in order: the newest work's first) that exist
    in the tree and are test modules, else test modules beside them, else any (by name), at most ``limit``."""
    present_set = set(present)
    out = [c for c in dict.fromkeys(candidates) if c in present_set and is_test_module(c)][:limit]
    if out:
        return out
    dirs = {c.rsplit("/", 1)[0] if "/" in c else "" for c in candidates}
    existing = sorted(p for p in present if is_test_module(p))
    near = [p for p in existing if (p.rsplit("/", 1)[0] if "/" in p else "") in dirs]
    return (near or existing)[:min(limit, 2)]
