"""SWE-bench-format input: re-validate (and harden) an existing dataset.

``validate_instances`` reads rows in SWE-bench's shape (``instance_id``,
``repo``, ``base_commit``, ``patch``, ``test_patch``; optionally ``version``,
``environment_setup_commit``, ``FAIL_TO_PASS``, ``PASS_TO_PASS``, as lists or
as the JSON strings SWE-bench's Hugging Face dataset stores), runs each
instance's tests in Docker before the fix (base + test patch) and after it
(base + patch + test patch), with reruns, and writes every input row back with
``FAIL_TO_PASS`` / ``PASS_TO_PASS`` (lists) computed with SWE-bench's
semantics plus a ``skillforge`` report: status (valid / invalid / error), why,
the log to open, flaky tests, and how the lists agree with the ones the row
came with.

SWE-bench's semantics, as its harness has them:

* the tests run are the files the test patch touches (``swebench_directives``:
  every path of the patch, after the change, except data files with the
  extensions SWE-bench leaves out; files the patch deletes are left out too,
  since pytest refuses a path that does not exist);
* FAIL_TO_PASS: tests that pass after the fix and did not pass before it (a
  test that did not exist or could not be collected before counts as not
  passing); PASS_TO_PASS: tests that pass both times. Tests whose outcome
  varies across reruns are reported as flaky and kept out of both;
* test ids are pytest node ids as SWE-bench's log parser records them from
  ``pytest -rA``: the first whitespace-separated token of the node id
  (``tests/test_x.py::TestC::test_b[p1]``; a parametrized id with a space is
  cut there, as in SWE-bench's own rows).

Environments: instances are grouped by repository and ``environment_setup_commit``
(else ``version``); each group's environment is built at its
``environment_setup_commit`` when given, else at the group's newest
``base_commit``. Its recipe is resolved as the pipeline resolves a repository's:
an explicit recipe, else the recipes directory's variant for that commit, else
inference from the packaging files at that commit: the inferred candidates are
tried in order, each with a smoke run collecting the group's tests, and the first
that works is kept (recorded in the workspace, so a rerun does not infer again).
There is one image per (repository, recipe), as everywhere in skillforge; when a
repository's groups install from different packaging files, each gets its own.

Repositories are clones under ``repos_dir/owner__name``; a missing one is cloned
from ``SKILLFORGE_CLONE_URL_TEMPLATE`` (``{repo}``, ``{owner}``, ``{name}``,
``{slug}``; default ``https://github.com/{repo}.git``). A clone that fails, a
commit that is not in the clone, an environment that does not build: each is an
error row naming its cause and log, never a crash.

Every row that is not valid carries a triage class: those of
``skillforge.execution.triage`` (``patch_apply``, ``collection_error``,
``timeout``, ``test_failure``, ``flaky`` make a row invalid; ``install``,
``image_build``, ``sandbox`` are errors of the machinery), plus ``input``,
``clone``, ``source`` (a commit the clone lacks) and ``recipe`` for what fails
before anything runs. Tests that cannot be collected after the fix because the
environment lacks a module they import are an ``install`` error, not an
invalid instance. Errors are retried on the next run; they never become labels.

State (results per row, the execution cache, environments, logs) lives in a
workspace, by default ``<out without suffix>.skillforge/`` beside the output, so
a killed run resumes: rows already valid or invalid for the same inputs are not
executed again; error rows are retried.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skillforge.settings import Settings
from skillforge.execution import InfraError
from skillforge.gitio import RepoError, RepoHandle
from skillforge.schema import PRFacts, repo_slug
from skillforge.workspace import Workspace
from skillforge.execution.backend import Backend, environment_name

REQUIRED_FIELDS = ("instance_id", "repo", "base_commit", "patch", "test_patch")
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")
"""Extensions SWE-bench's harness drops from a test patch's files before running them (``NON_TEST_EXTS``)."""
CLONE_URL_ENV = "SKILLFORGE_CLONE_URL_TEMPLATE"
DEFAULT_CLONE_URL = "https://github.com/{repo}.git"
REPORT_FIELD = "skillforge"
FINISHED = ("valid", "invalid")

_RESULTS_TABLE = """
CREATE TABLE IF NOT EXISTS swebench_results (
    instance_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL,
    updated_at REAL NOT NULL
)
"""
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}

Progress = Callable[[str, str], None]  # (phase, message)


def _noop(phase: str, message: str) -> None:
    return None


# --------------------------------------------------------------------------- input rows


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
    """Rows of a JSONL file (one object per line; a JSON array file is read too).
    Rows that cannot be used come back with ``error`` set (a line that is not
    JSON, missing fields, malformed test lists, a repeated ``instance_id``)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    rows: list[tuple[int, Any, str | None]] = []
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


