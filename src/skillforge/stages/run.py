"""``skillforge run RECIPE``: every stage a recipe names, resumable at any point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from skillforge.stages.analyze import AnalyzeSummary, Filters, run_analyze
from skillforge.settings import Settings
from skillforge.stages.export import export_dataset
from skillforge.export.hf import ExportSummary
from skillforge.mine.local import MineSummary, mine_local
from skillforge.stages.recipe import RunRecipe
from skillforge.schema import SKILLS
from skillforge.stages.validate import ValidateOptions, ValidateSummary, Validator
from skillforge.resources import resource_dir
from skillforge.workspace import Workspace

SAMPLES_DIR = resource_dir("samples")


@dataclass
class RunSummary:
    mined: list[MineSummary] = field(default_factory=list)
    github: list = field(default_factory=list)  # GithubMineSummary per GitHub source
    analyzed: AnalyzeSummary | None = None
    validated: ValidateSummary | None = None
    exported: ExportSummary | None = None
    pushed: str | None = None  # commit URL on the Hub, when the recipe publishes


def materialize_sources(recipe: RunRecipe, ws: Workspace) -> list[tuple[Path, str | None, Path | None, dict | None]]:
    """(git path, repo name, issues file, environment) per local source; samples are generated into the workspace."""
    from skillforge.sample import generate_sample_repo

    out = []
    for src in recipe.sources:
        if src.github or src.search:
            continue
        if src.sample:
            dest = ws.root / "sources" / src.sample
            path = generate_sample_repo(dest, SAMPLES_DIR / src.sample)
        else:
            path = recipe.resolve(src.path)
        out.append((path, src.repo, recipe.resolve(src.issues), src.environment))
    return out


def run_recipe(recipe: RunRecipe, ws: Workspace, *, settings: Settings | None = None,
               progress: Callable[[str, str], None] | None = None, export_dir: Path | None = None) -> RunSummary:
    progress = progress or (lambda phase, msg: None)
    summary = RunSummary()
    environments: dict[str, dict] = {}
    since = datetime.fromisoformat(recipe.mine.since) if recipe.mine.since and recipe.mine.since != "last" else None
    for path, repo_name, issues, env in materialize_sources(recipe, ws):
        progress("mine", str(path))
        ms = mine_local(ws, path, repo_name=repo_name, limit=recipe.mine.limit, since=since, issues_file=issues)
        summary.mined.append(ms)
        if env:
            environments[ms.repo] = env
    for src in recipe.sources:
        if not (src.github or src.search):
            continue
        from skillforge.mine.github import MineFilters, mine_github

        repos = [src.github] if isinstance(src.github, str) else src.github
        progress("mine", src.search or ", ".join(repos or []))
        since_gh = "last" if recipe.mine.since == "last" else since
        summary.github.append(mine_github(
            ws, repos, search=src.search, api_url=src.api_url, repos_dir=recipe.resolve(src.repos_dir) or ws.root / "repos",
            limit=recipe.mine.limit, since=since_gh, filters=MineFilters(require_issue=src.require_issue)))
        if src.environment and repos:
            environments.update({r: src.environment for r in repos})
    f = recipe.filters
    filters = Filters(f.max_files, f.max_code_lines, f.require_issue, decontaminate=recipe.resolve(f.decontaminate),
                      drop_trivial=f.drop_trivial, near_duplicate_threshold=f.near_duplicate_threshold)
    summary.analyzed = run_analyze(ws, filters=filters,
                                   on_progress=lambda pr: progress("analyze", pr))
    v = recipe.validate_
    recipes_dir = recipe.resolve(recipe.recipes_dir)
    if recipes_dir is None and recipe.path is not None and (recipe.path.parent / "environments").is_dir():
        recipes_dir = recipe.path.parent / "environments"  # recipes/environments beside recipes/*.yaml
    options = ValidateOptions(workers=v.workers, reruns=v.reruns, skills=tuple(v.skills or SKILLS),
                              recipes_dir=recipes_dir, environments=environments, executor=v.executor,
                              ray_address=v.ray_address)
    summary.validated = Validator(ws, settings, options).run(progress)
    out = export_dir or recipe.resolve(recipe.export.out) or ws.root / "dataset"
    progress("export", str(out))
    e = recipe.export
    summary.exported = export_dataset(ws, out, format=e.format, split=e.split, pretty_name=f"skillforge: {recipe.name}")
    if e.push_to_hub:
        from skillforge.export.hub import push_to_hub

        progress("export", f"push to {e.push_to_hub}")
        summary.pushed = push_to_hub(out, e.push_to_hub, private=e.private, revision=e.revision,
                                     commit_message=f"Upload {recipe.name} with skillforge")
    return summary
