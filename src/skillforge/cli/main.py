"""The command line: thin typer commands that call the library and render with rich."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from skillforge.cli.options import config_flags, make_config
from skillforge.cli.render import (
    console, doctor_table, env_table, err_console, eval_table, export_table, human_size, images_table, mined_table,
    phase_progress, render_validation, report_tables, scoring_errors, swebench_tables,
)
from skillforge.stages.config import AnalyzeConfig, ExportConfig, MineConfig, SourceSpec, ValidateConfig

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}  # inherited by every command and sub-command
app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich", context_settings=HELP_OPTIONS,
                  help="Build, validate and export executable datasets of five atomic coding skills.")
images_app = typer.Typer(no_args_is_help=True, help="Docker images: base images without a registry; list and reclaim disk.")
app.add_typer(images_app, name="images")
env_app = typer.Typer(no_args_is_help=True, help="Environments the resolver chose, era by era: show them, or export "
                                                  "them as recipe files to commit.")
app.add_typer(env_app, name="env")

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="workspace directory (state database, logs, exports)")]


def package_version() -> str:
    """The installed distribution's version (its metadata), else the source tree's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("skillforge")
    except PackageNotFoundError:
        from skillforge import __version__

        return __version__


def _show_version(value: bool) -> None:
    if value:
        console.print(f"skillforge {package_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_show_version, is_eager=True,
                                                    help="print the version and exit")] = None,
) -> None:
    """Build, validate and export executable datasets of five atomic coding skills."""


