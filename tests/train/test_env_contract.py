"""The agentic environment's contract without Docker (sessions stand in for
containers): TRL sees exactly the two tools, the final answer comes from the
rollout's checkout, and the factory closes every checkout it handed out."""

from __future__ import annotations

import inspect
import threading

import pytest

from skillforge.execution import InfraError, SessionError
from skillforge.train.env import Checkout, EnvironmentFactory, SkillEnvironment, ToolError
from skillforge.train.rewards import SkillReward

EDITING = {
    "instance_id": "o__r-1", "skill": "editing", "repo": "o/r", "pr_number": 1, "base_commit": "a" * 40,
    "environment": "env", "instruction": "fix it", "problem_statement": "broken", "test_patch": "",
    "prompt": [{"role": "user", "content": "task"}],
}


class FakeSession:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.closed = threading.Event()
        self.changes = ""

    def exec(self, command: str, timeout: int):
        return 0, f"ran {command}"

    def read(self, path: str):
        return self.files.get(path)

    def write(self, path: str, data: bytes) -> None:
        if path.endswith("/readonly"):
            raise SessionError(f"cannot write {path}: Permission denied")
        self.files[path] = data
        name = path.removeprefix("/testbed/")
        lines = data.decode().splitlines()
        self.changes = (f"diff --git a/{name} b/{name}\nnew file mode 100644\n--- /dev/null\n+++ b/{name}\n"
                        f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines))

    def diff(self) -> str:
        return self.changes

    def close(self) -> None:
        self.closed.set()


class RecordingBackend:
    """A Backend whose executor records the patches it is asked to apply, then fails."""

    def __init__(self):
        self.patches: list[tuple[str, ...]] = []

    def executor_for(self, attempt: int = 0):
        return self

    def run(self, environment, spec, *, log_name=None):
        self.patches.append(tuple(spec.patches))
        raise InfraError("recorded, not run")

    def metrics(self) -> dict[str, float]:
        return {}


class FakeSessions:
    def __init__(self):
        self.opened: list[FakeSession] = []

    def open(self, inst) -> FakeSession:
        session = FakeSession()
        self.opened.append(session)
        return session


def trl_tools(env) -> set[str]:
    """The tool names TRL's GRPOTrainer takes from an environment (its own rule)."""
    return {name for name, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
            if name not in ("reset", "get_reward") and not name.startswith("_")}


def test_only_the_tools_are_public_methods():
    env = EnvironmentFactory(sessions=FakeSessions())()
    assert trl_tools(env) == {"bash", "str_replace"}


def test_final_answer_is_the_checkout_diff_then_the_message():
    sessions = FakeSessions()
    env = SkillEnvironment(sessions=sessions)
    with pytest.raises(ToolError, match="not reset"):
        env.bash("true")
    assert "/testbed" in env.reset(**EDITING)
    assert isinstance(env.checkout, Checkout) and env.checkout.instance.instance_id == "o__r-1"
    assert env.checkout.final_answer("done") == "done"  # nothing changed: the message
    assert env.str_replace("new.txt", "", "hello\n") == "created new.txt (1 lines)"
    diff = env.checkout.final_answer("done")
    assert diff.startswith("diff --git a/new.txt b/new.txt\n") and "+hello\n" in diff
    with pytest.raises(ToolError, match="Permission denied"):
        env.str_replace("readonly", "", "x")

    # the reward reads the answer from the rollout's checkout: the scorer applies that diff
    backend = RecordingBackend()
    reward = SkillReward("editing", backend=backend)
    assert reward([[{"role": "assistant", "content": "done"}]], environments=[env],
                  **{k: [v] for k, v in EDITING.items()}) == [None]
    assert backend.patches and backend.patches[0][0].strip() == diff.strip()
    assert reward.pool.stats["editing"].errors == 1 and "recorded, not run" in reward.pool.stats["editing"].last_errors[0]

    first = sessions.opened[0]
    env.reset(**EDITING)  # a new rollout closes the previous checkout
    assert first.closed.wait(5)
    assert env.checkout.final_answer("no change") == "no change"


def test_factory_closes_every_checkout_it_made():
    sessions = FakeSessions()
    factory = EnvironmentFactory(sessions=sessions, tool_timeout=7)
    envs = [factory() for _ in range(3)]
    assert factory.environments == envs
    for env in envs[:2]:
        env.reset(**EDITING)
        env.bash("true")
    factory.close()
    assert len(sessions.opened) == 2 and all(s.closed.wait(5) for s in sessions.opened)
    assert all(env.checkout.closed for env in envs[:2]) and envs[2].checkout is None
    with pytest.raises(ToolError, match="closed"):
        envs[0].bash("true")
    factory.close()  # idempotent


def test_factory_needs_a_backend():
    with pytest.raises(ValueError, match="Backend"):
        EnvironmentFactory()
