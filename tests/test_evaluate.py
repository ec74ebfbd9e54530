import json

import pytest

from skillforge.evaluate import EvalError, evaluate, load_instances, load_predictions
from skillforge.export.hf import export_hf
from skillforge.schema import PullRecord
from skillforge.skills.localization import LocalizationInstance
from skillforge.skills.review import ReviewInstance
from skillforge.workspace import Workspace


@pytest.fixture
def dataset(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.add_pr(PullRecord(repo="o/r", number=1, base_commit="a" * 40, merge_commit="b" * 40, patch=""))
    common = dict(repo="o/r", pr_number=1, base_commit="a" * 40, problem_statement="bug", gold_score=1.0, null_score=0.0)
    insts = [
        LocalizationInstance(instance_id="o__r-1.localization", skill="localization", gold_files=["a.py"],
                             answer="a.py", **common),
        ReviewInstance(instance_id="o__r-1.review-0", skill="review", candidate_patch="d", label="YES",
                       answer="<judgment>YES</judgment>", **common),
        ReviewInstance(instance_id="o__r-1.review-1", skill="review", candidate_patch="d", label="NO",
                       candidate_kind="partial", answer="<judgment>NO</judgment>", **common),
    ]
    ws.add_candidates("o__r-1", insts)
    for i in insts:
        ws.set_candidate_result(i.instance_id, "valid", gold_score=1.0, null_score=0.0)
    export_hf(ws, tmp_path / "ds")
    return tmp_path / "ds"


def test_avg_at_k_over_several_predictions(dataset, tmp_path):
    instances = load_instances(dataset)
    assert sorted(i.instance_id for i in instances) == ["o__r-1.localization", "o__r-1.review-0", "o__r-1.review-1"]
    preds_file = tmp_path / "p.jsonl"
    rows = [("o__r-1.localization", "a.py"), ("o__r-1.localization", "b.py"),
            ("o__r-1.review-0", "<judgment>YES</judgment>"), ("o__r-1.review-0", "<judgment>YES</judgment>"),
            ("o__r-1.review-1", "<judgment>YES</judgment>")]  # one prediction only: the missing second counts 0
    preds_file.write_text("".join(json.dumps({"instance_id": i, "answer": a}) + "\n" for i, a in rows))
    preds = load_predictions(preds_file)
    report = evaluate(instances, preds, None, k=2).to_json()
    assert report["skills"]["localization"]["score"] == 0.5
    assert report["skills"]["review"]["score"] == 0.5  # (1 + 1)/2 and (0 + 0)/2
    assert evaluate(instances, preds, None, k=1).to_json()["skills"]["review"]["score"] == 0.5
    only_loc = evaluate(instances, {"o__r-1.localization": ["a.py"]}, None).to_json()
    assert set(only_loc["skills"]) == {"localization"} and only_loc["overall"] == 1.0


def test_bad_prediction_file_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instance_id": "x", "answer": "a"}\nnot json\n')
    with pytest.raises(EvalError, match="bad.jsonl:2"):
        load_predictions(bad)
