"""Validation throughput and overhead, for one repository, against running the
same tests directly in an environment container.

    python bench/validate_bench.py [--repo PATH --name OWNER/NAME] [--limit N] [--workers W]
                                   [--reruns R] [--revalidate R2] [--modes warm,fresh]

1. Validation: the whole validate stage on a fresh workspace (environment
   resolved -- the image is built first, outside the timing, when absent --
   every PR's tests before/after its fix ``--reruns`` times, every candidate of
   every skill scored on its gold answer and a null answer), once per
   ``--modes``: ``warm`` (the default of ``skillforge validate``: warm sealed
   containers of the environment, reset completely between runs) and
   ``fresh`` (a new sealed container per run), each in its own workspace.
   Every run it executes is recorded.
2. Baseline, measured in this run on this machine: the very same runs (same
   commits, patches and test selections, those of the first mode), each as one
   ``docker exec`` of the run script in one of ``--workers`` already-running
   containers of the same environment image -- running the tests and nothing
   else.

Printed: seconds of each, per instance, the ratio (validation / direct),
instances per hour, and image disk per instance (the env image's own layers
plus its base image, counted once). With ``--revalidate R2`` the exported
dataset is then re-validated from scratch, R2 reruns per instance, and the
flake rate over those reruns is printed.

Without --repo the bundled sample is generated and used (with the recipe of
recipes/sample.yaml); for another repository the recipe comes from
recipes/environments (or is inferred).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from skillforge.stages.analyze import run_analyze  # noqa: E402
from skillforge.settings import Settings  # noqa: E402
from skillforge.execution import RunSpec  # noqa: E402
from skillforge.mine.local import mine_local  # noqa: E402
from skillforge.gitio import RepoSet  # noqa: E402
from skillforge.execution.backend import Backend  # noqa: E402
from skillforge.execution.client import docker_client  # noqa: E402
from skillforge.execution.images import LABEL_KIND, disk_usage, list_images, remove_container  # noqa: E402
from skillforge.environments.resolver import EnvRequest  # noqa: E402
from skillforge.execution.runner import default_workers  # noqa: E402
from skillforge.stages.config import ValidateConfig  # noqa: E402
from skillforge.stages.context import ExecutionContext  # noqa: E402
from skillforge.stages.validate import run_validation  # noqa: E402
from skillforge.execution.pool import WarmPool  # noqa: E402
from skillforge.execution.sandbox import DockerExecutor  # noqa: E402
from skillforge.stages.context import POOL_IDLE_S  # noqa: E402
from skillforge.workspace import Workspace  # noqa: E402

SAMPLE_NAME = "skillforge-samples/minicalc"


class _Recording:
    """Remembers every run the executor executes (cache misses only)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.executed: list[tuple[str, RunSpec, float]] = []
        self._rec_lock = threading.Lock()

    def run(self, environment, spec, *, log_name=None):
        result = super().run(environment, spec, log_name=log_name)
        with self._rec_lock:
            self.executed.append((environment, spec, result.duration))
        return result


class RecordingExecutor(_Recording, DockerExecutor):
    """A new sealed container per run (``warm_containers: false``)."""


class RecordingPool(_Recording, WarmPool):
    """Warm sealed containers reset between runs (what ``skillforge validate`` uses by default)."""


def make_workspace(root: Path, repo: Path | None, name: str | None, limit: int | None) -> tuple[Workspace, str, dict]:
    from skillforge.resources import resource_dir
    SAMPLES_DIR = resource_dir("samples")
    from skillforge.stages.recipe import load_run_recipe
    from skillforge.sample import generate_sample_repo

    ws = Workspace(root / "ws")
    environments: dict = {}
    if repo is None:
        repo = generate_sample_repo(root / "sample", SAMPLES_DIR / "minicalc")
        name = SAMPLE_NAME
        environments[name] = load_run_recipe(ROOT / "recipes" / "sample.yaml").sources[0].environment
    summary = mine_local(ws, repo, repo_name=name, limit=limit)
    run_analyze(ws)
    return ws, summary.repo, environments


