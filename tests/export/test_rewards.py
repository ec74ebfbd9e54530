"""``skillforge.rewards`` without Docker: verl's ``compute_score`` and TRL's reward functions on the
skills whose scorers execute nothing (localization, review), and what they say when a row or a
setting is missing. The execution-based skills: tests/export/test_rewards_docker.py."""

from __future__ import annotations

import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workspaces import build_workspace  # noqa: E402

from skillforge import rewards  # noqa: E402
from skillforge.export.hf import export_hf  # noqa: E402
from skillforge.export.verl import export_verl  # noqa: E402
from skillforge.rewards import RewardError, RewardSettings, compute_score, trl_reward_functions  # noqa: E402

TEXT_SKILLS = ("localization", "review")


@pytest.fixture
def no_settings(monkeypatch):
    for name in (rewards.ENV_DATASET, rewards.ENV_WORKSPACE, rewards.ENV_REPOS_DIR, rewards.ENV_LOGS_DIR,
                 rewards.ENV_ON_ERROR):
        monkeypatch.delenv(name, raising=False)


def test_compute_score_has_verls_signature(no_settings, tmp_path):
    ws = build_workspace(tmp_path / "ws")
    export_verl(ws, tmp_path / "verl")
    rows = pq.read_table(tmp_path / "verl" / "train.parquet").to_pylist()
    scored = 0
    for row in rows:
        if row["ability"] not in TEXT_SKILLS:
            continue
        truth = row["reward_model"]["ground_truth"]
        # verl's NaiveRewardManager calls it with keywords; positional calls work the same
        assert compute_score(data_source=row["data_source"], solution_str=truth, ground_truth=truth,
                             extra_info=row["extra_info"]) == 1.0
        assert compute_score(row["data_source"], "", truth, row["extra_info"]) == 0.0
        assert compute_score(row["data_source"], f"I checked it.\n{truth}", truth, row["extra_info"]) == 1.0
        scored += 1
    assert scored == 5


def test_compute_score_says_what_is_missing(no_settings, tmp_path):
    ws = build_workspace(tmp_path / "ws")
    export_verl(ws, tmp_path / "verl")
    rows = pq.read_table(tmp_path / "verl" / "train.parquet").to_pylist()
    editing = next(r for r in rows if r["ability"] == "editing")
    with pytest.raises(RewardError, match="SKILLFORGE_DATASET"):  # an execution skill, nowhere to execute
        compute_score(editing["data_source"], editing["reward_model"]["ground_truth"], None, editing["extra_info"])
    with pytest.raises(RewardError, match="extra_info"):
        compute_score("skillforge/editing", "x", None, {})
    with pytest.raises(RewardError, match="unknown skill"):
        compute_score("skillforge/painting", "x", None, editing["extra_info"])
    with pytest.raises((RewardError, NotImplementedError)):  # another data source: verl's own scorer, if any
        compute_score("openai/gsm8k", "#### 4", "4", {})


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(rewards.ENV_DATASET, str(tmp_path / "d"))
    monkeypatch.setenv(rewards.ENV_REPOS_DIR, str(tmp_path / "repos"))
    monkeypatch.delenv(rewards.ENV_WORKSPACE, raising=False)
    monkeypatch.delenv(rewards.ENV_LOGS_DIR, raising=False)
    settings = RewardSettings.from_env()
    assert settings == RewardSettings(dataset=str(tmp_path / "d"), repos_dir=str(tmp_path / "repos"))
    assert RewardSettings(workspace="w").merged(settings) == RewardSettings(str(tmp_path / "d"), "w",
                                                                            str(tmp_path / "repos"))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.parquet").write_bytes(b"")
    assert rewards.dataset_folder(str(tmp_path / "d" / "train.parquet")) == tmp_path / "d"  # verl's train_files
    backend = rewards.reward_backend()
    assert rewards.reward_backend() is backend  # once per process


