"""The agentic environment against a real container: ``bash`` and
``str_replace`` act on the checkout of a sample instance, and the final scorer
(the editing skill's, through the Backend's executor) sees the result."""

from __future__ import annotations

import pytest
from unidiff import PatchSet

from skillforge.execution import InfraError
from skillforge.skills import REGISTRY, score_context
from skillforge.train.data import load_skill_instances
from skillforge.train.env import SessionFactory, SkillEnvironment, ToolError
from skillforge.train.rewards import SkillReward

pytestmark = pytest.mark.docker


def hunk_edits(patch: str) -> list[tuple[str, str, str]]:
    """(path, old text, new text) per hunk of a unified diff: what str_replace must do."""
    edits = []
    for pf in PatchSet(patch):
        for hunk in pf:
            old = "".join(line.value for line in hunk if not line.is_added)
            new = "".join(line.value for line in hunk if not line.is_removed)
            edits.append((pf.path, old, new))
    return edits


@pytest.fixture(scope="module")
def backend(sample_dataset, tmp_path_factory):
    from skillforge.evaluate import backend_for_dataset

    return backend_for_dataset(sample_dataset.dataset, workspace=sample_dataset.workspace,
                               logs_dir=tmp_path_factory.mktemp("env-logs"))


@pytest.fixture(scope="module")
def editing(sample_dataset, backend):
    """An editing instance whose every hunk is a unique piece of text in its file."""
    instances = load_skill_instances([sample_dataset.dataset], ["editing"])["editing"]
    for inst in instances:
        handle = backend.repos(inst.repo)
        edits = hunk_edits(inst.answer)
        texts = {p: (handle.read(inst.base_commit, p) or b"").decode() for p, _, _ in edits}
        if edits and all(texts[p].count(old) == 1 for p, old, _ in edits):
            return inst, edits
    pytest.fail("no editing instance of the sample can be fixed hunk by hunk with str_replace")


def row(inst) -> dict:
    return {**inst.model_dump(mode="json"), "prompt": [{"role": "user", "content": "task"}]}


def score(inst, answer: str, backend, label: str) -> float:
    ctx = score_context(backend, inst.environment, f"test-env/{inst.instance_id}/{label}")
    return REGISTRY[inst.skill].score(inst, answer, ctx).value


def test_tools_fix_the_checkout_and_the_scorer_sees_it(editing, backend, docker_labels):
    inst, edits = editing
    env = SkillEnvironment(backend, tool_timeout=20)
    suffix = env.reset(**row(inst))
    assert "/testbed" in suffix and "git diff" in suffix

    listing = env.bash("ls && git status --short | wc -l")
    assert "pyproject.toml" in listing and listing.rstrip().endswith("[exit status 0]")
    assert "\n0\n" in listing  # a clean checkout of the base commit

    for path, old, new in reversed(edits):
        result = env.str_replace(path, old, new)
        assert result.startswith(f"edited {path}")
    shown = env.bash(f"cat {edits[0][0]}")
    assert edits[0][2].strip().splitlines()[0] in shown

    answer = env.checkout.final_answer("I fixed it.")
    assert answer.startswith("diff --git"), answer[:200]
    assert score(inst, answer, backend, "fixed") == 1.0

    # the same reward TRL calls, reading the answer from the environment
    reward = SkillReward("editing", backend=backend)
    values = reward([[{"role": "assistant", "content": "done"}]], environments=[env],
                    **{k: [v] for k, v in row(inst).items()})
    assert values == [1.0]

    # a fresh rollout starts from the base commit again: nothing changed, the final message is the answer
    env.reset(**row(inst))
    assert env.bash("git status --short").strip() == "[exit status 0]"
    assert env.checkout.final_answer("no change") == "no change"
    assert score(inst, env.checkout.final_answer("no change"), backend, "unchanged") == 0.0
    env.checkout.close()


def test_tool_errors_and_limits(editing, backend, docker_labels):
    inst, edits = editing
    env = SkillEnvironment(backend, tool_timeout=2)
    with pytest.raises(ToolError, match="not reset"):
        env.bash("true")
    env.reset(**row(inst))
    path = edits[0][0]
    with pytest.raises(ToolError, match="does not occur"):
        env.str_replace(path, "text that is not there\n", "x")
    with pytest.raises(ToolError, match="occurs"):
        env.str_replace(path, "\n", "")
    with pytest.raises(ToolError, match="outside the checkout"):
        env.str_replace("../etc/passwd", "root", "x")
    with pytest.raises(ToolError, match="no such file"):
        env.str_replace("missing.py", "a", "b")
    assert env.str_replace("notes/new.txt", "", "hello\n") == "created notes/new.txt (1 lines)"
    assert "hello" in env.bash("cat notes/new.txt")
    assert env.bash("sleep 10").endswith("[timed out after 2s]")
    assert "[exit status 3]" in env.bash("exit 3")
    # the network is off and the user is not root
    assert "[exit status 0]" not in env.bash("python -c \"import urllib.request as u; u.urlopen('http://pypi.org', timeout=2)\"")
    assert env.bash("id -u").startswith("1000")
    # a new file is part of the answer diff
    assert "b/notes/new.txt" in env.checkout.final_answer("")
    env.checkout.close()


def test_unknown_environment_is_an_infrastructure_error(editing, backend):
    inst, _ = editing
    broken = inst.model_copy(update={"environment": "no-such-environment"})
    env = SkillEnvironment(sessions=SessionFactory(backend))
    env.reset(**row(broken))
    with pytest.raises(InfraError, match="unknown environment"):
        env.bash("true")


def test_agentic_training_step(sample_dataset, docker_labels, tmp_path):
    """TRL's environment_factory drives the environment: each rollout gets a fresh
    checkout with the two tools in its prompt, and the editing reward scores it.
    (With LoRA: the adapters are merged into the final model.)"""
    from skillforge.train.config import TrainConfig
    from skillforge.train.trainer import train

    config = TrainConfig.from_yaml(None, {
        "model": "tiny", "dataset": [str(sample_dataset.dataset)], "workspace": str(sample_dataset.workspace),
        "skills": ["editing"], "mode": "agentic", "max_turns": 2, "output_dir": str(tmp_path / "out"),
        "num_generations": 2, "prompts_per_step": 1, "max_steps": 1, "max_completion_length": 16,
        "gradient_checkpointing": False, "save_steps": 100, "resume": "never", "lora": True, "lora_r": 4,
    })
    result = train(config, progress=False)
    assert result.steps == 1
    assert (result.final_model / "model.safetensors").exists()
    assert not (result.final_model / "adapter_config.json").exists()
    assert result.scoring["editing"]["scored"] == 2 and result.scoring["editing"]["errors"] == 0
    logged = result.history[0]
    assert "tools/call_frequency" in logged and "rewards/editing/mean" in logged
