"""The warm interpreter of a pooled container: ``python -m pytest`` without its start-up.

A run's pytest spends most of its time before the first test: the interpreter
starts and imports pytest and its built-in plugins (about 0.35 s of a 0.45 s
run of a small suite). A warm pool container (``execution.pool``) therefore
starts, at the end of every reset -- once the container is clean -- one
interpreter of the environment that does exactly that import and then waits
for the next run. This file is that interpreter's program (run with
``python -c``, so it needs nothing but the environment's own Python, from 3.6
on). It serves ONE run (its pytest is a child forked from it) and is killed with
it by the reset, so nothing of a run can reach the next one (the next run's interpreter is
started after the reset, from the read-only image).

Protocol (``/tmp/.sf-warm``, made by this process as the run's uid, renamed into
place once the imports are done, so a run finds it whole or not at all):

* ``pid``: this process; ``job`` and ``rc``: FIFOs it holds open read-write.
* The run's script (``sandbox._sealed_script``), at its test command, waits for
  the folder while this process imports, takes the FIFOs and removes the folder
  before anything of the repository's tests runs. When its test command is ``<python> -m pytest ...`` with this
  interpreter, it writes ``pytest``, its pid, its stdout and stderr (fd numbers),
  its working directory, the command's first word, the count of the pytest
  arguments, the arguments and its environment (NUL-separated, ``END`` after
  them) to ``job``; otherwise it kills this process.
* This process answers on ``rc``: ``fallback`` (nothing was run: the run's
  environment differs in what the interpreter reads at start-up, or a new
  interpreter would import another module than one this process imported (see
  ``_shadows``), so the run starts its own ``python``), or ``started`` and then the exit status of pytest,
  which runs in a child forked from this process (so ``os._exit`` and signals are
  reported as a shell reports them). The child takes
  the run's stdout and stderr (``/proc/<pid>/fd/<n>``), its working
  directory and environment (``$_`` as bash sets it for the command: its first
  word looked up on the PATH), re-reads the ``.pth`` path entries that did not exist
  when it started (an editable install's ``src`` comes with the run's tree), and
  runs pytest as ``python -m pytest`` does (``sys.argv``, ``sys.path[0]``,
  ``__main__``, SIGINT raising ``KeyboardInterrupt``).

Fork server (``python -S -c <this file> fork-server RUID UID RGID GID GROUPS``,
started by a container's job server, ``execution.jobs``, as root, once, while
the container is clean): the same interpreter serves every run of the container,
so pytest's import is paid once per container instead of once per run. Before
anything else it gives itself the groups, ``setresgid(RGID, GID, RGID)`` and
``setresuid(RUID, UID, RUID)``: it reads and writes files as the run's user
(UID), but its real and saved uid are another (RUID, ``nobody``), so no process
of the run can signal it, and the change of effective uid leaves it
non-dumpable, so none can trace it or open its ``/proc`` entries. Only then does
it read ``site`` (the ``.pth`` files) and import pytest. Jobs come from the job
server (root) over the socket at fd 3: ``job`` with a socket for one run (its
other end is the run's fd 5), ``end`` when that run is over; on that socket it
takes one request, as above, and answers on it: a pytest run, or (``script``)
a script run, ``python SCRIPT`` (the reproduction skill's runs), which the child
runs as the interpreter runs a script (``sys.argv``, ``sys.path[0]`` the
script's folder, ``__main__``; an uncaught exception printed from the script's
first frame on, exit code 1; ``KeyboardInterrupt`` ending it by SIGINT). Each
run is a child forked from it that becomes the run's user entirely (real,
effective and saved uid, so the run -- and its reset -- can kill it) and
dumpable again, as a shell's child
is. What the child does stays in the child. What the runs of a fork server
share is what an interpreter fixes when it starts: the hash seed of ``str`` (so
it is opt-in: ``WarmPool(fork_server=True)``, for rewards, not for validation,
whose reruns look for order-dependent tests) and ``sys.flags`` (``no_site``:
it reads ``site`` itself, after it dropped root); and, from Python 3.7, the objects
of its imports are frozen out of the garbage collector's view (``gc.freeze``:
a child's collections do not walk them), which only ``gc.get_objects()`` shows.
A script run also finds pytest and its plugins among ``sys.modules`` (already
imported, as the script's ``import pytest`` would leave them), and the modules
every pytest session imports (``_session_modules``: ``pdb``, the TOML reader...),
which the server imports with pytest so that no run pays them.

A fork server also keeps a code cache (``_CodeCache``, described where it is
defined); a child sees its hooks as ``SourceLoader.source_to_code`` and, in
pytest's rewrite module, ``rewrite_asserts`` and a ``compile``.
"""

