"""The analysis stage on a real git history: drop reasons (trivial changes,
near-duplicates, decontamination), resumption, and the workspace report."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from skillforge.analyze.split import TestConfig
from skillforge.analyze.hygiene import Decontamination, DecontaminationError, NearDuplicates, fingerprint, jaccard
from skillforge.schema import Outcome, Triage
from skillforge.stats import workspace_stats
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
    return {r.number: (r.stage, r.outcome.message if r.outcome else "") for r in ws.prs()}


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
    assert summary.dropped == {Triage.TRIVIAL: 2, Triage.NO_TEST_CHANGE: 1, Triage.NEAR_DUPLICATE: 1,
                               Triage.DECONTAMINATED: 1, Triage.NO_CODE_CHANGE: 1}
    near = ws.pr("acme__pricing-4").outcome
    assert near.triage is Triage.NEAR_DUPLICATE and near.details == {"duplicate_of": "acme__pricing-1"}
    assert summary.trivial == {"docstrings": 1, "version bump": 1}
    assert summary.near_duplicates == {"acme__pricing-4": "acme__pricing-1"}
    assert summary.decontaminated == ["acme__pricing-6"] and summary.decontamination_listed == 2
    analysis = ws.pr_analysis("acme__pricing-1")
    assert analysis.entities == ["pricing.py::rounded"] and analysis.test_files == ["tests/test_pricing.py"]
    assert analysis.test_functions == ["tests/test_pricing.py::test_rounded_half_up"]
    # dropped by its paths: what they give, and no labels (a near duplicate is found from its labels)
    assert ws.pr_analysis("acme__pricing-1").labelled and ws.pr_analysis("acme__pricing-4").entities
    for pr_id in ("acme__pricing-3", "acme__pricing-5", "acme__pricing-7"):
        dropped = ws.pr_analysis(pr_id)
        assert not dropped.labelled and dropped.entities == dropped.edit_locations == [], pr_id
    three = ws.pr_analysis("acme__pricing-3")
    assert three.files == ["pricing.py"] and three.test_files == [] and three.code_lines == 4
    assert three.code_patch.startswith("diff --git a/pricing.py b/pricing.py")
    assert ws.pr_analysis("acme__pricing-7").changes[0].path == "docs/index.rst"


def test_what_the_filters_drop_by_paths_is_labelled_as_far_as_they_need(history, tmp_path):
    """Asked for less, a PR's path-level fields and trivial kind are those of its whole analysis."""
    from skillforge.analyze import LABELS, PATHS_ONLY, TRIVIAL_ONLY, analyze_change_labels
    from skillforge.stages.analyze import Analyzer

    ws = _mine(tmp_path, history)
    analyzer = Analyzer(ws)
    labels = ("entities", "added_entities", "removed_entities", "edit_locations", "added_locations",
              "test_functions", "labelled")
    trivial_seen = set()
    try:
        for row in ws.prs():
            pr = ws.pr(row.pr_id).record
            old, new = analyzer.tree(pr.repo, pr.base_commit), analyzer.tree(pr.repo, pr.merge_commit)
            files = [*old.paths, *new.paths]
            whole = analyze_change_labels(pr.patch, old.read, new.read, files, TestConfig())
            assert whole.analysis.labelled
            for scope in (LABELS, TRIVIAL_ONLY, PATHS_ONLY):
                got = analyze_change_labels(pr.patch, old.read, new.read, files, TestConfig(),
                                            wanted=lambda paths, scope=scope: scope)
                assert got.analysis.model_dump(exclude=set(labels)) == whole.analysis.model_dump(exclude=set(labels))
                assert got.analysis.labelled is (scope == LABELS)
                if scope == LABELS:
                    assert got == whole
                else:
                    assert got.analysis.entities == got.analysis.test_functions == [] and got.test_entities == []
                assert got.trivial == (whole.trivial if scope != PATHS_ONLY else None), (row.pr_id, scope)
            trivial_seen.add(whole.trivial)
    finally:
        analyzer.close()
    assert trivial_seen == {None, "docstrings", "version bump"}


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
    ws.set_pr_stage("acme__pricing-4", "mined")
    ws.add_candidates("acme__pricing-6", [_localization("acme__pricing-6")])
    ws.set_candidate_result("acme__pricing-6.localization", "valid", gold_score=1.0, null_score=0.0)
    decon = tmp_path / "list.jsonl"
    decon.write_text('{"instance_id": "acme__pricing-6", "repo": "acme/pricing"}\n')
    summary = run_analyze(ws, filters=Filters(decontaminate=decon))
    assert _stages(ws)[4] == ("dropped", "near-duplicate of acme__pricing-1")
    assert _stages(ws)[6] == ("dropped", f"decontaminated (listed in {decon})")
    assert summary.decontaminated == ["acme__pricing-6"]
    (cand,) = ws.candidates(skill="localization")
    assert cand.status == "invalid" and cand.outcome.triage is Triage.DECONTAMINATED
    assert ws.candidates(status="valid") == []


