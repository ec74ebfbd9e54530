"""The job server of a warm pool container: one ``docker exec`` for all its runs.

A run in a pooled container used to cost a ``docker exec`` (the engine, runc and
a new process in the container's namespaces: about 75 ms before the run's shell
starts) and a ``put_archive`` of its files (the engine unpacks them in a helper
process of its own: about 70 ms and as much CPU). ``execution.pool`` starts
this program once per container instead, as root, with ``python3 -I -S`` (the
image's interpreter, isolated: no site-packages, no ``.pth`` files, no
environment variables read; only the standard library is imported), and sends
it each run over its stdin:

* a header line (JSON): ``nonce``, ``size`` (of the payload that follows),
  ``command`` (the run's shell, ``pool._run_command``), ``env``, ``cwd``,
  ``uid``, ``gid``, ``groups``;
* ``size`` bytes: a tar of the run's files for ``/sf`` (``run.sh``, ``src.tar``,
  patches, ``script.py``).

The header may also carry ``timeout`` (seconds): the run's watchdog is then this
process, not a process of the run's shell (see ``_run``); and ``source``: the
run's ``src.tar`` (the repository's tree, the biggest of its files) is not in the
tar but ``source["size"]`` bytes after it, kept here under ``source["key"]``, or,
with ``size`` 0, the tree kept under that key by an earlier job (``Sources``: the
client keeps the same account, so it sends a tree only when this process has not
kept it).

For each job it replaces the files of ``/sf`` (a root-owned volume the run can
only read) by the payload's, then forks the run's shell with the uid, gid and
groups of a ``docker exec`` as the sandbox's user (``setgroups``/``setgid``/
``setuid`` from root clear every capability: the container is given SETUID and
SETGID for this and nothing else; with no-new-privileges nothing of the run can
get them back), default signal dispositions, ``/dev/null`` as stdin, the
environment such an exec has, and as stdout and stderr two pipes owned by that
user (as the engine makes an exec's: a run may reopen ``/dev/stdout``), which it
copies to its own stdout and stderr, each in one write when the run is over (up to
``FLUSH_BYTES`` held: every write is a message through the engine and the client).
The run's home directory is made first, as the run's shell would make it. At the
end of the run, ``run.sh``'s ``finish`` (told by the pool's shell, ``SF_COLLECT``)
stops its shell instead of running ``df``, ``tar`` and ``base64``: this process,
woken by SIGCHLD, writes the same ``df`` file and ``out`` line as the run's user
(``_collect``) and lets the shell go on (SIGCONT, which its session allows). When the
shell has exited and the pipes are closed -- its EXIT trap has reset the container
by then -- it writes ``<PROTOCOL> job <nonce> end`` to stderr and
``\\n<PROTOCOL> job <nonce> end <status>`` to stdout, the status as a shell
reports it.

Why a run cannot reach it: it runs as root, so the run's uid can neither signal
it nor trace it nor open its ``/proc`` entries (its stdin, where the next job
comes from, included), and the nonce -- which only this process and the client
know -- makes its end lines impossible to forge. Anything a run leaves running
is the reset's to kill, as before; the client discards a container whose reset
is not clean or whose streams carry anything after a job's end.

Needs only Python 3.6 and its standard library (the oldest base image).
"""

import array
import json
import os
import select
import shutil
import signal
import socket
import sys
import tarfile
import time

PROTOCOL = "@@SKILLFORGE"
SF = "/sf"
READY = PROTOCOL + " jobs ready\n"
DRAIN_S = 5.0
READY_S = 60.0  # for the fork server to import pytest
FLUSH_BYTES = 1 << 20  # a run's output held before it is written on
TIMED_OUT = PROTOCOL + " timeout"  # the watchdog's line on the protocol stream (this process's, or the shell's)


