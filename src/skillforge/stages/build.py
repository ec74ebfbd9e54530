"""The build stage: every skill makes its candidates (with their gold answers)
from each executed PR, its analysis and its facts. A skill that makes none
says why (a triaged outcome); a skill whose build crashes on an odd PR is
recorded with its log and the others go on. PRs end ``built``."""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from skillforge.gitio import RepoSet
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


def build_candidates(ws: Workspace, repos: RepoSet, pr: PullRecord, analysis: Analysis, facts: PRFacts,
                     skills: list[str] | tuple[str, ...]) -> tuple[list[Instance], list[tuple[str, Outcome]]]:
    """Every skill's candidates of one PR, and (skill, why) for the skills that made none."""
    handle = repos[pr.repo]
    src = BuildInput(pr=pr, analysis=analysis, facts=facts, read_new=handle.reader(pr.merge_commit),
                     read_old=handle.reader(pr.base_commit), repo_files=list(handle.files(pr.base_commit)),
                     read_at=handle.read)
    instances: list[Instance] = []
    not_built: list[tuple[str, Outcome]] = []
    for name in skills:
        try:
            instances.extend(REGISTRY[name].build(src))
        except Dropped as exc:
            not_built.append((name, exc.outcome()))
        except Exception as exc:  # a bug or an odd PR must not stop the run: record it, keep the other skills
            log = ws.instance_log_dir(pr.instance_id) / f"build-{name}.log"
            log.write_text(traceback.format_exc())
            not_built.append((name, Outcome.failed(Triage.BUILD_ERROR, f"{type(exc).__name__}: {exc}", str(log))))
    return instances, not_built


def run(ws: Workspace, config, progress: Progress = _noop, *, repos: RepoSet | None = None) -> BuildSummary:
    """Candidates of every PR at stage ``executed``."""
    summary = BuildSummary()
    repos = repos or RepoSet(ws)
    for row in ws.prs(stage="executed"):
        instances, not_built = build_candidates(ws, repos, row.record, row.analysis, row.facts, config.skills)
        ws.add_candidates(row.pr_id, instances, not_built)
        summary.prs += 1
        for inst in instances:
            summary.built[inst.skill] += 1
        for skill, outcome in not_built:
            summary.not_built[(skill, outcome.triage)] += 1
        progress("build", f"{row.pr_id}: {len(instances)} candidates")
    return summary
