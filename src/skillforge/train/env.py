"""The agentic task interface: the policy acts in the instance's container
through two tools, ``bash`` and ``str_replace``, and is scored at the end.

``SkillEnvironment`` follows TRL's ``environment_factory`` contract
(``GRPOTrainer(environment_factory=...)``): ``reset(**row)`` prepares a rollout
and returns text appended to the prompt; its public methods are the tools
(typed, with Google-style docstrings that become their JSON schemas); the
skill rewards read the final answer from it (``_final_answer``). The last
assistant message is the answer, except for editing and test generation, where
the changes made to the checkout (``git diff``) are, when there are any.

A rollout's checkout is a container from the instance's environment image,
network off, all capabilities dropped, as the unprivileged user, with the
repository at the instance's base commit in ``/testbed`` (a git baseline commit
records it, so the final diff is exact). Scoring never happens in that
container: the answer goes to the skill's scorer, which runs in fresh
containers through the Backend's executor. Containers start in the background
at ``reset`` and are removed at the next ``reset`` or at ``_close``.

Sessions come from a ``SessionFactory``; the default starts Docker containers
through the Backend (its client, settings and images). An executor that keeps
warm containers may offer ``open_session(environment, commit)`` returning an
object with the ``Session`` methods; the factory uses it when present.
"""

from __future__ import annotations

import atexit
import contextlib
import posixpath
import shlex
import threading
import uuid
import weakref
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from skillforge.execution import InfraError
from skillforge.schema import Instance
from skillforge.skills import REGISTRY

TESTBED = "/testbed"
DIFF_SKILLS = ("editing", "test_generation")
EXCLUDES = ["__pycache__/", "*.pyc", ".pytest_cache/", "*.egg-info/", ".mypy_cache/", ".tox/", ".coverage"]
GIT = "git -c user.name=skillforge -c user.email=skillforge@localhost -c core.quotepath=off -c commit.gpgsign=false"

INSTRUCTIONS = {
    "localization": "Explore the repository with the tools, then give your answer in the format asked above.",
    "editing": ("Make the change in the checkout with the tools. The changes you leave in the checkout are your "
                "answer (taken as `git diff`), so you may end with a short summary instead of a diff."),
    "test_generation": ("Write the tests into the checkout with the tools. The changes you leave in the checkout are "
                        "your answer (taken as `git diff`), so you may end with a short summary instead of a diff."),
    "reproduction": ("You may write and run your script in the checkout to check it; end with the script in a "
                     "```python block as asked above."),
    "review": ("You may apply the patch in the checkout (`git apply`) and run the tests; end with your judgment "
               "as asked above."),
}


class ToolError(ValueError):
    """A tool used the wrong way (the message goes back to the policy)."""


class Session(Protocol):
    def exec(self, command: str, timeout: int) -> tuple[int | None, str]: ...
    def read(self, path: str) -> bytes | None: ...
    def write(self, path: str, data: bytes) -> None: ...
    def close(self) -> None: ...


_LIVE: "weakref.WeakSet[DockerSession]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for session in list(_LIVE):
        with contextlib.suppress(Exception):
            session.close()


