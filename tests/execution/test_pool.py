"""The warm container pool against the real engine, on the tiny repository:
the same results as the one-container-per-run executor, a complete reset
between runs, timeouts, bounded concurrency, and nothing left behind."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from skillforge.execution import InfraError, RunSpec
from skillforge.execution.images import LABEL_KIND
from skillforge.execution.pool import (
    LABEL_OWNER, LABEL_POOL, LABEL_POOL_ID, WarmPool, remove_leftover_pool_containers,
)
from skillforge.execution.sandbox import DockerExecutor, EnvInfo, git_tree_tar

pytestmark = pytest.mark.docker

ENV = "example__tinypkg-pool"
PRE_TEST_FAILS = "example__tinypkg-pool-pretest"

BAD_PATCH = """\
diff --git a/src/tinypkg/__init__.py b/src/tinypkg/__init__.py
--- a/src/tinypkg/__init__.py
+++ b/src/tinypkg/__init__.py
@@ -1,2 +1,2 @@
-def add(x, y):
-    return x + y
+def add(x, y):
+    return y + x
"""

# What a run sees of its sandbox (no pids, times or host names): identity, environment,
# limits, capabilities, network, and which places it may write.
PROBE = """\
import os, resource, socket, sys
print("uid", os.getuid(), "gid", os.getgid(), "groups", sorted(os.getgroups()), "cwd", os.getcwd())
print("umask", oct(os.umask(0o22)))
print("env", sorted((k, v) for k, v in os.environ.items() if k not in ("HOSTNAME",)))
for name in ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_CORE"):
    print(name, resource.getrlimit(getattr(resource, name)))
with open("/proc/self/status") as fh:
    print("".join(l for l in fh if l.startswith(("CapEff", "CapPrm", "NoNewPrivs", "Seccomp"))), end="")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    print("network ON")
except OSError as exc:
    print("network off:", type(exc).__name__)
print("interfaces", sorted(name for _, name in socket.if_nameindex()))
for place in ("/", "/opt/venv", "/sf", "/testbed", "/tmp", os.path.expanduser("~"), "/dev/shm", "/sf/out"):
    try:
        with open(os.path.join(place, ".probe"), "w") as fh:
            fh.write("x")
        os.unlink(os.path.join(place, ".probe"))
        print(place, "writable")
    except OSError as exc:
        print(place, "not writable:", exc.strerror)
"""

# What a script sees of the interpreter that runs it: its __main__ module, argv, path and `$_`.
SCRIPT_SEES = """\
import builtins, os, sys
print(sorted(globals()), __name__, __file__, repr(__package__), type(__loader__).__name__, __spec__, __cached__)
print(sys.argv, sys.path[0], __builtins__ is builtins, sys.modules["__main__"].__dict__ is globals(), __doc__)
print(os.environ.get("_"), getattr(sys, "orig_argv", None), sys.executable)
"""

# An exception the script does not catch: the interpreter prints its traceback from the script's frames on.
SCRIPT_RAISES = """\
def deep(n):
    if n == 0:
        raise ValueError("boom")
    deep(n - 1)

print("before")
deep(2)
"""

# Leaves as much behind as a run can: files and modes in and out of the checkout,
# processes in their own sessions, System V IPC.
DIRTY = """\
import os, pathlib, subprocess
open("stray.txt", "w").write("x")
os.makedirs("newdir/sub")
pathlib.Path("src/tinypkg/__init__.py").write_text("def add(a, b):\\n    return 42\\n")
os.chmod("run.sh", 0o600)
os.makedirs("locked/inner")
open("locked/inner/f", "w").write("x")
os.chmod("locked/inner", 0)
os.chmod("locked", 0)
os.chmod("tests", 0o500)
os.chmod("/testbed", 0o700)
for place in ("/tmp", os.path.expanduser("~"), "/dev/shm", "/sf/out"):
    open(os.path.join(place, "stray"), "w").write("x")
os.makedirs(os.path.expanduser("~/.cache/stray"))
subprocess.Popen(["sleep", "987"], start_new_session=True)
subprocess.Popen(["bash", "-c", "trap '' TERM HUP; while true; do echo $$ >> /testbed/bg.txt; sleep 0.05; done"],
                 start_new_session=True)
subprocess.run(["ipcmk", "-M", "4096"], check=True)
print("dirtied")
"""

# What a run finds: the checkout, the writable places, leftovers of other runs.
REPORT = """\
import os
def listing(root):
    out = []
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out.append(f"{path} {oct(st.st_mode)} {st.st_size if not os.path.isdir(path) else ''}")
    return sorted(out)
print("testbed mode", oct(os.stat("/testbed").st_mode))
print("add:", open("/testbed/src/tinypkg/__init__.py").read().strip().splitlines()[-1])
for root in ("/testbed", "/tmp", os.path.expanduser("~"), "/dev/shm", "/sf"):
    print(root, listing(root))
