"""Recipe inference in the pipeline, for real: a repository without a recipe gets
candidates from its configuration; the first whose image builds and whose smoke
run collects the tests is recorded as the repository's recipe and reused; PRs
that fail are dropped with their triage class, and every PR and candidate has a
``report.json``."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from skillforge.environments.resolver import EnvRequest
from skillforge.schema import Triage
from skillforge.stages.config import ValidateConfig
from skillforge.stages.context import ExecutionContext
from skillforge.stages.validate import run_validation

pytestmark = pytest.mark.docker

REPO = "example/inferpkg"

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "inferpkg"
version = "0.1.0"
requires-python = ">=3.11,<3.12"

[project.optional-dependencies]
test = ["pytest", "skillforge-no-such-package-4711"]

[tool.setuptools.packages.find]
where = ["src"]
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, check=True).stdout


def _write(repo: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)


def _pull(repo: Path, number: int, branch: str, files: dict[str, str], title: str) -> None:
    _git(repo, "checkout", "-q", "-b", branch)
    _write(repo, files)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", title)
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "-q", "--no-ff", branch, "-m", f"Merge pull request #{number} from example/{branch}\n\n{title}")


@pytest.fixture(scope="module")
def infer_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("infer") / "inferpkg"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo, {"pyproject.toml": PYPROJECT,
                  "src/inferpkg/__init__.py": "def triple(x):\n    return x * 2\n\n\ndef double(x):\n    return x * 2\n",
                  "tests/test_basic.py": "from inferpkg import double\n\n\ndef test_double():\n"
                                         "    assert double(2) == 4\n"})
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    # PR 1: its new test module hangs when imported (before and after the change)
    _pull(repo, 1, "half", {
        "src/inferpkg/half.py": "def half(x):\n    return x / 2\n",
        "tests/test_half.py": "import time\n\ntime.sleep(10 ** 6)\n\n\ndef test_half():\n    pass\n",
    }, "Add half")
    # PR 2: fixes triple, with a test that fails before and passes after
    _pull(repo, 2, "fix-triple", {
        "src/inferpkg/__init__.py": "def triple(x):\n    return x * 3\n\n\ndef double(x):\n    return x * 2\n",
        "tests/test_triple.py": "from inferpkg import triple\n\n\ndef test_triple():\n    assert triple(2) == 6\n",
    }, "Fix triple")
    return repo


def test_inferred_recipe_falls_back_is_recorded_and_reused(docker_client, settings, infer_repo, tmp_path):
    from skillforge.cli.render import triage_table
    from skillforge.mine.local import mine_local
    from skillforge.stages.analyze import run_analyze
    from skillforge.stats import workspace_stats
    from skillforge.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    mine_local(ws, infer_repo, repo_name=REPO)
    run_analyze(ws)
    assert {r.pr_id for r in ws.prs(stage="analyzed")} == {"example__inferpkg-1", "example__inferpkg-2"}
    fast = dataclasses.replace(settings, test_timeout=8)
    messages: list[str] = []
    config = ValidateConfig(workers=2, reruns=1, skills=["localization", "editing"])
    summary = run_validation(ws, config, lambda phase, m: messages.append(f"{phase}: {m}"), settings=fast)

    # candidates in order: the full install (its test extra names a package that does not exist) fails
    # to install, the minimal one builds and collects the tests of the newest PR
    [(key, record)] = ws.resolutions(REPO).items()
    assert key.startswith(f"{REPO}@era:")  # one environment per era of the repository's history
    tried = record["tried"]
    assert [t["ok"] for t in tried] == [False, True], tried
    failed = tried[0]["outcome"]
    assert failed["triage"] == "install" and tried[0]["recipe"]["install"][0].endswith("-e '.[test]'")
    assert failed["log"] and failed["message"]
    assert "skillforge-no-such-package-4711" in (ws.logs_dir / "environments" / f"{tried[0]['name']}.log").read_text()
    assert record["winner"]["name"] == tried[1]["name"] == summary.facts.inferred[key]
    # the newest PR's module first; the era's other module (it hangs at import) is run on its own and does
    # not fail the environment
    assert record["smoke_tests"] == ["tests/test_triple.py", "tests/test_half.py"]
    env = ws.environment(tried[1]["name"])
    assert env.status == "ready" and env.message.startswith("inferred: candidate 2 of 2, smoke run passed")
    assert (ws.logs_dir / "environments" / f"{tried[0]['name']}.log").is_file()
    assert (ws.logs_dir / "environments" / f"{tried[1]['name']}-smoke.log").is_file()

    # PR 2 executed and its candidates validated; PR 1 dropped as a timeout while collecting
    fixed = ws.pr_facts("example__inferpkg-2")
    assert fixed.FAIL_TO_PASS == ["tests/test_triple.py::test_triple"]
    assert {r.status for r in ws.candidates()} == {"valid"}
    hung = ws.prs(stage="dropped")
    assert [r.pr_id for r in hung] == ["example__inferpkg-1"]
    assert hung[0].outcome.render().startswith("timeout: tests time out after the fix (see ")
    report = json.loads((ws.logs_dir / "example__inferpkg-1" / "report.json").read_text())
    assert report["triage"] == "timeout" and report["status"] == "dropped"
    assert [r["status"] for r in report["runs"]] == ["timeout", "timeout"]
    assert "still collecting" in Path(report["runs"][1]["log"]).read_text() or \
        "test session starts" in Path(report["runs"][1]["log"]).read_text()
    ok = json.loads((ws.logs_dir / "example__inferpkg-2.editing" / "report.json").read_text())
    assert ok["status"] == "valid" and ok["gold_scores"] == [1.0] and ok["null_score"] == 0.0
    assert ok["tests_status"]["FAIL_TO_PASS"] == {"success": ["tests/test_triple.py::test_triple"], "failure": []}
    assert summary.facts.prs_dropped[Triage.TIMEOUT] == 1
    table = triage_table(workspace_stats(ws))
    assert table.columns[0]._cells == ["timeout"] and table.columns[2]._cells == ["1"]

    # later runs reuse the recorded recipe: no inference, no smoke run
    again: list[str] = []
    with ExecutionContext.open(ws, config, fast) as ctx:
        head = _git(infer_repo, "rev-parse", "HEAD").strip()
        request = EnvRequest(REPO, head, key=key)
        recipes, source = ctx.resolver.plan(request)
        assert source == "recorded" and recipes[0].key() == ctx.resolver.recorded(key).key()
        resolution = ctx.resolver.resolve(request, lambda phase, m: again.append(m))
    assert resolution.name == record["winner"]["name"] and resolution.how == "recorded"
    assert not any("trying inferred recipe" in m for m in again), again


@pytest.fixture(scope="module")
def skipping_repo(tmp_path_factory) -> Path:
    """The newest PR's only test module skips every test (a tool it needs is not installed)."""
    repo = tmp_path_factory.mktemp("skipping") / "skippkg"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo, {"pyproject.toml": PYPROJECT.replace("inferpkg", "skippkg").replace(
                      ', "skillforge-no-such-package-4711"', ""),
                  "src/skippkg/__init__.py": "def double(x):\n    return x * 2\n",
                  "tests/test_basic.py": "from skippkg import double\n\n\ndef test_double():\n"
                                         "    assert double(2) == 4\n"})
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    _pull(repo, 1, "typing", {
        "src/skippkg/__init__.py": "def double(x: int) -> int:\n    return x * 2\n",
        "tests/test_typing.py": "import shutil\n\nimport pytest\n\n\n"
                                "@pytest.mark.skipif(not shutil.which('no-such-checker'), reason='Requires the checker.')\n"
                                "def test_types():\n    pass\n",
    }, "Annotate double")
    return repo


