"""The SWE-bench export read by SWE-bench's own harness: 5.x (the ``swebench`` of the test
environment) takes every row as it is; 4.x (installed by the test into a folder of its own)
takes every row once the exported ``swebench_specs.py`` is imported. No Docker: the harness's
test specs and its grading of a test log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workspaces import RECIPE, REPO, build_workspace  # noqa: E402

from skillforge.execution.backend import Environment  # noqa: E402
from skillforge.export.swebench import (  # noqa: E402
    SPECS_FILE, environment_versions, export_swebench, harness4_spec, modified_files, pytest_command,
)
from skillforge.schema import EnvRecipe  # noqa: E402

SWEBENCH4 = "swebench==4.1.0"


@pytest.fixture(params=[False, True], ids=["lists", "json-strings"])
def exported(request, tmp_path) -> Path:
    ws = build_workspace(tmp_path / "ws")
    export_swebench(ws, tmp_path / "out", json_test_lists=request.param)
    return tmp_path / "out"


def test_swebench5_takes_every_row(exported):
    import swebench
    from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT, EvalType
    from swebench.harness.log_parsers import PARSER_REGISTRY
    from swebench.harness.utils import load_swebench_dataset, make_test_spec

    assert swebench.__version__.startswith("5.")
    rows = load_swebench_dataset(str(exported / "train.jsonl"), "train")
    assert [r["instance_id"] for r in rows] == ["acme__calc-7", "acme__calc-9"]
    for row in rows:
        spec = make_test_spec(row)
        assert spec.image == f"skillforge/sweb.eval.{row['instance_id']}:latest"
        assert spec.version == "2024h1-py3.11" and spec.repo == REPO
        assert spec.log_parser in PARSER_REGISTRY and EvalType(spec.eval_type) is EvalType.PASS_AND_FAIL
        assert spec.FAIL_TO_PASS == ["tests/test_ops.py::test_sub_order"]
        script = spec.eval_script
        assert script.startswith("#!/bin/bash\nset -uxo pipefail\ncd /testbed\n")
        start, end = script.index(START_TEST_OUTPUT), script.index(END_TEST_OUTPUT)
        assert "python -m pytest -p no:cacheprovider -rA tests/test_ops.py" in script[start:end]
        assert "git checkout HEAD -- tests/test_ops.py" in script[:start] and script.rstrip().endswith(
            "git checkout HEAD -- tests/test_ops.py")
        assert row["test_patch"].rstrip("\n") in script[:start]  # applied from a heredoc, SWE-bench's way


def test_swebench5_grades_a_pytest_log_of_the_eval_script(exported, tmp_path):
    from swebench.harness.grading import get_eval_report
    from swebench.harness.utils import load_swebench_dataset, make_test_spec

    row = load_swebench_dataset(str(exported / "train.jsonl"), "train")[0]
    spec = make_test_spec(row)

    def log(f2p: str, code: int) -> Path:  # what `bash /eval.sh` prints under set -x, pytest -rA in between
        path = tmp_path / f"{f2p}.txt"
        path.write_text(textwrap.dedent(f"""\
            + : '>>>>> Start Test Output'
            + python -m pytest -p no:cacheprovider -rA tests/test_ops.py
            ============================= test session starts ==============================
            =========================== short test summary info ============================
            {f2p} tests/test_ops.py::test_sub_order
            PASSED tests/test_ops.py::test_keep[7]
            PASSED tests/test_ops.py::test_add
            + SWEBENCH_TEST_EXIT_CODE={code}
            + : '>>>>> End Test Output'
            >>>>> Test Exit Code: {code}
            """))
        return path

    pred = {"instance_id": row["instance_id"], "model_patch": row["patch"], "model_name_or_path": "gold"}
    assert get_eval_report(spec, pred, str(log("PASSED", 0)), True)[row["instance_id"]]["resolved"] is True
    assert get_eval_report(spec, pred, str(log("FAILED", 1)), True)[row["instance_id"]]["resolved"] is False


@pytest.fixture(scope="session")
def swebench4(tmp_path_factory) -> Path:
    """SWE-bench 4.x in a folder of its own (its dependencies are the test environment's, which
    SWE-bench 5.x's requirements cover); on PYTHONPATH it comes before the 5.x installed here."""
    target = tmp_path_factory.mktemp("swebench4")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), SWEBENCH4],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip install {SWEBENCH4} failed:\n{proc.stdout}{proc.stderr}"
    return target


