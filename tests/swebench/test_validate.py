"""SWE-bench-format input: ``skillforge validate --instances FILE --repos-dir DIR --out FILE``.

The rules (reading rows, SWE-bench's test selection and ids, agreement, clones)
are tested without Docker; the command itself runs for real on rows built from
the bundled sample repository's pull requests and is compared with what
skillforge's own pipeline computes for the same PRs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillforge.gitio import RepoError
from skillforge.sample import SAMPLE_REPO, generate_sample_repo, load_history
from skillforge.schema import repo_slug
from skillforge.swebench.clones import Clones
from skillforge.swebench.rows import (
    agreement, compare_lists, comparable_test_id, default_workspace, parse_test_list, read_instances, summary_path,
    swebench_directives, swebench_lists, swebench_test_id,
)
from skillforge.swebench.validate import missing_module, packaging_hash

ROOT = Path(__file__).resolve().parents[2]

ROW = {"repo": "octo/widget", "instance_id": "octo__widget-7", "base_commit": "a" * 40,
       "patch": "diff --git a/w.py b/w.py\n", "test_patch": "diff --git a/tests/test_w.py b/tests/test_w.py\n"}


def _git(repo: Path, *args: str, date: str = "2024-01-01T00:00:00Z") -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}).stdout


# --------------------------------------------------------------------------- rows


def test_test_lists_as_lists_or_json_strings():
    assert parse_test_list(["a::b", "c"], "FAIL_TO_PASS") == ["a::b", "c"]
    assert parse_test_list('["a::b", "c"]', "FAIL_TO_PASS") == ["a::b", "c"]
    assert parse_test_list("[]", "PASS_TO_PASS") == []
    assert parse_test_list(None, "PASS_TO_PASS") is None and parse_test_list("  ", "PASS_TO_PASS") is None
    with pytest.raises(ValueError, match="not a JSON list"):
        parse_test_list("a::b", "FAIL_TO_PASS")
    with pytest.raises(ValueError, match="list of test ids"):
        parse_test_list({"a": 1}, "FAIL_TO_PASS")
    with pytest.raises(ValueError, match="list of test ids"):
        parse_test_list("[1, 2]", "FAIL_TO_PASS")


def test_read_instances_reports_bad_rows_without_failing(tmp_path):
    rows = [
        {**ROW, "FAIL_TO_PASS": '["tests/test_w.py::test_a"]', "PASS_TO_PASS": [], "version": 1.2,
         "environment_setup_commit": "b" * 40},
        {**ROW, "instance_id": "octo__widget-8", "base_commit": ""},
        {**ROW, "instance_id": "octo__widget-9", "repo": "not a repo"},
        {**ROW, "instance_id": "octo__widget-10", "FAIL_TO_PASS": "nope"},
        {**ROW},  # the same instance_id again
        {**ROW, "instance_id": "octo__widget-11", "patch": ""},  # an empty gold patch is a row like any other
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join([json.dumps(r) for r in rows[:2]] + ["{not json", ""]
                              + [json.dumps(r) for r in rows[2:]]) + "\n")
    got = read_instances(path)
    assert [i.instance_id for i in got] == ["octo__widget-7", "octo__widget-8", "line-3", "octo__widget-9",
                                            "octo__widget-10", "octo__widget-7@line-7", "octo__widget-11"]
    first = got[0]
    assert first.error is None and first.given_fail_to_pass == ["tests/test_w.py::test_a"]
    assert first.given_pass_to_pass == [] and first.version == "1.2"
    assert first.group == ("octo/widget", "setup:" + "b" * 40)
    assert "missing or empty base_commit" in got[1].error
    assert "line 3: not valid JSON" in got[2].error
    assert "repo must be owner/name" in got[3].error
    assert "FAIL_TO_PASS is a string but not a JSON list" in got[4].error
    assert "repeats line 1" in got[5].error
    assert got[6].error is None and got[6].given_fail_to_pass is None and got[6].group == ("octo/widget", "")
    array = tmp_path / "rows.json"
    array.write_text(json.dumps([{**ROW, "version": "3.0"}]))
    (only,) = read_instances(array)
    assert only.error is None and only.group == ("octo/widget", "version:3.0")


# --------------------------------------------------------------------------- SWE-bench's rules


TEST_PATCH = """\
diff --git a/tests/test_a.py b/tests/test_a.py
--- a/tests/test_a.py
+++ b/tests/test_a.py
@@ -1 +1,2 @@
 x = 1
