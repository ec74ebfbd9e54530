"""The export stage: validated instances written in a format the field's tools
read, then (optionally) published on the Hugging Face Hub.

- ``hf``: one parquet config per skill and a default ``all`` config, dataset card, statistics (``export.hf``)
- ``swebench``: the editing instances as SWE-bench JSONL, runnable by SWE-bench's harness 4.x and 5.x
  (``export.swebench``)
- ``verl``: every skill's prompts and ground truth in verl's RL parquet format (``export.verl``)

Every format writes ``environments.json`` beside its data, and every folder can
be published with ``export.hub.push_to_hub``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skillforge.export.hf import ExportSummary, export_hf
from skillforge.stages.config import EXPORT_FORMATS, ExportConfig, resolve_path
from skillforge.workspace import Workspace

FORMATS = EXPORT_FORMATS
Progress = Callable[[str, str], None]  # (phase, message)


def _noop(phase: str, message: str) -> None:
    return None


def export_dataset(ws: Workspace, out: str | Path, *, format: str = "hf", split: str = "train",
                   pretty_name: str | None = None, json_test_lists: bool = False,
                   repo_id: str | None = None) -> ExportSummary:
    """Write ``out`` in ``format``; ``repo_id`` (the Hub id it will be published as) is what the
    dataset card's load snippets and citation name (the folder when None)."""
    if format == "hf":
        return export_hf(ws, out, split=split, pretty_name=pretty_name, repo_id=repo_id)
    if format == "swebench":
        from skillforge.export.swebench import export_swebench

        return export_swebench(ws, out, split=split, json_test_lists=json_test_lists)
    if format == "verl":
        from skillforge.export.verl import export_verl

        return export_verl(ws, out, split=split)
    raise ValueError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")


@dataclass
class ExportStageSummary:
    exported: ExportSummary
    pushed: str | None = None  # the commit URL on the Hub, when published


def run(ws: Workspace, config: ExportConfig, progress: Progress = _noop, *, base: Path | None = None,
        pretty_name: str | None = None, default_commit_message: str | None = None) -> ExportStageSummary:
    """Write the export (default folder: ``<workspace>/dataset``), then publish it when asked."""
    out = resolve_path(config.out, base) or ws.root / "dataset"
    progress("export", str(out))
    exported = export_dataset(ws, out, format=config.format, split=config.split, pretty_name=pretty_name,
                              json_test_lists=config.json_test_lists, repo_id=config.push_to_hub)
    pushed = None
    if config.push_to_hub:
        from skillforge.export.hub import DEFAULT_COMMIT_MESSAGE, push_to_hub

        progress("export", f"push to {config.push_to_hub}")
        pushed = push_to_hub(out, config.push_to_hub, endpoint=config.hub_endpoint, private=config.private,
                             revision=config.revision,
                             commit_message=config.commit_message or default_commit_message or DEFAULT_COMMIT_MESSAGE)
    return ExportStageSummary(exported, pushed)
