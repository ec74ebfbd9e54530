"""verl's RL data format: one parquet file of prompts with their ground truth.

verl (``RLHFDataset``) reads parquet rows with five fields; every skill's
validated instances go into one file, ``<split>.parquet``, so one run trains
all five skills (``data.train_files=DIR/train.parquet``):

| field | value |
| --- | --- |
| ``data_source`` | ``skillforge/<skill>``: verl routes a row to its reward function by it |
| ``prompt`` | ``[{"role": "user", "content": skill.prompt(instance)}]`` (verl applies the chat template) |
| ``ability`` | the skill |
| ``reward_model`` | ``{"style": "rule", "ground_truth": <gold answer>}`` |
| ``extra_info`` | ``split``, ``index`` (row number), ``instance_id``, ``skill``, ``repo``, ``environment`` and ``instance`` |

verl needs one schema for every row, and the skills' instances have different
columns, so ``extra_info.instance`` carries the whole instance as JSON.
``skillforge.rewards.compute_score`` is verl's ``custom_reward_function`` for
these rows: it rebuilds the instance from ``extra_info["instance"]`` and
scores the completion with the skill's own scorer -- the same scorer that
validated the row -- executing in Docker where the skill needs it (the
environments come from ``environments.json``, written beside the parquet).
The typed per-skill columns are in the ``hf`` export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillforge.schema import SKILLS
from skillforge.execution.backend import ENVIRONMENTS_FILE
from skillforge.workspace import Workspace
from skillforge.export.hf import ExportSummary, prompt_messages, write_environments

DATA_SOURCE_PREFIX = "skillforge/"


def verl_features():
    import datasets

    string = datasets.Value("string")
    return datasets.Features({
        "data_source": string,
        "prompt": datasets.List({"role": string, "content": string}),
        "ability": string,
        "reward_model": {"style": string, "ground_truth": string},
        "extra_info": {"split": string, "index": datasets.Value("int64"), "instance_id": string, "skill": string,
                       "repo": string, "environment": string, "instance": string},
    })


def verl_rows(ws: Workspace, *, split: str = "train") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for skill_name in SKILLS:
        for r in ws.candidates(status="valid", skill=skill_name):
            inst = r.instance
            rows.append({
                "data_source": f"{DATA_SOURCE_PREFIX}{skill_name}",
                "prompt": prompt_messages(inst),
                "ability": skill_name,
                "reward_model": {"style": "rule", "ground_truth": inst.answer},
                "extra_info": {"split": split, "index": len(rows), "instance_id": inst.instance_id,
                               "skill": skill_name, "repo": inst.repo, "environment": inst.environment,
                               "instance": inst.model_dump_json()},
            })
    return rows


def export_verl(ws: Workspace, out: str | Path, *, split: str = "train") -> ExportSummary:
    """``out/<split>.parquet`` (every skill's rows) and ``out/environments.json``."""
    import datasets

    datasets.disable_progress_bars()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = verl_rows(ws, split=split)
    path = out / f"{split}.parquet"
    datasets.Dataset.from_list(rows, features=verl_features()).to_parquet(str(path))
    write_environments(ws, out / ENVIRONMENTS_FILE)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["ability"]] = counts.get(row["ability"], 0) + 1
    return ExportSummary(out=out, rows=counts, files=[path])
