"""The analysis stage on a real git history: drop reasons (trivial changes,
near-duplicates, decontamination), resumption, and the workspace report."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from skillforge.analyze.hygiene import Decontamination, DecontaminationError, NearDuplicates, fingerprint, jaccard
from skillforge.stats import workspace_report
from skillforge.stages.analyze import Filters, analyze_pr, run_analyze
from skillforge.mine.local import mine_local
from skillforge.workspace import Workspace

ENV = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
       "GIT_COMMITTER_EMAIL": "a@example.com", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
       "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00", "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1",
       "GIT_CONFIG_GLOBAL": "/dev/null"}

PRICING = '''"""Prices with taxes."""

__version__ = "1.0.0"

RATES = {"standard": 0.2, "reduced": 0.05}


def gross(net, rate="standard"):
    """Net plus tax."""
    return net * (1 + RATES[rate])


def rounded(amount):
    return round(amount, 2)
'''

TESTS = '''from pricing import gross


def test_gross():
    assert gross(10) == 12
'''


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True)


def _commit(repo: Path, files: dict[str, str], message: str) -> None:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", message)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """Squash-merged PRs #1..#7 of a small package, each a kind of change the stage must sort out."""
    repo = tmp_path_factory.mktemp("hist") / "pricing"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, {"pricing.py": PRICING, "tests/test_pricing.py": TESTS, "pyproject.toml": '[project]\nname = "pricing"\nversion = "1.0.0"\n'}, "initial")
    fixed = PRICING.replace("return round(amount, 2)", "return float(Decimal(str(amount)).quantize(Decimal(\"0.01\"), ROUND_HALF_UP))")
    fixed = fixed.replace('__version__ = "1.0.0"\n', '__version__ = "1.0.0"\n\nfrom decimal import ROUND_HALF_UP, Decimal\n')
    tests_fixed = TESTS + "\n\ndef test_rounded_half_up():\n    from pricing import rounded\n    assert rounded(2.675) == 2.68\n"
    # 1: a real fix with a test
    _commit(repo, {"pricing.py": fixed, "tests/test_pricing.py": tests_fixed}, "Round half up (#1)")
    # 2: docstrings and comments only (with a test touched): trivial
    docs = fixed.replace('"""Net plus tax."""', '"""The net amount plus the tax of ``rate``."""')
    _commit(repo, {"pricing.py": docs, "tests/test_pricing.py": tests_fixed + "# more tests to come\n"}, "Better docs (#2)")
    # 3: revert of #1's code (no test change)
    reverted = docs.replace("return float(Decimal(str(amount)).quantize(Decimal(\"0.01\"), ROUND_HALF_UP))", "return round(amount, 2)")
    reverted = reverted.replace("\nfrom decimal import ROUND_HALF_UP, Decimal\n", "")
    _commit(repo, {"pricing.py": reverted}, "Revert rounding (#3)")
    # 4: #1 landed again (a re-land): a near duplicate of #1
    _commit(repo, {"pricing.py": docs, "tests/test_pricing.py": tests_fixed + "# more tests to come\n\n"}, "Reland rounding (#4)")
    # 5: a release: version numbers only
    release = docs.replace('__version__ = "1.0.0"', '__version__ = "1.1.0"')
    _commit(repo, {"pricing.py": release, "pyproject.toml": '[project]\nname = "pricing"\nversion = "1.1.0"\n'}, "Release 1.1.0 (#5)")
    # 6: a real change that a benchmark also holds
    six = release.replace('RATES = {"standard": 0.2, "reduced": 0.05}', 'RATES = {"standard": 0.2, "reduced": 0.05, "zero": 0.0}')
    _commit(repo, {"pricing.py": six, "tests/test_pricing.py": tests_fixed + "\n\ndef test_zero():\n    assert gross(3, 'zero') == 3\n"}, "Zero rate (#6)")
    # 7: docs only
    _commit(repo, {"docs/index.rst": "Pricing\n=======\n"}, "Docs (#7)")
    return repo


