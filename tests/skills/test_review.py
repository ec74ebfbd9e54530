"""Review candidates: the gold patch (YES) and one wrong patch per PR (NO) that
execution proves wrong -- a pre-review revision, a partial patch or the gold
patch with a mutant in it -- with the tests it fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from skillforge.skills import REGISTRY
from skillforge.skills.review import ReviewInstance, gold_with_mutant, no_candidates, partial_candidates

SKILL = REGISTRY["review"]


def _apply(repo: Path, commit: str, patch: str, tmp_path: Path) -> Path:
    work = tmp_path / f"wt-{abs(hash(patch)) % 10**8}"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(work), commit], check=True)
    subprocess.run(["git", "apply", "-"], cwd=work, input=patch.encode(), check=True)
    return work


def test_one_yes_and_one_no_per_pr(sample_build):
    for number in (3, 5, 8, 11, 13, 16, 18, 19):
        insts = SKILL.build(sample_build(number))
        assert [(i.instance_id.rsplit(".", 1)[1], i.label) for i in insts] == [("review-0", "YES"), ("review-1", "NO")]
        yes, no = insts
        assert yes.candidate_kind == "gold" and yes.candidate_patch == sample_build(number).analysis.code_patch
        assert no.candidate_kind in ("partial", "mutant") and no.candidate_patch != yes.candidate_patch
        assert all(f.patch != no.candidate_patch for f in no.fallbacks)
        assert no.candidate_description not in SKILL.prompt(no)  # how it was made is not shown
    # a one-hunk fix has no partial patch: its wrong candidates are mutants only
    yes, no = SKILL.build(sample_build(11))
    assert no.candidate_kind == "mutant" and {c.kind for c in no.fallbacks} <= {"mutant"}


def test_the_kind_that_leads_is_seeded_per_pr(sample_build):
    kinds = {n: SKILL.build(sample_build(n))[1].candidate_kind for n in (3, 5, 8, 13, 16, 18, 19)}
    assert set(kinds.values()) == {"partial", "mutant"}
    assert kinds == {n: SKILL.build(sample_build(n))[1].candidate_kind for n in kinds}


def test_partial_and_mutant_candidates_apply_to_the_base_commit(sample_build, minicalc, tmp_path):
    src = sample_build(16)
    wrong = no_candidates(src)
    assert {c.kind for c in wrong} == {"partial", "mutant"}
    for cand in wrong:
        work = _apply(minicalc, src.pr.base_commit, cand.patch, tmp_path)
        after = (work / "src/minicalc/money.py").read_text()
        assert after != src.read_new("src/minicalc/money.py").decode()
    assert len(partial_candidates(src.analysis.code_patch)) == 2


def test_gold_with_mutant_is_the_fixed_file_with_the_mutant(sample_build, minicalc, tmp_path):
    from skillforge.analyze.mutate import mutants_for
    from skillforge.analyze.patch import apply_patch_to_text, parse_patch

    src = sample_build(19)
    m = mutants_for(src.read_new, src.analysis, seed=0)[0]
    patch = gold_with_mutant(src.analysis.code_patch, src.read_old, src.read_new, m)
    work = _apply(minicalc, src.pr.base_commit, patch, tmp_path)
    fixed = src.read_new(m.file).decode()
    assert (work / m.file).read_text() == apply_patch_to_text(fixed, parse_patch(m.patch)[0])


def test_pre_review_revision_comes_first(sample_build, minicalc, branch_first, tmp_path):
    merge = sample_build(13).pr.merge_commit
    first = branch_first(minicalc, merge)
    src = sample_build(13, pre_review_commit=first, source="github")
    wrong = no_candidates(src)
    assert wrong[0].kind == "pre_review" and first[:12] in wrong[0].description
    work = _apply(minicalc, src.pr.base_commit, wrong[0].patch, tmp_path)
    pre = subprocess.run(["git", "-C", str(minicalc), "show", f"{first}:src/minicalc/textfmt.py"],
                         capture_output=True, text=True, check=True).stdout
    assert (work / "src/minicalc/textfmt.py").read_text() == pre
    # a pre-review commit whose code is the final code is no wrong candidate
    assert all(c.kind != "pre_review" for c in no_candidates(sample_build(13, pre_review_commit=merge)))


@pytest.mark.docker
def test_validation_proves_each_no_wrong(validated_sample):
    ws, _summary, _backend = validated_sample
    rows = ws.candidates(skill="review")
    insts = {r.instance_id: (r.instance, r) for r in rows}
    assert len(insts) == 4
    for inst, row in insts.values():
        assert isinstance(inst, ReviewInstance)
        assert row.status == "valid", (inst.instance_id, row.outcome)
        assert inst.gold_score == 1.0 and inst.null_score == 0.0
        assert not inst.fallbacks
        if inst.label == "YES":
            assert inst.candidate_kind == "gold" and not inst.failed_tests
        else:
            assert inst.failed_tests and set(inst.failed_tests) <= set(inst.FAIL_TO_PASS + inst.PASS_TO_PASS)
    no13, _ = insts["skillforge-samples__minicalc-13.review-1"]
    # the PR's first revision did not right-align negative numbers: the final tests say so
    assert no13.candidate_kind == "pre_review"
    assert no13.failed_tests == ["tests/test_textfmt.py::test_format_table_alignment[negative-numbers]"]
    assert "Negative numbers are still left-aligned" in SKILL.prompt(no13)  # review comments ride along
    assert insts["skillforge-samples__minicalc-16.review-1"][0].candidate_kind in ("partial", "mutant")