CHECK4 = """
import json, sys
sys.path.insert(0, sys.argv[1])
import swebench
assert swebench.__version__.startswith("4."), swebench.__version__
from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS
from swebench.harness.test_spec.test_spec import make_test_spec
from swebench.harness.utils import load_swebench_dataset
rows = load_swebench_dataset(sys.argv[2], "train")
try:
    make_test_spec(rows[0])
    print("accepted without the specs module")
except KeyError as e:
    print("refused without the specs module:", e)
import swebench_specs
from swebench.harness.grading import MAP_REPO_TO_PARSER
out = []
for row in rows:
    spec = make_test_spec(row)
    out.append({"id": spec.instance_id, "version": spec.version, "language": spec.language,
                "eval": spec.eval_script, "repo_script": spec.install_repo_script, "env": spec.setup_env_script,
                "parser": MAP_REPO_TO_PARSER[spec.repo].__name__})
print(json.dumps(out))
"""


def test_swebench4_takes_every_row_with_the_exported_specs(exported, swebench4, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(swebench4), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run([sys.executable, "-c", CHECK4, str(exported), str(exported / "train.jsonl")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    first, last = proc.stdout.strip().splitlines()[0], proc.stdout.strip().splitlines()[-1]
    assert first.startswith("refused without the specs module")  # what a user met before: a hand-written table
    specs = json.loads(last)
    assert [s["id"] for s in specs] == ["acme__calc-7", "acme__calc-9"]
    for s in specs:
        assert s["version"] == "2024h1-py3.11" and s["language"] == "py" and s["parser"] == "parse_log_pytest"
        assert "conda create -n testbed python=3.11" in s["env"]
        assert "( pip install pytest ) && ( pip install -e . )" in s["repo_script"]
        assert "python -m pytest -p no:cacheprovider -rA tests/test_ops.py" in s["eval"]


def test_the_specs_module_runs_swebench_harness_on_5x(exported, tmp_path):
    """On 5.x, importing the module changes nothing, and running it is the harness's own command line."""
    proc = subprocess.run([sys.executable, str(exported / SPECS_FILE), "--help"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "--dataset_name" in proc.stdout and "--predictions_path" in proc.stdout


def test_versions_read_as_release_lines_or_eras():
    def env(name: str, repo: str = "o/r", python: str = "3.11") -> Environment:
        return Environment(name, repo, EnvRecipe(python=python), "c" * 40)

    facts = {"a": (datetime(2021, 3, 1, tzinfo=timezone.utc), "8.1.3"),
             "b": (datetime(2021, 9, 1, tzinfo=timezone.utc), "8.1.4"),  # the same release line, a later era
             "c": (datetime(2023, 2, 1, tzinfo=timezone.utc), None),
             "d": (datetime(2023, 5, 1, tzinfo=timezone.utc), None),  # the same era and Python as c
             "e": (None, None), "f": (datetime(2023, 5, 1, tzinfo=timezone.utc), None)}
    envs = [env("a"), env("b"), env("c"), env("d"), env("e"), env("f", repo="o/other", python="3.9")]
    versions = environment_versions(envs, lambda e: facts[e.name])
    assert versions == {"a": "8.1-py3.11", "b": "8.1-2021h2-py3.11", "c": "2023h1-py3.11", "d": "2023h1-py3.11-2",
                        "e": "undated-py3.11", "f": "2023h1-py3.9"}


def test_harness4_spec_from_a_recipe():
    recipe = EnvRecipe(python="3.9", system_packages=["less"], install=["sf-install -e '.[tests]'",
                       "if [ -f r.txt ]; then python -m pip install -r r.txt; fi"], pre_test=["make data"],
                       env={"LANG": "C.UTF-8"}, test_cmd="python -m pytest -x")
    spec = harness4_spec(recipe)
    assert spec == {
        "python": "3.9", "test_cmd": "python -m pytest -x -rA",
        "install": "export LANG=C.UTF-8 && ( python -m pip install -e '.[tests]' ) && "
                   "( if [ -f r.txt ]; then python -m pip install -r r.txt; fi )",
        "pre_install": ["apt-get update", "apt-get install -y less"],
        "eval_commands": ["export LANG=C.UTF-8", "( make data )"],
    }
    assert pytest_command(RECIPE) == RECIPE.test_cmd  # -rA already there


def test_modified_files_leave_new_files_out():
    patch = ("diff --git a/new.py b/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+a\n"
             "diff --git a/tests/t.py b/tests/t.py\nindex 1..2 100644\n--- a/tests/t.py\n+++ b/tests/t.py\n"
             "@@ -1 +1 @@\n-a\n+b\n")
    assert modified_files(patch) == ["tests/t.py"]
