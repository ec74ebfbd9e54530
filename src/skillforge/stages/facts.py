"""The facts stage: each analyzed PR's test modules run before its fix (base +
test patch) and after it (base + gold patch + test patch), ``reruns`` times
each, in the environment the resolver gives its repository. What passes after
and not before is FAIL_TO_PASS, what passes both times PASS_TO_PASS; a test
whose outcome varies across reruns is flaky, kept out of both and recorded,
and a PR whose FAIL_TO_PASS depends on flaky tests is dropped.

PRs end ``executed`` (with their facts) or ``dropped`` (with a triaged
outcome); an infrastructure failure leaves them ``analyzed`` with the error,
retried on the next run. Each PR gets ``logs/<pr>/report.json``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from skillforge.analyze.split import is_python_test_module
from skillforge.environments.eras import era_key, packaging_fingerprint
from skillforge.environments.health import choose_smoke_tests, environment_failure, log_text, needs_network
from skillforge.environments.resolver import EnvRequest
from skillforge.execution.cache import CachedExecutor
from skillforge.execution.spec import InfraError, RunResult, RunSpec
from skillforge.execution.triage import classify_run
from skillforge.gitio import commit_records
from skillforge.schema import Analysis, Dropped, Outcome, PRFacts, PullRecord, Triage
from skillforge.stages.context import ExecutionContext
from skillforge.workspace import PRRow, Workspace

Progress = Callable[[str, str], None]  # (phase, message)


def _noop(phase: str, message: str) -> None:
    return None


@dataclass
class FactsSummary:
    prs_executed: int = 0
    prs_dropped: Counter = field(default_factory=Counter)  # Triage -> PRs
    errors: Counter = field(default_factory=Counter)  # Triage -> PRs waiting on an infrastructure error
    environment_errors: dict[str, Outcome] = field(default_factory=dict)  # repo -> why its environment failed
    inferred: dict[str, str] = field(default_factory=dict)  # repo -> environment kept by recipe inference
    tests_observed: int = 0  # distinct tests run before/after the fixes (reruns included once)
    flaky_tests: int = 0  # of them, with an outcome that varied across reruns
    flaky_prs: int = 0

    @property
    def flake_rate(self) -> float:
        """Flaky tests over tests observed across reruns."""
        return self.flaky_tests / self.tests_observed if self.tests_observed else 0.0


# --------------------------------------------------------------------------- before and after


def execute_facts(executor: CachedExecutor, env: str, log_id: str, base_commit: str, code_patch: str,
                  test_patch: str, tests: tuple[str, ...], reruns: int,
                  record: list[tuple[int, str, RunResult]] | None = None, network: bool = False,
                  patch_encoding: str = "utf-8") -> PRFacts:
    """Run ``tests`` before the fix (base + test patch) and after it (base + code
    patch + test patch), ``reruns`` times each (logs under ``log_id/``). Raises
    ``Dropped`` when a patch does not apply, the tests cannot run after the fix or
    no test goes from failing to passing; ``InfraError`` when the machinery fails or
    the environment does (every test failing with one shared cause: class
    ``environment``). Tests that fail only for lack of network are in neither list.
    Shared by the PR pipeline and SWE-bench-format input. ``record``, when given,
    receives ``(attempt, "before"|"after", result)`` of every run made; ``network``
    runs the tests with the network on (an explicit opt-in)."""
    before_spec = RunSpec(base_commit, (test_patch,), tests, label="before", network=network,
                          patch_encoding=patch_encoding)
    after_spec = RunSpec(base_commit, (code_patch, test_patch), tests, label="after", network=network,
                         patch_encoding=patch_encoding)
    befores: list[RunResult] = []
    afters: list[RunResult] = []
    for attempt in range(max(1, reruns)):
        view = executor.attempt(attempt)
        before = view.run(env, before_spec, log_name=f"{log_id}/before")
        after = view.run(env, after_spec, log_name=f"{log_id}/after")
        if record is not None:
            record += [(attempt, "before", before), (attempt, "after", after)]
        for r in (before, after):
            if r.status == "infra_error":
                raise InfraError(r.reason or "execution failed", log_path=r.log_path)
        broken = environment_failure([before, after])
        if broken is not None:
            raise InfraError(broken.message, triage=Triage.ENVIRONMENT, log_path=broken.log)
        for culprit, status, triage, message in (
                (before, "apply_failed", Triage.PATCH_APPLY, "test patch does not apply to the base commit"),
                (after, "apply_failed", Triage.PATCH_APPLY, "gold patch does not apply"),
                (after, "timeout", Triage.TIMEOUT, "tests time out after the fix"),
                (after, "collection_error", Triage.COLLECTION_ERROR, "test collection fails after the fix")):
            if culprit.status == status:
                t = classify_run(culprit)
                raise Dropped(triage, message + (f" [{', '.join(t.notes)}]" if t.notes else ""), culprit.log_path,
                              **({"notes": t.notes} if t.notes else {}))
        befores.append(before)
        afters.append(after)
    names = sorted(set().union(*(r.tests for r in befores + afters)))
    offline = sorted(t for t in names if any(needs_network(r.messages.get(t, "")) for r in befores + afters))
    names = [t for t in names if t not in offline]
    flaky = [t for t in names
             if len({r.tests.get(t) for r in befores}) > 1 or len({r.tests.get(t) for r in afters}) > 1]
    f2p, p2p, flaky_f2p = [], [], []
    for t in names:
        passed_after = afters[0].tests.get(t) == "passed"
        passed_before = befores[0].tests.get(t) == "passed"
        if t in flaky:
            if passed_after and not passed_before or any(r.tests.get(t) == "passed" for r in afters):
                flaky_f2p.append(t)
            continue
        if passed_after and not passed_before:
            f2p.append(t)
        elif passed_after and passed_before:
            p2p.append(t)
    facts = PRFacts(environment=env, test_files=list(tests), FAIL_TO_PASS=f2p, PASS_TO_PASS=p2p, flaky=flaky,
                    needs_network=offline, reruns=len(befores))
    if not f2p:
        log = afters[0].log_path
        if flaky_f2p:
            raise Dropped(Triage.FLAKY, "FAIL_TO_PASS depends on flaky tests", log, facts=facts.model_dump())
        if offline:
            raise Dropped(Triage.NEEDS_NETWORK, f"no FAIL_TO_PASS test without the network ({len(offline)} tests "
                                                f"reach for it)", log, facts=facts.model_dump())
        raise Dropped(Triage.NO_FAIL_TO_PASS, "no FAIL_TO_PASS test", log, facts=facts.model_dump())
    return facts


# --------------------------------------------------------------------------- the work unit


@dataclass
class FactsJob:
    pr_id: str
    env: str
    base_commit: str
    code_patch: str
    test_patch: str
    tests: tuple[str, ...]
    reruns: int
    network: bool = False
    patch_encoding: str = "utf-8"  # the PR's (Analysis.encoding): patches written back byte-exact


@dataclass
class FactsOutcome:
    pr_id: str
    status: str  # executed | dropped | error
    outcome: Outcome | None = None
    facts: PRFacts | None = None
    runs: list[dict] = field(default_factory=list)


def _run_record(attempt: int, label: str, r: RunResult) -> dict:
    return {"attempt": attempt, "label": label, "status": r.status, "exit_code": r.exit_code,
            "duration": round(r.duration, 3), "reason": r.reason, "log": r.log_path, "tests": dict(r.tests)}


def run_facts_job(backend, job: FactsJob) -> FactsOutcome:
    """A PR's tests before and after its fix, ``reruns`` times: facts, or a triaged drop or error.
    A work unit: the local runner and the Ray runner both carry it out."""
    record: list[tuple[int, str, RunResult]] = []
    try:
        facts = execute_facts(backend.executor, job.env, job.pr_id, job.base_commit, job.code_patch,
                              job.test_patch, job.tests, job.reruns, record=record, network=job.network,
                              patch_encoding=job.patch_encoding)
    except Dropped as exc:
        kept = exc.details.pop("facts", None)
        return FactsOutcome(job.pr_id, "dropped", exc.outcome(), PRFacts.model_validate(kept) if kept else None,
                            runs=[_run_record(*r) for r in record])
    except InfraError as exc:
        return FactsOutcome(job.pr_id, "error", exc.outcome(), runs=[_run_record(*r) for r in record])
    return FactsOutcome(job.pr_id, "executed", facts=facts, runs=[_run_record(*r) for r in record])


# --------------------------------------------------------------------------- the stage


def test_modules(ctx: ExecutionContext, pr: PullRecord, analysis: Analysis) -> list[str]:
    """The test modules a PR's tests run from: those its test patch touches, as they are after the
    fix -- real Python test modules only (``analyze.split.runnable_test_modules``): regular files, not
    symlinks; text, not data; named as the repository's pytest configuration names test modules."""
    from skillforge.analyze.split import load_test_config, runnable_test_modules
    from skillforge.gitio import run_git

    handle = ctx.repos[pr.repo]
    files_after = set(handle.files(pr.merge_commit))
    config = load_test_config(lambda path: None if (data := handle.read(pr.merge_commit, path)) is None
                              else data.decode("utf-8", "replace"))
    mods = {t.split("::")[0] for t in analysis.test_functions}
    mods |= {f for f in analysis.test_files if is_python_test_module(f, config)}
    mods = sorted(m for m in mods if m in files_after)
    modes: dict[str, str] = {}
    if mods:
        listing = run_git(handle.path, "ls-tree", "-z", pr.merge_commit, "--", *mods, text=False,
                          env={"GIT_LITERAL_PATHSPECS": "1"}).stdout
        for rec in listing.split(b"\0"):
            meta, _, path = rec.partition(b"\t")
            if path:
                for errors in ("surrogateescape", "replace"):  # as the listing and the analysis decode paths
                    modes[path.decode("utf-8", errors)] = meta.split()[0].decode()
    return runnable_test_modules(mods, config, modes.get, lambda path: handle.read(pr.merge_commit, path))


