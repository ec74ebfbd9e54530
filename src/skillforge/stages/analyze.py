"""The analysis stage: every mined PR gets its labels, or is dropped with a
triaged outcome.

Filters, in the order they are applied (the first that applies is the outcome):

1. ``decontaminated`` -- the PR is on the decontamination list
   (``analyze.hygiene.Decontamination``); PRs analyzed or validated by an
   earlier run are dropped too, and their candidates marked invalid;
2. ``repository_unavailable`` / ``analysis_error``;
3. ``binary_only``, ``no_code_change``;
4. ``trivial`` -- every code file's change is whitespace, comments, docstrings
   or a version bump, by syntax trees (``analyze.trivial``);
5. ``no_test_change``, ``no_issue`` (with ``require_issue``), ``too_large``;
6. ``near_duplicate`` -- the code patch is (nearly) the same as that of a PR
   kept before it (``analyze.hygiene.NearDuplicates``).

A PR that a filter after the trivial one drops by its paths alone (the code and
test split, sizes, issues) is parsed only as far as the trivial filter needs,
one that ``binary_only`` or ``no_code_change`` drops not at all; its stored
analysis holds the fields its paths give, marked ``labelled=False``.

Work is bounded: each PR is analyzed in a forked worker under a time and a
memory budget (``SKILLFORGE_PR_TIMEOUT``, ``SKILLFORGE_PR_MEMORY``; see
``analyze.budget``). A PR over either is dropped ``over_budget`` with a log
naming what ran out; a PR whose analysis fails is dropped ``analysis_error``
with its traceback in ``logs/<pr>/analyze.log``; the other PRs go on.

Every file of a PR is parsed once; each commit's tree is listed once (the base
of one PR is usually the merge of the one before: recent trees are kept, in
the worker, which serves one PR after the other).

PRs are analyzed by a pool of such workers, one per CPU (``workers``, else
``SKILLFORGE_ANALYZE_WORKERS``; 0 sizes it to the machine). The PRs, in the
order their merge commits have in the first-parent history, are cut into one
contiguous share per worker (a worker done with its own takes the later half
of the largest share left), so one PR's base is mostly the tree (and its files
the versions) the worker just read for the PR before. A PR that a filter drops
(filters read the PR alone) is stored as its answer comes; one the filters keep
waits for its turn: near-duplicate checks and storing go strictly in PR-number
order, so the outcomes do not depend on the number of workers (the earlier PR
of a near-duplicate pair is the one kept).
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from skillforge.gitio import CachingObjectDB, GitError, RepoError, open_repo, run_git
from skillforge.schema import Analysis, Outcome, PullRecord, Triage
from skillforge.settings import Settings, machine_slots
from skillforge.stages.config import AnalyzeConfig, resolve_path
from skillforge.workspace import KEPT_STAGES, Workspace
from skillforge.analyze.budget import Budget, BudgetPool, BudgetWorker, OverBudget, TaskError, budget_log
from skillforge.analyze.hygiene import Decontamination, NearDuplicates, fingerprint

Progress = Callable[[str, str], None]  # (phase, message)


def _noop(phase: str, message: str) -> None:
    return None

# the files load_test_config reads
_CONFIG_FILES = ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "pyproject.toml", "tox.ini", "setup.cfg")


Filters = AnalyzeConfig  # the stage's configuration (a run recipe's ``filters:``)


@dataclass
class AnalyzeSummary:
    analyzed: int = 0
    dropped: Counter = field(default_factory=Counter)  # Triage -> PRs
    trivial: Counter = field(default_factory=Counter)  # whitespace | comments | docstrings | version bump -> PRs
    near_duplicates: dict[str, str] = field(default_factory=dict)  # dropped PR -> the PR it duplicates
    decontaminated: list[str] = field(default_factory=list)  # PRs excluded by the decontamination list
    decontamination_listed: int = 0  # entries in the list


def drop_reason(pr: PullRecord, a: Analysis, filters: AnalyzeConfig, trivial: str | None = None) -> Outcome | None:
    """Why the filters drop a PR (None: kept)."""
    if a.changes and all(c.binary for c in a.changes):
        return Outcome.failed(Triage.BINARY_ONLY)
    if not a.files:
        return Outcome.failed(Triage.NO_CODE_CHANGE)
    if trivial is not None and filters.drop_trivial:
        return Outcome.failed(Triage.TRIVIAL, kind=trivial)
    if not a.test_files:
        return Outcome.failed(Triage.NO_TEST_CHANGE)
    if not pr.issues and filters.require_issue:
        return Outcome.failed(Triage.NO_ISSUE)
    if len(a.files) + len(a.test_files) > filters.max_files or a.code_lines > filters.max_code_lines:
        return Outcome.failed(Triage.TOO_LARGE, files=len(a.files) + len(a.test_files), code_lines=a.code_lines)
    return None


class Analyzer:
    """Labels of mined PRs read straight from their repositories: one file listing
    per commit (recent ones kept; built from the trees kept by id), blobs through
    one persistent ``git cat-file --batch`` per repository."""

    def __init__(self, ws: Workspace, keep_trees: int = 4):
        self.ws = ws
        self.keep_trees = keep_trees
        self.locations: dict[str, str | None] = {}  # known clone locations (a worker reads no database)
        self._repos: dict[str, object] = {}
        self._trees: OrderedDict[tuple[str, str], object] = OrderedDict()
        self._configs: dict[tuple, object] = {}

    def repo(self, name: str):
        if name not in self._repos:
            location = self.locations[name] if name in self.locations else self.ws.repo_location(name)
            if not location:
                raise RepoError(f"repository {name} has no local clone recorded in the workspace; mine it first")
            self._repos[name] = open_repo(location, name)
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

    def labels(self, pr: PullRecord, filters: AnalyzeConfig | None = None):
        """The labels of ``pr``; with ``filters``, a PR they drop by its paths gets only what decides
        its outcome (see :func:`_wanted`)."""
        from skillforge.analyze import analyze_change_labels
        from skillforge.analyze.split import load_test_config

        odb = self.repo(pr.repo).odb
        batched = isinstance(odb, CachingObjectDB)  # objects asked for in batches (one round trip each)
        if batched and not {(pr.repo, pr.base_commit), (pr.repo, pr.merge_commit)} <= self._trees.keys():
            odb.prefetch_commits([pr.base_commit, pr.merge_commit])  # and their root trees
        old = self.tree(pr.repo, pr.base_commit)
        new = self.tree(pr.repo, pr.merge_commit)
        files = list(dict.fromkeys([*old.paths, *new.paths]))
        # the pytest configuration, read again only when one of its files changed
        key = (pr.repo, tuple(new.entries.get(name) for name in _CONFIG_FILES))
        config = self._configs.get(key)
        if config is None:
            config = self._configs[key] = load_test_config(new.read_text)

        def prefetch(changed) -> None:  # both sides' blobs
            odb.prefetch([*old.blob_ids(fd.old_path or fd.path for fd in changed),
                          *new.blob_ids(fd.path for fd in changed)])

        return analyze_change_labels(pr.patch, old.read, new.read, files, config,
                                     wanted=_wanted(pr, filters) if filters is not None else None,
                                     prefetch=prefetch if batched else None)

    def close(self) -> None:
        for repo in self._repos.values():
            repo.close()
        self._repos.clear()
        self._trees.clear()


def _wanted(pr: PullRecord, filters: AnalyzeConfig) -> Callable[[Analysis], str]:
    """How much of ``pr`` to label, once its paths are known: everything when the filters keep it so
    far; whether its code change is trivial when a later filter drops it (the trivial filter comes
    first and names the outcome); nothing more when an earlier one does (binary only, no code change)."""
    from skillforge.analyze import LABELS, PATHS_ONLY, TRIVIAL_ONLY

    def wanted(paths: Analysis) -> str:
        outcome = drop_reason(pr, paths, filters)  # every filter but the trivial one reads paths alone
        if outcome is None:
            return LABELS
        if outcome.triage in (Triage.BINARY_ONLY, Triage.NO_CODE_CHANGE) or not filters.drop_trivial:
            return PATHS_ONLY
        return TRIVIAL_ONLY

    return wanted


def analyze_pr(ws: Workspace, pr: PullRecord) -> Analysis:
    """The labels of one mined PR of a workspace."""
    analyzer = Analyzer(ws)
    try:
        return analyzer.labels(pr).analysis
    finally:
        analyzer.close()


def _drop_listed(ws: Workspace, decon: Decontamination, summary: AnalyzeSummary) -> None:
    """PRs an earlier run kept that the list names: dropped, and their candidates invalid."""
    outcome = Outcome.failed(Triage.DECONTAMINATED, decon.reason)
    listed = {r.pr_id for r in ws.prs(stage=KEPT_STAGES) if (r.repo, r.number) in decon}
    if not listed:
        return
    for cand in ws.candidates():
        if cand.pr_id in listed and cand.status != "invalid":
            ws.set_candidate_result(cand.instance_id, "invalid", outcome=outcome, gold_score=cand.gold_score,
                                    null_score=cand.null_score, log_dir=cand.log_dir)
    for pr_id in sorted(listed):
        ws.set_pr_stage(pr_id, "dropped", outcome=outcome)
        summary.decontaminated.append(pr_id)
        summary.dropped[Triage.DECONTAMINATED] += 1


def _kept_index(ws: Workspace, threshold: float) -> NearDuplicates:
    """The fingerprints of the PRs earlier runs kept, so duplicates are caught across runs."""
    index = NearDuplicates(threshold)
    for r in ws.prs(stage=KEPT_STAGES):  # ordered by repository and number
        if r.analysis is not None:
            index.check_and_add(r.pr_id, r.analysis.code_patch)
    return index


@dataclass
class _Labelled:
    """What the worker sends back for one PR: its analysis as it is stored (JSON: pickling the model
    and its nested locations, and making them again in the stage, took a tenth of a worker's time),
    and what the filters made of it."""

    analysis_json: str | None = None  # the stored analysis (its ``encoding`` the PR's)
    outcome: Outcome | None = None  # why a filter drops the PR (None: kept so far)
    trivial: str | None = None
    shingles: frozenset[str] | None = None  # the near-duplicate fingerprint, when the filters keep the PR
    unavailable: str | None = None  # why the repository cannot be read


def _label_task(analyzer: Analyzer, config: AnalyzeConfig, fingerprints: bool):
    """The worker's task: one PR's labels, what the filters make of them (and its fingerprint, when
    they keep it), from the repository at ``location``."""

    def task(pr: PullRecord, location: str | None) -> _Labelled:
        analyzer.locations[pr.repo] = location
        try:
            labels = analyzer.labels(pr, config)
        except RepoError as e:
            return _Labelled(unavailable=str(e))
        analysis = labels.analysis.model_copy(update={"encoding": pr.encoding})
        outcome = drop_reason(pr, analysis, config, labels.trivial)
        shingles = fingerprint(labels.code_files) if fingerprints and outcome is None else None
        return _Labelled(analysis.model_dump_json(), outcome, labels.trivial, shingles)

    return task


def default_workers(budget: Budget | None = None) -> int:
    """Analysis workers at once: ``SKILLFORGE_ANALYZE_WORKERS`` when set above 0, else one per CPU
    this process may use, as far as memory holds one ``budget.memory`` per worker."""
    setting = Settings.from_env().analyze_workers
    return setting if setting > 0 else machine_slots(budget.memory if budget is not None else 0)


def run(ws: Workspace, config: AnalyzeConfig | None = None, progress: Progress = _noop, *,
        base: Path | None = None, budget: Budget | None = None, workers: int | None = None) -> AnalyzeSummary:
    """Analyze every PR still at stage ``mined``; each ends ``analyzed`` or ``dropped`` with its
    outcome. ``base``: the folder a relative ``decontaminate`` path is read from; ``budget``:
    each PR's time and memory (default: the settings'); ``workers``: analysis workers at once
    (default :func:`default_workers`)."""
    config = config or AnalyzeConfig()
    budget = budget or Budget.from_settings()
    if workers is None or workers <= 0:
        workers = default_workers(budget)
    summary = AnalyzeSummary()
    listed = resolve_path(config.decontaminate, base)
    decon = Decontamination.load(listed) if listed else None
    if decon is not None:
        summary.decontamination_listed = len(decon)
        _drop_listed(ws, decon, summary)
    near = config.near_duplicate_threshold is not None
    analyzer = Analyzer(ws)
    task = _label_task(analyzer, config, near)
    pr_ids = [r.pr_id for r in ws.prs(stage="mined")]
    if hasattr(progress, "total"):  # a display's n/N and ETA
        progress.total("analyze", len(pr_ids))
    try:
        # one worker too: in history order its trees and file versions follow on (click: 1.4x faster than
        # in number order); a single PR, or a run with no budget to enforce, goes in number order
        if len(pr_ids) > 1 and budget.enforced:
            _run_pool(ws, pr_ids, task, budget, workers, config, decon, summary, progress)
        else:
            dups = _kept_index(ws, config.near_duplicate_threshold) if near else None
            worker = BudgetWorker(task, budget, name="analyze")
            try:
                for pr_id in pr_ids:  # one PR's record in memory at a time
                    _analyze_one(ws, worker, ws.pr(pr_id).record, decon, dups, summary)
                    progress("analyze", pr_id)
            finally:
                worker.close()
    finally:
        analyzer.close()
    return summary


# the PRs whose records the pool reads at once (in number order; their results wait for their turn to be
# stored): at most this many, of at most this many bytes of patches
_WINDOW = 1024
_WINDOW_BYTES = 64 << 20
_STRETCH = 16  # most PRs a worker takes from its share at once


def _history_positions(location: str | None) -> dict[str, int]:
    """Each first-parent commit of a clone's HEAD -> its position, oldest first ({} when unknown)."""
    if not location:
        return {}
    try:
        proc = run_git(location, "rev-list", "--first-parent", "--reverse", "HEAD", check=False)
    except (GitError, OSError):  # no git: the order is only a guess for the caches
        return {}
    if proc.returncode != 0:
        return {}
    return {sha: i for i, sha in enumerate(proc.stdout.split())}


