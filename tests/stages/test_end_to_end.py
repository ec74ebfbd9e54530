"""The README's first command, for real: the sample recipe through a real Docker
engine, run by the ``skillforge`` of a wheel installed as users install it (not
editable), and a run killed with kill -9 during validation that resumes to the
same instances."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from skillforge.schema import SKILLS

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "sample.yaml"


def skillforge(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "skillforge.cli.main", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def run_to_end(*args: str, timeout: int = 900) -> str:
    proc = skillforge(*args)
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def valid_ids(ws: Path) -> list[str]:
    with sqlite3.connect(ws / "skillforge.db") as db:
        return sorted(r[0] for r in db.execute("SELECT instance_id FROM candidates WHERE status='valid'"))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, installed_skillforge):
    ws = tmp_path_factory.mktemp("e2e") / "ws"
    proc = installed_skillforge.run("run", str(RECIPE), "--workspace", str(ws), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ws, proc.stdout


def test_the_installed_wheel_exports_an_existing_workspace(full_run, installed_skillforge, tmp_path):
    ws, _ = full_run
    out = tmp_path / "again"
    proc = installed_skillforge.run("export", "--workspace", str(ws), "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "README.md").is_file() and (out / "environments.json").is_file()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(SKILLS)


def test_sample_recipe_validates_all_five_skills(full_run):
    ws, out = full_run
    assert "Validated instances" in out
    for skill in SKILLS:
        assert skill in out
    with sqlite3.connect(ws / "skillforge.db") as db:
        per_skill = dict(db.execute("SELECT skill, COUNT(*) FROM candidates WHERE status='valid' GROUP BY skill"))
        scores = set(db.execute("SELECT gold_score, null_score FROM candidates WHERE status='valid'"))
        labels = {r[0] for r in db.execute("SELECT json_extract(data, '$.label') FROM candidates WHERE skill='review' AND status='valid'")}
    assert set(per_skill) == set(SKILLS), per_skill
    assert per_skill["editing"] >= 6 and per_skill["reproduction"] >= 4
    assert scores == {(1.0, 0.0)}
    assert labels == {"YES", "NO"}


def test_export_loads_with_datasets_for_every_skill(full_run, tmp_path):
    ws, _ = full_run
    out = ws / "dataset"
    cache = str(tmp_path / "hf-cache")  # never an older export's cache
    for skill in SKILLS:
        ds = datasets.load_dataset(str(out), name=skill, split="train", cache_dir=cache)
        assert len(ds) >= 1
        row = ds[0]
        assert row["skill"] == skill and row["instance_id"].split(".", 1)[1].split("-")[0] == skill
        assert row["gold_score"] == 1.0 and row["null_score"] == 0.0 and row["answer"]
    editing = datasets.load_dataset(str(out), name="editing", split="train", cache_dir=cache)
    assert all(isinstance(r["FAIL_TO_PASS"], list) and r["FAIL_TO_PASS"] for r in editing)
    assert "skillforge-samples/minicalc" in (out / "README.md").read_text()


def test_kill_9_during_validation_then_rerun_gives_the_same_instances(full_run, tmp_path):
    ws_full, _ = full_run
    ws = tmp_path / "ws"
    proc = skillforge("run", str(RECIPE), "--workspace", str(ws))
    deadline = time.time() + 600
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        db_path = ws / "skillforge.db"
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=30) as db:
                    done = db.execute("SELECT COUNT(*) FROM candidates WHERE status != 'built'").fetchone()[0]
            except sqlite3.OperationalError:  # the workspace is being created: its tables are not there yet
                done = 0
            if done >= 5:
                os.killpg(proc.pid, signal.SIGKILL)
                killed_at = done
                break
        time.sleep(0.2)
    proc.wait()
    assert killed_at is not None, "the run ended before validation could be interrupted"
    assert len(valid_ids(ws)) < len(valid_ids(ws_full))
    run_to_end("run", str(RECIPE), "--workspace", str(ws))
    assert valid_ids(ws) == valid_ids(ws_full)
    with sqlite3.connect(ws / "skillforge.db") as db:
        assert db.execute("SELECT COUNT(*) FROM candidates WHERE status IN ('built', 'error')").fetchone()[0] == 0


def _predictions(dataset: Path, path: Path, answer) -> None:
    import json

    rows = []
    cache = str(path.parent / "hf-cache")  # never an older export's cache
    for skill in SKILLS:
        for r in datasets.load_dataset(str(dataset), name=skill, split="train", cache_dir=cache):
            rows.append({"instance_id": r["instance_id"], "answer": answer(r)})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_eval_scores_the_datasets_own_answers_1_and_empty_answers_0(full_run, tmp_path):
    import json

    ws, _ = full_run
    dataset = ws / "dataset"
    for name, answer, expected in (("gold", lambda r: r["answer"], 1.0), ("empty", lambda r: "", 0.0)):
        preds, report = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json"
        _predictions(dataset, preds, answer)
        # the repositories come from --repos-dir, as on a machine that did not build the dataset
        repos = tmp_path / "repos"
        repos.mkdir(exist_ok=True)
        link = repos / "skillforge-samples__minicalc"
        if not link.exists():
            link.symlink_to(ws / "sources" / "minicalc")
        run_to_end("eval", str(dataset), "--predictions", str(preds), "--repos-dir", str(repos), "--report", str(report))
        data = json.loads(report.read_text())
        assert set(data["skills"]) == set(SKILLS)
        assert {s: r["score"] for s, r in data["skills"].items()} == {s: expected for s in SKILLS}, data["errors"]
        assert data["errors"] == []