def pr_facts(ctx: ExecutionContext, pr: PullRecord, analysis: Analysis, env: str, reruns: int | None = None
             ) -> PRFacts:
    """FAIL_TO_PASS / PASS_TO_PASS of one PR in environment ``env`` (raises ``Dropped`` with
    its triage, or ``InfraError``)."""
    tests = tuple(test_modules(ctx, pr, analysis))
    if not tests:
        raise Dropped(Triage.NO_TEST_MODULE)
    out = run_facts_job(ctx.backend, FactsJob(pr.instance_id, env, pr.base_commit, analysis.code_patch,
                                              analysis.test_patch, tests, reruns or ctx.config.reruns,
                                              patch_encoding=analysis.encoding))
    if out.status == "dropped":
        raise Dropped(out.outcome.triage, out.outcome.message, out.outcome.log)
    if out.status == "error":
        raise InfraError(out.outcome.message, triage=out.outcome.triage, log_path=out.outcome.log)
    return out.facts


def _smoke_tests(ctx: ExecutionContext, rows: list[PRRow], reference: str) -> list[str]:
    """What the smoke run runs at the reference commit (the era's newest merge commit): the newest PR's
    own test modules first (after its fix they pass in a working environment), then the era's others
    (``environments.health.choose_smoke_tests``)."""
    candidates = [m for row in sorted(rows, key=lambda r: -r.number) if row.analysis is not None
                  for m in test_modules(ctx, row.record, row.analysis)]
    return choose_smoke_tests(candidates, ctx.repos[rows[0].repo].files(reference),
                              is_test_module=is_python_test_module)


