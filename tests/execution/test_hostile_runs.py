"""Hostile runs against the real engine: a test module that floods its output
is a test outcome (its JUnit results, a capped log), never an infrastructure
failure, in the sealed sandbox and in the warm pool; containers of a process
killed with SIGKILL are removed when the next execution context opens, and
those of a live process are not."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from skillforge.execution import RunSpec
from skillforge.execution.images import LABEL_KIND, LABEL_OWNER
from skillforge.execution.pool import WarmPool
from skillforge.execution.sandbox import LOG_CAP_MARKER, DockerExecutor, git_tree_tar
from skillforge.execution.triage import TEST_FAILURE, classify_run

pytestmark = pytest.mark.docker

ENV = "example__tinypkg-hostile"

LOUD = """\
import sys


def test_quiet():
    assert True


def test_loud():
    chunk = "x" * 1023 + "\\n"
    for _ in range(100 * 1024):  # 100 MiB of lines
        sys.stdout.write(chunk)
    assert False, "loud and wrong"
"""

ONE_LINE = """\
import sys


def test_quiet():
    assert True


def test_one_long_line():
    sys.stdout.write("y" * (50 << 20))  # 50 MiB without a newline
    assert False, "long and wrong"
"""


def new_file_patch(path: str, text: str) -> str:
    lines = text.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n{body}")


@pytest.fixture(scope="module")
def envs(tiny_env):
    env, _log, _seconds = tiny_env
    return {ENV: env}


@pytest.fixture(scope="module")
def source(tiny_repo):
    return lambda repo, commit: git_tree_tar(tiny_repo.path, commit)


@pytest.fixture(scope="module", params=["sealed", "pool"])
def executor(request, docker_client, settings, envs, source, tmp_path_factory):
    logs = tmp_path_factory.mktemp(f"hostile-{request.param}")
    if request.param == "sealed":
        yield DockerExecutor(docker_client, settings, envs, source, log_dir=logs)
        return
    pool = WarmPool(docker_client, settings, envs, source, size=1, log_dir=logs)
    yield pool
    pool.close()


@pytest.mark.parametrize("module,loud", [(LOUD, "tests/test_loud.py::test_loud"),
                                         (ONE_LINE, "tests/test_loud.py::test_one_long_line")],
                         ids=["100MB-of-lines", "50MB-one-line"])
def test_flooding_output_is_a_test_outcome(executor, tiny_repo, module, loud):
    spec = RunSpec(commit=tiny_repo.c1, patches=(new_file_patch("tests/test_loud.py", module),),
                   tests=("tests/test_loud.py",), label="loud", timeout=240)
    result = executor.run(ENV, spec, log_name=f"loud-{uuid.uuid4().hex[:6]}/run")
    assert result.status == "ok", (result.status, result.reason, result.output[-2000:])
    assert result.exit_code == 1
    assert result.tests == {"tests/test_loud.py::test_quiet": "passed", loud: "failed"}
    assert "wrong" in result.messages[loud]
    triage = classify_run(result, expect_pass=["tests/test_loud.py::test_quiet", loud])
    assert triage.cls is TEST_FAILURE
    # the log exists, is capped, and says how much was cut; the run's output is capped too
    log = Path(result.log_path)
    assert log.is_file()
    size = log.stat().st_size
    assert 1 << 20 < size <= executor.log_cap + (64 << 10), size
    text = log.read_text(errors="replace")
    assert "status: ok" in text and LOG_CAP_MARKER in text
    assert "test session starts" in text  # the head is kept
    assert len(result.output) <= executor.max_output + 200


# --------------------------------------------------------------------------- containers of killed processes

CHILD = """\
import sys, time
import docker
from skillforge.execution.images import LABEL_KIND, LABEL_OWNER, owner
client = docker.from_env()
image, mark, kinds = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
for i, kind in enumerate(kinds):
    c = client.containers.create(image, command=["sleep", "infinity"], name=f"sf-test-{mark}-{i}",
                                 labels={LABEL_KIND: kind, LABEL_OWNER: owner(), "skillforge.test": mark})
    if i % 2:
        c.start()
print("ready", flush=True)
time.sleep(3600)
"""

KINDS = ("run", "setup", "pool", "session")


def _spawn(image: str, mark: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", CHILD, image, mark, ",".join(KINDS)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "ready"
    return child


def _marked(client, mark: str) -> list[dict]:
    return client.api.containers(all=True, filters={"label": f"skillforge.test={mark}"})


def _open_a_context(settings, tmp_path) -> None:
    from skillforge.stages.config import ValidateConfig
    from skillforge.stages.context import ExecutionContext
    from skillforge.workspace import Workspace

    with ExecutionContext.open(Workspace(tmp_path / "ws"), ValidateConfig(workers=1), settings):
        pass


def _prune(settings, tmp_path) -> None:
    from typer.testing import CliRunner

    from skillforge.cli.main import app

    # a repository with no images: only the containers of killed processes go
    pruned = CliRunner().invoke(app, ["images", "prune", "--repo", "example/no-such-repo"], env={"COLUMNS": "250"})
    assert pruned.exit_code == 0, pruned.output
    assert re.search(r"removed \d+ containers of killed processes", pruned.output), pruned.output


@pytest.mark.parametrize("clean", [_open_a_context, _prune], ids=["context-open", "images-prune"])
def test_containers_of_killed_processes_are_removed_at_the_next_start(docker_client, settings, tiny_env, tmp_path,
                                                                      clean):
    env, _log, _seconds = tiny_env
    dead_mark, live_mark = f"dead-{uuid.uuid4().hex[:8]}", f"live-{uuid.uuid4().hex[:8]}"
    dead, live = _spawn(env.image, dead_mark), _spawn(env.image, live_mark)
    try:
        os.kill(dead.pid, signal.SIGKILL)
        dead.wait()
        assert len(_marked(docker_client, dead_mark)) == len(KINDS)  # kill -9 leaves them behind
        owners = {c["Labels"][LABEL_OWNER] for c in _marked(docker_client, dead_mark)}
        assert len(owners) == 1 and owners.pop().split(":")[1] == str(dead.pid)
        clean(settings, tmp_path)
        assert _marked(docker_client, dead_mark) == []
        kinds = sorted(c["Labels"][LABEL_KIND] for c in _marked(docker_client, live_mark))
        assert kinds == sorted(KINDS)  # a live process keeps every one of its containers
    finally:
        live.kill()
        live.wait()
        for mark in (dead_mark, live_mark):
            for c in _marked(docker_client, mark):
                docker_client.api.remove_container(c["Id"], force=True, v=True)


def test_owner_label_tells_a_reused_pid_apart():
    from skillforge.execution.owner import owner, owner_alive, process_start

    me = owner()
    host, pid, start = me.split(":")
    assert pid == str(os.getpid()) and start == process_start(os.getpid()) and start
    assert owner_alive(me)
    assert not owner_alive(f"{host}:{pid}:{int(start) + 1}")  # the same pid, another process
    assert owner_alive(f"another-host-{uuid.uuid4().hex[:6]}:1:1")  # not ours to judge
    assert owner_alive(f"{host.split('@')[0]}@1:1:1")  # this host name, another pid namespace: not ours either
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert not owner_alive(f"{host}:{gone.pid}")
