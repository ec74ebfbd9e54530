"""Exports of really validated instances (the bundled sample, validated in Docker), used from
outside skillforge: verl's reward entry and TRL's reward functions score every skill's gold
answers 1 and empty answers 0, and SWE-bench 5.x's own harness (``run_instance``) resolves the
SWE-bench export's gold patch in the instance image skillforge builds for it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from skillforge import rewards
from skillforge.export.swebench import build_swebench_images, export_swebench
from skillforge.export.verl import export_verl
from skillforge.rewards import compute_score, trl_reward_functions
from skillforge.schema import SKILLS
from skillforge.workspace import Workspace

pytestmark = pytest.mark.docker


@pytest.fixture
def reward_env(validated_sample, tmp_path, monkeypatch):
    monkeypatch.setenv(rewards.ENV_WORKSPACE, str(validated_sample.workspace))
    monkeypatch.setenv(rewards.ENV_LOGS_DIR, str(tmp_path / "reward-logs"))
    monkeypatch.delenv(rewards.ENV_REPOS_DIR, raising=False)
    monkeypatch.delenv(rewards.ENV_ON_ERROR, raising=False)
    return monkeypatch


def test_verl_compute_score_scores_gold_1_and_empty_0_for_every_skill(validated_sample, reward_env, tmp_path):
    out = tmp_path / "verl"
    export_verl(Workspace(validated_sample.workspace), out)
    reward_env.setenv(rewards.ENV_DATASET, str(out / "train.parquet"))  # what verl's data.train_files names
    rows = pq.read_table(out / "train.parquet").to_pylist()
    assert {r["ability"] for r in rows} == set(SKILLS)

    def score(row: dict, answer: str) -> tuple[str, str, float]:
        value = compute_score(data_source=row["data_source"], solution_str=answer,
                              ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"])
        return row["extra_info"]["instance_id"], "gold" if answer else "empty", value

    jobs = [(r, r["reward_model"]["ground_truth"]) for r in rows] + [(r, "") for r in rows]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda job: score(*job), jobs))
    wrong = [(iid, kind, v) for iid, kind, v in results if v != (1.0 if kind == "gold" else 0.0)]
    assert not wrong, wrong
    assert len(results) == 2 * len(rows)


@pytest.mark.parametrize("container_pool", [0, 2], ids=["fresh-containers", "warm-pool-with-fork-servers"])
def test_trl_reward_functions_score_the_default_config(validated_sample, reward_env, tmp_path, container_pool):
    train = datasets.load_dataset(str(validated_sample.dataset), split="train", cache_dir=str(tmp_path / "hf-cache"))
    first = {}
    for i, skill in enumerate(train["skill"]):
        first.setdefault(skill, i)
    batch = train.select(sorted(first.values())).to_dict()  # one row of each skill, the `all` config's columns
    assert sorted(batch["skill"]) == sorted(SKILLS) and "FAIL_TO_PASS" not in batch
    funcs = trl_reward_functions(dataset=validated_sample.dataset, workers=3, container_pool=container_pool)
    gold = [[{"role": "assistant", "content": a}] for a in batch["answer"]]
    for f in funcs:
        i = batch["skill"].index(f.__name__)
        assert f(gold, **batch)[i] == 1.0, f.__name__
        assert f([""] * len(gold), **batch)[i] == 0.0, f.__name__
    metrics = funcs[0].backend.metrics()
    if container_pool:  # every pytest run came from a container's fork server
        assert metrics["pool/runs"] > 0 and metrics["pool/warm_runs"] > 0 and metrics["pool/jobs_unavailable"] == 0
        funcs[0].backend.close()
    else:
        assert "pool/runs" not in metrics


def test_swebench5_harness_resolves_the_gold_patch_in_the_built_image(validated_sample, tmp_path, monkeypatch):
    import docker
    from swebench.harness.run_evaluation import run_instance
    from swebench.harness.utils import load_swebench_dataset, make_test_spec

    out = tmp_path / "swebench"
    export_swebench(Workspace(validated_sample.workspace), out)
    row = load_swebench_dataset(str(out / "train.jsonl"), "train")[0]
    client = docker.from_env()
    built = build_swebench_images(out / "train.jsonl", workspace=validated_sample.workspace,
                                  instance_ids=[row["instance_id"]], force=True)
    assert built == {row["instance_id"]: row["image"]}
    try:
        monkeypatch.chdir(tmp_path)  # the harness writes logs/run_evaluation/... under the working directory
        spec = make_test_spec(row)
        unrelated = ("diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n"
                     "@@ -0,0 +1 @@\n+not a fix\n")
        for name, patch, resolved in (("gold", row["patch"], True), ("unrelated", unrelated, False)):
            pred = {"instance_id": row["instance_id"], "model_patch": patch, "model_name_or_path": name}
            result = run_instance(spec, pred, client, "skillforge-check", timeout=600)
            assert result is not None, (tmp_path / "logs").rglob("run_instance.log")
            iid, report = result
            assert report[iid]["patch_successfully_applied"] is True, report
            assert report[iid]["resolved"] is resolved, report
            if resolved:
                assert set(report[iid]["tests_status"]["FAIL_TO_PASS"]["success"]) == set(row["FAIL_TO_PASS"])
    finally:
        client.images.remove(row["image"], force=True)  # the image this test built, nothing else