def fail(message: str, code: int = 1) -> None:
    """``error: message`` on stderr (as it is: no markup read into it, no wrapping), then exit ``code``."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def refuse_file(path: Optional[Path], flag: str, *, want: str = "folder") -> None:
    """Fail when ``path`` (a ``flag`` naming a folder to write, or a file with ``want="file"``) is the
    other kind of thing already."""
    if path is None or not path.exists():
        return
    if want == "folder" and not path.is_dir():
        fail(f"{flag} {path}: a file is there, not a folder; give a folder to write to")
    if want == "file" and path.is_dir():
        fail(f"{flag} {path}: a folder is there, not a file; give a file path")


def open_workspace(path: Path, *, create: bool = True):
    from skillforge.workspace import Workspace, WorkspaceError

    try:
        return Workspace(path, create=create)
    except WorkspaceError as e:
        fail(str(e))


@app.command()
@config_flags(MineConfig, SourceSpec, skip=("path", "sample", "github", "environment"), rename={"repo": "repo-name"})
def mine(
    source: Annotated[Optional[str], typer.Argument(help="a local git repository path, owner/name (or github:owner/name) on GitHub")] = None,
    workspace: WorkspaceOpt = Path(".skillforge/default"),
    **flags,
) -> None:
    """Mine merged pull requests (with their issues and reviews) into the workspace: from a local
    git history, or from GitHub (owner/name or --search)."""
    import sqlite3

    from rich.markup import escape

    from skillforge.gitio import RepoError
    from skillforge.mine.local import MineError
    from skillforge.stages import mine as mine_stage
    from skillforge.workspace import Workspace, WorkspaceError

    def say(kind: str, message: str) -> None:  # one line each, whatever the terminal's width
        err_console.print(f"{kind} {escape(message)}", soft_wrap=True, highlight=False)

    def error(message: str) -> None:
        say("[bold red]error:[/]", message)
        raise typer.Exit(1)

    config = make_config(MineConfig, flags)
    options = {k: v for k, v in flags.items() if v is not None and k in SourceSpec.model_fields}
    try:
        if source is None and not options.get("search"):
            error("give a repository (a local path or owner/name) or --search")
        spec = mine_stage.source_spec(source, **options) if source is not None else SourceSpec(**options)
        if spec.path and spec.search:
            error("--search mines GitHub; it cannot be combined with a local path")
        try:
            ws = Workspace(workspace)
        except WorkspaceError as e:
            error(str(e))
        except (OSError, sqlite3.Error) as e:
            error(f"workspace {workspace} cannot be opened: {getattr(e, 'strerror', None) or e}")
        summary = mine_stage.run(ws, config, sources=[spec], console=err_console)
    except MineError as e:
        report = getattr(e, "summary", None)
        if report is not None:
            console.print(report.report())
        error(str(e))
    except (ValueError, RepoError) as e:
        error(str(e))
    except (OSError, sqlite3.Error) as e:
        error(f"mining failed: {type(e).__name__}: {e}")
    for mined in summary.local:
        console.print(mined_table(mined))
        for warning in mined.warnings:
            say("[yellow]warning:[/]", warning.render())
        if mined.dropped:
            say("dropped:", ", ".join(f"{k} {v}" for k, v in sorted(mined.dropped.items())))
    for report in summary.github:
        console.print(report.report())


@app.command()
def analyze(
    repo: Annotated[Path, typer.Option(help="local git repository")],
    commit: Annotated[str, typer.Option(help="commit the patch applies to")],
    patch: Annotated[Path, typer.Option(help="unified diff file")],
) -> None:
    """Print the ground-truth labels of one patch as JSON (files, entities, edit locations, tests)."""
    from skillforge.analyze import analyze_commit_patch
    from skillforge.gitio import decode_text

    if not patch.is_file():
        fail(f"{patch}: no such patch file" if not patch.exists() else f"{patch}: not a file")
    try:
        data = patch.read_bytes()
    except OSError as e:
        fail(f"{patch}: cannot be read: {e.strerror or e}")
    text, encoding = decode_text(data)  # not UTF-8: latin-1, byte for byte (reported as "encoding")
    if encoding != "utf-8":
        # the analyzer reads file contents as UTF-8 with undecodable bytes escaped: the patch in that same
        # form, so that its context lines match the files byte for byte
        text = data.decode("utf-8", "surrogateescape")
    try:
        analysis = analyze_commit_patch(repo, commit, text)
    except Exception as e:
        fail(f"cannot analyze {patch} on {repo}@{commit}: {e}")
    analysis.encoding = encoding
    labels = analysis.model_dump(exclude={"code_patch", "test_patch", "other_patch"})
    sys.stdout.write(json.dumps(labels, indent=2) + "\n")


@app.command()
@config_flags(ValidateConfig, AnalyzeConfig)
def validate(
    workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w", help="workspace directory (state database, logs, exports); with --instances, default <out>.skillforge beside the output")] = None,
    instances: Annotated[Optional[Path], typer.Option(help="SWE-bench-format rows (JSONL) to re-validate instead of a workspace's PRs")] = None,
    repos_dir: Annotated[Path, typer.Option(help="with --instances: clones as DIR/owner__name (a missing one is cloned)")] = Path(".skillforge/repos"),
    out: Annotated[Optional[Path], typer.Option(help="with --instances: output JSONL (rows with FAIL_TO_PASS, PASS_TO_PASS and a skillforge report)")] = None,
    network: Annotated[bool, typer.Option("--network", help="with --instances: run the tests with the network ON (to reproduce lists made that way); off by default, and the output says which")] = False,
    **flags,
) -> None:
    """Analyze mined PRs, then prove every candidate executable in Docker (gold scores 1, null scores 0);
    or, with --instances, compute FAIL_TO_PASS / PASS_TO_PASS of SWE-bench-format rows and compare them
    with the lists the rows came with."""
    from skillforge.analyze.hygiene import Decontamination, DecontaminationError
    from skillforge.stages import analyze as analyze_stage
    from skillforge.stages.validate import run_validation

    config = make_config(ValidateConfig, flags)
    filters = make_config(AnalyzeConfig, flags)
    if instances is not None:
        if flags.get("decontaminate") is not None:
            fail("--decontaminate applies to a workspace's PRs, not to --instances")
        if config.executor != "local":
            fail("--executor ray applies to a workspace's PRs, not to --instances")
        validate_swebench(instances, repos_dir, out, workspace, config, network)
        return
    if network:
        fail("--network goes with --instances (a workspace's PRs are always validated with the network off)")
    if workspace is None:
        fail("give --workspace (or --instances FILE.jsonl --repos-dir DIR --out FILE.jsonl)")
    if filters.decontaminate is not None:
        try:
            Decontamination.load(filters.decontaminate)
        except DecontaminationError as e:
            fail(str(e))
    ws = open_workspace(workspace, create=False)
    with phase_progress() as progress:
        analyzed = analyze_stage.run(ws, filters, progress)
        try:
            summary = run_validation(ws, config, progress)
        except ImportError as e:
            fail(str(e))
    render_validation(ws, summary)
    if filters.decontaminate is not None:
        console.print(f"decontaminated: {len(analyzed.decontaminated)} PRs excluded "
                      f"({analyzed.decontamination_listed} listed in {filters.decontaminate})")


def validate_swebench(instances: Path, repos_dir: Path, out: Optional[Path], workspace: Optional[Path],
                      config: ValidateConfig, network: bool = False) -> None:
    from skillforge.stages.config import resolve_path
    from skillforge.swebench.rows import summary_path
    from skillforge.swebench.validate import SWEBenchOptions, validate_instances

    if out is None:
        fail("--instances needs --out FILE.jsonl (where the validated rows go)")
    if not instances.is_file():
        fail(f"{instances}: no such file" if not instances.exists() else f"{instances}: not a file")
    refuse_file(out, "--out", want="file")
    if workspace is not None and workspace.exists() and not workspace.is_dir():
        fail(f"{workspace} is a file, not a workspace directory")
    recipes_dir = resolve_path(config.recipes_dir, None)
    options = SWEBenchOptions(workers=config.workers, reruns=config.reruns, network=network,
                              recipes_dir=recipes_dir if recipes_dir and recipes_dir.is_dir() else None)
    try:
        with phase_progress() as progress:
            summary = validate_instances(instances, repos_dir, out, workspace=workspace, options=options,
                                         progress=progress)
    except (ValueError, OSError) as e:
        fail(f"cannot validate {instances}: {e}")
    for table in swebench_tables(summary):
        console.print(table)
    console.print("tests ran with the network ON (--network)" if summary.network else
                  "tests ran with the network off; tests that need it are in neither list (--network to run them)")
    for name, outcome in summary.failed_environments.items():
        err_console.print(f"[red]environment {name} failed:[/] {outcome.render()}")
    if summary.disagreeing:
        shown = ", ".join(summary.disagreeing[:10]) + (" ..." if len(summary.disagreeing) > 10 else "")
        console.print(f"FAIL_TO_PASS differs from the given list for: {shown}")
    console.print(f"rows: {summary.executed} executed, {summary.resumed} resumed from {summary.workspace}; "
                  f"test runs: {summary.runs_executed} executed, {summary.runs_cached} from cache")
    console.print(f"output: {summary.out} (summary: {summary_path(summary.out)}); logs under {summary.workspace}/logs")


@app.command()
@config_flags(ExportConfig)
def export(
    workspace: WorkspaceOpt,
    **flags,
) -> None:
    """Write validated instances as a Hugging Face dataset (one config per skill, with a dataset card),
    SWE-bench JSONL or verl parquet; optionally publish the folder on the Hugging Face Hub."""
    from skillforge.export.hub import HubError
    from skillforge.stages import export as export_stage

    config = make_config(ExportConfig, flags)
    if config.out is None:
        fail("give --out DIR (the folder the dataset is written to)")
    if config.push_to_hub is None and (config.private or config.revision or config.commit_message
                                       or config.hub_endpoint):
        fail("--private, --revision, --commit-message and --hub-endpoint go with --push-to-hub ID")
    if config.json_test_lists and config.format != "swebench":
        fail("--json-test-lists goes with --format swebench")
    ws = open_workspace(workspace, create=False)
    refuse_file(Path(config.out).expanduser(), "--out")
    try:
        summary = export_stage.run(ws, config)
    except HubError as e:
        fail(f"{e} (the export in {config.out} is complete; rerun with --push-to-hub to publish it)")
    except OSError as e:
        fail(f"cannot write {config.out}: {e.strerror or e}" + (f" ({e.filename})" if e.filename else ""))
    console.print(export_table(summary.exported, config.format))
    if summary.pushed:
        console.print(f"published {config.push_to_hub}: {summary.pushed}")


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="run recipe (YAML), e.g. recipes/sample.yaml")],
    workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w", help="workspace (default: the recipe's)")] = None,
) -> None:
    """Run every stage a recipe names: mine, analyze, validate, export."""
    from skillforge.execution import InfraError
    from skillforge.export.hub import HubError
    from skillforge.gitio import RepoError
    from skillforge.mine.local import MineError
    from skillforge.stages.recipe import RecipeError, load_run_recipe
    from skillforge.stages.run import run_recipe

    try:
        r = load_run_recipe(recipe)
    except RecipeError as e:
        fail(str(e))
    unknown = unknown_samples(r)
    if unknown:
        fail(f"{recipe}: {unknown}")
    refuse_file(r.resolve(r.export.out) if r.export.out else None, "the recipe's export.out")
    ws_path = workspace or r.resolve(r.workspace) or Path(".skillforge") / r.name
    ws = open_workspace(ws_path)
    try:
        with phase_progress() as progress:
            summary = run_recipe(r, ws, progress=progress)
    except (MineError, HubError, InfraError, RepoError, ValueError) as e:
        where = f" (see {e.log_path})" if getattr(e, "log_path", None) else ""
        fail(f"{e}{where}\neverything done so far is kept in {ws.root}; run the same command again to resume")
    render_validation(ws, summary.validated)
    exported = summary.exported.exported
    console.print(f"dataset: {exported.out} ({', '.join(f'{k}={v}' for k, v in exported.rows.items()) or 'empty'})")
    if summary.exported.pushed:
        console.print(f"published: {summary.exported.pushed}")


def unknown_samples(recipe) -> str:
    """What is wrong with the bundled samples a run recipe names ("" when nothing), before anything is created."""
    from skillforge.resources import resource_dir

    root = resource_dir("samples")
    known = sorted(p.name for p in root.iterdir() if (p / "history.yaml").is_file())
    bad = [s.sample for s in recipe.sources if s.sample and s.sample not in known]
    if not bad:
        return ""
    return f"no bundled sample {', '.join(map(repr, bad))}; the samples are: {', '.join(known)}"


@app.command("eval")
def eval_(
    dataset: Annotated[str, typer.Argument(help="an exported dataset folder (or Hub id owner/name)")],
    predictions: Annotated[Optional[Path], typer.Option(help='JSONL of {"instance_id": ..., "answer": ...}, or SWE-bench predictions {"instance_id": "owner__repo-N", "model_patch": ...} (the PR\'s editing instance); several rows per instance for Avg@k')] = None,
    model: Annotated[Optional[str], typer.Option(help="generate the predictions with this local transformers model first")] = None,
    k: Annotated[int, typer.Option("--k", help="predictions per instance averaged (Avg@k)")] = 1,
    report: Annotated[Optional[Path], typer.Option(help="write the results as JSON here")] = None,
    split: Annotated[str, typer.Option(help="dataset split")] = "train",
    skill: Annotated[Optional[list[str]], typer.Option(help="only these skills (repeatable)")] = None,
    workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w", help="the workspace that built the dataset (repositories, images)")] = None,
    repos_dir: Annotated[Optional[Path], typer.Option(help="clones as DIR/owner__name for execution-based skills; a missing one is cloned there from the URL the dataset's environments.json records (default .skillforge/repos)")] = None,
    workers: Annotated[int, typer.Option(help="parallel scorers")] = 2,
) -> None:
    """Score predictions per skill with the same scorers that validated the dataset (Avg@k). Exits
    non-zero, listing the errors, when a prediction could not be scored."""
    from skillforge.evaluate import backend_for_dataset, evaluate, load_instances, load_predictions
    from skillforge.export.io import DatasetError
    from skillforge.schema import SKILLS

    if (predictions is None) == (model is None):
        fail("give exactly one of --predictions FILE or --model PATH")
    unknown_skills = [s for s in skill or () if s not in SKILLS]
    if unknown_skills:
        fail(f"--skill {', '.join(unknown_skills)}: no such skill; the skills are: {', '.join(SKILLS)}")
    refuse_file(report, "--report", want="file")
    if workspace is not None and workspace.exists() and not workspace.is_dir():
        fail(f"{workspace} is a file, not a workspace directory")
    try:
        preds = load_predictions(predictions) if predictions is not None else None
        instances = load_instances(dataset, split=split, skills=skill or SKILLS)
        if preds is None:
            try:
                from skillforge.train.generate import generate_answers
            except ImportError as e:
                fail(f"--model needs the training extra ({e}): pip install torch==2.13.0 'skillforge[train]'")
            with console.status(f"generating {k} answer(s) per instance with {model}"):
                preds = generate_answers(model, instances, k=k)
        backend = backend_for_dataset(dataset, workspace=workspace, repos_dir=repos_dir)
        with phase_progress() as progress:
            result = evaluate(instances, preds, backend, k=k, workers=workers, progress=progress)
    except DatasetError as e:
        fail(str(e))
    data = result.to_json()
    console.print(eval_table(data, f"Evaluation of {dataset} (Avg@{k})"))
    if result.unknown:
        shown = ", ".join(result.unknown[:5]) + (f" and {len(result.unknown) - 5} more" if len(result.unknown) > 5 else "")
        say_warning(f"{len(result.unknown)} prediction ids name no instance of {dataset} (left out): {shown}")
    if report is not None:
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(json.dumps(data, indent=2))
        except OSError as e:
            fail(f"--report {report}: cannot be written: {e.strerror or e}")
        console.print(f"report: {report}")
    if data["unscored"]:
        for line in scoring_errors(data["errors"]):
            say_line("[red]scoring error:[/]", line)
        n = sum(len(r.scores) for r in result.skills.values())
        fail(f"{len(data['unscored'])} of {n} instances could not be scored (errors above); they are left out "
             "of the scores, not counted 0")


def say_warning(message: str) -> None:
    say_line("[yellow]warning:[/]", message)


def say_line(kind: str, message: str) -> None:
    """One line on stderr: ``kind`` (markup) then ``message`` as it is, whatever the terminal's width."""
    from rich.markup import escape

    err_console.print(f"{kind} {escape(message)}", soft_wrap=True, highlight=False)


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
    console.print(images_table(images))
    envs = {i.id for i in images if i.kind == "env"}
    console.print(f"{len(envs)} env images, {len({i.id for i in images if i.kind == 'base'})} base images; "
                  f"disk: {human_size(disk_usage(images))} (own = layers on top of the base image; base layers counted once)")
    if any(i.kind == "env" and not i.layout for i in images):
        console.print("* built by an older skillforge: rebuilt when next used; `skillforge images prune` removes it")


