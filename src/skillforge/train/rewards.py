"""Rewards: one callable per skill, ``f(completions, **columns) -> list[float | None]``.

Each rebuilds the typed instance from the row's columns and calls the skill's
own scorer (the one that validated the dataset) with a ``ScoreContext`` from
the execution Backend, whose executor is whatever the Backend was built with
(the Docker sandbox, a warm container pool, ...). Rows of other skills get
``None``, so TRL logs every skill's reward on its own (``rewards/<skill>/mean``)
and a skill never scores another's rows. Every reward is in [0, 1]; the trainer
normalises within each group only, so no skill's scale dominates.

Execution-based scores run in a bounded thread pool. A score that runs past
``timeout`` seconds yields 0.0 and is counted; an infrastructure failure (the
engine, an image build) says nothing about the answer, so it yields ``None``
(left out of the advantage) and is counted and logged with the log to open.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from skillforge.execution import InfraError
from skillforge.schema import Instance
from skillforge.skills import REGISTRY, ScoreContext
from skillforge.train.data import instance_from_columns

log = logging.getLogger("skillforge.train")

TIMED_OUT = object()
"""What ``ScoringPool.run`` gives for a job abandoned past the timeout."""


MAX_ERRORS = 100


@dataclass
class SkillStats:
    scored: int = 0
    timeouts: int = 0
    errors: int = 0
    seconds: float = 0.0
    last_errors: list[str] = field(default_factory=list)  # the newest MAX_ERRORS

    def to_json(self) -> dict[str, Any]:
        return {"scored": self.scored, "timeouts": self.timeouts, "errors": self.errors,
                "mean_latency_s": self.seconds / self.scored if self.scored else 0.0,
                "last_errors": self.last_errors[-5:]}


class ScoringPool:
    """Bounded concurrency for scorers, per-score timeouts, and the counters the trainer logs."""

    def __init__(self, workers: int = 4, timeout: float = 900.0):
        self.workers = max(1, int(workers))
        self.timeout = float(timeout)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="skillforge-reward")
        self._lock = threading.Lock()
        self._busy = 0
        self._peak = 0
        self.stats: dict[str, SkillStats] = defaultdict(SkillStats)

    def _enter(self) -> None:
        with self._lock:
            self._busy += 1
            self._peak = max(self._peak, self._busy)

    def _leave(self) -> None:
        with self._lock:
            self._busy -= 1

    def record(self, skill: str, *, latencies: Iterable[float] = (), timeouts: int = 0,
               errors: Iterable[str] = ()) -> None:
        """Count what one reward call of ``skill`` did: the scores' latencies (seconds),
        the scores abandoned past the timeout, and a message per failed score."""
        latencies, errors = list(latencies), list(errors)
        with self._lock:
            stats = self.stats[skill]
            stats.scored += len(latencies)
            stats.seconds += sum(latencies)
            stats.timeouts += timeouts
            stats.errors += len(errors)
            stats.last_errors = (stats.last_errors + errors)[-MAX_ERRORS:]

    def take_utilization(self) -> float:
        """Peak share of busy scorer slots since the last call."""
        with self._lock:
            peak, self._peak = self._peak, self._busy
        return peak / self.workers

    def run(self, jobs: list[Callable[[], Any]]) -> list[Any]:
        """Run ``jobs`` in the pool; a job still running ``timeout`` seconds after it
        started is abandoned and reported as ``TIMED_OUT`` (its container has its own limit)."""
        started: dict[int, float] = {}
        futures: list[Future] = []

        def wrap(i: int, job: Callable[[], Any]) -> Callable[[], Any]:
            def call():
                started[i] = time.monotonic()
                self._enter()
                try:
                    return job()
                finally:
                    self._leave()
            return call

        for i, job in enumerate(jobs):
            futures.append(self._pool.submit(wrap(i, job)))
        results: list[Any] = [None] * len(jobs)
        pending = set(range(len(jobs)))
        while pending:
            now = time.monotonic()
            for i in list(pending):
                fut = futures[i]
                if fut.done():
                    pending.discard(i)
                    results[i] = fut  # the caller reads result/exception
                elif i in started and now - started[i] > self.timeout:
                    pending.discard(i)
                    results[i] = TIMED_OUT
            if not pending:
                break
            deadlines = [started[i] + self.timeout - now for i in pending if i in started]
            step = min([0.5, *[max(0.01, d) for d in deadlines]])
            wait([futures[i] for i in pending], timeout=step, return_when=FIRST_COMPLETED)
        return results

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def completion_text(completion: Any) -> str:
    """The answer text of a completion: a string, or the last assistant message of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        content = completion.get("content") or ""
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    if isinstance(completion, list):
        for message in reversed(completion):
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                return completion_text(message)
        return ""
    return str(completion or "")


def zero_spread_fraction(ids: list[str], values: list[float]) -> float | None:
    """Share of groups (consecutive rows of one instance) whose rewards are all equal."""
    groups: list[list[float]] = []
    prev = None
    for iid, v in zip(ids, values):
        if iid != prev:
            groups.append([])
            prev = iid
        groups[-1].append(v)
    groups = [g for g in groups if len(g) > 1]
    if not groups:
        return None
    return sum(1 for g in groups if max(g) - min(g) < 1e-9) / len(groups)


