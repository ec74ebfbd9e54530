"""What a workspace made of its pull requests: per stage and per skill, how many
candidates were built, why the rest were dropped, and the share of test-touching
PRs that yield a validated instance of each skill (``skillforge report``).

Read-only: it works after ``mine``, after the analysis, and after ``validate``
(before validation no candidate is built, and PRs count as awaiting validation).

* A PR is *test-touching* when its patch changes a test file (by the runners'
  discovery rules: the analysis's ``test_files``; for PRs dropped before their
  analysis, the patch's paths alone decide).
* For each skill, every test-touching PR is counted once: it has built
  candidates (``prs_built``; ``prs_valid`` of them have a valid one), or the
  skill made none from it (``not_built``: the skill's reason), or the PR never
  got to building (``not_reached``: the PR's own drop reason, ``awaiting
  validation``, or ``skill not run on this PR`` when validation ran a subset of
  the skills). ``share = prs_valid / test_touching``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from skillforge.schema import SKILLS, Analysis
from skillforge.workspace import Workspace
from skillforge.analyze.patch import parse_patch
from skillforge.stages.analyze import reason_group
from skillforge.analyze.split import TestConfig, layout

__all__ = ["SkillReport", "WorkspaceReport", "workspace_report"]

AWAITING = "awaiting validation"
NOT_RUN = "skill not run on this PR"  # validated with a subset of the skills


@dataclass
class SkillReport:
    skill: str
    built: int = 0  # candidates built
    prs_built: int = 0  # PRs with at least one candidate
    valid: int = 0
    prs_valid: int = 0  # PRs with at least one valid candidate
    pending: int = 0  # built, not validated yet
    invalid: Counter = field(default_factory=Counter)  # reason -> candidates
    errors: Counter = field(default_factory=Counter)  # infrastructure triage -> candidates
    not_built: Counter = field(default_factory=Counter)  # the skill's reason -> test-touching PRs
    not_reached: Counter = field(default_factory=Counter)  # the PR's reason -> test-touching PRs
    share: float = 0.0  # prs_valid / test-touching PRs


@dataclass
class WorkspaceReport:
    repos: list[str]
    prs: int = 0
    test_touching: int = 0
    pr_stages: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)  # grouped reason -> PRs
    dropped_test_touching: Counter = field(default_factory=Counter)
    decontaminated: list[str] = field(default_factory=list)
    skills: dict[str, SkillReport] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("pr_stages", "dropped", "dropped_test_touching"):
            data[key] = dict(getattr(self, key).most_common())
        for name, sk in self.skills.items():
            for key in ("invalid", "errors", "not_built", "not_reached"):
                data["skills"][name][key] = dict(getattr(sk, key).most_common())
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render_text(self) -> str:
        """A plain-text summary (logs, benchmarks)."""
        lines = [f"repositories: {', '.join(self.repos) or '-'}",
                 f"pull requests: {self.prs} mined, {self.test_touching} touch tests",
                 "stages: " + ", ".join(f"{k} {v}" for k, v in self.pr_stages.most_common())]
        for reason, n in self.dropped.most_common():
            lines.append(f"  dropped {n:5d}  {reason}  ({self.dropped_test_touching.get(reason, 0)} touch tests)")
        if self.decontaminated:
            lines.append(f"decontaminated: {len(self.decontaminated)} PRs")
        lines.append("skill            built  PRs  valid  PRs valid  share of test-touching PRs")
        for sk in self.skills.values():
            lines.append(f"{sk.skill:15} {sk.built:6d} {sk.prs_built:4d} {sk.valid:6d} {sk.prs_valid:10d}  {sk.share:6.1%}")
            why = Counter()
            why.update({f"not built: {k}": v for k, v in sk.not_built.items()})
            why.update(sk.not_reached)
            why.update({f"invalid: {k}": v for k, v in sk.invalid.items()})
            why.update({f"error: {k}": v for k, v in sk.errors.items()})
            for reason, n in why.most_common(6):
                lines.append(f"{'':17}{n:5d}  {reason}")
        return "\n".join(lines)

    def tables(self):
        """Rich tables: pull requests by stage and drop reason; skills with their yield."""
        from rich.table import Table

        prs = Table(title=f"Pull requests ({self.prs} mined, {self.test_touching} touch tests)")
        for col, justify in (("stage", "left"), ("PRs", "right"), ("touch tests", "right"), ("reason", "left")):
            prs.add_column(col, justify=justify)
        for stage in ("mined", "analyzed", "executed", "built"):
            if self.pr_stages.get(stage):
                prs.add_row(stage, str(self.pr_stages[stage]), "", "")
        for reason, n in self.dropped.most_common():
            prs.add_row("dropped", str(n), str(self.dropped_test_touching.get(reason, 0)), reason)
        skills = Table(title="Per skill, over the test-touching PRs")
        for col in ("skill", "built", "PRs built", "valid", "PRs valid", "share", "why the rest (top 4)"):
            skills.add_column(col, justify="left" if col in ("skill", "why the rest (top 4)") else "right")
        for sk in self.skills.values():
            why = Counter()
            why.update({f"not built: {k}": v for k, v in sk.not_built.items()})
            why.update(sk.not_reached)
            why.update({f"invalid: {k}": v for k, v in sk.invalid.items()})
            why.update({f"error: {k}": v for k, v in sk.errors.items()})
            if sk.pending:
                why["built, awaiting validation"] = sk.pending
            skills.add_row(sk.skill, str(sk.built), str(sk.prs_built), str(sk.valid), str(sk.prs_valid),
                           f"{sk.share:.1%}", "; ".join(f"{r} ({n})" for r, n in why.most_common(4)))
        return [prs, skills]


def _patch_touches_tests(patch: str) -> bool:
    paths = [f.path for f in parse_patch(patch)]
    lay = layout(paths, TestConfig())
    return any(lay.classify(p) == "test" for p in paths)


def workspace_report(ws: Workspace, skills: tuple[str, ...] = SKILLS) -> WorkspaceReport:
    """The report of a workspace (see the module docstring)."""
    from skillforge.schema import PullRecord

    report = WorkspaceReport(repos=ws.repos())
    test_touching: dict[str, bool] = {}
    pr_reason: dict[str, str] = {}
    for row in ws.prs():
        pr_id = row["pr_id"]
        report.prs += 1
        report.pr_stages[row["stage"]] += 1
        if row["analysis"]:
            touches = bool(Analysis.model_validate_json(row["analysis"]).test_files)
        else:
            touches = _patch_touches_tests(PullRecord.model_validate_json(row["record"]).patch)
        test_touching[pr_id] = touches
        report.test_touching += touches
        if row["stage"] == "dropped":
            group = reason_group(row["reason"])
            report.dropped[group] += 1
            report.dropped_test_touching[group] += touches
            pr_reason[pr_id] = group
            if row["reason"].startswith("decontaminated"):
                report.decontaminated.append(pr_id)
        elif row["stage"] in ("mined", "analyzed"):
            pr_reason[pr_id] = AWAITING
        elif row["stage"] == "executed":
            pr_reason[pr_id] = "executed, no candidate recorded"

    cands: dict[str, dict[str, list]] = {s: {} for s in skills}
    for c in ws.candidates():
        if c["skill"] in cands:
            cands[c["skill"]].setdefault(c["pr_id"], []).append(c)
    not_built: dict[str, dict[str, str]] = {s: {} for s in skills}
    for r in ws.not_built():
        if r["skill"] in not_built:
            not_built[r["skill"]][r["pr_id"]] = r["reason"]

    for skill in skills:
        sk = SkillReport(skill)
        for pr_id, rows in cands[skill].items():
            sk.prs_built += 1
            any_valid = False
            for c in rows:
                sk.built += 1
                status = c["status"]
                if status == "valid":
                    sk.valid += 1
                    any_valid = True
                elif status == "invalid":
                    sk.invalid[c["reason"].split(" (see")[0]] += 1
                elif status == "error":
                    sk.errors[c["reason"].split(":")[0]] += 1
                else:
                    sk.pending += 1
            sk.prs_valid += any_valid
        for pr_id, touches in test_touching.items():
            if not touches or pr_id in cands[skill]:
                continue
            if pr_id in not_built[skill]:
                sk.not_built[not_built[skill][pr_id].split(" (")[0]] += 1
            else:
                sk.not_reached[pr_reason.get(pr_id, NOT_RUN)] += 1
        sk.share = sk.prs_valid / report.test_touching if report.test_touching else 0.0
        report.skills[skill] = sk
    return report