def _write(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _read_exact(stream, size):
    parts, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the job's payload ended early")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


SOURCE_ITEMS = 8  # source trees a job server keeps (least recently used go first) ...
SOURCE_BYTES = 64 << 20  # ... up to this many bytes


class Sources:
    """Values by key, the least recently used dropped beyond ``SOURCE_ITEMS`` or ``SOURCE_BYTES``
    (the last one is kept whatever its size). The job server keeps source trees in one; the client
    (``execution.pool``) their sizes in another, fed the same keys in the same order."""

    def __init__(self):
        import collections

        self.items = collections.OrderedDict()
        self.size = 0

    def get(self, key):
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
            return value[0]
        return None

    def put(self, key, value, size):
        if key in self.items:
            self.size -= self.items.pop(key)[1]
        self.items[key] = (value, size)
        self.size += size
        while len(self.items) > 1 and (len(self.items) > SOURCE_ITEMS or self.size > SOURCE_BYTES):
            _key, (_value, old) = self.items.popitem(last=False)
            self.size -= old


SOURCES = Sources()


def _source(job, stdin):
    """The run's ``src.tar`` (``source`` in the job), read after the payload or kept; None if none."""
    spec = job.get("source")
    if not spec:
        return None
    size = int(spec["size"])
    if size:
        data = _read_exact(stdin, size)
        SOURCES.put(spec["key"], data, size)
        return data
    data = SOURCES.get(spec["key"])
    if data is None:
        raise KeyError("no source tree kept under %r" % (spec["key"],))
    return data


def _place(payload, source=None):
    """``/sf`` holds exactly the payload's files, and ``src.tar`` (``source``) where given (the
    output mount point ``/sf/out`` stays)."""
    for name in os.listdir(SF):
        path = os.path.join(SF, name)
        if not os.path.isdir(path) or os.path.islink(path):
            os.unlink(path)
    import io

    with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
        for member in tar:
            name = member.name
            if not member.isfile() or "/" in name or name in ("", ".", ".."):
                continue
            _create(name, tar.extractfile(member).read(), member.mode & 0o755)
    if source is not None:
        _create("src.tar", source, 0o644)


def _create(name, data, mode):
    fd = os.open(os.path.join(SF, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        _write(fd, memoryview(data))
    finally:
        os.close(fd)


class _ForkServer:
    """The fork server (``execution.warm``) of the container: started on the first job that asks
    for one, between runs (the container is clean then), and kept while it lives."""

    def __init__(self, job):
        spec = job["fork"]
        self.key = json.dumps(spec, sort_keys=True)
        python = shutil.which(spec["python"], path=spec["env"].get("PATH", os.defpath))
        if not python:
            raise OSError("no %s on the PATH" % spec["python"])
        self.ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        null = os.open(os.devnull, os.O_RDWR)
        self.pid = os.fork()
        if self.pid == 0:
            try:
                _default_signals()
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.dup2(null, 2)
                os.dup2(theirs.fileno(), 3)
                os.chdir("/")
                groups = ",".join(str(g) for g in job["groups"])
                os.execve(python, [python, "-S", "-c", spec["source"], "fork-server", str(spec["ruid"]),
                                   str(job["uid"]), str(spec["rgid"]), str(job["gid"]), groups], spec["env"])
            finally:
                os._exit(127)
        os.close(null)
        theirs.close()
        self.ctl.settimeout(READY_S)
        try:
            ready = self.ctl.recv(16)
        except OSError:
            ready = b""
        self.ctl.settimeout(None)
        if ready != b"ready":
            self.close()
            raise OSError("the fork server did not start")

    def alive(self):
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return not done

    def send(self, message, fd=None):
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))] if fd is not None else []
        self.ctl.sendmsg([message], ancillary)

    def close(self):
        self.ctl.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def _default_signals():
    for sig in range(1, signal.NSIG):
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError, RuntimeError):
                pass


