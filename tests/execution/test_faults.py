"""The fault suite: tests that attack the sandbox are contained, each is
reported with the right triage class, nothing is left behind, and the engine
still answers and runs a normal test afterwards.

The faults run in the tiny repository's environment image (pytest is all they
need) with a repository of their own as the source tree, all at once.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker.errors
import pytest

from skillforge.execution import RunSpec
from skillforge.execution.images import LABEL_KIND
from skillforge.execution.sandbox import DockerExecutor, EnvInfo, git_tree_tar
from skillforge.execution.triage import TEST_FAILURE, TIMEOUT, classify_run

pytestmark = pytest.mark.docker

ENV = "example__faults"
TIMEOUT_S = 6

FAULTS = {
    # every process forks forever: the pids limit holds, the timeout kills the container
    "tests/test_fork_bomb.py": """\
import os


def test_fork_bomb():
    while True:
        try:
            os.fork()
        except OSError:
            pass
""",
    # the root file system is read-only; the tmpfs under the tree fills up (ENOSPC)
    "tests/test_disk_filler.py": """\
import os


def test_fill_the_disk():
    try:
        open("/filler", "wb").write(b"x")
    except OSError as exc:
        print("root file system:", exc)
    block = b"\\0" * (1 << 20)
    with open("filler.bin", "wb") as fh:
        while True:
            fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
""",
    # no network: no name resolution, no route
    "tests/test_network.py": """\
import socket
import urllib.request


def test_raw_connect():
    socket.create_connection(("1.1.1.1", 443), timeout=3)


def test_download():
    urllib.request.urlopen("https://pypi.org/simple/", timeout=3)
""",
    "tests/test_infinite_loop.py": """\
def test_spin():
    while True:
        pass
""",
    "tests/test_sleep_forever.py": """\
import time


def test_sleep():
    time.sleep(10 ** 6)
""",
    # the module hangs while pytest imports it (collection never ends)
    "tests/test_hanging_import.py": """\
import hangs


def test_never_reached():
    assert hangs
""",
    "tests/hangs.py": """\
import time

time.sleep(10 ** 6)
""",
    "tests/test_fine.py": """\
def test_fine():
    assert 1 + 1 == 2
""",
}

EXPECTED = {  # test module -> (triage class, containment note or None, status)
    "tests/test_fork_bomb.py": (TIMEOUT, "pids limit", "timeout"),
    "tests/test_disk_filler.py": (TEST_FAILURE, "disk limit", "ok"),
    "tests/test_network.py": (TEST_FAILURE, "network off", "ok"),
    "tests/test_infinite_loop.py": (TIMEOUT, None, "timeout"),
    "tests/test_sleep_forever.py": (TIMEOUT, None, "timeout"),
    "tests/test_hanging_import.py": (TIMEOUT, None, "timeout"),
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def faults_repo(tmp_path_factory) -> tuple[Path, str]:
    repo = tmp_path_factory.mktemp("faults") / "faults"
    (repo / "tests").mkdir(parents=True)
    for path, text in FAULTS.items():
        (repo / path).write_text(text)
    (repo / "tests" / "conftest.py").write_text("import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "faults")
    return repo, _git(repo, "rev-parse", "HEAD").strip()


class _RecordingClient:
    """The real client, remembering the volumes of the containers it creates."""

    def __init__(self, real):
        self._real, self.volumes_seen = real, []

    def __getattr__(self, name):
        return getattr(self._real, name)

    @property
    def containers(self):
        real, seen = self._real.containers, self.volumes_seen

        class _Containers:
            def __getattr__(self, name):
                return getattr(real, name)

            def create(self, *args, **kwargs):
                container = real.create(*args, **kwargs)
                seen.extend(m["Name"] for m in container.attrs.get("Mounts", []) if m.get("Type") == "volume")
                return container

        return _Containers()


def _ours(client):
    return [c for c in client.containers.list(all=True, filters={"label": "skillforge.environment"}, ignore_removed=True)
            if c.labels.get(LABEL_KIND) == "run" and c.labels["skillforge.environment"] == ENV]


def test_faults_are_contained_and_triaged(docker_client, settings, tiny_env, tiny_repo, faults_repo, tmp_path):
    env, _log, _seconds = tiny_env
    repo, commit = faults_repo
    client = _RecordingClient(docker_client)
    sources = {"example/faults": repo, tiny_repo.name: tiny_repo.path}
    # a low pids limit, so that the fork bomb reaches it within its timeout even on a loaded machine
    limited = dataclasses.replace(settings, pids_limit=48)
    ex = DockerExecutor(client, limited, {ENV: EnvInfo(env.image, "example/faults", env.recipe),
                                           "example__tinypkg": env},
                        lambda name, c: git_tree_tar(sources[name], c), log_dir=tmp_path, disk_size="64m",
                        tmp_size="64m")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(EXPECTED)) as pool:
        # faults that end by themselves get time to end although the spinning ones hog the CPUs
        futures = {module: pool.submit(ex.run, ENV, RunSpec(commit, tests=(module,), label=module.split("/")[-1],
                                                            timeout=TIMEOUT_S if status == "timeout" else 90),
                                       log_name=f"faults/{module.split('/')[-1]}")
                   for module, (_cls, _note, status) in EXPECTED.items()}
        results = {module: f.result() for module, f in futures.items()}
    elapsed = time.monotonic() - started
    for module, (cls, note, status) in EXPECTED.items():
        result = results[module]
        triage = classify_run(result)
        detail = f"{module}: {result.status} {result.reason!r}\n{result.output[-3000:]}"
        assert result.status == status, detail
        assert triage.cls == cls, detail
        if note:
            assert note in triage.notes, (triage.notes, detail)
        assert triage.log and Path(triage.log).is_file()
        assert triage.outcome().render().startswith(f"{cls.value}: ")
        if status == "timeout":
            assert TIMEOUT_S <= result.duration < TIMEOUT_S + 40, detail
    assert "still collecting tests" in classify_run(results["tests/test_hanging_import.py"]).message
    assert "still collecting" not in classify_run(results["tests/test_sleep_forever.py"]).message
    disk = results["tests/test_disk_filler.py"]
    assert "Read-only file system" in disk.output and "No space left on device" in disk.output
    assert "disk limit reached: /testbed full" in disk.reason
    assert "pids limit reached (48)" in results["tests/test_fork_bomb.py"].reason
    net = results["tests/test_network.py"].tests
    assert net == {"tests/test_network.py::test_raw_connect": "failed",
                   "tests/test_network.py::test_download": "failed"}
    # all six ran side by side, each killed at its own deadline
    assert elapsed < TIMEOUT_S + 60

    # nothing left behind: containers and their /sf volumes are gone
    assert _ours(docker_client) == []
    assert client.volumes_seen
    for name in client.volumes_seen:
        with pytest.raises(docker.errors.NotFound):
            docker_client.volumes.get(name)

    # the engine is healthy, and a normal run afterwards passes
    assert docker_client.ping()
    ok = ex.run(ENV, RunSpec(commit, tests=("tests/test_fine.py",), timeout=60))
    assert (ok.status, ok.exit_code, ok.tests) == ("ok", 0, {"tests/test_fine.py::test_fine": "passed"})
    assert classify_run(ok).cls is None
    normal = ex.run("example__tinypkg", RunSpec(tiny_repo.c2, tests=("tests/test_sub.py",)))
    assert normal.tests == {"tests/test_sub.py::test_sub": "passed"}, normal.output
