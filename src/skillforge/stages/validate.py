"""The validate stage: every candidate is scored by its skill's own scorer on
its gold answer (it must score 1, on every rerun when it executes) and on a
null answer (it must score 0). Candidates end ``valid``, ``invalid`` (a
triaged outcome) or ``error`` (infrastructure: retried on the next run); each
gets ``logs/<instance>/report.json``.

``run_validation`` is the ``skillforge validate`` verb: the facts, build and
validate stages in one execution context (one backend, one runner, one
resolver). ``revalidate_dataset`` scores an exported dataset's instances again
from scratch.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from skillforge.execution.spec import InfraError
from skillforge.schema import Dropped, Instance, Outcome, Triage
from skillforge.settings import Settings
from skillforge.skills import REGISTRY, score_context
from skillforge.stages import build as build_stage
from skillforge.stages import facts as facts_stage
from skillforge.stages.config import ValidateConfig
from skillforge.stages.context import ExecutionContext
from skillforge.workspace import CandidateRow, Workspace

Progress = Callable[[str, str], None]  # (phase, message)


def _noop(phase: str, message: str) -> None:
    return None


# --------------------------------------------------------------------------- the work unit


@dataclass
class CandidateJob:
    instance_id: str
    skill: str
    instance: Instance
    reruns: int


@dataclass
class CandidateOutcome:
    instance_id: str
    skill: str
    status: str  # valid | invalid | error
    outcome: Outcome | None = None
    gold: float | None = None
    null: float | None = None
    instance: Instance | None = None  # with its scores and execution-derived fields
    gold_scores: list[float] = field(default_factory=list)
    gold_detail: dict = field(default_factory=dict)
    null_detail: dict = field(default_factory=dict)
    environment: str = ""


_STATUS_TRIAGE = {"timeout": Triage.TIMEOUT, "apply_failed": Triage.PATCH_APPLY,
                  "collection_error": Triage.COLLECTION_ERROR}


def _detail(detail: dict) -> dict:
    return {k: v for k, v in detail.items() if isinstance(v, (str, int, float, bool, list, dict, type(None)))}


def run_candidate_job(backend, job: CandidateJob) -> CandidateOutcome:
    """Score a candidate on its gold answer (``reruns`` times when it executes) and on a null
    answer. A work unit: the local runner and the Ray runner both carry it out."""
    skill = REGISTRY[job.skill]
    inst = job.instance
    out = CandidateOutcome(inst.instance_id, job.skill, "invalid", environment=inst.environment)
    gold_detail: dict = {}
    try:
        gold_prefix = f"{inst.instance_id}/gold"
        inst = skill.prepare(inst, score_context(backend, inst.environment, gold_prefix))
        for attempt in range(max(1, job.reruns) if skill.needs_execution else 1):
            score = skill.score(inst, inst.answer, score_context(backend, inst.environment, gold_prefix, attempt))
            out.gold_scores.append(score.value)
            gold_detail = score.detail
        null_score = skill.score(inst, skill.null_answer(inst),
                                 score_context(backend, inst.environment, f"{inst.instance_id}/null"))
    except Dropped as exc:
        out.outcome = exc.outcome()
        return out
    except InfraError as exc:
        out.status, out.outcome = "error", exc.outcome()
        return out
    out.gold_detail, out.null_detail = _detail(gold_detail), _detail(null_score.detail)
    gold, null = min(out.gold_scores), null_score.value
    log = gold_detail.get("log") if isinstance(gold_detail.get("log"), str) else None
    if len(set(out.gold_scores)) > 1:
        cls, why = Triage.FLAKY, "gold answer is flaky across reruns"
    elif gold != 1.0:
        cls = _STATUS_TRIAGE.get(str(gold_detail.get("status", "")), Triage.TEST_FAILURE)
        why = "gold answer does not score 1"
        if gold_detail.get("reason"):
            why += f" ({gold_detail['reason']})"
    elif null != 0.0:
        cls, why = Triage.TEST_FAILURE, "null answer does not score 0"
        log = null_score.detail.get("log") if isinstance(null_score.detail.get("log"), str) else log
    else:
        cls, why = None, ""
    out.gold, out.null = gold, null
    out.instance = inst.model_copy(update={"gold_score": gold, "null_score": null})
    if cls is None:
        out.status = "valid"
    else:
        out.outcome = Outcome.failed(cls, why, log)
    return out


# --------------------------------------------------------------------------- the stage


@dataclass
class ValidateSummary:
    valid: Counter = field(default_factory=Counter)  # skill -> candidates
    invalid: Counter = field(default_factory=Counter)  # (skill, Triage) -> candidates
    errors: Counter = field(default_factory=Counter)  # (skill, Triage) -> candidates


def _tests_status(tests: list[str], failing: list[str]) -> dict[str, list[str]]:
    bad = set(failing)
    return {"success": [t for t in tests if t not in bad], "failure": [t for t in tests if t in bad]}


def _record(ws: Workspace, job: CandidateJob, out: CandidateOutcome, summary: ValidateSummary,
            progress: Progress) -> None:
    log_dir = str(ws.instance_log_dir(out.instance_id))
    ws.set_candidate_result(out.instance_id, out.status, outcome=out.outcome, gold_score=out.gold,
                            null_score=out.null, log_dir=log_dir, instance=out.instance)
    if out.status == "valid":
        summary.valid[out.skill] += 1
    elif out.status == "invalid":
        summary.invalid[(out.skill, out.outcome.triage)] += 1
    else:
        summary.errors[(out.skill, out.outcome.triage)] += 1
    report = {"instance_id": out.instance_id, "kind": "candidate", "skill": out.skill, "status": out.status,
              "triage": None, "message": "", "log": None, "environment": out.environment, "reruns": job.reruns,
              "gold_scores": out.gold_scores, "gold_score": out.gold, "null_score": out.null,
              "gold": out.gold_detail, "null": out.null_detail}
    if out.outcome is not None:
        report.update(out.outcome.model_dump(mode="json", include={"triage", "message", "log"}))
    inst = out.instance or job.instance
    f2p = getattr(inst, "FAIL_TO_PASS", None)
    if f2p is not None:
        failing = out.gold_detail.get("failing") or []
        report["tests_status"] = {"FAIL_TO_PASS": _tests_status(f2p, failing),
                                  "PASS_TO_PASS": _tests_status(getattr(inst, "PASS_TO_PASS", []), failing)}
    ws.write_report(out.instance_id, report)
    ws.release_leases([_lease(job)])
    progress("validate", f"{out.instance_id}: {out.status}")


def _lease(job: CandidateJob) -> str:
    """The workspace lease of a candidate's scoring job (``Workspace.take_leases``)."""
    return f"validate:{job.instance_id}"