print("sysv shm", open("/proc/sysvipc/shm").read().count("\\n") - 1)
leftovers = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode()
        except OSError:
            continue
        if "sleep 987" in cmd or "bg.txt" in cmd:
            leftovers.append(cmd)
print("leftovers", leftovers)
"""


def new_file_patch(path: str, text: str) -> str:
    lines = text.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n{body}")


def pool_containers(client, pool: WarmPool | None = None) -> list[dict]:
    """Pool containers of these tests, as the engine lists them (Id, Labels, ...)."""
    label = f"{LABEL_POOL_ID}={pool.id}" if pool else f"{LABEL_KIND}={LABEL_POOL}"
    return [c for c in client.api.containers(all=True, filters={"label": label})
            if (c.get("Labels") or {}).get("skillforge.environment", "").startswith(ENV)]


@pytest.fixture(scope="module")
def envs(tiny_env):
    env, _log, _seconds = tiny_env
    return {ENV: env, PRE_TEST_FAILS: EnvInfo(env.image, env.repo, env.recipe.model_copy(
        update={"pre_test": ["echo preparing", "false"]}))}


@pytest.fixture(scope="module")
def source(tiny_repo):
    return lambda repo, commit: git_tree_tar(tiny_repo.path, commit)


@pytest.fixture(scope="module")
def docker_executor(docker_client, settings, envs, source):
    return DockerExecutor(docker_client, settings, envs, source)


@pytest.fixture
def make_pool(docker_client, settings, envs, source):
    made = []

    def make(size: int, **kwargs) -> WarmPool:
        pool = WarmPool(docker_client, settings, envs, source, size=size, **kwargs)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.close()
        assert pool_containers(docker_client, pool) == [], "pool containers left behind"


def comparable(result):
    return result.status, result.exit_code, result.tests, result.reason


@pytest.mark.parametrize("jobs,fork_server", [(True, False), (False, False), (True, True)],
                         ids=["job-server", "exec-per-run", "fork-server"])
def test_same_results_as_docker_executor(docker_executor, make_pool, tiny_repo, tmp_path, jobs, fork_server):
    c1, c2 = tiny_repo.c1, tiny_repo.c2
    cases = [
        (ENV, RunSpec(commit=c1)),                                                   # some pass, some fail
        (ENV, RunSpec(commit=c1, patches=(tiny_repo.gold,),
                      tests=("tests/test_sub.py::test_sub", "tests/test_add.py::test_add"))),
        (ENV, RunSpec(commit=c2)),                                                   # another tree
        (ENV, RunSpec(commit=c1, tests=("tests/test_sub.py::test_sub",))),           # collection error (4)
        (ENV, RunSpec(commit=c1, patches=(new_file_patch("tests/test_bad.py", "def test_x(:\n    pass"),))),
        (ENV, RunSpec(commit=c1, patches=("", tiny_repo.gold, BAD_PATCH))),          # apply_failed
        (ENV, RunSpec(commit=c1, script="import sys\nprint('seven')\nsys.exit(7)\n")),
        (ENV, RunSpec(commit=c1, patches=(tiny_repo.gold,), script="from tinypkg import sub\nprint(sub(3, 1))\n")),
        (ENV, RunSpec(commit=c1, script=PROBE)),
        (PRE_TEST_FAILS, RunSpec(commit=c1)),                                         # pre_test fails
        (ENV, RunSpec(commit=c1, script=SCRIPT_SEES)),
        (ENV, RunSpec(commit=c1, script=SCRIPT_RAISES)),                              # exit code 1, traceback
        (ENV, RunSpec(commit=c1, script="print('x')\ndef broken(:\n    pass\n")),   # a syntax error
        (ENV, RunSpec(commit=c1, script="import sys\nsys.exit('no luck')\n")),       # exit 1 and the message
        (ENV, RunSpec(commit=c1, script="print('before')\nraise KeyboardInterrupt\n")),  # ends by SIGINT
        # what the interpreter leaves unclosed at its exit (the fork server's sockets are not the run's);
        # the file descriptors the run holds (the numbers it gets for its files)
        (ENV, RunSpec(commit=c1, script="import warnings\nwarnings.simplefilter('default')\nprint('ok')\n")),
        (ENV, RunSpec(commit=c1, script="import os\nprint(sorted(os.listdir('/proc/self/fd')), os.open('/', 0))\n")),
        # a module of the repository named as one pytest imports (pdb's `import code`): a new interpreter
        # imports the repository's, where a warm one has the standard library's
        (ENV, RunSpec(commit=c1, patches=(new_file_patch("code.py", "raise RuntimeError('the repository code.py')"),))),
    ]
    pool = make_pool(2, log_dir=tmp_path, jobs=jobs, fork_server=fork_server)
    with ThreadPoolExecutor(max_workers=2) as threads:
        fresh = list(threads.map(lambda case: docker_executor.run(*case), cases))
        warm = list(threads.map(lambda case: pool.run(*case, log_name=f"inst/{case[1].label or 'run'}"), cases))
    for (env, spec), a, b in zip(cases, fresh, warm):
        assert comparable(b) == comparable(a), (spec, a.output[-2000:], b.output[-2000:])
        if spec.script is not None:
            assert b.output == a.output
    statuses = [r.status for r in warm]
    assert statuses[:10] == ["ok", "ok", "ok", "collection_error", "collection_error", "apply_failed", "ok", "ok",
                             "ok", "collection_error"]
    assert [r.exit_code for r in warm[10:17]] == [0, 1, 1, 1, 130, 0, 0]
    assert "the repository code.py" in warm[17].output and "the repository code.py" in fresh[17].output
    assert "ValueError: boom" in warm[11].output and 'File "/sf/script.py", line 7, in <module>' in warm[11].output
    assert "SyntaxError" in warm[12].output and "no luck" in warm[13].output
    assert "'/sf/script.py'] /sf True True None" in warm[10].output and "/venv/bin/python" in warm[10].output
    probe = warm[8].output
    assert "uid 1000 gid 1000" in probe and "network off" in probe and "network ON" not in probe
    assert "interfaces ['lo']" in probe and "CapEff:\t0000000000000000" in probe and "NoNewPrivs:\t1" in probe
    assert "/testbed writable" in probe and "/opt/venv not writable: Read-only file system" in probe
    assert warm[0].log_path and open(warm[0].log_path).read().startswith("environment: " + ENV)
    stats = pool.stats()
    assert stats["runs"] == len(cases) and stats["containers_started"] <= 4  # the pre_test env has its own
    assert stats["containers_discarded"] == 0 and 0 < stats["utilisation"] <= 1
    assert all((w.jobs is not None) == jobs for w in pool._all.values()) and stats["jobs_unavailable"] == 0
    if fork_server:  # every pytest run that reached its tests and every script run came from a fork server
        assert stats["warm_runs"] == 5 + 10
    assert stats["latency_p50_s"] > 0 and stats["latency_p95_s"] >= stats["latency_p50_s"]


def test_what_a_new_interpreter_would_import_otherwise(tmp_path, monkeypatch):
    """A warm interpreter serves a run only where a new one would import the same modules: none of its
    own is named in the run's sys.path[0] (a module, a compiled one, a regular package -- a namespace
    portion is not imported before the library's package), nor was read from the run's tree."""
    from skillforge.execution import warm

    tree, site = tmp_path / "testbed", tmp_path / "site"
    (tree / "src" / "lib").mkdir(parents=True)
    site.mkdir()
    monkeypatch.setattr(warm, "SERVED", {"code", "lib", "pdb"})
    monkeypatch.setattr(warm, "SERVED_FILES", [str(site / "code.py"), str(site / "pdb.py")])
    assert not warm._shadows(str(tree), str(tree))
    (tree / "code").mkdir()  # a namespace portion
    (tree / "code.txt").write_text("")
    (tree / "codecs.py").write_text("")
    assert not warm._shadows(str(tree), str(tree))
    for name in ("code.py", "code.cpython-311-x86_64-linux-gnu.so", "code/__init__.py"):
        (tree / name).write_text("")
        assert warm._shadows(str(tree), str(tree)), name
        (tree / name).unlink()
    assert not warm._shadows(str(tree / "missing"), str(tree))
    monkeypatch.setattr(warm, "SERVED_FILES", [str(site / "code.py"), str(tree / "src" / "lib" / "__init__.py")])
    assert warm._shadows(str(tree), str(tree))  # the library pytest imports, from the run's own tree
    assert not warm._shadows(str(tree), str(tmp_path / "testbed2"))


def test_reset_leaves_nothing_for_the_next_run(docker_executor, make_pool, tiny_repo):
    pool = make_pool(1)
    dirty = pool.run(ENV, RunSpec(commit=tiny_repo.c1, patches=(tiny_repo.gold,), script=DIRTY))
    assert (dirty.status, dirty.exit_code) == ("ok", 0) and "dirtied" in dirty.output, dirty.output
    [container] = pool.containers()
    after = pool.run(ENV, RunSpec(commit=tiny_repo.c1, script=REPORT))
    assert pool.containers() == [container], "the container was replaced, not reset"
    fresh = docker_executor.run(ENV, RunSpec(commit=tiny_repo.c1, script=REPORT))
    assert after.exit_code == 0 and fresh.exit_code == 0, after.output
    assert after.output == fresh.output
    assert "add:     return a + b" in after.output and "leftovers []" in after.output
    assert "sysv shm 0" in after.output and "stray" not in after.output and "bg.txt" not in after.output
    assert "/sf/script.py" in after.output and "patch-000.diff" not in after.output  # the previous run's patch
    assert pool.stats()["containers_discarded"] == 0


POLLUTE = """\
import os
import subprocess
import sys