@images_app.command("prune")
def images_prune(
    repo: Annotated[Optional[str], typer.Option(help="only this repository's env images (owner/name)")] = None,
    keep_workspace: Annotated[Optional[Path], typer.Option(help="keep the env images this workspace's environments use")] = None,
    all_images: Annotated[bool, typer.Option("--all", help="base images too (rebuilt from the Debian mirror or pulled when next needed)")] = False,
    dry_run: Annotated[bool, typer.Option(help="show what would be removed, remove nothing")] = False,
) -> None:
    """Remove env images (with --all base images too) to reclaim disk; images in use are kept. Also removes the run, setup, pool and session containers of processes of this host that were killed."""
    from skillforge.execution import InfraError
    from skillforge.execution.client import docker_client
    from skillforge.execution.images import disk_usage, list_images, prune_images
    from skillforge.execution.cleanup import dead_owner_containers, remove_dead_owners

    keep: set[str] = set()
    if keep_workspace is not None:
        ws = open_workspace(keep_workspace, create=False)
        keep = {e.image for e in ws.environments() if e.image}
    try:
        client = docker_client()
        containers = len(dead_owner_containers(client)) if dry_run else remove_dead_owners(client)
        before = {i.tag: i for i in list_images(client)}
        removed = prune_images(client, kind=None if all_images else "env", repo=repo, keep=keep, dry_run=dry_run)
    except InfraError as e:
        fail(str(e))
    gone = [before[t] for t in removed if t in before]
    reclaimed = disk_usage(gone)
    verb = "would remove" if dry_run else "removed"
    for tag in removed:
        console.print(f"{verb} {tag}")
    console.print(f"{verb} {len(removed)} images ({human_size(reclaimed)}"
                  f"{', plus the base image layers' if all_images and any(i.kind == 'base' for i in gone) else ''})"
                  + (f"; {verb} {containers} containers of killed processes" if containers else ""))