+y = 2
diff --git a/tests/test_new.py b/tests/test_new.py
new file mode 100644
--- /dev/null
+++ b/tests/test_new.py
@@ -0,0 +1 @@
+def test_x(): pass
diff --git a/tests/test_gone.py b/tests/test_gone.py
deleted file mode 100644
--- a/tests/test_gone.py
+++ /dev/null
@@ -1 +0,0 @@
-def test_y(): pass
diff --git a/tests/data/expected.json b/tests/data/expected.json
--- a/tests/data/expected.json
+++ b/tests/data/expected.json
@@ -1 +1 @@
-{}
+{"a": 1}
diff --git a/tests/old_name.py b/tests/test_renamed.py
similarity index 100%
rename from tests/old_name.py
rename to tests/test_renamed.py
diff --git a/tests/conftest.py b/tests/conftest.py
--- a/tests/conftest.py
+++ b/tests/conftest.py
@@ -1 +1,2 @@
 import pytest
+import os
"""


def test_test_directives_follow_swebench():
    assert swebench_directives(TEST_PATCH) == ["tests/test_a.py", "tests/test_new.py", "tests/test_renamed.py",
                                           "tests/conftest.py"]
    assert swebench_directives("") == []


def test_test_ids_as_swebench_records_them():
    assert swebench_test_id("tests/test_x.py::TestC::test_b[p1-p2]") == "tests/test_x.py::TestC::test_b[p1-p2]"
    assert swebench_test_id("test/dialects/ansi_test.py::test_semicolons[select a; b]") == \
        "test/dialects/ansi_test.py::test_semicolons[select"
    assert comparable_test_id("t.py::test_x[/n/fs/tmp123/data/f.dcm-data0]") == "t.py::test_x[/f.dcm-data0]"
    assert comparable_test_id("t.py::test_x[//net-path]") == "t.py::test_x[//net-path]"
    assert comparable_test_id("t.py::test_x[a b]") == "t.py::test_x[a"


def test_lists_collapse_ids_that_swebench_cuts_alike():
    f2p, p2p = swebench_lists(["t.py::test_a", "t.py::test_s[x y]", "t.py::test_f[1 2]"],
                              ["t.py::test_b", "t.py::test_s[x z]", "t.py::test_p[1 2]", "t.py::test_p[1 3]"],
                              ["t.py::test_f[1 3]"])
    assert f2p == ["t.py::test_a", "t.py::test_s[x"]
    assert p2p == ["t.py::test_b", "t.py::test_p[1"]


def test_agreement_with_given_lists():
    same = compare_lists(["t.py::a", "t.py::b[/tmp/x/f.txt]"], ["t.py::b[/home/u/f.txt]", "t.py::a"])
    assert same["match"] and same["only_ours"] == same["only_theirs"] == []
    diff = compare_lists(["t.py::a", "t.py::b"], ["t.py::a", "t.py::c"])
    assert diff == {"match": False, "both": ["t.py::a"], "only_ours": ["t.py::b"], "only_theirs": ["t.py::c"]}
    assert agreement(["t.py::a"], [], None, None) is None
    report = agreement(["t.py::a"], ["t.py::p"], ["t.py::a"], None)
    assert report["match"] and set(report) == {"FAIL_TO_PASS", "match"}
    report = agreement(["t.py::a"], ["t.py::p"], ["t.py::a"], ["t.py::q"])
    assert not report["match"] and report["PASS_TO_PASS"]["only_theirs"] == ["t.py::q"]


def test_state_and_summary_sit_beside_the_output(tmp_path):
    assert default_workspace(tmp_path / "validated.jsonl") == tmp_path / "validated.skillforge"
    assert summary_path(tmp_path / "validated.jsonl") == tmp_path / "validated.summary.json"


def test_missing_module_from_a_log(tmp_path):
    log = tmp_path / "after.log"
    log.write_text("ImportError while loading conftest\nE   ModuleNotFoundError: No module named 'simplejson'\n")
    assert missing_module(str(log)) == "simplejson"
    log.write_text("E   AssertionError\n")
    assert missing_module(str(log)) is None
    assert missing_module(str(tmp_path / "absent.log")) is None


# --------------------------------------------------------------------------- clones


@pytest.fixture
def upstream(tmp_path) -> tuple[Path, str, str]:
    repo = tmp_path / "upstream" / "widget"
    repo.mkdir(parents=True)
    (repo / "setup.py").write_text("from setuptools import setup\nsetup(name='widget')\n")
    (repo / "w.py").write_text("x = 1\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "one")
    first = _git(repo, "rev-parse", "HEAD").strip()
    (repo / "setup.py").write_text("from setuptools import setup\nsetup(name='widget', install_requires=['six'])\n")
    _git(repo, "commit", "-q", "-am", "two", date="2024-02-01T00:00:00Z")
    return repo, first, _git(repo, "rev-parse", "HEAD").strip()


def test_a_missing_clone_is_cloned_from_the_template(tmp_path, upstream):
    repo, first, second = upstream
    clones = Clones(tmp_path / "repos", f"file://{repo.parent}/{{name}}")
    handle = clones.get("octo/widget")
    assert handle.path == tmp_path / "repos" / "octo__widget"
    assert handle.read(first, "w.py") == b"x = 1\n"
    assert clones.missing("octo/widget", [first, second, "f" * 40]) == {"f" * 40}
    assert clones.newest("octo/widget", [first, second]) == second
    assert packaging_hash(handle, first) != packaging_hash(handle, second)
    tar = handle.archive(second)
    assert b"install_requires" in tar
    (repo / "w.py").write_text("x = 3\n")
    _git(repo, "commit", "-q", "-am", "three", date="2024-03-01T00:00:00Z")
    third = _git(repo, "rev-parse", "HEAD").strip()
    assert clones.missing("octo/widget", [first, third]) == set()  # fetched from the clone's origin
    assert handle.read(third, "w.py") == b"x = 3\n"


def test_a_clone_that_fails_is_a_clear_error(tmp_path):
    clones = Clones(tmp_path / "repos", "https://user:s3cret-token@127.0.0.1:9/{repo}.git")
    with pytest.raises(RepoError) as err:
        clones.get("octo/absent")
    message = str(err.value)
    assert "octo/absent" in message and str(tmp_path / "repos" / "octo__absent") in message
    assert "s3cret-token" not in message and "***@127.0.0.1" in message
    assert not (tmp_path / "repos" / "octo__absent").exists()
    assert not list((tmp_path / "repos").iterdir())
    with pytest.raises(RepoError):  # remembered: no second attempt in the same run
        clones.get("octo/absent")


# --------------------------------------------------------------------------- the command, for real


PRS = {3, 5, 8, 11, 17, 18}  # of the sample: generators, parametrized ids with spaces, a class, no FAIL_TO_PASS,
# two test files (the other PRs add nothing these do not cover, and time)
WRONG = "skillforge-samples__minicalc-11"  # its given FAIL_TO_PASS is deliberately wrong
BAD_PATCH = "skillforge-samples__minicalc-1008"  # PR 8 with a gold patch that does not apply
MISSING = "skillforge-samples__absent-1"  # a repository with no clone, whose cloning fails


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample repository as DIR/owner__name, its PRs mined and analyzed in a workspace."""
    from skillforge.stages.analyze import run_analyze
    from skillforge.mine.local import mine_local
    from skillforge.workspace import Workspace

    root = tmp_path_factory.mktemp("swebench")
    repos = root / "repos"
    clone = generate_sample_repo(repos / repo_slug(SAMPLE_REPO))
    ws = Workspace(root / "pipeline")
    mine_local(ws, clone, repo_name=SAMPLE_REPO)
    run_analyze(ws)
    prs = [(r.record, r.analysis) for r in ws.prs(stage="analyzed") if r.number in PRS]
    assert len(prs) == len(PRS)
    return root, repos, ws, prs


