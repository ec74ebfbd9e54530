"""The validation stage.

1. environments: one image per (repository, recipe), built once and shared by
   every instance of the repository. The recipe is the one given for the
   repository (options, or ``recipes/environments`` by the PR's commit range);
   without one, ``infer_recipes`` lists candidates and the first whose image
   builds and whose smoke run collects the tests is recorded (workspace meta
   ``recipe-inference:<repo>``) and reused by later runs;
2. facts: each analyzed PR's test files run before and after its gold patch
   (``reruns`` times, default 3) give FAIL_TO_PASS / PASS_TO_PASS; a test whose
   outcome varies is flaky, excluded and recorded, and a PR whose FAIL_TO_PASS
   depends on flaky tests is dropped with that reason;
3. build: every skill makes its candidates from the PR, its analysis and facts;
4. validate: every candidate is scored on its gold answer (must be 1, on every
   rerun) and on a null answer (must be 0), by the skill's own scorer.

Every failure is triaged (``skillforge.execution.triage``): outcomes drop the PR
or candidate with ``"<class>: reason (see LOG)"``; infrastructure failures
leave it in error, retried on the next run, never a label. Each PR and
candidate gets ``logs/<id>/report.json``.

The Docker work is done by module-level work units (``run_env_job``,
``run_facts_job``, ``run_candidate_job``) that a runner executes: the local
thread pool (``LocalRunner``, sized to the machine) or Ray tasks across a
cluster (``skillforge.execution.distributed.RayRunner``). Each result is
recorded in the workspace as soon as it arrives, so an interrupted run resumes
where it stopped.
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillforge.settings import Settings
from skillforge.execution import InfraError, RunResult, RunSpec
from skillforge.gitio import RepoSet
from skillforge.schema import SKILLS, Analysis, PRFacts, PullRecord
from skillforge.skills import REGISTRY, BuildInput, Dropped
from skillforge.workspace import Workspace
from skillforge.execution.backend import Backend, Environment, environment_name, workspace_environments
from skillforge.execution.cache import CachedExecutor
from skillforge.execution.triage import (
    COLLECTION_ERROR, FLAKY, IMAGE_BUILD, INSTALL, PATCH_APPLY, SANDBOX, TEST_FAILURE, TIMEOUT, RunTriage,
    class_of_reason, classify_run, infra_class,
)

TEST_MODULE_PATTERNS = ("test_*.py", "*_test.py")


DEFAULT_RERUNS = 3
INFERENCE_KEY = "recipe-inference:"  # workspace meta key (+ repo): candidates tried and the recipe kept


@dataclass
class ValidateOptions:
    workers: int = 0  # 0: sized to the machine (default_workers)
    reruns: int = DEFAULT_RERUNS
    skills: tuple[str, ...] = SKILLS
    recipes_dir: Path | None = None
    environments: dict[str, dict] = field(default_factory=dict)  # repo -> explicit environment recipe
    executor: str = "local"  # local | ray
    ray_address: str | None = None  # ray: an existing cluster ("auto", "ray://host:10001"); None starts a local one


@dataclass
class ValidateSummary:
    prs_executed: int = 0
    prs_dropped: Counter = field(default_factory=Counter)
    built: Counter = field(default_factory=Counter)
    valid: Counter = field(default_factory=Counter)
    invalid: Counter = field(default_factory=Counter)  # (skill, reason)
    not_built: Counter = field(default_factory=Counter)  # (skill, reason)
    errors: Counter = field(default_factory=Counter)  # (skill|'pr', triage)
    environment_errors: dict[str, str] = field(default_factory=dict)
    runs_executed: int = 0
    runs_cached: int = 0
    triage: Counter = field(default_factory=Counter)  # triage class -> PRs and candidates
    tests_observed: int = 0  # distinct tests run before/after the fixes (reruns included once)
    flaky_tests: int = 0  # of them, with an outcome that varied across reruns
    flaky_prs: int = 0
    inferred: dict[str, str] = field(default_factory=dict)  # repo -> environment kept by recipe inference
    executor: str = "local"
    seconds: float = 0.0

    @property
    def flake_rate(self) -> float:
        """Flaky tests over tests observed across reruns."""
        return self.flaky_tests / self.tests_observed if self.tests_observed else 0.0


Progress = Callable[[str, str], None]  # (phase, message)


def _noop(phase: str, message: str) -> None:
    return None


def execute_facts(executor: CachedExecutor, env: str, log_id: str, base_commit: str, code_patch: str,
                  test_patch: str, tests: tuple[str, ...], reruns: int,
                  record: list[tuple[int, str, RunResult]] | None = None) -> tuple[PRFacts, str]:
    """Run ``tests`` before the fix (base + test patch) and after it (base + code
    patch + test patch), ``reruns`` times each (logs under ``log_id/``):
    FAIL_TO_PASS passes after and not before, PASS_TO_PASS passes both times,
    tests whose outcome varies across reruns are flaky and in neither. Returns
    the facts and, when FAIL_TO_PASS is empty, why ("" otherwise). Raises
    ``Dropped`` when a patch does not apply or the tests cannot run after the
    fix, ``InfraError`` when the machinery fails. Shared by the PR pipeline and
    SWE-bench-format input (``skillforge.swebench.validate``). ``record``, when
    given, receives ``(attempt, "before"|"after", result)`` of every run made."""
    before_spec = RunSpec(base_commit, (test_patch,), tests, label="before")
    after_spec = RunSpec(base_commit, (code_patch, test_patch), tests, label="after")
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
        if before.status == "apply_failed":
            raise Dropped("test patch does not apply to the base commit")
        if after.status == "apply_failed":
            raise Dropped("gold patch does not apply")
        if after.status == "timeout":
            raise Dropped("tests time out after the fix")
        if after.status == "collection_error":
            raise Dropped("test collection fails after the fix")
        befores.append(before)
        afters.append(after)
    names = sorted(set().union(*(r.tests for r in befores + afters)))
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
    empty = "" if f2p else ("FAIL_TO_PASS depends on flaky tests" if flaky_f2p else "no FAIL_TO_PASS test")
    return PRFacts(environment=env, test_files=list(tests), FAIL_TO_PASS=f2p, PASS_TO_PASS=p2p, flaky=flaky,
                   reruns=len(befores)), empty


# --------------------------------------------------------------------------- work units
# Module-level functions of (backend, job) -> outcome: the local pool runs them in
# threads over the validator's backend; the Ray executor runs them as tasks on the
# nodes of a cluster, each over a backend of its own (skillforge.execution.distributed).

SMOKE_SCRIPT = """\
import shlex, subprocess, sys
command = {command!r} + " --collect-only -q " + " ".join(shlex.quote(t) for t in {tests!r})
print("== " + command, flush=True)
code = subprocess.call(command, shell=True)
sys.exit(0 if code in (0, 5) else code)
"""
"""A smoke run: the recipe's test command collecting the selection (exit 5, no
test collected, counts as a pass: collection itself worked)."""

DROP_TRIAGE = {
    "test patch does not apply to the base commit": PATCH_APPLY,
    "gold patch does not apply": PATCH_APPLY,
    "tests time out after the fix": TIMEOUT,
    "test collection fails after the fix": COLLECTION_ERROR,
    "FAIL_TO_PASS depends on flaky tests": FLAKY,
    "no FAIL_TO_PASS test": TEST_FAILURE,
}


def smoke_spec(recipe, commit: str, tests: list[str] | tuple[str, ...], timeout: int | None = None) -> RunSpec:
    return RunSpec(commit, script=SMOKE_SCRIPT.format(command=recipe.test_cmd, tests=list(tests)), label="smoke",
                   timeout=timeout)


@dataclass
class EnvJob:
    env: Environment
    smoke: RunSpec | None = None


@dataclass
class EnvOutcome:
    name: str
    ok: bool
    image: str = ""
    triage: str | None = None
    reason: str = ""
    log: str | None = None


def run_env_job(backend: Backend, job: EnvJob) -> EnvOutcome:
    """Build (or find) an environment's image; smoke-run test collection in it when asked."""
    backend.add(job.env)
    name = job.env.name
    try:
        info = backend.ensure(name)
    except InfraError as exc:
        cls = infra_class(exc)
        return EnvOutcome(name, False, triage=cls, reason=RunTriage(cls, str(exc).split("\n")[0], log=exc.log_path)
                          .reason(), log=exc.log_path)
    if job.smoke is not None:
        try:
            result = backend.executor.run(name, job.smoke, log_name=f"environments/{name}-smoke")
        except InfraError as exc:
            cls = infra_class(exc)
            return EnvOutcome(name, False, triage=cls, reason=f"{cls}: smoke run: {exc}", log=exc.log_path)
        if result.status != "ok" or result.exit_code != 0:
            t = classify_run(result)
            cls = t.cls if t.cls in (TIMEOUT, SANDBOX) else COLLECTION_ERROR
            why = result.reason or f"exit {result.exit_code}"
            return EnvOutcome(name, False, triage=cls, log=result.log_path,
                              reason=RunTriage(cls, f"smoke run: test collection fails ({why})", t.notes,
                                               result.log_path).reason())
    return EnvOutcome(name, True, image=info.image)