def test_trl_reward_functions_on_the_default_config(no_settings, tmp_path):
    ws = build_workspace(tmp_path / "ws")
    out = tmp_path / "out"
    export_hf(ws, out)
    train = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf-cache"))  # the `all` config
    columns = train.to_dict()
    funcs = trl_reward_functions(TEXT_SKILLS, dataset=out)
    assert [f.__name__ for f in funcs] == list(TEXT_SKILLS)
    gold = [[{"role": "assistant", "content": a}] for a in columns["answer"]]
    for f in funcs:
        mine = [i for i, s in enumerate(columns["skill"]) if s == f.__name__]
        got = f(gold, **columns)
        assert [got[i] for i in mine] == [1.0] * len(mine)
        assert all(v is None for i, v in enumerate(got) if i not in mine)  # another skill's rows
        empty = f([""] * len(gold), **columns)
        assert [empty[i] for i in mine] == [0.0] * len(mine)


def test_trl_reward_functions_on_a_skill_config(no_settings, tmp_path):
    """A skill's config has every field of the instance: no dataset needed; the review label's class is read back."""
    ws = build_workspace(tmp_path / "ws")
    out = tmp_path / "out"
    export_hf(ws, out)
    columns = datasets.load_dataset(str(out), name="review", split="train",
                                    cache_dir=str(tmp_path / "hf-cache")).to_dict()
    (review,) = trl_reward_functions(["review"])
    assert review(columns["answer"], **columns) == [1.0, 1.0, 1.0]
    flipped = ["<judgment>NO</judgment>" if "YES" in a else "<judgment>YES</judgment>" for a in columns["answer"]]
    assert review(flipped, **columns) == [0.0, 0.0, 0.0]
    with pytest.raises(RewardError, match="unknown skill"):
        trl_reward_functions(["painting"])


def test_verl_loads_the_reward_function_from_its_file(no_settings, tmp_path):
    """verl's ``custom_reward_function.path``/``.name``: the module is loaded from its file, under a name of
    verl's choosing, and the function called with keywords."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("custom_module", rewards.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, "compute_score")
    ws = build_workspace(tmp_path / "ws")
    export_verl(ws, tmp_path / "verl")
    row = next(r for r in pq.read_table(tmp_path / "verl" / "train.parquet").to_pylist() if r["ability"] == "localization")
    truth = row["reward_model"]["ground_truth"]
    assert fn(data_source=row["data_source"], solution_str=truth, ground_truth=truth, extra_info=row["extra_info"]) == 1.0


def test_grpo_trainer_takes_the_export_as_it_is(no_settings, tmp_path):
    """``GRPOTrainer(train_dataset=load_dataset(DIR), reward_funcs=trl_reward_functions(...))``: no column to
    add, no helper to call. One step of a tiny model built on the spot, on CPU, on the skills that execute nothing."""
    pytest.importorskip("trl", reason="the train extra: pip install 'skillforge[train]'")
    from trl import GRPOConfig, GRPOTrainer

    from skillforge.export.io import load_instances
    from skillforge.train.tiny import build_tiny_model_for

    ws = build_workspace(tmp_path / "ws")
    out = tmp_path / "out"
    export_hf(ws, out)
    train = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf-cache"))
    train = train.filter(lambda row: row["skill"] in TEXT_SKILLS)
    instances = [i for rows in load_instances(out, skills=TEXT_SKILLS).values() for i in rows]
    model = build_tiny_model_for(tmp_path / "tiny", instances)
    funcs = trl_reward_functions(TEXT_SKILLS, dataset=out)
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), per_device_train_batch_size=4, num_generations=4,
                      max_steps=1, max_completion_length=8, report_to=[], save_strategy="no", logging_steps=1,
                      use_cpu=True, bf16=False, disable_tqdm=True, seed=0)
    trainer = GRPOTrainer(model=str(model), reward_funcs=funcs, args=args, train_dataset=train)
    trainer.train()
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert {f"rewards/{s}/mean" for s in TEXT_SKILLS} <= logged, logged  # a reward per skill, as TRL names them