import pytest


def test_pollute():
    pytest.SF_POLLUTED = True
    os.environ["SF_POLLUTED"] = "1"
    sys.modules["sf_polluted"] = sys
    with open("/tmp/sf-polluted", "w") as fh:
        fh.write("x")
    subprocess.Popen(["sleep", "1000"], start_new_session=True)
"""

CHECK = """\
import os
import signal
import sys

import pytest


def test_clean():
    assert not hasattr(pytest, "SF_POLLUTED")
    assert "SF_POLLUTED" not in os.environ and "sf_polluted" not in sys.modules
    assert [n for n in os.listdir("/tmp") if n.startswith((".sf-warm", "sf-polluted"))] == []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                assert b"sleep\\x001000" not in fh.read()
    # as `python -m pytest` in a process of its own
    assert sys.argv[0].endswith(os.path.join("pytest", "__main__.py")) and os.getcwd() in sys.path
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert os.path.basename(os.environ["_"]).startswith("python")  # bash's `$_`: the command's path
    assert getattr(sys, "orig_argv", ["python", "-m", "pytest"])[1:3] == ["-m", "pytest"]
"""


@pytest.mark.parametrize("fork_server", [False, True], ids=["per-run", "fork-server"])
def test_warm_interpreter_is_the_runs_own_and_starts_clean(docker_executor, make_pool, tiny_repo, fork_server):
    """pytest started ahead of a run by the last reset, or forked from the container's fork server
    (execution.warm), serves that run alone: what one run does to its interpreter, environment,
    /tmp and processes is not there in the next, and the results are those of a new container."""
    pool = make_pool(1, fork_server=fork_server)
    ahead = 1 if fork_server else 0  # a fork server serves the container's first run too
    pollute = RunSpec(commit=tiny_repo.c1, patches=(new_file_patch("tests/test_pollute.py", POLLUTE),),
                      tests=("tests/test_pollute.py",))
    check = RunSpec(commit=tiny_repo.c1, patches=(new_file_patch("tests/test_check.py", CHECK),),
                    tests=("tests/test_check.py", "tests/test_add.py::test_add"))
    results = [pool.run(ENV, spec) for spec in (pollute, check, pollute, check)]
    assert [r.tests for r in results[:2]] == [{"tests/test_pollute.py::test_pollute": "passed"},
                                              {"tests/test_check.py::test_clean": "passed",
                                               "tests/test_add.py::test_add": "passed"}], results[1].output[-3000:]
    stats = pool.stats()
    assert stats["warm_runs"] == 3 + ahead and stats["containers_started"] == 1 and stats["containers_discarded"] == 0
    for spec, warm in zip((pollute, check), results[2:]):
        fresh = docker_executor.run(ENV, spec)
        assert comparable(warm) == comparable(fresh), (warm.output[-2000:], fresh.output[-2000:])
    # a test that ends its process itself: the run's exit code is that of a new container
    exits = RunSpec(commit=tiny_repo.c1, tests=("tests/test_exit.py",), patches=(new_file_patch(
        "tests/test_exit.py", "import os\n\n\ndef test_exit():\n    os._exit(3)\n"),))
    warm, fresh = pool.run(ENV, exits), docker_executor.run(ENV, exits)
    assert (warm.status, warm.exit_code) == (fresh.status, fresh.exit_code) and fresh.exit_code == 3, warm.output
    # a script run kills the interpreter waiting for it (a fork server runs it); the next pytest run starts its own
    script = pool.run(ENV, RunSpec(commit=tiny_repo.c1, script="import os\nprint(sorted(os.listdir('/tmp')))\n"))
    assert ".sf-warm" not in script.output, script.output
    assert pool.run(ENV, check).tests["tests/test_check.py::test_clean"] == "passed"
    assert pool.stats()["warm_runs"] == 5 + 2 * ahead


# Test modules for the code cache: compile-time warnings, a module that does not compile
# (imported, and as a test module at parse and at compile stage), a conftest.py
WARNS = 'import re\nPATTERN = "\\d+"\n\n\ndef test_warns():\n    assert (1, "always true")\n'
IMPORTS_BROKEN = "import tinypkg.broken\n\n\ndef test_never():\n    pass\n"
CONFTEST = "import pytest\n\n\n@pytest.fixture\ndef two():\n    assert 2 == 2\n    return 2\n"
ADD_42 = """\
diff --git a/src/tinypkg/__init__.py b/src/tinypkg/__init__.py
--- a/src/tinypkg/__init__.py
+++ b/src/tinypkg/__init__.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a + b
+    return 42
"""
USES_FIXTURE = "def test_two(two):\n    assert two + 1 == 3\n"
FDS = "import os\n\n\ndef test_fds():\n    assert (sorted(os.listdir('/proc/self/fd')), os.open('/', 0)) == ()\n"


def same_output(text: str) -> str:
    """A run's output without its timings and object addresses."""
    return re.sub(r"\b0x[0-9a-f]+\b", "<addr>", re.sub(r"\b\d+\.\d+s\b", "<s>", text))