@dataclass
class FactsJob:
    pr_id: str
    env: str
    base_commit: str
    code_patch: str
    test_patch: str
    tests: tuple[str, ...]
    reruns: int


@dataclass
class FactsOutcome:
    pr_id: str
    status: str  # executed | dropped | error
    reason: str = ""
    triage: str | None = None
    facts: dict | None = None
    runs: list[dict] = field(default_factory=list)


def _run_record(attempt: int, label: str, r: RunResult) -> dict:
    return {"attempt": attempt, "label": label, "status": r.status, "exit_code": r.exit_code,
            "duration": round(r.duration, 3), "reason": r.reason, "log": r.log_path, "tests": dict(r.tests)}


def run_facts_job(backend: Backend, job: FactsJob) -> FactsOutcome:
    """A PR's tests before and after its fix, ``reruns`` times: facts, or a triaged drop or error."""
    record: list[tuple[int, str, RunResult]] = []
    try:
        facts, empty = execute_facts(backend.executor, job.env, job.pr_id, job.base_commit, job.code_patch,
                                     job.test_patch, job.tests, job.reruns, record=record)
    except Dropped as exc:
        runs = [_run_record(*r) for r in record]
        cls = DROP_TRIAGE.get(exc.reason, TEST_FAILURE)
        culprit = next((r for _a, label, r in reversed(record)
                        if label == ("before" if exc.reason.startswith("test patch") else "after")), None)
        t = classify_run(culprit) if culprit is not None else RunTriage(cls)
        return FactsOutcome(job.pr_id, "dropped", RunTriage(cls, exc.reason, t.notes, t.log).reason(), cls, runs=runs)
    except InfraError as exc:
        cls = infra_class(exc)
        return FactsOutcome(job.pr_id, "error", RunTriage(cls, str(exc).split("\n")[0], log=exc.log_path).reason(),
                            cls, runs=[_run_record(*r) for r in record])
    runs = [_run_record(*r) for r in record]
    if empty:
        cls = DROP_TRIAGE.get(empty, TEST_FAILURE)
        log = next((r.log_path for _a, label, r in record if label == "after"), None)
        return FactsOutcome(job.pr_id, "dropped", RunTriage(cls, empty, log=log).reason(), cls,
                            facts=facts.model_dump(), runs=runs)
    return FactsOutcome(job.pr_id, "executed", facts=facts.model_dump(), runs=runs)