import gc
import os
import sys

DIR = "/tmp/.sf-warm"
END = b"\0\x01sf-warm-end\x01\0"  # after the last field of a job
# what the interpreter reads from the environment when it starts: a run whose values differ gets its own
STARTUP_PREFIXES = ("PYTHON", "LC_")
# (``_ARGCOMPLETE``: pytest's argument completion reads it when imported, below; ``TERM`` and ``INPUTRC``:
# readline reads them when imported, and pdb imports it from Python 3.13 on)
STARTUP_NAMES = ("LANG", "LANGUAGE", "TZ", "PATH", "VIRTUAL_ENV", "HOME", "_ARGCOMPLETE", "TERM", "INPUTRC")
SERVED = set()  # the top-level modules this process imported after its start-up (``_import_pytest``)
SERVED_FILES = []  # and the files of all it imported then


def _startup(env):
    return {k: v for k, v in env.items() if k.startswith(STARTUP_PREFIXES) or k in STARTUP_NAMES}


def _version(text):
    """``(major, minor)`` of a version string such as ``7.0.0rc1``."""
    parts = []
    for part in text.split(".")[:2]:
        digits = ""
        for c in part:
            if not c.isdigit():
                break
            digits += c
        parts.append(int(digits or 0))
    return tuple(parts + [0] * (2 - len(parts)))


def _session_modules(pytest_version):
    """What pytest imports in every session after its own import, so that each run of a server would
    import it again: its debugger hook (``pdb``: ``cmd``, ``code``...), the fault handler, argument
    completion, the reader of the distributions' metadata (plugins' entry points) and the TOML reader
    it reads ``pyproject.toml`` with (by version: ``toml`` in 6, ``tomli`` in 7.0-7.1, then ``tomllib``
    from Python 3.11). All are modules without effects when imported but two, which read start-up names
    (a run whose values differ gets its own interpreter): argument completion (``_ARGCOMPLETE``) and,
    from Python 3.13, ``readline``, which pdb imports (``TERM``, ``INPUTRC``; it is initialised with
    this process's stdio, not a terminal, as a run's is)."""
    names = ["pdb", "faulthandler", "_pytest._argcomplete", "email.parser"]
    version = _version(pytest_version)
    if version >= (7, 2) and sys.version_info >= (3, 11):
        names.append("tomllib")
    elif version >= (7, 0):
        names.append("tomli")
    elif version >= (6, 0):
        names.append("toml")
    return names


def _import_pytest():
    """pytest, its built-in plugins and what its sessions import (``_session_modules``), imported; the
    top-level names of the modules imported here are kept in ``SERVED``."""
    before = set(sys.modules)
    import pytest
    import _pytest.config

    names = ["_pytest." + name for name in
             tuple(getattr(_pytest.config, "essential_plugins", ())) + tuple(_pytest.config.default_plugins)]
    for name in names + _session_modules(getattr(pytest, "__version__", "")):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a plugin name without a module of that name, a reader not installed
            pass
    for name in set(sys.modules) - before:
        spec = getattr(sys.modules[name], "__spec__", None)
        if spec is None or spec.origin in ("built-in", "frozen"):
            continue  # nothing on a path stands in for a module built into the interpreter
        SERVED.add(name.partition(".")[0])  # (a namespace package too: a regular one on sys.path[0] wins)
        if spec.has_location:
            SERVED_FILES.append(os.path.realpath(spec.origin))


