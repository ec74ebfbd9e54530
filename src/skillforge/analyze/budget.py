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

A :class:`BudgetPool` runs such workers side by side, each serving stretches of
tasks in their order, with its next tasks queued in a pipe of its own (written
without blocking, so a worker never waits on the stage, nor the stage on a busy
worker); the budgets stay per task, from the moment its worker begins it.

Where a worker cannot be forked (no ``fork`` on the platform, or the stage
itself runs in a daemonic process), or both limits are 0, tasks run in the
stage's own process without limits.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import pickle
import resource
import select
import signal
import struct
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Budget", "BudgetPool", "BudgetWorker", "OverBudget", "TaskError", "fork_available"]

_FRAME = struct.Struct("!Q")  # a pool task's length on its task pipe


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


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _statm(field_: int) -> int:
    """Bytes of ``/proc/self/statm``'s field (0: ``VmSize``, 1: ``VmRSS``), in one small read; 0 when unknown."""
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)
        try:
            return int(os.read(fd, 256).split()[field_]) * _PAGE
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        return 0


def _address_space() -> int:
    """Bytes of address space this process maps now (``VmSize``)."""
    size = _statm(0) or (_status_kib("VmSize:") << 10)
    if size:
        return size
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10  # no /proc: the best estimate there is


def _resident() -> int:
    size = _statm(1) or (_status_kib("VmRSS:") << 10)
    return size or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10


def _read_task(tasks) -> Any:
    """The next task of a pool worker's task pipe (a length, then the pickled arguments); None at its end."""
    header = tasks.read(_FRAME.size)
    if len(header) < _FRAME.size:
        return None
    (n,) = _FRAME.unpack(header)
    data = tasks.read(n)
    return pickle.loads(data) if len(data) == n else None


def _worker_main(conn, handler: Callable, budget: Budget, scratch_fd: int, tasks_fd: int | None = None,
                 close_fds: tuple[int, ...] = ()) -> None:
    """A worker's loop. Tasks come from ``conn`` (one at a time: :class:`BudgetWorker`) or, in a
    :class:`BudgetPool`, from the pipe ``tasks_fd`` (queued ahead; ``("start",)`` tells the stage
    when each begins, so its time budget starts then); results go back on ``conn``."""
    for fd in close_fds:  # the pool's ends of the task pipes (this one's and its siblings')
        try:
            os.close(fd)
        except OSError:
            pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stage decides when the worker ends
    scratch = os.fdopen(scratch_fd, "w", closefd=False)
    faulthandler.enable(file=scratch, all_threads=True)  # a death in C code (abort, segfault) leaves its stack
    faulthandler.register(signal.SIGUSR1, file=scratch, all_threads=True)  # the stage's "time is up"
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    start_rss = _resident()
    tasks = os.fdopen(tasks_fd, "rb", buffering=1 << 16) if tasks_fd is not None else None
    while True:
        try:
            args = conn.recv() if tasks is None else _read_task(tasks)
        except (EOFError, OSError):
            return
        if args is None:
            return
        if tasks is not None:
            conn.send(("start",))
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


def death_message(code: int | None, budget: Budget) -> str:
    """Why a worker that died mid-task is taken to have run out of memory (its exit code or signal)."""
    if code is not None and code < 0:
        try:
            how = signal.Signals(-code).name
        except ValueError:
            how = f"signal {-code}"
    else:
        how = f"exit status {code}"
    return f"the worker died ({how}); most likely it ran out of its memory budget ({budget.describe('memory')})"


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
        raise self._killed("memory", death_message(code, self.budget), partial, started)

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


# --------------------------------------------------------------------------- a pool of workers


@dataclass
class _PoolTask:
    key: Any
    frame: bytes  # its length and pickled arguments, as the task pipe carries them
    started: float | None = None  # when the worker said it began (its time budget runs from then)
    partial: list = field(default_factory=list)