class DockerSession:
    """One long-lived sandbox container holding a checkout in /testbed."""

    def __init__(self, client, settings, image: str, source_tar: bytes, *, environment: str = "", label: str = ""):
        from docker.types import LogConfig

        from skillforge.execution.images import LABEL_KIND, TRACKED_FILES, build_tar

        self.client = client
        self.settings = settings
        self.user = settings.container_user
        user = self.user.split(":")
        self._uid = int(user[0]) if user[0].isdigit() else 1000
        self._gid = int(user[1]) if len(user) > 1 and user[1].isdigit() else self._uid
        self._lock = threading.Lock()
        self.container = client.containers.create(
            image, command=["sleep", "infinity"], user=self.user, working_dir=TESTBED, network_mode="none",
            mem_limit=settings.mem_limit, memswap_limit=settings.mem_limit, nano_cpus=settings.nano_cpus,
            pids_limit=settings.pids_limit, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            tmpfs={"/tmp": "rw,nosuid,nodev,size=512m,mode=1777"}, init=True, detach=True,
            log_config=LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"}),
            environment={"TMPDIR": "/tmp", "HOME": "/tmp"}, name=f"sf-session-{uuid.uuid4().hex[:12]}",
            labels={LABEL_KIND: "session", "skillforge.environment": environment[:200], "skillforge.label": label[:200]},
        )
        _LIVE.add(self)
        try:
            self.container.put_archive("/", build_tar({"sf/src.tar": source_tar}, uid=self._uid, gid=self._gid,
                                                      dirs=["sf"]))
            self.container.start()
            excludes = "\\n".join(EXCLUDES)
            setup = (
                "set -eu\n"
                f"cd {TESTBED}\n"
                f"if [ -f {TRACKED_FILES} ]; then\n"
                f"  xargs -0 -r rm -f -- < {TRACKED_FILES}\n"
                f"  find {TESTBED} -mindepth 1 -depth -type d -empty -delete 2>/dev/null || true\n"
                "else\n"
                f"  find {TESTBED} -mindepth 1 -maxdepth 1 ! -name '*.egg-info' -exec rm -rf {{}} +\n"
                "fi\n"
                f"tar -xf /sf/src.tar -C {TESTBED} --no-same-owner\n"
                "rm -f /sf/src.tar\n"
                "git init -q\n"
                f"printf '{excludes}\\n' >> .git/info/exclude\n"
                f"{GIT} add -A\n"
                f"{GIT} commit -q --no-verify --allow-empty -m baseline\n"
            )
            code, output = self.exec(setup, timeout=600)
            if code != 0:
                raise InfraError(f"cannot prepare the checkout in {image}: {output[-2000:]}", triage="sandbox")
        except Exception:
            self.close()
            raise

    def exec(self, command: str, timeout: int) -> tuple[int | None, str]:
        argv = ["timeout", "-k", "5", str(int(timeout)), "bash", "-c", command]
        result = self.container.exec_run(argv, user=self.user, workdir=TESTBED, demux=False)
        output = (result.output or b"").decode("utf-8", "replace")
        code = result.exit_code
        return (None if code in (124, 137) else code), output

    def read(self, path: str) -> bytes | None:
        from skillforge.execution.images import read_archive_file

        return read_archive_file(self.container, path)

    def write(self, path: str, data: bytes) -> None:
        from skillforge.execution.images import build_tar

        with self._lock:
            self.container.put_archive("/sf", build_tar({"write.tmp": data}, uid=self._uid, gid=self._gid))
            target = shlex.quote(path)
            code, output = self.exec(f"mkdir -p \"$(dirname {target})\" && cat /sf/write.tmp > {target} "
                                     "&& rm -f /sf/write.tmp", timeout=60)
        if code != 0:
            raise ToolError(f"cannot write {path}: {output.strip()}")

    def close(self) -> None:
        from skillforge.execution.images import remove_container

        container, self.container = getattr(self, "container", None), None
        if container is not None:
            with contextlib.suppress(Exception):
                remove_container(container)
        _LIVE.discard(self)


class SessionFactory:
    """Opens a checkout of an instance: through the executor's ``open_session``
    when it has one, else a ``DockerSession`` from the Backend's image."""

    def __init__(self, backend, *, tar_cache: int = 8):
        self.backend = backend
        self._tars: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._tar_cache = tar_cache
        self._lock = threading.Lock()

    def _source(self, repo: str, commit: str) -> bytes:
        key = (repo, commit)
        with self._lock:
            if key in self._tars:
                self._tars.move_to_end(key)
                return self._tars[key]
        data = self.backend.repos(repo).archive(commit)
        with self._lock:
            self._tars[key] = data
            while len(self._tars) > self._tar_cache:
                self._tars.popitem(last=False)
        return data

    def open(self, inst: Instance) -> Session:
        inner = getattr(self.backend.executor, "inner", None)
        opener = getattr(inner, "open_session", None)
        if callable(opener):
            return opener(inst.environment, inst.base_commit)
        info = self.backend.ensure(inst.environment)
        return DockerSession(self.backend.client, self.backend.settings, info.image,
                             self._source(info.repo, inst.base_commit), environment=inst.environment,
                             label=inst.instance_id)


_STARTER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="skillforge-session")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit // 4
    return text[:head] + f"\n[... {len(text) - limit} characters cut ...]\n" + text[-(limit - head):]


def instance_from_row(row: dict) -> Instance:
    model = REGISTRY[row["skill"]].instance_model
    return model.model_validate({k: v for k, v in row.items() if k in model.model_fields and v is not None})


