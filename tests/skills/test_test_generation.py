"""Unit-test generation with mutants: the tests must pass on the fix, fail on the
bug and fail on every kept mutant of the changed code."""

from __future__ import annotations


import datasets
import pytest

from skillforge.skills import score_context

from skillforge.export.hf import features_for
from skillforge.skills import REGISTRY
from skillforge.skills.test_generation import MAX_CANDIDATES, MAX_KEPT, TestGenerationInstance

SKILL = REGISTRY["test_generation"]


def test_build_proposes_seeded_mutants_of_the_changed_code(sample_build):
    (inst,) = SKILL.build(sample_build(16))
    assert 1 <= len(inst.mutants) <= MAX_CANDIDATES
    assert {m.entity for m in inst.mutants} <= set(inst.target_entities)
    assert all(m.patch.startswith("diff --git a/src/minicalc/money.py") and not m.killed_by for m in inst.mutants)
    assert [m.model_dump() for m in SKILL.build(sample_build(16))[0].mutants] == [m.model_dump() for m in inst.mutants]
    prompt = SKILL.prompt(inst)
    assert "small bugs" in prompt
    assert not any(m.patch in prompt or m.description in prompt for m in inst.mutants)  # the mutants stay hidden


def test_mutants_are_typed_columns_in_the_export(sample_build):
    (inst,) = SKILL.build(sample_build(16))
    features = features_for(TestGenerationInstance)
    assert isinstance(features["mutants"], datasets.List)
    assert set(features["mutants"].feature) == {"file", "entity", "operator", "line", "description", "patch",
                                                "killed_by"}
    ds = datasets.Dataset.from_list([inst.model_dump(mode="json")], features=features)
    assert ds[0]["mutants"][0]["operator"] == inst.mutants[0].operator



def _tg(ws, number: int) -> TestGenerationInstance:
    rows = [r for r in ws.candidates(skill="test_generation") if r.pr_id.endswith(f"-{number}")]
    assert len(rows) == 1 and isinstance(rows[0].instance, TestGenerationInstance)
    return rows[0].instance, rows[0]


@pytest.mark.docker
@pytest.mark.parametrize("number", [13, 16])
def test_validation_keeps_the_mutants_the_gold_tests_kill(validated_sample, number):
    ws, _summary, _backend = validated_sample
    inst, row = _tg(ws, number)
    assert row.status == "valid", row.outcome
    assert inst.gold_score == 1.0 and inst.null_score == 0.0
    assert 1 <= len(inst.mutants) <= MAX_KEPT
    f2p_and_p2p = set()
    facts = ws.pr_facts(row.pr_id)
    f2p_and_p2p |= set(facts.FAIL_TO_PASS) | set(facts.PASS_TO_PASS)
    for m in inst.mutants:
        assert m.killed_by and set(m.killed_by) <= f2p_and_p2p | {"<collection_error>"}


WEAK_TESTS_16 = '''\
from minicalc.money import Money


def test_split_hands_out_the_leftover_cent():
    shares = Money("10.00").split(3)
    assert shares[0] != shares[1] and shares[1] == shares[2]
'''


@pytest.mark.docker
def test_tests_that_miss_a_mutant_score_zero(validated_sample):
    ws, _summary, backend = validated_sample
    inst, _row = _tg(ws, 16)
    # the premise: a kept mutant hands the leftover cent out with the wrong sign (`leftover > 0` negated)
    flip = [m for m in inst.mutants if m.entity.endswith("::Money.split") and m.operator == "comparison_flip"]
    assert flip, [m.description for m in inst.mutants]
    ctx = score_context(backend, inst.environment, f"{inst.instance_id}/weak")
    answer = f"```python\n{WEAK_TESTS_16}```"
    weak = SKILL.score(inst, answer, ctx)
    # the tests pass on the fix and fail on the bug (no cent handed out), but not on that mutant
    assert weak.value == 0.0, weak.detail
    assert weak.detail["reason"].startswith("tests pass on mutant") and flip[0].description in weak.detail["reason"]
    gold = SKILL.score(inst, inst.answer, ctx)
    assert gold.value == 1.0 and gold.detail["mutants_caught"] == len(inst.mutants)
    # without the mutants the same tests would have scored 1
    assert SKILL.score(inst.model_copy(update={"mutants": []}), answer, ctx).value == 1.0
