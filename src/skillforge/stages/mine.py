"""The mine stage: merged pull requests (with their issues and reviews) from a
source into the workspace: a local git history, a bundled sample, or GitHub
(``owner/name`` or a repository search).

What a source string means (``skillforge mine SOURCE``):

* ``github:owner/name`` is always GitHub;
* a string whose first path component exists on disk is a local path (a
  missing repository there is an error, never a GitHub request);
* a bare ``owner/name`` goes to GitHub only when nothing of it exists locally.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from skillforge.mine.local import MineError, MineSummary, mine_local
from skillforge.mine.since import parse_since
from skillforge.resources import resource_dir
from skillforge.stages.config import MineConfig, SourceSpec, resolve_path
from skillforge.workspace import Workspace

Progress = Callable[[str, str], None]  # (phase, message)
_OWNER_NAME = re.compile(r"[\w.-]+/[\w.-]+")


def _noop(phase: str, message: str) -> None:
    return None


def source_spec(text: str, **options) -> SourceSpec:
    """The source a command-line string names (see the module docstring)."""
    if text.startswith("github:"):
        name = text[len("github:"):]
        if not _OWNER_NAME.fullmatch(name):
            raise MineError(f"{text}: github: needs owner/name")
        return SourceSpec(github=name, **options)
    first = Path(text).expanduser().parts[0] if text else ""
    if first and (Path(first).exists() or Path(text).expanduser().is_absolute() or text.startswith(".")):
        return SourceSpec(path=text, **options)
    if _OWNER_NAME.fullmatch(text):
        return SourceSpec(github=text, **options)
    raise MineError(f"{text}: no such local repository, and not a GitHub owner/name")


@dataclass
class MineStageSummary:
    local: list[MineSummary] = field(default_factory=list)
    github: list = field(default_factory=list)  # mine.github.GithubMineSummary per GitHub source
    environments: dict[str, dict] = field(default_factory=dict)  # repo -> environment recipe a source gives


def sample_repo(ws: Workspace, name: str) -> Path:
    """A bundled sample's git repository, generated into the workspace (``sources/<name>``)."""
    from skillforge.sample import generate_sample_repo

    fixtures = resource_dir("samples") / name
    if not (fixtures / "history.yaml").is_file():
        known = sorted(p.name for p in resource_dir("samples").iterdir() if (p / "history.yaml").is_file())
        raise MineError(f"no bundled sample {name!r}; the samples are: {', '.join(known)}")
    return generate_sample_repo(ws.root / "sources" / name, fixtures)


def run(ws: Workspace, config: MineConfig, progress: Progress = _noop, *, sources: list[SourceSpec],
        base: Path | None = None, console=None) -> MineStageSummary:
    """Mine every source. ``base``: the folder relative paths are read from (a run recipe's)."""
    summary = MineStageSummary()
    since = parse_since(config.since) if config.since else None
    for src in sources:
        if src.is_github:
            from skillforge.mine.github import MineFilters, mine_github

            repos = [src.github] if isinstance(src.github, str) else src.github
            progress("mine", src.search or ", ".join(repos or []))
            summary.github.append(mine_github(
                ws, repos, search=src.search, api_url=src.api_url,
                repos_dir=resolve_path(src.repos_dir, base) or ws.root / "repos", limit=config.limit,
                since=since, filters=MineFilters(require_issue=src.require_issue), console=console))
            if src.environment and repos:
                summary.environments.update({r: src.environment for r in repos})
            continue
        if since == "last":
            raise MineError("--since last is for GitHub sources; use a date for local histories")
        path = sample_repo(ws, src.sample) if src.sample else resolve_path(src.path, base)
        progress("mine", str(path))
        mined = mine_local(ws, path, repo_name=src.repo, limit=config.limit, since=since,
                           issues_file=resolve_path(src.issues, base))
        summary.local.append(mined)
        if src.environment:
            summary.environments[mined.repo] = src.environment
    return summary
