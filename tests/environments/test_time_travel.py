"""An old-era environment built end to end with zero configuration, for real.

The repository is made in the test with a history dated 2021: its code imports
``werkzeug.urls.url_quote`` (gone since Werkzeug 3.0, 2023), and a test module
imports ``yaml`` without any requirement naming it (PyYAML). Today's dependencies cannot
run it; dependencies resolved as of the commit's date can, once the repair loop
has installed the missing module (the PR's own tests need it: the smoke run at
the merge commit shows it missing). The PR's FAIL_TO_PASS comes out right, the
environment's choice is recorded per era, ``skillforge env show`` prints it and
``skillforge env export`` writes a recipe file that loads and builds the same
environment again.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.docker

REPO = "example/quoter"
WHEN = "2021-06-15T12:00:00+00:00"

SETUP_PY = """\
from setuptools import setup

setup(
    name="quoter",
    version="1.0",
    packages=["quoter"],
    python_requires=">=3.6",
    install_requires=["Werkzeug>=1.0"],
    extras_require={"tests": ["pytest"]},
    classifiers=["Programming Language :: Python :: 3.8", "Programming Language :: Python :: 3.9"],
)
"""
QUOTER = """\
from werkzeug.urls import url_quote


def quote_path(path):
    return url_quote(path, safe="")
"""
FIXED = QUOTER.replace('safe=""', 'safe="/"')
TEST_OLD = """\
import yaml

from quoter import quote_path


def test_space():
    assert quote_path("a b") == "a%20b"


def test_yaml_is_there():
    assert yaml.safe_load("a: 1") == {"a": 1}
"""
TEST_NEW = """\
import yaml

from quoter import quote_path


def test_slash_is_kept():
    assert quote_path("a/b") == "a/b"


def test_paths_from_yaml():
    assert [quote_path(p) for p in yaml.safe_load("[x y]")] == ["x%20y"]
"""


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_DATE": WHEN, "GIT_COMMITTER_DATE": WHEN, "HOME": str(repo.parent)}
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, check=True,
                          env={**env, "PATH": "/usr/bin:/bin:/usr/local/bin"}).stdout


@pytest.fixture(scope="module")
def quoter(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("tt") / "quoter"
    (repo / "quoter").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "setup.py").write_text(SETUP_PY)
    (repo / "quoter" / "__init__.py").write_text(QUOTER)
    (repo / "tests" / "test_quote.py").write_text(TEST_OLD)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    _git(repo, "checkout", "-q", "-b", "keep-slash")
    (repo / "quoter" / "__init__.py").write_text(FIXED)
    (repo / "tests" / "test_slash.py").write_text(TEST_NEW)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Keep slashes")
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "-q", "--no-ff", "keep-slash", "-m", "Merge pull request #1 from example/keep-slash")
    return repo


def test_an_environment_of_2021_builds_repairs_and_is_recorded(docker_client, quoter, tmp_path):
    from skillforge.cli.main import app
    from skillforge.execution import RunSpec
    from skillforge.settings import Settings
    from skillforge.stages.context import workspace_backend
    from skillforge.environments.recipes import load_recipe_variants
    from skillforge.mine.local import mine_local
    from skillforge.stages.analyze import run_analyze
    from skillforge.stages.config import ValidateConfig
    from skillforge.stages.validate import run_validation
    from skillforge.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    mine_local(ws, quoter, repo_name=REPO)
    run_analyze(ws)
    summary = run_validation(ws, ValidateConfig(workers=1, reruns=1, skills=["localization", "editing"]))
    facts = ws.pr_facts("example__quoter-1")
    assert facts is not None, [(r.pr_id, r.stage, r.outcome) for r in ws.prs()]
    assert facts.FAIL_TO_PASS == ["tests/test_slash.py::test_slash_is_kept"]

    [(key, record)] = ws.resolutions(REPO).items()
    assert key.startswith(f"{REPO}@era:2021h1:")
    winner = record["winner"]["recipe"]
    assert winner["exclude_newer"].startswith("2021-06-1") and winner["python"] in ("3.8", "3.9")
    assert any(step.startswith("sf-install") and "PyYAML" in step for step in winner["install"]), winner["install"]
    repaired = [t for t in record["tried"] if t["repairs"]]
    assert repaired and "PyYAML" in " ".join(repaired[-1]["repairs"])
    assert summary.facts.inferred == {key: record["winner"]["name"]}
    backend, _repos = workspace_backend(ws, Settings.from_env())
    got = backend.executor.run(record["winner"]["name"], RunSpec(
        ws.pr("example__quoter-1").record.merge_commit, label="versions",
        script="import werkzeug, yaml; print('werkzeug', werkzeug.__version__)"))
    assert got.exit_code == 0 and "werkzeug 2.0." in got.output, got.output[-2000:]  # not today's 3.x

    runner = CliRunner()
    shown = runner.invoke(app, ["env", "show", "-w", str(ws.root)], env={"COLUMNS": "250"})
    assert shown.exit_code == 0 and REPO in shown.output and "repair" in shown.output, shown.output
    out = tmp_path / "recipes"
    exported = runner.invoke(app, ["env", "export", "-w", str(ws.root), "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    variants = load_recipe_variants(out / "example__quoter.yaml")[REPO]
    assert [v.when.since for v in variants] == ["2021-01-01"] and variants[0].environment.key() == \
        record["winner"]["name"].rsplit("-", 1)[1]