def _eras(ctx: ExecutionContext, repo: str, rows: list[PRRow]) -> dict[str, list[PRRow]]:
    """A repository's pending PRs by era (``environments.eras``): packaging fingerprint at the base
    commit and the half-year of its date."""
    handle = ctx.repos[repo]
    dates = {sha: datetime.fromisoformat(r.commit_date) if r.commit_date else None
             for sha, r in commit_records(handle.path, [row.record.base_commit for row in rows]).items()}
    out: dict[str, list[PRRow]] = {}
    for row in rows:
        base = row.record.base_commit
        key = era_key(repo, packaging_fingerprint(handle, base), dates.get(base))
        out.setdefault(key, []).append(row)
    return out


def _requests(ctx: ExecutionContext, repo: str, rows: list[PRRow]) -> list[tuple[EnvRequest, list[PRRow]]]:
    """The environments a repository's pending PRs need: one per recipe when recipes are given (the
    explicit one, the recipes directory's variant by each PR's base commit), else one per era, each
    built at the era's newest merge commit with dependencies as of its date (recorded under the era)."""
    resolver = ctx.resolver
    out: list[tuple[EnvRequest, list[PRRow]]] = []
    if repo in resolver.explicit or resolver.recipe_book().get(repo):
        groups: dict[str, tuple[object, list[PRRow]]] = {}
        for r in rows:
            recipe = resolver.explicit_recipe(repo, r.record.base_commit)
            groups.setdefault(recipe.key() if recipe is not None else "", (recipe, []))[1].append(r)
        for recipe, group in groups.values():
            if recipe is None:  # a commit no range of the recipes directory holds: its era decides
                for key, era in _eras(ctx, repo, group).items():
                    out.append((_era_request(ctx, repo, key, era), era))
                continue
            reference = max(group, key=lambda r: r.number).record.merge_commit
            out.append((EnvRequest(repo, reference, key=repo, recipe=recipe), group))
        return out
    for key, era in _eras(ctx, repo, rows).items():
        out.append((_era_request(ctx, repo, key, era), era))
    return out


