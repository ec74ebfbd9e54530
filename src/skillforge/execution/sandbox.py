"""The Docker executor: one throwaway, sealed container per run.

An environment name resolves to an ``EnvInfo`` (env image, repository,
recipe). ``DockerExecutor.run`` creates a container from the env image that is
sealed: network off, uid 1000, all capabilities dropped, no new privileges,
memory/CPU/pid limits, a wall-clock timeout after which the container is
killed, and a **read-only root file system**. The only writable places are
tmpfs mounts with a size -- ``/testbed`` (``disk_size``, default 1g or
``SKILLFORGE_DISK_LIMIT``), ``/tmp``, ``/home`` and the output directory
``/sf/out`` -- charged to the container's memory limit, so a test that fills
the disk gets ENOSPC (or EROFS) and the engine's disk is never touched; output
is read live and capped (below). (Docker's ``storage_opt`` size needs overlay2
on xfs with project quotas, which most hosts lack; RLIMIT_FSIZE bounds one
file, not a disk.)

The run's files go into an anonymous volume at ``/sf`` (owned by root,
read-only to the run): ``src.tar`` (the repository tree at the run's commit,
from the source provider), ``patch-NNN.diff``, ``script.py`` and ``run.sh``.
``run.sh`` unpacks the env image's install products (``PRODUCTS_TAR``: egg-info,
compiled extensions, generated files) and the tree into the empty
``/testbed``, applies the patches with ``git apply``, runs the recipe's
``pre_test`` commands and then the tests (JUnit to ``/sf/out/junit.xml``) or
the script, kills whatever the run left running, and writes the output
directory to the container's stdout (the run's own output goes to stderr).
The container and its volume are always removed.

Both streams are read live, from an attach made before the container starts
(the engine keeps no log of a run: log driver ``none``): the protocol lines
whole, the run's output into a buffer capped at ``log_max_size`` that keeps
its head and its tail and says how much was cut between them (``_HeadTail``).
A run that floods its output is therefore a test outcome like any other, its
JUnit report (written to the output directory, not to a stream) the source of
truth, and its log (``<log_dir>/<log_name>.log``) is written capped.

``_run_script`` / ``_run_files`` are the unsealed variant (writable root file
system, tree reset in place). The warm container pool
(``skillforge.execution.pool``) runs the sealed one, like ``run``, in
long-lived containers with ``_sealed_options``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import signal
import tarfile
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import docker.errors
from docker.types import LogConfig
from docker.utils.socket import STDOUT, frames_iter
import requests.exceptions

from skillforge.gitio import GitError, redact, tree_tar
from skillforge.settings import Settings, parse_size
from skillforge.execution import InfraError, RunResult, RunSpec
from skillforge.execution.images import (
    PYTEST_VERSION_FILE,
    LABEL_KIND, LABEL_LAYOUT, LABEL_OWNER, LAYOUT, PRODUCTS_TAR, TESTBED, TRACKED_FILES, build_tar,
    owner, remove_container, wait_container,
)
from skillforge.execution.junit import parse_junit_details
from skillforge.schema import EnvRecipe

APPLY_FAILED = 90
SETUP_FAILED = 91
PRE_TEST_FAILED = 92
COLLECTION_EXIT_CODES = (2, 3, 4, 5)  # interrupted, internal error, usage error, no tests collected
LABEL_RUN = "run"

SourceProvider = Callable[[str, str], bytes]
"""``(repo, commit) -> tar`` of the repository tree at ``commit`` (paths relative
to the repository root, no prefix), e.g. ``git_tree_tar(path, commit)``."""


@dataclass
class _Ended:
    """How a run's container (or a warm container's exec) ended, before the run is judged."""

    code: int | None
    timed_out: bool
    oom: bool
    output: str  # the run's output, capped (``_HeadTail.text``)
    outputs: dict[str, bytes]  # the files of the output directory
    duration: float
    usage: str = ""  # what the run was using when it timed out


@dataclass(frozen=True)
class EnvInfo:
    """What an environment name stands for."""

    image: str
    repo: str
    recipe: EnvRecipe


# --------------------------------------------------------------------------- source trees


def git_tree_tar(repo_dir: str | Path, commit: str) -> bytes:
    """A tar of the tree of ``commit`` (``gitio.tree_tar``: ``.gitattributes`` ignored, so
    ``export-ignore`` on tests does not hide them); a commit that cannot be read is an
    infrastructure error of class ``source``."""
    try:
        return tree_tar(repo_dir, commit)
    except GitError as exc:
        raise InfraError(f"cannot read commit {commit} in {repo_dir}: {exc}", triage="source") from exc


class _TarCache:
    """LRU of source tars by (repo, commit); one computation per key at a time."""

    def __init__(self, provider: SourceProvider, max_items: int, max_bytes: int):
        self._provider = provider
        self._max_items, self._max_bytes = max_items, max_bytes
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}

    def get(self, repo: str, commit: str) -> bytes:
        key = (repo, commit)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            try:
                data = self._provider(repo, commit)
            except InfraError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the caller's provider
                raise InfraError(f"no source tree for {repo}@{commit}: {exc}", triage="source") from exc
            finally:
                with self._lock:
                    self._key_locks.pop(key, None)
            if not isinstance(data, (bytes, bytearray)):
                raise InfraError(f"source provider returned {type(data).__name__} for {repo}@{commit}, not bytes",
                                 triage="source")
            with self._lock:
                self._items[key] = bytes(data)
                while len(self._items) > 1 and (len(self._items) > self._max_items
                                                or sum(map(len, self._items.values())) > self._max_bytes):
                    self._items.popitem(last=False)
            return bytes(data)


# --------------------------------------------------------------------------- run script


def _run_script(recipe: EnvRecipe, spec: RunSpec, patches: list[tuple[int, str]], tests: list[str]) -> str:
    """``patches``: (index in ``spec.patches``, file name under /sf)."""
    q = shlex.quote
    lines = [
        "#!/bin/bash",
        "set -u",
        "OUT=/sf/out",
        "phase() { printf '%s' \"$1\" > \"$OUT/phase\"; }",
        "fail() { printf '%s\\n' \"SKILLFORGE: $2\"; exit \"$1\"; }",
        f"cd {TESTBED} || fail {SETUP_FAILED} 'no {TESTBED}'",
        "phase reset",
        f"if [ -f {TRACKED_FILES} ]; then",
        f"  xargs -0 -r rm -f -- < {TRACKED_FILES} || fail {SETUP_FAILED} 'cannot clear the reference tree'",
        f"  find {TESTBED} -mindepth 1 -depth -type d -empty -delete 2>/dev/null",
        "else",
        f"  find {TESTBED} -mindepth 1 -maxdepth 1 ! -name '*.egg-info' -exec rm -rf {{}} +",
        "fi",
        f"tar -xf /sf/src.tar -C {TESTBED} --no-same-owner || fail {SETUP_FAILED} 'cannot unpack the source tree'",
    ]
    for i, name in patches:
        lines += [
            f"phase apply:{i}",
            f"echo '== git apply {name}'",
            f"if ! git apply --whitespace=nowarn -v /sf/{name} > \"$OUT/apply.log\" 2>&1; then",
            "  cat \"$OUT/apply.log\"",
            f"  printf '%s' {i} > \"$OUT/apply_failed\"",
            f"  fail {APPLY_FAILED} 'patch {i} ({name}) does not apply'",
            "fi",
            "cat \"$OUT/apply.log\"",
        ]
    for i, cmd in enumerate(recipe.pre_test):
        lines += [
            f"phase pre_test:{i}",
            f"printf '%s\\n' {q('== pre_test: ' + cmd)}",
            f"(cd {TESTBED} && bash -e -o pipefail -c {q(cmd)}) || fail {PRE_TEST_FAILED} 'pre_test command {i} failed'",
        ]
    lines.append("phase run")
    if spec.script is not None:
        lines.append("echo '== python /sf/script.py'")
        lines.append("python /sf/script.py")
    else:
        selection = " ".join(q(t) for t in tests)
        command = f"{recipe.test_cmd} --junitxml=$OUT/junit.xml $JUNIT_FAMILY {selection}".rstrip()
        lines += JUNIT_FAMILY_LINES
        lines.append(f"printf '== %s --junitxml=/sf/out/junit.xml %s%s\\n' {q(recipe.test_cmd)} \"${{JUNIT_FAMILY:+$JUNIT_FAMILY }}\" "
                     f"{q(selection)}")
        lines.append(command)
    lines += ["rc=$?", "printf '%s' \"$rc\" > \"$OUT/exit_code\"", "exit $rc", ""]
    return "\n".join(lines)


SEALED_MODES = {"run.sh": 0o755}  # the run's files under /sf: 0644 but these

PROTOCOL = "@@SKILLFORGE"
"""Prefix of the lines a sealed run writes to the container's stdout (the test
output goes to stderr): ``phase <name>`` as the run advances, ``out <base64 tar>``
with the files of the output directory, and ``exit <code>``."""
SEALED_OUT = "/sf/out"


def _sealed_script(recipe: EnvRecipe, spec: RunSpec, patches: list[tuple[int, str]], tests: list[str]) -> str:
    """The run script of a sealed container (read-only root file system; see
    ``DockerExecutor``): ``/testbed`` is an empty size-limited tmpfs that gets the
    env image's install products and then the run's tree; fd 3 carries the
    protocol lines; when the run ends every leftover process of the run is killed
    and the output directory is written to fd 3."""
    q = shlex.quote
    lines = [
        "#!/bin/bash",
        "set -u",
        "exec 3>&1 1>&2",
        f"OUT={SEALED_OUT}",
        f"phase() {{ printf '{PROTOCOL} phase %s\\n' \"$1\" >&3; }}",
        "finish() {",
        "  local rc=$1",
        "  kill -KILL -1 2>/dev/null  # what the run left behind (never this shell, never init)",
        "  printf '%s' \"$rc\" > \"$OUT/exit_code\"",
        # a pool's job server writes the same while this shell is stopped (SF_COLLECT: execution.jobs)
        "  if [ -n \"${SF_COLLECT:-}\" ]; then kill -STOP $$; else",
        f"    df -Pk {TESTBED} /tmp \"$HOME\" > \"$OUT/df\" 2>/dev/null",
        f"    printf '{PROTOCOL} out ' >&3",
        "    tar -C \"$OUT\" -cf - . 2>/dev/null | base64 -w 0 >&3",
        "  fi",
        f"  printf '\\n{PROTOCOL} exit %s\\n' \"$rc\" >&3",
        "  exit \"$rc\"",
        "}",
        "fail() { printf '%s\\n' \"SKILLFORGE: $2\"; finish \"$1\"; }",
        # a text file (no NUL) as `cat` prints it, without a process
        "sf_cat() { local t=; IFS= read -r -d '' t < \"$1\"; printf '%s' \"$t\"; }",
        "export PYTHONUNBUFFERED=1",
        # (a pool's job server makes it ahead: execution.jobs)
        "[ -d \"$HOME\" ] || mkdir -p \"$HOME\" 2>/dev/null || { export HOME=/tmp/home; mkdir -p \"$HOME\"; }",
        f"cd {TESTBED} || fail {SETUP_FAILED} 'no {TESTBED}'",
        "phase reset",
        f"if [ -f {PRODUCTS_TAR} ]; then",
        f"  tar -xf {PRODUCTS_TAR} -C {TESTBED} --no-same-owner || fail {SETUP_FAILED} 'cannot unpack the install products'",
        "fi",
        f"tar -xf /sf/src.tar -C {TESTBED} --no-same-owner || fail {SETUP_FAILED} 'cannot unpack the source tree'",
    ]
    for i, name in patches:
        lines += [
            f"phase apply:{i}",
            f"echo '== git apply {name}'",
            f"if ! git apply --whitespace=nowarn -v /sf/{name} > \"$OUT/apply.log\" 2>&1; then",
            "  sf_cat \"$OUT/apply.log\"",
            f"  printf '%s' {i} > \"$OUT/apply_failed\"",
            f"  fail {APPLY_FAILED} 'patch {i} ({name}) does not apply'",
            "fi",
            "sf_cat \"$OUT/apply.log\"",
        ]
    for i, cmd in enumerate(recipe.pre_test):
        lines += [
            f"phase pre_test:{i}",
            f"printf '%s\\n' {q('== pre_test: ' + cmd)}",
            f"(cd {TESTBED} && bash -e -o pipefail -c {q(cmd)}) 3>&- || fail {PRE_TEST_FAILED} 'pre_test command {i} failed'",
        ]
    lines.append("phase run")
    if spec.script is not None:
        lines.append("echo '== python /sf/script.py'")
        if forks_scripts(warm_python(recipe.test_cmd)):
            lines += WARM_CLIENT_LINES
            lines.append("sf_warm_python script 1 python /sf/script.py")
        else:
            lines.append("python /sf/script.py 3>&-")
    else:
        selection = " ".join(q(t) for t in tests)
        command = f"{recipe.test_cmd} --junitxml=$OUT/junit.xml $JUNIT_FAMILY {selection}".rstrip()
        lines += JUNIT_FAMILY_LINES
        lines.append(f"printf '== %s --junitxml={SEALED_OUT}/junit.xml %s%s\\n' {q(recipe.test_cmd)} "
                     f"\"${{JUNIT_FAMILY:+$JUNIT_FAMILY }}\" {q(selection)}")
        if warm_python(recipe.test_cmd):
            lines += WARM_CLIENT_LINES
            lines.append(f"sf_warm_python pytest 3 {command}")
        else:
            lines.append(f"{command} 3>&-")
    lines += ["finish $?", ""]
    return "\n".join(lines)


def warm_python(test_cmd: str) -> str | None:
    """The interpreter of a test command of the form ``<python> -m pytest ...`` (what a warm pool
    container can start ahead of a run: ``execution.warm``), else None."""
    try:
        words = shlex.split(test_cmd)
    except ValueError:
        return None
    if len(words) >= 3 and words[1:3] == ["-m", "pytest"] and re.fullmatch(r"python(3(\.\d+)?)?", words[0]):
        return words[0]
    return None


def forks_scripts(python: str | None) -> bool:
    """Whether a pool's fork server, started as ``python`` (:func:`warm_python`), runs script runs:
    only when it is the interpreter their line names (``python /sf/script.py``)."""
    return python == "python"


WARM_CLIENT_LINES = [
    # `sf_warm_python KIND N COMMAND...`: COMMAND (`<python> -m pytest ARGS`, KIND pytest, N 3; or
    # `python SCRIPT`, KIND script, N 1) run by a Python process that has pytest imported: forked from
    # the container's fork server (SF_FORK: a pool's for rewards; pytest runs and script runs), or
    # (pytest runs only) the warm interpreter the last reset of a pool container started
    # (execution.warm), when the pool's shell left it to this run (SF_WARM_TAKE): waited for while it
    # imports (the run's setup went on meanwhile), its folder removed before it runs anything. Else, or
    # when neither comes, a new process. The first N words of COMMAND are the interpreter's (their
    # first is looked up on the PATH for `$_`, as bash sets it); the rest are its arguments. fd 3 (the
    # protocol) is not handed on.
    "sf_warm_python() {",
    "  local kind=$1 words=$2 rc= line= started=0 pid= n=0 d cached=0",
    "  shift 2",
    "  if [ -n \"${SF_FORK:-}\" ]; then  # the container's fork server, at fd 5 (the job server's)",
    "    SF_FORK=",
    "    if { : >&5; } 2>/dev/null; then exec 8<&5 9>&5 5>&-; pid=fork; fi",
    "  elif [ -n \"${SF_WARM_TAKE:-}\" ]; then",
    "    SF_WARM_TAKE=",
    "    { read -r pid < /tmp/.sf-warm/pid; } 2>/dev/null || for d in /tmp/.sf-warm.*; do [ -d \"$d\" ] && pid=${d##*.}; done",
    "    while [ -n \"$pid\" ] && [ ! -e /tmp/.sf-warm/pid ] && [ $n -lt 500 ] && kill -0 \"$pid\" 2>/dev/null; do",
    "      sleep 0.01; n=$((n+1))",
    "    done",
    "    if [ -n \"$pid\" ] && [ -e /tmp/.sf-warm/pid ] && exec 8<>/tmp/.sf-warm/rc 9>/tmp/.sf-warm/job; then :",
    "    else [ -n \"$pid\" ] && kill -9 \"$pid\" 2>/dev/null; pid=; fi",
    "    rm -rf /tmp/.sf-warm /tmp/.sf-warm.* 2>/dev/null",
    "  fi",
    "  if [ -n \"$pid\" ]; then",
    "    exec 6>&1 7>&2  # what the interpreter takes as its stdout and stderr (1 and 2 go to the FIFO below)",
    "    { printf '%s\\0' \"$kind\" \"$BASHPID\" 6 7 \"$PWD\" \"$1\" \"$(( $# - words ))\"",
    "      [ $# -gt $words ] && printf '%s\\0' \"${@:words+1}\"",
    "      env -0; printf '\\001sf-warm-end\\001\\0'; } >&9 2>/dev/null",
    "    exec 9>&-",
    "    while :; do",
    "      if read -r -t 1 -u 8 line; then",
    "        case $line in started) started=1;; fallback) break;; cached\\ *) cached=${line#cached };;"
    " *) rc=$line; break;; esac",
    "      elif [ $? -le 128 ] && [ \"$pid\" = fork ]; then  # the fork server closed the socket",
    "        [ $started = 1 ] && rc=137",
    "        break",
    "      elif [ \"$pid\" != fork ] && ! kill -0 \"$pid\" 2>/dev/null; then",
    "        read -r -t 0.05 -u 8 line && [ \"$line\" != started ] && [ \"$line\" != fallback ] && rc=$line",
    "        [ -z \"$rc\" ] && [ $started = 1 ] && rc=137  # it ended without a code: killed",
    "        break",
    "      fi",
    "    done",
    "    while [ \"$pid\" != fork ] && kill -0 \"$pid\" 2>/dev/null; do read -r -t 0.005 -u 8 line; done  # exited",
    "    exec 8<&- 6>&- 7>&-",
    "    line=fallback; [ -n \"$rc\" ] && line=used",
    f"    printf '{PROTOCOL} warm %s %s\\n' \"$line\" \"$cached\" >&3",
    "    [ -n \"$rc\" ] && return $(( rc & 255 ))",
    "  fi",
    "  \"$@\" 3>&-",
    "}",
]


JUNIT_FAMILY_LINES = [
    # pytest >= 5 is told the JUnit flavour it reports (6 changed the default); older ones know no `-o`
    f"v=; {{ IFS= read -r v < {PYTEST_VERSION_FILE}; }} 2>/dev/null; v=${{v%%.*}}; case $v in ''|*[!0-9]*) v=99;; esac",
    "JUNIT_FAMILY=; [ \"$v\" -ge 5 ] && JUNIT_FAMILY='-o junit_family=xunit1'",
]


def _parse_protocol(text: str) -> tuple[str, dict[str, bytes], int | None]:
    """(last phase, files of the output directory, exit code written) from a sealed run's stdout."""
    import base64

    phase, outputs, code = "", {}, None
    for line in text.splitlines():
        if not line.startswith(PROTOCOL + " "):
            continue
        kind, _, value = line[len(PROTOCOL) + 1:].partition(" ")
        if kind == "phase":
            phase = value.strip()
        elif kind == "exit" and value.strip().lstrip("-").isdigit():
            code = int(value.strip())
        elif kind == "out":
            with contextlib.suppress(ValueError, tarfile.TarError):
                data = base64.b64decode(value.strip(), validate=False)
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                    for m in tar:
                        if m.isfile() and m.size <= 128 << 20:
                            f = tar.extractfile(m)
                            if f:
                                outputs[m.name.rsplit("/", 1)[-1]] = f.read()
    if phase:
        outputs.setdefault("phase", phase.encode())
    return phase, outputs, code