class SkillEnvironment:
    """One rollout's checkout (TRL ``environment_factory`` contract). Public
    methods are the policy's tools; everything else is private."""

    def __init__(self, backend=None, *, sessions: SessionFactory | None = None, tool_timeout: int = 60,
                 max_output: int = 8000):
        if sessions is None:
            if backend is None:
                raise ValueError("SkillEnvironment needs a Backend (or a SessionFactory)")
            sessions = SessionFactory(backend)
        self._sessions = sessions
        self._tool_timeout = tool_timeout
        self._max_output = max_output
        self._inst: Instance | None = None
        self._future: Future | None = None

    # -- TRL contract --------------------------------------------------------
    def reset(self, **row) -> str:
        self._close()
        inst = instance_from_row(row)
        self._inst = inst
        self._future = _STARTER.submit(self._sessions.open, inst)
        return ("\n\nYou have a shell in the repository checkout at /testbed (commit "
                f"{inst.base_commit[:12]}) through two tools: `bash` runs a command there and `str_replace` replaces "
                f"one exact occurrence of a string in a file. {INSTRUCTIONS[inst.skill]}")

    def bash(self, command: str) -> str:
        """Run a shell command in the repository checkout (/testbed) and return its output.

        Args:
            command: The bash command to run, e.g. `grep -rn "def parse" src/` or `python -m pytest -x tests/`.

        Returns:
            The combined stdout and stderr of the command, followed by its exit status.
        """
        code, output = self._session().exec(command, self._tool_timeout)
        status = f"[timed out after {self._tool_timeout}s]" if code is None else f"[exit status {code}]"
        return f"{_clip(output, self._max_output)}\n{status}".lstrip("\n")

    def str_replace(self, path: str, old_str: str, new_str: str) -> str:
        """Replace the one occurrence of `old_str` in a file of the checkout with `new_str`.

        Args:
            path: The file, relative to the repository root (/testbed) or absolute under it.
            old_str: The exact text to replace; it must occur exactly once in the file. Empty to create a new file.
            new_str: The text to put in its place.

        Returns:
            A confirmation with the lines around the change.
        """
        full = self._path(path)
        session = self._session()
        data = session.read(full)
        if data is None:
            if old_str:
                raise ToolError(f"{path}: no such file (use an empty old_str to create it)")
            session.write(full, new_str.encode())
            return f"created {path} ({len(new_str.splitlines())} lines)"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{path} is not a UTF-8 text file") from None
        if not old_str:
            raise ToolError(f"{path} exists: old_str must name the text to replace")
        count = text.count(old_str)
        if count == 0:
            raise ToolError(f"old_str does not occur in {path}")
        if count > 1:
            raise ToolError(f"old_str occurs {count} times in {path}; include more context to make it unique")
        at = text.index(old_str)
        updated = text[:at] + new_str + text[at + len(old_str):]
        session.write(full, updated.encode("utf-8"))
        first = text[:at].count("\n")
        lines = updated.splitlines()
        lo, hi = max(0, first - 3), min(len(lines), first + new_str.count("\n") + 4)
        snippet = "\n".join(f"{n + 1:6d}\t{lines[n]}" for n in range(lo, hi))
        return f"edited {path}:\n{snippet}"

    # -- skillforge side (private: not tools) --------------------------------
    def _path(self, path: str) -> str:
        if not path or "\0" in path:
            raise ToolError("path is empty")
        full = posixpath.normpath(path if path.startswith("/") else posixpath.join(TESTBED, path))
        if full != TESTBED and not full.startswith(TESTBED + "/"):
            raise ToolError(f"{path} is outside the checkout ({TESTBED})")
        if full == TESTBED or full.startswith(TESTBED + "/.git/") or full == TESTBED + "/.git":
            raise ToolError(f"{path} is not a file of the checkout")
        return full

    def _session(self) -> Session:
        if self._future is None:
            raise ToolError("no task: the environment was not reset")
        return self._future.result()

    def _diff(self) -> str:
        code, output = self._session().exec(f"{GIT} add -A >/dev/null && {GIT} diff --cached --binary HEAD", 300)
        if code != 0:
            raise InfraError(f"cannot read the changes of the checkout: {output[-1000:]}", triage="sandbox")
        return output

    def _final_answer(self, text: str) -> str:
        """The answer the skill's scorer gets: the checkout's diff for editing and
        test generation (when there are changes), else the final message."""
        if self._inst is not None and self._inst.skill in DIFF_SKILLS and self._future is not None:
            diff = self._diff()
            if diff.strip():
                return diff
        return text

    def _close(self) -> None:
        future, self._future = self._future, None
        if future is None:
            return

        def close(f: Future) -> None:
            with contextlib.suppress(Exception):
                f.result().close()

        future.add_done_callback(close)
