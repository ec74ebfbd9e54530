"""Run recipes (``recipes/*.yaml``): which sources to mine, and the configuration
of every stage after it (the stage models of ``stages.config``, embedded), so
``skillforge run RECIPE`` is the whole job in one command."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skillforge.stages.config import AnalyzeConfig, ExportConfig, MineConfig, SourceSpec, ValidateConfig


class RunRecipe(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(description="the dataset's name (its card's title)")
    workspace: str | None = Field(default=None, description="workspace directory, relative to the recipe "
                                                            "(default .skillforge/<name>)")
    sources: list[SourceSpec] = Field(description="where pull requests come from")
    mine: MineConfig = Field(default_factory=MineConfig)
    filters: AnalyzeConfig = Field(default_factory=AnalyzeConfig)
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    export: ExportConfig = Field(default_factory=ExportConfig)
    recipes_dir: str | None = Field(default=None, description="directory of per-repository environment recipes "
                                                              "(also validate.recipes_dir)")

    path: Path | None = Field(default=None, exclude=True)

    @property
    def base(self) -> Path | None:
        """The folder paths in the recipe are relative to."""
        return self.path.parent if self.path is not None else None

    def resolve(self, value: str | None) -> Path | None:
        """Paths in a recipe are relative to the recipe file."""
        from skillforge.stages.config import resolve_path

        return resolve_path(value, self.base)


class RecipeError(ValueError):
    pass


def _explain(error: ValidationError, path: Path) -> str:
    """A recipe's validation errors, one per line, with the keys valid where an unknown one was given."""
    lines = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            model = RunRecipe
            for part in e["loc"][:-1]:
                field = model.model_fields.get(part) or next(
                    (f for f in model.model_fields.values() if f.alias == part), None)
                annotation = getattr(field, "annotation", None)
                model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
                if model is None:
                    break
            valid = sorted((f.alias or n) for n, f in model.model_fields.items() if n != "path") if model else []
            lines.append(f"{where}: unknown key" + (f"; valid keys: {', '.join(valid)}" if valid else ""))
        else:
            lines.append(f"{where}: {e['msg']}")
    return f"{path}: " + "; ".join(lines)


def load_run_recipe(path: str | Path) -> RunRecipe:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise RecipeError(f"recipe not found: {path}") from None
    except IsADirectoryError:
        raise RecipeError(f"{path} is a directory, not a recipe file") from None
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from None
    if data is not None and not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping (name, sources, ...), got {type(data).__name__}")
    try:
        recipe = RunRecipe.model_validate(data or {})
    except ValidationError as e:
        raise RecipeError(_explain(e, path)) from None
    recipe.path = path.resolve()
    return recipe
