"""Validation across a Ray cluster (``skillforge validate --executor ray``).

The driver (the process that owns the workspace) does what needs the
workspace: choosing recipes, reading PRs, building candidates, recording
results. The work units that need Docker — building or checking an
environment image, a PR's before/after runs, scoring a candidate on its gold
and null answers — are the same functions the local pool runs
(``skillforge.stages.validate.run_*_job``), sent as Ray tasks. Each task runs
on some node against that node's own Docker engine, through a backend of its
worker process (environment images are built on a node the first time a task
there needs them; the build is serialised per host by a file lock).

Source trees come from a ``RepoServer`` actor pinned to the driver's node,
which reads the workspace's clones; a node never needs a clone. A task's log
files are shipped back with its result and written under the workspace's
``logs/`` by the driver, with the paths in reasons rewritten to point there.
Results are recorded as they arrive, so a killed run resumes like a local one
(the workspace holds every finished PR and candidate).

Every node needs skillforge installed (``pip install 'skillforge[distributed]'``)
and a Docker engine; start the cluster with ``ray start --head`` / ``ray start
--address HEAD:6379`` and pass ``--ray-address auto`` (or set ``RAY_ADDRESS``).
Without an address a local Ray instance is started for the run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from skillforge.settings import Settings

INSTALL_HINT = "pip install 'skillforge[distributed]'  (or: pip install 'ray>=2.9')"


def import_ray():
    """``ray``, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from exc
    return ray


class RepoServer:
    """Source trees (tars) of the workspace's repositories, served from the driver's node."""

    def __init__(self, locations: dict[str, str]):
        self.locations = locations
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _handle(self, repo: str):
        from skillforge.gitio import RepoHandle

        with self._lock:
            if repo not in self._handles:
                if repo not in self.locations:
                    raise KeyError(f"repository {repo} has no clone in the workspace")
                self._handles[repo] = RepoHandle(repo, self.locations[repo])
            return self._handles[repo]

    def archive(self, repo: str, commit: str) -> bytes:
        return self._handle(repo).archive(commit)


class _RemoteRepo:
    def __init__(self, server, repo: str):
        self.server, self.repo = server, repo

    def archive(self, commit: str) -> bytes:
        import ray

        return ray.get(self.server.archive.remote(self.repo, commit))


# --------------------------------------------------------------------------- worker side

_WORKER: dict[tuple[str, str], tuple[Any, Path]] = {}
_WORKER_LOCK = threading.Lock()


def _actor_id(server) -> str:
    actor_id = getattr(server, "_actor_id", None)
    return actor_id.hex() if actor_id is not None else str(id(server))


def _worker_backend(settings: Settings, server) -> tuple[Any, Path]:
    """This worker process's backend for one validation run (kept across its tasks:
    image info, source tars, memory cache of runs) and the scratch directory its
    logs go to. A worker process Ray reuses for a later run (a new repository
    server) gets a new backend: the old one's server is gone."""
    from skillforge.execution.backend import Backend

    key = (repr(dataclasses.astuple(settings)), _actor_id(server))
    with _WORKER_LOCK:
        if key not in _WORKER:
            for old in [k for k in _WORKER if k[0] == key[0]]:
                shutil.rmtree(_WORKER.pop(old)[1], ignore_errors=True)
            root = Path(tempfile.mkdtemp(prefix="skillforge-ray-logs-"))
            backend = Backend(settings, lambda repo: _RemoteRepo(server, repo), logs_dir=root)
            _WORKER[key] = (backend, root)
        return _WORKER[key]


def _collect_logs(root: Path) -> dict[str, bytes]:
    """Every file written under ``root`` (then removed): relative path -> content."""
    out: dict[str, bytes] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        out[path.relative_to(root).as_posix()] = path.read_bytes()
        path.unlink()
    return out


def _rewrite(obj: Any, old: str, new: str) -> Any:
    """``obj`` with ``old`` replaced by ``new`` in every string (dataclasses, lists, dicts)."""
    if isinstance(obj, Enum):  # a triage class is text, but never a path
        return obj
    if isinstance(obj, str):
        return obj.replace(old, new)
    if isinstance(obj, list):
        return [_rewrite(v, old, new) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_rewrite(v, old, new) for v in obj)
    if isinstance(obj, dict):
        return {k: _rewrite(v, old, new) for k, v in obj.items()}
    if isinstance(obj, BaseModel):
        return obj.model_copy(update={name: _rewrite(getattr(obj, name), old, new) for name in type(obj).model_fields})
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _rewrite(getattr(obj, f.name), old, new)
                                           for f in dataclasses.fields(obj) if f.init})
    return obj


