"""SWE-bench-format rows in and out, with SWE-bench's own rules.

Input rows (``read_instances``) carry ``instance_id``, ``repo``,
``base_commit``, ``patch``, ``test_patch`` and optionally ``version``,
``environment_setup_commit``, ``FAIL_TO_PASS``, ``PASS_TO_PASS`` (as lists or
as the JSON strings SWE-bench's Hugging Face dataset stores).

SWE-bench's semantics, as its harness has them:

* the tests run are the files the test patch touches (``swebench_directives``:
  every path of the patch, after the change, except data files with the
  extensions SWE-bench leaves out; files the patch deletes are left out too,
  since pytest refuses a path that does not exist);
* FAIL_TO_PASS: tests that pass after the fix and did not pass before it;
  PASS_TO_PASS: tests that pass both times; flaky tests are in neither;
* test ids are pytest node ids as SWE-bench's log parser records them from
  ``pytest -rA``: the first whitespace-separated token of the node id.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TYPE_CHECKING

if TYPE_CHECKING:
    from skillforge.swebench.validate import RowResult

REQUIRED_FIELDS = ("instance_id", "repo", "base_commit", "patch", "test_patch")
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")
"""Extensions SWE-bench's harness drops from a test patch's files before running them (``NON_TEST_EXTS``)."""
REPORT_FIELD = "skillforge"
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass
class SWEInstance:
    """One input row, as read, with its fields checked."""

    line: int
    row: dict[str, Any]
    instance_id: str
    repo: str = ""
    base_commit: str = ""
    patch: str = ""
    test_patch: str = ""
    version: str | None = None
    environment_setup_commit: str | None = None
    given_fail_to_pass: list[str] | None = None
    given_pass_to_pass: list[str] | None = None
    error: str | None = None  # what is wrong with the row; such a row is reported, never run

    @property
    def group(self) -> tuple[str, str]:
        """(repository, environment key): rows of one group share an environment."""
        if self.environment_setup_commit:
            return self.repo, f"setup:{self.environment_setup_commit}"
        if self.version:
            return self.repo, f"version:{self.version}"
        return self.repo, ""


def parse_test_list(value: Any, what: str) -> list[str] | None:
    """A FAIL_TO_PASS / PASS_TO_PASS value: a list of strings, or the JSON
    string of one (SWE-bench's Hugging Face rows); None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what} is a string but not a JSON list: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError(f"{what} must be a list of test ids (or its JSON string), got {type(value).__name__}")
    return list(value)


def parse_row(row: Any, line: int) -> SWEInstance:
    """One row -> ``SWEInstance``; a row that cannot be used gets ``error`` set."""
    if not isinstance(row, dict):
        return SWEInstance(line, {"_row": row}, f"line-{line}", error=f"line {line}: not a JSON object")
    iid = row.get("instance_id")
    inst = SWEInstance(line, row, iid if isinstance(iid, str) and iid.strip() else f"line-{line}")
    missing = [f for f in REQUIRED_FIELDS if not isinstance(row.get(f), str) or not row.get(f).strip()]
    # an empty gold patch is a row like any other (it validates as having no FAIL_TO_PASS)
    missing = [f for f in missing if not (f == "patch" and isinstance(row.get(f), str))]
    if missing:
        inst.error = f"line {line}: missing or empty {', '.join(missing)}"
        return inst
    inst.repo = row["repo"].strip()
    if not _REPO_RE.match(inst.repo):
        inst.error = f"line {line}: repo must be owner/name, got {inst.repo!r}"
        return inst
    inst.base_commit = row["base_commit"].strip()
    inst.patch, inst.test_patch = row["patch"], row["test_patch"]
    version = row.get("version")
    inst.version = str(version) if version not in (None, "") else None
    esc = row.get("environment_setup_commit")
    inst.environment_setup_commit = esc.strip() if isinstance(esc, str) and esc.strip() else None
    try:
        inst.given_fail_to_pass = parse_test_list(row.get("FAIL_TO_PASS"), "FAIL_TO_PASS")
        inst.given_pass_to_pass = parse_test_list(row.get("PASS_TO_PASS"), "PASS_TO_PASS")
    except ValueError as exc:
        inst.error = f"line {line}: {exc}"
    return inst


def read_instances(path: str | Path) -> list[SWEInstance]:
    """Rows of a JSONL file (one object per line; a JSON array file and a parquet file -- as the Hub
    serves SWE-bench -- are read too). Rows that cannot be used come back with ``error`` set (a line
    that is not JSON, missing fields, malformed test lists, a repeated ``instance_id``); a file that is
    none of these raises ``ValueError`` saying so."""
    path = Path(path)
    rows: list[tuple[int, Any, str | None]] = []
    with path.open("rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        import pyarrow.parquet as pq  # a dependency of datasets

        try:
            table = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
            raise ValueError(f"{path}: not a readable parquet file ({exc})") from None
        return _parse_rows(path, [(i + 1, r, None) for i, r in enumerate(table.to_pylist())])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: neither JSONL (UTF-8) nor parquet (byte {exc.start} is not UTF-8)") from None
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a JSON array ({exc}); give one JSON object per line") from None
        rows = [(i + 1, r, None) for i, r in enumerate(data)]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line), None))
            except json.JSONDecodeError as exc:
                rows.append((n, None, f"line {n}: not valid JSON ({exc})"))
    return _parse_rows(path, rows)