def _mine(tmp_path: Path, history: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    mine_local(ws, history, repo_name="acme/pricing")
    return ws


def _stages(ws: Workspace) -> dict[int, tuple[str, str]]:
    return {r["number"]: (r["stage"], r["reason"]) for r in ws.prs()}


def test_drop_reasons_of_a_history(history, tmp_path):
    ws = _mine(tmp_path, history)
    decon = tmp_path / "swe-bench.txt"
    decon.write_text("# instances of an evaluation set\nacme__pricing-6\nother/repo#1\n")
    summary = run_analyze(ws, filters=Filters(decontaminate=decon))
    reason = f"decontaminated (listed in {decon})"
    assert _stages(ws) == {
        1: ("analyzed", ""),
        2: ("dropped", "trivial change"),
        3: ("dropped", "no test change"),
        4: ("dropped", "near-duplicate of acme__pricing-1"),
        5: ("dropped", "trivial change"),
        6: ("dropped", reason),
        7: ("dropped", "no code change"),
    }
    assert summary.analyzed == 1
    assert summary.dropped == {"trivial change": 2, "no test change": 1, "near-duplicate": 1, reason: 1,
                               "no code change": 1}
    assert summary.trivial == {"docstrings": 1, "version bump": 1}
    assert summary.near_duplicates == {"acme__pricing-4": "acme__pricing-1"}
    assert summary.decontaminated == ["acme__pricing-6"] and summary.decontamination_listed == 2
    analysis = ws.pr_analysis("acme__pricing-1")
    assert analysis.entities == ["pricing.py::rounded"] and analysis.test_files == ["tests/test_pricing.py"]
    assert analysis.test_functions == ["tests/test_pricing.py::test_rounded_half_up"]


def test_filters_can_keep_what_they_drop(history, tmp_path):
    ws = _mine(tmp_path, history)
    run_analyze(ws, filters=Filters(drop_trivial=False, near_duplicate_threshold=None))
    stages = _stages(ws)
    assert stages[2] == ("analyzed", "") and stages[4] == ("analyzed", "") and stages[6] == ("analyzed", "")
    assert stages[5] == ("dropped", "no test change")


def test_duplicates_and_decontamination_across_runs(history, tmp_path):
    """A second run knows what the first kept; a list given later drops PRs already analyzed."""
    ws = _mine(tmp_path, history)
    run_analyze(ws, filters=Filters(near_duplicate_threshold=None))
    assert _stages(ws)[4] == ("analyzed", "")
    ws.execute("UPDATE prs SET stage='mined' WHERE number=4")
    ws.add_candidates("acme__pricing-6", [("acme__pricing-6.localization", "localization", "{}")])
    ws.set_candidate_result("acme__pricing-6.localization", "valid", gold_score=1.0, null_score=0.0)
    decon = tmp_path / "list.jsonl"
    decon.write_text('{"instance_id": "acme__pricing-6", "repo": "acme/pricing"}\n')
    summary = run_analyze(ws, filters=Filters(decontaminate=decon))
    assert _stages(ws)[4] == ("dropped", "near-duplicate of acme__pricing-1")
    assert _stages(ws)[6] == ("dropped", f"decontaminated (listed in {decon})")
    assert summary.decontaminated == ["acme__pricing-6"]
    (cand,) = ws.candidates(skill="localization")
    assert cand["status"] == "invalid" and cand["reason"].startswith("decontaminated")
    assert ws.candidates(status="valid") == []


def test_report_counts_every_pr_once(history, tmp_path):
    ws = _mine(tmp_path, history)
    decon = tmp_path / "list.txt"
    decon.write_text("https://github.com/acme/pricing/pull/6\n")
    run_analyze(ws, filters=Filters(decontaminate=decon))
    # a validated candidate for #1, as validation would record it
    ws.add_candidates("acme__pricing-1", [("acme__pricing-1.localization", "localization", "{}"),
                                          ("acme__pricing-1.editing", "editing", "{}")],
                      not_built=[("review", "no review comments")])
    ws.set_candidate_result("acme__pricing-1.localization", "valid", gold_score=1.0, null_score=0.0)
    ws.set_candidate_result("acme__pricing-1.editing", "invalid", reason="gold answer does not score 1")
    report = workspace_report(ws)
    assert report.prs == 7
    # test-touching: 1, 2, 4 and 6 (analysis kept), not 3, 5, 7; the decontaminated #6 has no analysis:
    # its patch decides
    assert report.test_touching == 4
    assert report.pr_stages == {"built": 1, "dropped": 6}
    assert report.dropped["near-duplicate"] == 1 and report.dropped["trivial change"] == 2
    assert report.decontaminated == ["acme__pricing-6"]
    loc = report.skills["localization"]
    assert (loc.built, loc.valid, loc.prs_valid) == (1, 1, 1)
    assert loc.share == pytest.approx(1 / 4)
    ed = report.skills["editing"]
    assert (ed.built, ed.valid, ed.prs_valid) == (1, 0, 0) and ed.invalid == {"gold answer does not score 1": 1}
    rev = report.skills["review"]
    assert rev.built == 0 and rev.not_built == {"no review comments": 1}
    # why the other test-touching PRs made no candidate: their PR-level reasons
    assert loc.not_reached == {"trivial change": 1, "near-duplicate": 1, f"decontaminated (listed in {decon})": 1}
    data = report.to_dict()
    assert data["skills"]["localization"]["share"] == pytest.approx(0.25)
    assert "localization" in report.render_text()


def test_analyze_pr_reads_the_repository(history, tmp_path):
    ws = _mine(tmp_path, history)
    a = analyze_pr(ws, ws.get_pr("acme__pricing-6"))
    assert a.entities == ["pricing.py::RATES"]


def test_near_duplicate_fingerprints():
    a = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return  2\n"
    b = a.replace("x.py", "y.py").replace("return  2", "return 2")
    assert fingerprint(a) == fingerprint(b)  # paths and whitespace do not matter
    c = a.replace("+    return  2", "+    return 3")
    assert jaccard(fingerprint(a), fingerprint(c)) < 0.5
    index = NearDuplicates(threshold=0.85)
    assert index.check_and_add("o__r-1", a) is None
    assert index.check_and_add("o__r-2", b) == "o__r-1"
    assert index.check_and_add("o__r-3", c) is None
    assert len(index) == 2
    empty = "diff --git a/x.py b/z.py\nsimilarity index 100%\nrename from x.py\nrename to z.py\n"
    assert index.check_and_add("o__r-4", empty) is None and index.check_and_add("o__r-5", empty) is None


def test_near_duplicates_tolerate_a_small_edit():
    body = "".join(f"+    line_{k} = compute({k}, factor)\n" for k in range(30))
    patch = f"diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1,0 +1,30 @@\n{body}"
    edited = patch.replace("line_29 = compute(29, factor)", "line_29 = compute(29, factor * 2)")
    assert jaccard(fingerprint(patch), fingerprint(edited)) > 0.9
    index = NearDuplicates()
    index.check_and_add("o__r-1", patch)
    assert index.check_and_add("o__r-2", edited) == "o__r-1"


def test_decontamination_list_formats(tmp_path):
    f = tmp_path / "list.txt"
    f.write_text("# header\n\nDjango__Django-11099\nsympy/sympy#20590 trailing note\n"
                 "https://github.com/psf/requests/pull/863\nastropy__astropy-12907.review-1\n")
    d = Decontamination.load(f)
    assert len(d) == 4
    assert ("django/django", 11099) in d and ("SymPy/SymPy", 20590) in d and ("psf/requests", 863) in d
    assert ("astropy/astropy", 12907) in d and ("django/django", 1) not in d
    bad = tmp_path / "bad.txt"
    bad.write_text("not an id\n")
    with pytest.raises(DecontaminationError, match="bad.txt:1"):
        Decontamination.load(bad)
    with pytest.raises(DecontaminationError, match="not found"):
        Decontamination.load(tmp_path / "missing.txt")


def test_recipe_filters_name_the_decontamination_list(tmp_path):
    from skillforge.stages.recipe import RecipeError, load_run_recipe

    (tmp_path / "recipe.yaml").write_text(
        "name: r\nsources: [{path: repo}]\nfilters: {decontaminate: lists/swe-bench.txt, near_duplicate_threshold: 0.9}\n")
    r = load_run_recipe(tmp_path / "recipe.yaml")
    assert r.resolve(r.filters.decontaminate) == tmp_path / "lists" / "swe-bench.txt"
    assert r.filters.near_duplicate_threshold == 0.9 and r.filters.drop_trivial is True
    (tmp_path / "bad.yaml").write_text("name: r\nsources: [{path: repo}]\nfilters: {near_duplicate_threshold: 2}\n")
    with pytest.raises(RecipeError):
        load_run_recipe(tmp_path / "bad.yaml")


def test_reason_groups_leave_out_per_pr_detail():
    from skillforge.stages.analyze import reason_group

    assert reason_group("test_failure: no FAIL_TO_PASS test (see /ws/logs/o__r-3/after.log)") == \
        "test_failure: no FAIL_TO_PASS test"
    assert reason_group("near-duplicate of o__r-1") == "near-duplicate"
    assert reason_group("analysis failed: PatchError: bad hunk") == "analysis failed"
    assert reason_group("decontaminated (listed in lists/swe.txt)") == "decontaminated (listed in lists/swe.txt)"
