"""Interactive sessions: one long-lived sandbox container holding a checkout.

A ``Session`` is what an agent acts in: the repository of an environment at a
commit, unpacked in ``/testbed`` of a container from the environment's image,
with a git baseline commit recording it, so ``diff()`` is exactly what changed
since. Open one with ``Backend.open_session(environment, commit)``.

The container is sealed like a run's: network off, the unprivileged user
(``Settings.container_user``), all capabilities dropped, no new privileges,
memory/CPU/pid limits, a size-limited ``/tmp``, output capped by the log
driver. Unlike a run's, its root file system is writable (the agent installs
and edits what it likes; nothing of it outlives the session). It is labelled
``skillforge.kind=session`` with its owner (``host:pid:start``), environment and
label: ``close()`` removes it, open sessions are removed at interpreter exit,
and ``cleanup.remove_dead_owners`` removes those of a process that was killed.

Scoring never happens in a session: an answer taken from one goes to the
skill's scorer, which runs in fresh sealed containers.

An executor that keeps warm containers may offer
``open_session(environment, commit) -> Session``; ``Backend.open_session``
uses it when present.
"""

from __future__ import annotations

import atexit
import contextlib
import shlex
import threading
import uuid
import weakref
from typing import Protocol

from skillforge.execution.spec import InfraError
from skillforge.settings import Settings

# Docker (and the image helpers, which import it) is imported where a container
# is made, so that ``Session`` and ``SessionError`` cost no Docker import.

LABEL_SESSION = "session"  # the skillforge.kind of session containers
TESTBED = "/testbed"  # = images.TESTBED
EXCLUDES = ["__pycache__/", "*.pyc", ".pytest_cache/", "*.egg-info/", ".mypy_cache/", ".tox/", ".coverage"]
GIT = "git -c user.name=skillforge -c user.email=skillforge@localhost -c core.quotepath=off -c commit.gpgsign=false"

__all__ = ["DockerSession", "GIT", "LABEL_SESSION", "Session", "SessionError", "TESTBED", "remove_leftover_sessions"]


class SessionError(ValueError):
    """An operation of a session that failed because of what was asked (a file
    that cannot be written, ...), not because of the infrastructure."""


class Session(Protocol):
    """A checkout in ``/testbed`` that commands run in."""

    def exec(self, command: str, timeout: int) -> tuple[int | None, str]:
        """Run ``command`` with bash in ``/testbed``: (exit status, or None when it ran past
        ``timeout`` seconds; stdout and stderr together)."""
        ...

    def read(self, path: str) -> bytes | None:
        """A regular file's content, or None when there is none at ``path``."""
        ...

    def write(self, path: str, data: bytes) -> None:
        """Create or replace the file at ``path`` (parents made); ``SessionError`` when it cannot be."""
        ...

    def diff(self) -> str:
        """``git diff`` (binary, new files included) of the checkout against the commit it was opened at."""
        ...

    def close(self) -> None:
        """End the session: its container and all in it are removed. Idempotent."""
        ...


_LIVE: "weakref.WeakSet[DockerSession]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for session in list(_LIVE):
        with contextlib.suppress(Exception):
            session.close()


def _setup_script() -> str:
    from skillforge.execution.images import TRACKED_FILES

    excludes = "\\n".join(EXCLUDES)
    return (
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


class DockerSession:
    """A ``Session`` in its own sandbox container (see the module's docstring).

    ``source_tar`` is the repository tree at the session's commit (paths relative
    to the repository root); it replaces the tree the image was built with, and
    the image's install products (egg-info, compiled extensions) stay.
    """

    def __init__(self, client, settings: Settings, image: str, source_tar: bytes, *, environment: str = "",
                 label: str = "", tmp_size: str = "512m", log_max_size: str = "1m"):
        from docker.types import LogConfig

        from skillforge.execution.images import LABEL_KIND, LABEL_OWNER, build_tar, owner

        self.user = settings.container_user
        user = self.user.split(":")
        self._uid = int(user[0]) if user[0].isdigit() else 1000
        self._gid = int(user[1]) if len(user) > 1 and user[1].isdigit() else self._uid
        self._lock = threading.Lock()
        self.name = f"sf-session-{uuid.uuid4().hex[:12]}"
        self._container = client.containers.create(
            image, command=["sleep", "infinity"], user=self.user, working_dir=TESTBED, network_mode="none",
            mem_limit=settings.mem_limit, memswap_limit=settings.mem_limit, nano_cpus=settings.nano_cpus,
            pids_limit=settings.pids_limit, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={tmp_size},mode=1777"}, init=True, detach=True,
            log_config=LogConfig(type="json-file", config={"max-size": log_max_size, "max-file": "1"}),
            environment={"TMPDIR": "/tmp", "HOME": "/tmp"}, name=self.name,
            labels={LABEL_KIND: LABEL_SESSION, LABEL_OWNER: owner(), "skillforge.environment": environment[:200],
                    "skillforge.label": label[:200]},
        )
        _LIVE.add(self)
        try:
            self._container.put_archive("/", build_tar({"sf/src.tar": source_tar}, uid=self._uid, gid=self._gid,
                                                       dirs=["sf"]))
            self._container.start()
            code, output = self.exec(_setup_script(), timeout=600)
            if code != 0:
                raise InfraError(f"cannot prepare the checkout in {image}: {output[-2000:]}", triage="sandbox")
        except Exception:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        return self._container is None

    def _live(self):
        container = self._container
        if container is None:
            raise InfraError(f"session {self.name} is closed", triage="sandbox")
        return container

    def exec(self, command: str, timeout: int) -> tuple[int | None, str]:
        argv = ["timeout", "-k", "5", str(int(timeout)), "bash", "-c", command]
        result = self._live().exec_run(argv, user=self.user, workdir=TESTBED, demux=False)
        output = (result.output or b"").decode("utf-8", "replace")
        code = result.exit_code
        return (None if code in (124, 137) else code), output

    def read(self, path: str) -> bytes | None:
        from skillforge.execution.images import read_archive_file

        return read_archive_file(self._live(), path)

    def write(self, path: str, data: bytes) -> None:
        from skillforge.execution.images import build_tar

        with self._lock:
            self._live().put_archive("/sf", build_tar({"write.tmp": data}, uid=self._uid, gid=self._gid))
            target = shlex.quote(path)
            code, output = self.exec(f"mkdir -p \"$(dirname {target})\" && cat /sf/write.tmp > {target} "
                                     "&& rm -f /sf/write.tmp", timeout=60)
        if code != 0:
            raise SessionError(f"cannot write {path}: {output.strip()}")

    def diff(self) -> str:
        code, output = self.exec(f"{GIT} add -A >/dev/null && {GIT} diff --cached --binary HEAD", 300)
        if code != 0:
            raise InfraError(f"cannot read the changes of the checkout: {output[-1000:]}", triage="sandbox")
        return output

    def close(self) -> None:
        from skillforge.execution.images import remove_container

        container, self._container = getattr(self, "_container", None), None
        if container is not None:
            with contextlib.suppress(Exception):
                remove_container(container)
        _LIVE.discard(self)

    def __enter__(self) -> "DockerSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def remove_leftover_sessions(client) -> int:
    """Removes session containers left by a killed process (``cleanup.remove_dead_owners``
    for the session kind). Returns how many were removed."""
    from skillforge.execution.cleanup import remove_dead_owners

    return remove_dead_owners(client, kinds=(LABEL_SESSION,))
