"""The build stage: every skill makes its candidates (with their gold answers)
from each executed PR, its analysis and its facts. A skill that makes none
says why (a triaged outcome); a skill whose build crashes on an odd PR is
recorded with its log and the others go on. PRs end ``built``.

Work is bounded: each PR's candidates are built in a forked worker under a
time and a memory budget (``SKILLFORGE_PR_TIMEOUT``, ``SKILLFORGE_PR_MEMORY``;
see ``analyze.budget``): mutants, reproduction scripts and the rest. The
skill that was building when the PR ran out, and those after it, are recorded
``over_budget`` with a log naming what ran out (``logs/<pr>/build.log``); the
candidates of the skills built before stay, and the other PRs go on."""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from skillforge.analyze.budget import Budget, BudgetWorker, OverBudget, TaskError, budget_log
from skillforge.gitio import RepoError, RepoHandle, RepoSet
from skillforge.schema import Analysis, Dropped, Instance, Outcome, PRFacts, PullRecord, Triage
from skillforge.skills import REGISTRY, BuildInput
from skillforge.workspace import Workspace

Progress = Callable[[str, str], None]  # (phase, message)


def _noop(phase: str, message: str) -> None:
    return None


@dataclass
class BuildSummary:
    prs: int = 0
    built: Counter = field(default_factory=Counter)  # skill -> candidates
    not_built: Counter = field(default_factory=Counter)  # (skill, Triage) -> PRs


def _build_skills(ws: Workspace, handle, pr: PullRecord, analysis: Analysis, facts: PRFacts,
                  skills: list[str] | tuple[str, ...]) -> Iterator[tuple[str, list[Instance], Outcome | None]]:
    """(skill, its candidates, why it made none) for each skill in turn."""
    src = BuildInput(pr=pr, analysis=analysis, facts=facts, read_new=handle.reader(pr.merge_commit),
                     read_old=handle.reader(pr.base_commit), repo_files=list(handle.files(pr.base_commit)),
                     read_at=handle.read)
    for name in skills:
        try:
            yield name, list(REGISTRY[name].build(src)), None
        except Dropped as exc:
            yield name, [], exc.outcome()
        except MemoryError:
            raise  # the PR's memory budget: for the stage to record
        except Exception as exc:  # a bug or an odd PR must not stop the run: record it, keep the other skills
            log = ws.instance_log_dir(pr.instance_id) / f"build-{name}.log"
            log.write_text(traceback.format_exc())
            yield name, [], Outcome.failed(Triage.BUILD_ERROR, f"{type(exc).__name__}: {exc}", str(log))


def _collect(results) -> tuple[list[Instance], list[tuple[str, Outcome]]]:
    instances: list[Instance] = []
    not_built: list[tuple[str, Outcome]] = []
    for name, built, why in results:
        instances.extend(built)
        if why is not None:
            not_built.append((name, why))
    return instances, not_built


def build_candidates(ws: Workspace, repos: RepoSet, pr: PullRecord, analysis: Analysis, facts: PRFacts,
                     skills: list[str] | tuple[str, ...]) -> tuple[list[Instance], list[tuple[str, Outcome]]]:
    """Every skill's candidates of one PR, and (skill, why) for the skills that made none
    (in this process, without a budget)."""
    return _collect(_build_skills(ws, repos[pr.repo], pr, analysis, facts, skills))


def _build_task(ws: Workspace, skills: list[str] | tuple[str, ...], shared: RepoSet | None):
    """The task: one PR's candidates, skill by skill. A worker reads through its own repository
    handles (never the stage's ``shared`` ones: a worker killed mid-read must not leave them broken)."""
    handles: dict[str, RepoHandle] = {}

    def task(pr: PullRecord, location: str | None, analysis: Analysis, facts: PRFacts):
        if shared is not None:
            handle = shared[pr.repo]
        else:
            if location is None:
                raise RepoError(f"repository {pr.repo} has no local clone recorded in the workspace; mine it first")
            handle = handles.get(pr.repo)
            if handle is None or str(handle.path) != location:
                handle = handles[pr.repo] = RepoHandle(pr.repo, location)
        yield from _build_skills(ws, handle, pr, analysis, facts, skills)

    return task


def _over_budget(ws: Workspace, pr: PullRecord, exc: OverBudget | TaskError, budget: Budget,
                 skills: list[str] | tuple[str, ...]) -> list[tuple[str, Outcome]]:
    """Why the skills the PR's build did not reach made no candidate."""
    done = {name for name, _, _ in exc.partial}
    rest = [s for s in skills if s not in done]
    log = budget_log(ws.instance_log_dir(pr.instance_id) / "build.log", what="candidate building",
                     subject=f"{pr.instance_id} (skills not built: {', '.join(rest)})", exc=exc, budget=budget)
    if isinstance(exc, OverBudget):
        outcome = Outcome.failed(Triage.OVER_BUDGET, f"candidate building {exc.message}", log, budget=exc.resource,
                                 seconds=round(exc.elapsed, 1), skill=rest[0] if rest else None)
    else:
        outcome = Outcome.failed(Triage.BUILD_ERROR, f"{exc.type_name}: {exc.message}", log)
    return [(s, outcome) for s in rest]


def run(ws: Workspace, config, progress: Progress = _noop, *, repos: RepoSet | None = None,
        budget: Budget | None = None) -> BuildSummary:
    """Candidates of every PR at stage ``executed``; ``budget``: each PR's time and memory
    (default: the settings')."""
    summary = BuildSummary()
    repos = repos or RepoSet(ws)
    budget = budget or Budget.from_settings()
    worker = BudgetWorker(_build_task(ws, config.skills, None if budget.enforced else repos), budget, name="build")
    try:
        pr_ids = [r.pr_id for r in ws.prs(stage="executed")]
        if hasattr(progress, "total"):  # a display's n/N and ETA
            progress.total("build", len(pr_ids))
        for pr_id in pr_ids:  # one PR's records in memory at a time
            row = ws.pr(pr_id)
            pr = row.record
            try:
                _, parts = worker.call(pr, ws.repo_location(pr.repo), row.analysis, row.facts)
                instances, not_built = _collect(parts)
            except (OverBudget, TaskError) as exc:
                instances, not_built = _collect(exc.partial)
                not_built += _over_budget(ws, pr, exc, budget, config.skills)
            ws.add_candidates(row.pr_id, instances, not_built)
            summary.prs += 1
            for inst in instances:
                summary.built[inst.skill] += 1
            for skill, outcome in not_built:
                summary.not_built[(skill, outcome.triage)] += 1
            progress("build", f"{row.pr_id}: {len(instances)} candidates")
    finally:
        worker.close()
    return summary
