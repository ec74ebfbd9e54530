"""Rich rendering of summaries: the tables every long command ends with."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from skillforge.schema import SKILLS
from skillforge.workspace import Workspace

console = Console()
err_console = Console(stderr=True)


@contextmanager
def phase_progress():
    """A progress display with one line per phase; yields a (phase, message) callback."""
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[phase]:<11}"), BarColumn(bar_width=None),
                        MofNCompleteColumn(), TextColumn("{task.description}", style="dim"), TimeElapsedColumn(),
                        console=console, transient=False)
    tasks: dict[str, int] = {}

    def update(phase: str, message: str) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(message, phase=phase, total=None)
        progress.update(tasks[phase], advance=1, description=message[-70:])

    with progress:
        yield update


def instances_table(ws: Workspace) -> Table:
    """Per skill: candidates built, validated, dropped (top reasons), infrastructure errors."""
    rows: dict[str, Counter] = {s: Counter() for s in SKILLS}
    reasons: dict[str, Counter] = {s: Counter() for s in SKILLS}
    for r in ws.candidates():
        rows[r["skill"]][r["status"]] += 1
        if r["status"] in ("invalid", "error"):
            reasons[r["skill"]][r["reason"].split(" (see")[0]] += 1
    for r in ws.not_built():
        rows[r["skill"]]["not built"] += 1
        reasons[r["skill"]]["not built: " + r["reason"].split(" (")[0]] += 1
    table = Table(title="Validated instances", show_lines=False)
    for col, style in (("skill", "bold"), ("built", ""), ("valid", "green"), ("dropped", "yellow"), ("errors", "red"),
                       ("why dropped", "dim")):
        table.add_column(col, style=style, justify="right" if col in ("built", "valid", "dropped", "errors") else "left")
    for skill in SKILLS:
        c = rows[skill]
        why = "; ".join(f"{reason} ({n})" for reason, n in reasons[skill].most_common(3))
        built = sum(c.values()) - c["not built"]
        table.add_row(skill, str(built), str(c["valid"]), str(c["invalid"] + c["not built"]), str(c["error"]), why)
    return table


def triage_table(ws: Workspace) -> Table:
    """Failures by triage class: PRs dropped or waiting on an error, candidates invalid or in error.
    Infrastructure classes (image build, install, sandbox) are never labels: their rows are retried."""
    from skillforge.execution.triage import CLASSES, INFRA, class_of_reason

    prs: Counter = Counter()
    cands: Counter = Counter()
    for r in ws.query("SELECT reason FROM prs WHERE reason != '' AND stage IN ('dropped', 'analyzed')"):
        if cls := class_of_reason(r["reason"]):
            prs[cls] += 1
    for r in ws.query("SELECT reason FROM candidates WHERE status IN ('invalid', 'error')"):
        if cls := class_of_reason(r["reason"]):
            cands[cls] += 1
    table = Table(title="Failures by triage class")
    for col, justify in (("class", "left"), ("kind", "left"), ("PRs", "right"), ("candidates", "right")):
        table.add_column(col, justify=justify, style="bold" if col == "class" else "")
    for cls in CLASSES:
        if prs[cls] or cands[cls]:
            kind = "[red]infrastructure (retried)[/]" if cls in INFRA else "outcome (dropped)"
            table.add_row(cls, kind, str(prs[cls]), str(cands[cls]))
    return table


def prs_table(ws: Workspace) -> Table:
    table = Table(title="Pull requests")
    table.add_column("stage", style="bold")
    table.add_column("PRs", justify="right")
    table.add_column("reason", style="dim")
    for stage in ("mined", "analyzed", "executed", "built"):
        n = len(ws.prs(stage=stage))
        if n:
            table.add_row(stage, str(n), "")
    for reason, n in Counter(r["reason"].split(" (see")[0] for r in ws.prs(stage="dropped")).most_common():
        table.add_row("dropped", str(n), reason)
    return table