def _era_request(ctx: ExecutionContext, repo: str, key: str, rows: list[PRRow]) -> EnvRequest:
    reference = max(rows, key=lambda r: r.number).record.merge_commit
    label = f"{repo} ({key.rsplit(':', 2)[-2]}, {len(rows)} PRs)"
    return EnvRequest(repo, reference, key=key, smoke_tests=_smoke_tests(ctx, rows, reference), label=label)


def _environment_failed(ws: Workspace, summary: FactsSummary, repo: str, rows: list[PRRow], exc: InfraError) -> None:
    outcome = exc.outcome(f"environment of {repo}: {str(exc).splitlines()[0]}")
    summary.environment_errors[repo] = outcome
    for r in rows:
        ws.set_pr_stage(r.pr_id, "analyzed", outcome=outcome)
        summary.errors[outcome.triage] += 1
        ws.write_report(r.pr_id, {"instance_id": r.pr_id, "kind": "pr", "status": "error",
                                  **outcome.model_dump(mode="json", include={"triage", "message", "log"})})


def resolve_environments(ctx: ExecutionContext, rows: list[PRRow], summary: FactsSummary,
                         progress: Progress = _noop) -> dict[str, tuple[str, EnvRequest]]:
    """PR id -> (environment name, the request it came from) for the pending PRs; PRs whose
    environment fails keep their stage, with the triaged error (retried on the next run)."""
    by_repo: dict[str, list[PRRow]] = {}
    for r in rows:
        by_repo.setdefault(r.repo, []).append(r)
    out: dict[str, tuple[str, EnvRequest]] = {}
    for repo, repo_rows in sorted(by_repo.items()):
        try:
            requests = _requests(ctx, repo, repo_rows)
        except Exception as exc:  # noqa: BLE001 - a repository that cannot be read fails its PRs, not the run
            _environment_failed(ctx.ws, summary, repo, repo_rows,
                                InfraError(f"cannot read {repo}: {exc}", triage=Triage.IMAGE_BUILD))
            continue
        for request, group in requests:
            try:
                resolution = ctx.resolver.resolve(request, progress)
            except InfraError as exc:
                _environment_failed(ctx.ws, summary, repo, group, exc)
                progress("env", f"{request.label}: FAILED {str(exc).splitlines()[0][:120]}")
                continue
            if resolution.how.startswith("inferred"):
                summary.inferred[request.key] = resolution.name
            for r in group:
                out[r.pr_id] = (resolution.name, request)
    return out


def _record(ws: Workspace, job: FactsJob, out: FactsOutcome, summary: FactsSummary, progress: Progress) -> None:
    report: dict = {"instance_id": job.pr_id, "kind": "pr", "status": out.status, "triage": None, "message": "",
                    "log": None, "environment": job.env, "test_files": list(job.tests), "reruns": job.reruns}
    if out.outcome is not None:
        report.update(out.outcome.model_dump(mode="json", include={"triage", "message", "log"}))
    if out.facts is not None:
        seen = set().union(*(r["tests"] for r in out.runs)) if out.runs else set()
        report.update(FAIL_TO_PASS=out.facts.FAIL_TO_PASS, PASS_TO_PASS=out.facts.PASS_TO_PASS, flaky=out.facts.flaky)
        summary.tests_observed += len(seen)
        summary.flaky_tests += len(out.facts.flaky)
        summary.flaky_prs += bool(out.facts.flaky)
    report["runs"] = out.runs
    if out.status == "executed":
        ws.set_pr_stage(job.pr_id, "executed", facts=out.facts)
        summary.prs_executed += 1
    elif out.status == "dropped":
        ws.set_pr_stage(job.pr_id, "dropped", outcome=out.outcome)
        summary.prs_dropped[out.outcome.triage] += 1
    else:
        ws.set_pr_stage(job.pr_id, "analyzed", outcome=out.outcome)  # retried on the next run
        summary.errors[out.outcome.triage] += 1
    ws.write_report(job.pr_id, report)
    ws.release_leases([_lease(job)])
    progress("facts", job.pr_id if out.status in ("executed", "dropped") else f"{job.pr_id}: {out.outcome.render()}")