class _BackendExecutor:
    """The Backend's executor, reached only when a scorer really runs something
    (so scorers that execute nothing never need Docker)."""

    def __init__(self, backend):
        self.backend = backend

    def run(self, environment, spec, *, log_name=None):
        return self.backend.executor_for().run(environment, spec, log_name=log_name)


class SkillReward:
    """The reward of one skill. ``backend`` is needed by execution-based skills
    (its ``context()`` hands the scorer the Backend's executor)."""

    def __init__(self, skill: str, *, backend=None, pool: ScoringPool | None = None):
        if skill not in REGISTRY:
            raise ValueError(f"unknown skill {skill!r}")
        self.skill = skill
        self.__name__ = skill  # TRL names the reward (and its logged metrics) after it
        self.backend = backend
        self.pool = pool or ScoringPool()
        self._instances: dict[str, Instance] = {}

    def _instance(self, columns: dict[str, list], i: int) -> Instance:
        iid = columns["instance_id"][i]
        inst = self._instances.get(iid)
        if inst is None:
            inst = self._instances[iid] = instance_from_columns(columns, i)
        return inst

    def _score(self, inst: Instance, answer: str, label: str) -> float:
        executor = _BackendExecutor(self.backend) if self.backend is not None else None
        ctx = ScoreContext(executor, inst.environment, log_prefix=f"train/{inst.instance_id}/{label}")
        return REGISTRY[self.skill].score(inst, answer, ctx).value

    def __call__(self, completions: list, *, environments: list | None = None,
                 log_metric: Callable[[str, float], None] | None = None, **columns: Any) -> list[float | None]:
        rows = [i for i, s in enumerate(columns.get("skill") or []) if s == self.skill]
        out: list[float | None] = [None] * len(completions)
        if not rows:
            return out
        texts = {i: completion_text(completions[i]) for i in rows}
        envs = {i: (environments[i] if environments else None) for i in rows}
        seen: dict[str, int] = defaultdict(int)
        labels = {}
        for i in rows:
            iid = columns["instance_id"][i]
            labels[i] = f"g{seen[iid]}"
            seen[iid] += 1
        insts = {i: self._instance(columns, i) for i in rows}

        def job(i: int) -> Callable[[], tuple[float, float]]:
            def run() -> tuple[float, float]:
                t0 = time.monotonic()
                checkout = getattr(envs[i], "checkout", None)  # an agentic rollout's (train.env.Checkout)
                answer = checkout.final_answer(texts[i]) if checkout is not None else texts[i]
                value = self._score(insts[i], answer, labels[i])
                return value, time.monotonic() - t0
            return run

        if REGISTRY[self.skill].needs_execution:
            results = self.pool.run([job(i) for i in rows])
        else:
            results = []
            for i in rows:
                fut: Future = Future()
                try:
                    fut.set_result(job(i)())
                except Exception as e:  # noqa: BLE001 - reported below like a pooled failure
                    fut.set_exception(e)
                results.append(fut)
        latencies: list[float] = []
        failures: list[str] = []
        timeouts = 0
        for i, res in zip(rows, results):
            iid = columns["instance_id"][i]
            if res is TIMED_OUT:
                out[i] = 0.0
                timeouts += 1
                log.warning("%s: scoring took longer than %.0fs; scored 0 (logs under train/%s)", iid,
                            self.pool.timeout, iid)
                continue
            exc = res.exception()
            if exc is None:
                value, seconds = res.result()
                out[i] = float(value)
                latencies.append(seconds)
                continue
            where = getattr(exc, "log_path", None)
            message = f"{iid}: scoring failed: {exc}" + (f" (see {where})" if where else "")
            failures.append(message)
            log.warning(message)
            if not isinstance(exc, InfraError):
                log.debug("scorer exception", exc_info=exc)
        self.pool.record(self.skill, latencies=latencies, timeouts=timeouts, errors=failures)
        if log_metric is not None:
            scored = [(columns["instance_id"][i], out[i]) for i in rows if out[i] is not None]
            frac = zero_spread_fraction([a for a, _ in scored], [b for _, b in scored])
            if frac is not None:
                log_metric(f"skills/{self.skill}/zero_spread_groups", frac)
            if latencies:
                log_metric(f"skills/{self.skill}/latency_s", statistics.fmean(latencies))
            log_metric(f"skills/{self.skill}/timeouts", float(timeouts))
            log_metric(f"skills/{self.skill}/errors", float(len(failures)))
            if REGISTRY[self.skill].needs_execution:
                log_metric("pool/scorer_utilization", self.pool.take_utilization())
                for name, value in executor_metrics(self.backend).items():
                    log_metric(name, value)
        return out


def executor_metrics(backend) -> dict[str, float]:
    """What the backend's executor reports about itself (``execution.Backend.metrics``)."""
    return backend.metrics() if backend is not None else {}


def skill_rewards(skills: list[str], *, backend=None, pool: ScoringPool | None = None) -> list[SkillReward]:
    pool = pool or ScoringPool()
    return [SkillReward(s, backend=backend, pool=pool) for s in skills]