def test_report_counts_every_pr_once(history, tmp_path):
    ws = _mine(tmp_path, history)
    decon = tmp_path / "list.txt"
    decon.write_text("https://github.com/acme/pricing/pull/6\n")
    run_analyze(ws, filters=Filters(decontaminate=decon))
    # a validated candidate for #1, as validation would record it
    ws.add_candidates("acme__pricing-1", [_localization("acme__pricing-1"), _editing("acme__pricing-1")],
                      not_built=[("review", Outcome.failed(Triage.NO_NEGATIVE))])
    ws.set_candidate_result("acme__pricing-1.localization", "valid", gold_score=1.0, null_score=0.0)
    ws.set_candidate_result("acme__pricing-1.editing", "invalid",
                            outcome=Outcome.failed(Triage.TEST_FAILURE, "gold answer does not score 1"))
    report = workspace_stats(ws)
    assert report.prs == 7
    # test-touching: 1, 2, 4 and 6 (analysis kept), not 3, 5, 7; the decontaminated #6 has no analysis:
    # its patch decides
    assert report.test_touching == 4
    assert report.pr_stages == {"built": 1, "dropped": 6}
    assert report.dropped[Triage.NEAR_DUPLICATE] == 1 and report.dropped[Triage.TRIVIAL] == 2
    assert report.decontaminated == ["acme__pricing-6"]
    loc = report.skills["localization"]
    assert (loc.built, loc.valid, loc.prs_valid) == (1, 1, 1)
    assert loc.share == pytest.approx(1 / 4)
    ed = report.skills["editing"]
    assert (ed.built, ed.valid, ed.prs_valid) == (1, 0, 0) and ed.invalid == {Triage.TEST_FAILURE: 1}
    rev = report.skills["review"]
    assert rev.built == 0 and rev.not_built == {Triage.NO_NEGATIVE: 1}
    # why the other test-touching PRs made no candidate: their PR-level classes
    assert loc.not_reached == {Triage.TRIVIAL: 1, Triage.NEAR_DUPLICATE: 1, Triage.DECONTAMINATED: 1}
    assert report.card()["prs_dropped"]["near-duplicate"] == 1
    data = report.to_dict()
    assert data["skills"]["localization"]["share"] == pytest.approx(0.25)
    assert "localization" in report.render_text()


def test_analyze_pr_reads_the_repository(history, tmp_path):
    ws = _mine(tmp_path, history)
    a = analyze_pr(ws, ws.get_pr("acme__pricing-6"))
    assert a.entities == ["pricing.py::RATES"]


_IMPORTS_WHILE_LABELLING = """
import sys
from skillforge.stages import analyze
from skillforge.workspace import Workspace
ws = Workspace(sys.argv[1])
task = analyze._label_task(analyze.Analyzer(ws), analyze.Filters(), True)
before = set(sys.modules)
for r in ws.prs():
    pr = ws.pr(r.pr_id).record
    task(pr, ws.repo_location(pr.repo))
print(sorted(set(sys.modules) - before))
"""