def _rows(prs) -> list[dict]:
    truth = {p["number"]: p["fail_to_pass"] for p in load_history()["pulls"]}
    rows = []
    for k, (pr, analysis) in enumerate(prs):
        given = list(truth[pr.number])
        if pr.instance_id == WRONG:
            given = given[:-1] + ["tests/test_units.py::ConvertTests::test_not_a_test"]
        rows.append({"repo": pr.repo, "instance_id": pr.instance_id, "base_commit": pr.base_commit,
                     "patch": analysis.code_patch, "test_patch": analysis.test_patch, "version": "0.1",
                     # as SWE-bench's Hugging Face rows store them (JSON strings), or as lists
                     "FAIL_TO_PASS": json.dumps(given) if k % 2 else given,
                     "created_at": "2024-01-01T00:00:00Z"})
    pr8 = next(r for r in rows if r["instance_id"].endswith("-8"))
    lines = pr8["patch"].splitlines(keepends=True)
    context = next(i for i, line in enumerate(lines) if line.startswith(" ") and line.strip())
    lines[context] = " # a context line that is not in the file\n"
    rows.append({**pr8, "instance_id": BAD_PATCH, "patch": "".join(lines), "FAIL_TO_PASS": "[]"})
    rows.append({**pr8, "instance_id": MISSING, "repo": "skillforge-samples/absent"})
    return rows


