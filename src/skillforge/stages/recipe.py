"""Run recipes (``recipes/*.yaml``): which sources to mine, how, and every stage
after it, so ``skillforge run RECIPE`` is the whole job in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="a local git repository")
    sample: str | None = Field(default=None, description="a bundled sample, generated from samples/<name>")
    github: str | list[str] | None = Field(default=None, description="owner/name (or a list) mined through the GitHub API")
    search: str | None = Field(default=None, description="GitHub repository search, e.g. 'language:python stars:>500'")
    api_url: str = Field(default="https://api.github.com", description="GitHub API URL (GitHub Enterprise: https://HOST/api/v3)")
    repos_dir: str | None = Field(default=None, description="clone cache for GitHub sources (default: <workspace>/repos)")
    require_issue: bool = Field(default=False, description="GitHub: keep only PRs that resolve an issue")
    repo: str | None = Field(default=None, description="owner/name to record (default: from the origin remote)")
    issues: str | None = Field(default=None, description="issues file (default: <path>.issues.json)")
    environment: dict[str, Any] | None = Field(default=None, description="environment recipe for this repository")

    @model_validator(mode="after")
    def _one_kind(self) -> "SourceSpec":
        if sum(x is not None for x in (self.path, self.sample, self.github, self.search)) != 1:
            raise ValueError("a source needs exactly one of: path, sample, github, search")
        return self


class MineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int | None = None
    since: str | None = None


class FilterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_files: int = 20
    max_code_lines: int = 1500
    require_issue: bool = False
    decontaminate: str | None = Field(default=None, description="decontamination list (instance ids owner__repo-N or "
                                      "owner/repo#N lines, relative to the recipe): those PRs are dropped and reported")
    drop_trivial: bool = Field(default=True, description="drop PRs whose code changes are only whitespace, comments, "
                               "docstrings or version bumps")
    near_duplicate_threshold: float | None = Field(default=0.85, ge=0, le=1, description="drop a PR whose code patch "
                                                   "is this similar (Jaccard) to an earlier one's; null keeps them")


class ValidateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workers: int = Field(default=0, description="parallel test containers; 0 sizes the pool to the machine "
                                                "(with executor ray: tasks in flight, 0 = twice the cluster's CPUs)")
    reruns: int = Field(default=3, description="runs of every before/after execution and gold score (flaky tests)")
    skills: list[str] | None = None
    executor: Literal["local", "ray"] = Field(default="local", description="local worker pool, or Ray tasks "
                                                                          "across a cluster")
    ray_address: str | None = Field(default=None, description="ray: the cluster to join (default RAY_ADDRESS, "
                                                              "else a local Ray instance)")


class ExportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str | None = None
    format: Literal["hf", "swebench", "verl"] = "hf"
    split: str = "train"
    push_to_hub: str | None = Field(default=None, description="publish the export as this Hub dataset (owner/name); "
                                    "token from HF_TOKEN or `hf auth login`, endpoint from HF_ENDPOINT")
    private: bool = Field(default=False, description="with push_to_hub: create the repository private")
    revision: str | None = Field(default=None, description="with push_to_hub: branch to commit to")


class RunRecipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    workspace: str | None = None
    sources: list[SourceSpec]
    mine: MineSpec = Field(default_factory=MineSpec)
    filters: FilterSpec = Field(default_factory=FilterSpec)
    validate_: ValidateSpec = Field(default_factory=ValidateSpec, alias="validate")
    export: ExportSpec = Field(default_factory=ExportSpec)
    recipes_dir: str | None = Field(default=None, description="directory of per-repository environment recipes")

    path: Path | None = Field(default=None, exclude=True)

    def resolve(self, value: str | None) -> Path | None:
        """Paths in a recipe are relative to the recipe file."""
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() or self.path is None else (self.path.parent / p).resolve()


class RecipeError(ValueError):
    pass


def load_run_recipe(path: str | Path) -> RunRecipe:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise RecipeError(f"recipe not found: {path}") from None
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from None
    try:
        recipe = RunRecipe.model_validate(data or {})
    except ValidationError as e:
        raise RecipeError(f"{path}: {e}") from None
    recipe.path = path.resolve()
    return recipe
