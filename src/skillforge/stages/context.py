"""What the execution stages (facts, build, validate) share within one run:
settings, the workspace's repositories, the execution backend bound to the
workspace (its run cache, its environments), a runner (local or Ray) and the
environment resolver. Made once per ``skillforge validate`` / ``run``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skillforge.environments import workspace_environments
from skillforge.environments.resolver import Resolver
from skillforge.execution.backend import Backend, Environment
from skillforge.execution.runner import LocalRunner, Runner, make_runner
from skillforge.gitio import RepoSet
from skillforge.schema import EnvRecipe
from skillforge.settings import Settings
from skillforge.stages.config import ValidateConfig, resolve_path
from skillforge.workspace import Workspace

POOL_IDLE_S = 120.0  # a warm container no run has used for this long is removed (eras come and go)


def workspace_backend(ws: Workspace, settings: Settings) -> tuple[Backend, RepoSet]:
    """An execution backend over the workspace's clones, its run cache and its environments."""
    repos = RepoSet(ws)

    def ready(env: Environment, image: str) -> None:
        ws.set_environment(env.name, env.repo, env.recipe, image, "ready", reference_commit=env.reference_commit)

    backend = Backend(settings, repos.__getitem__, logs_dir=ws.logs_dir, run_store=ws, on_ready=ready)
    for env in workspace_environments(ws):
        backend.add(env)
    return backend, repos


@dataclass
class ExecutionContext:
    ws: Workspace
    config: ValidateConfig
    settings: Settings
    backend: Backend
    repos: RepoSet
    runner: Runner
    resolver: Resolver
    owns_backend: bool = False

    @classmethod
    def open(cls, ws: Workspace, config: ValidateConfig, settings: Settings | None = None, *,
             explicit: dict[str, EnvRecipe | dict] | None = None, base: Path | None = None,
             backend: Backend | None = None) -> "ExecutionContext":
        """``explicit``: recipes given per repository; ``base``: the folder relative paths of the config
        are read from (a run recipe's)."""
        settings = settings or Settings.from_env()
        own_backend, repos = workspace_backend(ws, settings)
        backend = backend or own_backend
        from skillforge.execution.cleanup import remove_dead_owners_at_start  # (imports docker)

        remove_dead_owners_at_start(backend)  # containers a killed run of skillforge left behind
        locations = {r: loc for r in ws.repos() if (loc := ws.repo_location(r))}
        runner = make_runner(backend, executor=config.executor, workers=config.workers,
                             ray_address=config.ray_address, repo_locations=locations, logs_dir=ws.logs_dir)
        owned = backend is own_backend
        if owned and config.warm_containers and isinstance(runner, LocalRunner):
            # before/after runs, reruns, smoke runs and scores of an environment share its warm containers
            # (reset between runs); as many per environment as runs go at once, idle ones removed soon
            backend.use_pool(runner.workers, idle_timeout=POOL_IDLE_S, max_idle=2 * runner.workers)
        recipes_dir = resolve_path(config.recipes_dir, base)
        resolver = Resolver(ws, backend, repos.__getitem__, runner=runner,
                            recipes_dir=recipes_dir if recipes_dir and recipes_dir.is_dir() else None,
                            explicit=explicit)
        return cls(ws, config, settings, backend, repos, runner, resolver, owned)

    def close(self) -> None:
        self.runner.close()
        if self.owns_backend:
            self.backend.close()  # a warm pool's containers go now, not at exit

    def __enter__(self) -> "ExecutionContext":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