def _cli(*args: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-m", "skillforge.cli.main", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **env, "COLUMNS": "200"}, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def validated(sample, docker_client):
    root, repos, _ws, prs = sample
    rows_path = root / "rows.jsonl"
    rows_path.write_text("".join(json.dumps(r) + "\n" for r in _rows(prs)))
    out = root / "out" / "validated.jsonl"
    env = {"SKILLFORGE_CLONE_URL_TEMPLATE": f"file://{root}/no-such-remote/{{slug}}"}
    args = ("validate", "--instances", str(rows_path), "--repos-dir", str(repos), "--out", str(out),
            "--reruns", "2", "--workers", "2")
    first = _cli(*args, env=env)
    rows = {json.loads(line)["instance_id"]: json.loads(line) for line in out.read_text().splitlines()}
    summary = json.loads(summary_path(out).read_text())
    return root, out, args, env, first, rows, summary


@pytest.mark.docker
def test_fail_to_pass_matches_the_pipeline_for_the_same_prs(sample, validated):
    from skillforge.mine.local import mine_local
    from skillforge.schema import Dropped
    from skillforge.stages.analyze import run_analyze
    from skillforge.stages.config import ValidateConfig
    from skillforge.stages.context import ExecutionContext
    from skillforge.stages.facts import pr_facts
    from skillforge.workspace import Workspace

    _root, repos, _ws, prs = sample
    rows = validated[5]
    # the pipeline mines and validates the same PRs in the command's own workspace: runs identical to the
    # command's (same environment, commit, patches and test files) come from the execution cache, so what
    # is compared is the pipeline's test selection and FAIL_TO_PASS / PASS_TO_PASS rule with the command's;
    # any other selection would run anew and show up in the counts below
    ws = Workspace(validated[1].parent / "validated.skillforge")
    mine_local(ws, repos / repo_slug(SAMPLE_REPO), repo_name=SAMPLE_REPO)
    run_analyze(ws)
    ctx = ExecutionContext.open(ws, ValidateConfig(reruns=1))
    # the environment the command resolved (recorded in its workspace): the same runs come from the cache
    [env] = [name for name, how in validated[6]["environments"].items() if how.startswith("ready")]
    assert env in ctx.backend.environments
    valid = cut = 0
    for pr, analysis in prs:
        report = rows[pr.instance_id]["skillforge"]
        try:
            facts = pr_facts(ctx, pr, analysis, env)
        except Dropped as e:  # the same triaged outcome (its log is in the other workspace)
            assert report["status"] == "invalid", (pr.instance_id, report)
            assert report["triage"] == e.triage.value and e.message in report["reason"], (pr.instance_id, report)
            assert Path(report["log"]).is_file()
            continue
        valid += 1
        assert report["status"] == "valid", (pr.instance_id, report)
        # the pipeline's node ids, as SWE-bench's log parser records them
        f2p, p2p = swebench_lists(facts.FAIL_TO_PASS, facts.PASS_TO_PASS, facts.flaky)
        assert rows[pr.instance_id]["FAIL_TO_PASS"] == f2p and set(f2p) <= set(facts.FAIL_TO_PASS), pr.instance_id
        assert rows[pr.instance_id]["PASS_TO_PASS"] == p2p, pr.instance_id
        cut += sum(t not in facts.PASS_TO_PASS for t in p2p)
        assert report["test_files"] == facts.test_files and report["flaky"] == []
        assert report["reruns"] == 2 and Path(report["log"]).is_file()
    assert valid == len(PRS) - 1  # PR 17 has no FAIL_TO_PASS test
    assert ctx.backend.executor.hits >= 2 * len(PRS)  # every before and after run: the same runs as the command's
    ctx.close()
    summary = validated[6]
    assert list(summary["environments"].values()) == ["ready (inferred: candidate 1 of 3, smoke run passed)"] or all(
        v.startswith("ready (inferred") for v in summary["environments"].values()), summary["environments"]
    assert cut, "the sample has parametrized ids with spaces, which SWE-bench cuts (test_evaluate[-3 + 5-2])"


@pytest.mark.docker
def test_given_lists_give_an_agreement_report(validated):
    _root, out, _args, _env, stdout, rows, summary = validated
    wrong = rows[WRONG]
    f2p = wrong["skillforge"]["agreement"]["FAIL_TO_PASS"]
    assert not f2p["match"] and not wrong["skillforge"]["agreement"]["match"]
    assert f2p["only_theirs"] == ["tests/test_units.py::ConvertTests::test_not_a_test"]
    assert f2p["only_ours"] == ["tests/test_units.py::ConvertTests::test_inches"]
    assert wrong["skillforge"]["given"]["FAIL_TO_PASS"] == ["tests/test_units.py::ConvertTests::test_not_a_test"]
    assert wrong["FAIL_TO_PASS"] == ["tests/test_units.py::ConvertTests::test_inches"]  # ours, as a list
    agreeing = [r for iid, r in rows.items() if r["skillforge"]["status"] == "valid" and iid != WRONG]
    assert len(agreeing) == len(PRS) - 2
    assert all(r["skillforge"]["agreement"]["match"] for r in agreeing)
    assert all(isinstance(r["FAIL_TO_PASS"], list) and isinstance(r["PASS_TO_PASS"], list) for r in rows.values())
    assert all("PASS_TO_PASS" not in r["skillforge"]["agreement"] for r in agreeing)  # none was given
    assert summary["disagreeing"] == [WRONG]
    assert summary["with_given"] == summary["f2p_match"] + 1
    assert "Agreement with the given lists" in stdout and WRONG in stdout
    # the input columns are all kept, in the output's rows
    assert all(r["created_at"] == "2024-01-01T00:00:00Z" and r["version"] == "0.1" for r in rows.values())


@pytest.mark.docker
def test_a_patch_that_does_not_apply_is_reported_with_its_triage(validated):
    rows, summary = validated[5], validated[6]
    bad = rows[BAD_PATCH]["skillforge"]
    assert bad["status"] == "invalid" and bad["triage"] == "patch_apply"
    assert bad["reason"].startswith("patch_apply: gold patch does not apply (see ")
    assert bad["log"].endswith(f"{BAD_PATCH}/after.log") and "does not apply" in Path(bad["log"]).read_text()
    assert rows[BAD_PATCH]["FAIL_TO_PASS"] == [] and bad["agreement"] is None
    assert summary["invalid"]["patch_apply"] == 1


@pytest.mark.docker
def test_a_missing_clone_is_an_error_row(validated):
    root, _out, _args, _env, stdout, rows, summary = validated
    missing = rows[MISSING]["skillforge"]
    assert missing["status"] == "error" and missing["triage"] == "clone"
    assert "skillforge-samples/absent" in missing["reason"] and str(root / "repos" / "skillforge-samples__absent") \
        in missing["reason"] and "no-such-remote/skillforge-samples__absent" in missing["reason"]
    assert summary["errors"] == {"clone": 1}
    assert "clone" in stdout


@pytest.mark.docker
def test_a_rerun_resumes_without_executing_finished_rows(validated):
    root, out, args, env, _stdout, rows, summary = validated
    finished = sum(1 for r in rows.values() if r["skillforge"]["status"] in ("valid", "invalid"))
    assert summary["executed"] == finished and summary["resumed"] == 0 and summary["runs_executed"] > 0
    logs = {p: p.stat().st_mtime_ns for p in (root / "out" / "validated.skillforge" / "logs").rglob("*.log")}
    assert len(logs) > 2 * finished
    again = _cli(*args, env=env)
    second = json.loads(summary_path(out).read_text())
    assert second["resumed"] == finished and second["executed"] == 0 and second["runs_executed"] == 0
    assert f"{finished} resumed" in again
    assert {p: p.stat().st_mtime_ns for p in logs} == logs  # no log rewritten: nothing ran again
    rerun = {json.loads(line)["instance_id"]: json.loads(line) for line in out.read_text().splitlines()}
    assert rerun == rows  # the same rows, the error row retried and failing the same way
