"""Reading exported datasets back, for evaluation, training and re-validation:
one loader of typed instances (``load_instances``) and one of predictions.

A local folder is read with a private ``datasets`` cache: the shared cache keys
a local folder by its name and layout, so a re-export into a folder of the same
name (or two exports both called ``dataset``) would otherwise be served stale
rows. A Hub id goes through ``datasets.load_dataset`` as it is.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from skillforge.export.hf import decode_row
from skillforge.schema import SKILLS, Instance
from skillforge.skills import REGISTRY


class DatasetError(ValueError):
    """A dataset or predictions file that cannot be read, with what to do about it."""


def _is_missing_config(exc: Exception) -> bool:
    text = str(exc)
    return "BuilderConfig" in text or "config" in text.lower() or "split" in text.lower()


def load_instances(dataset: str | Path, *, split: str = "train", skills: Iterable[str] = SKILLS,
                   max_per_skill: int = 0) -> dict[str, list[Instance]]:
    """Typed instances per skill of an exported folder (or a Hub id): ``load_dataset(dataset, name=skill)``
    for each skill; a dataset without a skill's config contributes nothing to it."""
    import datasets

    datasets.disable_progress_bars()
    local = Path(dataset).exists()
    out: dict[str, list[Instance]] = {s: [] for s in skills}
    for skill in out:
        with tempfile.TemporaryDirectory(prefix="skillforge-load-") as cache:
            try:
                rows = datasets.load_dataset(str(dataset), name=skill, split=split, keep_in_memory=True,
                                             **({"cache_dir": cache} if local else {}))
            except ValueError as e:  # no such config (or split) in this dataset
                if _is_missing_config(e):
                    continue
                raise
            model = REGISTRY[skill].instance_model
            out[skill].extend(model.model_validate(decode_row(model, row)) for row in rows)
            if max_per_skill:
                out[skill] = out[skill][:max_per_skill]
    return out


def read_exported_instances(dataset: str | Path, *, split: str = "train",
                            skills: Iterable[str] = SKILLS) -> list[Instance]:
    """Typed instances of an exported folder, read straight from its parquet files
    (``<skill>/<split>-*.parquet``): nothing comes from any cache."""
    import pyarrow.parquet as pq

    out: list[Instance] = []
    for skill in skills:
        model = REGISTRY[skill].instance_model
        for path in sorted(Path(dataset, skill).glob(f"{split}-*.parquet")):
            out.extend(model.model_validate(decode_row(model, row)) for row in pq.read_table(path).to_pylist())
    return out


def load_predictions(path: str | Path) -> dict[str, list[str]]:
    """JSONL rows ``{"instance_id": ..., "answer": ...}``; several rows per instance for Avg@k, in order."""
    preds: dict[str, list[str]] = defaultdict(list)
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                preds[row["instance_id"]].append(row.get("answer") or "")
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DatasetError(f"{path}:{lineno}: not a prediction row ({e}); expected "
                                   '{"instance_id": ..., "answer": ...}') from None
    return dict(preds)
