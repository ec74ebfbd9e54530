"""Fixtures of the export tests.

``validated_sample``: the bundled sample through the real pipeline (``recipes/sample.yaml``:
mine, analyze, validate in Docker), built once per session, so exports of really validated
instances can be scored and run from outside skillforge. It fails, never skips, when no
Docker engine answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ValidatedSample:
    workspace: Path
    dataset: Path  # the hf export of the run


@pytest.fixture(scope="session")
def validated_sample(tmp_path_factory) -> ValidatedSample:
    import docker

    from skillforge.stages.recipe import load_run_recipe
    from skillforge.stages.run import run_recipe
    from skillforge.workspace import Workspace

    try:
        docker.from_env().ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"no Docker engine answers ({exc}); start one with scripts/ensure-docker.sh", pytrace=False)
    root = tmp_path_factory.mktemp("validated-sample")
    recipe = load_run_recipe(ROOT / "recipes" / "sample.yaml")
    recipe.validate_ = recipe.validate_.model_copy(update={"reruns": 1})  # flakiness is validation's own concern
    summary = run_recipe(recipe, Workspace(root / "ws"), export_dir=root / "dataset")
    rows = summary.exported.exported.rows
    assert {"editing", "test_generation", "reproduction"} <= set(rows), rows
    return ValidatedSample(workspace=root / "ws", dataset=root / "dataset")
