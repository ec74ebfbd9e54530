import json
from pathlib import Path

import pytest

from skillforge.evaluate import EvalError, evaluate, load_instances, load_predictions
from skillforge.execution.backend import ENVIRONMENTS_FILE, Environment, write_environments
from skillforge.export.hf import export_hf
from skillforge.schema import EnvRecipe, PullRecord
from skillforge.skills.localization import LocalizationInstance
from skillforge.skills.review import ReviewInstance
from skillforge.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


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


# --------------------------------------------------------------------------- prediction shapes

ENV = "o__r-3.11"


@pytest.fixture
def dataset_with_editing(tmp_path):
    """Localization and editing instances of two PRs (editing scored by a stand-in scorer: no Docker)."""
    from skillforge.skills.editing import EditingInstance

    ws = Workspace(tmp_path / "ws")
    insts = []
    for n in (1, 2):
        ws.add_pr(PullRecord(repo="o/r", number=n, base_commit="a" * 40, merge_commit="b" * 40, patch=""))
        common = dict(repo="o/r", pr_number=n, base_commit="a" * 40, problem_statement="bug", gold_score=1.0,
                      null_score=0.0)
        pr = [LocalizationInstance(instance_id=f"o__r-{n}.localization", skill="localization", gold_files=["a.py"],
                                   answer="a.py", **common),
              EditingInstance(instance_id=f"o__r-{n}.editing", skill="editing", instruction="fix it", test_patch="t",
                              answer=f"diff {n}\n", environment=ENV, **common)]
        ws.add_candidates(f"o__r-{n}", pr)
        insts += pr
    for i in insts:
        ws.set_candidate_result(i.instance_id, "valid", gold_score=1.0, null_score=0.0)
    export_hf(ws, tmp_path / "ds")
    # what the environment stands for, as an export of a workspace without a clone URL records it
    write_environments([Environment(ENV, "o/r", EnvRecipe(python="3.11"), "a" * 40)],
                       tmp_path / "ds" / ENVIRONMENTS_FILE)
    return tmp_path / "ds"


@pytest.fixture
def gold_editing_scorer(monkeypatch):
    """The editing scorer, standing in for Docker: 1 for the gold patch, 0 otherwise."""
    from skillforge.skills import REGISTRY, Score

    monkeypatch.setattr(type(REGISTRY["editing"]), "score",
                        lambda self, inst, answer, ctx: Score(1.0 if answer == inst.answer else 0.0))


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_swebench_model_patch_predictions_score_the_prs_editing_instance(dataset_with_editing, gold_editing_scorer,
                                                                       tmp_path):
    instances = load_instances(dataset_with_editing)
    # SWE-bench's own rows: the PR's id, the patch in model_patch, a model name beside it
    preds = load_predictions(_write(tmp_path / "swe.jsonl", [
        {"instance_id": "o__r-1", "model_patch": "diff 1\n", "model_name_or_path": "m"},
        {"instance_id": "o__r-2", "model_patch": "wrong\n", "model_name_or_path": "m"},
    ]))
    assert preds == {"o__r-1": ["diff 1\n"], "o__r-2": ["wrong\n"]}
    report = evaluate(instances, preds, None).to_json()
    assert set(report["skills"]) == {"editing"}  # the editing row is there, scored
    assert report["skills"]["editing"]["score"] == 0.5 and report["skills"]["editing"]["n"] == 2
    assert report["instances"] == {"o__r-1.editing": [1.0], "o__r-2.editing": [0.0]}
    assert report["errors"] == [] and report["unscored"] == [] and report["unknown"] == []


