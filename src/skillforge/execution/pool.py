"""A warm container pool: the Docker executor without a container start per run.

Training rewards and evaluation of execution-based skills (editing, test
generation, reproduction, review by execution) run the same few environments
thousands of times. ``WarmPool`` keeps, per environment, up to ``size``
long-lived containers of the env image, created on first use with exactly the
sealed sandbox of ``DockerExecutor`` (read-only root file system, size-limited
tmpfs for ``/testbed``, ``/tmp``, ``/home`` and ``/sf/out``, ``/sf`` a volume
owned by root; network off, uid 1000, all capabilities dropped, no new
privileges, memory/CPU/pid limits), running ``sleep infinity`` under an init
as root (with a job server, below) or ``nobody``: a user the run's uid cannot
signal. A run gives the same
``RunResult`` as ``DockerExecutor``:

1. check a container out: at most ``size`` runs per environment at once;
   callers wait up to ``acquire_timeout`` seconds, then get an ``InfraError``;
2. send the run to the container's job server (``execution.jobs``: one
   ``docker exec`` as root for all the container's runs, started with it): it
   puts the run's files in ``/sf`` (the very files and ``run.sh`` of
   ``DockerExecutor``, and nothing else) and starts the run's shell as uid 1000
   with the environment and groups of an exec as that user; the client reads
   its stdout (the protocol: phases, the output directory, the exit code) and
   stderr (the test output) apart, up to the job server's end lines (marked
   with a nonce of the run's that the run cannot know). Where the job server
   cannot start (an image without ``python3``), each run is a ``docker exec``
   of its own, started while its files are copied in with ``put_archive``. The
   keeper is then root with the SETUID and SETGID capabilities only (the job
   server needs them; the run's shell has none). The timeout is enforced inside the
   container by a watchdog (the job server; without one, ``sleep`` then ``kill -9 -1``,
   see ``_run_command``) and by a client-side guard on top;
3. reset, in the same shell once ``run.sh`` has ended (its EXIT trap, as uid
   1000): kill every process of the uid until none is left, empty every place
   the run can write (the tmpfs mounts, ``/dev/shm``, POSIX message queues,
   System V IPC), restore the modes of the mount points, check that all of it
   holds and report on the protocol stream. The root file system is read-only,
   so nothing else can differ from a fresh container; ``run.sh`` unpacks the
   install products and the run's tree into the empty ``/testbed`` as it does in
   a fresh container.

A container that timed out, ran out of memory, failed in setup or shows any
anomaly at reset (a process that survives SIGKILL, a path it cannot clear) is
removed and replaced by a fresh one at the next checkout: it is never reused
dirty. A run that fails for the sandbox's sake in a reused container is tried
once more in a fresh one.

``close()`` (also at interpreter exit, and on leaving a ``with`` block)
removes every container. Containers carry the labels ``skillforge.kind=pool``
and ``skillforge.owner`` (host, pid and start of the owning process), so
``cleanup.remove_dead_owners`` finds and removes those of dead processes.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import re
import secrets
import shlex
import stat
import threading
import time
import uuid
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import docker.errors
from docker.utils.socket import STDOUT, frames_iter
import requests.exceptions

from skillforge.settings import Settings
from skillforge.execution import InfraError, RunResult, RunSpec
from skillforge.execution.images import LABEL_KIND, PRODUCTS_TAR, TESTBED, build_tar, owner, remove_container
from skillforge.execution.jobs import TIMED_OUT, Sources
from skillforge.execution.sandbox import (
    PROTOCOL, SEALED_MODES, DockerExecutor, EnvInfo, SourceProvider, _Ended, _HeadTail, _parse_protocol, _pump, _Tail,
    forks_scripts, warm_python,
)

if TYPE_CHECKING:
    from skillforge.execution.backend import Backend

LABEL_POOL = "pool"
LABEL_OWNER = "skillforge.owner"
LABEL_POOL_ID = "skillforge.pool"
KEEPER_USER = "65534:65534"  # nobody: runs the init and `sleep infinity`; the run's uid cannot signal it
FORK_SERVER_UID = 65534  # the real and saved uid of a fork server (execution.warm): not the run's
JOBS_KEEPER_USER = "0:0"  # with a job server: root, with SETUID and SETGID only (``_pool_options``)
GUARD_S = 30.0  # client-side slack over the in-container timeout
GO = b"go\n"  # the line a run's shell waits for on its stdin: its files are in place
_ENGINE_ERRORS = (docker.errors.APIError, requests.exceptions.RequestException, OSError)


def remove_leftover_pool_containers(client) -> int:
    """Removes the pool containers whose owning process (on this host) is gone,
    e.g. after a kill -9 (``cleanup.remove_dead_owners`` for the pool kind)."""
    from skillforge.execution.cleanup import remove_dead_owners

    return remove_dead_owners(client, kinds=(LABEL_POOL,))


# --------------------------------------------------------------------------- scripts run in the container


def _tmpfs_roots(options: dict, uid: int) -> list[tuple[str, int | None]]:
    """(mount point, mode to restore or None) of the tmpfs mounts of the sandbox;
    the mode is restored where the run's uid owns the mount point (it could chmod it)."""
    roots = []
    for path, opts in (options.get("tmpfs") or {}).items():
        fields = dict(o.split("=", 1) for o in opts.split(",") if "=" in o)
        owned = fields.get("uid") == str(uid)
        mode = int(fields["mode"], 8) if owned and fields.get("mode", "").isdigit() else None
        roots.append((path, mode))
    return roots


