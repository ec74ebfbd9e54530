"""Interactive sessions (``Backend.open_session``): a checkout of an environment
at a commit in a sealed container of its own (network off, unprivileged, no
capabilities, limits, labelled), with exec / read / write / diff, and gone once
closed. An executor that offers ``open_session`` (a warm pool) is used instead."""

from __future__ import annotations

import docker.errors
import pytest

from skillforge.execution import InfraError, SessionError
from skillforge.execution.backend import Backend
from skillforge.execution.images import LABEL_KIND, LABEL_OWNER, owner
from skillforge.execution.session import LABEL_SESSION
from skillforge.settings import Settings, parse_size


class GitTrees:
    def __init__(self, path):
        self.path = path

    def archive(self, commit: str) -> bytes:
        from skillforge.execution.sandbox import git_tree_tar

        return git_tree_tar(self.path, commit)


# --------------------------------------------------------------------------- without Docker


class SessionPool:
    """An executor that keeps its own sessions (as a warm pool may)."""

    def __init__(self):
        self.opened: list[tuple[str, str]] = []

    def run(self, environment, spec, *, log_name=None):
        raise AssertionError("nothing runs here")

    def open_session(self, environment: str, commit: str):
        self.opened.append((environment, commit))
        return f"session of {environment}@{commit}"


def test_an_executor_that_opens_sessions_is_used(tmp_path):
    pool = SessionPool()

    def no_trees(repo):
        raise AssertionError("the executor's session needs no source tree from the backend")

    backend = Backend(Settings(), no_trees, logs_dir=tmp_path, client=object(), executor_factory=lambda b: pool)
    assert backend.open_session("not-even-defined", "c0ffee", label="x") == "session of not-even-defined@c0ffee"
    assert pool.opened == [("not-even-defined", "c0ffee")]


# --------------------------------------------------------------------------- in Docker


@pytest.fixture(scope="module")
def backend(docker_client, settings, tiny_env, tiny_repo, tmp_path_factory):
    info, _log, _seconds = tiny_env
    b = Backend(settings, lambda repo: GitTrees(tiny_repo.path), logs_dir=tmp_path_factory.mktemp("session-logs"),
                client=docker_client)
    b.define(tiny_repo.name, info.recipe, tiny_repo.c1)
    return b


def sessions_of(client, label: str) -> list:
    return [c for c in client.containers.list(all=True, filters={"label": f"{LABEL_KIND}={LABEL_SESSION}"})
            if (c.labels or {}).get("skillforge.label") == label]


@pytest.mark.docker
def test_session_is_sealed_and_gone_once_closed(backend, docker_client, settings, tiny_repo):
    environment = next(iter(backend.environments))
    session = backend.open_session(environment, tiny_repo.c2, label="test-session-sealed")
    name = session.name
    try:
        container = docker_client.containers.get(name)
        host, config = container.attrs["HostConfig"], container.attrs["Config"]
        assert host["NetworkMode"] == "none"
        assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
        assert config["User"] == settings.container_user
        assert host["Memory"] == parse_size(settings.mem_limit) and host["MemorySwap"] == host["Memory"]
        assert host["NanoCpus"] == settings.nano_cpus and host["PidsLimit"] == settings.pids_limit
        assert "/tmp" in host["Tmpfs"] and host["Init"] is True
        assert host["LogConfig"]["Config"]["max-size"] == "1m"
        assert container.labels[LABEL_KIND] == LABEL_SESSION and container.labels[LABEL_OWNER] == owner()
        assert container.labels["skillforge.environment"] == environment
        assert container.labels["skillforge.label"] == "test-session-sealed"

        # unprivileged, no network
        code, out = session.exec("id -u", 30)
        assert (code, out.strip()) == (0, settings.container_user.split(":")[0])
        code, out = session.exec("python -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)\"",
                                 30)
        assert code not in (0, None), out
        assert session.exec("sleep 5", 1)[0] is None  # a timeout is None, not an exit status

        # the tree of the session's commit (not the image's), clean against the baseline
        assert session.exec("git status --short", 30) == (0, "")
        assert session.read("/testbed/tests/test_sub.py").decode() == tiny_repo.read(tiny_repo.c2, "tests/test_sub.py")
        assert session.read("/testbed/tests/test_old.py") is None
        assert session.exec("python -c 'import tinypkg; print(tinypkg.sub(3, 1))'", 60) == (0, "2\n")

        # writes land in the checkout, and the diff shows them (new files too)
        assert session.diff() == ""
        session.write("/testbed/notes/new.txt", b"hello\n")
        assert session.read("/testbed/notes/new.txt") == b"hello\n"
        session.write("/testbed/src/tinypkg/__init__.py", b"def add(a, b):\n    return a - b\n")
        diff = session.diff()
        assert "b/notes/new.txt" in diff and "-    return a + b" in diff and "-def sub(a, b):" in diff
        with pytest.raises(SessionError, match="cannot write /etc/passwd"):
            session.write("/etc/passwd", b"root::0:0::/:/bin/sh\n")
    finally:
        session.close()
    assert session.closed
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(name)
    with pytest.raises(InfraError, match="closed"):
        session.exec("true", 5)
    session.close()  # idempotent


@pytest.mark.docker
def test_sessions_are_independent(backend, docker_client, tiny_repo):
    environment = next(iter(backend.environments))
    with backend.open_session(environment, tiny_repo.c1, label="test-session-a") as a, \
            backend.open_session(environment, tiny_repo.c1, label="test-session-b") as b:
        a.write("/testbed/only-a.txt", b"a\n")
        assert b.read("/testbed/only-a.txt") is None and b.diff() == ""
        assert a.read("/testbed/tests/test_old.py") is not None  # c1 still has it
    assert not sessions_of(docker_client, "test-session-a") and not sessions_of(docker_client, "test-session-b")


@pytest.mark.docker
def test_unknown_environment_or_commit_is_an_infrastructure_error(backend, docker_client, tiny_repo):
    with pytest.raises(InfraError, match="unknown environment"):
        backend.open_session("no-such-environment", tiny_repo.c1, label="test-session-unknown")
    environment = next(iter(backend.environments))
    with pytest.raises(InfraError) as err:
        backend.open_session(environment, "0" * 40, label="test-session-unknown")
    assert err.value.triage == "source"
    assert not sessions_of(docker_client, "test-session-unknown")
