"""Editing instructions say what to change, where and why -- and never paste the solution."""

from __future__ import annotations

import pytest

from skillforge.schema import Analysis, Issue, PRFacts, PullRecord
from skillforge.skills import REGISTRY, BuildInput, Dropped
from skillforge.skills.editing import REDACTED, find_leaks, redact, solution_lines

CODE_PATCH = """diff --git a/src/shop/money.py b/src/shop/money.py
index 1111111..2222222 100644
--- a/src/shop/money.py
+++ b/src/shop/money.py
@@ -10,5 +10,7 @@ class Money:
     def rounded(self, places=2):
-        return round(self.amount, places)
+        quantum = Decimal(1).scaleb(-places)
+        return self.amount.quantize(quantum, rounding=ROUND_HALF_UP)
+
 
     def __repr__(self):
         return f"Money({self.amount!r})"
"""
TEST_PATCH = """diff --git a/tests/test_money.py b/tests/test_money.py
--- a/tests/test_money.py
+++ b/tests/test_money.py
@@ -1,1 +1,4 @@
 from shop.money import Money
+
+def test_half_up():
+    assert Money("2.675").rounded() == Money("2.68")
"""

PASTED_FIX = """Rounding used banker's rounding. This switches to half-up:

```python
quantum = Decimal(1).scaleb(-places)
return self.amount.quantize(quantum, rounding=ROUND_HALF_UP)
```

It keeps `__repr__` as it was.

Fixes #12"""


def _build(body: str, issue_body: str = "`Money('2.675').rounded()` gives 2.67; I expected 2.68.") -> object:
    pr = PullRecord(repo="acme/shop", number=40, title="Round half up", body=body, base_commit="a" * 40,
                    merge_commit="b" * 40, patch=CODE_PATCH + TEST_PATCH,
                    issues=[Issue(number=12, title="rounded() rounds half to even", body=issue_body)])
    analysis = Analysis(files=["src/shop/money.py"], entities=["src/shop/money.py::Money.rounded"],
                        test_files=["tests/test_money.py"], code_patch=CODE_PATCH, test_patch=TEST_PATCH)
    facts = PRFacts(environment="env", test_files=["tests/test_money.py"],
                    FAIL_TO_PASS=["tests/test_money.py::test_half_up"])
    (inst,) = REGISTRY["editing"].build(BuildInput(pr=pr, analysis=analysis, facts=facts))
    return inst


def test_solution_lines_are_the_specific_added_lines():
    lines = solution_lines(CODE_PATCH)
    assert lines == {"quantum = Decimal(1).scaleb(-places)",
                     "return self.amount.quantize(quantum, rounding=ROUND_HALF_UP)"}


def test_pasted_fix_is_redacted_and_the_rest_kept():
    inst = _build(PASTED_FIX)
    assert "scaleb" not in inst.instruction and "quantize" not in inst.instruction
    assert REDACTED in inst.instruction
    assert "switches to half-up" in inst.instruction and "keeps `__repr__`" in inst.instruction
    assert "Fixes #12" not in inst.instruction  # closing keywords say nothing useful
    assert "Modify: `src/shop/money.py::Money.rounded`." in inst.instruction  # where
    assert "rounds half to even" in inst.instruction  # why
    assert find_leaks(inst.instruction, solution_lines(CODE_PATCH)) == []


@pytest.mark.parametrize(
    "body",
    [
        "Fix:\n\n```diff\n-        return round(self.amount, places)\n+        quantum = Decimal(1).scaleb(-places)\n```",
        "Fix:\n\n    quantum = Decimal(1).scaleb(-places)\n    return x\n\nDone.",  # an indented block
        "The fix is `return self.amount.quantize(quantum, rounding=ROUND_HALF_UP)` in rounded().",  # inline code
        "> quantum = Decimal(1).scaleb(-places)",  # a quote
    ],
)
def test_every_way_of_pasting_is_caught(body):
    inst = _build(body)
    assert find_leaks(inst.instruction, solution_lines(CODE_PATCH)) == []
    assert "scaleb" not in inst.instruction and "quantize(quantum" not in inst.instruction


def test_indented_block_is_replaced_whole():
    text, n = redact("Fix:\n\n    quantum = Decimal(1).scaleb(-places)\n    return x\n\nDone.", solution_lines(CODE_PATCH))
    assert n == 1 and text == f"Fix:\n\n{REDACTED}\n\nDone."


def test_unrelated_code_is_kept():
    body = "Reproduce with:\n\n```python\nfrom shop.money import Money\nprint(Money('2.675').rounded())\n```"
    inst = _build(body)
    assert "print(Money('2.675').rounded())" in inst.instruction and REDACTED not in inst.instruction


def test_short_and_removed_lines_do_not_count():
    patch = "--- a/x.py\n+++ b/x.py\n@@ -1,1 +1,2 @@\n-    return value  # unchanged text\n+    return value  # unchanged text\n+    x = 1\n"
    assert solution_lines(patch) == set()  # re-added line and a too-short one


def test_issue_pasting_the_fix_is_redacted_too():
    inst = _build("Switch to half-up.", issue_body="Use this:\n\n```\nquantum = Decimal(1).scaleb(-places)\n```")
    assert "scaleb" not in inst.instruction and "scaleb" not in inst.problem_statement
    assert REDACTED in inst.problem_statement


def test_no_code_change_is_dropped():
    pr = PullRecord(repo="a/b", number=1, base_commit="a" * 40, merge_commit="b" * 40, patch="")
    with pytest.raises(Dropped):
        REGISTRY["editing"].build(BuildInput(pr=pr, analysis=Analysis(), facts=PRFacts(environment="e")))


def test_unclosed_fence_runs_to_the_end():
    text, n = redact("Patch:\n```\nfoo()\nquantum = Decimal(1).scaleb(-places)", solution_lines(CODE_PATCH))
    assert n == 1 and text == f"Patch:\n{REDACTED}"


def test_removed_lines_that_look_like_headers_are_content():
    """``--- note`` in a hunk removes the SQL comment ``-- note``; ``---- x`` removes ``--- x``: moving
    either one is not a solution line, and an added ``++ x`` (``+++ x`` in the diff) is content too."""
    patch = ("diff --git a/db/report.sql b/db/report.sql\n--- a/db/report.sql\n+++ b/db/report.sql\n"
             "@@ -1,4 +1,5 @@\n"
             "--- note: totals are kept in cents, never floats\n"
             "---- x section divider of the monthly report\n"
             " SELECT total FROM orders;\n"
             "+-- note: totals are kept in cents, never floats\n"
             "+--- x section divider of the monthly report\n"
             "+++ counter_for_monthly_report_rows\n"
             " GROUP BY month;\n"
             " ORDER BY month;\n")
    assert solution_lines(patch) == {"++ counter_for_monthly_report_rows"}