@functools.lru_cache(maxsize=None)
def _warm_source() -> str:
    """The program of a container's warm interpreter (``execution.warm``)."""
    from skillforge.execution import warm

    return Path(warm.__file__).read_text()


def _run_command(uid: int, roots: list[tuple[str, int | None]], timeout: int, warm_python: str | None = None,
                 take_warm: bool = False, handshake: bool = True, fork: bool = False, job_server: bool = False) -> str:
    """The shell of one run: ``run.sh`` sourced under a watchdog, and the reset
    as its EXIT trap.

    The watchdog, after ``timeout`` seconds, reports the timeout on the
    protocol stream with the container's process count and memory use at that
    moment, and SIGKILLs every process of the uid (itself spared), this shell
    included: a timed-out container is never reset, it is discarded. (Not
    ``timeout(1)`` as a parent: when ``run.sh`` ends it kills every process of
    its uid but itself -- what the run left behind -- which would include the
    parent; the watchdog, a child, goes with them. It is disowned, so that its
    end is not reported on the run's output.)

    The reset runs in this shell once ``run.sh`` exits (it exits through its
    ``finish``, after the protocol is written): it kills every process of the
    uid until none is left (``kill -1`` spares the caller and, by permission,
    the keeper), empties every place a run can write (the tmpfs mounts,
    ``/dev/shm``, POSIX message queues), restores the modes of the mount points
    the uid owns, removes System V IPC objects, and reports on the protocol
    stream ``pool OOM <oom kills of the container so far>`` and then
    ``pool CLEAN`` or ``pool ANOMALY: ...`` lines. It writes nothing else:
    stdout is the run's output by then.

    ``warm_python``: the interpreter of the environment's ``<python> -m pytest``
    test command. A clean reset then starts that interpreter with pytest imported
    (``execution.warm``), for the next run. A run whose test command can use it
    (``take_warm``) takes it at its test command, waiting for it if it is still
    importing (the run's setup goes on meanwhile), and removes its folder before it
    runs anything; any other run kills it before it starts. One interpreter per
    run, never shared.

    ``fork``: the run's pytest (or its script, ``python /sf/script.py``) comes from the container's
    fork server (``execution.warm``, through the job server: fd 5), and the reset starts no interpreter.

    ``handshake``: wait for ``GO`` on stdin first (an exec started while its files are copied
    in); the job server (``execution.jobs``) starts the shell once they are in place.

    ``job_server``: the shell of a job server's job (``execution.jobs``), which is the run's watchdog
    (the job's ``timeout``: the same line, the same kill, without two processes of the run's per
    run) and takes the output directory (``SF_COLLECT``: ``run.sh``'s ``finish`` stops its shell, the
    job server writes what ``df``, ``tar`` and ``base64`` would have written, then lets it go on).
    """
    places = " ".join(shlex.quote(p) for p, _ in roots) + " /dev/shm /dev/mqueue"
    owned = [(p, m) for p, m in roots if m is not None]
    say = f"printf '{PROTOCOL} pool %s\\n' \"$*\" >&3 2>/dev/null"
    lines = [
        # the run's files are in place once this line comes (else: nothing was done); then no stdin
        *(["IFS= read -r sf_go && [ \"$sf_go\" = %s ] || exit 97" % GO.decode().strip()] if handshake else []),
        "exec 0</dev/null",
        "unset sf_go",
        *(["SF_COLLECT=1"] if job_server else []),
        # the warm interpreter the last reset started: left to this run's test command, or gone now
        "SF_WARM_TAKE=; SF_FORK=1" if fork else
        "SF_WARM_TAKE=1" if warm_python and take_warm else
        "SF_WARM_TAKE=; kill -9 -1 2>/dev/null; rm -rf /tmp/.sf-warm /tmp/.sf-warm.* 2>/dev/null",
        "sf_reset() {",
        "  local rc=$? bad=0 n=0 oom=0 k v left f l",
        "  trap - EXIT",
        f"  say() {{ {say}; }}",
        "  note() { say \"ANOMALY: $*\"; bad=1; }",
        # mine: another process of the uid exists (the real uid in /proc/PID/status, read with builtins)
        "  mine() { local p l; for p in /proc/[0-9]*; do [ \"$p\" = \"/proc/$$\" ] && continue; "
        "while read -r l; do case $l in Uid:*) set -- $l; [ \"$2\" = %d ] && return 0; break;; esac; "
        "done 2>/dev/null < \"$p/status\"; done; return 1; }" % uid,
        "  while mine; do kill -9 -1 2>/dev/null; n=$((n+1)); [ $n -ge 300 ] && break; sleep 0.01; done",
        "  mine && note 'processes of the run survive SIGKILL'",
        "  for f in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do",
        "    [ -r \"$f\" ] || continue",
        "    while read -r k v; do [ \"$k\" = oom_kill ] && oom=$v; done < \"$f\"",
        "  done",
        "  say \"OOM $oom\"",
        f"  left=$(find {places} -mindepth 1 ! -delete -print 2>/dev/null)",
        "  if [ -n \"$left\" ]; then",
        f"    chmod -R u+rwX {places} >/dev/null 2>&1",
        f"    left=$(find {places} -mindepth 1 ! -delete -print 2>/dev/null | head -n 3)",
        "    [ -n \"$left\" ] && note \"cannot clear\" $left",
        "  fi",
    ]
    if owned:
        # the mount points the uid owns: their modes as `ls -ld` prints them; one whose mode differs (or that
        # ls does not list) is given its mode back; ACLs cannot be reset by the uid, only reported
        lines.append("  local seen=' ' p")
        lines.append("  while read -r l; do")
        lines.append("    case $l in ??????????+*) note \"ACLs left on $l\";; esac")
        lines.append("    p=${l##* }; seen=\"$seen$p \"")
        reset = {path: f"chmod 0{mode & 0o7777:04o} {shlex.quote(path)} >/dev/null 2>&1 || "
                       f"note 'cannot reset the mode of {path}'" for path, mode in owned}
        lines.append("    case $p in")
        for path, mode in owned:
            shown = stat.filemode(stat.S_IFDIR | mode)
            lines.append(f"      {shlex.quote(path)}) [ \"${{l:0:10}}\" = {shlex.quote(shown)} ] || {reset[path]};;")
        lines.append("    esac")
        lines.append(f"  done < <(ls -ld {' '.join(shlex.quote(p) for p, _ in owned)} 2>/dev/null)")
        for path, _mode in owned:
            lines.append(f"  case $seen in *' {path} '*) ;; *) {reset[path]};; esac")
    lines += [
        "  for f in /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg; do",
        "    { read -r l; read -r l && { ipcrm -a >/dev/null 2>&1; break; }; } < \"$f\" 2>/dev/null",
        "  done",
        "  for f in /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg; do",
        "    { read -r l; read -r l && note \"System V IPC objects left ($f)\"; } < \"$f\" 2>/dev/null",
        "  done",
        "  [ $bad = 0 ] && say CLEAN",
    ]
    if warm_python:
        # its folder is made before this shell ends, so the next run knows it is coming
        lines.append(f"  [ $bad = 0 ] && {{ (d=/tmp/.sf-warm.$BASHPID; mkdir -m 700 \"$d\" && cd /tmp && "
                     f"exec {shlex.quote(warm_python)} -c {shlex.quote(_warm_source())}) "
                     "</dev/null >/dev/null 2>&1 3>&- 8>&- 9>&- & }")
    lines += [
        "  exit $rc",
        "}",
        "trap sf_reset EXIT",
    ]
    if not job_server:
        lines += [
            # the watchdog: builtins only after the sleep (a fork bomb may have taken every pid)
            f"(sleep {int(timeout)}; p=; m=",
            " for f in /sys/fs/cgroup/pids.current /sys/fs/cgroup/pids/pids.current; do "
            "[ -r \"$f\" ] && read -r p < \"$f\" && break; done",
            " for f in /sys/fs/cgroup/memory.current /sys/fs/cgroup/memory/memory.usage_in_bytes; do "
            "[ -r \"$f\" ] && read -r m < \"$f\" && break; done",
            f" printf '%s %s %s\\n' {shlex.quote(TIMED_OUT)} \"$p\" \"$m\"",
            " kill -9 -1) </dev/null & disown $!",
        ]
    lines.append(". /sf/run.sh")
    return "\n".join(lines)