def test_code_cache_gives_each_run_its_own_results(docker_executor, make_pool, tiny_repo):
    """A fork server's code cache (execution.warm) serves later runs the code of files earlier runs
    compiled (imports, pytest's rewrite of test modules and conftest.py) only where the bytes are the
    same: the outputs of every run, warnings, syntax errors and their tracebacks included, are those of
    a fresh container, in the round that fills the cache and in the rounds it serves."""
    c1, gold = tiny_repo.c1, tiny_repo.gold
    broken = new_file_patch("src/tinypkg/broken.py", "x = 1\ndef f(:\n    pass")
    cases = [
        RunSpec(commit=c1),
        RunSpec(commit=c1, patches=(ADD_42,)),                                    # the same path, other bytes
        RunSpec(commit=c1, patches=(gold,), tests=("tests/test_sub.py", "tests/test_add.py::test_add")),
        RunSpec(commit=c1, patches=(new_file_patch("tests/test_warns.py", WARNS),), tests=("tests/test_warns.py",)),
        RunSpec(commit=c1, patches=(broken, new_file_patch("tests/test_imports.py", IMPORTS_BROKEN)),
                tests=("tests/test_imports.py",)),
        RunSpec(commit=c1, patches=(new_file_patch("tests/test_parse.py", "def test_x(:\n    pass"),),
                tests=("tests/test_parse.py",)),
        RunSpec(commit=c1, patches=(new_file_patch("tests/test_ret.py", "return 1\n"),), tests=("tests/test_ret.py",)),
        RunSpec(commit=c1, patches=(new_file_patch("tests/conftest.py", CONFTEST),
                                    new_file_patch("tests/test_fixture.py", USES_FIXTURE)),
                tests=("tests/test_fixture.py", "tests/test_add.py")),
        RunSpec(commit=c1, patches=(broken,), script="import tinypkg\nprint(tinypkg.add(2, 3))\nimport tinypkg.broken\n"),
        RunSpec(commit=c1, patches=(new_file_patch("tests/test_fds.py", FDS),), tests=("tests/test_fds.py",)),
    ]
    fresh = [docker_executor.run(ENV, spec) for spec in cases]
    assert "invalid escape sequence" in fresh[3].output and "assertion is always true" in fresh[3].output
    assert fresh[4].status == fresh[5].status == fresh[6].status == "collection_error"
    assert "'return' outside function" in fresh[6].output and "SyntaxError" in fresh[8].output
    pool = make_pool(1, fork_server=True)
    hits = []
    for _round in range(3):
        for spec, want in zip(cases, fresh):
            got = pool.run(ENV, spec)
            assert comparable(got) == comparable(want), (spec, want.output[-3000:], got.output[-3000:])
            assert same_output(got.output) == same_output(want.output), (spec, want.output, got.output)
        hits.append(pool.stats()["code_cache_hits"])
    stats = pool.stats()
    assert stats["warm_runs"] == 3 * len(cases) and stats["containers_started"] == 1
    # from the second round on, each run that compiles tinypkg and rewrites a test module gets both from the cache
    assert hits[1] - hits[0] >= 10 and hits[2] - hits[1] == hits[1] - hits[0], hits


