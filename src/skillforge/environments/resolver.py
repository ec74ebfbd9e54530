"""The one environment resolver, used by the workspace pipeline and by
SWE-bench-format input alike.

A request names a repository, the commit its environment is built at (the
*reference*), the tests a smoke run should run there, and the key under which
the choice is recorded. The recipe comes from, in this order:

1. an explicit recipe (given for the repository, or the recipes directory's
   variant whose range holds the reference commit): used as it is;
2. the recipe an earlier run recorded under the request's key: reused;
3. inference (``environments.infer``) from what the tree says at the reference
   commit, with every dependency resolved as it was on that commit's date (time
   travel). The candidates are tried in order: each is built, then smoke-run —
   the tests really run, and an environment in which they all fail with one
   shared cause is a failure (``environments.health``). A failed build or smoke
   run goes to the repair loop (``environments.repair``): the log is diagnosed,
   the recipe changed, and the attempt made again, a bounded number of times.
   The first candidate that works is recorded under the key.

Every attempt is logged under ``logs/environments/``; what was tried, what each
repair changed and why each failed is recorded in the workspace
(``Workspace.resolution``), and ``skillforge env show`` prints it.
"""

from __future__ import annotations

import dataclasses

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from skillforge.environments.health import environment_failure, log_text
from skillforge.environments.infer import infer_recipes
from skillforge.environments.recipes import RecipeVariant, load_recipe_book, select_recipe
from skillforge.execution.backend import Backend, Environment, environment_name
from skillforge.execution.runner import LocalRunner, Runner
from skillforge.execution.spec import InfraError, RunResult, RunSpec
from skillforge.execution.triage import classify_run
from skillforge.gitio import commit_info
from skillforge.schema import EnvRecipe, Outcome, Triage
from skillforge.workspace import Workspace

Progress = Callable[[str, str], None]  # (phase, message)

MAX_REPAIRS = 4
"""Repairs tried per candidate recipe before the next candidate."""
BUILD_TOOLS_FLOOR = "2023-01-01T00:00:00Z"
"""Build backends are never resolved older than this (the first releases with editable installs, PEP 660:
setuptools 64, flit-core 3.4, poetry-core 1.0.8); the project's own dependencies still time-travel."""
BUILD_TOOLS = ("setuptools", "wheel", "flit-core", "poetry-core", "hatchling", "pdm-backend", "pdm-pep517",
               "setuptools-scm", "hatch-vcs", "cython")

SMOKE_SCRIPT = """\
import shlex, subprocess, sys
command = {command!r} + " --collect-only -q " + " ".join(shlex.quote(t) for t in {tests!r})
print("== " + command, flush=True)
code = subprocess.call(command, shell=True)
sys.exit(0 if code in (0, 5) else code)
"""
"""A collection-only smoke run (used when no test module exists at the reference commit)."""


def smoke_spec(recipe: EnvRecipe, commit: str, tests: list[str] | tuple[str, ...],
               timeout: int | None = None) -> RunSpec:
    """A smoke run: the selected tests really run (a run of no test collects the default selection)."""
    if tests:
        return RunSpec(commit, tests=tuple(tests), label="smoke", timeout=timeout)
    return RunSpec(commit, script=SMOKE_SCRIPT.format(command=recipe.test_cmd, tests=list(recipe.test_files)),
                   label="smoke", timeout=timeout)


def smoke_specs(recipe: EnvRecipe, commit: str, tests: list[str] | tuple[str, ...],
                timeout: int | None = None) -> list[RunSpec]:
    """The smoke runs, one test module each, tried in order until one shows the environment working: a
    module that hangs (a test reaching for the network, say) then fails alone, not the environment."""
    if not tests:
        return [smoke_spec(recipe, commit, (), timeout)]
    return [RunSpec(commit, tests=(t,), label=f"smoke-{i}" if i else "smoke", timeout=timeout)
            for i, t in enumerate(tests)]


