"""The build stage: every skill's candidates of each executed PR; a skill that makes
none says why, and a skill that crashes on an odd PR is recorded with its log while
the other skills go on."""

from __future__ import annotations

from skillforge.schema import PRFacts, Triage
from skillforge.skills import REGISTRY
from skillforge.stages import build
from skillforge.stages.config import ValidateConfig


def test_build_records_candidates_reasons_and_crashes(sample_workspace, monkeypatch):
    ws = sample_workspace("build", limit=3)
    rows = ws.prs(stage="analyzed")
    assert rows
    for r in rows:  # the facts the facts stage would have recorded: the PR's own tests fail before the fix
        facts = PRFacts(environment="env", test_files=r.analysis.test_files, FAIL_TO_PASS=r.analysis.test_functions)
        ws.set_pr_stage(r.pr_id, "executed", facts=facts)

    def crash(src):
        raise KeyError("an odd PR")

    monkeypatch.setattr(REGISTRY["review"], "build", crash)
    summary = build.run(ws, ValidateConfig(skills=["localization", "editing", "review"]))
    assert summary.prs == len(rows) and {r.stage for r in ws.prs(stage=("executed", "built"))} == {"built"}
    assert summary.built["localization"] >= 1 and summary.built["review"] == 0
    crashed = [n for n in ws.not_built() if n.skill == "review"]
    assert len(crashed) == len(rows)
    for n in crashed:
        assert n.outcome.triage is Triage.BUILD_ERROR and "KeyError" in n.outcome.message
        assert "an odd PR" in open(n.outcome.log).read()
    assert summary.not_built[("review", Triage.BUILD_ERROR)] == len(rows)
    # a second run builds nothing twice
    assert build.run(ws, ValidateConfig()).prs == 0
