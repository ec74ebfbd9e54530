"""Environment recipes: how to install a repository and run its tests.

A recipe is written by hand under ``recipes/`` (one YAML file per repository)
or inferred from the repository's packaging files (``environments.infer``). Only
``python``, ``system_packages``, ``install`` and ``env`` shape the environment
image (``EnvRecipe.key``); the other fields are read at run time.

Recipe file shapes::

    repo: owner/name
    environment:
      python: "3.11"
      install: ["python -m pip install -e '.[test]'"]

or, keyed by a commit or version range (the first entry whose ``when`` matches
the commit wins; an entry without ``when`` matches every commit)::

    repo: owner/name
    environments:
      - when: {since: "2023-01-11"}          # a date, or a commit the commit must contain
        environment: {python: "3.11", install: [...]}
      - when: {versions: "<23.1"}            # PEP 440 specifier on the nearest release tag
        environment: {python: "3.9", install: [...]}

or a list of such mappings (one entry per repository). ``RECIPE_SCHEMA`` is the
JSON Schema of a file (``recipes/environments/recipe.schema.json``).

When no recipe exists, ``infer_recipes`` lists candidates in the order they
should be tried (the validator builds each, smoke-runs test collection in it and
keeps the first that passes).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from skillforge.gitio import CommitInfo
from skillforge.schema import EnvRecipe

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ][0-9:.+-Z]*)?")
_SHA = re.compile(r"[0-9a-fA-F]{7,40}")


class RecipeWhen(BaseModel):
    """Which commits a recipe is for. Every field given must hold."""

    model_config = ConfigDict(extra="forbid")

    since: str | None = Field(default=None, description="a date (YYYY-MM-DD: commits made on or after it) or a "
                                                        "commit (commits that contain it)")
    until: str | None = Field(default=None, description="a date (commits made before it) or a commit (commits "
                                                        "that do not contain it)")
    versions: str | None = Field(default=None, description="PEP 440 specifier, e.g. '>=23.1,<25', on the version "
                                                           "of the nearest release tag at or before the commit")

    @field_validator("since", "until", mode="before")
    @classmethod
    def _point(cls, value: Any) -> Any:
        if value is None:
            return None
        value = str(value).strip()  # YAML reads an unquoted date as a date
        if not (_DATE.fullmatch(value) or _SHA.fullmatch(value)):
            raise ValueError(f"since/until must be a date (YYYY-MM-DD) or a commit id, got {value!r}")
        return value

    @field_validator("versions")
    @classmethod
    def _spec(cls, value: str | None) -> str | None:
        if value is not None:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet

            try:
                SpecifierSet(value)
            except InvalidSpecifier as exc:
                raise ValueError(f"versions must be a PEP 440 specifier such as '>=1.2,<2': {exc}") from None
        return value

    def empty(self) -> bool:
        return self.since is None and self.until is None and self.versions is None


class RecipeVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: RecipeWhen = Field(default_factory=RecipeWhen)
    environment: EnvRecipe = Field(default_factory=EnvRecipe)


class RecipeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo: str
    environment: EnvRecipe | None = None
    environments: list[RecipeVariant] | None = Field(default=None, description="recipes by commit or version "
                                                                                "range, first match wins")

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", value):
            raise ValueError(f"repo must be owner/name, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> "RecipeEntry":
        if self.environment is not None and self.environments is not None:
            raise ValueError("give either environment or environments, not both")
        if self.environments is not None and not self.environments:
            raise ValueError("environments is empty")
        return self

    def variants(self) -> list[RecipeVariant]:
        if self.environments is not None:
            return list(self.environments)
        return [RecipeVariant(environment=self.environment or EnvRecipe())]


RECIPE_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "skillforge environment recipe file",
    "description": "One repository's recipe (or a list of them): how to build its environment and run its tests.",
    "oneOf": [{"$ref": "#/$defs/RecipeEntry"},
              {"type": "array", "items": {"$ref": "#/$defs/RecipeEntry"}}],
}


def recipe_schema() -> dict:
    """The JSON Schema of a recipe file (kept in ``recipes/environments/recipe.schema.json``)."""
    inner = RecipeEntry.model_json_schema(ref_template="#/$defs/{model}")
    defs = inner.pop("$defs", {})
    defs["RecipeEntry"] = inner
    return {**RECIPE_SCHEMA, "$defs": dict(sorted(defs.items()))}


def load_recipe_variants(path: str | Path) -> dict[str, list[RecipeVariant]]:
    """Recipes of one YAML file, by repository (``owner/name``), each a list of
    variants by commit range (first match wins)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    entries = data if isinstance(data, list) else [data]
    out: dict[str, list[RecipeVariant]] = {}
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: entry {i} must be a mapping with repo and environment")
        try:
            entry = RecipeEntry.model_validate(raw)
        except ValueError as exc:
            raise ValueError(f"{path}: entry {i}: {exc}") from exc
        if entry.repo in out:
            raise ValueError(f"{path}: {entry.repo} has more than one recipe")
        out[entry.repo] = entry.variants()
    return out