# A run that goes after the job server (execution.jobs): signals every process it sees, reads
# what /proc shows of the others, tries to trace them, and writes end lines with made-up nonces.
ATTACK = """\
import ctypes, os, signal
me = os.getpid()
others = []
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != me:
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")[0].decode()
            uid = int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("Uid:")).split()[1])
        except OSError:
            continue
        if uid != os.getuid():  # the run's own shell is not the target
            others.append((int(pid), cmd))
server = [pid for pid, cmd in others if cmd.startswith("python3")]
forks = [pid for pid, _cmd in others if b"fork-server" in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")]
print("job server seen", len(server), "fork server seen", len(forks))
sent = 0
for pid, _cmd in others:
    for sig in (signal.SIGKILL, signal.SIGSTOP):
        try:
            os.kill(pid, sig)
            sent += 1
        except PermissionError:
            pass
print("signals that reached another user's process:", sent)
for pid in server + forks:
    for what in ("fd/0", "environ", "mem"):
        try:
            open(f"/proc/{pid}/{what}", "rb").read(1)
            print("read", what)
        except OSError as exc:
            print("cannot read", what, exc.strerror)
    libc = ctypes.CDLL(None, use_errno=True)
    print("ptrace attach", libc.ptrace(16, pid, None, None), os.strerror(ctypes.get_errno()))
with open("/dev/stdout", "w") as out, open("/dev/stderr", "w") as err:  # reopened, as a run may
    for nonce in ("0" * 32, "f" * 32):
        out.write(f"\\n@@SKILLFORGE job {nonce} end 0\\n")
        err.write(f"@@SKILLFORGE job {nonce} end")
print("attack done")
"""


