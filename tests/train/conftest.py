"""Fixtures of the training tests.

``text_dataset``: localization and review instances of the bundled sample, made
without Docker (real mining, real tree-sitter analysis, the skills' own
``build``; the review labels are the ones ``build`` gives: gold patch YES, a
patch with a hunk dropped NO), written as an exported dataset folder that
``datasets.load_dataset(dir, name=skill)`` reads. Their scorers execute nothing.

``sample_dataset``: the real sample pipeline (``recipes/sample.yaml``: mine,
analyze, validate in Docker, export), built once per session. It fails, never
skips, when no Docker engine answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def write_dataset(out: Path, instances: list, split: str = "train") -> Path:
    """An exported-format dataset folder: one parquet config per skill, a card declaring them."""
    import datasets
    import yaml

    from skillforge.export.hf import features_for
    from skillforge.skills import REGISTRY

    out.mkdir(parents=True, exist_ok=True)
    configs = []
    for skill in sorted({i.skill for i in instances}):
        model = REGISTRY[skill].instance_model
        rows = [i.model_dump(mode="json") for i in instances if i.skill == skill]
        path = out / skill / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list(rows, features=features_for(model)).to_parquet(str(path))
        configs.append({"config_name": skill, "data_files": [{"split": split, "path": f"{skill}/{split}-*.parquet"}]})
    (out / "README.md").write_text("---\n" + yaml.safe_dump({"configs": configs}) + "---\n")
    (out / "environments.json").write_text(json.dumps({}))
    return out


def build_text_instances(root: Path) -> list:
    """Localization and review instances of the sample, without executing anything."""
    from skillforge.stages.analyze import run_analyze
    from skillforge.mine.local import mine_local
    from skillforge.resources import resource_dir
    SAMPLES_DIR = resource_dir("samples")
    from skillforge.gitio import RepoSet
    from skillforge.sample import generate_sample_repo
    from skillforge.schema import PRFacts
    from skillforge.skills import REGISTRY, BuildInput, Dropped
    from skillforge.workspace import Workspace

    ws = Workspace(root / "ws")
    source = generate_sample_repo(root / "minicalc", SAMPLES_DIR / "minicalc")
    mine_local(ws, source, repo_name="skillforge-samples/minicalc")
    run_analyze(ws)
    repos = RepoSet(ws)
    out = []
    for row in ws.prs(stage="analyzed"):
        pr = row.record
        analysis = ws.pr_analysis(pr.instance_id)
        facts = PRFacts(environment="sample", test_files=analysis.test_files, FAIL_TO_PASS=analysis.test_functions)
        handle = repos[pr.repo]
        src = BuildInput(pr=pr, analysis=analysis, facts=facts, read_new=handle.reader(pr.merge_commit),
                         read_old=handle.reader(pr.base_commit), repo_files=list(handle.files(pr.base_commit)))
        for skill in ("localization", "review"):
            try:
                out.extend(REGISTRY[skill].build(src))
            except Dropped:
                pass
    return out


@pytest.fixture(scope="session")
def dataset_writer():
    return write_dataset


@pytest.fixture(scope="session")
def text_instances(tmp_path_factory) -> list:
    return build_text_instances(tmp_path_factory.mktemp("sample-text"))


@pytest.fixture(scope="session")
def text_dataset(tmp_path_factory, text_instances) -> Path:
    return write_dataset(tmp_path_factory.mktemp("text-dataset") / "dataset", text_instances)


@dataclass(frozen=True)
class SampleDataset:
    workspace: Path
    dataset: Path


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory) -> SampleDataset:
    import docker

    from skillforge.stages.run import run_recipe
    from skillforge.stages.recipe import load_run_recipe
    from skillforge.workspace import Workspace

    try:
        docker.from_env().ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"no Docker engine answers ({exc}); start one with scripts/ensure-docker.sh", pytrace=False)
    root = tmp_path_factory.mktemp("sample")
    recipe = load_run_recipe(ROOT / "recipes" / "sample.yaml")
    # one run per execution is enough here (flakiness is the validation tests' concern)
    recipe.validate_ = recipe.validate_.model_copy(update={"reruns": 1})
    recipe.export = recipe.export.model_copy(update={"out": str(root / "dataset")})
    summary = run_recipe(recipe, Workspace(root / "ws"))
    assert summary.exported.exported.rows.get("editing"), summary.exported.exported.rows
    return SampleDataset(workspace=root / "ws", dataset=root / "dataset")


@pytest.fixture
def docker_labels():
    """Fails the test when it leaves agentic session containers behind."""
    import docker

    from skillforge.execution.images import LABEL_KIND

    client = docker.from_env()

    def sessions() -> set[str]:
        return {c.id for c in client.containers.list(all=True, filters={"label": f"{LABEL_KIND}=session"})
                if (c.labels or {}).get("skillforge.environment", "").startswith("skillforge-samples__")}

    before = sessions()
    yield
    deadline = time.monotonic() + 15  # a removal the engine is still finishing
    while (left := sessions() - before) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"session containers left behind: {left}"