# --------------------------------------------------------------------------- pool state


JOBS_READY = f"{PROTOCOL} jobs ready\n".encode()
JOBS_START_S = 30.0  # how long a container's job server may take to answer


@functools.lru_cache(maxsize=None)
def _jobs_source() -> str:
    """The program of a container's job server (``execution.jobs``)."""
    from skillforge.execution import jobs

    return Path(jobs.__file__).read_text()


class _Until:
    """The bytes of a stream up to ``marker`` go to ``sink``; what follows the marker is kept
    in ``after``. A marker split over two chunks is found (the end of a chunk that could begin
    one is held back until the next)."""

    def __init__(self, marker: bytes, sink):
        self.marker, self.sink = marker, sink
        self.carry, self.found, self.after = b"", False, bytearray()

    def feed(self, data: bytes) -> None:
        if self.found:
            self.after += data
            return
        buf = self.carry + data
        at = buf.find(self.marker)
        if at >= 0:
            self.sink.add(buf[:at])
            self.carry, self.found = b"", True
            self.after += buf[at + len(self.marker):]
            return
        cut = max(0, len(buf) - len(self.marker) + 1)
        if cut:
            self.sink.add(buf[:cut])
        self.carry = buf[cut:]

    def flush(self) -> None:
        if self.carry:
            self.sink.add(self.carry)
            self.carry = b""


class _Job:
    """One run on a job server: its protocol (stdout) and output (stderr) up to the server's
    end lines, which carry the job's nonce, and the status it reports."""

    def __init__(self, nonce: str, protocol, output):
        self.nonce = nonce
        self.stdout = _Until(f"\n{PROTOCOL} job {nonce} end ".encode(), protocol)
        self.stderr = _Until(f"{PROTOCOL} job {nonce} end".encode(), output)
        self.status: int | None = None
        self.lost: str | None = None  # the server's stream ended before the job did: why
        self.done = threading.Event()

    def feed(self, stream: int, data: bytes) -> None:
        (self.stdout if stream == STDOUT else self.stderr).feed(data)
        if self.status is None and self.stdout.found and b"\n" in self.stdout.after:
            field, _, rest = bytes(self.stdout.after).partition(b"\n")
            self.status = int(field) if field.isdigit() else -1
            self.stdout.after = bytearray(rest)
        if self.status is not None and self.stderr.found:
            self.done.set()

    def stray(self) -> int:
        """Bytes written after the job's end (nothing of a clean run can write then)."""
        return len(self.stdout.after) + len(self.stderr.after) if self.status is not None else 0

    def end(self, why: str) -> None:
        if not self.done.is_set():
            self.stdout.flush()
            self.stderr.flush()
            self.lost = why
            self.done.set()