def test_swebench_predictions_as_a_json_file_and_answer_rows_mix(dataset_with_editing, gold_editing_scorer, tmp_path):
    instances = load_instances(dataset_with_editing)
    as_list = tmp_path / "preds.json"  # what SWE-bench's inference scripts write
    as_list.write_text(json.dumps([{"instance_id": "o__r-1", "model_patch": "diff 1\n"},
                                   {"instance_id": "o__r-2.localization", "answer": "a.py"}]))
    as_dict = tmp_path / "by_id.json"
    as_dict.write_text(json.dumps({"o__r-2": {"model_patch": "diff 2\n", "model_name_or_path": "m"}}))
    report = evaluate(instances, load_predictions(as_list), None).to_json()
    assert report["instances"] == {"o__r-1.editing": [1.0], "o__r-2.editing": [0.0],  # o__r-2's is missing
                                   "o__r-1.localization": [0.0], "o__r-2.localization": [1.0]}
    assert report["skills"]["editing"]["missing"] == 1 and report["skills"]["localization"]["missing"] == 1
    report = evaluate(instances, load_predictions(as_dict), None).to_json()
    assert report["instances"] == {"o__r-1.editing": [0.0], "o__r-2.editing": [1.0]}


def test_a_null_model_patch_is_an_empty_prediction(tmp_path):
    preds = load_predictions(_write(tmp_path / "p.jsonl", [{"instance_id": "o__r-1", "model_patch": None}]))
    assert preds == {"o__r-1": [""]}


@pytest.mark.parametrize("row, why", [
    ({"instance_id": "o__r-1.localization", "prediction": "a.py"}, "neither answer nor model_patch; its keys: "
                                                                    "instance_id, prediction"),
    ({"id": "o__r-1.localization", "answer": "a.py"}, "no instance_id"),
    ({"instance_id": "o__r-1.localization", "answer": ["a.py"]}, "answer is a JSON list, not a string"),
    (["o__r-1.localization", "a.py"], "a JSON list, not an object"),
])
def test_unknown_prediction_shapes_are_refused_naming_the_line_and_the_shapes(tmp_path, row, why):
    path = _write(tmp_path / "bad.jsonl", [{"instance_id": "o__r-1.localization", "answer": "a.py"}, row])
    with pytest.raises(EvalError) as e:
        load_predictions(path)
    message = str(e.value)
    assert message.startswith(f"{path}:2: not a prediction row ({why})")
    assert '"answer": TEXT' in message and '"model_patch": DIFF' in message and "\n" not in message


def test_predictions_naming_no_instance_are_an_error_not_a_zero(dataset_with_editing, tmp_path):
    instances = load_instances(dataset_with_editing)
    with pytest.raises(EvalError, match=r"none of the 2 prediction ids names an instance of the dataset "
                                        r"\(x__y-1, x__y-2\.editing"):
        evaluate(instances, {"x__y-1": ["d"], "x__y-2.editing": ["d"]}, None)
    # some known, some not: scored, and the others reported
    report = evaluate(instances, {"o__r-1.localization": ["a.py"], "x__y-1": ["d"]}, None)
    assert report.unknown == ["x__y-1"] and report.to_json()["skills"]["localization"]["score"] == 0.5


