"""The export formats, by name: what ``skillforge export --format`` and a run recipe's
``export: {format: ...}`` choose from.

- ``hf``: one parquet config per skill, dataset card, statistics (``export.hf``)
- ``swebench``: the editing instances as SWE-bench JSONL (``export.swebench``)
- ``verl``: every skill's prompts and ground truth in verl's RL parquet format (``export.verl``)

Every format writes ``environments.json`` beside its data, and every folder can
be published with ``export.hub.push_to_hub``.
"""

from __future__ import annotations

from pathlib import Path

from skillforge.workspace import Workspace
from skillforge.export.hf import ExportSummary, export_hf

FORMATS = ("hf", "swebench", "verl")


def export_dataset(ws: Workspace, out: str | Path, *, format: str = "hf", split: str = "train",
                   pretty_name: str | None = None, json_test_lists: bool = False) -> ExportSummary:
    if format == "hf":
        return export_hf(ws, out, split=split, pretty_name=pretty_name)
    if format == "swebench":
        from skillforge.export.swebench import export_swebench

        return export_swebench(ws, out, split=split, json_test_lists=json_test_lists)
    if format == "verl":
        from skillforge.export.verl import export_verl

        return export_verl(ws, out, split=split)
    raise ValueError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
