"""The agentic task interface: the policy acts in the instance's container
through two tools, ``bash`` and ``str_replace``, and is scored at the end.

``SkillEnvironment`` follows TRL's ``environment_factory`` contract
(``GRPOTrainer(environment_factory=...)``): ``reset(**row)`` prepares a rollout
and returns text appended to the prompt; its public methods are the tools
(typed, with Google-style docstrings that become their JSON schemas), so
nothing else of it is a public method. skillforge's side of a rollout is its
``checkout`` (a ``Checkout``): the skill rewards read the final answer from it
(``checkout.final_answer(text)``). The last assistant message is the answer,
except for editing and test generation, where the changes made to the checkout
(``git diff``) are, when there are any. ``EnvironmentFactory`` makes the
environments for TRL and closes every checkout they hold at the end.

A rollout's checkout is an execution session (``Backend.open_session``): a
container from the instance's environment image, network off, all capabilities
dropped, as the unprivileged user, with the repository at the instance's base
commit in ``/testbed``. Scoring never happens in that container: the answer
goes to the skill's scorer, which runs in fresh containers through the
Backend's executor. Sessions open in the background at ``reset`` and are
closed at the next ``reset`` or by ``Checkout.close``.
"""

from __future__ import annotations

import contextlib
import posixpath
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from skillforge.execution import Session, SessionError
from skillforge.schema import Instance
from skillforge.skills import REGISTRY

TESTBED = "/testbed"
DIFF_SKILLS = ("editing", "test_generation")

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


class SessionFactory:
    """Opens the checkout of an instance: an execution session of its environment
    at its base commit (``Backend.open_session``)."""

    def __init__(self, backend):
        self.backend = backend

    def open(self, inst: Instance) -> Session:
        return self.backend.open_session(inst.environment, inst.base_commit, label=inst.instance_id)


_STARTER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="skillforge-session")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit // 4
    return text[:head] + f"\n[... {len(text) - limit} characters cut ...]\n" + text[-(limit - head):]


def instance_from_row(row: dict) -> Instance:
    model = REGISTRY[row["skill"]].instance_model
    return model.model_validate({k: v for k, v in row.items() if k in model.model_fields and v is not None})


class Checkout:
    """One rollout's checkout: the instance, and its session, opening in the background."""

    def __init__(self, inst: Instance, session: "Future[Session]"):
        self.instance = inst
        self._future: Future[Session] | None = session

    @property
    def closed(self) -> bool:
        return self._future is None

    def session(self) -> Session:
        """The session (waiting for it to open); an error opening it is raised here."""
        future = self._future
        if future is None:
            raise ToolError("the checkout is closed")
        return future.result()

    def diff(self) -> str:
        """The changes made to the checkout, as ``git diff`` (new files included)."""
        return self.session().diff()

    def final_answer(self, text: str) -> str:
        """The answer the skill's scorer gets: the checkout's diff for editing and
        test generation (when there are changes), else ``text`` (the final message)."""
        if self.instance.skill in DIFF_SKILLS and self._future is not None:
            diff = self.diff()
            if diff.strip():
                return diff
        return text

    def close(self) -> None:
        """Close the session (once it has opened, if it is still opening). Idempotent."""
        future, self._future = self._future, None
        if future is None:
            return

        def close(f: Future) -> None:
            with contextlib.suppress(Exception):
                f.result().close()

        future.add_done_callback(close)


class SkillEnvironment:
    """One rollout's environment (TRL ``environment_factory`` contract). Its public
    methods are the policy's tools; skillforge reaches the rollout through ``checkout``."""

    def __init__(self, backend=None, *, sessions: SessionFactory | None = None, tool_timeout: int = 60,
                 max_output: int = 8000):
        if sessions is None:
            if backend is None:
                raise ValueError("SkillEnvironment needs a Backend (or a SessionFactory)")
            sessions = SessionFactory(backend)
        self._sessions = sessions
        self._tool_timeout = tool_timeout
        self._max_output = max_output
        self.checkout: Checkout | None = None  # the current rollout's, from reset on

    # -- TRL contract --------------------------------------------------------
    def reset(self, **row) -> str:
        if self.checkout is not None:
            self.checkout.close()
        inst = instance_from_row(row)
        self.checkout = Checkout(inst, _STARTER.submit(self._sessions.open, inst))
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
            _write(session, full, new_str.encode())
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
        _write(session, full, updated.encode("utf-8"))
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
        if self.checkout is None:
            raise ToolError("no task: the environment was not reset")
        return self.checkout.session()


def _write(session: Session, path: str, data: bytes) -> None:
    try:
        session.write(path, data)
    except SessionError as e:
        raise ToolError(str(e)) from None


class EnvironmentFactory:
    """TRL's ``environment_factory``: each call makes a ``SkillEnvironment`` (TRL
    keeps and resets them); they share one ``SessionFactory``. ``close()`` closes
    the checkouts of all it made."""

    def __init__(self, backend=None, *, sessions: SessionFactory | None = None, tool_timeout: int = 60,
                 max_output: int = 8000):
        if sessions is None:
            if backend is None:
                raise ValueError("EnvironmentFactory needs a Backend (or a SessionFactory)")
            sessions = SessionFactory(backend)
        self.sessions = sessions
        self.tool_timeout = tool_timeout
        self.max_output = max_output
        self._made: list[SkillEnvironment] = []
        self._lock = threading.Lock()

    def __call__(self) -> SkillEnvironment:
        env = SkillEnvironment(sessions=self.sessions, tool_timeout=self.tool_timeout, max_output=self.max_output)
        with self._lock:
            self._made.append(env)
        return env

    @property
    def environments(self) -> list[SkillEnvironment]:
        with self._lock:
            return list(self._made)

    def close(self) -> None:
        for env in self.environments:
            if env.checkout is not None:
                env.checkout.close()
