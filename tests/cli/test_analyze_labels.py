"""`skillforge analyze` on other languages, `skillforge report`, `validate --decontaminate` input checks."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from skillforge.cli.main import app
from skillforge.mine.local import mine_local
from skillforge.workspace import Workspace

runner = CliRunner()


def _load_builder():
    path = Path(__file__).resolve().parents[1] / "analyze" / "build_fixtures.py"
    spec = importlib.util.spec_from_file_location("skillforge_analyze_build_fixtures_cli", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def test_analyze_command_labels_go_and_typescript(tmp_path):
    for case in ("inventory_go", "storefront_ts"):
        repo, base, merge = builder.case_repo(builder.FIXTURES / case, tmp_path / case)
        repo.close()
        patch = builder.FIXTURES / case / "change.patch"
        result = runner.invoke(app, ["analyze", "--repo", str(tmp_path / case), "--commit", base, "--patch", str(patch)])
        assert result.exit_code == 0, result.output
        got = json.loads(result.stdout)
        want = json.loads((builder.FIXTURES / case / "expected.json").read_text())
        assert got["files"] == want["files"] and got["entities"] == want["entities"]


def _history(tmp_path: Path) -> Path:
    repo = tmp_path / "calc"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@x",
           "PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    git("add", "-A")
    git("commit", "-qm", "initial")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    (repo / "tests" / "test_calc.py").write_text(
        "from calc import add, sub\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\ndef test_sub():\n    assert sub(3, 2) == 1\n")
    git("commit", "-qam", "Add sub (#1)")
    (repo / "calc.py").write_text("def add(a, b):\n    # plain addition\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    git("commit", "-qam", "Comment (#2)")
    return repo


def test_report_command(tmp_path):
    from skillforge.stages.analyze import run_analyze

    ws = Workspace(tmp_path / "ws")
    mine_local(ws, _history(tmp_path), repo_name="acme/calc")
    result = runner.invoke(app, ["report", "--workspace", str(tmp_path / "ws"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["prs"] == 2 and data["test_touching"] == 1
    assert data["skills"]["editing"]["not_reached"] == {"awaiting validation": 1}
    run_analyze(ws)
    data = json.loads(runner.invoke(app, ["report", "--workspace", str(tmp_path / "ws"), "--json"]).stdout)
    assert data["dropped"] == {"trivial": 1} and data["pr_stages"] == {"analyzed": 1, "dropped": 1}
    result = runner.invoke(app, ["report", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "Per skill" in result.output and "share" in result.output
    missing = runner.invoke(app, ["report", "--workspace", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "no workspace" in missing.output


def test_validate_rejects_a_bad_decontamination_list(tmp_path):
    bad = tmp_path / "list.txt"
    bad.write_text("this is not an instance id\n")
    result = runner.invoke(app, ["validate", "--workspace", str(tmp_path / "ws"), "--decontaminate", str(bad)])
    assert result.exit_code == 1 and "list.txt:1" in result.output
    result = runner.invoke(app, ["validate", "--instances", str(bad), "--decontaminate", str(bad)])
    assert result.exit_code == 1 and "not to --instances" in result.output