def smoke_verdict(result: RunResult) -> Outcome | None:
    """None when a smoke run shows a working environment (a test passed, or collection worked for a
    collection-only run); otherwise why not."""
    if result.status == "infra_error":
        return Outcome.failed(Triage.SANDBOX, result.reason or "the smoke run failed", result.log_path)
    if result.status == "ok" and (result.tests and any(o == "passed" for o in result.tests.values())
                                  or (not result.tests and result.exit_code == 0)):
        return None
    if result.status == "timeout" and re.search(r"collected [1-9]\d* items?", result.output) \
            and re.search(r"^\S+\.py \S*\.", result.output, re.M):
        return None  # tests were collected and passed until one hung (a test that reaches for the network...)
    broken = environment_failure([result])
    if broken is not None:
        return broken.model_copy(update={"message": f"smoke run: {broken.message.split(': ', 1)[-1]}"})
    t = classify_run(result)
    if result.status == "ok" and result.tests:
        return Outcome.failed(Triage.ENVIRONMENT, "smoke run: no test passes", result.log_path)
    cls = t.cls if t.cls in (Triage.TIMEOUT, Triage.SANDBOX) else Triage.COLLECTION_ERROR
    return t.outcome(f"smoke run: tests do not run ({result.reason or f'exit {result.exit_code}'})", cls)


# --------------------------------------------------------------------------- the work unit


@dataclass
class EnvJob:
    env: Environment
    smoke: list[RunSpec] | None = None  # tried in order until one passes


@dataclass
class EnvOutcome:
    name: str
    ok: bool
    image: str = ""
    outcome: Outcome | None = None  # why it failed
    log: str = ""  # the text of the failing install or smoke log (for the repair loop)


def run_env_job(backend: Backend, job: EnvJob) -> EnvOutcome:
    """Build (or find) an environment's image; smoke-run tests in it when asked.
    A work unit: the local runner and the Ray runner both carry it out."""
    backend.add(job.env)
    name = job.env.name
    try:
        info = backend.ensure(name)
    except InfraError as exc:
        text = Path(exc.log_path).read_text(errors="replace")[-(2 << 20):] if exc.log_path and \
            Path(exc.log_path).is_file() else str(exc)
        return EnvOutcome(name, False, outcome=exc.outcome(), log=text)
    first: EnvOutcome | None = None
    specs = list(job.smoke or ())
    skipped_only = False
    while specs:
        spec = specs.pop(0)
        try:
            result = backend.executor.run(name, spec, log_name=f"environments/{name}-{spec.label}")
        except InfraError as exc:
            return EnvOutcome(name, False, outcome=exc.outcome(f"smoke run: {str(exc).splitlines()[0]}"))
        if all_skipped(result):
            # every test skipped itself (a tool it needs is not installed, another platform...): that says
            # nothing about the environment; the next module, and after the last the default selection
            skipped_only = True
            if not specs and spec.tests:
                specs.append(dataclasses.replace(smoke_spec(job.env.recipe, spec.commit, (), spec.timeout),
                                                 label="smoke-default"))
            continue
        verdict = smoke_verdict(result)
        if verdict is None:
            return EnvOutcome(name, True, image=info.image)
        if verdict.triage is not Triage.TIMEOUT:  # a broken environment shows in any module: repair it now
            return EnvOutcome(name, False, outcome=verdict, log=log_text([result]))
        first = first or EnvOutcome(name, False, outcome=verdict, log=log_text([result]))
    if first is None and skipped_only:
        return EnvOutcome(name, True, image=info.image)
    return first or EnvOutcome(name, True, image=info.image)


def all_skipped(result: RunResult) -> bool:
    """A run whose tests all ran and every one skipped itself (none failed or errored)."""
    return result.status == "ok" and bool(result.tests) and all(o == "skipped" for o in result.tests.values())


# --------------------------------------------------------------------------- requests


