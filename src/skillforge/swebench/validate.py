"""SWE-bench-format input: re-validate (and harden) an existing dataset.

``validate_instances`` reads rows in SWE-bench's shape (``swebench.rows``),
runs each instance's tests in Docker before the fix (base + test patch) and
after it (base + patch + test patch), with reruns, and writes every input row
back with ``FAIL_TO_PASS`` / ``PASS_TO_PASS`` computed with SWE-bench's
semantics plus a ``skillforge`` report: status (valid / invalid / error), why,
the log to open, flaky tests, and how the lists agree with the ones the row
came with.

It is a client of the stages and environments: the runs are the facts stage's
work unit (``stages.facts.run_facts_job``: the same reruns, flaky-test rule and
triage as mined PRs get), and environments come from the one resolver
(``environments.resolver``). Rows are grouped by repository and
``environment_setup_commit`` (else ``version``); each group's environment is
built at its ``environment_setup_commit`` when given, else at the group's
newest ``base_commit``, and its choice is recorded under ``repo@reference``.
When a repository's groups install from different packaging files, each gets
its own image.

Every row that is not valid carries a triage class (``schema.Triage``):
outcomes of the tests make a row invalid; ``install``, ``image_build``,
``sandbox``, ``clone``, ``source``, ``recipe``, ``input`` and ``internal`` are
errors, retried on the next run, never labels. Tests that cannot be collected
after the fix because the environment lacks a module they import are an
``install`` error, not an invalid instance.

State (results per row, the execution cache, environments, logs) lives in a
workspace, by default ``<out without suffix>.skillforge/`` beside the output, so
a killed run resumes: rows already valid or invalid for the same inputs are not
executed again; error rows are retried.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from skillforge.analyze.split import is_python_test_module
from skillforge.environments.eras import packaging_fingerprint
from skillforge.environments.health import choose_smoke_tests, log_text
from skillforge.environments.resolver import EnvRequest, Resolver
from skillforge.execution import InfraError, RunResult
from skillforge.execution.backend import Backend
from skillforge.execution.runner import default_workers
from skillforge.gitio import RepoError, RepoHandle
from skillforge.schema import Outcome, Triage
from skillforge.settings import Settings
from skillforge.stages.facts import FactsJob, run_facts_job
from skillforge.swebench.clones import Clones
from skillforge.swebench.rows import (
    SWEInstance, agreement, default_workspace, output_row, read_instances, summary_path, swebench_directives,
    swebench_lists, swebench_test_id, write_jsonl,
)
from skillforge.workspace import Workspace

FINISHED = ("valid", "invalid")
Progress = Callable[[str, str], None]  # (phase, message)


def _noop(phase: str, message: str) -> None:
    return None


# --------------------------------------------------------------------------- results


@dataclass
class RowResult:
    """What validation established for one row (stored per instance in the workspace)."""

    status: str  # valid | invalid | error
    outcome: Outcome | None = None  # why it is not valid
    FAIL_TO_PASS: list[str] = field(default_factory=list)
    PASS_TO_PASS: list[str] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)
    needs_network: list[str] = field(default_factory=list)  # failing only for lack of network: in neither list
    test_files: list[str] = field(default_factory=list)
    environment: str = ""
    reruns: int = 0
    log: str = ""  # the file to open first
    log_dir: str = ""
    executed: bool = False  # the tests ran (lists are meaningful)

    @property
    def triage(self) -> Triage | None:
        return self.outcome.triage if self.outcome else None

    def fail(self, status: str, outcome: Outcome) -> "RowResult":
        self.status, self.outcome = status, outcome
        if outcome.log:
            self.log = outcome.log
        return self

    def to_json(self) -> dict:
        data = asdict(self)
        data["outcome"] = self.outcome.model_dump(mode="json") if self.outcome else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> "RowResult":
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if fields.get("outcome") is not None:
            fields["outcome"] = Outcome.model_validate(fields["outcome"])
        return cls(**fields)


def _error(triage: Triage, message: str, log: str | None = None) -> RowResult:
    return RowResult(status="error", outcome=Outcome.failed(triage, message, log), log=log or "")


@dataclass
class SWEBenchOptions:
    workers: int = 0  # test containers at once; 0: sized to the machine (execution.runner.default_workers)
    reruns: int = 2
    recipes_dir: Path | None = None
    environments: dict[str, dict] = field(default_factory=dict)  # repo -> explicit environment recipe
    clone_url_template: str | None = None
    network: bool = False  # run the tests with the network on (to reproduce lists that were made that way)


@dataclass
class SWEBenchSummary:
    rows: int = 0
    valid: int = 0
    invalid: Counter = field(default_factory=Counter)  # Triage -> rows
    errors: Counter = field(default_factory=Counter)  # Triage -> rows
    resumed: int = 0  # rows finished by an earlier run, not executed again
    executed: int = 0  # rows whose tests ran in this run
    with_given: int = 0  # executed rows that came with FAIL_TO_PASS
    f2p_match: int = 0
    with_given_p2p: int = 0
    p2p_match: int = 0
    disagreeing: list[str] = field(default_factory=list)  # instance ids whose FAIL_TO_PASS differs
    network: bool = False  # the tests ran with the network on
    environments: dict[str, str] = field(default_factory=dict)  # name -> "ready (...)" | the failure
    failed_environments: dict[str, Outcome] = field(default_factory=dict)  # name -> why it failed
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
        data["invalid"] = {t.value: n for t, n in self.invalid.most_common()}
        data["errors"] = {t.value: n for t, n in self.errors.most_common()}
        data["failed_environments"] = {k: o.model_dump(mode="json") for k, o in self.failed_environments.items()}
        data["f2p_agreement"] = self.f2p_agreement
        return data


# --------------------------------------------------------------------------- the run


PACKAGING_ENV = "SKILLFORGE_PACKAGING"
"""Set in a recipe (so in its image key) when groups of one repository install from
different packaging files: each then gets an image of its own."""


def packaging_hash(handle: RepoHandle, commit: str) -> str:
    """Short hash of the files an install reads at ``commit`` (``environments.eras.packaging_fingerprint``)."""
    return packaging_fingerprint(handle, commit)


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
    request: EnvRequest
    packaging: str


class SWEBenchValidator:
    """Validation of SWE-bench-format rows in a workspace (see the module docstring)."""

    def __init__(self, ws: Workspace, repos_dir: str | Path, options: SWEBenchOptions | None = None,
                 settings: Settings | None = None, backend: Backend | None = None):
        self.ws = ws
        self.options = options or SWEBenchOptions()
        self.settings = settings or Settings.from_env()
        self.clones = Clones(repos_dir, self.options.clone_url_template, self.settings)
        self.backend = backend or Backend(self.settings, self.clones.get, logs_dir=ws.logs_dir, run_store=ws,
                                          on_ready=lambda env, image: None)
        from skillforge.execution.cleanup import remove_dead_owners_at_start  # (imports docker)

        remove_dead_owners_at_start(self.backend)  # containers a killed run of skillforge left behind
        self.resolver = Resolver(ws, self.backend, self.clones.get, recipes_dir=self.options.recipes_dir,
                                 explicit=self.options.environments)

    # -- state ----------------------------------------------------------------
    def stored(self, instance_id: str) -> tuple[str, RowResult] | None:
        got = self.ws.swebench_result(instance_id)
        return (got[0], RowResult.from_json(got[1])) if got else None

    def store(self, instance_id: str, key: str, result: RowResult) -> None:
        self.ws.store_swebench_result(instance_id, key, result.status, result.to_json())

    def key(self, inst: SWEInstance, environment: str) -> str:
        payload = json.dumps({"repo": inst.repo, "base": inst.base_commit, "patch": inst.patch,
                              "test_patch": inst.test_patch, "env": environment, "reruns": self.options.reruns},
                             sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    # -- one row ------------------------------------------------------------------
    def execute(self, inst: SWEInstance, environment: str) -> RowResult:
        """The row's tests before and after the fix, through the facts stage's work unit."""
        log_dir = str(self.ws.instance_log_dir(inst.instance_id))
        result = RowResult(status="invalid", environment=environment, log_dir=log_dir, reruns=self.options.reruns)
        tests = tuple(swebench_directives(inst.test_patch))
        result.test_files = list(tests)
        if not tests:
            return result.fail("invalid", Outcome.failed(
                Triage.NO_TEST_MODULE, "the test patch touches no file SWE-bench's harness would run"))
        out = run_facts_job(self.backend, FactsJob(inst.instance_id, environment, inst.base_commit, inst.patch,
                                                   inst.test_patch, tests, self.options.reruns,
                                                   network=self.options.network))
        logs = [r["log"] for r in out.runs if r.get("log")]
        after = [r["log"] for r in out.runs if r.get("log") and r.get("label") == "after"]
        result.log = (after or logs or [""])[-1] or ""
        if out.facts is not None:
            result.FAIL_TO_PASS, result.PASS_TO_PASS = swebench_lists(out.facts.FAIL_TO_PASS,
                                                                      out.facts.PASS_TO_PASS, out.facts.flaky)
            result.flaky, result.reruns, result.executed = list(out.facts.flaky), out.facts.reruns, True
            result.needs_network = sorted({swebench_test_id(t) for t in out.facts.needs_network})
        if out.status == "error":
            return result.fail("error", out.outcome)
        if out.status == "executed":
            if result.FAIL_TO_PASS:
                result.status = "valid"
                return result
            return result.fail("invalid", Outcome.failed(Triage.NO_FAIL_TO_PASS, log=result.log or None))
        result.fail("invalid", out.outcome)
        module = missing_module(result.log) if out.outcome.triage is Triage.COLLECTION_ERROR else None
        if module:  # the environment, not the instance, is at fault: an error, retried on the next run
            result.fail("error", Outcome.failed(
                Triage.INSTALL, f"the environment lacks module {module!r}, so the tests cannot be collected "
                                f"after the fix (give the repository a recipe that installs it)", result.log or None))
        return result

    def _execute_safely(self, inst: SWEInstance, environment: str) -> RowResult:
        """``execute``; an unexpected failure is this row's error, never the run's end."""
        try:
            return self.execute(inst, environment)
        except Exception as exc:  # noqa: BLE001
            log_dir = str(self.ws.logs_dir / inst.instance_id)
            result = _error(Triage.INTERNAL, f"{type(exc).__name__}: {str(exc)[:500]} (logs under {log_dir})")
            result.environment, result.log_dir = environment, log_dir
            return result

    # -- groups ---------------------------------------------------------------------
    def _plan(self, instances: list[SWEInstance], record: Callable[[SWEInstance, str, RowResult], None]
              ) -> list[_Group]:
        """Every group's clone, reference commit and environment request."""
        groups: dict[tuple[str, str], list[SWEInstance]] = {}
        for inst in instances:
            if inst.error:
                record(inst, "", _error(Triage.INPUT, inst.error))
            else:
                groups.setdefault(inst.group, []).append(inst)

        def fail_all(rows: list[SWEInstance], triage: Triage, message: str) -> None:
            for inst in rows:
                record(inst, "", _error(triage, message))

        planned: list[_Group] = []
        for (repo, env_key), rows in sorted(groups.items()):
            try:
                gone = self.clones.missing(repo, [r.base_commit for r in rows]
                                           + [r.environment_setup_commit or "" for r in rows])
            except RepoError as exc:
                fail_all(rows, Triage.CLONE, str(exc))
                continue
            where = self.clones.path(repo)
            for inst in [r for r in rows if r.base_commit in gone]:
                record(inst, "", _error(Triage.SOURCE, f"base_commit {inst.base_commit} is not in the clone {where} "
                                                       f"(fetching from its origin did not bring it); update the "
                                                       f"clone"))
            rows = [r for r in rows if r.base_commit not in gone]
            if not rows:
                continue
            setup = rows[0].environment_setup_commit
            if setup and setup in gone:
                fail_all(rows, Triage.SOURCE, f"environment_setup_commit {setup} is not in the clone {where}")
                continue
            reference = setup or ""
            try:
                reference = reference or self.clones.newest(repo, [r.base_commit for r in rows])
                handle = self.clones.get(repo)
                packaging = packaging_hash(handle, reference)
                newest_first = sorted(rows, key=lambda r: r.base_commit == reference, reverse=True)
                smoke = choose_smoke_tests([t for r in newest_first for t in swebench_directives(r.test_patch)],
                                           handle.files(reference), is_test_module=is_python_test_module)
                request = EnvRequest(repo, reference, recipe=self.resolver.explicit_recipe(repo, reference),
                                     smoke_tests=smoke, label=repo + (f" ({env_key})" if env_key else ""))
                self.resolver.plan(request)  # reads the tree: a repository that cannot be read fails here
            except Exception as exc:  # noqa: BLE001 - a repository that cannot be read is one group's error
                fail_all(rows, Triage.RECIPE, f"no environment recipe for {repo} at {reference[:12] or '?'} "
                                              f"(clone {where}): {type(exc).__name__}: {str(exc)[:500]}")
                continue
            planned.append(_Group(repo, env_key, rows, request, packaging))
        # a repository whose groups install from different packaging files gets an image per packaging
        # (one image per repository and recipe otherwise: the same recipe at two versions would share one)
        hashes: dict[str, set[str]] = {}
        for g in planned:
            hashes.setdefault(g.repo, set()).add(g.packaging)
        for g in planned:
            if len(hashes[g.repo]) > 1:
                g.request.extra_env = {PACKAGING_ENV: g.packaging}
        return planned

    # -- everything ---------------------------------------------------------------
    def run(self, instances: list[SWEInstance], progress: Progress = _noop
            ) -> tuple[dict[str, RowResult], SWEBenchSummary]:
        summary = SWEBenchSummary(rows=len(instances), workspace=str(self.ws.root), network=self.options.network)
        results: dict[str, RowResult] = {}
        lock = threading.Lock()

        def record(inst: SWEInstance, key: str, result: RowResult) -> None:
            if key:
                self.store(inst.instance_id, key, result)
            with lock:
                results[inst.instance_id] = result
            progress("validate", f"{inst.instance_id}: {result.status}"
                                 + (f" ({result.outcome.message[:60]})" if result.outcome else ""))

        planned = self._plan(instances, record)
        futures: list[Future] = []
        workers = self.options.workers if self.options.workers > 0 else default_workers(self.settings)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for g in planned:
                known = self.resolver.known_name(g.request)
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
                    resolution = self.resolver.resolve(g.request, progress)
                except InfraError as exc:
                    outcome = exc.outcome(f"{g.request.label}: {str(exc)[:1500]}")
                    name = known or f"{g.repo}@{g.request.reference[:12]}"
                    summary.environments[name] = outcome.render()
                    summary.failed_environments[name] = outcome
                    for inst in pending:
                        record(inst, "", RowResult(status="error", outcome=outcome, log=outcome.log or ""))
                    continue
                summary.environments[resolution.name] = f"ready ({resolution.how})"
                for inst in pending:
                    key = self.key(inst, resolution.name)
                    futures.append(pool.submit(lambda i=inst, k=key, n=resolution.name:
                                               record(i, k, self._execute_safely(i, n))))
            for fut in futures:
                fut.result()
            # rows whose runs show the environment failing: one repair round per inferred environment
            for g in planned:
                broken = [i for i in g.rows if i.instance_id in results and results[i.instance_id].triage
                          is Triage.ENVIRONMENT]
                if not broken or g.request.recipe is not None:
                    continue
                logs = [results[i.instance_id].log for i in broken[:3] if results[i.instance_id].log]
                g.request.evidence = log_text([RunResult(status="ok", log_path=p) for p in logs])[-(1 << 20):]
                progress("env", f"{g.request.label}: {len(broken)} rows show the environment failing: repairing it")
                try:
                    repaired = self.resolver.resolve(g.request, progress)
                except InfraError:
                    continue  # the rows keep their environment error (retried on the next run)
                summary.environments[repaired.name] = f"ready ({repaired.how})"
                again = [pool.submit(lambda i=inst, n=repaired.name: record(i, self.key(i, n),
                                                                             self._execute_safely(i, n)))
                         for inst in broken]
                for fut in again:
                    fut.result()
                futures += again
        summary.executed = len(futures)
        for inst in instances:
            r = results[inst.instance_id]
            if r.status == "valid":
                summary.valid += 1
            elif r.status == "invalid":
                summary.invalid[r.triage] += 1
            else:
                summary.errors[r.triage] += 1
            if r.executed and inst.given_fail_to_pass is not None:
                summary.with_given += 1
                if agreement(r.FAIL_TO_PASS, [], inst.given_fail_to_pass, None, r.needs_network)["match"]:
                    summary.f2p_match += 1
                else:
                    summary.disagreeing.append(inst.instance_id)
            if r.executed and inst.given_pass_to_pass is not None:
                summary.with_given_p2p += 1
                summary.p2p_match += agreement([], r.PASS_TO_PASS, None, inst.given_pass_to_pass,
                                               r.needs_network)["match"]
        if futures:
            summary.runs_executed = self.backend.executor.misses
            summary.runs_cached = self.backend.executor.hits
        return results, summary


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


__all__ = ["RowResult", "SWEBenchOptions", "SWEBenchSummary", "SWEBenchValidator", "missing_module",
           "packaging_hash", "validate_instances"]
