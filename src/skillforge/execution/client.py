"""The Docker engine connection, with an error that says how to get one."""

from __future__ import annotations

from skillforge.execution import InfraError


def docker_client(timeout: int = 120):
    import docker

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:  # DockerException, connection errors, permission errors
        raise InfraError(f"no Docker engine answers ({type(e).__name__}: {e}); start one, or run "
                         "`bash scripts/ensure-docker.sh`, then `skillforge doctor`", triage="engine") from None
    return client
