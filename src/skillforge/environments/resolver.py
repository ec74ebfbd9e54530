"""The one environment resolver, used by the workspace pipeline and by
SWE-bench-format input alike.

A request names a repository, the commit its environment is built at (the
*reference*), the tests a smoke run should collect there, and the key under
which the choice is recorded. The recipe comes from, in this order:

1. an explicit recipe (given for the repository, or the recipes directory's
   variant whose range holds the reference commit): used as it is;
2. the recipe an earlier run recorded under the request's key: reused;
3. inference (``environments.infer``): the candidates are tried in order, each
   built and smoke-run, and the first that works is recorded under the key.

Every attempt is logged under ``logs/environments/``; what was tried and why it
failed is recorded in the workspace (``Workspace.resolution``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from skillforge.environments.infer import infer_recipes
from skillforge.environments.recipes import RecipeVariant, load_recipe_book, select_recipe
from skillforge.gitio import commit_info
from skillforge.execution.backend import Backend, Environment, environment_name
from skillforge.execution.runner import LocalRunner, Runner
from skillforge.execution.spec import InfraError, RunSpec
from skillforge.execution.triage import classify_run
from skillforge.schema import EnvRecipe, Outcome, Triage
from skillforge.workspace import Workspace

Progress = Callable[[str, str], None]  # (phase, message)

SMOKE_SCRIPT = """\
import shlex, subprocess, sys
command = {command!r} + " --collect-only -q " + " ".join(shlex.quote(t) for t in {tests!r})
print("== " + command, flush=True)
code = subprocess.call(command, shell=True)
sys.exit(0 if code in (0, 5) else code)
"""
"""A smoke run: the recipe's test command collecting the selection (exit 5, no
test collected, counts as a pass: collection itself worked)."""


def smoke_spec(recipe: EnvRecipe, commit: str, tests: list[str] | tuple[str, ...],
               timeout: int | None = None) -> RunSpec:
    return RunSpec(commit, script=SMOKE_SCRIPT.format(command=recipe.test_cmd, tests=list(tests)), label="smoke",
                   timeout=timeout)


# --------------------------------------------------------------------------- the work unit


@dataclass
class EnvJob:
    env: Environment
    smoke: RunSpec | None = None


@dataclass
class EnvOutcome:
    name: str
    ok: bool
    image: str = ""
    outcome: Outcome | None = None  # why it failed


def run_env_job(backend: Backend, job: EnvJob) -> EnvOutcome:
    """Build (or find) an environment's image; smoke-run test collection in it when asked.
    A work unit: the local runner and the Ray runner both carry it out."""
    backend.add(job.env)
    name = job.env.name
    try:
        info = backend.ensure(name)
    except InfraError as exc:
        return EnvOutcome(name, False, outcome=exc.outcome())
    if job.smoke is not None:
        try:
            result = backend.executor.run(name, job.smoke, log_name=f"environments/{name}-smoke")
        except InfraError as exc:
            return EnvOutcome(name, False, outcome=exc.outcome(f"smoke run: {str(exc).splitlines()[0]}"))
        if result.status != "ok" or result.exit_code != 0:
            t = classify_run(result)
            cls = t.cls if t.cls in (Triage.TIMEOUT, Triage.SANDBOX) else Triage.COLLECTION_ERROR
            why = result.reason or f"exit {result.exit_code}"
            return EnvOutcome(name, False, outcome=t.outcome(f"smoke run: test collection fails ({why})", cls))
    return EnvOutcome(name, True, image=info.image)


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

    def __post_init__(self) -> None:
        self.key = self.key or f"{self.repo}@{self.reference}"
        self.label = self.label or self.repo


@dataclass
class Resolution:
    name: str
    recipe: EnvRecipe
    how: str  # explicit | recorded | inferred: candidate i of n, smoke run passed


class Resolver:
    """Chooses, builds and records environments (see the module docstring).

    ``repos(repo)`` gives a repository handle (``gitio.RepoHandle``: ``read``,
    ``files``, ``path``); ``explicit`` maps repositories to recipes given for
    them (a run recipe's source ``environment``); ``recipes_dir`` holds recipe
    files with commit ranges."""

    def __init__(self, ws: Workspace, backend: Backend, repos: Callable, *, runner: Runner | None = None,
                 recipes_dir: Path | None = None, explicit: dict[str, EnvRecipe | dict] | None = None,
                 smoke_timeout: int = 600):
        self.ws = ws
        self.backend = backend
        self.repos = repos
        self.runner = runner or LocalRunner(backend, 1)
        self.recipes_dir = recipes_dir
        self.explicit = {repo: EnvRecipe.model_validate(r) for repo, r in (explicit or {}).items()}
        self.smoke_timeout = smoke_timeout
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
        """Recipes inferred from the repository's tree at ``commit``, in the order to try."""
        handle = self.repos(repo)

        def read(path: str) -> str | None:
            data = handle.read(commit, path)
            return data.decode("utf-8", "replace") if data is not None else None

        return infer_recipes(read, list(handle.files(commit)), commit_date=commit_info(handle.path, commit).date)

    def plan(self, request: EnvRequest) -> tuple[list[EnvRecipe], str]:
        """The recipes to try for a request and where they come from: explicit, recorded or inferred."""
        if request.recipe is not None:
            return [self._with_env(request.recipe, request)], "explicit"
        recorded = self.recorded(request.key)
        if recorded is not None:
            return [recorded], "recorded"
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

    def resolve(self, request: EnvRequest, progress: Progress | None = None) -> Resolution:
        """The request's environment, its image built (inferred candidates smoke-run, the
        first that works recorded). Raises ``InfraError`` with the last failure."""
        say = progress or (lambda phase, message: None)
        recipes, source = self.plan(request)
        inferring = source == "inferred"
        tried: list[dict] = []
        last: EnvOutcome | None = None
        for i, recipe in enumerate(recipes, 1):
            name = environment_name(request.repo, recipe)
            reference = request.reference if inferring else self._reference(name, request.reference)
            self.backend.define(request.repo, recipe, reference)
            smoke = None
            how = source
            if inferring:
                how = f"inferred: candidate {i} of {len(recipes)}, smoke run passed"
                smoke = smoke_spec(recipe, reference, request.smoke_tests,
                                   timeout=min(self.smoke_timeout, recipe.timeout or self.backend.settings.test_timeout))
                say("env", f"{request.label}: trying inferred recipe {i}/{len(recipes)} (python {recipe.python}) "
                           f"at {reference[:12]}")
            else:
                say("env", f"{request.label}: environment {name} (python {recipe.python})")
            [(_job, last)] = list(self.runner.map(run_env_job, [EnvJob(self.backend.environments[name], smoke)]))
            tried.append({"name": name, "recipe": recipe.model_dump(), "ok": last.ok,
                          "outcome": last.outcome.model_dump(mode="json") if last.outcome else None})
            if last.ok:
                self._ready(name, last.image, how)
                if inferring:
                    self.inferred[request.key] = name
                    self.ws.set_resolution(request.key, request.repo, {
                        "winner": {"name": name, "recipe": recipe.model_dump()}, "tried": tried,
                        "smoke_tests": request.smoke_tests, "reference": request.reference})
                return Resolution(name, recipe, how)
            if inferring:
                self.backend.environments.pop(name, None)
                say("env", f"{request.label}: {last.outcome.message[:100] if last.outcome else 'failed'}")
        assert last is not None and last.outcome is not None
        if inferring:
            self.ws.set_resolution(request.key, request.repo, {"winner": None, "tried": tried,
                                                               "smoke_tests": request.smoke_tests,
                                                               "reference": request.reference})
            detail = "; ".join(f"{t['name']}: {Outcome.model_validate(t['outcome']).render()}" for t in tried)
            message = (f"no inferred recipe works at {request.reference[:12]} ({len(tried)} tried: {detail})"
                       if len(tried) > 1 else f"no inferred recipe works at {request.reference[:12]}: "
                                              f"{last.outcome.message}")
        else:
            message = f"environment of {request.label}: {last.outcome.message}"
        raise InfraError(message, triage=last.outcome.triage or Triage.IMAGE_BUILD, log_path=last.outcome.log)
