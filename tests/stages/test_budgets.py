"""Bounded work on hostile input: every PR of a history is kept with its labels or
dropped with a reason, never a traceback -- a 10 MB one-line module, a 5,000-hunk
patch, 1,500 nested Python defs, a deeply nested JavaScript file, a symlink and a
data file under tests/, a 1 MB line of code -- and a PR over its time or memory
budget is dropped ``over_budget`` with a log while the others go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from skillforge.analyze.budget import Budget
from skillforge.gitio import RepoSet
from skillforge.mine.local import mine_local
from skillforge.schema import PRFacts, Triage
from skillforge.stages import analyze, build
from skillforge.stages.config import AnalyzeConfig, ValidateConfig
from skillforge.stages import facts
from skillforge.workspace import Workspace

ENV = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
       "GIT_COMMITTER_EMAIL": "a@example.com", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
       "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00", "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1",
       "GIT_CONFIG_GLOBAL": "/dev/null"}
GIB = 1 << 30
LOOSE = AnalyzeConfig(max_files=10**6, max_code_lines=10**9)  # the size filters would drop some of these PRs
CODE = "def add(a, b):\n    return a + b\n"
TEST = "from pkg.core import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True)


def _commit(repo: Path, files: dict[str, str], message: str, links: dict[str, str] | None = None) -> None:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    for path, target in (links or {}).items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, repo / path)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", message)


def _test(n: int) -> str:
    return TEST + f"\n\ndef test_{n}():\n    assert add({n}, 1) == {n + 1}\n"


def big_literal(size: int = 10_000_000) -> str:
    """A one-line module: a list literal of ``size`` bytes."""
    parts, total, n = [], 0, 0
    while total < size:
        parts.append(str(n * 7919 % 1000003))
        total += len(parts[-1]) + 2
        n += 1
    return "DATA = [" + ", ".join(parts) + "]\n"


def many_functions(k: int, n: int = 5000) -> str:
    body = "    y = x + {i}\n    z = y * 2\n    w = z - 1\n    v = w + 3\n    return v + {k}\n\n\n"
    return "".join(f"def f{i}(x):\n" + body.format(i=i, k=k) for i in range(n))


def nested_defs(n: int, value: int) -> str:
    return "".join("    " * i + f"def f{i}():\n" for i in range(n)) + "    " * n + f"return {value}\n"


def nested_js(n: int) -> str:
    return ("".join(f"function f{i}() {{\n" for i in range(n)) + "return [" + "[" * n + "]" * n + "];\n"
            + "}\n" * n)


def _repo(root: Path) -> Path:
    repo = root / "hostile"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, {"pkg/__init__.py": "", "pkg/core.py": CODE, "tests/test_core.py": TEST}, "initial")
    return repo


@pytest.fixture(scope="module")
def big_history(tmp_path_factory) -> Path:
    """#1 a fix, #2 adds a 10 MB one-line module, #3 a fix after it."""
    repo = _repo(tmp_path_factory.mktemp("big"))
    _commit(repo, {"pkg/core.py": CODE.replace("a + b", "b + a"), "tests/test_core.py": _test(1)}, "Fix add (#1)")
    _commit(repo, {"pkg/data.py": big_literal(), "tests/test_data.py":
                   "from pkg.data import DATA\n\n\ndef test_data():\n    assert DATA[1] == 7919\n"}, "Add data (#2)")
    _commit(repo, {"pkg/core.py": CODE.replace("a + b", "(a + b)"), "tests/test_core.py": _test(3)}, "Tidy (#3)")
    return repo


