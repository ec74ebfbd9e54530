"""The Docker executor against the real engine, on the tiny repository."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from skillforge.execution import RunSpec
from skillforge.execution.images import LABEL_KIND
from skillforge.execution.sandbox import DockerExecutor, EnvInfo, git_tree_tar

pytestmark = pytest.mark.docker

ENV = "example__tinypkg"
PRE_TEST_FAILS = "example__tinypkg-pretest"

BAD_PATCH = """\
diff --git a/src/tinypkg/__init__.py b/src/tinypkg/__init__.py
--- a/src/tinypkg/__init__.py
+++ b/src/tinypkg/__init__.py
@@ -1,2 +1,2 @@
-def add(x, y):
-    return x + y
+def add(x, y):
+    return y + x
"""


def new_file_patch(path: str, text: str) -> str:
    lines = text.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n{body}")


def run_containers(client):
    """Run containers of this module (other sessions may share the engine)."""
    return [c for c in client.containers.list(all=True, filters={"label": "skillforge.environment"}, ignore_removed=True)
            if c.labels.get(LABEL_KIND) == "run" and c.labels["skillforge.environment"] in (ENV, PRE_TEST_FAILS)]


@pytest.fixture(scope="module")
def executor(docker_client, settings, tiny_env, tiny_repo, tmp_path_factory):
    env, _log, _seconds = tiny_env
    calls = []

    def source(repo, commit):
        assert repo == tiny_repo.name
        calls.append(commit)
        return git_tree_tar(tiny_repo.path, commit)

    envs = {ENV: env, PRE_TEST_FAILS: EnvInfo(env.image, env.repo, env.recipe.model_copy(
        update={"pre_test": ["echo preparing", "false"]}))}
    ex = DockerExecutor(docker_client, settings, envs, source, log_dir=tmp_path_factory.mktemp("runlogs"))
    ex.source_calls = calls
    yield ex
    assert run_containers(docker_client) == [], "containers left behind"


def test_tests_at_reference_commit(executor, tiny_repo):
    result = executor.run(ENV, RunSpec(commit=tiny_repo.c1), log_name="inst-1/baseline")
    assert result.status == "ok", result.output
    assert result.exit_code == 1
    assert result.tests == {
        "tests/test_add.py::test_add": "passed",
        "tests/test_add.py::test_broken": "failed",
        "tests/test_add.py::test_skipped": "skipped",
        "tests/test_add.py::test_param[1-1-2]": "passed",
        "tests/test_add.py::test_param[2-2-5]": "failed",
        "tests/test_add.py::TestAdd::test_zero": "passed",
        "tests/test_old.py::test_old": "passed",
    }
    assert result.log_path and result.log_path.endswith("inst-1/baseline.log")
    log = open(result.log_path).read()
    assert "status: ok" in log and "exit code: 1" in log and "duration:" in log and "test_broken" in log


def test_gold_patch_and_selection(executor, tiny_repo):
    spec = RunSpec(commit=tiny_repo.c1, patches=(tiny_repo.gold,),
                   tests=("tests/test_sub.py::test_sub", "tests/test_add.py::test_add"))
    result = executor.run(ENV, spec)
    assert result.status == "ok", result.output
    assert result.exit_code == 0
    assert result.tests == {"tests/test_sub.py::test_sub": "passed", "tests/test_add.py::test_add": "passed"}
    assert result.log_path is None


def test_other_commit_replaces_tree(executor, tiny_repo):
    """Files deleted since the reference commit are gone; the editable install still works."""
    result = executor.run(ENV, RunSpec(commit=tiny_repo.c2))
    assert result.status == "ok", result.output
    assert "tests/test_sub.py::test_sub" in result.tests
    assert result.tests["tests/test_sub.py::test_sub"] == "passed"
    assert not any(t.startswith("tests/test_old.py") for t in result.tests)


def test_git_archive_source(docker_client, settings, executor, tiny_repo):
    """A tar made by plain ``git archive`` (with its pax header) works as a source."""
    import subprocess

    def source(repo, commit):
        return subprocess.run(["git", "-C", str(tiny_repo.path), "archive", "--format=tar", commit],
                              capture_output=True, check=True).stdout

    ex = DockerExecutor(docker_client, settings, {ENV: executor.environment(ENV)}, source)
    result = ex.run(ENV, RunSpec(commit=tiny_repo.c2, tests=("tests/test_sub.py",)))
    assert result.tests == {"tests/test_sub.py::test_sub": "passed"}, result.output


def test_missing_test_is_collection_error(executor, tiny_repo):
    result = executor.run(ENV, RunSpec(commit=tiny_repo.c1, tests=("tests/test_sub.py::test_sub",)))
    assert result.status == "collection_error"
    assert result.exit_code == 4
    assert not result.passed("tests/test_sub.py::test_sub")


def test_syntax_error_is_collection_error(executor, tiny_repo):
    patch = new_file_patch("tests/test_broken_syntax.py", "def test_x(:\n    pass")
    result = executor.run(ENV, RunSpec(commit=tiny_repo.c1, patches=(patch,)))
    assert result.status == "collection_error"
    assert result.exit_code == 2
    assert result.tests.get("tests/test_broken_syntax.py") == "error"


def test_patch_that_does_not_apply(executor, tiny_repo):
    result = executor.run(ENV, RunSpec(commit=tiny_repo.c1, patches=("", tiny_repo.gold, BAD_PATCH)))
    assert result.status == "apply_failed"
    assert result.reason.startswith("patch 2 does not apply"), result.reason
    assert result.tests == {}


def test_script_exit_codes_and_output(executor, tiny_repo):
    script = "import os, sys\nprint('cwd', os.getcwd())\nsys.exit(7)\n"
    result = executor.run(ENV, RunSpec(commit=tiny_repo.c1, script=script))
    assert result.status == "ok"
    assert result.exit_code == 7
    assert "cwd /testbed" in result.output
    ok = executor.run(ENV, RunSpec(commit=tiny_repo.c1, script="from tinypkg import add\nassert add(1, 2) == 3\n"))
    assert (ok.status, ok.exit_code) == ("ok", 0)
    with_patch = executor.run(ENV, RunSpec(commit=tiny_repo.c1, patches=(tiny_repo.gold,),
                                           script="from tinypkg import sub\nprint('sub', sub(3, 1))\n"))
    assert with_patch.exit_code == 0 and "sub 2" in with_patch.output


def test_isolation(executor, tiny_repo):
    script = """\