def _shadows(folder, tree):
    """Whether a new interpreter started for a run would import another module than one this process
    imported: ``folder`` (the run's ``sys.path[0]``) holds a module or regular package named as one of
    ``SERVED`` (a ``code.py`` for pdb's ``import code``), or one was read from the run's ``tree``
    (the repository of a library pytest imports, installed in development mode: each run's own)."""
    import importlib.machinery

    inside = os.path.realpath(tree) + os.sep
    if any(path.startswith(inside) for path in SERVED_FILES):
        return True
    suffixes = importlib.machinery.all_suffixes()
    try:
        entries = os.listdir(folder)
    except OSError:
        return False
    for entry in entries:
        name, dot, rest = entry.partition(".")
        if name not in SERVED:
            continue
        if dot and "." + rest in suffixes:
            return True
        if not dot and any(os.path.isfile(os.path.join(folder, entry, "__init__" + suffix)) for suffix in suffixes):
            return True
    return False


def _prepare():
    """The folder, made aside and renamed into place when the imports are done."""
    tmp = "%s.%d" % (DIR, os.getpid())  # made by the shell that started this process, or here
    if not os.path.isdir(tmp):
        os.mkdir(tmp, 0o700)
    os.mkfifo(tmp + "/job", 0o600)
    os.mkfifo(tmp + "/rc", 0o600)
    job = os.open(tmp + "/job", os.O_RDWR)
    rc = os.open(tmp + "/rc", os.O_RDWR)
    _import_pytest()
    with open(tmp + "/pid", "w") as f:
        f.write(str(os.getpid()))
    os.rename(tmp, DIR)
    return job, rc


def _read_job(fd):
    data = b""
    while not data.endswith(END):
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        data += chunk
    return [f.decode("utf-8", "surrogateescape") for f in data[:-len(END) + 1].split(b"\0")[:-1]]


def _missing_pth_entries():
    """The directories ``.pth`` files name that ``site`` skipped at start-up (they did not exist)."""
    import site

    dirs = []
    try:
        dirs += site.getsitepackages()
    except AttributeError:  # a virtualenv's old site.py
        pass
    try:
        dirs.append(site.getusersitepackages())
    except AttributeError:
        pass
    added = []
    for d in dirs:
        try:
            names = sorted(n for n in os.listdir(d) if n.endswith(".pth"))
        except OSError:
            continue
        for name in names:
            try:
                with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            for line in lines:
                line = line.rstrip()
                if not line or line.startswith("#") or line.startswith(("import ", "import\t")):
                    continue
                path = os.path.abspath(os.path.join(d, line))
                if path not in sys.path and path not in added and os.path.exists(path):
                    added.append(path)
    return added


