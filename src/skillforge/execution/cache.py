"""An executor that remembers: identical runs (same environment, commit,
patches, test selection or script, attempt, and the same layout of images and
run scripts: ``images.LAYOUT``) are answered from memory or a run store (the workspace).

Validation reruns every run ``reruns`` times to catch flaky tests; each attempt
has its own key, so reruns really execute while a repeated request for the
same attempt (a scorer asking again, a resumed run) costs nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol

from skillforge.execution import Executor, RunResult, RunSpec
from skillforge.execution.images import LAYOUT

class RunStore(Protocol):
    """Where finished runs are remembered across processes (the workspace is one)."""

    def cached_run(self, key: str) -> dict | None: ...

    def store_run(self, key: str, result: dict) -> None: ...


CACHEABLE = ("ok", "apply_failed", "collection_error")
MEMORY_ENTRIES = 2048


class CachedExecutor:
    def __init__(self, inner: Executor, store: RunStore | None = None, attempt: int = 0):
        self.inner = inner
        self.store = store
        self.attempt_index = attempt
        self._memory: OrderedDict[str, dict] = OrderedDict()  # bounded: long training runs see many answers
        self._lock = threading.Lock()
        self.stats = {"hits": 0, "misses": 0}  # shared by every attempt view

    @property
    def hits(self) -> int:
        return self.stats["hits"]

    @property
    def misses(self) -> int:
        return self.stats["misses"]

    def attempt(self, index: int) -> "CachedExecutor":
        view = CachedExecutor(self.inner, self.store, index)
        view._memory, view._lock, view.stats = self._memory, self._lock, self.stats
        return view

    def _key(self, environment: str, spec: RunSpec) -> str:
        # the layout of images and run scripts is part of a run's identity: a run whose outcome came from an
        # older run script (e.g. one that passed options an old pytest refuses) is not an answer any more
        return f"{spec.key(environment)}:{self.attempt_index}:layout-{LAYOUT}"

    def run(self, environment: str, spec: RunSpec, *, log_name: str | None = None) -> RunResult:
        key = self._key(environment, spec)
        with self._lock:
            cached = self._memory.get(key)
        if cached is None and self.store is not None:
            cached = self.store.cached_run(key)
        if cached is not None:
            with self._lock:
                self.stats["hits"] += 1
            return RunResult.from_json(cached)
        with self._lock:
            self.stats["misses"] += 1
        if self.attempt_index and log_name:
            log_name = f"{log_name}-attempt{self.attempt_index}"
        result = self.inner.run(environment, spec, log_name=log_name)
        if result.status in CACHEABLE:
            data = result.to_json()
            with self._lock:
                self._memory[key] = data
                while len(self._memory) > MEMORY_ENTRIES:
                    self._memory.popitem(last=False)
            if self.store is not None:
                self.store.store_run(key, data)
        return result
