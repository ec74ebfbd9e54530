"""Containers left behind by processes that died.

Every container skillforge makes is labelled with its kind (``skillforge.kind``:
``run``, ``setup``, ``pool``, ``session``) and its owner (``skillforge.owner``:
``host:pid:start`` of the process that made it, ``execution.owner``). A process
that ends normally removes its containers; one killed with SIGKILL cannot, and
leaves them ``Created``, ``Exited`` or still running. ``remove_dead_owners``
removes those whose owner is a process of this host (and pid namespace) that
is no longer alive (pid and start time, so a pid given again to another process
is not taken for the owner). A container of a live process, of another host or
pid namespace, or without an owner is never touched.

It runs when an execution context opens (``stages.context``) and when the
SWE-bench validator makes its backend (``remove_dead_owners_at_start``), and in
``skillforge images prune``.
"""

from __future__ import annotations

import docker.errors
import requests.exceptions

from skillforge.execution.images import LABEL_KIND, LABEL_OWNER
from skillforge.execution.owner import owner_alive
from skillforge.execution.spec import InfraError

KINDS = ("run", "setup", "pool", "session")
"""The kinds of containers a skillforge process makes and removes itself."""


def dead_owner_containers(client, *, kinds: tuple[str, ...] = KINDS) -> list[dict]:
    """The containers (the engine's list entries) of ``kinds`` whose owner is a dead process of this host."""
    out = []
    for container in client.api.containers(all=True, filters={"label": LABEL_KIND}):
        labels = container.get("Labels") or {}
        label = labels.get(LABEL_OWNER, "")
        if labels.get(LABEL_KIND) in kinds and label and not owner_alive(label):
            out.append(container)
    return out


def remove_dead_owners(client, *, kinds: tuple[str, ...] = KINDS) -> int:
    """Removes (with their anonymous volumes) the containers of ``kinds`` whose owner is a
    process of this host that is gone; returns how many were removed."""
    removed = 0
    for container in dead_owner_containers(client, kinds=kinds):
        try:
            client.api.remove_container(container["Id"], force=True, v=True)
        except docker.errors.APIError:  # gone already, or being removed by someone else
            continue
        removed += 1
    return removed


def remove_dead_owners_at_start(backend) -> int:
    """``remove_dead_owners`` on a backend's engine as a run starts; 0 when no engine answers
    (a run that needs one says so itself) or the engine fails to list or remove."""
    try:
        return remove_dead_owners(backend.client)
    except (InfraError, AttributeError, docker.errors.DockerException, requests.exceptions.RequestException):
        return 0  # AttributeError: a backend without an engine (a stand-in)