def test_labelling_imports_nothing_the_stage_did_not(history, tmp_path):
    """The stage's workers are forked from the process that imported it: a module the labels import
    on first use (numpy was one) is imported again by every worker, in every run."""
    ws = _mine(tmp_path, history)
    ws.close()
    out = subprocess.run([sys.executable, "-c", _IMPORTS_WHILE_LABELLING, str(tmp_path / "ws")], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


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



def _added(lines: list[str]) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return f"diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1,0 +1,{len(lines)} @@\n{body}"


def test_near_duplicates_among_many_kept_prs():
    """The index finds every edited copy at J >= 0.9 among 100 kept PRs, on the exact sets."""
    bases = [[f"value_{k}_{i} = compute({k * 1000 + i}, factor)" for i in range(12 + k % 30)] for k in range(100)]
    index = NearDuplicates()
    for k, lines in enumerate(bases):
        assert index.check_and_add(f"o__r-{k}", _added(lines)) is None
    assert len(index) == 100
    for k, lines in enumerate(bases):
        edited = [*lines[:-1], lines[-1] + " + 1"]
        if jaccard(fingerprint(_added(lines)), fingerprint(_added(edited))) >= 0.9:
            assert index.check_and_add(f"o__r-{k + 100}", _added(edited)) == f"o__r-{k}"
    assert len(index) == 100
    exact = NearDuplicates(threshold=1.0)  # 1.0 keeps only exact copies out
    exact.check_and_add("o__r-1", _added(bases[40]))
    assert exact.check_and_add("o__r-2", _added([*bases[40][:-1], "changed = 1"])) is None
    assert exact.check_and_add("o__r-3", _added(bases[40])) == "o__r-1"


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.85, 0.9, 1.0])
def test_near_duplicates_find_what_comparing_every_pair_finds(threshold):
    """The prefix-filtered search answers as a comparison with every kept PR does: sets of every size
    (1 line and up), copies, subsets, supersets and edits of kept ones, and unrelated sets."""
    rng = random.Random(threshold)
    vocabulary = [f"+line {k}" for k in range(60)]
    index, kept = NearDuplicates(threshold), {}
    for k in range(400):
        if kept and rng.random() < 0.7:
            base = sorted(kept[rng.choice(sorted(kept))])
            edit = rng.randrange(4)
            if edit == 0:
                shingles = frozenset(base)
            elif edit == 1:
                shingles = frozenset(base[:max(1, len(base) - rng.randint(1, 3))])
            elif edit == 2:
                shingles = frozenset(base + rng.sample(vocabulary, rng.randint(1, 3)))
            else:
                shingles = frozenset(base[1:] + [rng.choice(vocabulary)])
        else:
            shingles = frozenset(rng.sample(vocabulary, rng.randint(1, 25)))
        best = None
        for order, (pr_id, other) in enumerate(kept.items()):
            sim = jaccard(shingles, other)
            if sim >= threshold and (best is None or (sim, -order) > best[:2]):
                best = (sim, -order, pr_id)
        assert index.find(shingles) == (best[2] if best else None), (k, sorted(shingles))
        if best is None:
            index.add(f"o__r-{k}", shingles)
            kept[f"o__r-{k}"] = shingles
    assert len(index) == len(kept) > 20


def test_near_duplicates_prefer_the_closest_then_the_first_kept():
    lines = [f"row_{i} = load({i})" for i in range(40)]
    index = NearDuplicates(threshold=0.8)
    index.check_and_add("o__r-1", _added([*lines[:-1], "row_39 = other()"]))
    index.check_and_add("o__r-2", _added([*lines[:-1], "row_39 = another()"]))  # as close to the query as -1
    index.check_and_add("o__r-3", _added(lines))
    assert len(index) == 1  # -2 and -3 are near duplicates of -1
    again = NearDuplicates(threshold=0.8)
    again.add("o__r-5", fingerprint(_added([*lines[:-1], "row_39 = other()"])))
    again.add("o__r-6", fingerprint(_added(lines)))
    again.add("o__r-7", fingerprint(_added(lines)))
    assert again.find(fingerprint(_added(lines))) == "o__r-6"  # identical beats similar; the first of equals


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


def test_statistics_count_classes_not_sentences(history, tmp_path):
    """Two PRs dropped for the same cause with different details are one group; the details stay
    in the messages (and logs), and a reworded message changes no count."""
    ws = _mine(tmp_path, history)
    run_analyze(ws)
    ws.set_pr_stage("acme__pricing-1", "dropped", outcome=Outcome.failed(
        Triage.NO_FAIL_TO_PASS, "no FAIL_TO_PASS test", "/ws/logs/acme__pricing-1/after.log"))
    ws.set_pr_stage("acme__pricing-5", "dropped", outcome=Outcome.failed(
        Triage.NO_FAIL_TO_PASS, "no test goes from failing to passing", "/ws/logs/acme__pricing-5/after.log"))
    stats = workspace_stats(ws)
    assert stats.dropped[Triage.NO_FAIL_TO_PASS] == 2
    assert stats.to_dict()["dropped"]["no_fail_to_pass"] == 2
    assert ws.pr("acme__pricing-1").outcome.render() == \
        "no_fail_to_pass: no FAIL_TO_PASS test (see /ws/logs/acme__pricing-1/after.log)"