def _default_variant(variants: list[RecipeVariant]) -> EnvRecipe:
    """The recipe for commits no range names (the catch-all entry, else the first)."""
    return next((v.environment for v in variants if v.when.empty()), variants[0].environment)


def load_recipe_file(path: str | Path) -> dict[str, EnvRecipe]:
    """Recipes of one YAML file, by repository; for a file with ranges, its
    catch-all recipe (``load_recipe_variants`` keeps the ranges)."""
    return {repo: _default_variant(v) for repo, v in load_recipe_variants(path).items()}


def load_recipe_book(directory: str | Path) -> dict[str, list[RecipeVariant]]:
    """All recipes under ``directory`` (``*.yaml``/``*.yml``, recursively), by
    repository, with their commit ranges."""
    directory = Path(directory)
    out: dict[str, list[RecipeVariant]] = {}
    origin: dict[str, Path] = {}
    if not directory.is_dir():
        return out
    for path in sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")]):
        for repo, variants in load_recipe_variants(path).items():
            if repo in out:
                raise ValueError(f"{repo} has recipes in both {origin[repo]} and {path}")
            out[repo], origin[repo] = variants, path
    return out


def load_recipes(directory: str | Path) -> dict[str, EnvRecipe]:
    """All recipes under ``directory``, by repository (catch-all recipe of each)."""
    return {repo: _default_variant(v) for repo, v in load_recipe_book(directory).items()}


# --------------------------------------------------------------------------- commit ranges


def _as_date(value: str) -> datetime | None:
    if not _DATE.fullmatch(value):
        return None
    d = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def when_matches(when: RecipeWhen, info: CommitInfo) -> bool:
    """Whether ``info``'s commit is in the range ``when`` describes. A range
    that needs what ``info`` lacks (no date, no tag) does not match."""
    for bound, after in ((when.since, True), (when.until, False)):
        if bound is None:
            continue
        date = _as_date(bound)
        if date is not None:
            if info.date is None:
                return False
            mine = info.date if info.date.tzinfo else info.date.replace(tzinfo=timezone.utc)
            if (mine >= date) != after:
                return False
        else:
            if info.contains is None:
                return False
            if info.contains(bound) != after:
                return False
    if when.versions is not None:
        from packaging.specifiers import SpecifierSet
        from packaging.version import Version

        if info.version is None or Version(info.version) not in SpecifierSet(when.versions, prereleases=True):
            return False
    return True


def select_recipe(variants: list[RecipeVariant], info: CommitInfo) -> EnvRecipe | None:
    """The first variant whose range holds the commit (None when none does)."""
    return next((v.environment for v in variants if when_matches(v.when, info)), None)


def dump_recipe(repo: str, recipe: EnvRecipe) -> str:
    """YAML text of a recipe file (e.g. to save an inferred recipe for editing)."""
    body = recipe.model_dump(exclude_defaults=True)
    body.setdefault("python", recipe.python)
    return yaml.safe_dump({"repo": repo, "environment": body}, sort_keys=False)


def dump_recipe_variants(repo: str, variants: list[tuple[str | None, str | None, EnvRecipe]]) -> str:
    """YAML text of a recipe file with one variant per range: ``(since, until, recipe)``, dates
    (YYYY-MM-DD) or None; ranges are written newest first (the first match wins)."""
    entries = []
    for since, until, recipe in sorted(variants, key=lambda v: v[0] or "", reverse=True):
        body = recipe.model_dump(exclude_defaults=True)
        body.setdefault("python", recipe.python)
        when = {k: v for k, v in (("since", since), ("until", until)) if v}
        entries.append({"when": when, "environment": body} if when else {"environment": body})
    text = yaml.safe_dump({"repo": repo, "environments": entries}, sort_keys=False, width=110)
    load_recipe_variants_text(text)  # what is written must load
    return text


def load_recipe_variants_text(text: str) -> dict[str, list[RecipeVariant]]:
    """``load_recipe_variants`` of YAML text (e.g. to check what ``dump_recipe_variants`` wrote)."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(text)
    try:
        return load_recipe_variants(fh.name)
    finally:
        Path(fh.name).unlink()
