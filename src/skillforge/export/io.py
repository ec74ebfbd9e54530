"""Reading exported datasets back, for evaluation, training and re-validation:
one loader of typed instances (``load_instances``) and one of predictions.

A local folder is read with a private ``datasets`` cache: the shared cache keys
a local folder by its name and layout, so a re-export into a folder of the same
name (or two exports both called ``dataset``) would otherwise be served stale
rows. A Hub id goes through ``datasets.load_dataset`` as it is.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from skillforge.export.hf import decode_row
from skillforge.schema import SKILLS, Instance
from skillforge.skills import REGISTRY


class DatasetError(ValueError):
    """A dataset or predictions file that cannot be read, with what to do about it."""


def _is_missing_config(exc: Exception) -> bool:
    text = str(exc)
    return "BuilderConfig" in text or "config" in text.lower() or "split" in text.lower()


def _hub_id(dataset: str) -> bool:
    """Whether ``dataset`` can name a dataset on the Hub (``owner/name``)."""
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", dataset) is not None


def check_dataset(dataset: str | Path) -> bool:
    """Whether ``dataset`` is a local folder (True) or a Hub id (False); raises ``DatasetError`` for a
    path that is neither an exported folder (``<skill>/*.parquet``) nor a Hub id, saying what is wrong."""
    path = Path(dataset).expanduser()
    if path.is_dir():
        if not any(any((path / s).glob("*.parquet")) for s in SKILLS):
            raise DatasetError(f"{dataset}: not an exported dataset (no <skill>/*.parquet for any of "
                               f"{', '.join(SKILLS)}); write one with `skillforge export --out DIR`")
        return True
    if path.exists():
        raise DatasetError(f"{dataset}: a file, not a dataset folder (give the folder `skillforge export` wrote)")
    if not _hub_id(str(dataset)):
        raise DatasetError(f"{dataset}: no such dataset folder (a dataset on the Hub is named owner/name)")
    return False


def load_instances(dataset: str | Path, *, split: str = "train", skills: Iterable[str] = SKILLS,
                   max_per_skill: int = 0) -> dict[str, list[Instance]]:
    """Typed instances per skill of an exported folder (or a Hub id): ``load_dataset(dataset, name=skill)``
    for each skill; a dataset without a skill's config contributes nothing to it. A path that is
    neither, or a Hub id that cannot be loaded, raises ``DatasetError``."""
    import datasets

    datasets.disable_progress_bars()
    skills = list(skills)
    local = check_dataset(dataset)
    source = str(Path(dataset).expanduser()) if local else str(dataset)
    out: dict[str, list[Instance]] = {s: [] for s in skills}
    for skill in out:
        with tempfile.TemporaryDirectory(prefix="skillforge-load-") as cache:
            try:
                rows = datasets.load_dataset(source, name=skill, split=split, keep_in_memory=True,
                                             **({"cache_dir": cache} if local else {}))
            except ValueError as e:  # no such config (or split) in this dataset
                if _is_missing_config(e):
                    continue
                raise DatasetError(f"{dataset}: the {skill} config cannot be read: {e}") from None
            except (OSError, datasets.exceptions.DatasetsError) as e:
                where = "" if local else "no such local folder, and "
                raise DatasetError(f"{dataset}: {where}it cannot be loaded"
                                   f"{'' if local else ' from the Hub'}: {type(e).__name__}: "
                                   f"{str(e).splitlines()[0] if str(e) else ''}") from None
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


PREDICTION_SHAPES = ('{"instance_id": ID, "answer": TEXT} (skillforge), or {"instance_id": "owner__repo-N", '
                     '"model_patch": DIFF} (SWE-bench: the pull request\'s editing instance)')
"""The prediction rows ``load_predictions`` accepts, as an error message names them."""


def load_predictions(path: str | Path) -> dict[str, list[str]]:
    """Prediction rows, instance id -> answers (several rows per instance for Avg@k, in order), from
    JSONL (one row a line) or JSON (a list of rows, or SWE-bench's mapping id -> row). A row is
    ``{"instance_id": ..., "answer": ...}`` or SWE-bench's ``{"instance_id": ..., "model_patch": ...}``
    (its other keys, ``model_name_or_path``..., are ignored); a null answer is an empty one.
    Anything else raises ``DatasetError`` naming the file and line and the accepted shapes."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such predictions file")
    if not path.is_file():
        raise DatasetError(f"{path}: not a file (predictions are a JSONL file: {PREDICTION_SHAPES})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot be read: {getattr(e, 'strerror', None) or e}") from None
    rows: list[tuple[str, Any]] = []
    if path.suffix == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}:{e.lineno}: not JSON ({e.msg}); expected {PREDICTION_SHAPES}") from None
        if isinstance(data, dict) and "instance_id" not in data:  # SWE-bench: instance id -> row
            rows = [(f"{path}: {key!r}", {"instance_id": key, **v} if isinstance(v, dict) else v)
                    for key, v in data.items()]
        else:
            rows = [(f"{path}: item {i}", r) for i, r in enumerate(data if isinstance(data, list) else [data])]
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((f"{path}:{lineno}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path}:{lineno}: not a prediction row (not JSON: {e.msg}); "
                                   f"expected {PREDICTION_SHAPES}") from None
    if not rows:
        raise DatasetError(f"{path}: no prediction rows; expected {PREDICTION_SHAPES}")
    preds: dict[str, list[str]] = defaultdict(list)
    for where, row in rows:
        instance_id, answer = _prediction(where, row)
        preds[instance_id].append(answer)
    return dict(preds)


def _prediction(where: str, row: Any) -> tuple[str, str]:
    """(instance id, answer) of one prediction row, or ``DatasetError`` saying what is wrong with it."""
    def bad(what: str) -> DatasetError:
        return DatasetError(f"{where}: not a prediction row ({what}); expected {PREDICTION_SHAPES}")

    if not isinstance(row, dict):
        raise bad(f"a JSON {type(row).__name__}, not an object")
    instance_id = row.get("instance_id")
    if not isinstance(instance_id, str) or not instance_id.strip():
        raise bad("no instance_id" if instance_id is None else f"instance_id is {instance_id!r}, not an id")
    key = next((k for k in ("answer", "model_patch") if k in row), None)
    if key is None:
        raise bad(f"neither answer nor model_patch; its keys: {', '.join(sorted(map(str, row)))}")
    answer = row[key]
    if answer is None:  # a model that produced nothing: an empty prediction, scored like one
        return instance_id, ""
    if not isinstance(answer, str):
        raise bad(f"{key} is a JSON {type(answer).__name__}, not a string")
    return instance_id, answer