def run(ws: Workspace, config: ValidateConfig, progress: Progress = _noop, *,
        context: ExecutionContext | None = None) -> ValidateSummary:
    """Score every candidate that is ``built`` or waiting on an infrastructure ``error``."""
    summary = ValidateSummary()
    listed = time.time()
    todo = ws.candidates(status=("built", "error"))
    if not todo:
        return summary
    ctx = context or ExecutionContext.open(ws, config)
    try:
        jobs = []
        for c in todo:
            if c.environment not in ctx.backend.environments:
                outcome = Outcome.failed(Triage.IMAGE_BUILD, f"environment of {c.instance_id} is not defined in "
                                                             f"this workspace")
                ws.set_candidate_result(c.instance_id, "error", outcome=outcome)
                summary.errors[(c.skill, outcome.triage)] += 1
                continue
            jobs.append(CandidateJob(c.instance_id, c.skill, c.instance, config.reruns))
        # another process on this workspace may score some: each job only with its lease
        held = set(ws.take_leases([_lease(j) for j in jobs], listed_at=listed))
        if len(held) < len(jobs):
            progress("validate", f"{len(jobs) - len(held)} candidates scored by another process: left to it")
        jobs = [j for j in jobs if _lease(j) in held]
        if hasattr(progress, "total"):  # a display's n/N and ETA
            progress.total("validate", len(jobs))
        for job, out in ctx.runner.map(run_candidate_job, jobs, ctx.backend.environments):
            _record(ws, job, out, summary, progress)
    finally:
        if context is None:
            ctx.close()
    return summary


@dataclass
class ValidationSummary:
    """The facts, build and validate stages of one ``skillforge validate``."""

    facts: facts_stage.FactsSummary
    build: build_stage.BuildSummary
    validate: ValidateSummary
    executor: str = "local"
    runs_executed: int = 0
    runs_cached: int = 0
    seconds: float = 0.0