# The fork server's code cache: code objects, by content, for its children's imports.
#
# A run compiles the repository's modules it imports (no ``__pycache__`` survives the reset) and
# pytest rewrites the asserts of its test modules and ``conftest.py`` files (an AST walk in Python):
# the same files, byte for byte, in most runs of an environment (a reward scores many answers to
# one instance). A child reports the files it compiled without the cache (their paths: data, never
# trusted); before each later fork the server reads those paths itself (the run's tree is in place
# by then), compiles what it has not compiled in that content, with the interpreter's own
# ``compile`` and pytest's own rewrite, and the child it forks looks each file up by path and the
# SHA-256 of the bytes it read: so a child only ever gets the code of the very bytes it would have
# compiled, computed by this process. A compilation that warns (a ``SyntaxWarning``, pytest's
# "assertion is always true") or fails is not cached: the child compiles it, and warns or fails, itself.
# The hooks are ``SourceLoader.source_to_code`` (every import from source) and, in pytest's rewrite
# module, ``rewrite_asserts`` and ``compile`` (pytest 5+; its own ``ast.parse`` is left as it is); in a
# traceback their frames are importlib's, which the interpreter trims, and hidden from pytest's
# (``__tracebackhide__``): a run's output is what it is without the cache.
CODE_MAX_FILE = 4 << 20  # bytes of one source file
CODE_MAX_BYTES = 16 << 20  # source bytes whose code is kept (least recently used go first)
CODE_MAX_PATHS = 2048  # files read ahead of a fork (the paths children reported last)
CODE_MAX_READ = 32 << 20  # bytes read ahead of one fork
CODE_MAX_REPORT = 256 << 10  # bytes of a child's report (shared memory: no fd of the child's is taken)
CODE_HOOKS = '''
def source_to_code(self, data, path, *, _optimize=-1):
    __tracebackhide__ = True
    if type(data) is bytes and type(path) is str:
        code = _codes.get(("c", path, _optimize, _sha(data).digest()), _codes)
        if code is _codes:
            _note(b"m\\0c\\0%d\\0%s\\0" % (_optimize, _fsencode(path)))
        elif code is not None:
            _note(b"h\\0")
            return code
    return _source_to_code(self, data, path, _optimize=_optimize)


def rewrite_asserts(mod, source, module_path=None, config=None):
    __tracebackhide__ = True
    if type(source) is bytes and type(module_path) is str and not _pass_hook(config):
        code = _codes.get(("r", module_path, -1, _sha(source).digest()), _codes)
        if code is _codes:
            _note(b"m\\0r\\0-1\\0%s\\0" % _fsencode(module_path))
        elif code is not None:
            _note(b"h\\0")
            _pending[:] = [mod, code]
            return None
    return _rewrite_asserts(mod, source, module_path, config)


def compile(source, *args, **kwargs):
    __tracebackhide__ = True
    if _pending:
        tree, code = _pending
        del _pending[:]
        if tree is source:
            return code
    return _compile(source, *args, **kwargs)
'''


def _rewrite_module():
    """pytest's assertion rewrite module where its hooks apply (``_rewrite_test`` calls ``ast.parse``,
    ``rewrite_asserts(tree, source, path, config)`` and ``compile``: pytest 5+), else None."""
    try:
        import inspect
        import _pytest.assertion.rewrite as rewrite

        params = list(inspect.signature(rewrite.rewrite_asserts).parameters)
        names = rewrite._rewrite_test.__code__.co_names
    except Exception:  # noqa: BLE001 - another layout: no cache for rewrites
        return None
    if params != ["mod", "source", "module_path", "config"] or "rewrite_asserts" not in names \
            or "compile" not in names or "compile" in vars(rewrite):
        return None
    return rewrite


def _pass_hook(config):
    """Whether pytest's ``enable_assertion_pass_hook`` is on (rewrites then depend on the config)."""
    if config is None:
        return False
    try:
        return bool(config.getini("enable_assertion_pass_hook"))
    except Exception:  # noqa: BLE001 - unknown: the child rewrites itself
        return True