@pytest.fixture(scope="module")
def hostile_history(tmp_path_factory) -> Path:
    """One PR of each kind of hostile input, between ordinary ones."""
    repo = _repo(tmp_path_factory.mktemp("hostile"))
    _commit(repo, {"pkg/many.py": many_functions(0), "pkg/nested.py": nested_defs(1500, 0)}, "base files")
    _commit(repo, {"pkg/core.py": CODE.replace("a + b", "b + a"), "tests/test_core.py": _test(1)}, "Fix add (#1)")
    _commit(repo, {"pkg/many.py": many_functions(1), "tests/test_many.py":
                   "from pkg.many import f1\n\n\ndef test_many():\n    assert f1(0) == 10\n"}, "Many hunks (#2)")
    _commit(repo, {"pkg/deep.py": nested_defs(1500, 2), "tests/test_deep.py": "def test_deep():\n    pass\n"},
            "Deep defs (#3)")
    _commit(repo, {"pkg/nested.py": nested_defs(1500, 1), "tests/test_nested.py": "def test_nested():\n    pass\n"},
            "Deep change (#4)")
    _commit(repo, {"web/deep.js": nested_js(5000), "tests/test_core.py": _test(5)}, "Deep JS (#5)")
    _commit(repo, {"pkg/core.py": CODE.replace("a + b", "a+b"), "tests/test_cases.json": '{"cases": [1, 2]}\n',
                   "tests/test_core.py": _test(6)}, "Data and link (#6)",
            links={"tests/test_link.py": "../pkg/core.py"})
    _commit(repo, {"pkg/line.py": "def big():\n    return " + " + ".join(["1"] * 333_000) + "\n",
                   "tests/test_line.py": "from pkg.line import big\n\n\ndef test_big():\n    assert big() > 0\n"},
            "Long line (#7)")
    _commit(repo, {"pkg/core.py": CODE.replace("a + b", "(a + b)"), "tests/test_core.py": _test(8)}, "After (#8)")
    return repo


def _executed(ws: Workspace) -> None:
    """The facts the facts stage would have recorded: the PR's own tests fail before the fix."""
    for r in ws.prs(stage="analyzed"):
        facts = PRFacts(environment="env", test_files=r.analysis.test_files, FAIL_TO_PASS=r.analysis.test_functions)
        ws.set_pr_stage(r.pr_id, "executed", facts=facts)


# --------------------------------------------------------------------------- the 10 MB module

_MEASURED = textwrap.dedent("""
    import json, resource, sys, time
    from skillforge.mine.local import mine_local
    from skillforge.schema import PRFacts
    from skillforge.stages import analyze, build
    from skillforge.stages.config import ValidateConfig
    from skillforge.workspace import Workspace

    ws = Workspace(sys.argv[2])
    mine_local(ws, sys.argv[1], repo_name="acme/big")
    started = time.monotonic()
    analyze.run(ws)
    for r in ws.prs(stage="analyzed"):
        ws.set_pr_stage(r.pr_id, "executed", facts=PRFacts(environment="env", test_files=r.analysis.test_files,
                                                             FAIL_TO_PASS=r.analysis.test_functions))
    build.run(ws, ValidateConfig())
    seconds = time.monotonic() - started
    peak = {who: resource.getrusage(getattr(resource, who)).ru_maxrss * 1024
            for who in ("RUSAGE_SELF", "RUSAGE_CHILDREN")}
    with open("/proc/self/status") as f:  # this process's own peak (RUSAGE_SELF keeps its parent's across exec)
        peak["VmHWM"] = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, **peak}))
""")


def test_a_10mb_one_line_module_is_analyzed_and_built_in_a_gigabyte_and_a_minute(big_history, tmp_path):
    """Measured in a process of its own: its peak (VmHWM: Linux keeps ru_maxrss across exec, so
    RUSAGE_SELF there starts at the test runner's peak) and its workers' (RUSAGE_CHILDREN)."""
    ws_dir = tmp_path / "ws"
    out = subprocess.run([sys.executable, "-c", _MEASURED, str(big_history), str(ws_dir)], capture_output=True,
                         text=True, timeout=600, env={**os.environ, "SKILLFORGE_PR_TIMEOUT": "120",
                                                      "SKILLFORGE_PR_MEMORY": "1g"})
    assert out.returncode == 0, out.stderr[-3000:]
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert measured["seconds"] < 60, measured
    assert measured["VmHWM"] < GIB and measured["RUSAGE_CHILDREN"] < GIB, measured
    ws = Workspace(ws_dir)
    assert {r.number: r.stage for r in ws.prs()} == {1: "built", 2: "built", 3: "built"}
    big = ws.pr("acme__big-2").analysis
    assert big.files == ["pkg/data.py"] and big.added_entities == ["pkg/data.py::DATA"]
    assert big.test_functions == ["tests/test_data.py::test_data"] and big.modules == ["pkg.data"]
    built = {c.skill for c in ws.candidates() if c.pr_id == "acme__big-2"}
    assert built == {"localization", "editing", "test_generation", "reproduction", "review"}
    assert [n for n in ws.not_built() if n.pr_id == "acme__big-2"] == []