def run_validation(ws: Workspace, config: ValidateConfig, progress: Progress = _noop, *,
                   settings: Settings | None = None, explicit: dict | None = None, base=None,
                   backend=None) -> ValidationSummary:
    """facts -> build -> validate, in one execution context (``skillforge validate``)."""
    started = time.monotonic()
    with ExecutionContext.open(ws, config, settings, explicit=explicit, base=base, backend=backend) as ctx:
        facts = facts_stage.run(ws, config, progress, context=ctx)
        built = build_stage.run(ws, config, progress, repos=ctx.repos)
        validated = run(ws, config, progress, context=ctx)
        executed, cached = ctx.runner.run_stats()
        name = ctx.runner.name
    return ValidationSummary(facts, built, validated, name, executed, cached, time.monotonic() - started)


# --------------------------------------------------------------------------- re-validating an export


@dataclass
class RevalidationReport:
    """Re-validation of an exported dataset: every instance scored again on its gold
    answer ``reruns`` times and on a null answer, in fresh containers."""

    reruns: int
    outcomes: dict[str, CandidateOutcome] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def reproduced(self) -> list[str]:
        return sorted(i for i, o in self.outcomes.items() if o.status == "valid")

    @property
    def not_reproduced(self) -> dict[str, str]:
        return {i: o.outcome.render() if o.outcome else o.status
                for i, o in sorted(self.outcomes.items()) if o.status != "valid"}

    @property
    def flaky(self) -> list[str]:
        """Instances whose gold score varied across the reruns."""
        return sorted(i for i, o in self.outcomes.items() if len(set(o.gold_scores)) > 1)

    @property
    def scored_runs(self) -> int:
        return sum(len(o.gold_scores) for o in self.outcomes.values())

    @property
    def flake_rate(self) -> float:
        """Flaky instances over instances re-validated."""
        return len(self.flaky) / len(self.outcomes) if self.outcomes else 0.0

    def to_json(self) -> dict:
        return {"instances": len(self.outcomes), "reproduced": len(self.reproduced), "reruns": self.reruns,
                "flaky": self.flaky, "flake_rate": self.flake_rate, "not_reproduced": self.not_reproduced,
                "seconds": round(self.seconds, 1)}


def revalidate_dataset(instances: list[Instance], backend, *, reruns: int = 3, workers: int = 0,
                       progress: Progress = _noop) -> RevalidationReport:
    """Score every instance of an exported dataset again (``export.io.read_exported_instances``
    gives them, ``evaluate.backend_for_dataset`` the backend): a reproduced instance scores 1 on
    its gold answer on every rerun and 0 on the null answer, and what validation derived by
    executing (a review's failing tests...) comes out the same."""
    from skillforge.execution.runner import LocalRunner, default_workers

    started = time.monotonic()
    report = RevalidationReport(reruns=reruns)
    jobs = [CandidateJob(i.instance_id, i.skill, i, reruns) for i in instances]
    runner = LocalRunner(backend, workers or default_workers(backend.settings))
    if hasattr(progress, "total"):  # a display's n/N and ETA
        progress.total("revalidate", len(jobs))
    for job, out in runner.map(run_candidate_job, jobs):
        if out.status == "valid" and out.instance is not None:
            before, after = job.instance.model_dump(mode="json"), out.instance.model_dump(mode="json")
            changed = sorted(k for k in set(before) | set(after)
                             if k not in ("gold_score", "null_score") and before.get(k) != after.get(k))
            if changed:
                out.status = "invalid"
                out.outcome = Outcome.failed(Triage.TEST_FAILURE, "execution-derived fields differ from the "
                                                                  f"dataset: {', '.join(changed)}")
        report.outcomes[job.instance_id] = out
        progress("revalidate", f"{job.instance_id}: "
                               f"{'reproduced' if out.status == 'valid' else out.outcome.render()}")
    report.seconds = time.monotonic() - started
    return report


__all__ = ["CandidateJob", "CandidateOutcome", "CandidateRow", "RevalidationReport", "ValidateSummary",
           "ValidationSummary", "revalidate_dataset", "run", "run_candidate_job", "run_validation"]