class _CodeCache:
    """Code objects by (kind, path, optimize, SHA-256 of the source): ``c`` an import's
    ``compile``, ``r`` pytest's rewrite of a test module; None where the child compiles itself."""

    def __init__(self):
        import collections
        import hashlib

        self.codes = collections.OrderedDict()
        self.sizes = {}
        self.size = 0
        self.paths = collections.OrderedDict()  # (kind, path, optimize) children compiled themselves
        self.sha = hashlib.sha256
        self.rewrite = _rewrite_module()

    def prepare(self):
        """Compiles, before a fork, the files of the paths learned that the cache lacks in their
        present content; True when it added any."""
        added, budget = False, CODE_MAX_READ
        for entry in list(self.paths):
            if budget <= 0:
                break
            kind, path, optimize = entry
            data = _read_source(path)
            if data is None:  # not in this run's tree (a later child that compiles it reports it again)
                del self.paths[entry]
                continue
            budget -= len(data)
            key = (kind, path, optimize, self.sha(data).digest())
            if key in self.codes:
                self.codes.move_to_end(key)
                continue
            self._store(key, self._compile(kind, path, optimize, data), len(data))
            added = True
        return added

    def _compile(self, kind, path, optimize, data):
        import warnings

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if kind == "c":
                    code = compile(data, path, "exec", dont_inherit=True, optimize=optimize)
                elif self.rewrite is not None:
                    import ast

                    tree = ast.parse(data, filename=path)
                    self.rewrite.rewrite_asserts(tree, data, path, None)
                    code = compile(tree, path, "exec", dont_inherit=True)
                else:
                    return None
        except Exception:  # noqa: BLE001 - the child compiles it, and fails, itself
            return None
        return None if caught else code

    def _store(self, key, code, size):
        self.codes[key] = code
        self.sizes[key] = size
        self.size += size
        while len(self.codes) > 1 and self.size > CODE_MAX_BYTES:
            old, _ = self.codes.popitem(last=False)
            self.size -= self.sizes.pop(old)

    @staticmethod
    def report():
        """A child's report: anonymous shared memory (the child writes it, with no fd taken from the
        numbers a new interpreter would give the run's files), zeros after what it wrote."""
        import mmap

        return mmap.mmap(-1, CODE_MAX_REPORT)

    def learn(self, report):
        """Reads a child's ``report`` (closed) once the child has exited: the paths it compiled itself
        are read ahead of the next forks; returns how many of its compilations the cache served."""
        try:
            data = report[:].rstrip(b"\0")
        finally:
            report.close()
        fields = data.split(b"\0")
        hits, i = 0, 0
        while i < len(fields):
            if fields[i] == b"h":
                hits += 1
                i += 1
            elif fields[i] == b"m" and i + 3 < len(fields):
                kind, optimize, path = fields[i + 1], fields[i + 2], os.fsdecode(fields[i + 3])
                i += 4
                if kind in (b"c", b"r") and optimize.lstrip(b"-").isdigit() and path.startswith("/") \
                        and len(path) < 4096:
                    entry = (kind.decode(), path, int(optimize))
                    self.paths[entry] = None
                    self.paths.move_to_end(entry)
                    if len(self.paths) > CODE_MAX_PATHS:
                        self.paths.popitem(last=False)
            else:
                i += 1
        return hits

    def install(self, report):
        """In the child: the hooks, which look its compilations up here and write to ``report``."""
        import importlib._bootstrap_external as external

        def note(record):
            try:
                report.write(record)
            except ValueError:  # full: the rest is not reported
                pass

        space = {"_codes": self.codes, "_sha": self.sha, "_note": note, "_fsencode": os.fsencode,
                 "_source_to_code": external.SourceLoader.source_to_code, "_pending": [],
                 "_pass_hook": _pass_hook, "_compile": compile, "__name__": "importlib._bootstrap_external"}
        if self.rewrite is not None:
            space["_rewrite_asserts"] = self.rewrite.rewrite_asserts
        exec(compile(CODE_HOOKS, "<frozen importlib._bootstrap_external>", "exec"), space)
        external.SourceLoader.source_to_code = space["source_to_code"]
        if self.rewrite is not None:
            self.rewrite.rewrite_asserts = space["rewrite_asserts"]
            self.rewrite.compile = space["compile"]