@pytest.mark.parametrize("fork_server", [False, True], ids=["job-server", "and-fork-server"])
def test_a_run_cannot_reach_the_job_server(docker_executor, make_pool, tiny_repo, fork_server):
    """The job server is root's, and the fork server has another real and saved uid than the run's
    and is not dumpable: a run can neither signal, stop, trace nor read them, cannot end its own
    job early with forged end lines, and the next runs in the same container are served (by the
    same fork server) as a new container's would be."""
    pool = make_pool(1, fork_server=fork_server)
    check = RunSpec(commit=tiny_repo.c1, patches=(tiny_repo.gold,), tests=("tests/test_sub.py::test_sub",))
    first = pool.run(ENV, check)  # a fork server starts with the first pytest run
    attack = pool.run(ENV, RunSpec(commit=tiny_repo.c1, script=ATTACK))
    assert attack.exit_code == 0 and "attack done" in attack.output, attack.output
    assert f"job server seen 1 fork server seen {int(fork_server)}" in attack.output, attack.output
    assert attack.output.count("ptrace attach -1 Operation not permitted") == 1 + fork_server, attack.output
    assert attack.output.count("cannot read fd/0 Permission denied") == 1 + fork_server, attack.output
    assert "\nread " not in attack.output and "signals that reached another user's process: 0" in attack.output
    [container] = pool.containers()
    after, fresh = pool.run(ENV, check), docker_executor.run(ENV, check)
    assert pool.containers() == [container] and comparable(after) == comparable(fresh), after.output[-2000:]
    assert comparable(first) == comparable(fresh) and after.tests == {"tests/test_sub.py::test_sub": "passed"}
    stats = pool.stats()
    # with a fork server, the attack itself is one of its children, as every run's script is
    assert stats["containers_discarded"] == 0 and stats["warm_runs"] == (3 if fork_server else 1)


def test_without_a_job_server_each_run_gets_an_exec(docker_executor, make_pool, tiny_repo, monkeypatch):
    """An image where the job server cannot start (no python3 on its PATH, say): the container
    serves its runs through an exec each, with the same results."""
    import skillforge.execution.pool as pool_module

    monkeypatch.setattr(pool_module, "_jobs_source", lambda: "import sys\nsys.exit(3)\n")
    pool = make_pool(1)
    spec = RunSpec(commit=tiny_repo.c1, patches=(tiny_repo.gold,), tests=("tests/test_sub.py::test_sub",))
    results = [pool.run(ENV, spec) for _ in range(2)]
    fresh = docker_executor.run(ENV, spec)
    assert [comparable(r) for r in results] == [comparable(fresh)] * 2
    stats = pool.stats()
    assert stats["jobs_unavailable"] == 1 and stats["containers_started"] == 1 and stats["warm_runs"] == 1
    assert all(w.jobs is None for w in pool._all.values())


def test_job_server_keeps_source_trees(docker_executor, make_pool, tiny_repo, envs, monkeypatch):
    """A container's job server keeps the source trees it was sent (execution.jobs.Sources): a tree
    goes to it once, later runs of that commit only name it, with the same results. Where the
    client's account and the job server disagree, the run fails for the sandbox's sake in that
    container and is run again in a fresh one."""
    import skillforge.execution.pool as pool_module

    sent = []
    submit = pool_module._JobServer.submit

    def counting(self, job, header, payload, tail=b""):
        sent.append(len(tail))
        return submit(self, job, header, payload, tail)

    monkeypatch.setattr(pool_module._JobServer, "submit", counting)
    pool = make_pool(1)
    c1 = RunSpec(commit=tiny_repo.c1, patches=(tiny_repo.gold,), tests=("tests/test_sub.py::test_sub",))
    c2 = RunSpec(commit=tiny_repo.c2)
    results = [pool.run(ENV, spec) for spec in (c1, c2, c1, c2, c1)]
    tree1, tree2 = (len(git_tree_tar(tiny_repo.path, c)) for c in (tiny_repo.c1, tiny_repo.c2))
    assert sent == [tree1, tree2, 0, 0, 0]
    want = [comparable(docker_executor.run(ENV, spec)) for spec in (c1, c2)]
    assert [comparable(r) for r in results] == want + want + want[:1]
    [warm] = pool._all.values()
    warm.sources.put(f"{envs[ENV].repo}@{tiny_repo.c2}:{tree2}", True, tree2)  # an account that is wrong:
    warm.sources.items.pop(f"{envs[ENV].repo}@{tiny_repo.c2}:{tree2}")  # ... the server keeps it, the client not
    warm.sources.put(f"{envs[ENV].repo}@{tiny_repo.c1}:{tree1}", True, tree1)
    [warm.jobs.submit.__func__] if False else None
    stats = pool.stats()
    assert stats["containers_started"] == 1 and stats["retries"] == 0