@dataclass
class EnvRequest:
    """One environment to resolve: ``repo`` built at ``reference``."""

    repo: str
    reference: str
    key: str = ""  # where the choice is recorded (default: ``repo@reference``)
    smoke_tests: list[str] = field(default_factory=list)
    recipe: EnvRecipe | None = None  # explicit (given or from the recipes directory): used as it is
    extra_env: dict[str, str] = field(default_factory=dict)  # set in every recipe (so in its image key)
    label: str = ""
    evidence: str = ""  # a log showing the recorded environment failing: repair it instead of reusing it

    def __post_init__(self) -> None:
        self.key = self.key or f"{self.repo}@{self.reference}"
        self.label = self.label or self.repo


@dataclass
class Resolution:
    name: str
    recipe: EnvRecipe
    how: str  # explicit | recorded | inferred: candidate i of n, smoke run passed | repaired: ...


def modern_build_tools(recipe: EnvRecipe) -> EnvRecipe:
    """Time travel for the project, not for its build backend: backends are resolved at least as new as
    ``BUILD_TOOLS_FLOOR`` (so editable installs work whatever the era)."""
    if not recipe.exclude_newer or recipe.exclude_newer >= BUILD_TOOLS_FLOOR:
        return recipe
    floor = {name: BUILD_TOOLS_FLOOR for name in BUILD_TOOLS if name not in recipe.exclude_newer_packages}
    return recipe.model_copy(update={"exclude_newer_packages": {**floor, **recipe.exclude_newer_packages}})