def test_a_smoke_module_whose_tests_all_skip_does_not_fail_the_environment(docker_client, settings, skipping_repo,
                                                                            tmp_path):
    from skillforge.mine.local import mine_local
    from skillforge.stages.analyze import run_analyze
    from skillforge.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    mine_local(ws, skipping_repo, repo_name="example/skippkg")
    run_analyze(ws)
    config = ValidateConfig(workers=1, reruns=1, skills=["localization"])
    run_validation(ws, config, settings=settings)

    [(_key, record)] = ws.resolutions("example/skippkg").items()
    assert record["smoke_tests"] == ["tests/test_typing.py"]
    name = record["winner"]["name"]
    assert ws.environment(name).status == "ready", record
    logs = ws.logs_dir / "environments"
    skipped = (logs / f"{name}-smoke.log").read_text()
    assert "1 skipped" in skipped and "tests: 0 passed of 1" in skipped
    # after the module that only skips, the default selection showed the environment working
    fallback = sorted(p.name for p in logs.glob(f"{name}-smoke*.log"))
    assert len(fallback) == 2, fallback
    # the PR's own tests only skip: no FAIL_TO_PASS, an outcome of the PR, not an environment failure
    [pr] = ws.prs(stage="dropped")
    assert pr.outcome.triage is Triage.NO_FAIL_TO_PASS, pr.outcome
