"""Environments: recipes (the model lives in ``skillforge.schema``; recipe files
and commit ranges in ``recipes``), inference from a repository's tree
(``infer``) and the one resolver that chooses, builds and records them
(``resolver``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skillforge.execution.backend import Environment
    from skillforge.workspace import Workspace


def workspace_environments(ws: "Workspace") -> list["Environment"]:
    """The environments a workspace has defined (name, repository, recipe, reference commit)."""
    from skillforge.execution.backend import Environment

    return [Environment(e.name, e.repo, e.recipe, e.reference_commit) for e in ws.environments()]
