"""Golden files for the mutation operators (tests/fixtures/mutate/).

* ``source/retry.py``: a real-world-shaped module (a urllib3-style retry
  policy); ``expected/<operator>.json``: every site each operator changes in
  it, with the seeded choice it makes there.
* ``change/{before,after}``: a bug-fix pull request; ``change/change.patch`` is
  ``git diff`` of the two trees, and ``change/expected_mutants.json`` the
  mutants :func:`mutants_for` makes of it for two seeds, patches included.

Regenerate after an intended change, and review the diff:

    .venv/bin/python tests/analyze/test_mutate_golden.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from skillforge.analyze import analyze_change
from skillforge.analyze.mutate import OPERATORS, _rng, is_valid_mutant, mutants_for, mutate_source
from skillforge.analyze.patch import apply_patch_to_text, parse_patch
from skillforge.analyze.lang.python import parse
from skillforge.analyze.split import TestConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mutate"
SOURCE = FIXTURES / "source" / "retry.py"
CHANGE = FIXTURES / "change"
SEEDS = (0, 1)
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "skillforge",
           "GIT_AUTHOR_EMAIL": "skillforge@example.invalid", "GIT_COMMITTER_NAME": "skillforge",
           "GIT_COMMITTER_EMAIL": "skillforge@example.invalid", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}


def operator_sites(op, source: bytes, seed: int = 0) -> list[dict]:
    """Every place ``op`` changes ``source``, in source order, with what it makes there."""
    tree = parse(source)
    out = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.children))
        if not op.applies(node):
            continue
        edit = op.apply(node, _rng(seed, op.name, node.start_byte))
        mutated = mutate_source(source, edit)
        line = source.count(b"\n", 0, edit.start) + 1
        out.append({"line": line, "original": source[edit.start:edit.end].decode(), "mutated": edit.text.decode(),
                    "description": edit.description, "valid": is_valid_mutant(source, mutated)})
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _git(cwd: Path, *args: str, data: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True, check=True,
                          env={**os.environ, **GIT_ENV}).stdout.decode()


def git_diff(before: Path, after: Path) -> str:
    """``git diff`` between two trees, from a throw-away repository."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        _git(repo, "init", "-q")
        for side in (before, after):
            for p in list(repo.iterdir()):
                if p.name != ".git":
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            shutil.copytree(side, repo, dirs_exist_ok=True)
            _git(repo, "add", "-A")
            _git(repo, "commit", "-q", "--allow-empty", "-m", side.name)
        return _git(repo, "diff", "--no-color", "--no-ext-diff", "HEAD~1", "HEAD")


def change_analysis():
    patch = (CHANGE / "change.patch").read_text()
    before, after = _tree(CHANGE / "before"), _tree(CHANGE / "after")
    return analyze_change(patch, before.get, after.get, sorted(set(before) | set(after)), TestConfig()), after


def change_mutants(seed: int) -> list[dict]:
    analysis, after = change_analysis()
    return [m.to_json() for m in mutants_for(after.get, analysis, seed=seed, max_per_entity=2, max_total=5)]


def regenerate() -> None:
    out = FIXTURES / "expected"
    out.mkdir(exist_ok=True)
    source = SOURCE.read_bytes()
    for op in OPERATORS:
        data = {"operator": op.name, "summary": op.summary, "source": "source/retry.py", "seed": 0,
                "sites": operator_sites(op, source)}
        (out / f"{op.name}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    (CHANGE / "change.patch").write_text(git_diff(CHANGE / "before", CHANGE / "after"))
    expected = {f"seed{s}": change_mutants(s) for s in SEEDS}
    (CHANGE / "expected_mutants.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("op", OPERATORS, ids=[op.name for op in OPERATORS])
def test_operator_matches_golden(op):
    want = json.loads((FIXTURES / "expected" / f"{op.name}.json").read_text())
    got = operator_sites(op, SOURCE.read_bytes())
    assert got == want["sites"]
    assert got, f"{op.name} changes nothing in the golden source"
    assert all(site["valid"] for site in got)  # every one parses and changes the AST


@pytest.mark.parametrize("op", OPERATORS, ids=[op.name for op in OPERATORS])
def test_every_golden_mutant_parses_and_differs(op):
    source = SOURCE.read_bytes()
    tree = parse(source)
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if op.applies(node):
            mutated = mutate_source(source, op.apply(node, _rng(0, op.name, node.start_byte)))
            assert mutated != source
            assert not parse(mutated).root_node.has_error
            compile(mutated, "retry.py", "exec")


def test_change_patch_is_what_git_prints():
    assert (CHANGE / "change.patch").read_text() == git_diff(CHANGE / "before", CHANGE / "after")


@pytest.mark.parametrize("seed", SEEDS)
def test_change_mutants_match_golden(seed):
    want = json.loads((CHANGE / "expected_mutants.json").read_text())[f"seed{seed}"]
    assert change_mutants(seed) == want


def test_change_mutants_target_the_changed_entities():
    analysis, after = change_analysis()
    assert set(analysis.entities) == {"src/backoff/schedule.py::take", "src/backoff/schedule.py::total_delay",
                                      "src/backoff/schedule.py::Budget.can_retry"}
    for seed in SEEDS:
        mutants = change_mutants(seed)
        assert {m["entity"] for m in mutants} == set(analysis.entities)
        assert len({m["operator"] for m in mutants}) >= 3
    # a different seed picks differently, and hash randomization plays no part
    assert change_mutants(0) != change_mutants(1)
    code = ("import json, sys; sys.path.insert(0, 'tests/analyze'); import test_mutate_golden as g; "
            "print(json.dumps(g.change_mutants(1)))")
    root = Path(__file__).resolve().parents[2]
    runs = {subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h}).stdout for h in ("1", "2")}
    assert len(runs) == 1 and json.loads(runs.pop()) == change_mutants(1)


def test_mutant_patches_apply_on_top_of_the_gold_patch(tmp_path):
    """base + gold patch + mutant patch with ``git apply``: the fixed file with one change."""
    analysis, after = change_analysis()
    repo = tmp_path / "repo"
    shutil.copytree(CHANGE / "before", repo)
    _git(repo, "init", "-q")
    _git(repo, "apply", "-", data=(CHANGE / "change.patch").read_bytes())
    assert {k: v for k, v in _tree(repo).items() if not k.startswith(".git/")} == after
    for m in change_mutants(0):
        path = repo / m["file"]
        fixed = path.read_text()
        _git(repo, "apply", "-", data=m["patch"].encode())
        mutated = path.read_text()
        assert mutated != fixed and not parse(mutated).root_node.has_error
        assert mutated == apply_patch_to_text(fixed, parse_patch(m["patch"])[0])
        assert mutated.splitlines()[m["line"] - 1].count(m["mutated"]) >= 1 or m["mutated"] == ""
        _git(repo, "apply", "-R", "-", data=m["patch"].encode())
        assert path.read_text() == fixed


if __name__ == "__main__":
    regenerate()
    print(f"regenerated the golden files under {FIXTURES}; review the diff")
