"""The swebench and verl export formats, read back with ``datasets``/pyarrow and with the
readers that consume them (``validate --instances``' reader; the skills' scorers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workspaces import CODE_PATCH, ENVIRONMENT, REFERENCE_COMMIT, REPO, TEST_PATCH, build_workspace  # noqa: E402

from skillforge.cli.main import app  # noqa: E402
from skillforge.stages.export import export_dataset  # noqa: E402
from skillforge.export.swebench import SWEBENCH_FIELDS, export_swebench  # noqa: E402
from skillforge.export.verl import export_verl  # noqa: E402
from skillforge.stages.config import ExportConfig as ExportSpec  # noqa: E402
from skillforge.schema import SKILLS  # noqa: E402
from skillforge.skills import REGISTRY, ScoreContext  # noqa: E402
from skillforge.swebench.validate import read_instances  # noqa: E402


def test_swebench_jsonl_rows(tmp_path):
    ws = build_workspace(tmp_path / "ws")
    summary = export_swebench(ws, tmp_path / "out")
    path = tmp_path / "out" / "train.jsonl"
    assert summary.files == [path] and summary.rows == {"editing": 2}
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["instance_id"] for r in rows] == ["acme__calc-7", "acme__calc-9"]  # PR ids, no skill suffix
    first, second = rows
    assert set(SWEBENCH_FIELDS) <= set(first)
    assert first["repo"] == REPO and first["base_commit"] == ws.get_pr("acme__calc-7").base_commit
    assert first["patch"] == CODE_PATCH and first["test_patch"] == TEST_PATCH
    assert first["problem_statement"] == ws.get_pr("acme__calc-7").problem_statement
    assert first["hints_text"] == "Same on 1.2.\nIt is in ops.py." and second["hints_text"] == ""
    assert first["created_at"] == "2024-03-01T09:00:00Z" and second["created_at"] == "2024-03-02T10:00:00Z"
    # the environment as a person reads it: the era (the half-year of its newest PR here, no clone to ask) and Python
    assert first["version"] == second["version"] == "2024h1-py3.11" and first["environment"] == ENVIRONMENT
    assert first["environment_setup_commit"] == REFERENCE_COMMIT
    assert first["FAIL_TO_PASS"] == ["tests/test_ops.py::test_sub_order"]
    assert first["PASS_TO_PASS"] == ["tests/test_ops.py::test_keep[7]", "tests/test_ops.py::test_add"]
    envs = json.loads((tmp_path / "out" / "environments.json").read_text())
    assert envs[ENVIRONMENT]["reference_commit"] == REFERENCE_COMMIT and envs[ENVIRONMENT]["recipe"]["python"] == "3.11"

    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ds.features["FAIL_TO_PASS"] == datasets.List(datasets.Value("string"))
    loaded = ds.to_list()  # pyarrow's JSON reader reads ISO times as timestamps
    assert [dict(r, created_at=r["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")) for r in loaded] == rows

    read = read_instances(path)  # what `skillforge validate --instances` reads
    assert [r.error for r in read] == [None, None]
    assert read[0].given_fail_to_pass == first["FAIL_TO_PASS"] and read[0].given_pass_to_pass == first["PASS_TO_PASS"]
    assert read[0].environment_setup_commit == REFERENCE_COMMIT and read[0].version == "2024h1-py3.11"


def test_swebench_string_lists_as_on_the_hub(tmp_path):
    ws = build_workspace(tmp_path / "ws")
    path = export_swebench(ws, tmp_path / "out", split="test", json_test_lists=True).files[0]
    assert path.name == "test.jsonl"
    row = json.loads(path.read_text().splitlines()[0])
    assert isinstance(row["FAIL_TO_PASS"], str) and json.loads(row["FAIL_TO_PASS"]) == ["tests/test_ops.py::test_sub_order"]
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ds.features["PASS_TO_PASS"] == datasets.Value("string")
    read = read_instances(path)
    assert read[0].error is None and read[0].given_pass_to_pass == json.loads(row["PASS_TO_PASS"])

    # the Hub serves SWE-bench as parquet: the same rows read from a parquet file
    parquet = tmp_path / "test-00000-of-00001.parquet"
    ds.to_parquet(str(parquet))
    from_parquet = read_instances(parquet)
    assert [(r.instance_id, r.error, r.given_fail_to_pass, r.given_pass_to_pass) for r in from_parquet] == \
        [(r.instance_id, r.error, r.given_fail_to_pass, r.given_pass_to_pass) for r in read]
    binary = tmp_path / "rows.bin"
    binary.write_bytes(b"\xff\xfe not text")
    with pytest.raises(ValueError, match="neither JSONL .UTF-8. nor parquet"):
        read_instances(binary)


def test_verl_parquet_rows(tmp_path):
    ws = build_workspace(tmp_path / "ws")
    summary = export_verl(ws, tmp_path / "out")
    path = tmp_path / "out" / "train.parquet"
    assert summary.files == [path]
    assert summary.rows == {"localization": 2, "editing": 2, "test_generation": 2, "reproduction": 2, "review": 3}

    schema = pq.read_schema(path)
    assert set(schema.names) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert str(schema.field("prompt").type) == "list<element: struct<role: string, content: string>>"
    rows = datasets.load_dataset("parquet", data_files=str(path), split="train").to_list()
    assert [r["extra_info"]["index"] for r in rows] == list(range(11))
    assert sorted({r["ability"] for r in rows}) == sorted(SKILLS)
    stored = {r.instance_id: r.instance for r in ws.candidates(status="valid")}
    assert {r["extra_info"]["instance_id"] for r in rows} == set(stored)
    for row in rows:
        skill = REGISTRY[row["ability"]]
        info = row["extra_info"]
        inst = skill.instance_model.model_validate_json(info["instance"])
        assert inst == stored[info["instance_id"]]
        assert row["data_source"] == f"skillforge/{row['ability']}" and info["split"] == "train"
        assert row["prompt"] == [{"role": "user", "content": skill.prompt(inst)}]
        assert row["reward_model"] == {"style": "rule", "ground_truth": inst.answer}
        assert (info["skill"], info["repo"], info["environment"]) == (row["ability"], REPO, ENVIRONMENT)
        if not skill.needs_execution:  # the reward a verl reward function computes from the row alone
            ctx = ScoreContext(executor=None)
            assert skill.score(inst, row["reward_model"]["ground_truth"], ctx).value == 1.0
            assert skill.score(inst, skill.null_answer(inst), ctx).value == 0.0


def test_cli_writes_each_format(tmp_path):
    ws = build_workspace(tmp_path / "ws")
    runner = CliRunner()
    for fmt, produced in [("swebench", "train.jsonl"), ("verl", "train.parquet"), ("hf", "README.md")]:
        out = tmp_path / fmt
        result = runner.invoke(app, ["export", "-w", str(ws.root), "--out", str(out), "--format", fmt],
                               env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert (out / produced).is_file() and (out / "environments.json").is_file()
        assert f"({fmt})" in result.output and "rows" in result.output
    result = runner.invoke(app, ["export", "-w", str(ws.root), "--out", str(tmp_path / "s"), "--format", "swebench",
                                 "--json-test-lists"])
    assert result.exit_code == 0
    assert isinstance(json.loads((tmp_path / "s" / "train.jsonl").read_text().splitlines()[0])["FAIL_TO_PASS"], str)

    for args, message, code in [(["--format", "csv"], "'csv' is not one of 'hf', 'swebench', 'verl'", 2),
                                (["--json-test-lists"], "--json-test-lists goes with --format swebench", 1),
                                (["--private"], "go with --push-to-hub", 1)]:
        result = runner.invoke(app, ["export", "-w", str(ws.root), "--out", str(tmp_path / "x"), *args],
                               env={"COLUMNS": "200"})
        assert result.exit_code == code and message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "x").exists()


def test_recipe_export_spec():
    spec = ExportSpec.model_validate({"format": "verl", "push_to_hub": "acme/calc", "private": True})
    assert (spec.format, spec.push_to_hub, spec.private, spec.revision) == ("verl", "acme/calc", True, None)
    with pytest.raises(ValueError):
        ExportSpec.model_validate({"format": "csv"})
    with pytest.raises(ValueError):
        export_dataset(None, "unused", format="csv")
