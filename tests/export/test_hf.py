import datasets

from skillforge.export.hf import export_hf, features_for
from skillforge.schema import Outcome, PullRecord, Triage
from skillforge.skills.localization import LocalizationInstance
from skillforge.skills.review import ReviewInstance
from skillforge.workspace import Workspace


def _workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.add_pr(PullRecord(repo="o/r", number=3, base_commit="a" * 40, merge_commit="b" * 40, patch=""))
    ws.add_pr(PullRecord(repo="o/r", number=4, base_commit="a" * 40, merge_commit="c" * 40, patch=""))
    ws.set_pr_stage("o__r-4", "dropped", outcome=Outcome.failed(Triage.NO_TEST_CHANGE))
    loc = LocalizationInstance(instance_id="o__r-3.localization", skill="localization", repo="o/r", pr_number=3,
                               base_commit="a" * 40, problem_statement="bug", repo_files=["src/a.py"],
                               gold_files=["src/a.py"], gold_entities=["src/a.py::f"], answer="src/a.py\nsrc/a.py::f",
                               gold_score=1.0, null_score=0.0)
    rev = [ReviewInstance(instance_id=f"o__r-3.review-{k}", skill="review", repo="o/r", pr_number=3, base_commit="a" * 40,
                          problem_statement="bug", candidate_patch="diff", label=label, candidate_kind=kind,
                          answer=f"<judgment>{label}</judgment>", failed_tests=failed, gold_score=1.0, null_score=0.0)
           for k, (label, kind, failed) in enumerate([("YES", "gold", []), ("NO", "partial", ["t.py::test_a"])])]
    from skillforge.skills.editing import EditingInstance

    editing = EditingInstance(instance_id="o__r-3.editing", skill="editing", repo="o/r", pr_number=3,
                              base_commit="a" * 40, instruction="fix", problem_statement="bug", test_patch="")
    ws.add_candidates("o__r-3", [loc, *rev, editing])
    for inst in [loc, *rev]:
        ws.set_candidate_result(inst.instance_id, "valid", gold_score=1.0, null_score=0.0)
    ws.set_candidate_result("o__r-3.editing", "invalid", outcome=Outcome.failed(Triage.NO_FAIL_TO_PASS))
    return ws


def test_export_loads_per_skill_with_typed_columns(tmp_path):
    ws = _workspace(tmp_path)
    out = tmp_path / "out"
    summary = export_hf(ws, out)
    assert summary.rows == {"localization": 1, "review": 2}
    loc = datasets.load_dataset(str(out), name="localization", split="train")
    assert loc[0]["gold_files"] == ["src/a.py"] and loc[0]["answer"] == "src/a.py\nsrc/a.py::f"
    assert loc.features["gold_entities"] == datasets.List(datasets.Value("string"))
    assert loc[0]["difficulty"] == {"files": 0, "hunks": 0, "lines": 0, "entities": 0}
    review = datasets.load_dataset(str(out), name="review", split="train")
    label = review.features["label"]  # a class label: NO = 0, YES = 1; `answer` keeps the text a prediction takes
    assert label == datasets.ClassLabel(names=["NO", "YES"])
    assert sorted(label.int2str(v) for v in review["label"]) == ["NO", "YES"]
    no = review.filter(lambda r: r["label"] == label.str2int("NO"))[0]
    assert no["failed_tests"] == ["t.py::test_a"] and no["answer"] == "<judgment>NO</judgment>"
    card = (out / "README.md").read_text()
    assert "config_name: localization" in card and "config_name: review" in card
    assert "| no test change | 1 |" in card and "| editing | invalid: no FAIL_TO_PASS test | 1 |" in card


def test_features_follow_the_instance_model():
    f = features_for(ReviewInstance)
    assert f["label"] == datasets.Value("string") and f["gold_score"] == datasets.Value("float64")
    assert f["FAIL_TO_PASS"] == datasets.List(datasets.Value("string"))
