"""Triage classes and flaky-test handling, from recorded runs (no Docker).

The runs are ``RunResult``s as the Docker executor returns them (status, exit
code, outcomes parsed from JUnit, output); ``Replay`` hands them out in order
for each attempt, the way reruns come back from the engine.
"""

from __future__ import annotations

import pytest

from skillforge.execution import InfraError, RunResult, RunSpec
from skillforge.execution.cache import CachedExecutor
from skillforge.execution.triage import (
    CLASSES, COLLECTION_ERROR, FLAKY, IMAGE_BUILD, INFRA, INSTALL, NO_FAIL_TO_PASS, PATCH_APPLY, SANDBOX, TEST_FAILURE,
    TIMEOUT, classify_run, containment_notes, infra_class,
)
from skillforge.schema import Triage, TriageKind
from skillforge.stages.facts import FactsJob, run_facts_job

F2P = "tests/test_x.py::test_fixed"
P2P = "tests/test_x.py::test_old"
WOBBLY = "tests/test_x.py::test_wobbly"


def ok(tests: dict[str, str], code: int = 1, output: str = "") -> RunResult:
    return RunResult(status="ok", exit_code=code, tests=tests, output=output, log_path=None)


class Replay:
    """An executor answering each (label, attempt) with a recorded result."""

    def __init__(self, runs: dict[tuple[str, int], RunResult]):
        self.runs = runs
        self.calls: list[tuple[str, str | None]] = []

    def run(self, environment: str, spec: RunSpec, *, log_name: str | None = None) -> RunResult:
        self.calls.append((spec.label, log_name))
        attempt = int(log_name.rsplit("-attempt", 1)[1]) if log_name and "-attempt" in log_name else 0
        result = self.runs[(spec.label, attempt)]
        return RunResult(**{**result.to_json(), "log_path": f"/logs/{log_name}.log"})


class ReplayBackend:
    def __init__(self, runs):
        self.executor = CachedExecutor(Replay(runs))


def facts(runs: dict, reruns: int = 3):
    job = FactsJob("o__r-1", "env", "base", "code", "test", ("tests/test_x.py",), reruns)
    return run_facts_job(ReplayBackend(runs), job)


def steady(before: dict, after: dict, reruns: int = 3) -> dict:
    return {**{("before", a): ok(before) for a in range(reruns)}, **{("after", a): ok(after, 0) for a in range(reruns)}}


def test_stable_runs_give_fail_to_pass_and_pass_to_pass():
    out = facts(steady({F2P: "failed", P2P: "passed"}, {F2P: "passed", P2P: "passed"}))
    assert out.status == "executed", out.outcome
    assert out.facts.FAIL_TO_PASS == [F2P] and out.facts.PASS_TO_PASS == [P2P]
    assert out.facts.flaky == [] and out.facts.reruns == 3
    assert [(r["attempt"], r["label"]) for r in out.runs] == [(a, lbl) for a in range(3) for lbl in ("before", "after")]


def test_a_test_that_varies_is_flaky_and_excluded():
    runs = steady({F2P: "failed", P2P: "passed", WOBBLY: "passed"}, {F2P: "passed", P2P: "passed", WOBBLY: "passed"})
    runs[("after", 2)] = ok({F2P: "passed", P2P: "passed", WOBBLY: "failed"}, 1)
    out = facts(runs)
    assert out.status == "executed"
    assert out.facts.flaky == [WOBBLY]
    assert WOBBLY not in out.facts.FAIL_TO_PASS + out.facts.PASS_TO_PASS
    assert out.facts.FAIL_TO_PASS == [F2P]


def test_fail_to_pass_that_depends_on_flaky_tests_is_dropped():
    runs = steady({F2P: "failed"}, {F2P: "passed"})
    runs[("after", 1)] = ok({F2P: "failed"}, 1)  # the fix only sometimes makes it pass
    out = facts(runs)
    assert out.status == "dropped" and out.outcome.triage == FLAKY
    assert out.outcome.render().startswith("flaky: FAIL_TO_PASS depends on flaky tests (see /logs/o__r-1/after.log)")
    assert out.facts.flaky == [F2P]


def test_one_run_cannot_see_flakiness():
    runs = steady({F2P: "failed"}, {F2P: "passed"}, reruns=1)
    out = facts(runs, reruns=1)
    assert out.status == "executed" and out.facts.reruns == 1


@pytest.mark.parametrize("label, result, cls, text", [
    ("before", RunResult(status="apply_failed", exit_code=90, reason="patch 0 does not apply"), PATCH_APPLY,
     "patch_apply: test patch does not apply to the base commit (see /logs/o__r-1/before.log)"),
    ("after", RunResult(status="apply_failed", exit_code=90), PATCH_APPLY, "patch_apply: gold patch does not apply"),
    ("after", RunResult(status="timeout", reason="timed out after 5s (during run); at the timeout: 256 processes, "
                                                 "pids limit reached (256)"),
     TIMEOUT, "timeout: tests time out after the fix [pids limit]"),
    ("after", RunResult(status="collection_error", exit_code=2,
                        output="E   ModuleNotFoundError: No module named 'numpy'"),
     COLLECTION_ERROR, "collection_error: test collection fails after the fix"),
])
def test_drops_carry_their_class(label, result, cls, text):
    runs = steady({F2P: "failed"}, {F2P: "passed"})
    runs[(label, 0)] = result
    out = facts(runs)
    assert out.status == "dropped" and out.outcome.triage == cls
    assert out.outcome.render().startswith(text), out.outcome.render()