class _JobServer:
    """The client of a container's job server (``execution.jobs``): one exec, as root, for
    all the container's runs; a thread hands each frame of its stream to the current job."""

    def __init__(self, api, container_id: str):
        exec_id = api.exec_create(container_id, ["python3", "-I", "-S", "-c", _jobs_source()], user="0:0",
                                  workdir="/", stdin=True)["Id"]
        self.sock = api.exec_start(exec_id, socket=True)
        for s in (self.sock, getattr(self.sock, "_sock", None)):
            with contextlib.suppress(Exception):
                if s is not None and hasattr(s, "settimeout"):
                    s.settimeout(None)
        self._lock = threading.Lock()
        self._job: _Job | None = None
        self._boot, self._boot_err = bytearray(), bytearray()
        self.stray = 0
        self.ended: str | None = None
        self._settled = threading.Event()  # ready, or ended before it was
        self.ready = False
        threading.Thread(target=self._read, name="sf-pool-jobs", daemon=True).start()
        if not self._settled.wait(JOBS_START_S) or not self.ready:
            self.close()
            raise InfraError("the job server did not start: "
                             f"{(self.ended or 'no answer')} {bytes(self._boot_err[-300:])!r}", triage="sandbox")

    def _read(self) -> None:
        why = "the job server's stream ended"
        try:
            for stream, data in frames_iter(self.sock, tty=False):
                with self._lock:
                    job = self._job
                if job is not None:
                    job.feed(stream, data)
                elif self.ready:
                    self.stray += len(data)
                elif stream == STDOUT:
                    self._boot += data
                    if JOBS_READY in self._boot:
                        self.stray += len(self._boot) - len(JOBS_READY)
                        self.ready = True
                        self._settled.set()
                else:
                    self._boot_err += data[-1000:]
        except Exception as exc:  # noqa: BLE001 - given to the waiting run
            why = f"lost the job server's stream: {exc}"
        with self._lock:
            self.ended, job = why, self._job
        self.close()  # the container is gone or going: nothing more comes
        self._settled.set()
        if job is not None:
            job.end(why)

    def submit(self, job: _Job, header: bytes, payload: bytes, tail: bytes = b"") -> None:
        with self._lock:
            previous = self._job
            if self.ended:
                raise InfraError(f"the job server is gone ({self.ended})", triage="sandbox")
            if self.stray or (previous is not None and previous.stray()):
                raise InfraError("output came after the end of the previous run", triage="sandbox")
            self._job = job
        _send(self.sock, header)
        _send(self.sock, payload)
        if tail:
            _send(self.sock, tail)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sock.close()


@dataclass
class _Warm:
    container: Any
    environment: str
    born: float  # monotonic
    runs: int = 0
    oom_kills: int = 0
    files: frozenset[str] = frozenset()  # names the last run put under /sf
    sources: Sources = field(default_factory=Sources)  # the account of what its job server keeps
    idle_since: float = 0.0  # monotonic, while idle
    roots: list[tuple[str, int | None]] = field(default_factory=list)  # tmpfs mounts: (path, mode to restore)
    jobs: _JobServer | None = None  # its job server (None: a docker exec per run)
    exec_env: dict[str, str] = field(default_factory=dict)  # what an exec as the sandbox's user gets
    groups: list[int] = field(default_factory=list)


@dataclass
class _Slots:
    idle: list[_Warm] = field(default_factory=list)
    live: int = 0  # containers that exist or are being created


