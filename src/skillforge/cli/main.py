"""The command line: thin typer commands that call the library and render with rich."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

from enum import Enum

import typer
from rich.table import Table

from skillforge.cli.render import console, err_console, instances_table, phase_progress, prs_table

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                  help="Build, validate and export executable datasets of five atomic coding skills.")
images_app = typer.Typer(no_args_is_help=True, help="Docker images: base images without a registry; list and reclaim disk.")
app.add_typer(images_app, name="images")

class ExecutorKind(str, Enum):
    local = "local"
    ray = "ray"


WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="workspace directory (state database, logs, exports)")]


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def open_workspace(path: Path):
    from skillforge.workspace import Workspace

    return Workspace(path)


@app.command()
def mine(
    source: Annotated[Optional[str], typer.Argument(help="a local git repository path, or owner/name on GitHub")] = None,
    workspace: WorkspaceOpt = Path(".skillforge/default"),
    limit: Annotated[Optional[int], typer.Option(help="at most this many new pull requests (per repository, newest first)")] = None,
    since: Annotated[Optional[str], typer.Option(help="only PRs merged on or after this date (YYYY-MM-DD); 'last' = new since the last run (GitHub)")] = None,
    search: Annotated[Optional[str], typer.Option(help="GitHub repository search, e.g. 'language:python stars:>500'")] = None,
    repos_dir: Annotated[Path, typer.Option(help="clone cache for GitHub repositories (DIR/owner__name)")] = Path(".skillforge/repos"),
    api_url: Annotated[str, typer.Option(help="GitHub API URL (GitHub Enterprise: https://HOST/api/v3)")] = "https://api.github.com",
    require_issue: Annotated[bool, typer.Option(help="GitHub: keep only PRs that resolve an issue")] = False,
    repo_name: Annotated[Optional[str], typer.Option(help="local: owner/name to record (default: from the origin remote)")] = None,
    issues: Annotated[Optional[Path], typer.Option(help="local: issues file, GitHub REST JSON (default: <repo>.issues.json)")] = None,
) -> None:
    """Mine merged pull requests (with their issues and reviews) into the workspace: from a local
    git history, or from GitHub (owner/name or --search)."""
    from skillforge.mine.local import MineError, mine_local

    ws = open_workspace(workspace)
    local = source is not None and Path(source).exists()
    if source is None and search is None:
        fail("give a repository (a local path or owner/name) or --search")
    if local:
        if search:
            fail("--search mines GitHub; it cannot be combined with a local path")
        if since == "last":
            fail("--since last is for GitHub sources; use a date for local histories")
        try:
            since_dt = datetime.fromisoformat(since) if since else None
            summary = mine_local(ws, Path(source), repo_name=repo_name, limit=limit, since=since_dt, issues_file=issues)
        except (MineError, ValueError) as e:
            fail(str(e))
        table = Table(title=f"Mined {summary.repo}")
        for col in ("PRs found", "new", "already in workspace"):
            table.add_column(col, justify="right")
        table.add_row(str(summary.prs_found), str(summary.prs_new), str(summary.prs_existing))
        console.print(table)
        return
    if source is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        fail(f"{source}: neither an existing path nor a GitHub owner/name")
    from skillforge.mine.github import MineFilters, mine_github

    try:
        since_arg = "last" if since == "last" else (datetime.fromisoformat(since) if since else None)
        summary = mine_github(ws, [source] if source else None, search=search, api_url=api_url, repos_dir=repos_dir,
                              limit=limit, since=since_arg, filters=MineFilters(require_issue=require_issue),
                              console=err_console)
    except MineError as e:
        report = getattr(e, "summary", None)
        if report is not None:
            console.print(report.report())
        fail(str(e))
    except ValueError as e:
        fail(str(e))
    console.print(summary.report())


@app.command()
def analyze(
    repo: Annotated[Path, typer.Option(help="local git repository")],
    commit: Annotated[str, typer.Option(help="commit the patch applies to")],
    patch: Annotated[Path, typer.Option(help="unified diff file")],
) -> None:
    """Print the ground-truth labels of one patch as JSON (files, entities, tests)."""
    from skillforge.analyze import analyze_commit_patch

    if not patch.exists():
        fail(f"{patch}: no such patch file")
    try:
        analysis = analyze_commit_patch(repo, commit, patch.read_text())
    except Exception as e:
        fail(f"cannot analyze {patch} on {repo}@{commit}: {e}")
    data = analysis.model_dump(exclude={"code_patch", "test_patch", "other_patch"})
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


@app.command()
def validate(
    workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w", help="workspace directory (state database, logs, exports); with --instances, default <out>.skillforge beside the output")] = None,
    workers: Annotated[int, typer.Option(help="parallel test containers (0: sized to the machine; with --executor ray: tasks in flight, 0 = twice the cluster's CPUs)")] = 0,
    reruns: Annotated[int, typer.Option(help="runs of every before/after execution and gold score; a test whose outcome varies is flaky")] = 3,
    recipes_dir: Annotated[Optional[Path], typer.Option(help="per-repository environment recipes")] = Path("recipes/environments"),
    executor: Annotated[ExecutorKind, typer.Option(help="local: a worker pool on this machine's Docker engine; ray: Ray tasks across a cluster, each node using its own Docker engine")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="with --executor ray: the cluster to join ('auto', 'HOST:6379', 'ray://HOST:10001'; default RAY_ADDRESS, else a local Ray instance)")] = None,
    instances: Annotated[Optional[Path], typer.Option(help="SWE-bench-format rows (JSONL) to re-validate instead of a workspace's PRs")] = None,
    repos_dir: Annotated[Path, typer.Option(help="with --instances: clones as DIR/owner__name (a missing one is cloned)")] = Path(".skillforge/repos"),
    out: Annotated[Optional[Path], typer.Option(help="with --instances: output JSONL (rows with FAIL_TO_PASS, PASS_TO_PASS and a skillforge report)")] = None,
    decontaminate: Annotated[Optional[Path], typer.Option(help="PRs to exclude (benchmark instance ids owner__repo-N or owner/repo#N, one a line): dropped and reported")] = None,
) -> None:
    """Analyze mined PRs, then prove every candidate executable in Docker (gold scores 1, null scores 0);
    or, with --instances, compute FAIL_TO_PASS / PASS_TO_PASS of SWE-bench-format rows and compare them
    with the lists the rows came with."""
    from skillforge.stages.analyze import run_analyze
    from skillforge.stages.validate import ValidateOptions, Validator

    from skillforge.analyze.hygiene import Decontamination, DecontaminationError
    from skillforge.stages.analyze import Filters

    if instances is not None and decontaminate is not None:
        fail("--decontaminate applies to a workspace's PRs, not to --instances")
    executor = ExecutorKind(executor).value
    if instances is not None and executor != "local":
        fail("--executor ray applies to a workspace's PRs, not to --instances")
    if executor == "local" and workers <= 0:
        from skillforge.settings import Settings
        from skillforge.stages.validate import default_workers

        workers = default_workers(Settings.from_env())
    if instances is not None:
        validate_swebench(instances, repos_dir, out, workspace, workers, reruns, recipes_dir)
        return
    if workspace is None:
        fail("give --workspace (or --instances FILE.jsonl --repos-dir DIR --out FILE.jsonl)")
    if decontaminate is not None:
        try:
            Decontamination.load(decontaminate)
        except DecontaminationError as e:
            fail(str(e))
    ws = open_workspace(workspace)
    with phase_progress() as progress:
        analyzed = run_analyze(ws, filters=Filters(decontaminate=decontaminate),
                               on_progress=lambda pr: progress("analyze", pr))
        options = ValidateOptions(workers=workers, reruns=reruns,
                                  recipes_dir=recipes_dir if recipes_dir and recipes_dir.exists() else None,
                                  executor=executor, ray_address=ray_address)
        try:
            summary = Validator(ws, options=options).run(progress)
        except ImportError as e:
            fail(str(e))
    render_validation(ws, summary)
    if decontaminate is not None:
        console.print(f"decontaminated: {len(analyzed.decontaminated)} PRs excluded "
                      f"({analyzed.decontamination_listed} listed in {decontaminate})")


def validate_swebench(instances: Path, repos_dir: Path, out: Optional[Path], workspace: Optional[Path], workers: int,
                      reruns: int, recipes_dir: Optional[Path]) -> None:
    from skillforge.swebench.validate import SWEBenchOptions, summary_path, validate_instances

    if out is None:
        fail("--instances needs --out FILE.jsonl (where the validated rows go)")
    if not instances.is_file():
        fail(f"{instances}: no such file")
    options = SWEBenchOptions(workers=workers, reruns=reruns,
                              recipes_dir=recipes_dir if recipes_dir and recipes_dir.exists() else None)
    try:
        with phase_progress() as progress:
            summary = validate_instances(instances, repos_dir, out, workspace=workspace, options=options,
                                         progress=progress)
    except (ValueError, OSError) as e:
        fail(f"cannot validate {instances}: {e}")
    for table in summary.tables():
        console.print(table)
    for name, status in summary.environments.items():
        if not status.startswith("ready"):
            err_console.print(f"[red]environment {name} failed:[/] {status}")
    if summary.disagreeing:
        shown = ", ".join(summary.disagreeing[:10]) + (" ..." if len(summary.disagreeing) > 10 else "")
        console.print(f"FAIL_TO_PASS differs from the given list for: {shown}")
    console.print(f"rows: {summary.executed} executed, {summary.resumed} resumed from {summary.workspace}; "
                  f"test runs: {summary.runs_executed} executed, {summary.runs_cached} from cache")
    console.print(f"output: {summary.out} (summary: {summary_path(summary.out)}); logs under {summary.workspace}/logs")


def render_validation(ws, summary) -> None:
    from skillforge.cli.render import triage_table

    console.print(prs_table(ws))
    console.print(instances_table(ws))
    triage = triage_table(ws)
    if triage.row_count:
        console.print(triage)
    for repo, why in summary.environment_errors.items():
        err_console.print(f"[red]environment for {repo} failed:[/] {why}")
    for repo, name in getattr(summary, "inferred", {}).items():
        console.print(f"recipe of {repo}: inferred and recorded as environment {name}")
    if getattr(summary, "tests_observed", 0):
        console.print(f"flaky: {summary.flaky_tests} of {summary.tests_observed} tests in {summary.flaky_prs} PRs "
                      f"(flake rate {summary.flake_rate:.2%} over the reruns)")
    console.print(f"test runs: {summary.runs_executed} executed, {summary.runs_cached} from cache; "
                  f"logs under {ws.logs_dir} (report.json per instance)")


@app.command()
def export(
    workspace: WorkspaceOpt,
    out: Annotated[Path, typer.Option(help="output folder (a Hub dataset repository as it stands)")],
    split: Annotated[str, typer.Option(help="split name")] = "train",
    format: Annotated[str, typer.Option("--format", help="hf: one parquet config per skill and a dataset card; "
                                        "swebench: editing instances as SWE-bench JSONL; verl: verl's RL parquet")] = "hf",
    json_test_lists: Annotated[bool, typer.Option(help="swebench: FAIL_TO_PASS / PASS_TO_PASS as JSON-encoded strings, "
                                                  "as SWE-bench's Hub datasets store them (default: lists)")] = False,
    push_to_hub: Annotated[Optional[str], typer.Option(help="then publish the folder as this Hub dataset (owner/name); "
                                                       "token from HF_TOKEN or `hf auth login`")] = None,
    private: Annotated[bool, typer.Option(help="with --push-to-hub: create the repository private (an existing public one is refused)")] = False,
    revision: Annotated[Optional[str], typer.Option(help="with --push-to-hub: branch to commit to (created when missing)")] = None,
    commit_message: Annotated[Optional[str], typer.Option(help="with --push-to-hub: commit message")] = None,
    hub_endpoint: Annotated[Optional[str], typer.Option(help="with --push-to-hub: Hub URL (default: HF_ENDPOINT, else https://huggingface.co)")] = None,
) -> None:
    """Write validated instances as a Hugging Face dataset (one config per skill, with a dataset card),
    SWE-bench JSONL or verl parquet; optionally publish the folder on the Hugging Face Hub."""
    from skillforge.stages.export import FORMATS, export_dataset
    from skillforge.export.hub import DEFAULT_COMMIT_MESSAGE, HubError, push_to_hub as push

    if format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if push_to_hub is None and (private or revision or commit_message or hub_endpoint):
        fail("--private, --revision, --commit-message and --hub-endpoint go with --push-to-hub ID")
    if json_test_lists and format != "swebench":
        fail("--json-test-lists goes with --format swebench")
    ws = open_workspace(workspace)
    summary = export_dataset(ws, out, format=format, split=split, json_test_lists=json_test_lists)
    table = Table(title=f"Exported to {out} ({format})")
    table.add_column("config" if format == "hf" else "skill")
    table.add_column("rows", justify="right")
    for skill, n in summary.rows.items():
        table.add_row(skill, str(n))
    console.print(table)
    if push_to_hub:
        try:
            url = push(out, push_to_hub, endpoint=hub_endpoint, private=private, revision=revision,
                       commit_message=commit_message or DEFAULT_COMMIT_MESSAGE)
        except HubError as e:
            fail(f"{e} (the export in {out} is complete; rerun with --push-to-hub to publish it)")
        console.print(f"published {push_to_hub}: {url}")


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="run recipe (YAML), e.g. recipes/sample.yaml")],
    workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w", help="workspace (default: the recipe's)")] = None,
) -> None:
    """Run every stage a recipe names: mine, analyze, validate, export."""
    from skillforge.stages.run import run_recipe
    from skillforge.stages.recipe import RecipeError, load_run_recipe

    try:
        r = load_run_recipe(recipe)
    except RecipeError as e:
        fail(str(e))
    from skillforge.execution import InfraError
    from skillforge.export.hub import HubError
    from skillforge.mine.local import MineError
    from skillforge.gitio import RepoError

    ws_path = workspace or r.resolve(r.workspace) or Path(".skillforge") / r.name
    ws = open_workspace(ws_path)
    try:
        with phase_progress() as progress:
            summary = run_recipe(r, ws, progress=progress)
    except (MineError, HubError, InfraError, RepoError, ValueError) as e:
        where = f" (see {e.log_path})" if getattr(e, "log_path", None) else ""
        fail(f"{e}{where}\neverything done so far is kept in {ws.root}; run the same command again to resume")
    render_validation(ws, summary.validated)
    exported = summary.exported
    console.print(f"dataset: {exported.out} ({', '.join(f'{k}={v}' for k, v in exported.rows.items()) or 'empty'})")
    if summary.pushed:
        console.print(f"published: {summary.pushed}")


@app.command("eval")
def eval_(
    dataset: Annotated[str, typer.Argument(help="an exported dataset folder (or Hub id)")],
    predictions: Annotated[Optional[Path], typer.Option(help='JSONL of {"instance_id": ..., "answer": ...}; several rows per instance for Avg@k')] = None,
    model: Annotated[Optional[str], typer.Option(help="generate the predictions with this local transformers model first")] = None,
    k: Annotated[int, typer.Option("--k", help="predictions per instance averaged (Avg@k)")] = 1,
    report: Annotated[Optional[Path], typer.Option(help="write the results as JSON here")] = None,
    split: Annotated[str, typer.Option(help="dataset split")] = "train",
    skill: Annotated[Optional[list[str]], typer.Option(help="only these skills (repeatable)")] = None,
    workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w", help="the workspace that built the dataset (repositories, images)")] = None,
    repos_dir: Annotated[Optional[Path], typer.Option(help="clones as DIR/owner__name, for execution-based skills")] = None,
    workers: Annotated[int, typer.Option(help="parallel scorers")] = 2,
) -> None:
    """Score predictions per skill with the same scorers that validated the dataset (Avg@k)."""
    from skillforge.evaluate import EvalError, backend_for_dataset, evaluate, load_instances, load_predictions
    from skillforge.schema import SKILLS

    if (predictions is None) == (model is None):
        fail("give exactly one of --predictions FILE or --model PATH")
    try:
        instances = load_instances(dataset, split=split, skills=skill or SKILLS)
        if predictions is not None:
            preds = load_predictions(predictions)
        else:
            try:
                from skillforge.train.generate import generate_answers
            except ImportError as e:
                fail(f"--model needs the training extra ({e}): pip install torch==2.13.0 'skillforge[train]'")
            with console.status(f"generating {k} answer(s) per instance with {model}"):
                preds = generate_answers(model, instances, k=k)
        backend = backend_for_dataset(dataset, workspace=workspace, repos_dir=repos_dir)
        with phase_progress() as progress:
            result = evaluate(instances, preds, backend, k=k, workers=workers,
                              on_scored=lambda iid, v: progress("score", f"{iid}: {v:.2f}"))
    except EvalError as e:
        fail(str(e))
    data = result.to_json()
    table = Table(title=f"Evaluation of {dataset} (Avg@{k})")
    for col, justify in (("skill", "left"), ("score", "right"), ("instances", "right"), ("missing", "right"), ("errors", "right")):
        table.add_column(col, justify=justify)
    for name, r in data["skills"].items():
        table.add_row(name, f"{r['score']:.3f}", str(r["n"]), str(r["missing"]), str(r["errors"]))
    table.add_row("[bold]overall", f"[bold]{data['overall']:.3f}", "", "", "")
    console.print(table)
    for error in data["errors"][:10]:
        err_console.print(f"[yellow]scoring error:[/] {error}")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(data, indent=2))
        console.print(f"report: {report}")


@images_app.command("base")
def images_base(
    python: Annotated[str, typer.Option(help="Python version, e.g. 3.11")] = "3.11",
) -> None:
    """Build (or reuse) the base image for a Python version: pulled when a registry answers, else from a Debian mirror."""
    from skillforge.settings import Settings
    from skillforge.execution import InfraError
    from skillforge.execution.images import ensure_base_image
    from skillforge.execution.client import docker_client

    settings = Settings.from_env()
    try:
        with console.status(f"base image for Python {python}") as status:
            tag = ensure_base_image(docker_client(), settings, python, progress=lambda m: status.update(m))
    except (InfraError, ValueError) as e:
        fail(str(e))
    console.print(f"[green]ready:[/] {tag}")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


@images_app.command("ls")
def images_ls(
    repo: Annotated[Optional[str], typer.Option(help="only this repository's env images (owner/name)")] = None,
) -> None:
    """List skillforge images and the disk they take (base layers counted once)."""
    from skillforge.execution import InfraError
    from skillforge.execution.client import docker_client
    from skillforge.execution.images import disk_usage, list_images

    try:
        images = list_images(docker_client())
    except InfraError as e:
        fail(str(e))
    if repo:
        images = [i for i in images if i.kind == "base" or i.repo == repo]
    table = Table(title="skillforge images")
    table.add_column("image", overflow="fold")
    for col in ("kind", "python", "own", "size", "in use", "created"):
        table.add_column(col, justify="right" if col in ("own", "size", "in use") else "left", no_wrap=True)
    old_layout = False
    for i in images:
        stale = i.kind == "env" and not i.layout
        old_layout |= stale
        table.add_row(i.tag + (" *" if stale else ""), i.kind, i.python, _size(i.own), _size(i.size),
                      str(i.containers or ""), i.created[:16].replace("T", " "))
    console.print(table)
    envs = {i.id for i in images if i.kind == "env"}
    console.print(f"{len(envs)} env images, {len({i.id for i in images if i.kind == 'base'})} base images; "
                  f"disk: {_size(disk_usage(images))} (own = layers on top of the base image; base layers counted once)")
    if old_layout:
        console.print("* built by an older skillforge: rebuilt when next used; `skillforge images prune` removes it")


@images_app.command("prune")
def images_prune(
    repo: Annotated[Optional[str], typer.Option(help="only this repository's env images (owner/name)")] = None,
    keep_workspace: Annotated[Optional[Path], typer.Option(help="keep the env images this workspace's environments use")] = None,
    all_images: Annotated[bool, typer.Option("--all", help="base images too (rebuilt from the Debian mirror or pulled when next needed)")] = False,
    dry_run: Annotated[bool, typer.Option(help="show what would be removed, remove nothing")] = False,
) -> None:
    """Remove env images (with --all base images too) to reclaim disk; images in use are kept. Also removes run and setup containers left behind by a killed process."""
    from skillforge.execution import InfraError
    from skillforge.execution.client import docker_client
    from skillforge.execution.images import disk_usage, list_images, prune_images
    from skillforge.execution.sandbox import remove_leftover_containers

    keep: set[str] = set()
    if keep_workspace is not None:
        if not (keep_workspace / "skillforge.db").exists():
            fail(f"{keep_workspace}: not a workspace (no skillforge.db)")
        ws = open_workspace(keep_workspace)
        keep = {r["image"] for r in ws.query("SELECT image FROM environments WHERE image != ''")}
    try:
        client = docker_client()
        containers = 0 if dry_run else remove_leftover_containers(client)
        before = {i.tag: i for i in list_images(client)}
        removed = prune_images(client, kind=None if all_images else "env", repo=repo, keep=keep, dry_run=dry_run)
    except InfraError as e:
        fail(str(e))
    gone = [before[t] for t in removed if t in before]
    reclaimed = disk_usage(gone)
    verb = "would remove" if dry_run else "removed"
    for tag in removed:
        console.print(f"{verb} {tag}")
    console.print(f"{verb} {len(removed)} images ({_size(reclaimed)}"
                  f"{', plus the base image layers' if all_images and any(i.kind == 'base' for i in gone) else ''})"
                  + (f"; removed {containers} leftover containers" if containers else ""))


@app.command()
def doctor(workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w")] = None) -> None:
    """Check Docker, git, base images, tokens and disk: what is missing and how to fix it."""
    from skillforge.doctor import run_checks

    checks = run_checks(workspace)
    table = Table(title="skillforge doctor")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col)
    for c in checks:
        status = "[green]ok[/]" if c.ok else ("[red]missing[/]" if c.required else "[yellow]optional[/]")
        table.add_row(c.name, status, c.detail, "" if c.ok else c.fix)
    console.print(table)
    if any(not c.ok and c.required for c in checks):
        raise typer.Exit(1)


@app.command()
def report(
    workspace: WorkspaceOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Per stage and per skill: candidates built, why the rest were dropped, and the share of
    test-touching PRs that yield a validated instance (after mine, analysis or validate)."""
    from skillforge.stats import workspace_report

    if not (workspace / "skillforge.db").exists():
        fail(f"{workspace}: no workspace here (run `skillforge mine` first)")
    rep = workspace_report(open_workspace(workspace))
    if as_json:
        sys.stdout.write(rep.to_json() + "\n")
        return
    for table in rep.tables():
        console.print(table)
    if rep.decontaminated:
        console.print(f"decontaminated: {len(rep.decontaminated)} PRs excluded")


from skillforge.train.cli import train_options  # noqa: E402 - flags made from TrainConfig (no heavy imports)


@app.command(no_args_is_help=True)
@train_options
def train(config: Optional[Path] = None, **overrides) -> None:
    """Train one policy with GRPO (TRL) on the skills of exported datasets; each skill's scorer is its reward.
    Every config field is also a flag; `--model tiny` makes a smoke run with a tiny model built on the spot."""
    from skillforge.train.cli import ConfigError, load_config, summary_table
    from skillforge.train.trainer import TrainError, train as run_training

    try:
        cfg = load_config(config, overrides)
    except ConfigError as e:
        fail(str(e))
    try:
        result = run_training(cfg, console=console)
    except TrainError as e:
        fail(str(e))
    console.print(summary_table(result))
    console.print(f"model: {result.final_model}  (score it: skillforge eval DATASET --model {result.final_model})")


if __name__ == "__main__":
    app()
