"""A small workspace with validated instances of every skill, built directly (no Docker), for export tests."""

from __future__ import annotations

from pathlib import Path

from skillforge.schema import Issue, Outcome, PullRecord, Triage
from skillforge.skills.editing import EditingInstance
from skillforge.skills.localization import LocalizationInstance
from skillforge.skills.reproduction import ReproductionInstance
from skillforge.skills.review import ReviewInstance
from skillforge.skills.test_generation import MutantSpec, TestGenerationInstance
from skillforge.execution.backend import environment_name
from skillforge.schema import EnvRecipe
from skillforge.workspace import Workspace

REPO = "acme/calc"
RECIPE = EnvRecipe(python="3.11", install=["pip install pytest", "pip install -e ."])
ENVIRONMENT = environment_name(REPO, RECIPE)
REFERENCE_COMMIT = "e" * 40

CODE_PATCH = """diff --git a/src/calc/ops.py b/src/calc/ops.py
--- a/src/calc/ops.py
+++ b/src/calc/ops.py
@@ -1,2 +1,2 @@
 def sub(a, b):
-    return b - a
+    return a - b
"""
TEST_PATCH = """diff --git a/tests/test_ops.py b/tests/test_ops.py
--- a/tests/test_ops.py
+++ b/tests/test_ops.py
@@ -1 +1,4 @@
 from calc.ops import sub
+
+def test_sub_order():
+    assert sub(5, 3) == 2
"""


def _pr(number: int, *, hints: list[str], created: str | None) -> PullRecord:
    issue = Issue(number=number + 100, title=f"sub() is backwards ({number})", body="`sub(5, 3)` gives -2.",
                  repo=REPO, hints=hints)
    return PullRecord(repo=REPO, number=number, title=f"Fix sub ({number})", body=f"Fixes #{number + 100}",
                      base_commit=f"{number:x}".rjust(40, "a"), merge_commit=f"{number:x}".rjust(40, "b"),
                      created_at=created, merged_at="2024-03-02T10:00:00Z", issues=[issue], patch=CODE_PATCH + TEST_PATCH)


def build_workspace(root: Path) -> Workspace:
    """PRs 7 and 9 of acme/calc, each with a valid instance of every skill (two reviews for PR 7), an
    invalid editing candidate for PR 12, and the environment they execute in."""
    ws = Workspace(root)
    ws.set_environment(ENVIRONMENT, REPO, RECIPE, "skillforge-env:calc", "ready",
                       reference_commit=REFERENCE_COMMIT)
    prs = [_pr(7, hints=["Same on 1.2.", "It is in ops.py."], created="2024-03-01T09:00:00Z"),
           _pr(9, hints=[], created=None), _pr(12, hints=[], created=None)]
    for pr in prs:
        ws.add_pr(pr)
    for pr in prs[:2]:
        spine = dict(repo=REPO, pr_number=pr.number, base_commit=pr.base_commit, environment=ENVIRONMENT,
                     gold_score=1.0, null_score=0.0)
        f2p, p2p = ["tests/test_ops.py::test_sub_order"], [f"tests/test_ops.py::test_keep[{pr.number}]",
                                                             "tests/test_ops.py::test_add"]
        insts = [
            LocalizationInstance(instance_id=f"{pr.instance_id}.localization", skill="localization",
                                 problem_statement=pr.problem_statement, repo_files=["src/calc/ops.py", "src/calc/io.py"],
                                 gold_files=["src/calc/ops.py"], gold_entities=["src/calc/ops.py::sub"],
                                 answer="src/calc/ops.py\nsrc/calc/ops.py::sub", **spine),
            EditingInstance(instance_id=f"{pr.instance_id}.editing", skill="editing",
                            instruction=f"<issue>\n{pr.problem_statement}\n</issue>\n\nModify: `src/calc/ops.py::sub`.",
                            problem_statement=pr.problem_statement, entities=["src/calc/ops.py::sub"],
                            files=["src/calc/ops.py"], test_patch=TEST_PATCH, test_files=["tests/test_ops.py"],
                            FAIL_TO_PASS=f2p, PASS_TO_PASS=p2p, answer=CODE_PATCH, **spine),
            TestGenerationInstance(instance_id=f"{pr.instance_id}.test_generation", skill="test_generation",
                                   spec="sub(a, b) returns a - b", target_entities=["src/calc/ops.py::sub"],
                                   target_code="def sub(a, b):\n    return a - b\n", code_patch=CODE_PATCH,
                                   test_dirs=["tests"], default_test_path="tests/test_generated.py", FAIL_TO_PASS=f2p,
                                   mutants=[MutantSpec(file="src/calc/ops.py", entity="src/calc/ops.py::sub",
                                                       operator="swap_operands", line=2, description="b - a",
                                                       patch=CODE_PATCH, killed_by=f2p)],
                                   answer=TEST_PATCH, **spine),
            ReproductionInstance(instance_id=f"{pr.instance_id}.reproduction", skill="reproduction",
                                 problem_statement=pr.problem_statement, code_patch=CODE_PATCH,
                                 source_test=f2p[0], answer="from calc.ops import sub\nassert sub(5, 3) == 2\n", **spine),
        ]
        reviews = [("YES", "gold", [])] + ([("NO", "partial", f2p)] if pr.number == 7 else [])
        insts += [ReviewInstance(instance_id=f"{pr.instance_id}.review-{k}", skill="review",
                                 problem_statement=pr.problem_statement, candidate_patch=CODE_PATCH, candidate_kind=kind,
                                 label=label, failed_tests=failed, answer=f"<judgment>{label}</judgment>", **spine)
                  for k, (label, kind, failed) in enumerate(reviews)]
        ws.add_candidates(pr.instance_id, insts)
        for i in insts:
            ws.set_candidate_result(i.instance_id, "valid", gold_score=1.0, null_score=0.0)
    bad = EditingInstance(instance_id="acme__calc-12.editing", skill="editing", repo=REPO, pr_number=12,
                          base_commit=prs[2].base_commit, instruction="x", problem_statement="x", test_patch=TEST_PATCH)
    ws.add_candidates("acme__calc-12", [bad])
    ws.set_candidate_result(bad.instance_id, "invalid", outcome=Outcome.failed(Triage.NO_FAIL_TO_PASS))
    return ws
