"""``--executor ray``: the same validation as Ray tasks on a local Ray cluster
(each task opening the node's Docker engine) gives the same instances and
statuses as the local pool; results stream into the workspace, so a run that
stopped part-way resumes with only the missing work."""

from __future__ import annotations

import json
import sqlite3

import pytest

from skillforge.stages.config import ValidateConfig
from skillforge.stages.validate import run_validation

SAMPLE_REPO = "skillforge-samples/minicalc"

SKILLS = ("localization", "editing", "reproduction")


def statuses(ws) -> dict[str, tuple[str, str | None]]:
    """Every candidate's status and every PR's stage, each with its triage class."""
    with sqlite3.connect(ws.db_path) as db:
        cands = {r[0]: (r[1], r[2]) for r in db.execute("SELECT instance_id, status, triage FROM candidates")}
        prs = {r[0]: (r[1], r[2]) for r in db.execute("SELECT pr_id, stage, triage FROM prs")}
    return {**cands, **prs}


def validate(ws, executor: str, recipe: dict):
    config = ValidateConfig(workers=2, reruns=1, skills=list(SKILLS), executor=executor)
    return run_validation(ws, config, explicit={SAMPLE_REPO: recipe})


@pytest.fixture(scope="module")
def ray_cluster():
    import ray  # scripts/setup.sh installs the distributed extra; a missing Ray fails the test

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="skillforge-tests")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_ws(docker_client, sample_workspace, sample_env_recipe):
    """The sample's newest PRs validated by the local pool."""
    ws = sample_workspace("local", limit=4)
    summary = validate(ws, "local", sample_env_recipe)
    assert summary.executor == "local"
    return ws


@pytest.mark.docker
def test_ray_executor_matches_local_and_resumes(docker_client, ray_cluster, local_ws, sample_workspace,
                                                sample_env_recipe, sample_source):

    ray_ws = sample_workspace("ray", limit=4)
    summary = validate(ray_ws, "ray", sample_env_recipe)
    assert summary.executor == "ray"
    assert sum(summary.validate.valid.values()) >= 3, summary
    assert statuses(ray_ws) == statuses(local_ws)
    assert summary.runs_executed > 0

    # results and logs streamed into the driver's workspace
    for iid, (status, _reason) in statuses(ray_ws).items():
        if status in ("valid", "invalid", "executed", "dropped"):
            report = json.loads((ray_ws.logs_dir / iid / "report.json").read_text())
            assert report["instance_id"] == iid and report["status"] == status
    executed = [iid for iid, (s, _r) in statuses(ray_ws).items() if s in ("built", "executed")]
    for pr_id in {i.split(".")[0] for i in executed}:
        report = json.loads((ray_ws.logs_dir / pr_id / "report.json").read_text())
        for run in report["runs"]:
            assert run["log"].startswith(str(ray_ws.logs_dir)), run["log"]
            assert (ray_ws.logs_dir / pr_id / "before.log").is_file()

    # a run that stopped part-way: two candidates and one PR not recorded yet
    with sqlite3.connect(ray_ws.db_path) as db:
        redo = [r[0] for r in db.execute("SELECT instance_id FROM candidates WHERE status='valid' "
                                         "ORDER BY instance_id LIMIT 2")]
        db.executemany("UPDATE candidates SET status='built', triage=NULL, message='' WHERE instance_id=?",
                       [(i,) for i in redo])
        pr = db.execute("SELECT pr_id FROM prs WHERE stage='dropped' AND triage IN ('test_failure', "
                        "'no_fail_to_pass') LIMIT 1").fetchone()
        if pr:
            db.execute("UPDATE prs SET stage='analyzed', triage=NULL, message='' WHERE pr_id=?", pr)
    before = statuses(ray_ws)
    resumed = validate(ray_ws, "ray", sample_env_recipe)
    assert sum(resumed.validate.valid.values()) == len(redo)
    assert resumed.facts.prs_executed == 0 and sum(resumed.facts.prs_dropped.values()) == (1 if pr else 0), \
        resumed.facts.environment_errors
    after = statuses(ray_ws)
    assert after == statuses(local_ws)
    assert {k for k in after if after[k] != before[k]} == set(redo) | ({pr[0]} if pr else set())

    # a later run in the same Ray session (worker processes are reused) on a PR mined since:
    # its source trees were never fetched by those workers
    from skillforge.stages.analyze import run_analyze
    from skillforge.mine.local import mine_local

    mine_local(ray_ws, sample_source, repo_name=SAMPLE_REPO, limit=1)
    run_analyze(ray_ws)
    new = set(statuses(ray_ws)) - set(after)
    assert len(new) == 1
    later = validate(ray_ws, "ray", sample_env_recipe)
    assert later.facts.environment_errors == {} and not later.facts.errors and not later.validate.errors, later
    assert statuses(ray_ws)[new.pop()][0] in ("built", "dropped")


@pytest.mark.docker
def test_revalidating_the_export_reproduces_every_instance(docker_client, local_ws, tmp_path):
    """An exported dataset, scored again from scratch (fresh backend, no cache, its
    own environments.json) reproduces every instance on every rerun."""
    from skillforge.evaluate import backend_for_dataset
    from skillforge.export.hf import export_hf
    from skillforge.export.io import read_exported_instances
    from skillforge.stages.validate import revalidate_dataset

    out = tmp_path / "dataset"
    exported = export_hf(local_ws, out)
    instances = read_exported_instances(out, skills=SKILLS)
    assert len(instances) == sum(exported.rows.values()) >= 5
    assert {i.instance_id for i in instances} == {r.instance_id for r in local_ws.candidates(status="valid")
                                                  if r.skill in SKILLS}
    backend = backend_for_dataset(out, workspace=local_ws.root, logs_dir=tmp_path / "logs")
    report = revalidate_dataset(instances, backend, reruns=2, workers=2)
    assert report.not_reproduced == {}, report.not_reproduced
    assert set(report.reproduced) == {i.instance_id for i in instances}
    assert report.flaky == [] and report.flake_rate == 0.0
    executed = [o for o in report.outcomes.values() if o.skill != "localization"]
    assert executed and all(len(o.gold_scores) == 2 for o in executed)
    print(f"re-validated {len(instances)} instances x {report.reruns} reruns: flake rate {report.flake_rate:.2%}")


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_run_recipe_selects_the_executor(tmp_path, executor):
    from skillforge.stages.recipe import RecipeError, load_run_recipe

    path = tmp_path / "r.yaml"
    path.write_text(f"name: x\nsources: [{{sample: minicalc}}]\nvalidate: {{executor: {executor}, reruns: 5}}\n")
    spec = load_run_recipe(path).validate_
    assert (spec.executor, spec.reruns, spec.workers) == (executor, 5, 0)
    path.write_text("name: x\nsources: [{sample: minicalc}]\nvalidate: {executor: slurm}\n")
    with pytest.raises(RecipeError, match="executor"):
        load_run_recipe(path)


def test_defaults_reruns_three_and_a_pool_sized_to_the_machine():
    import os

    from skillforge.execution.runner import default_workers
    from skillforge.settings import Settings

    assert ValidateConfig().reruns == 3 and ValidateConfig().workers == 0
    n = default_workers(Settings())
    assert 1 <= n <= (os.cpu_count() or 1)
    assert default_workers(Settings(mem_limit="100000g")) == 1