class WarmPool(DockerExecutor):
    """``Executor`` over warm containers per environment, with the results of
    ``DockerExecutor``. Thread-safe; ``stats()`` for logging."""

    def __init__(self, client, settings: Settings, environments: Mapping[str, EnvInfo] | Callable[[str], EnvInfo],
                 source_provider: SourceProvider, *, size: int = 4, acquire_timeout: float = 1800.0,
                 idle_timeout: float | None = 600.0, max_idle: int | None = None, log_dir: str | Path | None = None,
                 warm: bool = True, jobs: bool = True, fork_server: bool = False, **kwargs):
        super().__init__(client, settings, environments, source_provider, log_dir=log_dir, **kwargs)
        if size < 1:
            raise ValueError(f"pool size must be at least 1, not {size}")
        self.size = size
        self.acquire_timeout = acquire_timeout
        self.idle_timeout = idle_timeout  # an idle container is removed after this many seconds
        # idle containers kept over all environments (each holds a warm interpreter): beyond it, the one
        # idle longest goes (a validation walks through many eras, each its own environment)
        self.max_idle = max_idle
        self.warm = warm  # start pytest ahead of each run (execution.warm) where the test command allows
        self.jobs = jobs  # runs go to each container's job server (execution.jobs), not an exec each
        # pytest (and scripts) from one fork server per container (execution.warm), pytest imported once; its
        # runs share the interpreter's hash seed, so not for validation (reruns look for order-dependent tests)
        self.fork_server = fork_server and jobs
        self.id = uuid.uuid4().hex[:12]
        self._owner = owner()
        self._cond = threading.Condition()
        self._slots: dict[str, _Slots] = {}
        self._all: dict[str, _Warm] = {}  # container id -> container, busy or idle
        self._busy_since: dict[str, float] = {}  # container id -> when checked out
        self._closed = False
        self._latencies: deque[float] = deque(maxlen=10_000)
        self._waits: deque[float] = deque(maxlen=10_000)
        self._counts: Counter = Counter()
        self.discard_reasons: Counter = Counter()
        self.jobs_unavailable_reason = ""  # why the last container without a job server has none
        self._busy_s = 0.0
        self._container_s = 0.0  # lifetimes of removed containers
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- public ------------------------------------------------------------
    def run(self, environment: str, spec: RunSpec, *, log_name: str | None = None) -> RunResult:
        if spec.network:  # pooled containers are network-off for good: a network run gets its own container
            return super().run(environment, spec, log_name=log_name)
        called = time.monotonic()
        env = self.environment(environment)
        if not self._layout_ok(env.image):
            raise InfraError(f"environment image {env.image} was built by an older skillforge (no install products "
                             f"at {PRODUCTS_TAR}); rebuild it (skillforge images prune, then validate again)",
                             triage="image_build")
        timeout, tests, files = self._sealed_parts(env, spec)
        log_path = self._log_path(log_name)
        try:
            for attempt in (0, 1):
                warm = self._checkout(environment, env)
                checked_out = time.monotonic()
                with self._cond:
                    self._waits.append(checked_out - called)
                reused = warm.runs > 0
                keep: bool | str = "error"
                try:
                    ended, keep = self._run_in(warm, env, spec, files, timeout, log_path)
                    # raises InfraError (sandbox setup failed): the container is discarded
                    result = self._conclude(environment, env, spec, tests, timeout, log_path, ended)
                    break
                except InfraError as exc:
                    keep = f"infra error ({exc.triage})"
                    # a reused container that broke is not the run's fault: once more in a fresh one
                    if attempt == 0 and reused and exc.triage == "sandbox" and not self._closed:
                        with self._cond:
                            self._counts["retries"] += 1
                        continue
                    raise
                finally:
                    self._checkin(warm, keep, checked_out)
        except InfraError:
            with self._cond:
                self._counts["infra_errors"] += 1
            raise
        with self._cond:
            self._counts["runs"] += 1
            self._counts["timeouts"] += result.status == "timeout"
            self._latencies.append(time.monotonic() - called)
        return result

    def stats(self) -> dict[str, float]:
        """Numbers for the trainer's logs: runs, timeouts, latency of whole ``run``
        calls (waiting included; mean, p50, p95 in seconds), mean wait for a
        container, utilisation (busy container-seconds over live container-seconds,
        both given too, so that a caller can take the utilisation of a window),
        containers started / discarded (dirty) / evicted (idle) / live / busy."""
        with self._cond:
            now = time.monotonic()
            lat = sorted(self._latencies)
            live_s = self._container_s + sum(now - w.born for w in self._all.values())
            busy_s = self._busy_s + sum(now - t for t in self._busy_since.values())
            return {
                "runs": float(self._counts["runs"]),
                "timeouts": float(self._counts["timeouts"]),
                "infra_errors": float(self._counts["infra_errors"]),
                "retries": float(self._counts["retries"]),
                # runs whose pytest (or script, with a fork server) was started ahead of them
                "warm_runs": float(self._counts["warm_runs"]),
                "jobs_unavailable": float(self._counts["jobs_unavailable"]),  # containers without a job server
                # compilations (imports, pytest's assertion rewrites) a fork server's code cache served
                # (as its runs count them)
                "code_cache_hits": float(self._counts["code_cache_hits"]),
                "latency_mean_s": sum(lat) / len(lat) if lat else 0.0,
                "latency_p50_s": _quantile(lat, 0.5),
                "latency_p95_s": _quantile(lat, 0.95),
                "wait_mean_s": sum(self._waits) / len(self._waits) if self._waits else 0.0,
                "utilisation": min(1.0, busy_s / live_s) if live_s > 0 else 0.0,
                "busy_container_s": busy_s,
                "live_container_s": live_s,
                "containers_started": float(self._counts["started"]),
                "containers_discarded": float(self._counts["discarded"]),
                "containers_evicted": float(self._counts["evicted"]),
                "containers_live": float(len(self._all)),
                "containers_busy": float(len(self._busy_since)),
            }

    def containers(self) -> list[str]:
        """Ids of the pool's containers alive now (busy or idle)."""
        with self._cond:
            return list(self._all)

    def close(self) -> None:
        """Removes every container; runs still in progress end with an ``InfraError``."""
        with self._cond:
            self._closed = True
            doomed = list(self._all.values())
            self._all.clear()
            for slots in self._slots.values():
                slots.idle.clear()
            now = time.monotonic()
            self._container_s += sum(now - w.born for w in doomed)
            self._cond.notify_all()
        for warm in doomed:
            self._remove_quietly(warm.container)

    def __enter__(self) -> "WarmPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- checkout / checkin --------------------------------------------------
    def _checkout(self, environment: str, env: EnvInfo) -> _Warm:
        self._evict_idle()
        deadline = time.monotonic() + self.acquire_timeout
        with self._cond:
            slots = self._slots.setdefault(environment, _Slots())
            while True:
                if self._closed:
                    raise InfraError("the warm container pool is closed", triage="sandbox")
                if slots.idle:
                    warm = slots.idle.pop()
                    self._busy_since[warm.container.id] = time.monotonic()
                    return warm
                if slots.live < self.size:
                    slots.live += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InfraError(f"no container of {environment} free within {self.acquire_timeout:.0f}s "
                                     f"(all {self.size} busy)", triage="pool")
                self._cond.wait(left)
        born = time.monotonic()
        try:
            warm = self._start(environment, env, born)
        except BaseException:
            with self._cond:
                slots.live -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            self._counts["started"] += 1
            if not self._closed:
                self._all[warm.container.id] = warm
                self._busy_since[warm.container.id] = born
                return warm
            slots.live -= 1
        self._remove_quietly(warm.container)
        raise InfraError("the warm container pool is closed", triage="sandbox")

    def _checkin(self, warm: _Warm, keep: bool | str, checked_out: float) -> None:
        """``keep``: True to return the container to the pool, else why it is discarded."""
        cid = warm.container.id
        with self._cond:
            self._busy_s += time.monotonic() - self._busy_since.pop(cid, checked_out)
            slots = self._slots[warm.environment]
            alive = cid in self._all  # else the pool was closed meanwhile
            if keep is True and alive and not self._closed:
                warm.idle_since = time.monotonic()
                slots.idle.append(warm)
                surplus = self._surplus_idle()
                self._cond.notify_all()
                for old in surplus:
                    self._remove_quietly(old.container)
                return
            slots.live -= 1
            if alive:
                del self._all[cid]
                self._container_s += time.monotonic() - warm.born
                self._counts["discarded"] += 1
                self.discard_reasons[keep if isinstance(keep, str) else "closed"] += 1
            self._cond.notify_all()
        self._remove_quietly(warm.container)

    def _surplus_idle(self) -> list[_Warm]:
        """Takes out the idle containers over ``max_idle``, the longest idle first (the lock is held)."""
        if self.max_idle is None:
            return []
        idle = sorted((w for slots in self._slots.values() for w in slots.idle), key=lambda w: w.idle_since)
        surplus = idle[:max(0, len(idle) - self.max_idle)]
        now = time.monotonic()
        for warm in surplus:
            self._slots[warm.environment].idle.remove(warm)
            self._slots[warm.environment].live -= 1
            if self._all.pop(warm.container.id, None) is not None:
                self._container_s += now - warm.born
                self._counts["evicted"] += 1
        return surplus

    def _evict_idle(self) -> None:
        """Removes containers idle for longer than ``idle_timeout`` (environments no longer scored)."""
        if self.idle_timeout is None:
            return
        now, old = time.monotonic(), []
        with self._cond:
            for slots in self._slots.values():
                stale = [w for w in slots.idle if now - w.idle_since > self.idle_timeout]
                for warm in stale:
                    slots.idle.remove(warm)
                    slots.live -= 1
                    if self._all.pop(warm.container.id, None) is not None:
                        self._container_s += now - warm.born
                        self._counts["evicted"] += 1
                    old.append(warm)
            if old:
                self._cond.notify_all()
        for warm in old:
            self._remove_quietly(warm.container)

    # -- containers ------------------------------------------------------------
    def _pool_options(self, recipe) -> dict:
        options = self._sealed_options(recipe)
        if not options.get("read_only"):
            raise InfraError("the warm pool needs the sealed sandbox (read-only root file system)", triage="sandbox")
        options["user"] = KEEPER_USER
        if self.jobs:
            # The job server (execution.jobs), root, starts each run's shell as the sandbox's user:
            # SETUID and SETGID, nothing else. The engine gives an exec capabilities only where the
            # container's user is root, so the keeper is root too (the run's uid can signal neither).
            options["user"], options["cap_add"] = JOBS_KEEPER_USER, ["SETUID", "SETGID"]
        return options

    def _start(self, environment: str, env: EnvInfo, born: float) -> _Warm:
        container = None
        try:
            container = self.client.containers.create(
                env.image, command=["sleep", "infinity"], **self._pool_options(env.recipe),
                name=f"sf-pool-{uuid.uuid4().hex[:12]}",
                labels={LABEL_KIND: LABEL_POOL, "skillforge.environment": environment[:200],
                        LABEL_OWNER: self._owner, LABEL_POOL_ID: self.id},
            )
            container.start()
        except docker.errors.ImageNotFound as exc:
            self._remove_quietly(container)
            raise InfraError(f"environment image {env.image} is missing (build it first): {exc}",
                             triage="image_build") from exc
        except _ENGINE_ERRORS as exc:
            self._remove_quietly(container)
            raise InfraError(f"Docker engine error starting a warm container of {environment}: {exc}",
                             triage="sandbox") from exc
        except BaseException:
            self._remove_quietly(container)
            raise
        warm = _Warm(container=container, environment=environment, born=born,
                     roots=_tmpfs_roots(self._pool_options(env.recipe), self._uid))
        if self.jobs:
            try:
                self._start_jobs(warm)
            except BaseException:
                self._remove_quietly(container)
                raise
        return warm

    def _start_jobs(self, warm: _Warm) -> None:
        """Starts the container's job server, with the environment and groups that an exec as
        the sandbox's user has (its shells get exactly those)."""
        container = warm.container
        try:
            code, out = container.exec_run(["/bin/sh", "-c", "id -G && exec cat /proc/self/environ"],
                                           user=self.settings.container_user, workdir=TESTBED)
            if code != 0:
                raise InfraError(f"cannot read the sandbox user's environment in {container.name}: {out[-300:]!r}",
                                 triage="sandbox")
            groups, _, environ = out.partition(b"\n")
            warm.groups = [int(g) for g in groups.split()]
            warm.exec_env = dict(e.decode("utf-8", "surrogateescape").split("=", 1)
                                 for e in environ.split(b"\0") if b"=" in e)
            warm.exec_env.pop("PWD", None)  # the shell's (bash sets it, as in an exec of its own)
            try:
                warm.jobs = _JobServer(self.client.api, container.id)
            except InfraError as exc:  # e.g. an image without python3 on its PATH: an exec per run
                with self._cond:
                    self._counts["jobs_unavailable"] += 1
                    self.jobs_unavailable_reason = str(exc)[:300]
        except _ENGINE_ERRORS as exc:
            raise InfraError(f"Docker engine error starting the job server of {container.name}: {exc}",
                             triage="sandbox") from exc

    @staticmethod
    def _remove_quietly(container) -> None:
        if container is not None:
            with contextlib.suppress(Exception):
                remove_container(container)

    # -- one run ----------------------------------------------------------------
    def _run_in(self, warm: _Warm, env: EnvInfo, spec: RunSpec, files: dict[str, bytes | str], timeout: int,
                log_path: Path | None) -> tuple[_Ended, bool | str]:
        """(how the run ended, True to keep the container or why to discard it)."""
        container = warm.container
        where = f"run {spec.label or spec.commit[:12]} in {container.name}"
        warm.runs += 1
        usage, keep = "", True
        python = warm_python(self.environment(warm.environment).recipe.test_cmd) if self.warm else None
        protocol, output = _Tail(None), _HeadTail(self.log_cap)
        try:
            if warm.jobs is not None:
                code, guard_fired, lost, duration, stray = self._run_job(
                    warm, env, spec, files, timeout, python, protocol, output)
                if stray:
                    keep = f"{stray} bytes of output after the end of the run"
            else:
                code, guard_fired, lost, duration = self._run_exec(
                    warm, spec, build_tar(files, modes=SEALED_MODES), frozenset(files), timeout, python, protocol,
                    output, where)
            if lost is not None and not guard_fired:
                raise InfraError(f"lost the output stream of {where}: {lost}", triage="sandbox")
            text = protocol.value().decode("utf-8", "replace")
            used = re.search(rf"^{PROTOCOL} warm used(?: (\d+))?$", text, re.M)
            if used:
                with self._cond:
                    self._counts["warm_runs"] += 1
                    self._counts["code_cache_hits"] += int(used.group(1) or 0)
            watchdog = next((line for line in text.splitlines() if line.startswith(TIMED_OUT)), None)
            timed_out = guard_fired or watchdog is not None
            if timed_out:
                usage = self._usage_at_timeout(watchdog) if watchdog else self._usage(container)
                reset, oom = "timeout", False
            else:
                reset, oom = self._reset_report(warm, text)
        except _ENGINE_ERRORS as exc:
            raise InfraError(f"Docker engine error during {where}: {exc}", triage="sandbox",
                             log_path=str(log_path) if log_path else None) from exc
        _phase, outputs, _written = _parse_protocol(text)
        if oom and reset is True:
            reset = "out of memory"
        if reset is True and keep is not True:
            reset = keep
        return _Ended(code, timed_out, oom, output.text(), outputs, duration, usage), reset

    def _run_job(self, warm: _Warm, env: EnvInfo, spec: RunSpec, files: dict[str, bytes | str], timeout: int,
                 python: str | None, protocol: _Tail, output: _HeadTail
                 ) -> tuple[int | None, bool, str | None, float, int]:
        """The run on the container's job server: (exit code, guard fired, why the stream was
        lost or None, duration, bytes written after its end). The source tree goes only to a job
        server that does not keep it yet (``jobs.Sources``, of which ``warm.sources`` is the account)."""
        # the fork server runs pytest, and scripts too where the run script hands them to it
        fork = self.fork_server and python is not None and (spec.script is None or forks_scripts(python))
        command = _run_command(self._uid, warm.roots, timeout, None if self.fork_server else python,
                               take_warm=spec.script is None, handshake=False, fork=fork, job_server=True)
        uid, gid = (int(x) for x in self.settings.container_user.split(":"))
        job = _Job(secrets.token_hex(16), protocol, output)
        fields: dict[str, Any] = {"nonce": job.nonce, "size": 0, "command": command,
                                  "env": warm.exec_env, "cwd": TESTBED, "uid": uid, "gid": gid, "groups": warm.groups,
                                  "timeout": int(timeout)}
        if fork:  # started with what the run's test command has at its start (run.sh exports this)
            fields["fork"] = {"python": python, "env": {**warm.exec_env, "PYTHONUNBUFFERED": "1"},
                              "ruid": FORK_SERVER_UID, "rgid": FORK_SERVER_UID, "source": _warm_source()}
        source = files["src.tar"]
        key = f"{env.repo}@{spec.commit}:{len(source)}"
        sent = warm.sources.get(key) is None
        if sent:
            warm.sources.put(key, True, len(source))
        payload = build_tar({k: v for k, v in files.items() if k != "src.tar"}, modes=SEALED_MODES)
        fields["size"] = len(payload)
        fields["source"] = {"key": key, "size": len(source) if sent else 0}
        header = json.dumps(fields).encode() + b"\n"
        started = time.monotonic()
        warm.jobs.submit(job, header, payload, source if sent else b"")
        guard_fired = not job.done.wait(timeout + GUARD_S)
        duration = time.monotonic() - started
        return job.status if job.status is not None and job.status >= 0 else None, guard_fired, job.lost, \
            duration, job.stray()

    def _run_exec(self, warm: _Warm, spec: RunSpec, payload: bytes, names: frozenset[str], timeout: int,
                  python: str | None, protocol: _Tail, output: _HeadTail, where: str
                  ) -> tuple[int | None, bool, str | None, float]:
        """The run in a ``docker exec`` of its own: (exit code, guard fired, why the stream was
        lost or None, duration)."""
        container, api = warm.container, self.client.api
        stale = sorted(warm.files - names)
        # The exec starts while the run's files are copied in (its start-up costs about as much as
        # the copy): its shell waits for ``GO`` on its stdin before anything else, and gets it
        # only once /sf holds exactly this run's files; without it (the copy failed: the socket
        # is closed) the shell exits having done nothing.
        command = _run_command(self._uid, warm.roots, timeout, python, take_warm=spec.script is None)
        exec_id = api.exec_create(container.id, ["/bin/bash", "--noprofile", "--norc", "-c", command],
                                  user=self.settings.container_user, workdir=TESTBED, stdin=True)["Id"]
        sock = api.exec_start(exec_id, socket=True)
        finished = _pump(sock, protocol, output)
        try:
            if stale:  # files of the previous run that this one does not overwrite (root's, like /sf)
                # removed while the new files are copied in (other names: the two do not meet)
                cleared = _Background(lambda: container.exec_run(
                    ["rm", "-f", "--", *(f"/sf/{n}" for n in stale)], user="0:0"))
                try:
                    container.put_archive("/sf", payload)
                finally:
                    code, out = cleared.result()
                if code != 0:
                    raise InfraError(f"cannot clear /sf for {where}: {out[-300:]!r}", triage="sandbox")
            else:
                container.put_archive("/sf", payload)
            warm.files = names
            _send(sock, GO)
        except BaseException:
            with contextlib.suppress(Exception):
                sock.close()
            raise
        started = time.monotonic()
        guard_fired = not finished.wait(timeout + GUARD_S)
        code = None
        while not guard_fired:
            info = api.exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                code = int(info["ExitCode"])
                break
            guard_fired = time.monotonic() - started > timeout + GUARD_S
            time.sleep(0.01)
        duration = time.monotonic() - started
        with contextlib.suppress(Exception):
            sock.close()
        lost = str(finished.error) if finished.error is not None else None
        return code, guard_fired, lost, duration

    def _usage_at_timeout(self, line: str) -> str:
        """``DockerExecutor._usage``'s note, from the numbers the watchdog read when it fired."""
        fields = line[len(TIMED_OUT):].split()
        pids = int(fields[0]) if fields and fields[0].isdigit() else None
        mem = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
        limit = self.settings.pids_limit
        parts = []
        if pids is not None:
            parts.append(f"{pids} processes" + (f", pids limit reached ({limit})" if limit and pids >= limit - 2 else ""))
        if mem:
            parts.append(f"memory {mem / 2**20:.0f} MiB")
        return "at the timeout: " + ", ".join(parts) if parts else ""

    @staticmethod
    def _reset_report(warm: _Warm, protocol: str) -> tuple[bool | str, bool]:
        """(True if the reset left the container clean, else why not; whether the
        run hit the memory limit), from the reset's lines on the protocol stream."""
        lines = [line[len(PROTOCOL) + 6:] for line in protocol.splitlines() if line.startswith(f"{PROTOCOL} pool ")]
        oom = False
        kills = next((int(line[4:]) for line in lines if re.fullmatch(r"OOM \d+", line)), None)
        if kills is not None:
            oom, warm.oom_kills = kills > warm.oom_kills, kills
        if lines[-1:] != ["CLEAN"]:
            anomalies = [line for line in lines if line.startswith("ANOMALY:")]
            return ("; ".join(anomalies) or "no reset report (the run's shell did not end normally)")[:300], oom
        return True, oom


