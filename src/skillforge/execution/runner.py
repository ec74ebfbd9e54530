"""Runners: carry out work units ``fn(backend, job) -> outcome`` and yield
``(job, outcome)`` as each finishes. ``LocalRunner`` uses a thread pool over one
backend (this machine's Docker engine); ``execution.distributed.RayRunner``
sends the same functions as Ray tasks across a cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Protocol

from skillforge.execution.backend import Backend, Environment
from skillforge.settings import Settings, machine_slots, parse_size


class Runner(Protocol):
    name: str

    def map(self, fn: Callable, jobs: list, environments: dict[str, Environment] | None = None
            ) -> Iterator[tuple[Any, Any]]: ...

    def run_stats(self) -> tuple[int, int]: ...

    def close(self) -> None: ...


class LocalRunner:
    """Work units in a thread pool over one backend (one Docker engine)."""

    name = "local"

    def __init__(self, backend: Backend, workers: int):
        self.backend = backend
        self.workers = max(1, workers)

    def map(self, fn: Callable, jobs: list, environments: dict | None = None) -> Iterator[tuple[Any, Any]]:
        """(job, outcome) as each finishes."""
        if not jobs:
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(jobs))) as pool:
            futures = {pool.submit(fn, self.backend, job): job for job in jobs}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()

    def run_stats(self) -> tuple[int, int]:
        """(runs executed, runs answered from the cache) so far."""
        if not self.backend.started:
            return 0, 0
        return self.backend.executor.misses, self.backend.executor.hits

    def close(self) -> None:
        return None


def default_workers(settings: Settings | None = None) -> int:
    """Test containers at once on this machine: one per CPU, as far as memory holds one
    ``mem_limit`` per container (plus a quarter for the host)."""
    return machine_slots(parse_size((settings or Settings()).mem_limit, default=2 << 30))


def make_runner(backend: Backend, *, executor: str = "local", workers: int = 0, ray_address: str | None = None,
                repo_locations: dict[str, str] | None = None, logs_dir=None) -> Runner:
    """The runner an ``executor`` setting names: ``local`` (thread pool) or ``ray`` (a cluster)."""
    if executor == "ray":
        from skillforge.execution.distributed import RayRunner

        return RayRunner(repo_locations or {}, backend.settings, logs_dir=logs_dir or backend.logs_dir,
                         address=ray_address, workers=workers)
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}: local or ray")
    return LocalRunner(backend, workers or default_workers(backend.settings))