_OPTION = re.compile(r"^(.*?)\[(.*)\]$")


def comparable_test_id(test_id: str) -> str:
    """A test id reduced to what two runs on different machines can agree on:
    SWE-bench's cut at whitespace, and a parameter that is an absolute path
    reduced to its last part (as SWE-bench's ``parse_log_pytest_options`` does:
    ``test_x[/tmp/abc/data/f.dcm-data0]`` -> ``test_x[/f.dcm-data0]``)."""
    test_id = swebench_test_id(test_id)
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
              given_p2p: list[str] | None) -> dict[str, Any] | None:
    """Agreement with the lists a row came with (None when it came with none)."""
    if given_f2p is None and given_p2p is None:
        return None
    out: dict[str, Any] = {}
    if given_f2p is not None:
        out["FAIL_TO_PASS"] = compare_lists(f2p, given_f2p)
    if given_p2p is not None:
        out["PASS_TO_PASS"] = compare_lists(p2p, given_p2p)
    out["match"] = all(v["match"] for v in out.values())
    return out


# --------------------------------------------------------------------------- clones


class CloneHandle(RepoHandle):
    """A clone under ``--repos-dir``. Source trees for containers ignore
    ``.gitattributes`` (``export-ignore`` on tests would hide them)."""

    def archive(self, commit: str) -> bytes:
        from skillforge.execution.sandbox import git_tree_tar

        try:
            return git_tree_tar(self.path, commit)
        except InfraError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. an object the clone lacks
            raise InfraError(f"cannot read the tree of {self.name}@{commit} in {self.path} (is the clone "
                             f"complete? git fsck): {type(exc).__name__}: {exc}", triage="source") from exc


def _safe_url(text: str) -> str:
    return re.sub(r"//[^/@\s]+@", "//***@", text)