@env_app.command("show")
def env_show(
    workspace: WorkspaceOpt,
    repo: Annotated[Optional[str], typer.Option(help="only this repository (owner/name)")] = None,
) -> None:
    """Per repository era: the Python, the date dependencies were resolved as of, how the recipe was found
    (inferred, repaired, recorded) and, when nothing worked, why."""
    from skillforge.environments.report import era_choices

    choices = era_choices(open_workspace(workspace, create=False), repo)
    if not choices:
        fail(f"no environment was resolved in {workspace} yet (run `skillforge validate` first)")
    console.print(env_table(choices))


@env_app.command("export")
def env_export(
    workspace: WorkspaceOpt,
    repo: Annotated[Optional[str], typer.Option(help="only this repository (owner/name)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="write one YAML file per repository here (e.g. recipes/environments); default: print")] = None,
) -> None:
    """The recipes that worked, as recipe files (the format of recipes/environments), one variant per era."""
    from skillforge.environments.report import export_recipes

    ws = open_workspace(workspace, create=False)
    refuse_file(out, "--out")
    files = export_recipes(ws, repo)
    if not files:
        fail(f"no environment worked in {workspace} yet" + (f" for {repo}" if repo else ""))
    for name, text in files.items():
        if out is None:
            sys.stdout.write(text + "\n")
            continue
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name.replace('/', '__')}.yaml"
        path.write_text(text)
        console.print(f"wrote {path}")


@app.command()
def doctor(workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w")] = None) -> None:
    """Check Docker, git, base images, tokens and disk: what is missing and how to fix it."""
    from skillforge.doctor import run_checks

    checks = run_checks(workspace)
    console.print(doctor_table(checks))
    if any(not c.ok and c.required for c in checks):
        raise typer.Exit(1)


@app.command()
def report(
    workspace: WorkspaceOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Per stage and per skill: candidates built, why the rest were dropped, and the share of
    test-touching PRs that yield a validated instance (after mine, analysis or validate)."""
    from skillforge.stats import workspace_stats

    stats = workspace_stats(open_workspace(workspace, create=False))
    if as_json:
        sys.stdout.write(stats.to_json() + "\n")
        return
    for table in report_tables(stats):
        console.print(table)
    if stats.decontaminated:
        console.print(f"decontaminated: {len(stats.decontaminated)} PRs excluded")


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