def _merge_time(pr: PullRecord) -> float:
    try:
        return datetime.fromisoformat(pr.merged_at.replace("Z", "+00:00")).timestamp() if pr.merged_at else math.inf
    except ValueError:
        return math.inf


def _history_order(prs: list[PullRecord], positions: dict[str, dict[str, int]]) -> list[PullRecord]:
    """``prs`` in the order of their merge commits in each repository's first-parent history (those
    not in it after, by merge date), so consecutive PRs share trees and file versions."""

    def key(pr: PullRecord):
        pos = positions.get(pr.repo, {}).get(pr.merge_commit)
        return (pr.repo, 0, pos, 0) if pos is not None else (pr.repo, 1, _merge_time(pr), pr.number)

    return sorted(prs, key=key)


class _Shares:
    """The stretches each worker of the pool takes, from a share of its own: a window of PRs, in
    history order, is cut into one contiguous share per worker. A worker takes its next stretch
    (at most ``_STRETCH`` PRs, at most half of what its share has left) from the front of its
    share; one whose share is done takes a share of the window no worker took yet, else the
    later half of the largest share left, else the shares of the next window. So the PRs a
    worker analyses follow on in history and its caches serve them (stretches handed out in
    turn would each meet their files' versions from far back), and the workers end together."""

    def __init__(self, windows: Iterator[list], workers: int) -> None:
        self.windows = windows
        self.workers = workers
        self.shares: dict[int, deque] = {}  # slot -> the PRs of its share not handed out yet
        self.spare: list[deque] = []  # shares of the window no worker took yet

    def take(self, slot: int) -> list | None:
        share = self.shares.get(slot)
        if not share:
            share = self._next_share()
            if share is None:
                return None
            self.shares[slot] = share
        return [share.popleft() for _ in range(max(1, min(_STRETCH, len(share) // 2)))]

    def _steal(self, least: int) -> deque | None:
        """The later half of the largest share, when it has ``least`` PRs or more."""
        victim = max(self.shares.values(), key=len, default=None)
        if victim is None or len(victim) < max(2, least):
            return None
        stolen: deque = deque()
        for _ in range(len(victim) // 2):
            stolen.appendleft(victim.pop())
        return stolen

    def _next_share(self) -> deque | None:
        if self.spare:
            return self.spare.pop(0)
        stolen = self._steal(2 * _STRETCH)
        if stolen is not None:
            return stolen
        window = next(self.windows, None)
        if window is not None:
            size = math.ceil(len(window) / self.workers)
            self.spare = [deque(window[i:i + size]) for i in range(0, len(window), size)]
            return self.spare.pop(0)
        return self._steal(2)


def _run_pool(ws: Workspace, pr_ids: list[str], task, budget: Budget, workers: int, config: AnalyzeConfig,
              decon: Decontamination | None, summary: AnalyzeSummary, progress: Progress) -> None:
    """The PRs analyzed by a :class:`BudgetPool`: windows of ``_WINDOW`` PRs (in number order) are
    read, ordered by history and cut into :class:`_Shares`. A PR whose outcome no other PR decides
    (a filter drops it, or it failed) is stored as soon as its answer comes; one the filters keep
    waits for its turn, in number order, for its near-duplicate check (the index of the PRs
    earlier runs kept is built while the workers start). Progress is told in number order."""
    dups: NearDuplicates | None = None
    records: dict[str, PullRecord] = {}  # read, not stored yet
    locations: dict[str, str | None] = {}
    positions: dict[str, dict[str, int]] = {}
    stored: set[str] = set()  # stored before their turn
    waiting: dict[str, tuple[str, frozenset[str] | None]] = {}  # kept so far, waiting for their turn

    def windows() -> Iterator[list[tuple[str, tuple]]]:
        window: list[PullRecord] = []
        size = 0
        for pr_id in pr_ids:
            pr = ws.pr(pr_id).record
            if decon is not None and (pr.repo, pr.number) in decon:
                _drop_decontaminated(ws, pr, decon, summary)  # never analyzed
                stored.add(pr_id)
                continue
            records[pr_id] = pr
            if pr.repo not in locations:
                locations[pr.repo] = ws.repo_location(pr.repo)
                positions[pr.repo] = _history_positions(locations[pr.repo])
            window.append(pr)
            size += len(pr.patch)
            if len(window) >= _WINDOW or size >= _WINDOW_BYTES:
                yield [(pr.instance_id, (pr, locations[pr.repo])) for pr in _history_order(window, positions)]
                window, size = [], 0
        if window:
            yield [(pr.instance_id, (pr, locations[pr.repo])) for pr in _history_order(window, positions)]

    turn = 0

    def advance() -> None:
        nonlocal turn
        while turn < len(pr_ids) and (pr_ids[turn] in stored or pr_ids[turn] in waiting):
            pr_id = pr_ids[turn]
            turn += 1
            if pr_id in waiting:
                _keep(ws, records.pop(pr_id), *waiting.pop(pr_id), dups, summary)
            else:
                stored.discard(pr_id)
            progress("analyze", pr_id)

    with BudgetPool(task, budget, workers, name="analyze") as pool:
        for pr_id, got in pool.run(_Shares(windows(), workers).take):
            if dups is None and config.near_duplicate_threshold is not None:
                dups = _kept_index(ws, config.near_duplicate_threshold)
            kept = _settle(ws, records[pr_id], _answer(got), budget, summary)
            if kept is None:
                stored.add(pr_id)
                del records[pr_id]
            else:
                waiting[pr_id] = kept
            advance()
        advance()  # decontaminated PRs at the end
    assert turn == len(pr_ids), f"{len(pr_ids) - turn} PRs not analyzed"


def _answer(got) -> Callable[[], tuple]:
    """A pool's answer as :meth:`BudgetWorker.call` gives it: the result, or the exception raised."""

    def call():
        if isinstance(got, BaseException):
            raise got
        return got

    return call


def run_analyze(ws: Workspace, *, filters: AnalyzeConfig | None = None,
                on_progress: Callable[[str], None] | None = None) -> AnalyzeSummary:
    """``run`` with a one-argument progress callback (the PR id)."""
    return run(ws, filters, (lambda phase, pr: on_progress(pr)) if on_progress else _noop)


def _drop(ws: Workspace, pr: PullRecord, outcome: Outcome, summary: AnalyzeSummary) -> None:
    ws.set_pr_stage(pr.instance_id, "dropped", outcome=outcome)
    summary.dropped[outcome.triage] += 1


def _drop_decontaminated(ws: Workspace, pr: PullRecord, decon: Decontamination, summary: AnalyzeSummary) -> None:
    ws.set_pr_stage(pr.instance_id, "dropped", outcome=Outcome.failed(Triage.DECONTAMINATED, decon.reason))
    summary.decontaminated.append(pr.instance_id)
    summary.dropped[Triage.DECONTAMINATED] += 1


def _analyze_one(ws: Workspace, worker: BudgetWorker, pr: PullRecord, decon: Decontamination | None,
                 dups: NearDuplicates | None, summary: AnalyzeSummary) -> None:
    if decon is not None and (pr.repo, pr.number) in decon:
        return _drop_decontaminated(ws, pr, decon, summary)
    _store(ws, pr, lambda: worker.call(pr, ws.repo_location(pr.repo)), worker.budget, dups, summary)


def _store(ws: Workspace, pr: PullRecord, call: Callable[[], tuple], budget: Budget, dups: NearDuplicates | None,
           summary: AnalyzeSummary) -> None:
    """One PR's outcome from its worker's answer (``call()``: its labels, or the exception raised)."""
    kept = _settle(ws, pr, call, budget, summary)
    if kept is not None:
        _keep(ws, pr, *kept, dups, summary)


def _settle(ws: Workspace, pr: PullRecord, call: Callable[[], tuple], budget: Budget,
            summary: AnalyzeSummary) -> tuple[str, frozenset[str] | None] | None:
    """Store a PR whose outcome its own answer decides (it failed, or a filter drops it); of one the
    filters keep, its analysis (JSON) and fingerprint (when its worker made one), for :func:`_keep`."""
    try:
        labelled, _ = call()
    except OverBudget as e:  # too big or too slow to analyze: dropped, the others go on
        log = budget_log(ws.instance_log_dir(pr.instance_id) / "analyze.log", what="analysis",
                         subject=pr.instance_id, exc=e, budget=budget)
        _drop(ws, pr, Outcome.failed(Triage.OVER_BUDGET, f"analysis {e.message}", log, budget=e.resource,
                                     seconds=round(e.elapsed, 1)), summary)
        return None
    except TaskError as e:  # a malformed patch, a bug (a recursion limit...) must not stop the run
        log = budget_log(ws.instance_log_dir(pr.instance_id) / "analyze.log", what="analysis",
                         subject=pr.instance_id, exc=e, budget=budget)
        _drop(ws, pr, Outcome.failed(Triage.ANALYSIS_ERROR, f"{e.type_name}: {e.message}", log), summary)
        return None
    if labelled.unavailable is not None:
        _drop(ws, pr, Outcome.failed(Triage.UNAVAILABLE, labelled.unavailable), summary)
        return None
    outcome = labelled.outcome
    if outcome is None:
        return labelled.analysis_json, labelled.shingles
    if outcome.triage is Triage.TRIVIAL:
        summary.trivial[labelled.trivial] += 1
    ws.set_pr_stage(pr.instance_id, "dropped", outcome=outcome, analysis_json=labelled.analysis_json)
    summary.dropped[outcome.triage] += 1
    return None


def _keep(ws: Workspace, pr: PullRecord, analysis_json: str, shingles: frozenset[str] | None,
          dups: NearDuplicates | None, summary: AnalyzeSummary) -> None:
    """Store a PR the filters keep: analyzed, unless it is a near duplicate of a PR kept before it
    (in number order, in this run or an earlier one). With ``dups``, its worker made ``shingles``
    (the task fingerprints a kept PR whenever the filters look for near duplicates)."""
    if dups is not None:
        assert shingles is not None, f"{pr.instance_id}: no fingerprint"
        dup = dups.find(shingles)
        if dup is not None:
            ws.set_pr_stage(pr.instance_id, "dropped", analysis_json=analysis_json, outcome=Outcome.failed(
                Triage.NEAR_DUPLICATE, f"near-duplicate of {dup}", duplicate_of=dup))
            summary.near_duplicates[pr.instance_id] = dup
            summary.dropped[Triage.NEAR_DUPLICATE] += 1
            return
        dups.add(pr.instance_id, shingles)
    ws.set_pr_stage(pr.instance_id, "analyzed", analysis_json=analysis_json)
    summary.analyzed += 1