def test_no_fail_to_pass_has_its_own_class():
    out = facts(steady({F2P: "passed"}, {F2P: "passed"}))
    assert (out.status, out.outcome.triage) == ("dropped", NO_FAIL_TO_PASS)
    assert out.outcome.render() == "no_fail_to_pass: no FAIL_TO_PASS test (see /logs/o__r-1/after.log)"
    assert out.facts.PASS_TO_PASS == [F2P]  # what ran is kept


def test_infrastructure_failures_are_errors_never_labels():
    runs = steady({F2P: "failed"}, {F2P: "passed"})
    runs[("after", 1)] = RunResult(status="infra_error", reason="Docker engine error during run after")
    out = facts(runs)
    assert out.status == "error" and out.outcome.triage == SANDBOX and out.outcome.triage.infrastructure
    assert out.facts is None


def test_classify_run():
    assert classify_run(ok({F2P: "passed"}, 0)).cls is None
    assert classify_run(ok({F2P: "failed"}, 1)).cls == TEST_FAILURE
    assert classify_run(ok({F2P: "passed", P2P: "failed"}, 1), expect_pass=[F2P]).cls is None
    assert classify_run(ok({F2P: "failed"}, 1), expect_pass=[F2P]).cls == TEST_FAILURE
    t = classify_run(RunResult(status="timeout", reason="timed out after 5s (during run)",
                               output="== test session starts ==\\n"))
    assert t.cls == TIMEOUT and "still collecting" in t.message
    t = classify_run(RunResult(status="timeout", reason="timed out after 5s (during run)",
                               output="== test session starts ==\ncollected 3 items\n", log_path="/l.log"))
    assert "still collecting" not in t.message
    assert t.outcome().render() == "timeout: timed out after 5s (during run) (see /l.log)"
    net = classify_run(ok({F2P: "failed"}, 1, "socket.gaierror: [Errno -3] Temporary failure in name resolution"))
    assert (net.cls, net.notes) == (TEST_FAILURE, ["network off"])


def test_containment_notes():
    assert containment_notes("OSError: [Errno 28] No space left on device") == ["disk limit"]
    assert containment_notes("OSError: [Errno 30] Read-only file system: '/x'") == ["disk limit"]
    assert containment_notes("BlockingIOError: [Errno 11] Resource temporarily unavailable") == ["pids limit"]
    assert containment_notes("out of memory (mem_limit 2g)") == ["memory limit"]
    assert containment_notes("OSError: [Errno 101] Network is unreachable") == ["network off"]
    assert containment_notes("all good") == []


def test_infra_classes():
    assert infra_class(InfraError("x", triage="install")) == INSTALL
    assert infra_class(InfraError("x", triage="base_image")) == IMAGE_BUILD
    assert infra_class(InfraError("x", triage="image_build")) == IMAGE_BUILD
    assert infra_class(InfraError("x", triage="engine")) == SANDBOX
    assert infra_class(InfraError("x")) == SANDBOX
    assert {IMAGE_BUILD, INSTALL, SANDBOX} <= INFRA and not INFRA & {PATCH_APPLY, TIMEOUT, TEST_FAILURE, FLAKY}
    assert all(t in CLASSES for t in (IMAGE_BUILD, INSTALL, SANDBOX, COLLECTION_ERROR))
    assert InfraError("pip failed", triage="install", log_path="/i.log").outcome().render() == \
        "install: pip failed (see /i.log)"
    assert Triage.NO_CODE_CHANGE.kind is TriageKind.FILTER and not Triage.NO_CODE_CHANGE.infrastructure


def test_a_run_stored_under_another_layout_of_the_run_scripts_runs_again(tmp_path, monkeypatch):
    """A collection error recorded when the run script passed options an old pytest refuses is not an
    answer once the scripts changed (images.LAYOUT): the run executes again, and is stored anew."""
    import skillforge.execution.cache as cache
    from skillforge.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    spec = RunSpec("abc", tests=("tests/test_x.py",), label="smoke")
    broken = RunResult(status="collection_error", exit_code=4, tests={}, output="-o expects option=value", log_path=None)
    monkeypatch.setattr(cache, "LAYOUT", "old")
    inner = Replay({("smoke", 0): broken})
    assert CachedExecutor(inner, ws).run("env", spec).status == "collection_error"
    assert CachedExecutor(inner, ws).run("env", spec).status == "collection_error" and len(inner.calls) == 1  # cached
    monkeypatch.setattr(cache, "LAYOUT", "new")
    fixed = Replay({("smoke", 0): ok({"tests/test_x.py::test_a": "passed"}, 0)})
    assert CachedExecutor(fixed, ws).run("env", spec).status == "ok" and len(fixed.calls) == 1
    assert CachedExecutor(fixed, ws).run("env", spec).status == "ok" and len(fixed.calls) == 1  # the new answer kept
