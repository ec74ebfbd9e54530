"""Export: a folder that is a Hugging Face dataset repository as it stands.

One config per skill (``<skill>/<split>-00000-of-00001.parquet``) with typed
columns derived from the skill's instance model, and a ``README.md`` dataset
card rendered from ``data_cards/`` with the workspace's real statistics, whose
YAML header declares the configs so ``datasets.load_dataset(DIR, name=skill)``
works locally and on the Hub.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from skillforge.schema import SKILLS
from skillforge.skills import REGISTRY
from skillforge.environments import workspace_environments
from skillforge.execution.backend import ENVIRONMENTS_FILE
from skillforge.execution.backend import write_environments as write_environment_file
from skillforge.stats import workspace_stats
from skillforge.resources import resource
from skillforge.workspace import Workspace

CARD_TEMPLATE = ("data_cards", "skillforge.md.j2")  # a shipped resource (skillforge.resources)


def features_for(model: type[BaseModel]):
    """``datasets.Features`` from a pydantic model: lists stay lists, nested models become structs."""
    import datasets

    def convert(annotation: Any):
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (typing.Union, types.UnionType):
            return convert(args[0])
        if origin is Literal:
            return datasets.Value("string")
        if origin in (list, tuple):
            return datasets.List(convert(args[0]))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return {name: convert(f.annotation) for name, f in annotation.model_fields.items()}
        return datasets.Value({str: "string", int: "int64", float: "float64", bool: "bool"}[annotation])

    return datasets.Features({name: convert(f.annotation) for name, f in model.model_fields.items()})


@dataclass
class ExportSummary:
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def collect_stats(ws: Workspace) -> dict[str, Any]:
    """The card's statistics (``stats.WorkspaceStats.card``)."""
    return workspace_stats(ws).card()


def write_environments(ws: Workspace, path: Path) -> None:
    """What each instance's ``environment`` stands for (repository, recipe, reference commit), so the
    dataset can be evaluated elsewhere: the image is rebuilt from it when missing."""
    write_environment_file(workspace_environments(ws), path)


def export_hf(ws: Workspace, out: str | Path, *, split: str = "train", template: Path | None = None,
              pretty_name: str | None = None) -> ExportSummary:
    import datasets
    from huggingface_hub import DatasetCard, DatasetCardData

    datasets.disable_progress_bars()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(out=out)
    configs = []
    for skill in SKILLS:
        model = REGISTRY[skill].instance_model
        rows = [r.instance.model_dump(mode="json") for r in ws.candidates(status="valid", skill=skill)]
        for stale in (out / skill).glob(f"{split}-*.parquet"):  # a re-export replaces, never mixes
            stale.unlink()
        if not rows:
            continue
        path = out / skill / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds = datasets.Dataset.from_list(rows, features=features_for(model))
        ds.to_parquet(str(path))
        summary.rows[skill] = len(rows)
        summary.files.append(path)
        configs.append({"config_name": skill, "data_files": [{"split": split, "path": f"{skill}/{split}-*.parquet"}]})
    stats = collect_stats(ws)
    total = sum(summary.rows.values())
    size = "n<1K" if total < 1000 else "1K<n<10K" if total < 10_000 else "10K<n<100K"
    card_data = DatasetCardData(
        license="other", language=["en", "code"], pretty_name=pretty_name or f"skillforge: {', '.join(stats['repos']) or 'empty'}",
        task_categories=["text-generation"], tags=["code", "agents", "swe", "skillforge"], size_categories=[size],
        configs=configs,
    )
    card = DatasetCard.from_template(card_data, template_path=str(template or resource(*CARD_TEMPLATE)),
                                     stats=stats, rows=summary.rows, split=split, skills=SKILLS)
    card.save(str(out / "README.md"))
    (out / "skillforge_stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True))
    write_environments(ws, out / ENVIRONMENTS_FILE)
    return summary
