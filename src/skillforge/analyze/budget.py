"""Bounded work: one PR's analysis, or one PR's candidate building, runs in a
forked worker process under a time and a memory budget.

A :class:`BudgetWorker` is a child process forked from the stage (so nothing is
imported again and it starts with the stage's state) that runs tasks one at a
time and sends each result back (pickled). It is reused across PRs, so the
caches a stage keeps (parsed files, commit trees) stay warm:

* **memory**: before each task the worker limits its address space
  (``RLIMIT_AS``) to what it uses now plus ``Budget.memory``; an allocation
  beyond it fails (``MemoryError``, or the process dies in C code);
* **time**: the stage waits at most ``Budget.seconds`` for a task's result,
  then has ``faulthandler`` write the worker's stack to the log and kills it.

Either way the task raises :class:`OverBudget` naming what ran out, and the
next task gets a fresh worker: one PR over its budget never stops the others.
A worker whose memory grew by half its budget retires after its task (a fresh
one is forked for the next). Results a task yielded before it ran out (a
generator task: one result per skill) come back with the :class:`OverBudget`.

Where a worker cannot be forked (no ``fork`` on the platform, or the stage
itself runs in a daemonic process), or both limits are 0, tasks run in the
stage's own process without limits.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import resource
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Budget", "BudgetWorker", "OverBudget", "TaskError", "fork_available"]


def fork_available() -> bool:
    """A worker can be forked: the platform forks, and this process may have children (a
    daemonic process, a pool's worker, may not)."""
    return "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon


def _size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Budget:
    """What one PR's work may take: ``seconds`` of wall-clock time, ``memory`` bytes
    added to the worker's address space (0: no limit)."""

    seconds: float = 120.0
    memory: int = 1 << 30

    @classmethod
    def from_settings(cls, settings=None) -> Budget:
        """``settings``' ``pr_timeout`` and ``pr_memory``; without settings, their environment
        variables ``SKILLFORGE_PR_TIMEOUT`` and ``SKILLFORGE_PR_MEMORY`` (only those are read)."""
        from skillforge.settings import Settings, parse_size

        s = settings or Settings()
        seconds = os.environ.get("SKILLFORGE_PR_TIMEOUT", s.pr_timeout) if settings is None else s.pr_timeout
        memory = os.environ.get("SKILLFORGE_PR_MEMORY", s.pr_memory) if settings is None else s.pr_memory
        try:
            return cls(seconds=float(seconds), memory=parse_size(memory))
        except ValueError as exc:
            raise ValueError(f"SKILLFORGE_PR_TIMEOUT / SKILLFORGE_PR_MEMORY: {exc}") from None

    @property
    def enforced(self) -> bool:
        return (self.seconds > 0 or self.memory > 0) and fork_available()

    def describe(self, what: str) -> str:
        if what == "time":
            return f"{self.seconds:g} s"
        return _size_text(self.memory)


class OverBudget(Exception):
    """A task ran out of ``resource`` (``time`` or ``memory``); ``log`` holds what the worker
    was doing (its stack), ``partial`` the results it yielded before."""

    def __init__(self, resource_: str, message: str, log_text: str = "", partial: list | None = None,
                 elapsed: float = 0.0):
        super().__init__(message)
        self.resource = resource_
        self.message = message
        self.log_text = log_text
        self.partial = partial or []
        self.elapsed = elapsed


class TaskError(Exception):
    """A task raised in the worker: its type, message and traceback (as text)."""

    def __init__(self, type_name: str, message: str, traceback_text: str, partial: list | None = None):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text
        self.partial = partial or []


# --------------------------------------------------------------------------- the worker side


def _status_kib(key: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _address_space() -> int:
    """Bytes of address space this process maps now (``VmSize``)."""
    kib = _status_kib("VmSize:")
    if kib:
        return kib << 10
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10  # no /proc: the best estimate there is


def _resident() -> int:
    kib = _status_kib("VmRSS:")
    return (kib << 10) if kib else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10


def _worker_main(conn, handler: Callable, budget: Budget, scratch_fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stage decides when the worker ends
    scratch = os.fdopen(scratch_fd, "w", closefd=False)
    faulthandler.enable(file=scratch, all_threads=True)  # a death in C code (abort, segfault) leaves its stack
    faulthandler.register(signal.SIGUSR1, file=scratch, all_threads=True)  # the stage's "time is up"
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    start_rss = _resident()
    while True:
        try:
            args = conn.recv()
        except (EOFError, OSError):
            return
        if args is None:
            return
        os.ftruncate(scratch_fd, 0)
        os.lseek(scratch_fd, 0, os.SEEK_SET)
        if budget.memory > 0:
            limit = _address_space() + budget.memory
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        reply: tuple
        try:
            result = handler(*args)
            if hasattr(result, "__next__"):  # a generator task: each result as it comes
                while True:
                    try:
                        item = next(result)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    conn.send(("part", item))
            reply = ("ok", result)
        except MemoryError:
            reply = ("memory", traceback.format_exc())
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the stage, as text
            reply = ("error", type(exc).__name__, str(exc)[:2000], traceback.format_exc())
        result = None
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        retire = budget.memory > 0 and _resident() - start_rss > budget.memory // 2
        try:
            conn.send((*reply, retire))
        except Exception as exc:  # noqa: BLE001 - e.g. a result that does not pickle
            conn.send(("error", type(exc).__name__, f"the result could not be sent back: {exc}",
                       traceback.format_exc(), True))
            return
        if retire:
            return


# --------------------------------------------------------------------------- the stage side


@dataclass
class BudgetWorker:
    """Runs ``handler(*args)`` for each :meth:`call` in a forked worker under ``budget``
    (see the module docstring). ``handler`` may return a value or be a generator
    (its items come back as they are yielded; :meth:`call` returns them and the
    generator's return value). Close it when the stage ends."""

    handler: Callable[..., Any]
    budget: Budget = field(default_factory=Budget)
    name: str = "worker"
    _proc: Any = None
    _conn: Any = None
    _scratch: Any = None
    started: int = 0  # workers forked so far

    # -- lifecycle
    def _start(self) -> None:
        ctx = multiprocessing.get_context("fork")
        if self._scratch is None:
            self._scratch = tempfile.TemporaryFile()
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_worker_main, args=(child, self.handler, self.budget, self._scratch.fileno()),
                           name=f"skillforge-{self.name}", daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        self.started += 1

    def _stop(self, kill: bool) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None:
            return
        if kill and proc.is_alive():
            proc.kill()
        else:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        proc.join(timeout=5 if not kill else None)
        if proc.is_alive():
            proc.kill()
            proc.join()
        conn.close()
        proc.close()

    def close(self) -> None:
        self._stop(kill=False)
        if self._scratch is not None:
            self._scratch.close()
            self._scratch = None

    def __enter__(self) -> BudgetWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- tasks
    def _scratch_text(self) -> str:
        if self._scratch is None:
            return ""
        data = os.pread(self._scratch.fileno(), 1 << 20, 0)
        return data.decode("utf-8", "replace")

    def _killed(self, resource_: str, message: str, partial: list, started: float) -> OverBudget:
        """The worker is gone (killed, or dead by itself): an OverBudget with its last words."""
        self._stop(kill=True)
        text = self._scratch_text()
        return OverBudget(resource_, message, text, partial, time.monotonic() - started)

    def call(self, *args: Any) -> tuple[Any, list]:
        """(the handler's result, the items it yielded); raises :class:`OverBudget` or :class:`TaskError`."""
        if not self.budget.enforced:
            return self._in_process(args)
        if self._proc is None or not self._proc.is_alive():
            if self._proc is not None:
                self._stop(kill=True)
            self._start()
        started = time.monotonic()
        partial: list = []
        try:
            self._conn.send(args)
        except (OSError, ValueError):  # the worker died between tasks: a fresh one
            self._stop(kill=True)
            self._start()
            self._conn.send(args)
        deadline = started + self.budget.seconds if self.budget.seconds > 0 else None
        while True:
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            if self._conn.poll(wait):
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    return self._died(partial, started)
                if msg[0] == "part":
                    partial.append(msg[1])
                    continue
                break
            if deadline is not None and time.monotonic() >= deadline:
                if self._proc.is_alive():
                    os.kill(self._proc.pid, signal.SIGUSR1)  # faulthandler: where it was
                    time.sleep(0.2)
                raise self._killed("time", f"ran out of its time budget ({self.budget.describe('time')})",
                                   partial, started)
            if not self._proc.is_alive() and not self._conn.poll(0):
                return self._died(partial, started)
        kind, *rest = msg
        retire = rest[-1]
        if retire:
            self._stop(kill=False)
        if kind == "ok":
            return rest[0], partial
        if kind == "memory":
            raise OverBudget("memory", f"ran out of its memory budget ({self.budget.describe('memory')})",
                             rest[0], partial, time.monotonic() - started)
        type_name, message, tb = rest[0], rest[1], rest[2]
        raise TaskError(type_name, message, tb, partial)

    def _died(self, partial: list, started: float):
        code = self._proc.exitcode if self._proc is not None else None
        if code is not None and code < 0:
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
        else:
            how = f"exit status {code}"
        raise self._killed("memory", f"the worker died ({how}); most likely it ran out of its memory budget "
                                     f"({self.budget.describe('memory')})", partial, started)

    def _in_process(self, args: tuple) -> tuple[Any, list]:
        partial: list = []
        try:
            result = self.handler(*args)
            if hasattr(result, "__next__"):
                while True:
                    try:
                        partial.append(next(result))
                    except StopIteration as stop:
                        result = stop.value
                        break
        except MemoryError:
            raise OverBudget("memory", "ran out of memory", traceback.format_exc(), partial) from None
        except Exception as exc:
            raise TaskError(type(exc).__name__, str(exc)[:2000], traceback.format_exc(), partial) from exc
        return result, partial


def budget_log(path, *, what: str, subject: str, exc: OverBudget | TaskError, budget: Budget) -> str:
    """Write the log of a task that ran out of its budget or failed; returns its path."""
    lines = [f"{what} of {subject}"]
    if isinstance(exc, OverBudget):
        lines.append(f"over budget: {exc.resource} ({exc.message}) after {exc.elapsed:.1f} s")
        lines.append(f"budget: {budget.describe('time')} and {budget.describe('memory')} per PR "
                     "(SKILLFORGE_PR_TIMEOUT, SKILLFORGE_PR_MEMORY)")
        if exc.log_text.strip():
            lines += ["", "the worker's stack when it stopped:", exc.log_text.rstrip()]
    else:
        lines += [f"{exc.type_name}: {exc.message}", "", exc.traceback_text.rstrip()]
    text = "\n".join(lines) + "\n"
    with open(path, "w", encoding="utf-8", errors="replace") as f:
        f.write(text)
    return str(path)
