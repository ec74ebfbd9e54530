"""What a workspace made of its pull requests, counted once for everything that
shows it: the CLI's tables, ``skillforge report`` and the dataset card.

Counts are keyed by triage class (``schema.Triage``), never by sentences.
Read-only: it works after ``mine``, after the analysis and after ``validate``.

* A PR is *test-touching* when its patch changes a test file (by the runners'
  discovery rules: the analysis's ``test_files``; for PRs dropped before their
  analysis, the patch's paths alone decide).
* For each skill, every test-touching PR is counted once: it has built
  candidates (``prs_built``; ``prs_valid`` of them have a valid one), or the
  skill made none from it (``not_built``, by the skill's triage), or the PR
  never got to building (``not_reached``: the PR's own triage, ``awaiting``
  validation, or ``not_run`` when validation ran a subset of the skills).
  ``share = prs_valid / test_touching``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from skillforge.analyze.patch import PatchError, parse_patch
from skillforge.analyze.split import TestConfig, layout
from skillforge.schema import SKILLS, Triage
from skillforge.workspace import Workspace

__all__ = ["SkillStats", "WorkspaceStats", "workspace_stats"]

AWAITING = "awaiting validation"
NOT_RUN = "skill not run on this PR"  # validated with a subset of the skills
NO_CANDIDATE = "executed, no candidate recorded"


def _key(t: Triage | str | None) -> str:
    """A counter key as shown: a triage class's label, or one of the states above."""
    return t.label if isinstance(t, Triage) else (t or "unknown")


@dataclass
class SkillStats:
    skill: str
    built: int = 0  # candidates built
    prs_built: int = 0  # PRs with at least one candidate
    valid: int = 0
    prs_valid: int = 0  # PRs with at least one valid candidate
    pending: int = 0  # built, not validated yet
    invalid: Counter = field(default_factory=Counter)  # Triage -> candidates
    errors: Counter = field(default_factory=Counter)  # Triage (infrastructure) -> candidates
    not_built: Counter = field(default_factory=Counter)  # the skill's Triage -> test-touching PRs
    not_reached: Counter = field(default_factory=Counter)  # the PR's Triage (or a state) -> test-touching PRs
    valid_by_repo: Counter = field(default_factory=Counter)  # repository -> valid instances
    share: float = 0.0  # prs_valid / test-touching PRs

    def why_not(self) -> Counter:
        """Why the rest did not yield: labels -> count."""
        why: Counter = Counter()
        why.update({f"not built: {_key(k)}": v for k, v in self.not_built.items()})
        why.update({_key(k): v for k, v in self.not_reached.items()})
        why.update({f"invalid: {_key(k)}": v for k, v in self.invalid.items()})
        why.update({f"error: {_key(k)}": v for k, v in self.errors.items()})
        if self.pending:
            why["built, awaiting validation"] = self.pending
        return why


