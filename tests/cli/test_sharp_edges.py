"""What a new user types wrong, and what they are told: nothing is created, the message names the thing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillforge import __version__
from skillforge.cli.main import app

runner = CliRunner()


def _run(*args: str, cwd: Path | None = None):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_version_and_short_help():
    result = _run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"skillforge {__version__}"
    for argv in (["-h"], ["validate", "-h"], ["env", "show", "-h"]):
        result = _run(*argv)
        assert result.exit_code == 0, (argv, result.output)
        assert "Usage" in result.output and "--help" in result.output


@pytest.mark.parametrize("verb", ["validate", "export", "report"])
def test_a_missing_workspace_is_refused_and_not_created(verb, tmp_path):
    ws = tmp_path / "nowhere"
    extra = ["--out", str(tmp_path / "dataset")] if verb == "export" else []
    result = _run(verb, "-w", str(ws), *extra)
    assert result.exit_code != 0
    assert str(ws) in result.output
    assert not ws.exists() and not (tmp_path / "dataset").exists()


def test_export_refuses_an_out_that_is_a_file(tmp_path):
    from skillforge.workspace import Workspace

    Workspace(tmp_path / "ws")
    out = tmp_path / "taken.txt"
    out.write_text("keep me\n")
    result = _run("export", "-w", str(tmp_path / "ws"), "--out", str(out))
    assert result.exit_code == 1
    assert "a file is there, not a folder" in result.output and str(out) in result.output
    assert out.read_text() == "keep me\n"


def test_run_refuses_an_unknown_sample_before_creating_anything(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\nworkspace: {tmp_path / 'ws'}\nsources:\n  - sample: no-such-sample\n    repo: a/b\n")
    result = _run("run", str(recipe))
    assert result.exit_code == 1
    assert "no bundled sample 'no-such-sample'" in result.output and "minicalc" in result.output
    assert not (tmp_path / "ws").exists()


def test_eval_refuses_an_unknown_skill_and_a_report_that_is_a_folder(tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"instance_id": "x", "answer": ""}\n')
    result = _run("eval", str(tmp_path), "--predictions", str(preds), "--skill", "juggling")
    assert result.exit_code == 1 and "--skill juggling: no such skill" in result.output
    assert "localization" in result.output
    result = _run("eval", str(tmp_path), "--predictions", str(preds), "--report", str(tmp_path))
    assert result.exit_code == 1 and "a folder is there, not a file" in result.output


def test_errors_print_brackets_as_they_are(tmp_path):
    """Rich markup is not read into messages: a path with [brackets] is printed whole."""
    missing = tmp_path / "[bold]rows.jsonl"
    result = _run("validate", "--instances", str(missing), "--out", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 1
    assert "[bold]rows.jsonl: no such file" in result.output