FILL = """\
def test_fill():
    with open("big", "wb") as f:
        try:
            while True:
                f.write(b"x" * (1 << 20))
        except OSError as exc:
            print("full:", exc.strerror)
    assert False
"""


@pytest.mark.parametrize("jobs", [True, False], ids=["job-server", "exec-per-run"])
def test_a_full_disk_is_reported_as_a_fresh_container_reports_it(docker_client, settings, envs, source, make_pool,
                                                                tiny_repo, jobs):
    """The output directory and the disk use at the end of a run: written by run.sh's ``finish``
    (``df``, ``tar``, ``base64``), or, with a job server, by the job server while the run's shell is
    stopped; either way the result notes the full disk as a fresh container's does, and the next
    run in the container is clean."""
    spec = RunSpec(commit=tiny_repo.c1, patches=(new_file_patch("tests/test_fill.py", FILL),),
                   tests=("tests/test_fill.py",))
    fresh = DockerExecutor(docker_client, settings, envs, source, disk_size="24m").run(ENV, spec)
    pool = make_pool(1, jobs=jobs, disk_size="24m")
    full = pool.run(ENV, spec)
    assert "disk limit reached: /testbed full" in fresh.reason, fresh.reason
    assert (full.status, full.tests, full.reason) == (fresh.status, fresh.tests, fresh.reason)
    after = pool.run(ENV, RunSpec(commit=tiny_repo.c1, tests=("tests/test_add.py",)))
    assert "disk limit" not in after.reason and after.tests and pool.stats()["containers_discarded"] == 0


def test_timeout_replaces_the_container(make_pool, tiny_repo, docker_client):
    pool = make_pool(1)
    first = pool.run(ENV, RunSpec(commit=tiny_repo.c1, tests=("tests/test_add.py::test_add",)))
    [container] = pool.containers()
    bomb = "import os\n\n\ndef test_bomb():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass"
    patch = new_file_patch("tests/test_bomb.py", bomb)
    slow = pool.run(ENV, RunSpec(commit=tiny_repo.c1, patches=(patch,), tests=("tests/test_bomb.py",), timeout=3))
    assert slow.status == "timeout" and slow.exit_code is None, slow.output
    assert 3 <= slow.duration < 30
    assert re.fullmatch(r"timed out after 3s \(during run\); at the timeout: \d+ processes.*", slow.reason), slow.reason
    assert container not in [c["Id"] for c in pool_containers(docker_client, pool)], "timed-out container kept"
    again = pool.run(ENV, RunSpec(commit=tiny_repo.c1, tests=("tests/test_add.py::test_add",)))
    assert comparable(again) == comparable(first) and again.tests == {"tests/test_add.py::test_add": "passed"}
    stats = pool.stats()
    assert (stats["timeouts"], stats["containers_started"], stats["containers_discarded"]) == (1, 2, 1)
    assert pool.discard_reasons == {"timeout": 1}


def test_concurrency_is_bounded(make_pool, tiny_repo, docker_client):
    pool = make_pool(2)
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(len(pool_containers(docker_client, pool)))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    script = "import socket, time\ntime.sleep(1.5)\nprint('host', socket.gethostname())\n"
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=6) as threads:
            results = list(threads.map(lambda i: pool.run(ENV, RunSpec(commit=tiny_repo.c1, script=script,
                                                                       label=str(i))), range(6)))
    finally:
        stop.set()
        watcher.join()
    elapsed = time.monotonic() - started
    assert [r.exit_code for r in results] == [0] * 6
    hosts = {line for r in results for line in r.output.splitlines() if line.startswith("host ")}
    assert len(hosts) <= 2
    assert max(seen) <= 2 and pool.stats()["containers_started"] == 2
    assert elapsed >= 3 * 1.5  # six runs of 1.5 s, two at a time
    assert pool.stats()["wait_mean_s"] > 0