def _localization(pr_id: str):
    from skillforge.skills.localization import LocalizationInstance

    return LocalizationInstance(instance_id=f"{pr_id}.localization", skill="localization", repo="acme/pricing",
                                pr_number=int(pr_id.rsplit("-", 1)[1]), base_commit="a" * 40, **LOC_FIELDS)


def _editing(pr_id: str):
    from skillforge.skills.editing import EditingInstance

    return EditingInstance(instance_id=f"{pr_id}.editing", skill="editing", repo="acme/pricing",
                           pr_number=int(pr_id.rsplit("-", 1)[1]), base_commit="a" * 40, instruction="x",
                           problem_statement="", test_patch="")


LOC_FIELDS: dict = {"problem_statement": ""}


# --------------------------------------------------------------------------- a pool of workers


@pytest.fixture(scope="module")
def reordered(tmp_path_factory) -> Path:
    """PRs merged out of number order: #5 lands a fix, #3 reverts it, #2 is a change of its own,
    #1 lands #5's fix again (a near duplicate merged later, with the lower number), #4 is docs."""
    repo = tmp_path_factory.mktemp("reordered") / "pricing"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, {"pricing.py": PRICING, "tests/test_pricing.py": TESTS}, "initial")
    fixed = PRICING.replace("return round(amount, 2)", "return float(Decimal(str(amount)).quantize(Decimal(\"0.01\"), ROUND_HALF_UP))")
    fixed = fixed.replace('__version__ = "1.0.0"\n', '__version__ = "1.0.0"\n\nfrom decimal import ROUND_HALF_UP, Decimal\n')
    tests_fixed = TESTS + "\n\ndef test_rounded_half_up():\n    from pricing import rounded\n    assert rounded(2.675) == 2.68\n"
    _commit(repo, {"pricing.py": fixed, "tests/test_pricing.py": tests_fixed}, "Round half up (#5)")
    _commit(repo, {"pricing.py": PRICING}, "Revert rounding (#3)")
    zero = PRICING.replace('RATES = {"standard": 0.2, "reduced": 0.05}', 'RATES = {"standard": 0.2, "reduced": 0.05, "zero": 0.0}')
    _commit(repo, {"pricing.py": zero, "tests/test_pricing.py": tests_fixed + "\n\ndef test_zero():\n    assert gross(3, 'zero') == 3\n"}, "Zero rate (#2)")
    refixed = fixed.replace('RATES = {"standard": 0.2, "reduced": 0.05}', 'RATES = {"standard": 0.2, "reduced": 0.05, "zero": 0.0}')
    _commit(repo, {"pricing.py": refixed, "tests/test_pricing.py": tests_fixed + "\n\ndef test_zero():\n    assert gross(3, 'zero') == 3.0\n"}, "Reland rounding (#1)")
    _commit(repo, {"docs/index.rst": "Pricing\n=======\n"}, "Docs (#4)")
    _commit(repo, {"pricing.py": refixed.replace('"""Net plus tax."""', '"""Net plus its tax."""'),
                   "tests/test_pricing.py": tests_fixed + "\n\ndef test_zero():\n    assert gross(3, 'zero') == 3.0\n\n"}, "Docs of gross (#6)")
    return repo


def _rows(ws: Workspace) -> dict[str, tuple]:
    """What the stage stores of each PR: its record, stage, outcome (triage, message, log, details) and analysis."""
    return {r.pr_id: (r._record, r.stage, r.outcome.triage if r.outcome else None, r.outcome.message if r.outcome else "",
                      r.outcome.log if r.outcome else None, r.outcome.details if r.outcome else None, r._analysis)
            for r in ws.prs()}


