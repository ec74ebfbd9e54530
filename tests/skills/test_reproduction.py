"""Reproduction scripts from FAIL_TO_PASS tests: fixtures and parametrize cases
inlined, so every bug-fix PR of the sample gets one; a test that cannot be made
standalone is dropped with its reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from skillforge.schema import PRFacts
from skillforge.skills import REGISTRY, Dropped
from skillforge.skills.reproduction import ReproductionInstance

SKILL = REGISTRY["reproduction"]
BUGFIX_PRS = (3, 5, 8, 11, 13, 16, 18, 19)


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_every_bugfix_pr_gets_a_script(sample_build):
    built = {n: SKILL.build(sample_build(n))[0] for n in BUGFIX_PRS}
    assert built[13].source_test.startswith("tests/test_textfmt.py::test_format_table_alignment[")  # a case
    assert built[16].source_test == "tests/test_money.py::test_split_keeps_every_cent"  # conftest fixture `price`
    assert "def price():" in built[16].answer and "@pytest.fixture" not in built[16].answer


@pytest.mark.parametrize("number", [13, 16])
def test_script_fails_before_the_fix_and_passes_after(sample_build, minicalc, tmp_path, number):
    src = sample_build(number)
    (inst,) = SKILL.build(src)
    work = tmp_path / "wt"
    subprocess.run(["git", "-C", str(minicalc), "worktree", "add", "-q", "--detach", str(work), src.pr.base_commit],
                   check=True)
    before = _run(inst.answer, work)
    assert before.returncode == 1 and "REPRODUCED: " in before.stdout, before.stdout + before.stderr
    subprocess.run(["git", "apply", "-"], cwd=work, input=src.analysis.code_patch.encode(), check=True)
    after = _run(inst.answer, work)
    assert after.returncode == 0 and after.stdout.strip().endswith("NOT REPRODUCED"), after.stdout + after.stderr


def test_a_test_that_cannot_be_made_standalone_is_dropped_with_its_reason(sample_build):
    src = sample_build(16)
    src.facts = PRFacts(environment="env", FAIL_TO_PASS=["tests/test_money.py::test_split_keeps_every_cent[nope]"])
    with pytest.raises(Dropped, match=r"no FAIL_TO_PASS test can be made standalone \(.*not parametrized\)"):
        SKILL.build(src)


@pytest.mark.docker
def test_validated_scripts(validated_sample):
    ws, _summary, _backend = validated_sample
    rows = ws.candidates(skill="reproduction")
    assert len(rows) == 2
    for row in rows:
        inst = row.instance
        assert isinstance(inst, ReproductionInstance)
        assert row.status == "valid", row.outcome
        assert inst.gold_score == 1.0 and inst.null_score == 0.0
