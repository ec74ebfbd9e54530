"""One configuration model per stage, written once: a run recipe embeds them
(``mine:``, ``filters:``, ``validate:``, ``export:``), the command line turns
their fields into flags (``cli.options``), and the stages read them.

Every field's description is its flag's help text; defaults live here only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from skillforge.schema import SKILLS

DEFAULT_RERUNS = 3
EXPORT_FORMATS = ("hf", "swebench", "verl")


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _paths_as_text(cls, data: Any) -> Any:
        """Paths may be given as ``Path`` objects (the library) or text (YAML, flags)."""
        if isinstance(data, dict):
            return {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in data.items()}
        return data


class MineConfig(StageConfig):
    limit: int | None = Field(default=None, ge=0, description="at most this many new pull requests (per "
                                                              "repository, newest first); 0 mines none")
    since: str | None = Field(default=None, description="only PRs merged on or after this date (YYYY-MM-DD); "
                                                        "'last' = new since the last run (GitHub)")

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, value: object) -> str | None:
        if value is None:
            return None
        value = str(value).strip()  # YAML reads an unquoted date as a date
        from skillforge.mine.since import parse_since

        parse_since(value)  # a clear error for anything else
        return value


class SourceSpec(StageConfig):
    """One source of pull requests (a run recipe's ``sources:`` entry, or ``skillforge mine``'s argument)."""

    path: str | None = Field(default=None, description="a local git repository")
    sample: str | None = Field(default=None, description="a bundled sample, generated from samples/<name>")
    github: str | list[str] | None = Field(default=None, description="owner/name (or a list) mined through the "
                                                                     "GitHub API")
    search: str | None = Field(default=None, description="GitHub repository search, e.g. 'language:python "
                                                         "stars:>500'")
    api_url: str = Field(default="https://api.github.com", description="GitHub API URL (GitHub Enterprise: "
                                                                       "https://HOST/api/v3)")
    repos_dir: str | None = Field(default=None, description="clone cache for GitHub sources (default: "
                                                            "<workspace>/repos)")
    require_issue: bool = Field(default=False, description="GitHub: keep only PRs that resolve an issue")
    repo: str | None = Field(default=None, description="owner/name to record (default: from the origin remote)")
    issues: str | None = Field(default=None, description="issues file, GitHub REST JSON (default: "
                                                         "<path>.issues.json)")
    environment: dict[str, Any] | None = Field(default=None, description="environment recipe for this repository")

    @model_validator(mode="after")
    def _one_kind(self) -> "SourceSpec":
        if sum(x is not None for x in (self.path, self.sample, self.github, self.search)) != 1:
            raise ValueError("a source needs exactly one of: path, sample, github, search")
        return self

    @property
    def is_github(self) -> bool:
        return self.github is not None or self.search is not None


class AnalyzeConfig(StageConfig):
    """The filters of the analysis stage (a run recipe's ``filters:``)."""

    max_files: int = Field(default=20, ge=1, description="drop PRs that change more code and test files")
    max_code_lines: int = Field(default=1500, ge=1, description="drop PRs that change more lines of code")
    require_issue: bool = Field(default=False, description="keep only PRs that resolve a linked issue")
    decontaminate: str | None = Field(default=None, description="decontamination list (instance ids "
                                      "owner__repo-N or owner/repo#N lines): those PRs are dropped and reported")
    drop_trivial: bool = Field(default=True, description="drop PRs whose code changes are only whitespace, "
                               "comments, docstrings or version bumps")
    near_duplicate_threshold: float | None = Field(default=0.85, ge=0, le=1, description="drop a PR whose code "
                                                   "patch is this similar (Jaccard) to an earlier one's; null keeps "
                                                   "them")


class ValidateConfig(StageConfig):
    """Settings of the facts, build and validate stages (``skillforge validate``)."""

    workers: int = Field(default=0, ge=0, description="parallel test containers; 0 sizes the pool to the machine "
                                                      "(with executor ray: tasks in flight, 0 = twice the cluster's "
                                                      "CPUs)")
    reruns: int = Field(default=DEFAULT_RERUNS, ge=1, description="runs of every before/after execution and gold "
                                                                  "score; a test whose outcome varies is flaky")
    skills: list[str] = Field(default_factory=lambda: list(SKILLS), description="skills to build and validate")
    executor: Literal["local", "ray"] = Field(default="local", description="local: a worker pool on this "
                                              "machine's Docker engine; ray: Ray tasks across a cluster, each node "
                                              "using its own Docker engine")
    ray_address: str | None = Field(default=None, description="with executor ray: the cluster to join ('auto', "
                                    "'HOST:6379', 'ray://HOST:10001'; default RAY_ADDRESS, else a local Ray "
                                    "instance)")
    recipes_dir: str | None = Field(default=None, description="per-repository environment recipes (YAML files, "
                                                              "ranges by commit); without one, recipes are inferred")
    warm_containers: bool = Field(default=True, description="with executor local: run an environment's tests in "
                                  "warm containers reset completely between runs (the sealed sandbox of a new "
                                  "container: network off, limits, non-root) instead of a new container per run")

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in SKILLS]
        if unknown:
            raise ValueError(f"unknown skill(s) {', '.join(unknown)}; choose from {', '.join(SKILLS)}")
        return value


class ExportConfig(StageConfig):
    out: str | None = Field(default=None, description="output folder (a Hub dataset repository as it stands); "
                                                      "default <workspace>/dataset")
    format: Literal["hf", "swebench", "verl"] = Field(default="hf", description="hf: one parquet config per skill "
                                                      "and a dataset card; swebench: editing instances as SWE-bench "
                                                      "JSONL; verl: verl's RL parquet")
    split: str = Field(default="train", description="split name")
    json_test_lists: bool = Field(default=False, description="swebench: FAIL_TO_PASS / PASS_TO_PASS as "
                                  "JSON-encoded strings, as SWE-bench's Hub datasets store them (default: lists)")
    push_to_hub: str | None = Field(default=None, description="then publish the folder as this Hub dataset "
                                    "(owner/name); token from HF_TOKEN or `hf auth login`")
    private: bool = Field(default=False, description="with push_to_hub: create the repository private (an existing "
                                                     "public one is refused)")
    revision: str | None = Field(default=None, description="with push_to_hub: branch to commit to (created when "
                                                           "missing)")
    commit_message: str | None = Field(default=None, description="with push_to_hub: commit message")
    hub_endpoint: str | None = Field(default=None, description="with push_to_hub: Hub URL (default: HF_ENDPOINT, "
                                                               "else https://huggingface.co)")


def resolve_path(value: str | None, base: Path | None) -> Path | None:
    """A path of a config, relative to ``base`` (a run recipe's folder) unless absolute."""
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() or base is None else (base / p).resolve()