@dataclass
class CandidateJob:
    instance_id: str
    skill: str
    data: str
    reruns: int


@dataclass
class CandidateOutcome:
    instance_id: str
    skill: str
    status: str  # valid | invalid | error
    reason: str = ""
    triage: str | None = None
    gold: float | None = None
    null: float | None = None
    data: str | None = None
    gold_scores: list[float] = field(default_factory=list)
    gold_detail: dict = field(default_factory=dict)
    null_detail: dict = field(default_factory=dict)
    environment: str = ""


_STATUS_TRIAGE = {"timeout": TIMEOUT, "apply_failed": PATCH_APPLY, "collection_error": COLLECTION_ERROR}


def _detail(detail: dict) -> dict:
    return {k: v for k, v in detail.items() if isinstance(v, (str, int, float, bool, list, dict, type(None)))}


def run_candidate_job(backend: Backend, job: CandidateJob) -> CandidateOutcome:
    """Score a candidate on its gold answer (``reruns`` times when it executes) and on a null answer."""
    skill = REGISTRY[job.skill]
    inst = skill.instance_model.model_validate_json(job.data)
    out = CandidateOutcome(inst.instance_id, job.skill, "invalid", environment=inst.environment)
    gold_detail: dict = {}
    try:
        gold_prefix = f"{inst.instance_id}/gold"
        inst = skill.prepare(inst, backend.context(inst.environment, gold_prefix))
        for attempt in range(max(1, job.reruns) if skill.needs_execution else 1):
            ctx = backend.context(inst.environment, gold_prefix, attempt)
            score = skill.score(inst, inst.answer, ctx)
            out.gold_scores.append(score.value)
            gold_detail = score.detail
        null_score = skill.score(inst, skill.null_answer(inst), backend.context(inst.environment, f"{inst.instance_id}/null"))
    except Dropped as exc:
        out.reason, out.triage = exc.reason, class_of_reason(exc.reason)
        return out
    except InfraError as exc:
        cls = infra_class(exc)
        out.status, out.triage = "error", cls
        out.reason = RunTriage(cls, str(exc).split("\n")[0], log=exc.log_path).reason()
        return out
    out.gold_detail, out.null_detail = _detail(gold_detail), _detail(null_score.detail)
    gold, null = min(out.gold_scores), null_score.value
    log = gold_detail.get("log") if isinstance(gold_detail.get("log"), str) else None
    if len(set(out.gold_scores)) > 1:
        cls, why = FLAKY, "gold answer is flaky across reruns"
    elif gold != 1.0:
        cls = _STATUS_TRIAGE.get(str(gold_detail.get("status", "")), TEST_FAILURE)
        why = "gold answer does not score 1"
        if gold_detail.get("reason"):
            why += f" ({gold_detail['reason']})"
    elif null != 0.0:
        cls, why = TEST_FAILURE, "null answer does not score 0"
        log = null_score.detail.get("log") if isinstance(null_score.detail.get("log"), str) else log
    else:
        cls, why = None, ""
    out.gold, out.null = gold, null
    out.data = inst.model_copy(update={"gold_score": gold, "null_score": null}).model_dump_json()
    if cls is None:
        out.status = "valid"
    else:
        out.triage, out.reason = cls, RunTriage(cls, why, log=log).reason()
    return out


