"""Rich rendering: every table the commands print, made from the statistics
module (``stats``) and the stages' summaries. Sentences are made here."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)
from rich.table import Table

from skillforge.schema import SKILLS, Triage
from skillforge.stats import WorkspaceStats

console = Console()
err_console = Console(stderr=True)


@contextmanager
def phase_progress():
    """A progress display with one line per phase; yields the stages' progress callback:
    ``progress(phase, message)`` says one item of the phase is done, and ``progress.total(phase, n)``
    (called once per phase, when the stage knows how many items it has) turns the phase's line into
    ``done/n`` with a bar and an ETA (a phase without a total shows ``done/?``)."""
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[phase]:<11}"), BarColumn(bar_width=None),
                        MofNCompleteColumn(), TextColumn("{task.description}", style="dim"), TimeElapsedColumn(),
                        TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False)
    tasks: dict[str, int] = {}

    def task(phase: str, message: str = "") -> int:
        if phase not in tasks:
            tasks[phase] = progress.add_task(message[-70:], phase=phase, total=None)
        return tasks[phase]

    def update(phase: str, message: str) -> None:
        progress.update(task(phase, message), advance=1, description=message[-70:])

    def total(phase: str, n: int) -> None:
        # the work is counted from here: notes sent before the total (what another process took) do not count
        progress.update(task(phase), total=max(0, int(n)), completed=0)

    update.total = total  # type: ignore[attr-defined]
    with progress:
        yield update


def _label(key) -> str:
    return key.label if isinstance(key, Triage) else str(key)


def prs_table(stats: WorkspaceStats) -> Table:
    table = Table(title="Pull requests")
    table.add_column("stage", style="bold")
    table.add_column("PRs", justify="right")
    table.add_column("reason", style="dim")
    for stage in ("mined", "analyzed", "executed", "built"):
        if stats.pr_stages.get(stage):
            table.add_row(stage, str(stats.pr_stages[stage]), "")
    for triage, n in stats.dropped.most_common():
        table.add_row("dropped", str(n), _label(triage))
    return table


def instances_table(stats: WorkspaceStats) -> Table:
    """Per skill: candidates built, validated, dropped (top reasons), infrastructure errors."""
    table = Table(title="Validated instances", show_lines=False)
    for col, style in (("skill", "bold"), ("built", ""), ("valid", "green"), ("dropped", "yellow"), ("errors", "red"),
                       ("why dropped", "dim")):
        table.add_column(col, style=style, justify="right" if col in ("built", "valid", "dropped", "errors") else "left")
    for skill in SKILLS:
        sk = stats.skills[skill]
        why = {f"{_label(t)}": n for t, n in (sk.invalid + sk.errors).items()}
        why.update({f"not built: {_label(t)}": n for t, n in sk.not_built.items()})
        top = "; ".join(f"{r} ({n})" for r, n in sorted(why.items(), key=lambda kv: -kv[1])[:3])
        table.add_row(skill, str(sk.built), str(sk.valid), str(sum(sk.invalid.values()) + sum(sk.not_built.values())),
                      str(sum(sk.errors.values())), top)
    return table


def triage_table(stats: WorkspaceStats) -> Table:
    """Failures by triage class: PRs dropped or waiting on an error, candidates invalid or in error.
    Infrastructure classes are never labels: their rows are retried."""
    table = Table(title="Failures by triage class")
    for col, justify in (("class", "left"), ("kind", "left"), ("PRs", "right"), ("candidates", "right")):
        table.add_column(col, justify=justify, style="bold" if col == "class" else "")
    for triage, (prs, cands) in stats.triage_counts().items():
        kind = "[red]infrastructure (retried)[/]" if triage.infrastructure else f"{triage.kind.value} (dropped)"
        table.add_row(triage.value, kind, str(prs), str(cands))
    return table


def report_tables(stats: WorkspaceStats) -> list[Table]:
    """``skillforge report``: pull requests by stage and drop class; skills with their yield."""
    prs = Table(title=f"Pull requests ({stats.prs} mined, {stats.test_touching} touch tests)")
    for col, justify in (("stage", "left"), ("PRs", "right"), ("touch tests", "right"), ("reason", "left")):
        prs.add_column(col, justify=justify)
    for stage in ("mined", "analyzed", "executed", "built"):
        if stats.pr_stages.get(stage):
            prs.add_row(stage, str(stats.pr_stages[stage]), "", "")
    for triage, n in stats.dropped.most_common():
        prs.add_row("dropped", str(n), str(stats.dropped_test_touching.get(triage, 0)), _label(triage))
    skills = Table(title="Per skill, over the test-touching PRs")
    for col in ("skill", "built", "PRs built", "valid", "PRs valid", "share", "why the rest (top 4)"):
        skills.add_column(col, justify="left" if col in ("skill", "why the rest (top 4)") else "right")
    for sk in stats.skills.values():
        skills.add_row(sk.skill, str(sk.built), str(sk.prs_built), str(sk.valid), str(sk.prs_valid),
                       f"{sk.share:.1%}", "; ".join(f"{r} ({n})" for r, n in sk.why_not().most_common(4)))
    return [prs, skills]


def render_validation(ws, summary) -> None:
    """After ``validate`` / ``run``: PRs, instances and failures, then what the stages said."""
    from skillforge.stats import workspace_stats

    stats = workspace_stats(ws)
    console.print(prs_table(stats))
    console.print(instances_table(stats))
    triage = triage_table(stats)
    if triage.row_count:
        console.print(triage)
    facts = summary.facts
    for repo, outcome in facts.environment_errors.items():
        err_console.print(f"[red]environment for {repo} failed:[/] {outcome.render()}")
    for repo, name in facts.inferred.items():
        console.print(f"recipe of {repo}: inferred and recorded as environment {name}")
    if facts.tests_observed:
        console.print(f"flaky: {facts.flaky_tests} of {facts.tests_observed} tests in {facts.flaky_prs} PRs "
                      f"(flake rate {facts.flake_rate:.2%} over the reruns)")
    console.print(f"test runs: {summary.runs_executed} executed, {summary.runs_cached} from cache; "
                  f"logs under {ws.logs_dir} (report.json per instance)")


def swebench_tables(summary) -> tuple[Table, Table]:
    """SWE-bench-format input: rows by outcome (invalid and errors by triage class), and agreement."""
    outcome = Table(title=f"SWE-bench instances ({summary.rows})")
    outcome.add_column("status", style="bold")
    outcome.add_column("rows", justify="right")
    outcome.add_column("why", style="dim")
    outcome.add_row("[green]valid[/]", str(summary.valid), "")
    for triage, n in summary.invalid.most_common():
        outcome.add_row("[yellow]invalid[/]", str(n), _label(triage))
    for triage, n in summary.errors.most_common():
        outcome.add_row("[red]error[/]", str(n), triage.value if isinstance(triage, Triage) else str(triage))
    agree = Table(title="Agreement with the given lists")
    agree.add_column("list", style="bold")
    agree.add_column("rows compared", justify="right")
    agree.add_column("exact match", justify="right")
    agree.add_column("rate", justify="right")
    for name, n, m in (("FAIL_TO_PASS", summary.with_given, summary.f2p_match),
                       ("PASS_TO_PASS", summary.with_given_p2p, summary.p2p_match)):
        agree.add_row(name, str(n), str(m), f"{m / n:.0%}" if n else "-")
    return outcome, agree


def mined_table(mined) -> Table:
    table = Table(title=f"Mined {mined.repo}")
    for col in ("PRs found", "new", "already in workspace"):
        table.add_column(col, justify="right")
    table.add_row(str(mined.prs_found), str(mined.prs_new), str(mined.prs_existing))
    return table


def export_table(exported, format: str) -> Table:
    table = Table(title=f"Exported to {exported.out} ({format})")
    table.add_column("config" if format == "hf" else "skill")
    table.add_column("rows", justify="right")
    for skill, n in exported.rows.items():
        table.add_row(skill, str(n))
    return table


def eval_table(data: dict, title: str) -> Table:
    """``skillforge eval``: per skill, the score (Avg@k) over the instances scored, instances, missing
    predictions (counted 0) and instances that could not be scored (left out of the score); then the
    means of the score details a skill reports (localization's ``function_f1``), where any skill has one."""
    table = Table(title=title)
    for col, justify in (("skill", "left"), ("score", "right"), ("instances", "right"), ("missing", "right"),
                         ("not scored", "right")):
        table.add_column(col, justify=justify)
    standard = {"score", "n", "k", "missing", "errors", "unscored"}
    metrics = list(dict.fromkeys(m for r in data["skills"].values() for m in r if m not in standard))
    for m in metrics:
        table.add_column(m.replace("_", " "), justify="right")

    def score(value) -> str:
        return "-" if value is None else f"{value:.3f}"

    for name, r in data["skills"].items():
        unscored = r.get("unscored", 0)
        table.add_row(name, score(r["score"]) + ("*" if unscored else ""), str(r["n"]), str(r["missing"]),
                      f"[red]{unscored}[/]" if unscored else "0", *(score(r.get(m)) for m in metrics))
    table.add_row("[bold]overall", f"[bold]{score(data['overall'])}", "", "", "", *("" for _ in metrics))
    if data.get("unscored"):
        table.caption = "* over the instances scored: the ones not scored are left out, not counted 0"
    return table


def scoring_errors(errors: list[str], limit: int = 10) -> list[str]:
    """The errors of ``skillforge eval`` (``instance: message``), one line per distinct message with
    the instances it hit."""
    by_message: dict[str, list[str]] = {}
    for error in errors:
        instance, sep, message = error.partition(": ")
        by_message.setdefault(message if sep else error, []).append(instance if sep else "")
    lines = []
    for message, instances in list(by_message.items())[:limit]:
        named = sorted(i for i in instances if i)
        shown = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
        lines.append(f"{shown}: {message}" if shown else message)
    if len(by_message) > limit:
        lines.append(f"... and {len(by_message) - limit} more distinct errors (all of them in --report FILE)")
    return lines


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def images_table(images) -> Table:
    """``skillforge images ls``; an env image built by an older skillforge is starred."""
    table = Table(title="skillforge images")
    table.add_column("image", overflow="fold")
    for col in ("kind", "python", "own", "size", "in use", "created"):
        table.add_column(col, justify="right" if col in ("own", "size", "in use") else "left", no_wrap=True)
    for i in images:
        stale = i.kind == "env" and not i.layout
        table.add_row(i.tag + (" *" if stale else ""), i.kind, i.python, human_size(i.own), human_size(i.size),
                      str(i.containers or ""), i.created[:16].replace("T", " "))
    return table


def doctor_table(checks) -> Table:
    table = Table(title="skillforge doctor")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col)
    for c in checks:
        status = "[green]ok[/]" if c.ok else ("[red]missing[/]" if c.required else "[yellow]optional[/]")
        table.add_row(c.name, status, c.detail, "" if c.ok else c.fix)
    return table


def env_table(choices) -> Table:
    """``skillforge env show``: one row per repository era."""
    table = Table(title="Environments by era")
    for col in ("repository", "era (reference)", "python", "as of", "how", "attempts", "why the last failed"):
        table.add_column(col, overflow="fold")
    for c in choices:
        when = c.date.strftime("%Y-%m-%d") if c.date else "?"
        table.add_row(c.repo, f"{when} ({c.reference[:10]})", c.recipe.python if c.recipe else "-",
                      (c.recipe.exclude_newer or "")[:10] if c.recipe else "-",
                      c.how if c.recipe else "[red]no environment[/]", str(c.attempts),
                      c.last_failure.render()[:120] if c.last_failure else "")
    return table