import os, socket
print("uid", os.getuid(), "gid", os.getgid())
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    print("network ON")
except OSError as exc:
    print("network off:", exc)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname(), timeout=3)
print("loopback ok")
with open("/proc/self/status") as fh:
    caps = [l for l in fh if l.startswith(("CapEff", "NoNewPrivs"))]
print("".join(caps))
open("/tmp/scratch", "w").write("x")
print("tmp ok")
"""
    result = executor.run(ENV, RunSpec(commit=tiny_repo.c1, script=script))
    assert result.exit_code == 0, result.output
    assert "uid 1000 gid 1000" in result.output
    assert "network off" in result.output and "network ON" not in result.output
    assert "loopback ok" in result.output and "tmp ok" in result.output
    assert "CapEff:\t0000000000000000" in result.output
    assert "NoNewPrivs:\t1" in result.output


def test_timeout_kills_and_removes(executor, tiny_repo, docker_client):
    patch = new_file_patch("tests/test_loop.py", "def test_loop():\n    while True:\n        pass")
    result = executor.run(ENV, RunSpec(commit=tiny_repo.c1, patches=(patch,), tests=("tests/test_loop.py",),
                                       timeout=4))
    assert result.status == "timeout"
    assert result.exit_code is None
    assert 4 <= result.duration < 30
    assert run_containers(docker_client) == []


def test_pre_test_failure(executor, tiny_repo):
    result = executor.run(PRE_TEST_FAILS, RunSpec(commit=tiny_repo.c1))
    assert result.status == "collection_error"
    assert "pre_test command 1 failed" in result.reason
    assert "preparing" in result.output


def test_parallel_runs_share_source_tars(executor, tiny_repo):
    before = len(executor.source_calls)
    specs = [RunSpec(commit=tiny_repo.c2, tests=("tests/test_sub.py::test_sub",), label=str(i)) for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: executor.run(ENV, s), specs))
    assert [r.tests for r in results] == [{"tests/test_sub.py::test_sub": "passed"}] * 4
    assert executor.source_calls.count(tiny_repo.c2) <= 1 and len(executor.source_calls) - before <= 1


def test_unknown_environment(executor, tiny_repo):
    from skillforge.execution import InfraError

    with pytest.raises(InfraError, match="unknown environment"):
        executor.run("nope", RunSpec(commit=tiny_repo.c1))


def test_missing_image_is_infra_error(executor, tiny_repo, docker_client, settings):
    from skillforge.execution import InfraError

    env = executor.environment(ENV)
    broken = DockerExecutor(docker_client, settings, {"x": dataclasses.replace(env, image="skillforge/env:absent")},
                            lambda repo, commit: git_tree_tar(tiny_repo.path, commit))
    with pytest.raises(InfraError):
        broken.run("x", RunSpec(commit=tiny_repo.c1))
