"""Localization's function-level F1 against the edit locations, beside the exact file-set score."""

from __future__ import annotations

import pytest

from skillforge.evaluate import evaluate
from skillforge.schema import CodeLocation
from skillforge.skills import REGISTRY, ScoreContext
from skillforge.skills.localization import LocalizationInstance, function_f1

LOCATIONS = [
    CodeLocation(file="src/a.py", name=None, kind="module"),
    CodeLocation(file="src/a.py", name="f", kind="function"),
    CodeLocation(file="src/b.py", name="C.g", kind="method"),
    CodeLocation(file="src/b.py", name="D", kind="class"),
]
INST = LocalizationInstance(instance_id="o__r-1.localization", skill="localization", repo="o/r", pr_number=1,
                            base_commit="a" * 40, problem_statement="bug", gold_files=["src/a.py", "src/b.py"],
                            gold_entities=["src/a.py::X", "src/a.py::f", "src/b.py::C.g", "src/b.py::D"],
                            edit_locations=LOCATIONS,
                            answer="src/a.py\nsrc/b.py\nsrc/a.py::f\nsrc/b.py::C.g\nsrc/b.py::D")


def score(answer: str, inst: LocalizationInstance = INST):
    return REGISTRY["localization"].score(inst, answer, ScoreContext(None))


def test_gold_answer_scores_one_with_function_f1_one():
    s = score(INST.answer)
    assert s.value == 1.0 and s.detail["function_f1"] == 1.0


def test_partially_right_answer():
    # right files; functions: f right, C.g missed, src/b.py::C.h wrong -> P = 1/2, R = 1/3, F1 = 0.4
    s = score("src/a.py\nsrc/b.py\nsrc/a.py::f\nsrc/b.py::C.h")
    assert s.value == 1.0
    assert s.detail["function_f1"] == pytest.approx(0.4)
    # a wrong file set still scores 0, whatever the functions
    s = score("src/a.py::f\nsrc/a.py::g")
    assert s.value == 0.0 and s.detail["function_f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


def test_nested_names_roll_up_and_files_alone_name_no_function():
    # a function nested in a gold function counts as it; nested in a class, it does not
    assert function_f1({"src/a.py::f.inner", "src/b.py::C.g", "src/b.py::D"}, LOCATIONS) == 1.0
    assert function_f1({"src/b.py::D.h"}, LOCATIONS) == 0.0
    # files alone: nothing named at function level
    assert score("src/a.py\nsrc/b.py").detail["function_f1"] == 0.0
    module_only = INST.model_copy(update={"edit_locations": LOCATIONS[:1]})
    assert score("src/a.py\nsrc/b.py", module_only).detail["function_f1"] == 1.0
    assert score("src/a.py\nsrc/a.py::f", module_only).detail["function_f1"] == 0.0
    # rows built before edit locations existed report none
    legacy = INST.model_copy(update={"edit_locations": []})
    assert score(INST.answer, legacy).detail["function_f1"] is None


def test_eval_reports_the_mean_function_f1_per_skill():
    legacy = INST.model_copy(update={"instance_id": "o__r-2.localization", "edit_locations": []})
    preds = {"o__r-1.localization": ["src/a.py\nsrc/b.py\nsrc/a.py::f\nsrc/b.py::C.h", INST.answer],
             "o__r-2.localization": ["src/a.py\nsrc/b.py"]}
    report = evaluate([INST, legacy], preds, None, k=2).to_json()
    loc = report["skills"]["localization"]
    assert loc["score"] == 0.75  # Avg@2: o__r-2 has one prediction of two
    assert loc["function_f1"] == pytest.approx((0.4 + 1.0) / 2)  # the legacy row reports none: left out


def test_stored_rows_without_edit_locations_still_load():
    row = INST.model_dump(exclude={"edit_locations"})
    assert LocalizationInstance.model_validate(row).edit_locations == []


@pytest.mark.parametrize("number", [8, 16])
def test_built_from_the_sample_gold_scores_one_and_function_f1_one(sample_build, number):
    from skillforge.skills import Dropped

    src = sample_build(number)
    skill = REGISTRY["localization"]
    try:
        (inst,) = skill.build(src)
    except Dropped:
        pytest.fail("the sample PR should change code")
    assert inst.edit_locations == src.analysis.edit_locations and inst.edit_locations
    assert {x.file for x in inst.edit_locations} <= set(inst.gold_files)
    s = skill.score(inst, inst.answer, ScoreContext(None))
    assert s.value == 1.0 and s.detail["function_f1"] == 1.0
    assert skill.score(inst, "", ScoreContext(None)).value == 0.0
    # an analysis stored before edit locations existed: computed from its code patch
    legacy = type(src.analysis).model_validate(src.analysis.model_dump(exclude={"edit_locations", "added_locations"}))
    (again,) = skill.build(type(src)(**{**src.__dict__, "analysis": legacy}))
    assert again.edit_locations == inst.edit_locations and again.answer == inst.answer


def test_an_analysis_with_no_locations_is_not_analysed_again():
    """A PR that only adds a module has no edit locations; its stored analysis says so (the field is
    there, empty), and building does not read the repository again to find some."""
    from skillforge.schema import Analysis
    from skillforge.skills.localization import _locations

    computed = Analysis.model_validate_json(Analysis(files=["pkg/data.py"], code_patch=(
        "diff --git a/pkg/data.py b/pkg/data.py\n--- a/pkg/data.py\n+++ b/pkg/data.py\n@@ -1 +1 @@\n"
        "-DATA = [1]\n+DATA = [2]\n"))
                                            .model_dump_json())
    assert "edit_locations" in computed.model_fields_set

    def read_old(path):
        raise AssertionError(f"read {path}: the analysis had its (empty) locations already")

    from types import SimpleNamespace

    assert _locations(SimpleNamespace(analysis=computed, read_old=read_old, read_new=None)) == []
