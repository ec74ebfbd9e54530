"""Shared fixtures of the skill tests: the bundled sample's real pull requests.

``sample_build(number)`` gives a :class:`BuildInput` for one sample PR from its
real git history and analysis, with FAIL_TO_PASS from the sample's ground
truth (no Docker). ``validated_sample`` runs the real validation stage (Docker)
on PRs #13 and #16 for test generation, review and reproduction; PR #13 is
given its branch's first commit as the revision before review, the way the
GitHub miner records a PR that changed after review comments.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from skillforge.schema import PRFacts, ReviewComment

SAMPLE_REPO = "skillforge-samples/minicalc"
DOCKER_PRS = (13, 16)
DOCKER_SKILLS = ("test_generation", "review", "reproduction")


@pytest.fixture(scope="session")
def minicalc(tmp_path_factory) -> Path:
    from skillforge.resources import resource_dir
    SAMPLES_DIR = resource_dir("samples")
    from skillforge.sample import generate_sample_repo

    return generate_sample_repo(tmp_path_factory.mktemp("skills-sample") / "minicalc", SAMPLES_DIR / "minicalc")


@pytest.fixture(scope="session")
def analyzed_sample(minicalc, tmp_path_factory):
    from skillforge.stages.analyze import run_analyze
    from skillforge.mine.local import mine_local
    from skillforge.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("skills-ws") / "ws")
    mine_local(ws, minicalc, repo_name=SAMPLE_REPO)
    run_analyze(ws)
    return ws


@pytest.fixture(scope="session")
def sample_build(analyzed_sample):
    """number -> BuildInput of that sample PR (FAIL_TO_PASS from the sample's ground truth)."""
    from skillforge.resources import resource_dir
    SAMPLES_DIR = resource_dir("samples")
    from skillforge.gitio import RepoSet
    from skillforge.sample import load_history
    from skillforge.schema import pr_instance_id
    from skillforge.skills import BuildInput

    truth = {p["number"]: p.get("fail_to_pass") or [] for p in load_history(SAMPLES_DIR / "minicalc")["pulls"]}
    repos = RepoSet(analyzed_sample)

    def make(number: int, **changes) -> BuildInput:
        pr_id = pr_instance_id(SAMPLE_REPO, number)
        pr = analyzed_sample.get_pr(pr_id).model_copy(update=changes)
        analysis = analyzed_sample.pr_analysis(pr_id)
        handle = repos[SAMPLE_REPO]
        f2p = truth[number]
        facts = PRFacts(environment="minicalc-env", test_files=sorted({t.split("::")[0] for t in f2p}),
                        FAIL_TO_PASS=f2p)
        return BuildInput(pr=pr, analysis=analysis, facts=facts, read_new=handle.reader(pr.merge_commit),
                          read_old=handle.reader(pr.base_commit), repo_files=list(handle.files(pr.base_commit)),
                          read_at=handle.read)

    return make


def branch_first_commit(repo: Path, merge_commit: str) -> str:
    """The first commit of a merged branch (``merge^2`` walked back to the fork point)."""
    out = subprocess.run(["git", "-C", str(repo), "rev-list", "--reverse", f"{merge_commit}^1..{merge_commit}^2"],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0]


@pytest.fixture(scope="session")
def branch_first():
    return branch_first_commit


@pytest.fixture(scope="session")
def docker_engine():
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"no Docker engine answers ({exc}); start one with scripts/ensure-docker.sh", pytrace=False)
    return client


@pytest.fixture(scope="session")
def validated_sample(docker_engine, minicalc, tmp_path_factory):
    """A workspace whose PRs #13 and #16 went through the real validation stage (one
    rerun), with PR #13 recorded as changed after review. Returns (workspace, summary)."""
    from skillforge.stages.analyze import run_analyze
    from skillforge.mine.local import mine_local
    from skillforge.stages.recipe import load_run_recipe
    from skillforge.schema import pr_instance_id
    from skillforge.schema import Outcome, Triage
    from skillforge.settings import Settings
    from skillforge.stages.config import ValidateConfig
    from skillforge.stages.context import workspace_backend
    from skillforge.stages.validate import run_validation
    from skillforge.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("skills-docker") / "ws")
    mine_local(ws, minicalc, repo_name=SAMPLE_REPO)
    keep = {pr_instance_id(SAMPLE_REPO, n) for n in DOCKER_PRS}
    for row in ws.prs():
        if row.pr_id not in keep:
            ws.set_pr_stage(row.pr_id, "dropped", outcome=Outcome.failed(Triage.INPUT, "not part of the skill tests"))
    pr13 = ws.get_pr(pr_instance_id(SAMPLE_REPO, 13))
    reviewed = pr13.model_copy(update={
        "pre_review_commit": branch_first_commit(minicalc, pr13.merge_commit),
        "review_comments": [ReviewComment(path="src/minicalc/textfmt.py", body="Negative numbers are still "
                                          "left-aligned, aren't they?", author="ada-lindqvist")],
        "source": "github",
    })
    ws.replace_pr_record(reviewed)
    run_analyze(ws)
    root = Path(__file__).resolve().parents[2]
    recipe = load_run_recipe(root / "recipes" / "sample.yaml").sources[0].environment
    config = ValidateConfig(workers=2, reruns=1, skills=list(DOCKER_SKILLS))
    backend, _repos = workspace_backend(ws, Settings.from_env())
    summary = run_validation(ws, config, explicit={SAMPLE_REPO: recipe}, backend=backend)
    return ws, summary, backend