def direct_replay(client, settings: Settings, backend: Backend, runs: list[tuple[str, RunSpec, float]],
                  workers: int) -> float:
    """The same runs, each as one ``docker exec`` of the run script in an already-running
    container of the environment image (one container per worker): seconds, wall-clock."""
    inner = DockerExecutor(client, settings, backend.ensure, lambda repo, commit: backend.repos(repo).archive(commit))
    envs = sorted({env for env, _s, _d in runs})
    containers: dict[tuple[str, int], object] = {}
    for env in envs:
        info = backend.ensure(env)
        for w in range(workers):
            options = inner._container_options(info.recipe)
            c = client.containers.create(info.image, command=["sleep", "infinity"], **options,
                                         name=f"sf-bench-{uuid.uuid4().hex[:12]}",
                                         labels={LABEL_KIND: "bench"})
            c.start()
            containers[(env, w)] = c
    for env in envs:  # source tars fetched before the clock starts, as validation's are cached too
        for _e, spec, _d in runs:
            if _e == env:
                inner.source(backend.environments[env].repo, spec.commit)
    slots = {env: list(range(workers)) for env in envs}
    lock = threading.Lock()

    def one(item) -> None:
        env, spec, _d = item
        with lock:
            w = slots[env].pop()
        try:
            c = containers[(env, w)]
            timeout, _tests, payload = inner._run_files(inner.environment(env), spec)
            c.exec_run(["/bin/bash", "-c", "rm -rf /sf"], user="1000:1000")
            c.put_archive("/", payload)
            c.exec_run(["timeout", "--signal=KILL", str(timeout), "/bin/bash", "/sf/run.sh"], user="1000:1000",
                       workdir="/testbed")
        finally:
            with lock:
                slots[env].append(w)

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers * len(envs)) as pool:
            list(pool.map(one, runs))
        return time.perf_counter() - start
    finally:
        for c in containers.values():
            remove_container(c)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, help="a local git repository (default: the bundled sample)")
    parser.add_argument("--name", help="owner/name of --repo (default: from its origin remote)")
    parser.add_argument("--limit", type=int, help="newest N pull requests only")
    parser.add_argument("--workers", type=int, default=0, help="parallel containers (default: sized to the machine)")
    parser.add_argument("--reruns", type=int, default=3, help="validation reruns (default 3)")
    parser.add_argument("--revalidate", type=int, default=0, metavar="R",
                        help="then re-validate the exported dataset with R reruns and print the flake rate")
    parser.add_argument("--modes", default="warm,fresh",
                        help="validation modes to time, comma-separated: warm (the default of skillforge validate: "
                             "warm containers reset between runs), fresh (a new container per run)")
    parser.add_argument("--recipes-dir", type=Path, default=ROOT / "recipes" / "environments")
    args = parser.parse_args()

    settings = Settings.from_env()
    workers = args.workers or default_workers(settings)
    client = docker_client()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="skillforge-validate-bench-") as tmp:
        root = Path(tmp)
        timings: dict[str, tuple[float, list, object, int, int]] = {}
        for mode in modes:  # each mode validates the same PRs in a workspace of its own (no run cache shared)
            ws, repo, environments = make_workspace(root / mode, args.repo, args.name, args.limit)
            repos = RepoSet(ws)
            recorder: list = []

            def factory(backend: Backend, mode=mode, recorder=recorder):
                kind = RecordingPool if mode == "warm" else RecordingExecutor
                extra = {"size": workers, "idle_timeout": POOL_IDLE_S} if mode == "warm" else {}
                ex = kind(backend.client, backend.settings, backend.ensure,
                          lambda r, c: backend.repos(r).archive(c), log_dir=backend.logs_dir, **extra)
                recorder.append(ex)
                return ex

            backend = Backend(settings, repos.__getitem__, logs_dir=ws.logs_dir, run_store=ws, client=client,
                              executor_factory=factory)
            config = ValidateConfig(workers=workers, reruns=args.reruns, warm_containers=mode == "warm",
                                    recipes_dir=str(args.recipes_dir) if args.recipes_dir.is_dir() else None)
            # the environment image is built (once per repository) before the clock starts
            with ExecutionContext.open(ws, config, settings, explicit=environments, backend=backend) as ctx:
                reference = ws.newest_pr(repo).record.merge_commit
                env = ctx.resolver.resolve(EnvRequest(repo, reference, key=repo,
                                                      recipe=ctx.resolver.explicit_recipe(repo, reference))).name
            start = time.perf_counter()
            summary = run_validation(ws, config, settings=settings, explicit=environments, backend=backend)
            t_validate = time.perf_counter() - start
            backend.close()
            runs = recorder[0].executed if recorder else []
            instances = sum(summary.validate.valid.values())
            processed = instances + sum(summary.validate.invalid.values()) + sum(summary.validate.errors.values())
            timings[mode] = (t_validate, runs, summary, instances, processed)
        first = timings[modes[0]]
        runs, instances = first[1], first[3]
        t_direct = direct_replay(client, settings, backend, runs, workers)

        images = [i for i in list_images(client) if i.tag == backend.ensure(env).image]
        base_ids = {i.base for i in images if i.base}
        images += [i for i in list_images(client, kind="base") if i.id in base_ids]
        disk = disk_usage(images)

        summary = first[2]
        print(f"repository: {repo}   environment: {env}   workers: {workers}   reruns: {args.reruns}")
        print(f"PRs executed: {summary.facts.prs_executed}, dropped: {sum(summary.facts.prs_dropped.values())}; "
              f"candidates: {first[4]} ({instances} valid); container runs: {len(runs)} executed, "
              f"{summary.runs_cached} answered from the cache")
        print(f"{'':34}{'seconds':>10}{'per instance':>14}{'ratio':>8}")
        print(f"{'direct (docker exec, warm)':34}{t_direct:>10.1f}{t_direct / max(1, instances):>14.2f}{1:>8.2f}")
        label = {"warm": "validation (warm sealed, reset)", "fresh": "validation (new sealed per run)"}
        for mode in modes:
            t, mruns, _s, minst, _p = timings[mode]
            print(f"{label[mode]:34}{t:>10.1f}{t / max(1, minst):>14.2f}{t / t_direct:>7.2f}x"
                  + ("" if minst == instances else f"   ({minst} valid: differs!)"))
        for mode in modes:
            mruns = timings[mode][1]
            if mruns:
                durations = [d for _e, _s, d in mruns]
                print(f"run duration in validation ({mode}): median {statistics.median(durations):.2f}s, "
                      f"max {max(durations):.2f}s, {len(mruns)} runs")
        t_validate = first[0]
        print(f"instances per hour ({modes[0]}): {instances / t_validate * 3600:.0f} valid "
              f"({first[4] / t_validate * 3600:.0f} candidates validated)")
        per = disk / max(1, instances)
        print(f"image disk: {disk / 1e6:.0f} MB (env image's own layers {images[0].own / 1e6:.0f} MB + base "
              f"{(disk - images[0].own) / 1e6:.0f} MB) = {per / 1e6:.1f} MB per instance; one env image serves every "
              f"instance of the repository, so 1,000 instances need {disk / 1e9:.2f} GB (target: at most 1 GB)")

        if args.revalidate:
            from skillforge.evaluate import backend_for_dataset
            from skillforge.export.hf import export_hf
            from skillforge.export.io import read_exported_instances
            from skillforge.stages.validate import revalidate_dataset

            out = root / "dataset"
            export_hf(ws, out)
            insts = read_exported_instances(out)
            fresh = backend_for_dataset(out, workspace=ws.root, logs_dir=root / "revalidate-logs", settings=settings)
            report = revalidate_dataset(insts, fresh, reruns=args.revalidate, workers=workers)
            print(f"re-validated the export: {len(report.reproduced)} of {len(insts)} instances reproduced, "
                  f"{report.scored_runs} gold scorings; flaky: {len(report.flaky)} "
                  f"(flake rate {report.flake_rate:.2%} over {args.revalidate} reruns) in {report.seconds:.0f}s")
            for iid, why in report.not_reproduced.items():
                print(f"  not reproduced: {iid}: {why}")


if __name__ == "__main__":
    main()
