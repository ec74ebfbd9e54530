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

Infrastructure classes (``INFRA``) leave a candidate in status ``error`` (retried
on the next run) and never become a label; the others are outcomes of the code
under test and drop the PR or candidate with the class as the reason's prefix:
``"<class>: <message> (see <log>)"``.

Besides its class, a run may carry *containment notes*: which sandbox limit
stopped the code under test (``pids limit``, ``memory limit``, ``disk limit``,
``network off``), read from the run's reason and output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from skillforge.execution import InfraError, RunResult

IMAGE_BUILD = "image_build"
INSTALL = "install"
SANDBOX = "sandbox"
PATCH_APPLY = "patch_apply"
COLLECTION_ERROR = "collection_error"
TIMEOUT = "timeout"
TEST_FAILURE = "test_failure"
FLAKY = "flaky"

CLASSES = (IMAGE_BUILD, INSTALL, SANDBOX, PATCH_APPLY, COLLECTION_ERROR, TIMEOUT, TEST_FAILURE, FLAKY)
INFRA = frozenset({IMAGE_BUILD, INSTALL, SANDBOX})

# InfraError.triage values raised by images / sandbox / backend -> class
_INFRA_MAP = {
    "install": INSTALL,
    "base_image": IMAGE_BUILD,
    "environment": IMAGE_BUILD,
    "image_build": IMAGE_BUILD,
    "source": IMAGE_BUILD,
    "engine": SANDBOX,
    "sandbox": SANDBOX,
    "infra_error": SANDBOX,
}
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


def infra_class(error: InfraError | str) -> str:
    """The class of an infrastructure error (``InfraError.triage`` or its value)."""
    value = error if isinstance(error, str) else getattr(error, "triage", "") or ""
    return _INFRA_MAP.get(value, value if value in CLASSES else SANDBOX)


def containment_notes(text: str) -> list[str]:
    """Which sandbox limits the text (a run's reason and output) shows being hit."""
    return [name for name, pattern in _NOTES if pattern.search(text or "")]


@dataclass
class RunTriage:
    """The triage of one run: ``cls`` is None when the run did what was asked."""

    cls: str | None
    message: str = ""
    notes: list[str] = field(default_factory=list)
    log: str | None = None

    def reason(self, what: str = "") -> str:
        """``"<class>: <what or message>[; notes] (see <log>)"``."""
        text = what or self.message
        if self.notes:
            text += f" [{', '.join(self.notes)}]"
        where = f" (see {self.log})" if self.log else ""
        return f"{self.cls}: {text}{where}" if self.cls else text + where


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
    message = result.reason or {TEST_FAILURE: f"tests failed (exit {result.exit_code})"}.get(cls or "", "")
    if cls == TIMEOUT and "test session starts" in result.output and not re.search(r"\bcollected \d+ item",
                                                                                   result.output):
        message += "; still collecting tests (an import that hangs?)"
    return RunTriage(cls, message, notes, result.log_path)


def class_of_reason(reason: str) -> str | None:
    """The class a stored reason starts with (``"timeout: ..."`` -> ``"timeout"``), if any."""
    head = (reason or "").split(":", 1)[0].strip()
    return head if head in CLASSES else None


def is_infra(reason_or_class: str) -> bool:
    cls = class_of_reason(reason_or_class) or reason_or_class
    return cls in INFRA