def _full_mounts(df_text: str) -> list[str]:
    """Mount points ``df -Pk`` shows (nearly) full."""
    full = []
    for line in df_text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 6 and parts[1].isdigit() and parts[2].isdigit() and int(parts[1]) > 0:
            if int(parts[2]) >= int(parts[1]) * 0.98:
                full.append(parts[5])
    return list(dict.fromkeys(full))


def _describe_exit(code: int) -> str:
    if code > 128:
        with contextlib.suppress(ValueError):
            return f"exit {code} (killed by {signal.Signals(code - 128).name})"
    return f"exit {code}"


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit // 5
    return text[:head] + f"\n[... {len(text) - limit} characters cut ...]\n" + text[-(limit - head):]


# --------------------------------------------------------------------------- output streams


LOG_CAP_MARKER = "[skillforge: output cut"
"""Opens the line that stands where a run's output was cut (``_HeadTail``)."""
STREAM_DRAIN_S = 30.0  # how long the end of a run's output may trail the end of its container


class _Tail:
    """The last ``limit`` bytes written (all of them when ``limit`` is None)."""

    def __init__(self, limit: int | None):
        self.limit, self.parts, self.size = limit, deque(), 0

    def add(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        while self.limit is not None and self.size - len(self.parts[0]) >= self.limit and len(self.parts) > 1:
            self.size -= len(self.parts.popleft())

    def value(self) -> bytes:
        data = b"".join(self.parts)
        return data[-self.limit:] if self.limit is not None else data


class _HeadTail:
    """A stream of output capped at ``limit`` bytes: the first quarter of the cap and the
    last three quarters are kept, and ``text()`` says how much was cut between them."""

    def __init__(self, limit: int):
        self.head_limit = max(1, limit // 4)
        self.head = bytearray()
        self.tail = _Tail(max(1, limit - self.head_limit))
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail.add(data)

    def text(self) -> str:
        tail = self.tail.value()
        cut = self.total - len(self.head) - len(tail)
        head = bytes(self.head).decode("utf-8", "replace")
        if cut <= 0:
            return head + tail.decode("utf-8", "replace")
        return (head + f"\n{LOG_CAP_MARKER}: {cut} of {self.total} bytes left out here; the first "
                f"{len(self.head)} and the last {len(tail)} are kept]\n" + tail.decode("utf-8", "replace"))


class _Pumped(threading.Event):
    error: BaseException | None = None


def _pump(sock, protocol, output) -> _Pumped:
    """Reads a container's or an exec's multiplexed stdout (``protocol``) and stderr
    (``output``) in a thread; the event is set at the end of the stream. The socket never
    times out: the caller bounds the wait (a run can be silent for longer than the client's
    timeout)."""
    done = _Pumped()
    for s in (sock, getattr(sock, "_sock", None)):
        with contextlib.suppress(Exception):
            if s is not None and hasattr(s, "settimeout"):
                s.settimeout(None)

    def read() -> None:
        try:
            for stream, data in frames_iter(sock, tty=False):
                (protocol if stream == STDOUT else output).add(data)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            done.error = exc
        finally:
            done.set()

    threading.Thread(target=read, name="sf-run-output", daemon=True).start()
    return done


def _read_out_dir(container) -> dict[str, bytes]:
    try:
        stream, _ = container.get_archive("/sf/out")
    except docker.errors.NotFound:
        return {}
    buf = io.BytesIO()
    for chunk in stream:
        buf.write(chunk)
        if buf.tell() > 256 << 20:
            break
    buf.seek(0)
    out = {}
    with contextlib.suppress(tarfile.TarError):
        with tarfile.open(fileobj=buf, mode="r:*") as tar:
            for m in tar:
                if m.isfile() and m.size <= 128 << 20:
                    f = tar.extractfile(m)
                    if f:
                        out[m.name.rsplit("/", 1)[-1]] = f.read()
    return out


# --------------------------------------------------------------------------- executor


class DockerExecutor:
    """``Executor`` backed by Docker (thread-safe: one container per run)."""

    def __init__(self, client, settings: Settings, environments: Mapping[str, EnvInfo] | Callable[[str], EnvInfo],
                 source_provider: SourceProvider, *, log_dir: str | Path | None = None, tmp_size: str = "512m",
                 tar_cache_items: int = 32, tar_cache_bytes: int = 1 << 30, max_output: int = 1 << 20,
                 log_max_size: str = "20m", disk_size: str | None = None, home_size: str = "256m",
                 out_size: str = "128m"):
        self.client = client
        self.settings = settings
        self._environments = environments
        self._sources = _TarCache(source_provider, tar_cache_items, tar_cache_bytes)
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.tmp_size = tmp_size
        self.max_output = max_output
        self.log_max_size = log_max_size  # a run's output is kept up to this size (head and tail)
        self.log_cap = parse_size(log_max_size, default=20 << 20)
        # size of the /testbed tmpfs of a sealed run: the tree, its install products and what the tests write
        self.disk_size = disk_size or os.environ.get("SKILLFORGE_DISK_LIMIT") or "1g"
        self.home_size, self.out_size = home_size, out_size
        self._layouts: dict[str, bool] = {}
        self._layout_lock = threading.Lock()
        user = settings.container_user.split(":")
        self._uid = int(user[0]) if user[0].isdigit() else 1000
        self._gid = int(user[1]) if len(user) > 1 and user[1].isdigit() else self._uid

    def environment(self, name: str) -> EnvInfo:
        env = self._environments(name) if callable(self._environments) else self._environments.get(name)
        if env is None:
            raise InfraError(f"unknown environment {name!r}", triage="image_build")
        return env

    def source(self, repo: str, commit: str) -> bytes:
        return self._sources.get(repo, commit)

    def _log_path(self, log_name: str | None) -> Path | None:
        if not log_name or self.log_dir is None:
            return None
        parts = [p for p in re.split(r"[\\/]+", log_name) if p not in ("", ".", "..")]
        if not parts:
            return None
        path = self.log_dir.joinpath(*parts[:-1], parts[-1] + ".log")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _container_options(self, recipe: EnvRecipe) -> dict:
        """The sandbox of a run container (``containers.create`` keywords): network off,
        non-root, no capabilities, no new privileges, memory/CPU/pid limits, tmpfs /tmp."""
        return dict(
            user=self.settings.container_user, working_dir=TESTBED, network_mode="none",
            mem_limit=self.settings.mem_limit, memswap_limit=self.settings.mem_limit,
            nano_cpus=self.settings.nano_cpus, pids_limit=self.settings.pids_limit, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], tmpfs={"/tmp": f"rw,nosuid,nodev,size={self.tmp_size},mode=1777"},
            init=True, log_config=LogConfig(type="none"),  # the output is read live (``_pump``), capped
            environment={**recipe.env, "TMPDIR": "/tmp"}, detach=True,
        )

    def _run_files(self, env: EnvInfo, spec: RunSpec) -> tuple[int, list[str], bytes]:
        """(timeout, test selection, tar of /sf) of a run."""
        recipe = env.recipe
        timeout = spec.timeout or recipe.timeout or self.settings.test_timeout
        source = self.source(env.repo, spec.commit)
        # empty patches are skipped; the others keep their index in spec.patches
        patches = [(i, f"patch-{i:03d}.diff", p) for i, p in enumerate(spec.patches) if p and p.strip()]
        tests = list(spec.tests) or list(recipe.test_files)
        script = _run_script(recipe, spec, [(i, name) for i, name, _ in patches], tests)
        files: dict[str, bytes | str] = {"sf/src.tar": source, "sf/run.sh": script}
        for _i, name, patch in patches:
            files[f"sf/{name}"] = (patch if patch.endswith("\n") else patch + "\n").encode(spec.patch_encoding)
        if spec.script is not None:
            files["sf/script.py"] = spec.script
        payload = build_tar(files, uid=self._uid, gid=self._gid, dirs=["sf", "sf/out"], modes={"sf/run.sh": 0o755})
        return timeout, tests, payload

    def _sealed_options(self, recipe: EnvRecipe, network: bool = False) -> dict:
        """``_container_options`` sealed: a read-only root file system, so that the
        run can write only to size-limited tmpfs mounts (``/testbed``, ``/tmp``,
        ``/home``, the output directory; ``/dev/shm`` is Docker's 64 MiB), and
        ``/sf`` a volume that holds the run's files, owned by root, read-only to the run."""
        options = self._container_options(recipe)
        if network:  # an explicit opt-in (RunSpec.network): the engine's default bridge network
            options.pop("network_mode")
        uid, gid = self._uid, self._gid
        options.update(
            read_only=True, volumes=["/sf"],
            tmpfs={TESTBED: f"rw,exec,nosuid,nodev,size={self.disk_size},uid={uid},gid={gid},mode=0755",
                   "/tmp": f"rw,exec,nosuid,nodev,size={self.tmp_size},mode=1777",
                   "/home": f"rw,nosuid,nodev,size={self.home_size},uid={uid},gid={gid},mode=0755",
                   SEALED_OUT: f"rw,noexec,nosuid,nodev,size={self.out_size},uid={uid},gid={gid},mode=0700"},
        )
        return options

    def _sealed_files(self, env: EnvInfo, spec: RunSpec) -> tuple[int, list[str], bytes]:
        """(timeout, test selection, tar of the run's files for the ``/sf`` volume)."""
        timeout, tests, files = self._sealed_parts(env, spec)
        return timeout, tests, build_tar(files, modes=SEALED_MODES)

    def _sealed_parts(self, env: EnvInfo, spec: RunSpec) -> tuple[int, list[str], dict[str, bytes | str]]:
        """(timeout, test selection, the run's files for the ``/sf`` volume by name; modes: ``SEALED_MODES``)."""
        recipe = env.recipe
        timeout = spec.timeout or recipe.timeout or self.settings.test_timeout
        source = self.source(env.repo, spec.commit)
        patches = [(i, f"patch-{i:03d}.diff", p) for i, p in enumerate(spec.patches) if p and p.strip()]
        tests = list(spec.tests) or list(recipe.test_files)
        files: dict[str, bytes | str] = {
            "src.tar": source, "run.sh": _sealed_script(recipe, spec, [(i, name) for i, name, _ in patches], tests)}
        for _i, name, patch in patches:
            files[name] = (patch if patch.endswith("\n") else patch + "\n").encode(spec.patch_encoding)
        if spec.script is not None:
            files["script.py"] = spec.script
        return timeout, tests, files

    def _layout_ok(self, image: str) -> bool:
        with self._layout_lock:
            if image not in self._layouts:
                try:
                    labels = self.client.images.get(image).labels or {}
                except docker.errors.ImageNotFound:
                    return True  # the run reports the missing image
                self._layouts[image] = labels.get(LABEL_LAYOUT) == LAYOUT
            return self._layouts[image]

    def run(self, environment: str, spec: RunSpec, *, log_name: str | None = None) -> RunResult:
        """One run in a fresh sealed container, always removed afterwards.

        Disk is bounded by construction: the root file system is read-only and
        every writable place is a tmpfs with a size (``disk_size`` for /testbed,
        ``tmp_size`` for /tmp), charged to the container's memory limit, so a run
        that fills the disk gets ENOSPC (or EROFS) and the engine's disk is never
        touched. Its output is read live from an attach made before the start and
        kept up to ``log_max_size`` (head and tail)."""
        env = self.environment(environment)
        recipe = env.recipe
        if not self._layout_ok(env.image):
            raise InfraError(f"environment image {env.image} was built by an older skillforge (no install products "
                             f"at {PRODUCTS_TAR}); rebuild it (skillforge images prune, then validate again)",
                             triage="image_build")
        timeout, tests, payload = self._sealed_files(env, spec)
        log_path = self._log_path(log_name)
        started = time.monotonic()
        where = f"run {spec.label or spec.commit[:12]}"
        container = sock = None
        usage = ""
        protocol, output = _Tail(None), _HeadTail(self.log_cap)
        try:
            try:
                container = self.client.containers.create(
                    env.image, command=["/bin/bash", "/sf/run.sh"], **self._sealed_options(recipe, spec.network),
                    name=f"sf-run-{uuid.uuid4().hex[:12]}",
                    labels={LABEL_KIND: LABEL_RUN, "skillforge.environment": environment[:200],
                            "skillforge.label": spec.label[:200], LABEL_OWNER: owner()},
                )
                container.put_archive("/sf", payload)
                # attached before the start: nothing the run writes is missed, and the engine keeps none of it
                sock = self.client.api.attach_socket(container.id, params={"stdout": 1, "stderr": 1, "stream": 1})
                streamed = _pump(sock, protocol, output)
                container.start()
                code = wait_container(container, timeout)
                timed_out = code is None
                if timed_out:
                    usage = self._usage(container)
                    with contextlib.suppress(docker.errors.APIError):
                        container.kill()
                    with contextlib.suppress(Exception):
                        container.wait(timeout=30)
                duration = time.monotonic() - started
                drained = streamed.wait(STREAM_DRAIN_S)
                container.reload()
                oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
            except docker.errors.ImageNotFound as exc:
                raise InfraError(f"environment image {env.image} is missing (build it first): {exc}",
                                 triage="image_build") from exc
            except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
                raise InfraError(f"Docker engine error during {where}: {exc}",
                                 triage="sandbox", log_path=str(log_path) if log_path else None) from exc
        finally:
            if sock is not None:
                with contextlib.suppress(Exception):
                    sock.close()
            if container is not None:
                with contextlib.suppress(Exception):
                    remove_container(container)
        if streamed.error is not None or not drained:
            raise InfraError(f"lost the output stream of {where}: {streamed.error or 'it did not end with the run'}",
                             triage="sandbox")
        _phase, outputs, _written = _parse_protocol(protocol.value().decode("utf-8", "replace"))
        ended = _Ended(code, timed_out, oom, output.text(), outputs, duration, usage)
        return self._conclude(environment, env, spec, tests, timeout, log_path, ended)

    def _conclude(self, environment: str, env: EnvInfo, spec: RunSpec, tests: list[str], timeout: int,
                  log_path: Path | None, ended: "_Ended") -> RunResult:
        """The result of an ended run (``_result``, with the limits it hit), its log written.
        A run that failed for the sandbox's sake raises ``InfraError``, which names the log."""
        output = redact(ended.output, self.settings.secret_values())
        try:
            result = self._result(spec, ended.code, ended.timed_out, ended.oom, output, ended.outputs,
                                  ended.duration, timeout)
        except InfraError as exc:
            if log_path is not None:
                failed = RunResult("infra_error", ended.code, duration=ended.duration, reason=str(exc).split("\n")[0])
                self._write_log(log_path, environment, env, spec, tests, failed, timeout, output=output)
                exc.log_path = str(log_path)
            raise
        notes = [ended.usage] if ended.usage else []
        full = _full_mounts(ended.outputs.get("df", b"").decode(errors="replace"))
        if full:
            notes.append("disk limit reached: " + ", ".join(f"{m} full" for m in full))
        if notes:
            result.reason = "; ".join([r for r in (result.reason,) if r] + notes)
        if log_path is not None:
            result.log_path = str(log_path)
            self._write_log(log_path, environment, env, spec, tests, result, timeout, output=output)
        return result

    def _usage(self, container) -> str:
        """What a run that timed out was using (processes against the pids limit, memory)."""
        try:
            try:
                stats = container.stats(stream=False, one_shot=True)
            except TypeError:  # docker-py without one_shot
                stats = container.stats(stream=False)
        except Exception:  # noqa: BLE001 - best effort, the run is being killed
            return ""
        pids = (stats.get("pids_stats") or {}).get("current")
        limit = self.settings.pids_limit
        parts = []
        if isinstance(pids, int):
            parts.append(f"{pids} processes" + (f", pids limit reached ({limit})" if limit and pids >= limit - max(4, limit // 20) else ""))
        mem = (stats.get("memory_stats") or {}).get("usage")
        if isinstance(mem, int) and mem:
            parts.append(f"memory {mem / 2**20:.0f} MiB")
        return "at the timeout: " + ", ".join(parts) if parts else ""

    def _result(self, spec: RunSpec, code: int | None, timed_out: bool, oom: bool, output: str,
                outputs: dict[str, bytes], duration: float, timeout: int) -> RunResult:
        output = _clip(redact(output, self.settings.secret_values()), self.max_output)
        phase = outputs.get("phase", b"").decode(errors="replace")
        result = RunResult(status="ok", exit_code=None if timed_out else code, output=output, duration=duration)
        if timed_out:
            result.status, result.reason = "timeout", f"timed out after {timeout}s (during {phase or 'start'})"
            return result
        if "apply_failed" in outputs and code == APPLY_FAILED:
            result.status = "apply_failed"
            log = outputs.get("apply.log", b"").decode(errors="replace").strip().splitlines()
            n = outputs["apply_failed"].decode().strip()
            result.reason = f"patch {n} does not apply: " + " | ".join(log[-5:])
            return result
        if phase in ("", "reset") and code != 0:
            raise InfraError(f"sandbox setup failed ({_describe_exit(code)}): {output[-2000:]}", triage="sandbox")
        if phase.startswith("pre_test:") and code == PRE_TEST_FAILED:
            result.status = "collection_error"
            result.reason = f"pre_test command {phase.split(':')[1]} failed"
            return result
        if oom:
            result.reason = f"out of memory (mem_limit {self.settings.mem_limit})"
        elif code is not None and code > 128:
            result.reason = _describe_exit(code)
        if spec.script is not None:
            return result
        junit = outputs.get("junit.xml")
        if junit:
            try:
                result.tests, result.messages = parse_junit_details(junit)
            except ValueError as exc:
                result.reason = (result.reason + "; " if result.reason else "") + f"unreadable JUnit report: {exc}"
        elif not result.reason:
            result.reason = "no JUnit report"
        if code in COLLECTION_EXIT_CODES:
            result.status = "collection_error"
            result.reason = result.reason or f"pytest exit code {code}"
        return result

    def _write_log(self, path: Path, environment: str, env: EnvInfo, spec: RunSpec, tests: list[str],
                   result: RunResult, timeout: int, output: str | None = None) -> None:
        """The run's log: what ran and how it ended, then its output (``output``, the whole
        capped output, else ``result.output``)."""
        what = "python /sf/script.py" if spec.script is not None else f"{env.recipe.test_cmd} {' '.join(tests)}".strip()
        head = [
            f"environment: {environment} ({env.image})",
            f"repo: {env.repo}  commit: {spec.commit}",
            f"label: {spec.label}" if spec.label else None,
            f"patches: {len([p for p in spec.patches if p.strip()])}",
            f"command: {what}",
            f"timeout: {timeout}s",
            f"status: {result.status}  exit code: {result.exit_code}  duration: {result.duration:.2f}s",
            f"reason: {result.reason}" if result.reason else None,
            f"tests: {sum(v == 'passed' for v in result.tests.values())} passed of {len(result.tests)}"
            if result.tests else None,
            "-" * 72,
        ]
        path.write_text("\n".join(h for h in head if h is not None) + "\n"
                        + (result.output if output is None else output), encoding="utf-8", errors="replace")