class _Slot:
    """One worker of a :class:`BudgetPool`: its process, its task pipe (written without blocking,
    from ``out``), the tasks sent to it and not answered (``sent``, oldest first: the one it runs
    is the first) and the stretch it takes its next tasks from."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: Any = None
        self.conn: Any = None  # results (and "start"/"part" messages) from the worker
        self.wfd: int | None = None  # the pool's end of the task pipe
        self.out = bytearray()  # task bytes not written yet
        self.sent: deque[_PoolTask] = deque()
        self.stretch: deque[_PoolTask] = deque()
        self.scratch = tempfile.TemporaryFile()
        self.unstarted_deaths = 0  # deaths in a row before its first task began


class BudgetPool:
    """:class:`BudgetWorker`'s budgets over ``workers`` forked workers at once.

    :meth:`run` takes stretches of tasks (``(key, args)`` pairs); each worker runs one
    stretch after the other, its tasks in their order (so the caches a worker keeps serve
    consecutive tasks), with the next ``depth - 1`` of them already in its task pipe, so
    it never waits on the stage (a stretch is taken when the worker is down to the last
    task of the one before). Results come back as they are done: ``(key, (result,
    partial))``, or ``(key, exc)`` with an :class:`OverBudget` or :class:`TaskError`.
    Budgets are per task, as with :class:`BudgetWorker`: the time of a task runs from the
    moment its worker begins it; a worker over either budget is killed, its task gets the
    :class:`OverBudget` and the tasks queued behind it are sent again to a fresh worker
    (as are those of a worker that retires, or dies between tasks). :meth:`close` (or
    leaving the ``with`` block) ends every worker: killed when tasks are left (an
    exception, Ctrl-C), else at the end of its task pipe."""

    def __init__(self, handler: Callable[..., Any], budget: Budget, workers: int, name: str = "worker",
                 depth: int = 8) -> None:
        if not budget.enforced:
            raise ValueError("a BudgetPool needs an enforced budget (fork, and a time or memory limit)")
        self.handler = handler
        self.budget = budget
        self.name = name
        self.depth = max(1, depth)
        self.slots = [_Slot(i) for i in range(max(1, workers))]
        self.started = 0  # workers forked so far

    # -- lifecycle
    def _start(self, slot: _Slot) -> None:
        ctx = multiprocessing.get_context("fork")
        rfd, wfd = os.pipe()
        parent, child = ctx.Pipe(duplex=False)  # (the stage's end reads, the worker's writes)
        for fd in (wfd, child.fileno()):  # room for a few tasks and answers, while the other side is busy
            _widen(fd)
        close_fds = tuple(s.wfd for s in self.slots if s.wfd is not None) + (wfd,)
        proc = ctx.Process(target=_worker_main,
                           args=(child, self.handler, self.budget, slot.scratch.fileno(), rfd, close_fds),
                           name=f"skillforge-{self.name}-{slot.index}", daemon=True)
        try:
            proc.start()
        finally:
            child.close()
            os.close(rfd)
        os.set_blocking(wfd, False)
        slot.proc, slot.conn, slot.wfd = proc, parent, wfd
        slot.out = bytearray()
        for task in slot.sent:  # the tasks queued for it before it started
            slot.out += task.frame
        self.started += 1

    def _stop(self, slot: _Slot, kill: bool) -> None:
        """End a slot's worker; the tasks it was sent and did not answer go back to the front of its stretch."""
        proc, conn, wfd = slot.proc, slot.conn, slot.wfd
        slot.proc = slot.conn = slot.wfd = None
        slot.out = bytearray()
        slot.stretch.extendleft(reversed(slot.sent))
        for task in slot.sent:
            task.started, task.partial = None, []
        slot.sent.clear()
        if wfd is not None:
            os.close(wfd)  # the end of its task pipe: a worker between tasks returns
        if proc is None:
            return
        if kill and proc.is_alive():
            proc.kill()
        proc.join(timeout=None if kill else 5)
        if proc.is_alive():
            proc.kill()
            proc.join()
        conn.close()
        proc.close()

    def close(self, kill: bool = False) -> None:
        for slot in self.slots:
            self._stop(slot, kill=kill or bool(slot.sent))
            slot.stretch.clear()
            slot.scratch.close()
        self.slots = []

    def __enter__(self) -> BudgetPool:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(kill=exc_type is not None)

    # -- tasks
    def _fill(self, slot: _Slot, take: Callable[[int], Iterable[tuple[Any, tuple]] | None]) -> None:
        """Queue tasks for a slot's worker up to ``depth`` from its stretch; the next stretch is taken
        when the worker is down to its last task of this one (so a worker holds no stretch another
        one, idle, could run)."""
        while len(slot.sent) < self.depth:
            if not slot.stretch:
                if len(slot.sent) > 1:
                    break
                stretch = take(slot.index)
                if stretch is None:
                    break
                slot.stretch.extend(_PoolTask(key, _frame(args)) for key, args in stretch)
                continue
            task = slot.stretch.popleft()
            slot.sent.append(task)
            if slot.proc is not None:
                slot.out += task.frame
        if slot.sent and slot.proc is None:
            self._start(slot)

    def _write(self, slot: _Slot) -> bool:
        """Write what the task pipe takes now; False when the worker is gone."""
        try:
            n = os.write(slot.wfd, slot.out)
        except BlockingIOError:
            return True
        except (BrokenPipeError, OSError):
            return False
        del slot.out[:n]
        return True

    def _scratch_text(self, slot: _Slot) -> str:
        data = os.pread(slot.scratch.fileno(), 1 << 20, 0)
        return data.decode("utf-8", "replace")

    def _receive(self, slot: _Slot, done: list) -> bool:
        """Take every message the worker sent; False when its pipe ended (it is gone)."""
        try:
            while slot.conn.poll(0):
                msg = slot.conn.recv()
                task = slot.sent[0]
                kind = msg[0]
                if kind == "start":
                    task.started = time.monotonic()
                    slot.unstarted_deaths = 0
                    continue
                if kind == "part":
                    task.partial.append(msg[1])
                    continue
                slot.sent.popleft()
                retire = msg[-1]
                elapsed = time.monotonic() - (task.started or time.monotonic())
                if kind == "ok":
                    done.append((task.key, (msg[1], task.partial)))
                elif kind == "memory":
                    done.append((task.key, OverBudget(
                        "memory", f"ran out of its memory budget ({self.budget.describe('memory')})", msg[1],
                        task.partial, elapsed)))
                else:
                    done.append((task.key, TaskError(msg[1], msg[2], msg[3], task.partial)))
                if retire:  # it returns after this answer: the tasks behind it go to a fresh worker
                    self._stop(slot, kill=False)
                    return True
        except (EOFError, OSError):
            return False
        return True

    def _blame(self, slot: _Slot, resource_: str, message: str, done: list) -> None:
        """The worker is killed, or died: its running task gets the OverBudget, the others go back."""
        task = slot.sent.popleft()
        elapsed = time.monotonic() - (task.started or time.monotonic())
        partial = task.partial
        self._stop(slot, kill=True)
        done.append((task.key, OverBudget(resource_, message, self._scratch_text(slot), partial, elapsed)))

    def _died(self, slot: _Slot, done: list) -> None:
        proc = slot.proc
        proc.join(timeout=1)
        code = proc.exitcode
        if not slot.sent:
            return self._stop(slot, kill=True)
        if slot.sent[0].started is None:
            slot.unstarted_deaths += 1
            if slot.unstarted_deaths < 2:  # it died between tasks: a fresh one takes them all
                return self._stop(slot, kill=True)
        self._blame(slot, "memory", death_message(code, self.budget), done)

    def run(self, stretches: Iterable[Iterable[tuple[Any, tuple]]] | Callable[[int], Iterable[tuple[Any, tuple]] | None]
            ) -> Iterator[tuple[Any, Any]]:
        """Run every task of ``stretches``; yields ``(key, (result, partial))`` or ``(key, exc)`` as each is done.
        ``stretches``: the stretches in the order workers take them, or a function giving the next stretch
        for the worker of a slot (its index, from 0), None when there is none for it."""
        if callable(stretches):
            take = stretches
        else:
            it = iter(stretches)

            def take(_slot: int):
                return next(it, None)

        seconds = self.budget.seconds
        while True:
            for slot in self.slots:
                self._fill(slot, take)
            active = [s for s in self.slots if s.sent]
            if not active:
                return
            poller = select.poll()
            fds: dict[int, _Slot] = {}  # its answers, and its process's sentinel (readable once it ended)
            for slot in active:
                if slot.out and not self._write(slot):
                    slot.out = bytearray()  # it is gone: its sentinel says so
                for fd in (slot.conn.fileno(), slot.proc.sentinel):
                    fds[fd] = slot
                    poller.register(fd, select.POLLIN)
                if slot.out:
                    poller.register(slot.wfd, select.POLLOUT)
            now = time.monotonic()
            wait = 1.0
            if seconds > 0:
                for slot in active:
                    if slot.sent[0].started is not None:
                        wait = min(wait, max(0.0, slot.sent[0].started + seconds - now))
            events = poller.poll(wait * 1000)
            done: list = []
            readable = {fd for fd, ev in events if ev & (select.POLLIN | select.POLLHUP | select.POLLERR)}
            seen: set[int] = set()
            for fd in sorted(readable):
                slot = fds.get(fd)
                if slot is None or slot.index in seen or slot.proc is None:
                    continue
                seen.add(slot.index)
                alive = self._receive(slot, done)
                if slot.proc is None:
                    continue
                if not alive or not slot.proc.is_alive():
                    self._receive(slot, done)  # its last answers, before it died
                    if slot.proc is not None:
                        self._died(slot, done)
            if seconds > 0:
                now = time.monotonic()
                for slot in self.slots:
                    if slot.proc is None or not slot.sent:
                        continue
                    head = slot.sent[0]
                    if head.started is not None and now - head.started >= seconds:
                        if slot.proc.is_alive():
                            os.kill(slot.proc.pid, signal.SIGUSR1)  # faulthandler: where it was
                            time.sleep(0.2)
                        self._receive(slot, done)  # it may have finished meanwhile
                        if slot.proc is not None and slot.sent and slot.sent[0] is head:
                            self._blame(slot, "time", f"ran out of its time budget "
                                                      f"({self.budget.describe('time')})", done)
            yield from done


def _widen(fd: int, size: int = 1 << 20) -> None:
    """Give a pipe ``size`` bytes of buffer where the system allows (Linux: up to ``pipe-max-size``)."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError):
        pass


def _frame(args: tuple) -> bytes:
    data = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME.pack(len(data)) + data


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
