"""The analysis stage: every mined PR gets its labels, or is dropped with a reason.

Filters, in the order they are applied (the first that applies names the reason):

1. ``decontaminated (listed in FILE)`` -- the PR is on the decontamination list
   (:class:`.hygiene.Decontamination`); PRs analyzed or validated by an earlier
   run are dropped too, and their candidates marked invalid;
2. ``repository unavailable: ...`` / ``analysis failed: ...``;
3. ``binary-only change``, ``no code change``;
4. ``trivial change`` -- every code file's change is whitespace, comments,
   docstrings or a version bump, by syntax trees (:mod:`.trivial`);
5. ``no test change``, ``no linked issue`` (with ``require_issue``), ``too large``;
6. ``near-duplicate of <pr_id>`` -- the code patch is (nearly) the same as that
   of a PR kept before it (:class:`.hygiene.NearDuplicates`).

Every file of a PR is parsed once; each commit's tree is listed once (the base
of one PR is usually the merge of the one before: recent trees are kept).
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from skillforge.gitio import RepoError
from skillforge.schema import Analysis, PullRecord
from skillforge.workspace import Workspace
from skillforge.analyze.hygiene import Decontamination, NearDuplicates

TRIVIAL = "trivial change"
_SEE_LOG = re.compile(r" \(see [^()]*\)$")
# the files load_test_config reads
_CONFIG_FILES = ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "pyproject.toml", "tox.ini", "setup.cfg")
NEAR_DUPLICATE = "near-duplicate of "


@dataclass
class Filters:
    max_files: int = 20
    max_code_lines: int = 1500
    require_issue: bool = False
    decontaminate: str | Path | None = None  # a decontamination list (see .hygiene)
    drop_trivial: bool = True
    near_duplicate_threshold: float | None = 0.85  # Jaccard similarity of code patches; None keeps duplicates


@dataclass
class AnalyzeSummary:
    analyzed: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason (near-duplicates grouped) -> PRs
    trivial: Counter = field(default_factory=Counter)  # whitespace | comments | docstrings | version bump -> PRs
    near_duplicates: dict[str, str] = field(default_factory=dict)  # dropped PR -> the PR it duplicates
    decontaminated: list[str] = field(default_factory=list)  # PRs excluded by the decontamination list
    decontamination_listed: int = 0  # entries in the list


def reason_group(reason: str) -> str:
    """A drop reason without its per-PR detail (what summaries count): the PR a
    near-duplicate repeats, the error of a failed analysis, the log to open."""
    if reason.startswith(NEAR_DUPLICATE):
        return "near-duplicate"
    for prefix in ("analysis failed", "repository unavailable"):
        if reason.startswith(prefix):
            return prefix
    return _SEE_LOG.sub("", reason)


def drop_reason(pr: PullRecord, a: Analysis, filters: Filters, trivial: str | None = None) -> str | None:
    if a.changes and all(c.binary for c in a.changes):
        return "binary-only change"
    if not a.files:
        return "no code change"
    if trivial is not None and filters.drop_trivial:
        return TRIVIAL
    if not a.test_files:
        return "no test change"
    if not pr.issues and filters.require_issue:
        return "no linked issue"
    if len(a.files) + len(a.test_files) > filters.max_files or a.code_lines > filters.max_code_lines:
        return "too large"
    return None


class Analyzer:
    """Labels of mined PRs read straight from their repositories: one ``git
    ls-tree`` per commit (recent trees kept), blobs through one persistent
    ``git cat-file --batch`` per repository."""

    def __init__(self, ws: Workspace, keep_trees: int = 4):
        self.ws = ws
        self.keep_trees = keep_trees
        self._repos: dict[str, object] = {}
        self._trees: OrderedDict[tuple[str, str], object] = OrderedDict()
        self._configs: dict[tuple, object] = {}

    def repo(self, name: str):
        import git

        if name not in self._repos:
            location = self.ws.repo_location(name)
            if not location:
                raise RepoError(f"repository {name} has no local clone recorded in the workspace; mine it first")
            try:
                self._repos[name] = git.Repo(location)
            except (git.NoSuchPathError, git.InvalidGitRepositoryError) as e:
                raise RepoError(f"repository {name}: {location} is not a git repository") from e
        return self._repos[name]

    def tree(self, repo: str, commit: str):
        from skillforge.analyze import GitTree

        key = (repo, commit)
        got = self._trees.get(key)
        if got is None:
            got = self._trees[key] = GitTree(self.repo(repo), commit)
            while len(self._trees) > self.keep_trees:
                self._trees.popitem(last=False)
        else:
            self._trees.move_to_end(key)
        return got

    def labels(self, pr: PullRecord):
        from skillforge.analyze import analyze_change_labels
        from skillforge.analyze.split import load_test_config

        old = self.tree(pr.repo, pr.base_commit)
        new = self.tree(pr.repo, pr.merge_commit)
        files = list(dict.fromkeys([*old.paths, *new.paths]))
        # the pytest configuration, read again only when one of its files changed
        key = (pr.repo, tuple(new.entries.get(name) for name in _CONFIG_FILES))
        config = self._configs.get(key)
        if config is None:
            config = self._configs[key] = load_test_config(new.read_text)
        return analyze_change_labels(pr.patch, old.read, new.read, files, config)

    def close(self) -> None:
        for repo in self._repos.values():
            repo.close()
        self._repos.clear()
        self._trees.clear()


def analyze_pr(ws: Workspace, pr: PullRecord) -> Analysis:
    """The labels of one mined PR of a workspace."""
    analyzer = Analyzer(ws)
    try:
        return analyzer.labels(pr).analysis
    finally:
        analyzer.close()


def _drop_listed(ws: Workspace, decon: Decontamination, summary: AnalyzeSummary) -> None:
    """PRs an earlier run kept that the list names: dropped, and their candidates invalid."""
    kept = [r for stage in ("analyzed", "executed", "built") for r in ws.prs(stage=stage)]
    listed = {r["pr_id"] for r in kept if (r["repo"], r["number"]) in decon}
    if not listed:
        return
    for cand in ws.candidates():
        if cand["pr_id"] in listed and cand["status"] != "invalid":
            ws.set_candidate_result(cand["instance_id"], "invalid", reason=decon.reason, gold_score=cand["gold_score"],
                                    null_score=cand["null_score"], log_dir=cand["log_dir"])
    for pr_id in sorted(listed):
        ws.set_pr_stage(pr_id, "dropped", reason=decon.reason)
        summary.decontaminated.append(pr_id)
        summary.dropped[decon.reason] += 1


def _kept_index(ws: Workspace, threshold: float) -> NearDuplicates:
    """The fingerprints of the PRs earlier runs kept, so duplicates are caught across runs."""
    index = NearDuplicates(threshold)
    kept = [r for stage in ("analyzed", "executed", "built") for r in ws.prs(stage=stage)]
    for r in sorted(kept, key=lambda r: (r["repo"], r["number"])):
        if r["analysis"]:
            index.check_and_add(r["pr_id"], Analysis.model_validate_json(r["analysis"]).code_patch)
    return index


def run_analyze(ws: Workspace, *, filters: Filters | None = None,
                on_progress: Callable[[str], None] | None = None) -> AnalyzeSummary:
    """Analyze every PR still at stage ``mined``; each ends ``analyzed`` or ``dropped`` with its reason."""
    filters = filters or Filters()
    summary = AnalyzeSummary()
    decon = Decontamination.load(filters.decontaminate) if filters.decontaminate else None
    if decon is not None:
        summary.decontamination_listed = len(decon)
        _drop_listed(ws, decon, summary)
    dups = _kept_index(ws, filters.near_duplicate_threshold) if filters.near_duplicate_threshold is not None else None
    analyzer = Analyzer(ws)
    try:
        for row in ws.prs(stage="mined"):
            pr = PullRecord.model_validate_json(row["record"])
            _analyze_one(ws, analyzer, pr, filters, decon, dups, summary)
            if on_progress:
                on_progress(pr.instance_id)
    finally:
        analyzer.close()
    return summary


def _analyze_one(ws: Workspace, analyzer: Analyzer, pr: PullRecord, filters: Filters, decon: Decontamination | None,
                 dups: NearDuplicates | None, summary: AnalyzeSummary) -> None:
    if decon is not None and (pr.repo, pr.number) in decon:
        ws.set_pr_stage(pr.instance_id, "dropped", reason=decon.reason)
        summary.decontaminated.append(pr.instance_id)
        summary.dropped[decon.reason] += 1
        return
    try:
        labels = analyzer.labels(pr)
    except RepoError as e:
        ws.set_pr_stage(pr.instance_id, "dropped", reason=f"repository unavailable: {e}")
        summary.dropped["repository unavailable"] += 1
        return
    except Exception as e:  # a malformed patch must not stop the run
        ws.set_pr_stage(pr.instance_id, "dropped", reason=f"analysis failed: {type(e).__name__}: {e}")
        summary.dropped["analysis failed"] += 1
        return
    analysis = labels.analysis
    reason = drop_reason(pr, analysis, filters, labels.trivial)
    if reason == TRIVIAL:
        summary.trivial[labels.trivial] += 1
    if reason is None and dups is not None:
        dup = dups.check_and_add(pr.instance_id, analysis.code_patch)
        if dup is not None:
            reason = f"{NEAR_DUPLICATE}{dup}"
            summary.near_duplicates[pr.instance_id] = dup
    if reason:
        ws.set_pr_stage(pr.instance_id, "dropped", reason=reason, analysis=analysis)
        summary.dropped[reason_group(reason)] += 1
    else:
        ws.set_pr_stage(pr.instance_id, "analyzed", analysis=analysis)
        summary.analyzed += 1