def _read_source(path):
    """The bytes of the regular file ``path`` (not through a final symbolic link, never blocking), or None."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > CODE_MAX_FILE:
            return None
        parts, size = [], 0
        while size <= CODE_MAX_FILE:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts) if size <= CODE_MAX_FILE else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _serve(fields, rc, become=None, closing=(), cache=None):
    """One run's pytest or script (``fields``: its request; ``RUNS``) in a child forked from this
    process, answered on ``rc``; ``become`` is called first in the child, ``closing`` (sockets) closed there;
    ``cache``: the fork server's code cache (``_CodeCache``), prepared before the fork and told after it."""
    try:
        kind = fields[0]
        if kind not in RUNS:
            raise ValueError(kind)
        pid, out_fd, err_fd, cwd, word, count = (int(fields[1]), int(fields[2]), int(fields[3]), fields[4],
                                                 fields[5], int(fields[6]))
    except (ValueError, IndexError):
        os.write(rc, b"fallback\n")
        return
    args = fields[7:7 + count]
    env = dict(e.split("=", 1) for e in fields[7 + count:] if "=" in e)
    if kind == "script" and not args:
        os.write(rc, b"fallback\n")
        return
    if _startup(env) != _startup(os.environ):
        os.write(rc, b"fallback\n")
        return
    # the run's sys.path[0]: as _run_pytest and _run_script set it
    if _shadows(os.path.dirname(os.path.realpath(os.path.join(cwd, args[0]))) if kind == "script" else cwd, cwd):
        os.write(rc, b"fallback\n")
        return
    try:
        out = os.open("/proc/%d/fd/%d" % (pid, out_fd), os.O_WRONLY)
        err = os.open("/proc/%d/fd/%d" % (pid, err_fd), os.O_WRONLY)
    except OSError:
        os.write(rc, b"fallback\n")
        return
    report = None
    if cache is not None:
        if cache.prepare() and hasattr(gc, "freeze"):
            gc.freeze()
        report = cache.report()
    child = os.fork()
    if child == 0:
        try:
            # the sockets detached: their objects must not close (or warn about) fds that the run reuses
            for fd in set([sock.detach() for sock in closing] + [rc]):
                os.close(fd)
            if become is not None:
                become()
            if report is not None:
                cache.install(report)
        except BaseException:  # noqa: BLE001 - nothing of the run may start half-changed
            os._exit(126)
        if "_" in env:  # as bash sets it for the command (env -0 gave its own path)
            import shutil

            env["_"] = shutil.which(word, path=env.get("PATH", os.defpath)) or word
        RUNS[kind](out, err, cwd, env, word, args)  # does not return
    for fd in (out, err):
        os.close(fd)
    os.write(rc, b"started\n")
    _, status = os.waitpid(child, 0)
    # as a shell reports it: the exit code, or 128 + the signal that ended it
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    if report is not None:
        os.write(rc, ("cached %d\n" % cache.learn(report)).encode())
    os.write(rc, ("%d\n" % code).encode())


def main():
    if sys.argv[1:2] == ["fork-server"]:
        return fork_server(*sys.argv[2:])
    job, rc = _prepare()
    fields = _read_job(job)
    for name in ("job", "rc", "pid"):
        try:
            os.unlink(os.path.join(DIR, name))
        except OSError:
            pass
    try:
        os.rmdir(DIR)
    except OSError:
        pass
    os.close(job)
    _serve(fields, rc)