def test_an_instance_that_cannot_be_scored_is_an_error_not_a_zero(dataset_with_editing, tmp_path):
    """No execution backend: the editing predictions cannot be scored; they are listed, left out of the
    score (None, not 0.0) and ``skillforge eval`` exits non-zero."""
    from typer.testing import CliRunner

    from skillforge.cli.main import app

    instances = load_instances(dataset_with_editing)
    report = evaluate(instances, {"o__r-1": ["diff 1\n"], "o__r-2": ["diff 2\n"], "o__r-1.localization": ["a.py"]},
                      None)
    data = report.to_json()
    assert data["skills"]["editing"]["score"] is None and data["skills"]["editing"]["unscored"] == 2
    assert data["unscored"] == ["o__r-1.editing", "o__r-2.editing"] and data["instances"]["o__r-1.editing"] == [None]
    assert data["skills"]["localization"]["score"] == 0.5 and data["overall"] == 0.5
    assert sorted(e.split(": ")[0] for e in data["errors"]) == ["o__r-1.editing", "o__r-2.editing"]

    preds = _write(tmp_path / "p.jsonl", [{"instance_id": "o__r-1", "model_patch": "diff 1\n"},
                                          {"instance_id": "o__r-2", "model_patch": "diff 2\n"}])
    # no workspace, no clone and no clone URL recorded for o/r: not a 0.0 in disguise
    result = CliRunner().invoke(app, ["eval", str(dataset_with_editing), "--predictions", str(preds), "--repos-dir",
                                      str(tmp_path / "repos"), "--report", str(tmp_path / "r.json")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "scoring error: o__r-1.editing, o__r-2.editing: no local clone of o/r, and" in result.output
    assert "records no clone URL for it: pass --workspace" in result.output
    assert result.output.rstrip().splitlines()[-1] == (
        "error: 2 of 2 instances could not be scored (errors above); they are left out of the scores, not counted 0")
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["unscored"] == ["o__r-1.editing", "o__r-2.editing"] and written["skills"]["editing"]["score"] is None


# --------------------------------------------------------------------------- a dataset on its own (Docker)


@pytest.mark.docker
def test_an_export_copied_elsewhere_is_evaluated_from_the_clone_url_it_records(sample_source, tmp_path,
                                                                               monkeypatch):
    """An export evaluated with no workspace, as after a download from the Hub: its repository is
    cloned from the URL ``environments.json`` records (here a ``file://`` URL of the upstream the
    workspace's clone came from), and SWE-bench predictions of the gold patches score 1."""
    import shutil
    import subprocess

    import yaml
    from typer.testing import CliRunner

    from skillforge.cli.main import app
    from skillforge.stages.recipe import load_run_recipe
    from skillforge.stages.run import run_recipe

    upstream = sample_source.as_uri()
    build = tmp_path / "build"
    subprocess.run(["git", "clone", "-q", upstream, str(build / "minicalc")], check=True, capture_output=True)
    recipe_file = build / "recipe.yaml"
    sample = yaml.safe_load((ROOT / "recipes" / "sample.yaml").read_text())["sources"][0]
    recipe_file.write_text(yaml.safe_dump({
        "name": "eval-clone", "workspace": "ws",
        "sources": [{"path": "minicalc", "repo": sample["repo"], "environment": sample["environment"]}],
        "mine": {"limit": 4},
        "validate": {"workers": 2, "reruns": 1, "skills": ["localization", "editing"]},
        "export": {"out": "dataset"},
    }))
    summary = run_recipe(load_run_recipe(recipe_file), Workspace(build / "ws"))
    assert summary.exported.exported.rows.get("editing"), summary.exported.exported.rows
    envs = json.loads((build / "dataset" / ENVIRONMENTS_FILE).read_text())
    assert envs and {e["url"] for e in envs.values()} == {upstream}

    # elsewhere: the folder alone, no workspace, an empty repos dir
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(build / "dataset", elsewhere / "dataset")
    monkeypatch.chdir(elsewhere)
    rows = [(i.skill, i) for i in load_instances("dataset")]
    preds = _write(elsewhere / "preds.jsonl", [
        {"instance_id": i.pr_id, "model_patch": i.answer, "model_name_or_path": "gold"} if skill == "editing"
        else {"instance_id": i.instance_id, "answer": i.answer} for skill, i in rows])
    result = CliRunner().invoke(app, ["eval", "dataset", "--predictions", str(preds), "--repos-dir", "repos",
                                      "--report", "report.json"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    data = json.loads((elsewhere / "report.json").read_text())
    assert data["errors"] == [] and data["unscored"] == []
    assert {s: r["score"] for s, r in data["skills"].items()} == {"localization": 1.0, "editing": 1.0}
    clone = elsewhere / "repos" / "skillforge-samples__minicalc"
    assert subprocess.run(["git", "-C", str(clone), "config", "remote.origin.url"], capture_output=True,
                          text=True).stdout.strip() == upstream

    # no URL recorded and no clone: a clear error and a non-zero exit, not a 0.0
    for env in envs.values():
        env.pop("url")
    (elsewhere / "dataset" / ENVIRONMENTS_FILE).write_text(json.dumps(envs))
    result = CliRunner().invoke(app, ["eval", "dataset", "--predictions", str(preds), "--repos-dir", "other"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "no local clone of skillforge-samples/minicalc, and dataset/environments.json records no clone URL for " \
           "it: pass --workspace" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("error: ")
    assert "could not be scored" in result.output.rstrip().splitlines()[-1]