def _child(job, out, err, fork=None):
    """The run's shell (never returns); ``fork``: its socket to the fork server, as fd 5."""
    try:
        _default_signals()
        os.setgroups(job["groups"])
        os.setgid(job["gid"])
        os.setuid(job["uid"])
        if os.getuid() != job["uid"] or os.geteuid() != job["uid"]:
            raise OSError("the uid did not change")
        os.chdir(job["cwd"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (null, out, err):
            os.close(fd)
        if fork is not None:
            if fork != 5:  # (dup2 onto itself would leave it close-on-exec)
                os.dup2(fork, 5)
                os.close(fork)
            os.set_inheritable(5, True)
        os.execve("/bin/bash", ["/bin/bash", "--noprofile", "--norc", "-c", job["command"]], job["env"])
    except BaseException as exc:  # noqa: BLE001 - reported on the run's output, the shell never started
        try:
            _write(err, ("SKILLFORGE: the job server could not start the run's shell: %r\n" % (exc,)).encode())
        finally:
            os._exit(126)


def _as_user(job, fn):
    """``fn()`` with the run's uid and gid as this process's effective ones."""
    os.setegid(job["gid"])
    os.seteuid(job["uid"])
    try:
        return fn()
    finally:
        os.seteuid(0)
        os.setegid(0)


def _make_home(job):
    """The run's ``$HOME`` (its parent there), made as its shell makes it (``mkdir`` as the run's
    user, this process's umask: that of an exec); the reset removes it with the rest."""
    home = job["env"].get("HOME", "")
    if home.startswith("/") and home != "/" and os.path.isdir(os.path.dirname(home.rstrip("/"))):
        try:
            _as_user(job, lambda: os.mkdir(home, 0o777))
        except OSError:  # there already, or not the run's to make: its shell sees to it
            pass


def _read_number(paths):
    for path in paths:
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            continue
    return ""


def _time_out(job):
    """The watchdog: the container's process count and memory use for the protocol stream, and
    SIGKILL for every process of the run's uid. Without CAP_KILL, this process takes the run's uid
    as its real and effective one for the ``kill(-1)`` (its saved uid stays root's, to come back):
    the kernel then signals every process of that uid in one call, which a fork bomb cannot
    outrun, and none of root's (the keeper) or of the fork server's; no process is started (a
    fork bomb may hold every pid). The container is discarded, never reset."""
    pids = _read_number(("/sys/fs/cgroup/pids.current", "/sys/fs/cgroup/pids/pids.current"))
    memory = _read_number(("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"))
    os.setresuid(job["uid"], job["uid"], 0)
    try:
        for _round in range(3):
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:  # none left
                break
            time.sleep(0.01)
    finally:
        os.setresuid(0, 0, 0)
    return ("%s %s %s\n" % (TIMED_OUT, pids, memory)).encode()


OUT = SF + "/out"
TESTBED = "/testbed"


def _open_regular(path, flags):
    """A file descriptor for the regular file ``path`` (not through a final symbolic link, never
    blocking on a FIFO), or None."""
    import stat

    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _mount_point(path):
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def _df(places):
    """``df -Pk PLACES`` as GNU df prints it (what ``execution.sandbox._full_mounts`` reads)."""
    lines = ["Filesystem     1024-blocks  Used Available Capacity Mounted on"]
    try:
        with open("/proc/self/mounts") as f:
            devices = {fields[1]: fields[0] for fields in (line.split() for line in f) if len(fields) > 1}
    except OSError:
        devices = {}
    for place in places:
        try:
            st = os.statvfs(place)
            mount = _mount_point(place)
        except OSError:
            continue
        device = devices.get(mount, "-")
        size = st.f_blocks * st.f_frsize // 1024
        used = (st.f_blocks - st.f_bfree) * st.f_frsize // 1024
        avail = st.f_bavail * st.f_frsize // 1024
        capacity = -(-used * 100 // (used + avail)) if used + avail else 0
        lines.append("%s %d %d %d %d%% %s" % (device, size, used, avail, capacity, mount))
    return ("\n".join(lines) + "\n").encode()


def _collect(job):
    """What ``run.sh``'s ``finish`` writes when no job server takes it (``df`` of the run's places
    into the output directory, then the directory as a tar, base64, on the protocol stream), done
    here as the run's user while its shell is stopped: the protocol line, for the run's stdout."""
    import base64
    import io
    import stat

    def work():
        home = job["env"].get("HOME", "")
        fd = _open_regular(OUT + "/df", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        if fd is not None:
            try:
                _write(fd, _df([TESTBED, "/tmp", home if os.path.isdir(home) else "/tmp/home"]))
            except OSError:
                pass
            finally:
                os.close(fd)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for folder, dirs, files in os.walk(OUT):
                for name in sorted(files):
                    path = os.path.join(folder, name)
                    fd = _open_regular(path, os.O_RDONLY)
                    if fd is None:
                        continue
                    with os.fdopen(fd, "rb") as f:
                        info = tarfile.TarInfo("./" + os.path.relpath(path, OUT))
                        st = os.fstat(f.fileno())
                        info.size, info.mode, info.mtime = st.st_size, stat.S_IMODE(st.st_mode), int(st.st_mtime)
                        tar.addfile(info, f)
        return (PROTOCOL + " out ").encode() + base64.b64encode(buf.getvalue())

    try:
        return _as_user(job, work)
    except Exception as exc:  # noqa: BLE001 - the run then has no output files, as when tar fails
        return ("%s out \nSKILLFORGE: the job server could not read the output directory: %r"
                % (PROTOCOL, exc)).encode()


def _run(job, fork=None):
    """Starts the run's shell and copies its stdout and stderr to this process's until it has
    exited and both are closed; returns its status as a shell reports it and what it wrote to
    each, not yet written on (``DRAIN_S`` after its exit, a pipe still held open -- by a process
    the reset could not kill -- is let go). With ``timeout`` in the job, this is its watchdog."""
    # pipes owned by the run's user, as the engine makes an exec's stdio (a run may reopen its
    # ``/dev/stdout``; ``execution.warm`` hands its pytest the run's output that way)
    out_r, out_w = _as_user(job, os.pipe)
    err_r, err_w = _as_user(job, os.pipe)
    _make_home(job)
    deadline = time.monotonic() + job["timeout"] if job.get("timeout") else None
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        _child(job, out_w, err_w, fork)
    os.close(out_w)
    os.close(err_w)
    if fork is not None:
        os.close(fork)
    poller = select.poll()
    targets = {out_r: 1, err_r: 2}
    for fd in targets:
        poller.register(fd, select.POLLIN)
    poller.register(WAKE[0], select.POLLIN)  # a child stopped or ended (SIGCHLD)
    held = {1: [], 2: []}
    size, status, drained = [0], None, None

    def take(wait):
        for fd, _event in poller.poll(wait):
            if fd == WAKE[0]:
                try:
                    os.read(fd, 512)
                except OSError:
                    pass
                continue
            data = os.read(fd, 1 << 16)
            if data:
                held[targets[fd]].append(data)
                size[0] += len(data)
                if size[0] >= FLUSH_BYTES:
                    for stream in (1, 2):
                        _write(stream, b"".join(held[stream]))
                        del held[stream][:]
                    size[0] = 0
            else:
                poller.unregister(fd)
                os.close(fd)
                del targets[fd]

    while targets:
        now = time.monotonic()
        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG | os.WUNTRACED)
            if done and os.WIFSTOPPED(raw):  # run.sh's finish (SF_COLLECT), or a process of the run's
                while targets and any(fd in targets for fd, _event in poller.poll(0)):  # what it wrote, first
                    take(0)
                held[1].append(_collect(job))
                os.kill(pid, signal.SIGCONT)  # (its session's: allowed without its uid)
                continue
            if done:
                status = os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else 128 + os.WTERMSIG(raw)
                drained = now + DRAIN_S
            elif deadline is not None and now >= deadline:
                held[1].append(_time_out(job))
                deadline = None
        elif now > drained:
            break
        wait = 100 if status is None else 50
        if status is None and deadline is not None:
            wait = max(0, min(wait, int((deadline - now) * 1000) + 1))
        take(wait)
    poller.unregister(WAKE[0])
    for fd in targets:
        os.close(fd)
    if status is None:
        _, raw = os.waitpid(pid, 0)
        status = os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else 128 + os.WTERMSIG(raw)
    return status, b"".join(held[1]), b"".join(held[2])


FORK = [None, None]  # the container's fork server once started; why it could not start


def _fork_socket(job):
    """The run's end of a socket to the fork server (started first where there is none, or the
    one there is serves another interpreter or environment); the server gets the other end."""
    server = FORK[0]
    if server is not None and (server.key != json.dumps(job["fork"], sort_keys=True) or not server.alive()):
        server.close()
        server = FORK[0] = None
    if server is None:
        server = FORK[0] = _ForkServer(job)
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.send(b"job", theirs.fileno())
    finally:
        theirs.close()
    return mine.detach()


WAKE = os.pipe()  # SIGCHLD's wakeup: a stopped child closes no pipe


def main():
    os.set_blocking(WAKE[1], False)
    signal.set_wakeup_fd(WAKE[1])
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
    stdin = sys.stdin.buffer
    _write(1, READY.encode())
    while True:
        line = stdin.readline()
        if not line:
            return
        job = json.loads(line.decode("utf-8"))
        payload = _read_exact(stdin, int(job["size"]))
        try:
            source, unknown = _source(job, stdin), None
        except KeyError as exc:
            source, unknown = None, exc
        fork = None
        if job.get("fork") and FORK[1] is None:  # started while the container is clean (before the files)
            try:
                fork = _fork_socket(job)
            except Exception as exc:  # noqa: BLE001 - this container's runs start their own pytest
                FORK[1] = repr(exc)
        try:
            if unknown is not None:
                raise unknown
            _place(payload, source)
        except Exception as exc:  # noqa: BLE001 - the run is not started; the client sees status 125
            out, err = b"", ("SKILLFORGE: the job server could not place the run's files in /sf: %r\n" % (exc,)).encode()
            status = 125
            if fork is not None:
                os.close(fork)
        else:
            status, out, err = _run(job, fork)
        if fork is not None:
            try:
                FORK[0].send(b"end")
            except OSError:
                pass
        nonce = job["nonce"]
        _write(2, err + ("%s job %s end" % (PROTOCOL, nonce)).encode())
        _write(1, out + ("\n%s job %s end %d\n" % (PROTOCOL, nonce, status)).encode())


if __name__ == "__main__":
    main()