def _job(r: PRRow, env: str, tests: tuple[str, ...], reruns: int) -> FactsJob:
    return FactsJob(r.pr_id, env, r.record.base_commit, r.analysis.code_patch, r.analysis.test_patch, tests, reruns,
                    patch_encoding=r.analysis.encoding)


def _lease(job: FactsJob) -> str:
    """The workspace lease of a PR's facts job (``Workspace.take_leases``)."""
    return f"facts:{job.pr_id}"


def run(ws: Workspace, config, progress: Progress = _noop, *, context: ExecutionContext | None = None
        ) -> FactsSummary:
    """FAIL_TO_PASS / PASS_TO_PASS of every PR at stage ``analyzed``. A PR whose runs show the
    environment failing (``environment`` class) sends its era's environment to the repair loop with
    that evidence, once per run, and runs again in the repaired environment."""
    summary = FactsSummary()
    listed = time.time()
    pending = ws.prs(stage="analyzed")
    if not pending:
        return summary
    ctx = context or ExecutionContext.open(ws, config)
    try:
        envs = resolve_environments(ctx, pending, summary, progress)
        rows = {r.pr_id: r for r in pending}
        jobs = []
        for r in pending:
            if r.pr_id not in envs:
                continue
            tests = tuple(test_modules(ctx, r.record, r.analysis))
            if not tests:
                outcome = Outcome.failed(Triage.NO_TEST_MODULE)
                ws.set_pr_stage(r.pr_id, "dropped", outcome=outcome)
                summary.prs_dropped[outcome.triage] += 1
                ws.write_report(r.pr_id, {"instance_id": r.pr_id, "kind": "pr", "status": "dropped",
                                          **outcome.model_dump(mode="json", include={"triage", "message", "log"})})
                continue
            jobs.append(_job(r, envs[r.pr_id][0], tests, config.reruns))
        # another process on this workspace may run some: each job only with its lease
        held = set(ws.take_leases([_lease(j) for j in jobs], listed_at=listed))
        if len(held) < len(jobs):
            progress("facts", f"{len(jobs) - len(held)} PRs run by another process: left to it")
        jobs = [j for j in jobs if _lease(j) in held]
        if hasattr(progress, "total"):  # a display's n/N and ETA: one item per PR, repaired ones included
            progress.total("facts", len(jobs))
        broken: dict[str, list[tuple[FactsJob, FactsOutcome]]] = {}
        for job, out in ctx.runner.map(run_facts_job, jobs, ctx.backend.environments):
            if out.status == "error" and out.outcome.triage is Triage.ENVIRONMENT \
                    and not envs[job.pr_id][1].recipe:  # an inferred environment: repairable
                broken.setdefault(envs[job.pr_id][1].key, []).append((job, out))
                continue
            _record(ws, job, out, summary, progress)
        for key, failed in broken.items():  # one repair round per era
            request = envs[failed[0][0].pr_id][1]
            logs = [r["log"] for _j, o in failed[:3] for r in o.runs if r.get("log")]
            request.evidence = "\n".join(log_text([RunResult(status="ok", log_path=p) for p in logs]).splitlines()[-4000:])
            progress("env", f"{request.label}: {len(failed)} PRs show the environment failing: repairing it")
            try:
                repaired = ctx.resolver.resolve(request, progress).name
            except InfraError as exc:
                for job, out in failed:
                    _record(ws, job, out, summary, progress)
                progress("env", f"{request.label}: repair FAILED {str(exc).splitlines()[0][:120]}")
                continue
            again = [_job(rows[job.pr_id], repaired, job.tests, job.reruns) for job, _out in failed]
            for job, out in ctx.runner.map(run_facts_job, again, ctx.backend.environments):
                _record(ws, job, out, summary, progress)
    finally:
        if context is None:
            ctx.close()
    return summary