def _send(sock, data: bytes) -> None:
    """Writes to an exec's stdin through the socket ``exec_start(socket=True)`` gave."""
    raw = getattr(sock, "_sock", sock)
    if hasattr(raw, "sendall"):
        raw.sendall(data)
    else:
        sock.write(data)
        with contextlib.suppress(Exception):
            sock.flush()


class _Background:
    """``fn()`` in a thread; ``result()`` waits for it and returns its value or raises its exception."""

    def __init__(self, fn: Callable[[], Any]):
        self._fn, self._value, self._error = fn, None, None
        self._thread = threading.Thread(target=self._call, name="sf-pool-clear", daemon=True)
        self._thread.start()

    def _call(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def _close_at_exit(ref: "weakref.ref[WarmPool]") -> None:
    pool = ref()
    if pool is not None:
        pool.close()


def pool_factory(size: int, **options) -> Callable[["Backend"], WarmPool]:
    """``Backend(..., executor_factory=pool_factory(4))``: the backend's executor
    becomes a ``WarmPool`` of ``size`` containers per environment, over the
    backend's environments (built on first use) and repositories."""

    def make(backend: "Backend") -> WarmPool:
        return WarmPool(backend.client, backend.settings, backend.ensure,
                        lambda repo, commit: backend.repos(repo).archive(commit), size=size,
                        log_dir=backend.logs_dir, **options)

    return make