def test_a_pr_over_its_time_budget_is_dropped_with_a_log(big_history, tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "ws")
    mine_local(ws, big_history, repo_name="acme/big")
    labels = analyze.Analyzer.labels

    def stuck(self, pr, filters=None):  # the worker is forked: it runs this
        if pr.number == 2:
            time.sleep(60)
        return labels(self, pr, filters)

    monkeypatch.setattr(analyze.Analyzer, "labels", stuck)
    started = time.monotonic()
    summary = analyze.run(ws, budget=Budget(seconds=3, memory=GIB))
    assert time.monotonic() - started < 30
    dropped = ws.pr("acme__big-2").outcome
    assert dropped.triage is Triage.OVER_BUDGET and dropped.details["budget"] == "time"
    assert "time budget (3 s)" in dropped.message
    log = Path(dropped.log).read_text()
    assert "over budget: time" in log and "stuck" in log  # the worker's stack when it was stopped
    assert summary.dropped[Triage.OVER_BUDGET] == 1
    assert {r.number: r.stage for r in ws.prs()} == {1: "analyzed", 2: "dropped", 3: "analyzed"}


_OVER_MEMORY = """
import sys
from skillforge.analyze.budget import Budget
from skillforge.mine.local import mine_local
from skillforge.stages import analyze
from skillforge.workspace import Workspace

ws = Workspace(sys.argv[2])
mine_local(ws, sys.argv[1], repo_name="acme/big")
analyze.run(ws, budget=Budget(seconds=120, memory=200 << 20))
"""