def test_a_pool_of_workers_stores_what_one_worker_stores(reordered, tmp_path, monkeypatch):
    """PRs analysed in history order by two workers are stored as one worker serving them in number order
    stores them: the same rows, byte for byte; of a near-duplicate pair merged out of number order, the PR
    with the lower number is kept."""
    from skillforge.analyze.budget import Budget
    from skillforge.stages import analyze

    pools = []

    class Recorded(analyze.BudgetPool):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(analyze, "BudgetPool", Recorded)
    decon = tmp_path / "list.txt"
    decon.write_text("acme__pricing-4\n")
    out = {}
    for workers in (1, 2):
        ws = Workspace(tmp_path / f"ws{workers}")
        mine_local(ws, reordered, repo_name="acme/pricing")
        seen: list[str] = []
        summary = analyze.run(ws, Filters(decontaminate=str(decon)), lambda phase, pr_id: seen.append(pr_id),
                              budget=Budget(seconds=120, memory=1 << 30), workers=workers)
        assert seen == [f"acme__pricing-{n}" for n in range(1, 7)]  # stored in number order
        out[workers] = (_rows(ws), summary)
        ws.close()
    assert [p.started for p in pools] == [1, 2]  # one worker, in history order too; two: both worked
    assert out[2][0] == out[1][0]
    assert out[2][1] == out[1][1]
    rows, summary = out[2]
    assert {pr_id: row[1:4] for pr_id, row in rows.items()} == {
        "acme__pricing-1": ("analyzed", None, ""),
        "acme__pricing-2": ("analyzed", None, ""),
        "acme__pricing-3": ("dropped", Triage.NO_TEST_CHANGE, "no test change"),
        "acme__pricing-4": ("dropped", Triage.DECONTAMINATED, f"decontaminated (listed in {decon})"),
        "acme__pricing-5": ("dropped", Triage.NEAR_DUPLICATE, "near-duplicate of acme__pricing-1"),
        "acme__pricing-6": ("dropped", Triage.TRIVIAL, "trivial change"),
    }
    assert summary.near_duplicates == {"acme__pricing-5": "acme__pricing-1"}


def test_history_order_follows_the_first_parent_history(reordered, tmp_path):
    from skillforge.stages import analyze

    ws = _mine(tmp_path, reordered)
    prs = [r.record for r in ws.prs()]
    positions = {"acme/pricing": analyze._history_positions(ws.repo_location("acme/pricing"))}
    assert [p.number for p in analyze._history_order(prs, positions)] == [5, 3, 2, 1, 4, 6]
    assert [p.number for p in analyze._history_order(prs, {})] == [1, 2, 3, 4, 5, 6]  # same date: by number
    assert analyze._history_positions(str(tmp_path / "nowhere")) == {}


def test_an_interrupted_pool_leaves_no_process_behind(reordered, tmp_path, child_pids):
    """Ctrl-C while the pool works: the stage stops, its workers (and their git processes) are gone;
    what it stored is what a whole run stores (PR 1, whose turn came, and any PR a filter dropped on
    its own answer), the other PRs are left as they were."""
    import time

    from skillforge.analyze.budget import Budget
    from skillforge.stages import analyze

    whole = _mine(tmp_path / "whole", reordered)
    analyze.run(whole, Filters(), budget=Budget(seconds=120, memory=1 << 30), workers=2)
    expected = _rows(whole)
    ws = _mine(tmp_path, reordered)
    mined = _rows(ws)
    before = child_pids()  # (processes earlier tests left are not this run's)

    def interrupt(phase, pr_id):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyze.run(ws, Filters(), interrupt, budget=Budget(seconds=120, memory=1 << 30), workers=2)
    assert set(child_pids()) <= set(before)
    deadline = time.monotonic() + 10
    while _in_repo(reordered) and time.monotonic() < deadline:  # git cat-file ends when its worker's pipe does
        time.sleep(0.1)
    assert _in_repo(reordered) == []
    rows = _rows(ws)
    assert rows["acme__pricing-1"] == expected["acme__pricing-1"] and rows["acme__pricing-1"][1] == "analyzed"
    for pr_id, row in rows.items():
        assert row in (mined[pr_id], expected[pr_id]), pr_id


def _in_repo(repo: Path) -> list[int]:
    import os

    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink(f"/proc/{pid}/cwd").startswith(str(repo)):
                    out.append(int(pid))
            except OSError:
                continue
    return out
