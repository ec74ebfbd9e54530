"""What the resolver chose for a workspace's repositories, era by era: for
``skillforge env show`` (a table) and ``skillforge env export`` (recipe files in
the format of ``recipes/environments/``, so inference and hand-written recipes
are one format: an exported file can be committed, edited and given back with
``--recipes-dir``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from skillforge.environments.recipes import dump_recipe_variants
from skillforge.gitio import commit_records
from skillforge.schema import EnvRecipe, Outcome
from skillforge.workspace import Workspace


@dataclass
class EraChoice:
    """One resolution: a repository era (or reference commit) and what was kept for it."""

    key: str
    repo: str
    reference: str
    date: datetime | None
    recipe: EnvRecipe | None  # None: nothing worked
    environment: str
    how: str
    attempts: int
    repairs: list[str]
    last_failure: Outcome | None


def era_choices(ws: Workspace, repo: str | None = None) -> list[EraChoice]:
    out: list[EraChoice] = []
    for key, data in ws.resolutions(repo).items():
        this_repo = key.split("@", 1)[0]
        tried = data.get("tried") or []
        winner = data.get("winner")
        failed = [t for t in tried if not t.get("ok") and t.get("outcome")]
        last = Outcome.model_validate(failed[-1]["outcome"]) if failed else None
        repairs = next((t.get("repairs") or [] for t in reversed(tried) if t.get("ok")), [])
        out.append(EraChoice(key, this_repo, data.get("reference", ""), None,
                             EnvRecipe.model_validate(winner["recipe"]) if winner else None,
                             winner["name"] if winner else "", data.get("how", "" if winner else "failed"),
                             len(tried), list(repairs), last))
    by_repo: dict[str, list[EraChoice]] = {}
    for c in out:
        by_repo.setdefault(c.repo, []).append(c)
    for name, choices in by_repo.items():
        location = ws.repo_location(name)
        if not location:
            continue
        try:
            records = commit_records(location, [c.reference for c in choices if c.reference])
        except Exception:  # noqa: BLE001 - a clone that moved: no dates
            records = {}
        for c in choices:
            r = records.get(c.reference)
            c.date = datetime.fromisoformat(r.commit_date) if r and r.commit_date else None
    return sorted(out, key=lambda c: (c.repo, c.date.isoformat() if c.date else "", c.key))


def _half_year_bounds(when: datetime) -> tuple[str, str]:
    start = datetime(when.year, 1 if when.month <= 6 else 7, 1)
    end = datetime(when.year, 7, 1) if when.month <= 6 else datetime(when.year + 1, 1, 1)
    return start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d")


def export_recipes(ws: Workspace, repo: str | None = None) -> dict[str, str]:
    """Recipe file text per repository: one variant per era that worked, for the half-year of its
    reference commit (newest first; an era without a date matches every commit)."""
    files: dict[str, list[tuple[str | None, str | None, EnvRecipe]]] = {}
    for c in era_choices(ws, repo):
        if c.recipe is None:
            continue
        since, until = _half_year_bounds(c.date) if c.date else (None, None)
        variants = files.setdefault(c.repo, [])
        if not any(v[0] == since for v in variants):
            variants.append((since, until, c.recipe))
    return {name: dump_recipe_variants(name, variants) for name, variants in files.items()}