def test_a_pr_over_its_memory_budget_is_dropped_with_a_log(big_history, tmp_path):
    """Parsing the 10 MB module takes some 500 MB: with 200 MB, analysis runs out; the others do not.
    In a process of its own, as the CLI runs the stage: a worker forked from a process that has grown
    and freed memory before (the test runner's) inherits room in its heap that its budget, a limit on
    its address space, does not count."""
    out = subprocess.run([sys.executable, "-c", _OVER_MEMORY, str(big_history), str(tmp_path / "ws")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    ws = Workspace(tmp_path / "ws")
    dropped = ws.pr("acme__big-2").outcome
    assert dropped.triage is Triage.OVER_BUDGET and dropped.details["budget"] == "memory"
    assert "memory budget (200 MiB)" in dropped.message
    assert "over budget: memory" in Path(dropped.log).read_text()
    assert {r.number: r.stage for r in ws.prs()} == {1: "analyzed", 2: "dropped", 3: "analyzed"}


def test_a_recursion_limit_is_a_pr_outcome_with_a_log(big_history, tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "ws")
    mine_local(ws, big_history, repo_name="acme/big")
    labels = analyze.Analyzer.labels

    def too_deep(self, pr, filters=None):
        if pr.number == 1:
            raise RecursionError("maximum recursion depth exceeded")
        return labels(self, pr, filters)

    monkeypatch.setattr(analyze.Analyzer, "labels", too_deep)
    analyze.run(ws)
    dropped = ws.pr("acme__big-1").outcome
    assert dropped.triage is Triage.ANALYSIS_ERROR and dropped.message.startswith("RecursionError")
    assert "too_deep" in Path(dropped.log).read_text()  # the traceback
    assert {r.number: r.stage for r in ws.prs()} == {1: "dropped", 2: "analyzed", 3: "analyzed"}


def test_building_over_budget_keeps_the_skills_built_before(big_history, tmp_path):
    ws = Workspace(tmp_path / "ws")
    mine_local(ws, big_history, repo_name="acme/big")
    analyze.run(ws)
    _executed(ws)
    summary = build.run(ws, ValidateConfig(), budget=Budget(seconds=120, memory=200 << 20))
    assert summary.prs == 3 and {r.stage for r in ws.prs()} == {"built"}
    skills = {c.skill for c in ws.candidates() if c.pr_id == "acme__big-2"}
    missing = {n.skill: n.outcome for n in ws.not_built() if n.pr_id == "acme__big-2"}
    assert skills and missing and skills.isdisjoint(missing)  # some built before the budget ran out
    for outcome in missing.values():
        assert outcome.triage is Triage.OVER_BUDGET and "memory budget (200 MiB)" in outcome.message
        assert Path(outcome.log).is_file() and "candidate building" in Path(outcome.log).read_text()
    for pr_id in ("acme__big-1", "acme__big-3"):  # the others go on
        assert {c.skill for c in ws.candidates() if c.pr_id == pr_id} >= {"localization", "editing", "review"}


# --------------------------------------------------------------------------- one of each


@pytest.fixture(scope="module")
def hostile_ws(hostile_history, tmp_path_factory) -> tuple[Workspace, dict]:
    ws = Workspace(tmp_path_factory.mktemp("hostile-ws"))
    mine_local(ws, hostile_history, repo_name="acme/hostile")
    started = time.monotonic()
    seconds: dict[str, float] = {}
    analyze.run(ws, LOOSE)
    seconds["analyze"] = time.monotonic() - started
    _executed(ws)
    started = time.monotonic()
    build.run(ws, ValidateConfig())
    seconds["build"] = time.monotonic() - started
    return ws, seconds


def test_every_hostile_pr_is_kept_with_its_labels(hostile_ws):
    ws, seconds = hostile_ws
    assert {r.number: r.stage for r in ws.prs()} == {n: "built" for n in range(1, 9)}
    assert seconds["analyze"] < 60 and seconds["build"] < 90, seconds  # each PR well within its 120 s
    for r in ws.prs():
        assert {c.skill for c in ws.candidates() if c.pr_id == r.pr_id} >= {"localization", "editing"}
        assert not [n for n in ws.not_built() if n.pr_id == r.pr_id and n.outcome.triage in
                    (Triage.OVER_BUDGET, Triage.BUILD_ERROR)]


def test_a_5000_hunk_patch(hostile_ws):
    ws, _ = hostile_ws
    a = ws.pr("acme__hostile-2").analysis
    assert a.hunks == 5000 and len(a.entities) == 5000 and a.entities[:2] == ["pkg/many.py::f0", "pkg/many.py::f1"]
    mutants = [c.instance for c in ws.candidates(skill="test_generation") if c.pr_id == "acme__hostile-2"]
    assert mutants and mutants[0].mutants  # mutants made, in linear time


def test_1500_nested_defs_keep_every_name(hostile_ws):
    ws, _ = hostile_ws
    added = ws.pr("acme__hostile-3").analysis.added_entities
    assert added == ["pkg/deep.py::" + ".".join(f"f{i}" for i in range(k + 1)) for k in range(1500)]
    changed = ws.pr("acme__hostile-4").analysis  # a change at the bottom of 1,500 levels
    assert changed.entities == ["pkg/nested.py::" + ".".join(f"f{i}" for i in range(1500))]


def test_a_deeply_nested_javascript_file(hostile_ws):
    ws, _ = hostile_ws
    a = ws.pr("acme__hostile-5").analysis
    assert len(a.added_entities) == 5000
    assert a.added_entities[-1] == "web/deep.js::" + ".".join(f"f{i}" for i in range(5000))


def test_symlinks_and_data_under_tests_are_not_test_modules(hostile_ws):
    ws, _ = hostile_ws
    row = ws.pr("acme__hostile-6")
    a = row.analysis
    assert set(a.test_files) == {"tests/test_cases.json", "tests/test_core.py", "tests/test_link.py"}
    assert a.test_functions == ["tests/test_core.py::test_6"]
    ctx = SimpleNamespace(repos=RepoSet(ws))
    assert facts.test_modules(ctx, row.record, a) == ["tests/test_core.py"]


def test_a_megabyte_line_of_code(hostile_ws):
    ws, _ = hostile_ws
    a = ws.pr("acme__hostile-7").analysis
    assert a.added_entities == ["pkg/line.py::big"] and a.test_functions == ["tests/test_line.py::test_big"]
    assert ws.pr("acme__hostile-8").analysis.entities == ["pkg/core.py::add"]  # and the PR after it