@dataclass
class WorkspaceStats:
    repos: list[str]
    prs: int = 0
    test_touching: int = 0
    pr_stages: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)  # Triage -> PRs
    dropped_test_touching: Counter = field(default_factory=Counter)  # Triage -> PRs
    pr_errors: Counter = field(default_factory=Counter)  # Triage -> PRs waiting on an infrastructure error
    decontaminated: list[str] = field(default_factory=list)
    skills: dict[str, SkillStats] = field(default_factory=dict)

    # -- views ------------------------------------------------------------
    def triage_counts(self) -> dict[Triage, tuple[int, int]]:
        """Triage class -> (PRs, candidates) it stopped: dropped or waiting on an error."""
        prs: Counter = Counter(self.dropped) + Counter(self.pr_errors)
        cands: Counter = Counter()
        for sk in self.skills.values():
            cands.update(sk.invalid)
            cands.update(sk.errors)
        return {t: (prs[t], cands[t]) for t in Triage if prs[t] or cands[t]}

    def to_dict(self) -> dict[str, Any]:
        def counts(c: Counter) -> dict[str, int]:
            return {(k.value if isinstance(k, Triage) else str(k)): v for k, v in c.most_common()}

        return {
            "repos": self.repos, "prs": self.prs, "test_touching": self.test_touching,
            "pr_stages": dict(self.pr_stages.most_common()), "dropped": counts(self.dropped),
            "dropped_test_touching": counts(self.dropped_test_touching), "pr_errors": counts(self.pr_errors),
            "decontaminated": self.decontaminated,
            "skills": {name: {"skill": sk.skill, "built": sk.built, "prs_built": sk.prs_built, "valid": sk.valid,
                              "prs_valid": sk.prs_valid, "pending": sk.pending, "invalid": counts(sk.invalid),
                              "errors": counts(sk.errors), "not_built": counts(sk.not_built),
                              "not_reached": counts(sk.not_reached), "valid_by_repo": dict(sk.valid_by_repo),
                              "share": sk.share}
                       for name, sk in self.skills.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def card(self) -> dict[str, Any]:
        """What the dataset card shows (labels, no local paths)."""
        kept = self.prs - sum(self.dropped.values())
        return {
            "skills": {s: {"total": sk.valid, "repos": dict(sk.valid_by_repo),
                           "dropped": {k: v for k, v in sk.why_not().most_common()
                                       if not k.startswith(("awaiting", "skill not run", "built, awaiting"))}}
                       for s, sk in self.skills.items()},
            "repos": sorted({r for sk in self.skills.values() for r in sk.valid_by_repo}),
            "prs_total": self.prs,
            "prs_dropped": {_key(k): v for k, v in self.dropped.most_common()},
            "prs_kept": kept,
        }

    def render_text(self) -> str:
        """A plain-text summary (logs, benchmarks)."""
        lines = [f"repositories: {', '.join(self.repos) or '-'}",
                 f"pull requests: {self.prs} mined, {self.test_touching} touch tests",
                 "stages: " + ", ".join(f"{k} {v}" for k, v in self.pr_stages.most_common())]
        for t, n in self.dropped.most_common():
            lines.append(f"  dropped {n:5d}  {_key(t)}  ({self.dropped_test_touching.get(t, 0)} touch tests)")
        if self.decontaminated:
            lines.append(f"decontaminated: {len(self.decontaminated)} PRs")
        lines.append("skill            built  PRs  valid  PRs valid  share of test-touching PRs")
        for sk in self.skills.values():
            lines.append(f"{sk.skill:15} {sk.built:6d} {sk.prs_built:4d} {sk.valid:6d} {sk.prs_valid:10d}  "
                         f"{sk.share:6.1%}")
            for reason, n in sk.why_not().most_common(6):
                lines.append(f"{'':17}{n:5d}  {reason}")
        return "\n".join(lines)


def _patch_touches_tests(patch: str) -> bool:
    try:
        paths = [f.path for f in parse_patch(patch)]
    except PatchError:  # a patch the analysis could not read touches nothing we can tell
        return False
    lay = layout(paths, TestConfig())
    return any(lay.classify(p) == "test" for p in paths)


def workspace_stats(ws: Workspace, skills: tuple[str, ...] = SKILLS) -> WorkspaceStats:
    """The statistics of a workspace (see the module docstring)."""
    stats = WorkspaceStats(repos=ws.repos())
    test_touching: dict[str, bool] = {}
    pr_state: dict[str, Triage | str] = {}
    for row in ws.prs():
        stats.prs += 1
        stats.pr_stages[row.stage] += 1
        touches = bool(row.analysis.test_files) if row.analysis is not None else _patch_touches_tests(row.record.patch)
        test_touching[row.pr_id] = touches
        stats.test_touching += touches
        triage = row.outcome.triage if row.outcome is not None else None
        if row.stage == "dropped":
            triage = triage or Triage.INTERNAL
            stats.dropped[triage] += 1
            stats.dropped_test_touching[triage] += touches
            pr_state[row.pr_id] = triage
            if triage is Triage.DECONTAMINATED:
                stats.decontaminated.append(row.pr_id)
        elif row.stage in ("mined", "analyzed"):
            if triage is not None:
                stats.pr_errors[triage] += 1
            pr_state[row.pr_id] = AWAITING
        elif row.stage == "executed":
            pr_state[row.pr_id] = NO_CANDIDATE

    cands: dict[str, dict[str, list]] = {s: {} for s in skills}
    for c in ws.candidates():
        if c.skill in cands:
            cands[c.skill].setdefault(c.pr_id, []).append(c)
    not_built: dict[str, dict[str, Triage | None]] = {s: {} for s in skills}
    for r in ws.not_built():
        if r.skill in not_built:
            not_built[r.skill][r.pr_id] = r.outcome.triage

    for skill in skills:
        sk = SkillStats(skill)
        for pr_id, rows in cands[skill].items():
            sk.prs_built += 1
            any_valid = False
            for c in rows:
                sk.built += 1
                triage = c.outcome.triage if c.outcome is not None else None
                if c.status == "valid":
                    sk.valid += 1
                    sk.valid_by_repo[c.instance.repo] += 1
                    any_valid = True
                elif c.status == "invalid":
                    sk.invalid[triage or Triage.INTERNAL] += 1
                elif c.status == "error":
                    sk.errors[triage or Triage.SANDBOX] += 1
                else:
                    sk.pending += 1
            sk.prs_valid += any_valid
        for pr_id, touches in test_touching.items():
            if not touches or pr_id in cands[skill]:
                continue
            if pr_id in not_built[skill]:
                sk.not_built[not_built[skill][pr_id] or Triage.INTERNAL] += 1
            else:
                sk.not_reached[pr_state.get(pr_id, NOT_RUN)] += 1
        sk.share = sk.prs_valid / stats.test_touching if stats.test_touching else 0.0
        stats.skills[skill] = sk
    return stats
