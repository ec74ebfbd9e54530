"""The warm pool hands a run to the container's job server, or (where it has none)
starts the run's exec while its files are copied in (issue 13): the shell waits
for a line on its stdin. Either way what the run sees is unchanged (stdin at EOF,
as in a fresh container), and a run whose files do not reach the container runs
nothing and discards the container."""

from __future__ import annotations

import pytest

from skillforge.execution import InfraError, RunSpec
from skillforge.execution.pool import WarmPool
from skillforge.execution.sandbox import DockerExecutor, git_tree_tar

pytestmark = pytest.mark.docker

ENV = "example__tinypkg-handshake"
STDIN = """\
import os, sys
data = sys.stdin.read()
print("stdin", repr(data), os.path.realpath("/proc/self/fd/0"))
"""


@pytest.fixture(scope="module")
def parts(docker_client, settings, tiny_env, tiny_repo):
    env, _log, _ = tiny_env
    return {ENV: env}, (lambda repo, commit: git_tree_tar(tiny_repo.path, commit))


@pytest.mark.parametrize("jobs", [True, False], ids=["job-server", "exec-per-run"])
def test_stdin_is_at_eof_as_in_a_fresh_container(docker_client, settings, parts, tiny_repo, jobs):
    envs, source = parts
    with WarmPool(docker_client, settings, envs, source, size=1, jobs=jobs) as pool:
        runs = [pool.run(ENV, RunSpec(commit=tiny_repo.c1, script=STDIN)) for _ in range(2)]
    fresh = DockerExecutor(docker_client, settings, envs, source).run(ENV, RunSpec(commit=tiny_repo.c1, script=STDIN))
    for result in (*runs, fresh):
        assert result.exit_code == 0, result.output
        assert "stdin '' /dev/null" in result.output, result.output


@pytest.mark.parametrize("jobs", [True, False], ids=["job-server", "exec-per-run"])
def test_a_failed_copy_runs_nothing_and_discards_the_container(docker_client, settings, parts, tiny_repo,
                                                               monkeypatch, jobs):
    import skillforge.execution.pool as pool_module

    envs, source = parts
    with WarmPool(docker_client, settings, envs, source, size=1, jobs=jobs) as pool:
        first = pool.run(ENV, RunSpec(commit=tiny_repo.c1, script=STDIN))
        assert first.exit_code == 0, first.output
        [container] = pool.containers()
        calls = []
        # the files go to the job server over its stdin, or to the engine's put_archive
        owner, name = (pool_module, "_send") if jobs else (docker_client.api, "put_archive")
        real = getattr(owner, name)

        def failing(*args, **kwargs):
            calls.append(args)
            raise OSError("copy failed (test)")
        monkeypatch.setattr(owner, name, failing, raising=False)
        with pytest.raises(InfraError):
            pool.run(ENV, RunSpec(commit=tiny_repo.c1, script=STDIN))
        assert calls and container not in pool.containers()
        assert pool.discard_reasons and pool.stats()["containers_discarded"] >= 1
        monkeypatch.setattr(owner, name, real, raising=False)
        again = pool.run(ENV, RunSpec(commit=tiny_repo.c1, script=STDIN))
        assert again.exit_code == 0 and "stdin ''" in again.output, again.output