class LocalRunner:
    """Work units in a thread pool over one backend (one Docker engine)."""

    name = "local"

    def __init__(self, backend: Backend, workers: int):
        self.backend = backend
        self.workers = max(1, workers)

    def map(self, fn: Callable, jobs: list, environments: dict | None = None) -> Iterator[tuple[Any, Any]]:
        """(job, outcome) as each finishes."""
        if not jobs:
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(jobs))) as pool:
            futures = {pool.submit(fn, self.backend, job): job for job in jobs}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()

    def close(self) -> None:
        return None


def default_workers(settings: Settings | None = None) -> int:
    """Test containers at once on this machine: one per CPU, as far as memory
    holds one ``mem_limit`` per container (plus a quarter for the host)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return max(1, cpus)
    limit = _bytes((settings or Settings()).mem_limit) or (2 << 30)
    return max(1, min(cpus, int(total * 0.75) // limit))


def _bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        return 0
    return int(float(m.group(1)) * (1 << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[m.group(2)]))


def write_report(ws: Workspace, instance_id: str, report: dict) -> Path:
    """``logs/<instance_id>/report.json`` (replaced atomically)."""
    path = ws.instance_log_dir(instance_id) / "report.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
    return path


def _tests_status(tests: list[str], failing: list[str]) -> dict[str, list[str]]:
    bad = set(failing)
    return {"success": [t for t in tests if t not in bad], "failure": [t for t in tests if t in bad]}


class Validator:
    def __init__(self, ws: Workspace, settings: Settings | None = None, options: ValidateOptions | None = None,
                 backend: Backend | None = None):
        self.ws = ws
        self.settings = settings or Settings.from_env()
        self.options = options or ValidateOptions()
        self.repos = RepoSet(ws)
        self.backend = backend or Backend(self.settings, self.repos.__getitem__, logs_dir=ws.logs_dir, ws=ws)
        for env in workspace_environments(ws):
            self.backend.add(env)
        self._envs: dict[str, str] = {}  # repo -> environment name (the last one resolved)
        self._book: dict | None = None
        self.summary = ValidateSummary()

    @property
    def executor(self) -> CachedExecutor:
        return self.backend.executor

    @property
    def workers(self) -> int:
        return self.options.workers or default_workers(self.settings)

    # -- environments -----------------------------------------------------
    def recipe_book(self) -> dict:
        from skillforge.environments.recipes import load_recipe_book

        if self._book is None:
            self._book = load_recipe_book(self.options.recipes_dir) if self.options.recipes_dir else {}
        return self._book

    def explicit_recipe(self, repo: str, commit: str):
        """The recipe given for the repository (options, then the recipes directory,
        by the commit's range), or None when it must be inferred."""
        from skillforge.environments.recipes import EnvRecipe, git_commit_info, select_recipe

        if repo in self.options.environments:
            return EnvRecipe.model_validate(self.options.environments[repo])
        variants = self.recipe_book().get(repo)
        if variants:
            return select_recipe(variants, git_commit_info(self.repos[repo].path, commit))
        return None

    def inferred_winner(self, repo: str):
        """The recipe recorded for the repository by an earlier inference, if any."""
        from skillforge.environments.recipes import EnvRecipe

        raw = self.ws.get_meta(INFERENCE_KEY + repo)
        if not raw:
            return None
        data = json.loads(raw)
        return EnvRecipe.model_validate(data["winner"]["recipe"]) if data.get("winner") else None

    def recipe_candidates(self, repo: str, commit: str) -> list:
        from skillforge.environments.recipes import git_commit_info, infer_recipes

        handle = self.repos[repo]

        def read(path: str) -> str | None:
            data = handle.read(commit, path)
            return data.decode("utf-8", "replace") if data is not None else None

        info = git_commit_info(handle.path, commit)
        return infer_recipes(read, list(handle.files(commit)), commit_date=info.date)

    def recipe_for(self, repo: str, commit: str):
        """The recipe a PR at ``commit`` gets: explicit, else recorded, else the first inferred candidate."""
        return self.explicit_recipe(repo, commit) or self.inferred_winner(repo) or self.recipe_candidates(repo, commit)[0]

    def _reference(self, repo: str, name: str, default: str) -> str:
        row = self.ws.environment(name)
        return row["reference_commit"] if row is not None and row["reference_commit"] else default

    def _env_ready(self, outcome: EnvOutcome, reason: str = "") -> None:
        env = self.backend.environments[outcome.name]
        self.ws.set_environment(env.name, env.repo, env.recipe, outcome.image, "ready", reason=reason,
                                reference_commit=env.reference_commit)

    def ensure_environment(self, repo: str, reference_commit: str, progress: Progress = _noop,
                           runner=None) -> str:
        """The environment name for a repository (its explicit or recorded recipe, else
        inference with smoke runs), its image built on first use. Raises InfraError."""
        return self._ensure(repo, self.explicit_recipe(repo, reference_commit), reference_commit, progress, runner)

    def _ensure(self, repo: str, recipe, reference: str, progress: Progress, runner=None) -> str:
        """``recipe``'s environment (None: the recorded inferred recipe, else inference)."""
        runner = runner or LocalRunner(self.backend, 1)
        recipe = recipe or self.inferred_winner(repo)
        if recipe is None:
            name = self.infer_environment(repo, reference, progress, runner)
        else:
            name = environment_name(repo, recipe)
            self.backend.define(repo, recipe, self._reference(repo, name, reference))
            progress("env", f"{repo}: environment {name} (python {recipe.python})")
            [(_job, outcome)] = list(runner.map(run_env_job, [EnvJob(self.backend.environments[name])]))
            if not outcome.ok:
                raise InfraError(outcome.reason, triage=outcome.triage or IMAGE_BUILD, log_path=outcome.log)
            self._env_ready(outcome)
        self._envs[repo] = name
        return name

    def infer_environment(self, repo: str, reference: str, progress: Progress, runner) -> str:
        """Candidates from the repository's configuration, tried in order: the first
        whose image builds and whose smoke run collects the tests is recorded as the
        repository's recipe (``meta`` key ``recipe-inference:<repo>``), so later runs
        reuse it. Raises InfraError with the last candidate's failure when none works."""
        candidates = self.recipe_candidates(repo, reference)
        tests = self._smoke_tests(repo, reference)
        tried: list[dict] = []
        last: EnvOutcome | None = None
        for i, recipe in enumerate(candidates, 1):
            name = self.backend.define(repo, recipe, reference)
            progress("env", f"{repo}: trying inferred recipe {i}/{len(candidates)} (python {recipe.python})")
            spec = smoke_spec(recipe, reference, tests, timeout=min(600, recipe.timeout or self.settings.test_timeout))
            [(_job, last)] = list(runner.map(run_env_job, [EnvJob(self.backend.environments[name], spec)]))
            tried.append({"name": name, "recipe": recipe.model_dump(), "ok": last.ok, "triage": last.triage,
                          "reason": last.reason})
            if last.ok:
                self._env_ready(last, reason=f"inferred: candidate {i} of {len(candidates)}, smoke run passed")
                self.summary.inferred[repo] = name
                self.ws.set_meta(INFERENCE_KEY + repo, json.dumps(
                    {"winner": {"name": name, "recipe": recipe.model_dump()}, "tried": tried, "smoke_tests": tests}))
                return name
            self.backend.environments.pop(name, None)
        self.ws.set_meta(INFERENCE_KEY + repo, json.dumps({"winner": None, "tried": tried, "smoke_tests": tests}))
        assert last is not None
        raise InfraError(f"no inferred recipe works ({len(tried)} tried); the last: {last.reason}",
                         triage=last.triage or INSTALL, log_path=last.log)

    def _smoke_tests(self, repo: str, reference: str) -> list[str]:
        """Test modules of the PR whose merge commit is the reference (they exist there)."""
        for row in self.ws.query("SELECT pr_id FROM prs WHERE repo=? ORDER BY number DESC", (repo,)):
            pr = self.ws.get_pr(row["pr_id"])
            analysis = self.ws.pr_analysis(pr.instance_id)
            if pr.merge_commit == reference and analysis is not None:
                return self.test_modules(pr, analysis)
        return []

    def resolve_environments(self, rows: list, runner, progress: Progress = _noop) -> dict[str, str]:
        """PR id -> environment name for the pending PRs ``rows``; PRs whose
        environment fails keep their stage, with the triaged reason."""
        by_repo: dict[str, list] = {}
        for r in rows:
            by_repo.setdefault(r["repo"], []).append(r)
        out: dict[str, str] = {}
        for repo, repo_rows in sorted(by_repo.items()):
            try:
                groups = self._recipe_groups(repo, repo_rows)
            except Exception as exc:  # noqa: BLE001 - a repository that cannot be read fails its PRs, not the run
                groups = None
                self._environment_failed(repo, repo_rows, InfraError(f"cannot read {repo}: {exc}", triage=IMAGE_BUILD))
            for recipe, group_rows in (groups or []):
                reference = self._reference_commit(repo, group_rows)
                try:
                    name = self._ensure(repo, recipe, reference, progress, runner)
                except InfraError as exc:
                    self._environment_failed(repo, group_rows, exc)
                    progress("env", f"{repo}: FAILED {str(exc).splitlines()[0][:120]}")
                    continue
                for r in group_rows:
                    out[r["pr_id"]] = name
        return out

    def _recipe_groups(self, repo: str, rows: list) -> list[tuple[Any, list]]:
        """PRs grouped by the recipe their base commit gets (None: inferred)."""
        from skillforge.environments.recipes import EnvRecipe, git_commit_info, select_recipe

        if repo in self.options.environments:
            return [(EnvRecipe.model_validate(self.options.environments[repo]), rows)]
        variants = self.recipe_book().get(repo)
        if not variants:
            return [(None, rows)]
        path = self.repos[repo].path
        groups: dict[str, tuple[Any, list]] = {}
        for r in rows:
            base = PullRecord.model_validate_json(r["record"]).base_commit
            recipe = select_recipe(variants, git_commit_info(path, base))
            key = recipe.key() if recipe is not None else ""
            groups.setdefault(key, (recipe, []))[1].append(r)
        return list(groups.values())

    def _environment_failed(self, repo: str, rows: list, exc: InfraError) -> None:
        cls = infra_class(exc)
        reason = RunTriage(cls, f"environment of {repo}: {str(exc).splitlines()[0]}", log=exc.log_path).reason()
        self.summary.environment_errors[repo] = reason
        for r in rows:
            self.ws.set_pr_stage(r["pr_id"], "analyzed", reason=reason)
            self.summary.errors[("pr", cls)] += 1
            self.summary.triage[cls] += 1
            write_report(self.ws, r["pr_id"], {"instance_id": r["pr_id"], "kind": "pr", "status": "error",
                                               "triage": cls, "reason": reason, "log": exc.log_path})

    # -- facts ------------------------------------------------------------
    def test_modules(self, pr: PullRecord, analysis: Analysis) -> list[str]:
        files_after = set(self.repos[pr.repo].files(pr.merge_commit))
        mods = {t.split("::")[0] for t in analysis.test_functions}
        mods |= {f for f in analysis.test_files
                 if any(fnmatch.fnmatch(posixpath.basename(f), p) for p in TEST_MODULE_PATTERNS)}
        return sorted(m for m in mods if m in files_after)

    def facts_job(self, pr: PullRecord, analysis: Analysis, env: str) -> FactsJob:
        tests = tuple(self.test_modules(pr, analysis))
        if not tests:
            raise Dropped("no runnable test module in the test patch")
        return FactsJob(pr.instance_id, env, pr.base_commit, analysis.code_patch, analysis.test_patch, tests,
                        self.options.reruns)

    def pr_facts(self, pr: PullRecord, analysis: Analysis, env: str) -> PRFacts:
        """FAIL_TO_PASS / PASS_TO_PASS of one PR (raises Dropped with a triaged reason, or InfraError)."""
        out = run_facts_job(self.backend, self.facts_job(pr, analysis, env))
        if out.status == "dropped":
            raise Dropped(out.reason)
        if out.status == "error":
            raise InfraError(out.reason, triage=out.triage or SANDBOX)
        return PRFacts.model_validate(out.facts)

    def build(self, pr: PullRecord, analysis: Analysis, facts: PRFacts
              ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
        handle = self.repos[pr.repo]
        src = BuildInput(pr=pr, analysis=analysis, facts=facts, read_new=handle.reader(pr.merge_commit),
                         read_old=handle.reader(pr.base_commit), repo_files=list(handle.files(pr.base_commit)),
                         read_at=handle.read)
        rows, not_built = [], []
        for name in self.options.skills:
            skill = REGISTRY[name]
            try:
                for inst in skill.build(src):
                    rows.append((inst.instance_id, name, inst.model_dump_json()))
                    self.summary.built[name] += 1
            except Dropped as e:
                not_built.append((name, e.reason))
                self.summary.not_built[(name, e.reason)] += 1
            except Exception as e:  # a bug or an odd PR must not stop the run: record it, keep the other skills
                reason = f"build failed: {type(e).__name__}: {e}"
                log = self.ws.instance_log_dir(pr.instance_id) / f"build-{name}.log"
                log.write_text(traceback.format_exc())
                not_built.append((name, f"{reason} (see {log})"))
                self.summary.not_built[(name, "build failed")] += 1
        return rows, not_built

    def _record_facts(self, job: FactsJob, out: FactsOutcome, progress: Progress) -> None:
        ws, pr_id = self.ws, job.pr_id
        tests_seen = set().union(*(r["tests"] for r in out.runs)) if out.runs else set()
        report = {"instance_id": pr_id, "kind": "pr", "status": out.status, "triage": out.triage,
                  "reason": out.reason, "environment": job.env, "test_files": list(job.tests), "reruns": job.reruns}
        if out.facts is not None:
            facts = PRFacts.model_validate(out.facts)
            report.update(FAIL_TO_PASS=facts.FAIL_TO_PASS, PASS_TO_PASS=facts.PASS_TO_PASS, flaky=facts.flaky)
            self.summary.tests_observed += len(tests_seen)
            self.summary.flaky_tests += len(facts.flaky)
            self.summary.flaky_prs += bool(facts.flaky)
        report["runs"] = out.runs
        if out.status == "executed":
            facts = PRFacts.model_validate(out.facts)
            pr = ws.get_pr(pr_id)
            analysis = ws.pr_analysis(pr_id)
            rows, not_built = self.build(pr, analysis, facts)
            ws.set_pr_stage(pr_id, "executed", facts=facts.model_dump())
            ws.add_candidates(pr_id, rows, not_built)
            self.summary.prs_executed += 1
            report["candidates"] = [r[0] for r in rows]
        elif out.status == "dropped":
            ws.set_pr_stage(pr_id, "dropped", reason=out.reason)
            self.summary.prs_dropped[out.reason.split(" (see")[0]] += 1
            self.summary.triage[out.triage or ""] += 1
        else:
            ws.set_pr_stage(pr_id, "analyzed", reason=out.reason)  # retried on the next run
            self.summary.errors[("pr", out.triage or SANDBOX)] += 1
            self.summary.triage[out.triage or SANDBOX] += 1
            progress("facts", f"{pr_id}: {out.reason}")
        write_report(ws, pr_id, report)
        progress("facts", pr_id)

    # -- candidates -------------------------------------------------------
    def validate_candidate(self, row) -> tuple[str, str, str, float | None, float | None, str, str | None]:
        """(instance_id, status, reason, gold, null, log_dir, updated json)."""
        out = run_candidate_job(self.backend, CandidateJob(row["instance_id"], row["skill"], row["data"],
                                                           self.options.reruns))
        log_dir = str(self.ws.instance_log_dir(out.instance_id))
        return out.instance_id, out.status, out.reason, out.gold, out.null, log_dir, out.data

    def _record_candidate(self, job: CandidateJob, out: CandidateOutcome, progress: Progress) -> None:
        log_dir = str(self.ws.instance_log_dir(out.instance_id))
        self.ws.set_candidate_result(out.instance_id, out.status, reason=out.reason, gold_score=out.gold,
                                     null_score=out.null, log_dir=log_dir, data=out.data)
        if out.status == "valid":
            self.summary.valid[out.skill] += 1
        elif out.status == "invalid":
            self.summary.invalid[(out.skill, out.reason.split(" (see")[0])] += 1
        else:
            self.summary.errors[(out.skill, out.triage or SANDBOX)] += 1
        if out.triage:
            self.summary.triage[out.triage] += 1
        report = {"instance_id": out.instance_id, "kind": "candidate", "skill": out.skill, "status": out.status,
                  "triage": out.triage, "reason": out.reason, "environment": out.environment,
                  "reruns": job.reruns, "gold_scores": out.gold_scores, "gold_score": out.gold,
                  "null_score": out.null, "gold": out.gold_detail, "null": out.null_detail}
        inst = json.loads(out.data or job.data)
        if inst.get("FAIL_TO_PASS") is not None:
            failing = out.gold_detail.get("failing") or []
            report["tests_status"] = {"FAIL_TO_PASS": _tests_status(inst.get("FAIL_TO_PASS", []), failing),
                                      "PASS_TO_PASS": _tests_status(inst.get("PASS_TO_PASS", []), failing)}
        write_report(self.ws, out.instance_id, report)
        progress("validate", f"{out.instance_id}: {out.status}")

    # -- the whole stage ----------------------------------------------------
    def make_runner(self):
        if self.options.executor == "ray":
            from skillforge.execution.distributed import RayRunner

            return RayRunner(self.ws, self.settings, address=self.options.ray_address, workers=self.options.workers)
        if self.options.executor != "local":
            raise ValueError(f"unknown executor {self.options.executor!r}: local or ray")
        return LocalRunner(self.backend, self.workers)

    def run(self, progress: Progress = _noop) -> ValidateSummary:
        ws = self.ws
        started = time.monotonic()
        pending_prs = ws.prs(stage="analyzed")
        runner = self.make_runner()
        self.summary.executor = runner.name
        try:
            pr_envs = self.resolve_environments(pending_prs, runner, progress) if pending_prs else {}
            jobs = []
            for r in pending_prs:
                if r["pr_id"] not in pr_envs:
                    continue
                pr, analysis = ws.get_pr(r["pr_id"]), ws.pr_analysis(r["pr_id"])
                assert analysis is not None
                try:
                    jobs.append(self.facts_job(pr, analysis, pr_envs[r["pr_id"]]))
                except Dropped as e:
                    ws.set_pr_stage(pr.instance_id, "dropped", reason=e.reason)
                    self.summary.prs_dropped[e.reason] += 1
                    write_report(ws, pr.instance_id, {"instance_id": pr.instance_id, "kind": "pr",
                                                      "status": "dropped", "triage": None, "reason": e.reason})
            for job, out in runner.map(run_facts_job, jobs, self.backend.environments):
                self._record_facts(job, out, progress)
            todo = ws.candidates(status="built") + ws.candidates(status="error")
            cjobs, unknown = [], []
            for c in todo:
                env = json.loads(c["data"]).get("environment", "")
                (cjobs if env in self.backend.environments else unknown).append(c)
            for c in unknown:
                reason = f"{IMAGE_BUILD}: environment of {c['instance_id']} is not defined in this workspace"
                ws.set_candidate_result(c["instance_id"], "error", reason=reason)
                self.summary.errors[(c["skill"], IMAGE_BUILD)] += 1
            jobs_c = [CandidateJob(c["instance_id"], c["skill"], c["data"], self.options.reruns) for c in cjobs]
            for job, out in runner.map(run_candidate_job, jobs_c, self.backend.environments):
                self._record_candidate(job, out, progress)
        finally:
            runner.close()
        stats = getattr(runner, "run_stats", None)
        if stats is not None:
            self.summary.runs_executed, self.summary.runs_cached = stats()
        else:
            self.summary.runs_executed = self.executor.misses
            self.summary.runs_cached = self.executor.hits
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _reference_commit(self, repo: str, rows: list | None = None) -> str:
        """The newest merge commit mined for the repository (or among ``rows``): the environment is built at it."""
        if rows:
            newest = max(rows, key=lambda r: r["number"])
            return PullRecord.model_validate_json(newest["record"]).merge_commit
        rows = self.ws.query("SELECT record FROM prs WHERE repo=? ORDER BY number DESC LIMIT 1", (repo,))
        return PullRecord.model_validate_json(rows[0]["record"]).merge_commit


# --------------------------------------------------------------------------- re-validating an export


@dataclass
class RevalidationReport:
    """Re-validation of an exported dataset: every instance scored again on its gold
    answer ``reruns`` times and on a null answer, in fresh containers."""

    reruns: int
    outcomes: dict[str, CandidateOutcome] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def reproduced(self) -> list[str]:
        return sorted(i for i, o in self.outcomes.items() if o.status == "valid")

    @property
    def not_reproduced(self) -> dict[str, str]:
        return {i: o.reason for i, o in sorted(self.outcomes.items()) if o.status != "valid"}

    @property
    def flaky(self) -> list[str]:
        """Instances whose gold score varied across the reruns."""
        return sorted(i for i, o in self.outcomes.items() if len(set(o.gold_scores)) > 1)

    @property
    def scored_runs(self) -> int:
        return sum(len(o.gold_scores) for o in self.outcomes.values())

    @property
    def flake_rate(self) -> float:
        """Flaky instances over instances re-validated."""
        return len(self.flaky) / len(self.outcomes) if self.outcomes else 0.0

    def to_json(self) -> dict:
        return {"instances": len(self.outcomes), "reproduced": len(self.reproduced), "reruns": self.reruns,
                "flaky": self.flaky, "flake_rate": self.flake_rate, "not_reproduced": self.not_reproduced,
                "seconds": round(self.seconds, 1)}


def revalidate_dataset(instances: list, backend: Backend, *, reruns: int = DEFAULT_RERUNS, workers: int = 0,
                       progress: Progress = _noop) -> RevalidationReport:
    """Score every instance of an exported dataset again (``evaluate.load_instances``
    gives them, ``evaluate.backend_for_dataset`` the backend): a reproduced instance
    scores 1 on its gold answer on every rerun and 0 on the null answer."""
    started = time.monotonic()
    report = RevalidationReport(reruns=reruns)
    jobs = [CandidateJob(i.instance_id, i.skill, i.model_dump_json(), reruns) for i in instances]
    runner = LocalRunner(backend, workers or default_workers(backend.settings))
    for job, out in runner.map(run_candidate_job, jobs):
        if out.status == "valid" and out.data is not None:
            before, after = json.loads(job.data), json.loads(out.data)
            changed = sorted(k for k in set(before) | set(after)
                             if k not in ("gold_score", "null_score") and before.get(k) != after.get(k))
            if changed:  # what validation derived by executing (a review's failing tests...) came out different
                out.status, out.triage = "invalid", TEST_FAILURE
                out.reason = f"{TEST_FAILURE}: execution-derived fields differ from the dataset: {', '.join(changed)}"
        report.outcomes[job.instance_id] = out
        progress("revalidate", f"{job.instance_id}: {'reproduced' if out.status == 'valid' else out.reason}")
    report.seconds = time.monotonic() - started
    return report


def read_exported_instances(dataset: str | Path, *, split: str = "train",
                            skills: tuple[str, ...] = SKILLS) -> list:
    """Typed instances of an exported folder, read straight from its parquet files
    (``<skill>/<split>-*.parquet``): nothing comes from the ``datasets`` cache,
    whose key for a local folder does not follow the files it was built from."""
    import pyarrow.parquet as pq

    out = []
    for skill in skills:
        model = REGISTRY[skill].instance_model
        for path in sorted(Path(dataset, skill).glob(f"{split}-*.parquet")):
            out.extend(model.model_validate(row) for row in pq.read_table(path).to_pylist())
    return out