def test_waiting_too_long_is_an_infra_error(make_pool, tiny_repo):
    pool = make_pool(1, acquire_timeout=0.5)
    with ThreadPoolExecutor(max_workers=2) as threads:
        futures = [threads.submit(pool.run, ENV, RunSpec(commit=tiny_repo.c1, script="import time\ntime.sleep(4)\n"))
                   for _ in range(2)]
        outcomes = []
        for f in futures:
            try:
                outcomes.append(f.result().exit_code)
            except InfraError as exc:
                outcomes.append(exc.triage)
                assert "busy" in str(exc), exc
    assert sorted(map(str, outcomes)) == ["0", "sandbox"]


def test_close_removes_everything(docker_client, settings, envs, source, tiny_repo):
    with WarmPool(docker_client, settings, envs, source, size=2) as pool:
        with ThreadPoolExecutor(max_workers=2) as threads:
            list(threads.map(lambda i: pool.run(ENV, RunSpec(commit=tiny_repo.c1, script="print(1)\n")), range(2)))
        assert len(pool_containers(docker_client, pool)) >= 1
    assert pool_containers(docker_client, pool) == []
    with pytest.raises(InfraError, match="closed"):
        pool.run(ENV, RunSpec(commit=tiny_repo.c1, script="print(1)\n"))


def test_idle_containers_are_evicted(make_pool, tiny_repo, docker_client):
    pool = make_pool(1, idle_timeout=0.0)
    spec = RunSpec(commit=tiny_repo.c1, script="print(1)\n")
    pool.run(ENV, spec)
    [first] = pool.containers()
    pool.run(ENV, spec)
    assert pool.containers() != [first] and first not in [c["Id"] for c in pool_containers(docker_client, pool)]
    stats = pool.stats()
    assert (stats["containers_started"], stats["containers_evicted"], stats["containers_discarded"]) == (2, 1, 0)


def test_idle_containers_over_the_cap_go_longest_idle_first(make_pool, tiny_repo, docker_client):
    pool = make_pool(1, max_idle=1)
    spec = RunSpec(commit=tiny_repo.c1, script="print(1)\n")
    pool.run(ENV, spec)
    [first] = pool.containers()
    pool.run(PRE_TEST_FAILS, RunSpec(commit=tiny_repo.c1))  # another environment: its container stays idle
    [second] = pool.containers()
    assert second != first and first not in [c["Id"] for c in pool_containers(docker_client, pool)]
    assert pool.run(ENV, spec).exit_code == 0  # a new container for the environment whose one went
    assert len(pool.containers()) == 1
    stats = pool.stats()
    assert (stats["containers_started"], stats["containers_evicted"], stats["containers_discarded"]) == (3, 2, 0)


def test_leftovers_of_dead_owners_are_removed(make_pool, tiny_repo, docker_client):
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphaned, alive = make_pool(1), make_pool(1)
    orphaned._owner = f"{socket.gethostname()}:{dead.pid}:1"
    for pool in (orphaned, alive):
        pool.run(ENV, RunSpec(commit=tiny_repo.c1, script="print(1)\n"))
    [c] = pool_containers(docker_client, orphaned)
    assert c["Labels"][LABEL_OWNER].endswith(f":{dead.pid}:1")
    assert remove_leftover_pool_containers(docker_client) >= 1
    assert pool_containers(docker_client, orphaned) == []
    assert len(pool_containers(docker_client, alive)) == 1
    [c] = pool_containers(docker_client, alive)
    assert alive.containers() == [c["Id"]] and int(c["Labels"][LABEL_OWNER].split(":")[1]) == os.getpid()


def test_backend_with_pool_factory(settings, docker_client, tiny_env, tiny_repo, tmp_path):
    from skillforge.gitio import RepoHandle
    from skillforge.execution.backend import Backend
    from skillforge.skills import score_context

    env, _log, _seconds = tiny_env
    backend = Backend(settings, lambda repo: RepoHandle(repo, tiny_repo.path), logs_dir=tmp_path,
                      client=docker_client)
    backend.use_pool(2)
    name = backend.define(tiny_repo.name, env.recipe, tiny_repo.c1)
    pool = backend.executor.inner
    assert isinstance(pool, WarmPool) and pool.size == 2
    try:
        result = score_context(backend, name, "inst/gold").run(RunSpec(commit=tiny_repo.c1, patches=(tiny_repo.gold,),
                                                                tests=("tests/test_sub.py::test_sub",), label="edit"))
        assert result.tests == {"tests/test_sub.py::test_sub": "passed"}, result.output
        assert result.log_path == str(tmp_path / "inst" / "gold-edit.log")
        assert pool.environment(name).image == env.image
    finally:
        backend.close()
    assert docker_client.api.containers(all=True, filters={"label": f"{LABEL_POOL_ID}={pool.id}"}) == []
    with pytest.raises(RuntimeError, match="before the backend runs"):
        backend.use_pool(1)
