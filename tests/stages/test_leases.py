"""Two ``skillforge validate`` processes on one workspace share its work through
the workspace's leases: no run is executed twice, and together they reach the
state one process reaches alone."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
PRS = 6


def _validate(ws: Path, recipes: Path) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "skillforge.cli.main", "validate", "--workspace", str(ws),
                             "--workers", "2", "--reruns", "1", "--recipes-dir", str(recipes)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _executed(proc: subprocess.Popen) -> int:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    m = re.search(r"test runs: (\d+) executed, (\d+) from cache", out)
    assert m, out
    return int(m.group(1))


def _state(ws: Path) -> dict:
    with sqlite3.connect(ws / "skillforge.db") as db:
        return {
            "prs": sorted(db.execute("SELECT pr_id, stage, triage, facts FROM prs")),
            "candidates": sorted(db.execute("SELECT instance_id, status, triage, gold_score, null_score "
                                            "FROM candidates")),
            "runs": sorted(r[0] for r in db.execute("SELECT key FROM runs")),
            "leases held": db.execute("SELECT COUNT(*) FROM leases WHERE owner != ''").fetchone()[0],
        }


def _run_logs(ws: Path) -> list[str]:
    return sorted(str(p.relative_to(ws)) for p in (ws / "logs").rglob("*.log") if "environments" not in p.parts)


@pytest.fixture(scope="module")
def recipes(tmp_path_factory, sample_env_recipe) -> Path:
    """The sample's recipe as a recipes directory: an explicit environment, no inference (no smoke runs)."""
    from skillforge.schema import EnvRecipe

    recipe = EnvRecipe.model_validate(sample_env_recipe) if isinstance(sample_env_recipe, dict) else sample_env_recipe
    folder = tmp_path_factory.mktemp("recipes")
    (folder / "minicalc.yaml").write_text(yaml.safe_dump(
        {"repo": "skillforge-samples/minicalc", "environment": recipe.model_dump(exclude_defaults=True)}))
    return folder


def test_two_processes_share_the_work_of_one_workspace(sample_workspace, recipes, docker_client):
    alone = sample_workspace("alone", limit=PRS)
    executed_alone = _executed(_validate(alone.root, recipes))
    state_alone = _state(alone.root)
    assert executed_alone > 0 and len(state_alone["runs"]) == executed_alone  # every run cached, each once
    assert any(status == "valid" for _i, status, *_ in state_alone["candidates"])

    shared = sample_workspace("shared", limit=PRS)
    both = [_validate(shared.root, recipes), _validate(shared.root, recipes)]
    executed = [_executed(proc) for proc in both]
    assert sum(executed) == executed_alone, executed  # no run executed twice
    assert _state(shared.root) == state_alone
    assert _run_logs(shared.root) == _run_logs(alone.root)