def fork_server(ruid, uid, rgid, gid, groups):
    """The fork server's loop (see the module's docstring); the job server's socket is fd 3."""
    ruid, uid, rgid, gid = int(ruid), int(uid), int(rgid), int(gid)
    os.setgroups([int(g) for g in groups.split(",") if g])
    os.setresgid(rgid, gid, rgid)
    os.setresuid(ruid, uid, ruid)
    if os.getresuid() != (ruid, uid, ruid) or os.getresgid() != (rgid, gid, rgid):
        raise SystemExit("the fork server's ids did not change")
    import ctypes
    import select
    import site
    import socket

    site.main()
    libc = ctypes.CDLL(None, use_errno=True)

    def become():
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if libc.prctl(4, 1, 0, 0, 0) != 0:  # PR_SET_DUMPABLE: as any process of the run
            raise OSError(ctypes.get_errno(), "prctl")

    _import_pytest()
    cache = _CodeCache()
    gc.collect()
    if hasattr(gc, "freeze"):  # 3.7+: what this process holds is out of its children's collections
        gc.freeze()  # (a collection in a child would otherwise walk, and copy, every page of it)
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, 0, 3)
    ctl.send(b"ready")
    run = None
    while True:
        poller = select.poll()
        poller.register(ctl, select.POLLIN)
        if run is not None:
            poller.register(run, select.POLLIN)
        for fd, _event in poller.poll():
            if fd == ctl.fileno():
                fds = []
                data, ancillary, _flags, _addr = ctl.recvmsg(16, socket.CMSG_SPACE(4 * 4))
                for level, kind, raw in ancillary:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds += [int.from_bytes(raw[i:i + 4], sys.byteorder) for i in range(0, len(raw) - 3, 4)]
                if not data:
                    return  # the job server is gone
                if run is not None:  # a new job or the end of this one: the old socket goes
                    run.close()
                    run = None
                for extra in fds[1:]:
                    os.close(extra)
                if data == b"job" and fds:
                    run = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fds[0])
                elif fds:
                    os.close(fds[0])
            elif run is not None and fd == run.fileno():
                fields = _read_job(run.fileno())
                try:
                    if fields is not None:
                        _serve(fields, run.fileno(), become=become, closing=(ctl, run), cache=cache)
                except OSError:  # the run went away meanwhile
                    pass
                run.close()  # one request per run
                run = None
                break


def _enter(out, err, cwd, env):
    """This (forked) process takes the run's stdout, stderr, working directory and environment,
    with stdin ``/dev/null`` and the signal dispositions of a new interpreter."""
    import importlib
    import signal

    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in (null, out, err):
        os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # bash started the parent with SIGINT ignored
    if hasattr(signal, "SIGQUIT"):
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    sys.path.extend(_missing_pth_entries())
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()


def _run_pytest(out, err, cwd, env, word, args):
    """The run's pytest, in this (forked) process, as ``WORD -m pytest ARGS`` would run it."""
    import runpy

    _enter(out, err, cwd, env)
    sys.path[0] = cwd  # as `python -m` sets it
    if hasattr(sys, "orig_argv"):  # 3.10+
        sys.orig_argv = [word, "-m", "pytest"] + args
    sys.argv = ["-m"] + args  # runpy puts pytest's __main__.py in argv[0]
    runpy.run_module("pytest", run_name="__main__", alter_sys=True)  # raises SystemExit: the interpreter exits


def _run_script(out, err, cwd, env, word, args):
    """The run's ``WORD SCRIPT ARGS``, in this (forked) process, as the interpreter runs a script:
    ``sys.argv``, ``sys.path[0]`` (the script's folder), a new ``__main__`` module with the names the
    interpreter gives it; an exception the script does not catch is printed by ``sys.excepthook``
    from the script's first frame on (this program's frames left out, as the interpreter has none)
    and gives exit code 1, and a ``KeyboardInterrupt`` ends it by SIGINT, as the interpreter does (3.8+;
    before, exit code 1)."""
    import builtins
    import importlib.machinery
    import signal
    import types

    _enter(out, err, cwd, env)
    path = args[0]
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = [word] + args
    sys.argv = list(args)
    main = types.ModuleType("__main__")
    if "__annotations__" in vars(sys.modules["__main__"]):  # as the interpreter made this one's
        main.__annotations__ = {}
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec")
        exec(code, vars(main))
    except SystemExit:
        raise  # the interpreter exits with its code (and prints a message that is not one)
    except BaseException:  # noqa: BLE001 - reported as the interpreter reports it
        kind, value, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename != path:
            tb = tb.tb_next
        value.__traceback__ = tb  # what the hook prints (it takes the exception's own)
        sys.excepthook(kind, value, tb)
        if issubclass(kind, KeyboardInterrupt) and sys.version_info >= (3, 8):  # ends by the signal, as 3.8+ does
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        raise SystemExit(1)
    raise SystemExit(0)


RUNS = {"pytest": _run_pytest, "script": _run_script}

if __name__ == "__main__":
    main()