def _parse_rows(path: Path, rows: list[tuple[int, Any, str | None]]) -> list[SWEInstance]:
    out: list[SWEInstance] = []
    seen: dict[str, int] = {}
    for n, row, problem in rows:
        if problem:
            out.append(SWEInstance(n, {}, f"line-{n}", error=problem))
            continue
        inst = parse_row(row, n)
        if inst.instance_id in seen:
            inst.error = f"line {n}: instance_id {inst.instance_id} repeats line {seen[inst.instance_id]}"
            inst.instance_id = f"{inst.instance_id}@line-{n}"
        else:
            seen[inst.instance_id] = n
        out.append(inst)
    return out


# --------------------------------------------------------------------------- SWE-bench's rules


def swebench_directives(test_patch: str) -> list[str]:
    """The paths SWE-bench's harness hands to the test runner: every file of the
    test patch (its path after the change) except data files (``NON_TEST_EXTS``);
    files the patch deletes are left out."""
    from skillforge.analyze.patch import parse_patch

    out: list[str] = []
    for fd in parse_patch(test_patch):
        if fd.new_path is None:  # deleted: pytest refuses a path that does not exist
            continue
        if any(fd.new_path.endswith(ext) for ext in NON_TEST_EXTS):
            continue
        if fd.new_path not in out:
            out.append(fd.new_path)
    return out


def swebench_test_id(node_id: str) -> str:
    """A pytest node id as SWE-bench's log parser records it from ``pytest -rA``
    (``line.split()[1]``): cut at the first whitespace."""
    parts = node_id.split()
    return parts[0] if parts else node_id


_ESCAPED_SPACE = re.compile(r"\\([ntr])")
_SPACES = {"n": "\n", "t": "\t", "r": "\r"}
_OPTION = re.compile(r"^(.*?)\[(.*)\]$")


def comparable_test_id(test_id: str) -> str:
    """A test id reduced to what two runs on different machines can agree on:
    pytest's escapes of whitespace in parametrize ids read back (a JUnit node id says
    ``\\n`` where a ``-rA`` log line holds a newline), SWE-bench's cut at whitespace,
    and a parameter that is an absolute path reduced to its last part (as SWE-bench's
    ``parse_log_pytest_options`` does: ``test_x[/tmp/abc/data/f.dcm-data0]`` ->
    ``test_x[/f.dcm-data0]``)."""
    test_id = swebench_test_id(_ESCAPED_SPACE.sub(lambda m: _SPACES[m.group(1)], test_id))
    m = _OPTION.match(test_id)
    if m:
        main, option = m.groups()
        if option.startswith("/") and not option.startswith("//") and "*" not in option:
            option = "/" + option.split("/")[-1]
        test_id = f"{main}[{option}]"
    return test_id


