"""Triage: every failure of validation gets one class, shown in the summary and
written to the per-instance ``report.json``.

| class | what failed | a label? |
| --- | --- | --- |
| ``image_build`` | the base or environment image could not be made (engine, base image, commit) | never |
| ``install`` | the recipe's install commands failed while building the environment image | never |
| ``sandbox`` | the Docker engine or the run container failed (not the code under test) | never |
| ``patch_apply`` | a patch does not apply to the commit | drop |
| ``collection_error`` | pytest could not collect the selection (import error, syntax error, missing test) | drop |
| ``timeout`` | the run passed its wall-clock limit and its container was killed | drop |
| ``test_failure`` | the tests ran and the outcome is not the required one | drop |
| ``flaky`` | outcomes varied across reruns | drop |

The classes are members of ``skillforge.schema.Triage``. Infrastructure classes
leave a PR or candidate in ``error`` (retried on the next run) and never become a
label; the others are outcomes of the code under test and drop the PR or
candidate. A triage is data (``Outcome``); a sentence is made of it only at the
edges (``Outcome.render()``).

Besides its class, a run may carry *containment notes*: which sandbox limit
stopped the code under test (``pids limit``, ``memory limit``, ``disk limit``,
``network off``), read from the run's reason and output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from skillforge.execution.spec import InfraError, RunResult
from skillforge.schema import Outcome, Triage

IMAGE_BUILD = Triage.IMAGE_BUILD
INSTALL = Triage.INSTALL
SANDBOX = Triage.SANDBOX
ENVIRONMENT = Triage.ENVIRONMENT
PATCH_APPLY = Triage.PATCH_APPLY
COLLECTION_ERROR = Triage.COLLECTION_ERROR
TIMEOUT = Triage.TIMEOUT
TEST_FAILURE = Triage.TEST_FAILURE
NO_FAIL_TO_PASS = Triage.NO_FAIL_TO_PASS
FLAKY = Triage.FLAKY

CLASSES = (IMAGE_BUILD, INSTALL, SANDBOX, ENVIRONMENT, PATCH_APPLY, COLLECTION_ERROR, TIMEOUT, TEST_FAILURE,
           NO_FAIL_TO_PASS, FLAKY)
"""The classes a run or an environment can get (``Triage`` has others for what fails before any run)."""
INFRA = frozenset(t for t in Triage if t.infrastructure)

_STATUS_MAP = {"apply_failed": PATCH_APPLY, "collection_error": COLLECTION_ERROR, "timeout": TIMEOUT,
               "infra_error": SANDBOX}

_NOTES = (
    ("pids limit", re.compile(r"pids limit reached|fork: retry: Resource temporarily unavailable|"
                              r"BlockingIOError: \[Errno 11\]|can't start new thread|Cannot allocate memory.*fork")),
    ("memory limit", re.compile(r"out of memory \(mem_limit|MemoryError|killed by SIGKILL")),
    ("disk limit", re.compile(r"No space left on device|disk limit reached|Disk quota exceeded|File too large|"
                              r"Read-only file system")),
    ("network off", re.compile(r"Network is unreachable|Temporary failure in name resolution|Name or service not known|"
                               r"No address associated with hostname|nodename nor servname")),
)


def infra_class(error: InfraError) -> Triage:
    """The class of an infrastructure error."""
    return error.triage


def containment_notes(text: str) -> list[str]:
    """Which sandbox limits the text (a run's reason and output) shows being hit."""
    return [name for name, pattern in _NOTES if pattern.search(text or "")]


@dataclass
class RunTriage:
    """The triage of one run: ``cls`` is None when the run did what was asked."""

    cls: Triage | None
    message: str = ""
    notes: list[str] = field(default_factory=list)
    log: str | None = None

    def outcome(self, message: str = "", cls: Triage | None = None) -> Outcome:
        """The failure as an ``Outcome`` (``message`` overrides the run's own), containment notes included."""
        text = message or self.message
        if self.notes:
            text += f" [{', '.join(self.notes)}]"
        triage = cls or self.cls
        if triage is None:
            return Outcome.kept(text)
        return Outcome.failed(triage, text, self.log, **({"notes": list(self.notes)} if self.notes else {}))


def classify_run(result: RunResult, *, expect_pass: tuple[str, ...] | list[str] | None = None) -> RunTriage:
    """The class of a finished run. ``expect_pass``: tests that had to pass
    (a run whose tests all pass, or with no expectation and exit code 0, is not
    a failure)."""
    text = f"{result.reason}\n{result.output[-20000:]}"
    notes = containment_notes(text)
    cls = _STATUS_MAP.get(result.status)
    if cls is None:
        if expect_pass is not None:
            failing = [t for t in expect_pass if result.tests.get(t) != "passed"]
            cls = TEST_FAILURE if failing else None
        else:
            cls = TEST_FAILURE if result.exit_code not in (0, None) else None
    message = result.reason or {TEST_FAILURE: f"tests failed (exit {result.exit_code})"}.get(cls, "")
    if cls == TIMEOUT and "test session starts" in result.output and not re.search(r"\bcollected \d+ item",
                                                                                   result.output):
        message += "; still collecting tests (an import that hangs?)"
    return RunTriage(cls, message, notes, result.log_path)