class Clones:
    """``repos_dir/owner__name`` clones: an existing one is used as it is (a
    bare or a working clone); a missing one is cloned (bare) from the URL
    template; commits a clone lacks are fetched once from its ``origin``."""

    def __init__(self, repos_dir: str | Path, url_template: str | None = None, settings: Settings | None = None):
        self.root = Path(repos_dir).resolve()
        self.url_template = url_template or os.environ.get(CLONE_URL_ENV) or DEFAULT_CLONE_URL
        self._secrets = (settings or Settings.from_env()).secret_values()
        self._handles: dict[str, CloneHandle] = {}
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def path(self, repo: str) -> Path:
        return self.root / repo_slug(repo)

    def url(self, repo: str) -> str:
        owner, _, name = repo.partition("/")
        return self.url_template.format(repo=repo, owner=owner, name=name, slug=repo_slug(repo))

    def _redact(self, text: str) -> str:
        text = _safe_url(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _git(self, cwd: Path | None, *args: str, input: str | None = None, timeout: float = 3600
             ) -> subprocess.CompletedProcess:
        cmd = ["git", *(["-C", str(cwd)] if cwd else []), *args]
        try:
            return subprocess.run(cmd, input=input, capture_output=True, text=True, errors="replace",
                                  env={**os.environ, **_GIT_ENV}, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout:.0f}s")

    def get(self, repo: str) -> CloneHandle:
        """The clone of ``repo``, cloned first when missing; raises ``RepoError``
        (naming the repository, the directory and the URL) when it cannot be had."""
        with self._lock:
            if repo in self._handles:
                return self._handles[repo]
            if repo in self._failed:
                raise RepoError(self._failed[repo])
            path = self.path(repo)
            try:
                if not path.exists():
                    self._clone(repo, path)
                handle = CloneHandle(repo, path)
            except RepoError as exc:
                self._failed[repo] = str(exc)
                raise
            self._handles[repo] = handle
            return handle

    __getitem__ = get

    def _clone(self, repo: str, path: Path) -> None:
        url = self.url(repo)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.cloning-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        proc = self._git(None, "clone", "--bare", "--quiet", url, str(tmp))
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RepoError(f"repository {repo}: no clone at {path}, and cloning {self._redact(url)} failed: "
                            f"{self._redact(proc.stderr.strip())[-500:] or f'git exit {proc.returncode}'}")
        os.replace(tmp, path)

    def missing(self, repo: str, commits: Iterable[str]) -> set[str]:
        """Commits among ``commits`` that the clone lacks, after one fetch from ``origin`` if some were."""
        handle = self.get(repo)
        wanted = [c for c in dict.fromkeys(commits) if c]

        def absent() -> set[str]:
            out = self._git(handle.path, "cat-file", "--batch-check=%(objectname) %(objecttype)",
                            input="".join(f"{c}^{{commit}}\n" for c in wanted)).stdout.splitlines()
            return {c for c, line in zip(wanted, out) if not line.endswith(" commit")}

        gone = absent() if wanted else set()
        if gone and self._git(handle.path, "remote", "get-url", "origin").returncode == 0:
            self._git(handle.path, "fetch", "--quiet", "--no-write-fetch-head", "origin",
                      "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
            gone = absent()
            if gone:
                self._git(handle.path, "fetch", "--quiet", "--no-write-fetch-head", "origin", *sorted(gone))
                gone = absent()
        return gone

    def newest(self, repo: str, commits: Iterable[str]) -> str:
        """The commit with the newest committer date."""
        commits = list(dict.fromkeys(commits))
        if len(commits) == 1:
            return commits[0]
        proc = self._git(self.get(repo).path, "show", "-s", "--format=%H %ct", *commits)
        dates = {}
        for line in proc.stdout.splitlines():
            sha, _, ct = line.partition(" ")
            if ct.strip().isdigit():
                dates[sha] = int(ct)
        full = {c: next((s for s in dates if s.startswith(c)), c) for c in commits}
        return max(commits, key=lambda c: (dates.get(full[c], 0), c))


# --------------------------------------------------------------------------- results


@dataclass
class RowResult:
    """What validation established for one row (stored per instance in the workspace)."""

    status: str  # valid | invalid | error
    reason: str = ""
    triage: str = ""  # skillforge.execution.triage's class (patch_apply, test_failure, install, ...), or input,
    # clone, source, recipe, internal for what fails before any run
    FAIL_TO_PASS: list[str] = field(default_factory=list)
    PASS_TO_PASS: list[str] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)
    test_files: list[str] = field(default_factory=list)
    environment: str = ""
    reruns: int = 0
    log: str = ""  # the file to open first
    log_dir: str = ""
    executed: bool = False  # the tests ran (lists are meaningful)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RowResult":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class SWEBenchOptions:
    workers: int = 0  # test containers at once; 0: sized to the machine (pipeline.default_workers)
    reruns: int = 2
    recipes_dir: Path | None = None
    environments: dict[str, dict] = field(default_factory=dict)  # repo -> explicit environment recipe
    clone_url_template: str | None = None


@dataclass
class SWEBenchSummary:
    rows: int = 0
    valid: int = 0
    invalid: Counter = field(default_factory=Counter)  # reason -> rows
    errors: Counter = field(default_factory=Counter)  # triage -> rows
    resumed: int = 0  # rows finished by an earlier run, not executed again
    executed: int = 0  # rows whose tests ran in this run
    with_given: int = 0  # executed rows that came with FAIL_TO_PASS
    f2p_match: int = 0
    with_given_p2p: int = 0
    p2p_match: int = 0
    disagreeing: list[str] = field(default_factory=list)  # instance ids whose FAIL_TO_PASS differs
    environments: dict[str, str] = field(default_factory=dict)  # name -> "ready" | error
    runs_executed: int = 0
    runs_cached: int = 0
    out: str = ""
    workspace: str = ""
    seconds: float = 0.0

    @property
    def f2p_agreement(self) -> float | None:
        return self.f2p_match / self.with_given if self.with_given else None

    def to_json(self) -> dict:
        data = asdict(self)
        data["invalid"] = dict(self.invalid.most_common())
        data["errors"] = dict(self.errors.most_common())
        data["f2p_agreement"] = self.f2p_agreement
        return data

    def tables(self):
        """Rich tables: rows by outcome (invalid by reason, errors by triage), and agreement."""
        from rich.table import Table

        outcome = Table(title=f"SWE-bench instances ({self.rows})")
        outcome.add_column("status", style="bold")
        outcome.add_column("rows", justify="right")
        outcome.add_column("why", style="dim")
        outcome.add_row("[green]valid[/]", str(self.valid), "")
        for reason, n in self.invalid.most_common():
            outcome.add_row("[yellow]invalid[/]", str(n), reason)
        for triage, n in self.errors.most_common():
            outcome.add_row("[red]error[/]", str(n), triage)
        agree = Table(title="Agreement with the given lists")
        agree.add_column("list", style="bold")
        agree.add_column("rows compared", justify="right")
        agree.add_column("exact match", justify="right")
        agree.add_column("rate", justify="right")
        for name, n, m in (("FAIL_TO_PASS", self.with_given, self.f2p_match),
                           ("PASS_TO_PASS", self.with_given_p2p, self.p2p_match)):
            agree.add_row(name, str(n), str(m), f"{m / n:.0%}" if n else "-")
        return outcome, agree


def default_workspace(out: str | Path) -> Path:
    """``<out without its suffix>.skillforge`` beside the output file."""
    out = Path(out)
    return out.with_name((out.stem or out.name) + ".skillforge")


def output_row(inst: SWEInstance, result: RowResult) -> dict[str, Any]:
    """The input row with our FAIL_TO_PASS / PASS_TO_PASS and the ``skillforge`` report."""
    row = dict(inst.row)
    row["FAIL_TO_PASS"], row["PASS_TO_PASS"] = list(result.FAIL_TO_PASS), list(result.PASS_TO_PASS)
    report: dict[str, Any] = {
        "status": result.status, "reason": result.reason, "triage": result.triage or None,
        "log": result.log or None, "log_dir": result.log_dir or None, "environment": result.environment or None,
        "test_files": result.test_files, "flaky": result.flaky, "reruns": result.reruns,
    }
    given = {k: v for k, v in (("FAIL_TO_PASS", inst.given_fail_to_pass), ("PASS_TO_PASS", inst.given_pass_to_pass))
             if v is not None}
    if given:
        report["given"] = given
    report["agreement"] = (agreement(result.FAIL_TO_PASS, result.PASS_TO_PASS, inst.given_fail_to_pass,
                                     inst.given_pass_to_pass) if result.executed else None)
    row[REPORT_FIELD] = report
    return row


# --------------------------------------------------------------------------- the run


INFERENCE_KEY = "swebench-recipe:"  # workspace meta key (+ repo@reference): the inferred recipe kept
PACKAGING_ENV = "SKILLFORGE_PACKAGING"
"""Set in a recipe (so in its image key) when groups of one repository install from
different packaging files: each then gets an image of its own."""
_PACKAGING_NAMES = {"pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "pipfile", "pipfile.lock", "poetry.lock",
                    "environment.yml", "environment.yaml"}


def packaging_hash(handle: RepoHandle, commit: str) -> str:
    """Short hash of the files an install reads at ``commit``: packaging
    metadata, tox.ini, lock files and requirement / constraint files."""
    digest = hashlib.sha256()
    for path in sorted(handle.files(commit)):
        lower = path.lower()
        if path.count("/") > 2:
            continue
        if lower in _PACKAGING_NAMES or (lower.endswith((".txt", ".in")) and ("requirement" in lower
                                                                              or "constraint" in lower)):
            digest.update(path.encode() + b"\0" + (handle.read(commit, path) or b"") + b"\0")
    return digest.hexdigest()[:12]


_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def missing_module(log_path: str) -> str | None:
    """The module a failed collection could not import, from a run's log."""
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return None
    m = _MISSING_MODULE.search(text)
    return m.group(1) if m else None


@dataclass
class _Group:
    """Rows that share an environment: one repository at one environment commit."""

    repo: str
    env_key: str
    rows: list[SWEInstance]
    reference: str
    candidates: list[Any]  # EnvRecipe: the explicit or recorded one, or the inferred ones in the order to try
    packaging: str
    inferred: bool = True
    recorded: bool = False
    smoke_tests: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.repo + (f" ({self.env_key})" if self.env_key else "")


class SWEBenchValidator:
    """Validation of SWE-bench-format rows in a workspace (see the module docstring)."""

    def __init__(self, ws: Workspace, repos_dir: str | Path, options: SWEBenchOptions | None = None,
                 settings: Settings | None = None, backend: Backend | None = None):
        self.ws = ws
        self.options = options or SWEBenchOptions()
        self.settings = settings or Settings.from_env()
        self.clones = Clones(repos_dir, self.options.clone_url_template, self.settings)
        self.backend = backend or Backend(self.settings, self.clones.get, logs_dir=ws.logs_dir, ws=ws)
        self.ws.execute(_RESULTS_TABLE)
        self._book = None

    # -- state ----------------------------------------------------------------
    def stored(self, instance_id: str) -> tuple[str, RowResult] | None:
        rows = self.ws.query("SELECT key, result FROM swebench_results WHERE instance_id=?", (instance_id,))
        return (rows[0]["key"], RowResult.from_json(json.loads(rows[0]["result"]))) if rows else None

    def store(self, instance_id: str, key: str, result: RowResult) -> None:
        self.ws.execute(
            "INSERT INTO swebench_results(instance_id, key, status, result, updated_at) VALUES(?,?,?,?,?) "
            "ON CONFLICT(instance_id) DO UPDATE SET key=excluded.key, status=excluded.status, "
            "result=excluded.result, updated_at=excluded.updated_at",
            (instance_id, key, result.status, json.dumps(result.to_json()), time.time()))

    def key(self, inst: SWEInstance, environment: str) -> str:
        payload = json.dumps({"repo": inst.repo, "base": inst.base_commit, "patch": inst.patch,
                              "test_patch": inst.test_patch, "env": environment, "reruns": self.options.reruns},
                             sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    # -- environments -----------------------------------------------------------
    def explicit_recipe(self, repo: str, commit: str):
        """The recipe given for the repository (options, then the recipes directory's
        variant whose range holds ``commit``), or None when it must be inferred."""
        from skillforge.environments.recipes import EnvRecipe, git_commit_info, load_recipe_book, select_recipe

        if repo in self.options.environments:
            return EnvRecipe.model_validate(self.options.environments[repo])
        if self._book is None:
            self._book = load_recipe_book(self.options.recipes_dir) if self.options.recipes_dir else {}
        variants = self._book.get(repo)
        if variants:
            return select_recipe(variants, git_commit_info(self.clones.path(repo), commit))
        return None

    def recipe_candidates(self, repo: str, commit: str) -> list:
        """Recipes inferred from the packaging files at ``commit``, in the order to try."""
        from skillforge.environments.recipes import git_commit_info, infer_recipes

        handle = self.clones.get(repo)

        def read(path: str) -> str | None:
            data = handle.read(commit, path)
            return data.decode("utf-8", "replace") if data is not None else None

        return infer_recipes(read, list(handle.files(commit)), commit_date=git_commit_info(handle.path, commit).date)

    def recorded_recipe(self, repo: str, reference: str):
        """The inferred recipe an earlier run kept for this repository and reference commit."""
        from skillforge.environments.recipes import EnvRecipe

        raw = self.ws.get_meta(f"{INFERENCE_KEY}{repo}@{reference}")
        return EnvRecipe.model_validate_json(raw) if raw else None

    def prepare_environment(self, g: "_Group", progress: Progress) -> tuple[str, str]:
        """The group's environment, built (an inferred group tries its candidates,
        each with a smoke run collecting the group's tests, and keeps the first that
        works). Returns (name, how); raises ``InfraError`` with the last failure."""
        from skillforge.stages.validate import EnvJob, run_env_job, smoke_spec
        from skillforge.execution.triage import IMAGE_BUILD

        tried: list[str] = []
        last = None
        for i, recipe in enumerate(g.candidates, 1):
            name = environment_name(g.repo, recipe)
            if name not in self.backend.environments:
                self.backend.define(g.repo, recipe, g.reference)
            smoke = None
            what = "recorded" if g.recorded else "explicit"
            if g.inferred and not g.recorded:
                what = f"inferred: candidate {i} of {len(g.candidates)}, smoke run passed"
                timeout = min(600, recipe.timeout or self.settings.test_timeout)
                smoke = smoke_spec(recipe, g.reference, g.smoke_tests, timeout=timeout)
            progress("env", f"{g.label}: environment {name} (python {recipe.python}) at {g.reference[:12]}"
                            + (f", candidate {i}/{len(g.candidates)}" if smoke else ""))
            try:
                last = run_env_job(self.backend, EnvJob(self.backend.environments[name], smoke))
            except Exception as exc:  # noqa: BLE001 - anything else that fails is this group's error
                raise InfraError(f"environment {name}: {type(exc).__name__}: {exc}", triage=IMAGE_BUILD) from exc
            if last.ok:
                if smoke is not None:
                    self.ws.set_meta(f"{INFERENCE_KEY}{g.repo}@{g.reference}", recipe.model_dump_json())
                return name, what
            tried.append(f"{name}: {last.reason}")
            progress("env", f"{g.label}: {last.reason.split(' (see')[0][:100]}")
        assert last is not None
        detail = "; ".join(tried) if len(tried) > 1 else last.reason
        raise InfraError(f"no environment could be made at {g.reference[:12]}"
                         + (f" ({len(tried)} recipes tried: {detail})" if len(tried) > 1 else f": {detail}"),
                         triage=last.triage or IMAGE_BUILD, log_path=last.log)

    # -- one row ------------------------------------------------------------------
    def execute(self, inst: SWEInstance, environment: str) -> RowResult:
        """The row's tests before and after the fix, through the pipeline's own facts
        job: the same runs, reruns, flaky-test rule and triage as mined PRs get."""
        from skillforge.stages.validate import FactsJob, run_facts_job
        from skillforge.execution.triage import COLLECTION_ERROR, INSTALL

        log_dir = str(self.ws.instance_log_dir(inst.instance_id))
        result = RowResult(status="invalid", environment=environment, log_dir=log_dir, reruns=self.options.reruns)
        tests = tuple(swebench_directives(inst.test_patch))
        result.test_files = list(tests)
        if not tests:
            result.triage = "test_failure"
            result.reason = "test_failure: the test patch touches no file SWE-bench's harness would run"
            return result
        out = run_facts_job(self.backend, FactsJob(inst.instance_id, environment, inst.base_commit, inst.patch,
                                                   inst.test_patch, tests, self.options.reruns))
        result.triage, result.reason = out.triage or "", out.reason
        logs = [r["log"] for r in out.runs if r.get("log")]
        after = [r["log"] for r in out.runs if r.get("log") and r.get("label") == "after"]
        result.log = (after or logs or [""])[-1] or ""
        if m := re.search(r" \(see ([^()]+)\)$", out.reason):
            result.log = m.group(1)
        if out.status == "error":
            result.status = "error"
            return result
        if out.facts is not None:
            facts = PRFacts.model_validate(out.facts)
            result.FAIL_TO_PASS, result.PASS_TO_PASS = swebench_lists(facts.FAIL_TO_PASS, facts.PASS_TO_PASS,
                                                                      facts.flaky)
            result.flaky, result.reruns, result.executed = list(facts.flaky), facts.reruns, True
        if out.status == "executed":
            result.status, result.triage, result.reason = ("valid", "", "") if result.FAIL_TO_PASS else (
                "invalid", "test_failure", f"test_failure: no FAIL_TO_PASS test (see {result.log})")
            return result
        module = missing_module(result.log) if out.triage == COLLECTION_ERROR else None
        if module:  # the environment, not the instance, is at fault: an error, retried on the next run
            result.status, result.triage = "error", INSTALL
            result.reason = (f"{INSTALL}: the environment lacks module {module!r}, so the tests cannot be collected "
                             f"after the fix (give the repository a recipe that installs it) (see {result.log})")
        return result

    def _execute_safely(self, inst: SWEInstance, environment: str) -> RowResult:
        """``execute``; an unexpected failure is this row's error, never the run's end."""
        try:
            return self.execute(inst, environment)
        except Exception as exc:  # noqa: BLE001
            log_dir = str(self.ws.logs_dir / inst.instance_id)
            return RowResult(status="error", triage="internal", environment=environment, log_dir=log_dir,
                             reason=f"internal: {type(exc).__name__}: {str(exc)[:500]} (logs under {log_dir})")

    # -- everything ---------------------------------------------------------------
    def run(self, instances: list[SWEInstance], progress: Progress = _noop
            ) -> tuple[dict[str, RowResult], SWEBenchSummary]:
        summary = SWEBenchSummary(rows=len(instances), workspace=str(self.ws.root))
        results: dict[str, RowResult] = {}
        lock = threading.Lock()

        def record(inst: SWEInstance, key: str, result: RowResult) -> None:
            if key:
                self.store(inst.instance_id, key, result)
            with lock:
                results[inst.instance_id] = result
            progress("validate", f"{inst.instance_id}: {result.status}"
                                 + (f" ({result.reason.split(' (see')[0][:60]})" if result.reason else ""))

        def fail_all(rows: list[SWEInstance], triage: str, message: str, log: str = "") -> None:
            for inst in rows:
                reason = f"{triage}: {message}" + (f" (see {log})" if log else "")
                record(inst, "", RowResult(status="error", triage=triage, reason=reason, log=log))

        groups: dict[tuple[str, str], list[SWEInstance]] = {}
        for inst in instances:
            if inst.error:
                record(inst, "", RowResult(status="error", triage="input", reason=f"input: {inst.error}"))
            else:
                groups.setdefault(inst.group, []).append(inst)

        # 1. every group's clone, reference commit and recipe
        planned: list[_Group] = []
        for (repo, env_key), rows in sorted(groups.items()):
            try:
                gone = self.clones.missing(repo, [r.base_commit for r in rows]
                                           + [r.environment_setup_commit or "" for r in rows])
            except RepoError as exc:
                fail_all(rows, "clone", str(exc))
                continue
            where = self.clones.path(repo)
            for inst in [r for r in rows if r.base_commit in gone]:
                record(inst, "", RowResult(status="error", triage="source", reason=(
                    f"source: base_commit {inst.base_commit} is not in the clone {where} (fetching from its "
                    f"origin did not bring it); update the clone")))
            rows = [r for r in rows if r.base_commit not in gone]
            if not rows:
                continue
            setup = rows[0].environment_setup_commit
            if setup and setup in gone:
                fail_all(rows, "source", f"environment_setup_commit {setup} is not in the clone {where}")
                continue
            reference = setup or ""
            try:
                reference = reference or self.clones.newest(repo, [r.base_commit for r in rows])
                handle = self.clones.get(repo)
                packaging = packaging_hash(handle, reference)
                explicit = self.explicit_recipe(repo, reference)
                recorded = None if explicit else self.recorded_recipe(repo, reference)
                candidates = [explicit or recorded] if (explicit or recorded) else self.recipe_candidates(repo,
                                                                                                          reference)
                present = set(handle.files(reference))
            except Exception as exc:  # noqa: BLE001 - a repository that cannot be read is one group's error
                fail_all(rows, "recipe", f"no environment recipe for {repo} at {reference[:12] or '?'} "
                                         f"(clone {where}): {type(exc).__name__}: {str(exc)[:500]}")
                continue
            smoke = sorted({t for r in rows for t in swebench_directives(r.test_patch) if t in present})
            planned.append(_Group(repo, env_key, rows, reference, candidates, packaging, inferred=explicit is None,
                                  recorded=recorded is not None, smoke_tests=smoke))
        # 2. a repository whose groups install from different packaging files gets an image per packaging
        #    (one image per repository and recipe otherwise: the same recipe at two versions would share one)
        hashes: dict[str, set[str]] = {}
        for g in planned:
            hashes.setdefault(g.repo, set()).add(g.packaging)
        for g in planned:
            if len(hashes[g.repo]) > 1:
                g.candidates = [c if c.env.get(PACKAGING_ENV) == g.packaging else
                                c.model_copy(update={"env": {**c.env, PACKAGING_ENV: g.packaging}})
                                for c in g.candidates]
        # 3. rows not finished by an earlier run, executed once their environment is ready
        futures: list[Future] = []
        from skillforge.stages.validate import default_workers

        workers = self.options.workers if self.options.workers > 0 else default_workers(self.settings)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for g in planned:
                # the environment is known when there is one candidate (explicit, or kept by an earlier run)
                known = environment_name(g.repo, g.candidates[0]) if len(g.candidates) == 1 else None
                pending = []
                for inst in g.rows:
                    done = self.stored(inst.instance_id) if known else None
                    if done and done[0] == self.key(inst, known) and done[1].status in FINISHED:
                        summary.resumed += 1
                        with lock:
                            results[inst.instance_id] = done[1]
                    else:
                        pending.append(inst)
                if not pending:
                    summary.environments.setdefault(known, "ready (not needed: every row resumed)")
                    continue
                try:
                    name, how = self.prepare_environment(g, progress)
                except InfraError as exc:
                    from skillforge.execution.triage import infra_class

                    triage = infra_class(exc)
                    names = sorted({environment_name(g.repo, c) for c in g.candidates})
                    for n in names:
                        summary.environments[n] = f"{triage}: {str(exc)[:1000]}"
                    fail_all(pending, triage, f"{g.label}: {str(exc)[:1500]}", exc.log_path or "")
                    continue
                summary.environments[name] = f"ready ({how})"
                for inst in pending:
                    key = self.key(inst, name)
                    futures.append(pool.submit(lambda i=inst, k=key, n=name: record(i, k, self._execute_safely(i, n))))
            for fut in futures:
                fut.result()
        summary.executed = len(futures)
        for inst in instances:
            r = results[inst.instance_id]
            if r.status == "valid":
                summary.valid += 1
            elif r.status == "invalid":
                summary.invalid[r.reason.split(" (see")[0]] += 1
            else:
                summary.errors[r.triage or "error"] += 1
            if r.executed and inst.given_fail_to_pass is not None:
                summary.with_given += 1
                if compare_lists(r.FAIL_TO_PASS, inst.given_fail_to_pass)["match"]:
                    summary.f2p_match += 1
                else:
                    summary.disagreeing.append(inst.instance_id)
            if r.executed and inst.given_pass_to_pass is not None:
                summary.with_given_p2p += 1
                summary.p2p_match += compare_lists(r.PASS_TO_PASS, inst.given_pass_to_pass)["match"]
        if futures:
            summary.runs_executed = self.backend.executor.misses
            summary.runs_cached = self.backend.executor.hits
        return results, summary


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


def validate_instances(instances: str | Path, repos_dir: str | Path, out: str | Path, *,
                       workspace: str | Path | None = None, options: SWEBenchOptions | None = None,
                       settings: Settings | None = None, progress: Progress = _noop) -> SWEBenchSummary:
    """Validate every row of ``instances`` (SWE-bench format) and write them, with
    FAIL_TO_PASS / PASS_TO_PASS and the ``skillforge`` report, to ``out`` (JSONL);
    the summary goes to ``<out>.summary.json`` beside it. State and logs live in
    ``workspace`` (default: ``default_workspace(out)``), so a rerun resumes."""
    started = time.monotonic()
    out = Path(out)
    rows = read_instances(instances)
    ws = Workspace(workspace or default_workspace(out))
    try:
        validator = SWEBenchValidator(ws, repos_dir, options, settings)
        results, summary = validator.run(rows, progress)
        write_jsonl(out, (output_row(inst, results[inst.instance_id]) for inst in rows))
        summary.out = str(out)
        summary.seconds = round(time.monotonic() - started, 1)
        summary_path(out).write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    finally:
        ws.close()
    return summary
