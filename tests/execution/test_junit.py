"""Golden tests: JUnit files written by real pytest runs over
tests/fixtures/junit/project (files named check_*.py so that this suite does
not collect them), with the expected outcomes as JSON next to them.

Regenerate the XML with ``python tests/execution/test_junit.py``; the expected
JSON files are written by hand.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skillforge.execution.junit import node_id, parse_junit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "junit"
PROJECT = FIXTURES / "project"

# name -> (pytest arguments, junit family)
RUNS = {
    "basic.xunit1": (["check_basic.py", "pkg"], "xunit1"),
    "collect_error.xunit1": (["check_collect_error.py", "check_basic.py::test_pass"], "xunit1"),
    "continue_collect.xunit1": (["--continue-on-collection-errors", "check_collect_error.py", "pkg"], "xunit1"),
    "subset.xunit2": (["pkg", "check_basic.py::TestGroup"], "xunit2"),
}


def run_pytest(workdir: Path, args: list[str], family: str, out: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={out}",
         "-o", f"junit_family={family}", *args],
        cwd=workdir, capture_output=True, text=True, env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.is_file(), f"pytest wrote no JUnit file for {args}"


def generate(dest: Path, workdir: Path) -> None:
    shutil.copytree(PROJECT, workdir, dirs_exist_ok=True)
    for name, (args, family) in RUNS.items():
        out = dest / f"{name}.xml"
        run_pytest(workdir, args, family, out)
        out.write_text(out.read_text().replace(f"{workdir}/", ""))  # no temporary paths in golden files
    # two runs merged into one <testsuites> document, as CI tools do
    first = (dest / "subset.xunit2.xml").read_text()
    second = (dest / "collect_error.xunit1.xml").read_text()

    def suites(text: str) -> str:
        body = text.split("<testsuites", 1)[1]
        return body.split(">", 1)[1].rsplit("</testsuites>", 1)[0]

    (dest / "multi_suite.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites>' + suites(first) + suites(second) + "</testsuites>")


def expected(name: str) -> dict[str, str]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


@pytest.mark.parametrize("name", [*RUNS, "multi_suite"])
def test_golden(name):
    xml = (FIXTURES / f"{name}.xml").read_text()
    known = [str(p.relative_to(PROJECT)) for p in PROJECT.rglob("*.py")]
    assert parse_junit(xml, known_files=known) == expected(name)


def test_current_pytest_matches_golden(tmp_path):
    """The pytest installed here still writes what the golden files expect."""
    out = tmp_path / "out"
    out.mkdir()
    generate(out, tmp_path / "project")
    known = [str(p.relative_to(PROJECT)) for p in PROJECT.rglob("*.py")]
    for name in [*RUNS, "multi_suite"]:
        assert parse_junit((out / f"{name}.xml").read_text(), known_files=known) == expected(name), name


def test_node_id_rules():
    assert node_id("tests.test_x", "test_a", "tests/test_x.py") == "tests/test_x.py::test_a"
    assert node_id("tests.test_x.TestC", "test_b", "tests/test_x.py") == "tests/test_x.py::TestC::test_b"
    assert node_id("tests.test_x.TestC.TestD", "test_p[1-2]", "tests/test_x.py") == \
        "tests/test_x.py::TestC::TestD::test_p[1-2]"
    # collection error of a whole file
    assert node_id("", "tests.test_bad", "tests/test_bad.py") == "tests/test_bad.py"
    # no file attribute (xunit2): known files, then the capitalisation guess
    assert node_id("tests.test_x.TestC", "test_b", None, ["tests/test_x.py"]) == "tests/test_x.py::TestC::test_b"
    assert node_id("a.b.test_x.TestC", "test_b[x.y]", None) == "a/b/test_x.py::TestC::test_b[x.y]"
    # directory names with dots are resolved through the file attribute
    assert node_id("tests.v1.2.test_x", "test_a", "tests/v1.2/test_x.py") == "tests/v1.2/test_x.py::test_a"
    # inherited test whose definition lives in another file
    assert node_id("tests.test_child.TestChild", "test_base", "tests/base.py",
                   ["tests/base.py", "tests/test_child.py"]) == "tests/test_child.py::TestChild::test_base"


def test_setup_error_and_xfail_inline():
    xml = """<?xml version="1.0"?><testsuites><testsuite name="pytest">
    <testcase classname="t.test_m" name="test_a" file="t/test_m.py" line="1"/>
    <testcase classname="t.test_m" name="test_b" file="t/test_m.py" line="2">
      <error message="failed on setup with &quot;E&quot;">trace</error></testcase>
    <testcase classname="t.test_m" name="test_c" file="t/test_m.py" line="3">
      <skipped type="pytest.xfail" message="bug"/></testcase>
    <testcase classname="t.test_m" name="test_d" file="t/test_m.py" line="4">
      <failure message="assert">x</failure></testcase>
    <testcase classname="t.test_m" name="test_d" file="t/test_m.py" line="4">
      <error message="failed on teardown">x</error></testcase>
    </testsuite></testsuites>"""
    assert parse_junit(xml) == {"t/test_m.py::test_a": "passed", "t/test_m.py::test_b": "error",
                                "t/test_m.py::test_c": "skipped", "t/test_m.py::test_d": "failed"}


def test_single_testsuite_root_and_bytes():
    xml = b'<testsuite><testcase classname="test_m" name="test_a" file="test_m.py"/></testsuite>'
    assert parse_junit(xml) == {"test_m.py::test_a": "passed"}


@pytest.mark.parametrize("text", ["", "not xml", "<html></html>",
                                  '<!DOCTYPE x [<!ENTITY a "aaaa">]><testsuites>&a;</testsuites>'])
def test_rejects_garbage(text):
    with pytest.raises(ValueError):
        parse_junit(text)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        generate(FIXTURES, Path(tmp) / "project")
    print(f"regenerated JUnit files under {FIXTURES}; check the *.expected.json files by hand")