def _moment(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _installs_project(step: str) -> bool:
    """Whether an install step installs the repository's own project (``-e .``, ``.``, ``'.[tests]'``)."""
    try:
        words = shlex.split(step)
    except ValueError:
        return False
    return any(w == "." or w.startswith((".[", "./[")) or w in ("-e.", "--editable=.") for w in words)


def apply_repair(recipe: EnvRecipe, repair, *, src_layout: bool = False) -> EnvRecipe:
    """The recipe with one repair (``environments.repair.Repair``) made."""
    update: dict = {}
    if repair.packages:  # before the project's own install: a build may need them (setup.py importing numpy)
        step = "sf-install " + " ".join(shlex.quote(p) for p in repair.packages)
        at = next((i for i, s in enumerate(recipe.install) if _installs_project(s)), len(recipe.install))
        update["install"] = [*recipe.install[:at], step, *recipe.install[at:]]
    if repair.constraints:
        update["constraints"] = list(dict.fromkeys([*recipe.constraints, *repair.constraints]))
    if repair.older:
        older = dict(recipe.exclude_newer_packages)
        for name in repair.older:
            current = older.get(name) or recipe.exclude_newer
            older[name] = (_moment(current) - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
        update["exclude_newer_packages"] = older
    if repair.system_packages:
        update["system_packages"] = list(dict.fromkeys([*recipe.system_packages, *repair.system_packages]))
    env = dict(recipe.env)
    if repair.env:
        env.update(dict(repair.env))
    if repair.editable is False:
        steps = update.get("install", recipe.install)
        update["install"] = [s.replace("sf-install -e ", "sf-install ").replace("pip install -e ", "pip install ")
                             for s in steps]
        env["PYTHONPATH"] = "/testbed/src" if src_layout else "/testbed"  # tests import the patched sources
    if env != recipe.env:
        update["env"] = env
    return recipe.model_copy(update=update)


class Resolver:
    """Chooses, builds, repairs and records environments (see the module docstring).

    ``repos(repo)`` gives a repository handle (``gitio.RepoHandle``: ``read``,
    ``files``, ``path``); ``explicit`` maps repositories to recipes given for
    them (a run recipe's source ``environment``); ``recipes_dir`` holds recipe
    files with commit ranges."""

    def __init__(self, ws: Workspace, backend: Backend, repos: Callable, *, runner: Runner | None = None,
                 recipes_dir: Path | None = None, explicit: dict[str, EnvRecipe | dict] | None = None,
                 smoke_timeout: int = 180, max_repairs: int = MAX_REPAIRS):
        self.ws = ws
        self.backend = backend
        self.repos = repos
        self.runner = runner or LocalRunner(backend, 1)
        self.recipes_dir = recipes_dir
        self.explicit = {repo: EnvRecipe.model_validate(r) for repo, r in (explicit or {}).items()}
        self.smoke_timeout = smoke_timeout
        self.max_repairs = max_repairs
        self._book: dict[str, list[RecipeVariant]] | None = None
        self.inferred: dict[str, str] = {}  # request key -> environment kept by inference in this run

    # -- where recipes come from ----------------------------------------------
    def recipe_book(self) -> dict[str, list[RecipeVariant]]:
        if self._book is None:
            self._book = load_recipe_book(self.recipes_dir) if self.recipes_dir else {}
        return self._book

    def explicit_recipe(self, repo: str, commit: str) -> EnvRecipe | None:
        """The recipe given for the repository, else the recipes directory's variant whose range
        holds ``commit``; None when the recipe must be inferred."""
        if repo in self.explicit:
            return self.explicit[repo]
        variants = self.recipe_book().get(repo)
        if variants:
            return select_recipe(variants, commit_info(self.repos(repo).path, commit))
        return None

    def recorded(self, key: str) -> EnvRecipe | None:
        """The recipe an earlier run kept under ``key``."""
        data = self.ws.resolution(key)
        winner = (data or {}).get("winner")
        return EnvRecipe.model_validate(winner["recipe"]) if winner else None

    def candidates(self, repo: str, commit: str) -> list[EnvRecipe]:
        """Recipes inferred from the repository's tree at ``commit``, dependencies as of its date."""
        handle = self.repos(repo)

        def read(path: str) -> str | None:
            data = handle.read(commit, path)
            return data.decode("utf-8", "replace") if data is not None else None

        info = commit_info(handle.path, commit)
        settings = self.backend.settings
        recipes = infer_recipes(read, list(handle.files(commit)), commit_date=info.date, version=info.version,
                                pythons=settings.pythons(), slack=timedelta(days=settings.time_travel_slack_days),
                                backends_as_of=_moment(BUILD_TOOLS_FLOOR))
        return [modern_build_tools(r) for r in recipes]

    def plan(self, request: EnvRequest) -> tuple[list[EnvRecipe], str]:
        """The recipes to try for a request and where they come from: explicit, recorded or inferred."""
        if request.recipe is not None:
            return [self._with_env(request.recipe, request)], "explicit"
        recorded = self.recorded(request.key)
        if recorded is not None and not request.evidence:
            return [recorded], "recorded"
        if recorded is not None:  # it was recorded, but a later run showed it failing: repair it first
            return [recorded, *(self._with_env(r, request) for r in self.candidates(request.repo, request.reference)
                                if r.key() != recorded.key())], "inferred"
        return [self._with_env(r, request) for r in self.candidates(request.repo, request.reference)], "inferred"

    @staticmethod
    def _with_env(recipe: EnvRecipe, request: EnvRequest) -> EnvRecipe:
        if not request.extra_env or all(recipe.env.get(k) == v for k, v in request.extra_env.items()):
            return recipe
        return recipe.model_copy(update={"env": {**recipe.env, **request.extra_env}})

    def known_name(self, request: EnvRequest) -> str | None:
        """The environment a request gets when that is known without building anything
        (an explicit or recorded recipe); None while inference has to decide."""
        recipes, source = self.plan(request)
        return environment_name(request.repo, recipes[0]) if source != "inferred" else None

    # -- building ----------------------------------------------------------------
    def _reference(self, name: str, default: str) -> str:
        """An environment keeps the reference commit it was first built at."""
        row = self.ws.environment(name)
        return row.reference_commit if row is not None and row.reference_commit else default

    def _ready(self, name: str, image: str, how: str) -> None:
        env = self.backend.environments[name]
        self.ws.set_environment(env.name, env.repo, env.recipe, image, "ready", message=how,
                                reference_commit=env.reference_commit)

    def _attempt(self, request: EnvRequest, recipe: EnvRecipe, smoke: bool, reference: str) -> EnvOutcome:
        name = self.backend.define(request.repo, recipe, reference)
        spec = None
        if smoke:
            timeout = min(self.smoke_timeout, recipe.timeout or self.backend.settings.test_timeout)
            spec = smoke_specs(recipe, reference, request.smoke_tests, timeout=timeout)
        [(_job, out)] = list(self.runner.map(run_env_job, [EnvJob(self.backend.environments[name], spec)]))
        return out

    def _src_layout(self, request: EnvRequest) -> bool:
        try:
            return any(p.startswith("src/") for p in self.repos(request.repo).files(request.reference))
        except Exception:  # noqa: BLE001 - a tree that cannot be listed: the flat layout
            return False

    def resolve(self, request: EnvRequest, progress: Progress | None = None) -> Resolution:
        """The request's environment, its image built (inferred candidates smoke-run and repaired,
        the first that works recorded). Raises ``InfraError`` with the last failure."""
        from skillforge.environments.repair import installed_versions, plan_repairs

        say = progress or (lambda phase, message: None)
        recipes, source = self.plan(request)
        inferring = source == "inferred"
        tried: list[dict] = []
        last: EnvOutcome | None = None
        for i, candidate in enumerate(recipes, 1):
            recipe, repairs_made, done = candidate, [], set()
            evidence = request.evidence if (i == 1 and request.evidence) else ""
            while True:
                reference = request.reference if inferring else self._reference(
                    environment_name(request.repo, recipe), request.reference)
                name = environment_name(request.repo, recipe)
                if evidence:  # the recorded environment failed in a later run: repair from that log
                    last = EnvOutcome(name, False, outcome=Outcome.failed(Triage.ENVIRONMENT, "failed in a run"),
                                      log=evidence)
                    evidence = ""
                else:
                    what = f"candidate {i}/{len(recipes)}" + (f", repair {len(repairs_made)}" if repairs_made else "")
                    say("env", f"{request.label}: {what} (python {recipe.python}"
                               + (f", as of {recipe.exclude_newer[:10]}" if recipe.exclude_newer else "")
                               + f") at {reference[:12]}")
                    last = self._attempt(request, recipe, inferring, reference)
                tried.append({"name": name, "recipe": recipe.model_dump(), "ok": last.ok, "candidate": i,
                              "repairs": list(repairs_made),
                              "outcome": last.outcome.model_dump(mode="json") if last.outcome else None})
                if last.ok:
                    how = source if not inferring else (
                        f"inferred: candidate {i} of {len(recipes)}, smoke run passed"
                        + (f" after {len(repairs_made)} repair(s): {'; '.join(repairs_made)}" if repairs_made else ""))
                    self._ready(name, last.image, how)
                    if inferring:
                        self.inferred[request.key] = name
                        self.ws.set_resolution(request.key, request.repo, {
                            "winner": {"name": name, "recipe": recipe.model_dump()}, "tried": tried,
                            "smoke_tests": request.smoke_tests, "reference": request.reference, "how": how})
                    return Resolution(name, recipe, how)
                if inferring:
                    self.backend.environments.pop(name, None)
                say("env", f"{request.label}: {last.outcome.render()[:160] if last.outcome else 'failed'}")
                if not inferring or len(repairs_made) >= self.max_repairs:
                    break
                options = plan_repairs(last.log, tried=done, installed=installed_versions(last.log))
                if not options:
                    break
                repair = options[0]
                done.add(repair.description)
                repairs_made.append(repair.description)
                recipe = apply_repair(recipe, repair, src_layout=self._src_layout(request))
                say("env", f"{request.label}: repair: {repair.description}")
        assert last is not None and last.outcome is not None
        if inferring:
            self.ws.set_resolution(request.key, request.repo, {"winner": None, "tried": tried,
                                                               "smoke_tests": request.smoke_tests,
                                                               "reference": request.reference})
            message = (f"no environment works at {request.reference[:12]} ({len(tried)} attempts; the last: "
                       f"{last.outcome.message[:300]})")
        else:
            message = f"environment of {request.label}: {last.outcome.message}"
        raise InfraError(message, triage=last.outcome.triage or Triage.IMAGE_BUILD, log_path=last.outcome.log)