def run_task(fn: Callable, job: Any, environments: dict[str, dict], settings: Settings, server,
             driver_logs: str) -> tuple[Any, dict[str, bytes], tuple[int, int], str]:
    """One work unit on this node: (outcome, log files, (runs executed, runs cached), node name)."""
    from skillforge.execution.backend import Environment

    backend, root = _worker_backend(settings, server)
    for name, env in environments.items():
        if name not in backend.environments:
            backend.add(Environment.from_json(name, env))
    ex = backend.executor
    misses, hits = ex.misses, ex.hits
    try:
        outcome = fn(backend, job)
    finally:
        logs = _collect_logs(root)
    outcome = _rewrite(outcome, str(root), driver_logs)
    return outcome, logs, (ex.misses - misses, ex.hits - hits), os.uname().nodename


# --------------------------------------------------------------------------- driver side


class RayRunner:
    """Runs work units as Ray tasks and yields their outcomes as they finish
    (the same interface as ``runner.LocalRunner``)."""

    name = "ray"

    def __init__(self, repo_locations: dict[str, str], settings: Settings, *, logs_dir: str | Path,
                 address: str | None = None, workers: int = 0, max_retries: int = 2):
        ray = import_ray()
        self.ray = ray
        self._owns = False
        if not ray.is_initialized():
            if address or os.environ.get("RAY_ADDRESS"):
                ray.init(address=address, log_to_driver=False, namespace="skillforge")
            else:
                ray.init(num_cpus=workers or None, include_dashboard=False, log_to_driver=False,
                         namespace="skillforge")
            self._owns = True
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.settings = settings
        self.logs_dir = Path(logs_dir)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        locations = dict(repo_locations)
        here = ray.get_runtime_context().get_node_id()
        self.server = ray.remote(num_cpus=0, max_concurrency=8)(RepoServer).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote(locations)
        self._task = ray.remote(num_cpus=1, max_retries=max_retries)(run_task)
        self.workers = workers
        self.executed = self.cached = 0
        self.nodes: dict[str, int] = {}  # node name -> tasks run there

    def run_stats(self) -> tuple[int, int]:
        return self.executed, self.cached

    def _in_flight(self) -> int:
        if self.workers:
            return self.workers
        return max(1, 2 * int(self.ray.cluster_resources().get("CPU", 1)))

    def map(self, fn: Callable, jobs: list, environments: dict | None = None) -> Iterator[tuple[Any, Any]]:
        """(job, outcome) as each task finishes; its logs are written under the workspace first."""
        if not jobs:
            return
        ray = self.ray
        envs = ray.put({name: env.to_json() for name, env in (environments or {}).items()})
        todo = iter(jobs)
        pending: dict[Any, Any] = {}
        limit = self._in_flight()

        def submit() -> None:
            for job in todo:
                ref = self._task.remote(fn, job, envs, self.settings, self.server, str(self.logs_dir))
                pending[ref] = job
                if len(pending) >= limit:
                    return

        submit()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            outcome, logs, (executed, cached), node = ray.get(done[0])
            self._write_logs(logs)
            self.executed += executed
            self.cached += cached
            self.nodes[node] = self.nodes.get(node, 0) + 1
            submit()
            yield job, outcome

    def _write_logs(self, logs: dict[str, bytes]) -> None:
        root = self.logs_dir.resolve()
        for rel, data in logs.items():
            path = (root / rel).resolve()
            if root not in path.parents:
                continue  # never outside the workspace's logs
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def close(self) -> None:
        ray = self.ray
        try:
            ray.kill(self.server)
        except Exception:  # noqa: BLE001 - the cluster may be gone already
            pass
        if self._owns:
            ray.shutdown()


def cleanup_worker_scratch() -> None:
    """Removes this process's worker scratch directories (tests)."""
    with _WORKER_LOCK:
        for _backend, root in _WORKER.values():
            shutil.rmtree(root, ignore_errors=True)
        _WORKER.clear()