def swebench_lists(f2p: Iterable[str], p2p: Iterable[str], flaky: Iterable[str]) -> tuple[list[str], list[str]]:
    """FAIL_TO_PASS / PASS_TO_PASS in SWE-bench's ids. Node ids that SWE-bench's
    cut makes one id form a group: a group with a flaky member is in neither list,
    one with a FAIL_TO_PASS member is FAIL_TO_PASS, one of PASS_TO_PASS members only
    is PASS_TO_PASS."""
    kinds: dict[str, set[str]] = {}
    for kind, ids in (("f2p", f2p), ("p2p", p2p), ("flaky", flaky)):
        for t in ids:
            kinds.setdefault(swebench_test_id(t), set()).add(kind)
    out_f2p = sorted(t for t, k in kinds.items() if "flaky" not in k and "f2p" in k)
    out_p2p = sorted(t for t, k in kinds.items() if k == {"p2p"})
    return out_f2p, out_p2p


def compare_lists(ours: list[str], theirs: list[str]) -> dict[str, Any]:
    """How a computed list agrees with a given one (ids compared with
    ``comparable_test_id``): both, only ours, only theirs, and exact match."""
    ours_by = {comparable_test_id(t): t for t in ours}
    theirs_by = {comparable_test_id(t): t for t in theirs}
    both = sorted(ours_by[k] for k in ours_by.keys() & theirs_by.keys())
    only_ours = sorted(ours_by[k] for k in ours_by.keys() - theirs_by.keys())
    only_theirs = sorted(theirs_by[k] for k in theirs_by.keys() - ours_by.keys())
    return {"match": not only_ours and not only_theirs, "both": both, "only_ours": only_ours,
            "only_theirs": only_theirs}


def agreement(f2p: list[str], p2p: list[str], given_f2p: list[str] | None,
              given_p2p: list[str] | None, excluded: Iterable[str] = ()) -> dict[str, Any] | None:
    """Agreement with the lists a row came with (None when it came with none). ``excluded``: tests kept
    out of both lists on purpose (they need the network): left out of the given lists too."""
    if given_f2p is None and given_p2p is None:
        return None
    gone = {comparable_test_id(t) for t in excluded}
    if gone:
        given_f2p = None if given_f2p is None else [t for t in given_f2p if comparable_test_id(t) not in gone]
        given_p2p = None if given_p2p is None else [t for t in given_p2p if comparable_test_id(t) not in gone]
    out: dict[str, Any] = {}
    if given_f2p is not None:
        out["FAIL_TO_PASS"] = compare_lists(f2p, given_f2p)
    if given_p2p is not None:
        out["PASS_TO_PASS"] = compare_lists(p2p, given_p2p)
    out["match"] = all(v["match"] for v in out.values())
    return out



# --------------------------------------------------------------------------- output


def default_workspace(out: str | Path) -> Path:
    """``<out without its suffix>.skillforge`` beside the output file."""
    out = Path(out)
    return out.with_name((out.stem or out.name) + ".skillforge")


def output_row(inst: SWEInstance, result: "RowResult") -> dict[str, Any]:
    """The input row with our FAIL_TO_PASS / PASS_TO_PASS and the ``skillforge`` report."""
    row = dict(inst.row)
    row["FAIL_TO_PASS"], row["PASS_TO_PASS"] = list(result.FAIL_TO_PASS), list(result.PASS_TO_PASS)
    report: dict[str, Any] = {
        "status": result.status, "reason": result.outcome.render() if result.outcome else "",
        "triage": result.outcome.triage.value if result.outcome and result.outcome.triage else None,
        "log": result.log or None, "log_dir": result.log_dir or None, "environment": result.environment or None,
        "test_files": result.test_files, "flaky": result.flaky, "reruns": result.reruns,
    }
    given = {k: v for k, v in (("FAIL_TO_PASS", inst.given_fail_to_pass), ("PASS_TO_PASS", inst.given_pass_to_pass))
             if v is not None}
    if given:
        report["given"] = given
    report["agreement"] = (agreement(result.FAIL_TO_PASS, result.PASS_TO_PASS, inst.given_fail_to_pass,
                                     inst.given_pass_to_pass, result.needs_network) if result.executed else None)
    if result.needs_network:
        report["needs_network"] = list(result.needs_network)
    row[REPORT_FIELD] = report
    return row


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Written beside, then moved into place: a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def summary_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name((out.stem or out.name) + ".summary.json")
