"""``skillforge run RECIPE``: every stage a recipe names, resumable at any point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from skillforge.settings import Settings
from skillforge.stages import analyze, export, mine
from skillforge.stages.analyze import AnalyzeSummary
from skillforge.stages.export import ExportStageSummary
from skillforge.stages.mine import MineStageSummary
from skillforge.stages.recipe import RunRecipe
from skillforge.stages.validate import ValidationSummary, run_validation
from skillforge.workspace import Workspace

Progress = Callable[[str, str], None]  # (phase, message)


@dataclass
class RunSummary:
    mined: MineStageSummary
    analyzed: AnalyzeSummary
    validated: ValidationSummary
    exported: ExportStageSummary


def run_recipe(recipe: RunRecipe, ws: Workspace, *, settings: Settings | None = None,
               progress: Progress | None = None, export_dir=None) -> RunSummary:
    """Every stage of the recipe; ``export_dir`` overrides the recipe's ``export.out``."""
    progress = progress or (lambda phase, msg: None)
    if export_dir is not None:
        recipe = recipe.model_copy(update={"export": recipe.export.model_copy(update={"out": str(export_dir)})})
    base = recipe.base
    mined = mine.run(ws, recipe.mine, progress, sources=recipe.sources, base=base)
    analyzed = analyze.run(ws, recipe.filters, progress, base=base)
    config = recipe.validate_
    if config.recipes_dir is None:
        recipes_dir = recipe.recipes_dir
        if recipes_dir is None and base is not None and (base / "environments").is_dir():
            recipes_dir = str(base / "environments")  # recipes/environments beside recipes/*.yaml
        config = config.model_copy(update={"recipes_dir": recipes_dir})
    validated = run_validation(ws, config, progress, settings=settings, explicit=mined.environments, base=base)
    exported = export.run(ws, recipe.export, progress, base=base, pretty_name=f"skillforge: {recipe.name}",
                          default_commit_message=f"Upload {recipe.name} with skillforge")
    return RunSummary(mined, analyzed, validated, exported)
