"""Environment build time: uv with time travel (``sf-install``, dependencies as of
the commit's date, a download cache shared between builds) against the pip plan
of the same recipe resolved as of today, in the same run.

For one repository commit (default: pallets/flask 2.0.0, May 2021, from a clone
under /work/data/repos or --repo) the recipe skillforge infers is built four
ways, each a fresh image (a key of its own):

  uv, time travel, first build   (an empty download cache volume)
  uv, time travel, warm build    (the cache the first build filled)
  pip, as of today, first build  (the same install steps with `python -m pip install`)
  pip, as of today, again        (pip keeps no cache between builds)

and then the commit's tests run in each environment: an environment is only
worth its build time if the tests run in it. Prints seconds and ratios.

    python bench/env_build_bench.py [--repo PATH --name owner/name --commit SHA] [--tests tests/test_basic.py]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from skillforge.environments.infer import infer_recipes  # noqa: E402
from skillforge.environments.resolver import BUILD_TOOLS_FLOOR, _moment, modern_build_tools  # noqa: E402
from skillforge.execution import RunSpec  # noqa: E402
from skillforge.execution.backend import Backend  # noqa: E402
from skillforge.execution.client import docker_client  # noqa: E402
from skillforge.gitio import RepoHandle, commit_info  # noqa: E402
from skillforge.settings import Settings  # noqa: E402

DEFAULT_REPO = Path("/work/data/repos/pallets__flask")
DEFAULT_COMMIT = "2f0c62f5e6e290843f03c1fa70817c7a3c7fd661"  # flask 2.0.0


def infer(handle: RepoHandle, commit: str, settings: Settings):
    def read(path: str):
        data = handle.read(commit, path)
        return data.decode("utf-8", "replace") if data is not None else None

    info = commit_info(handle.path, commit)
    recipe = infer_recipes(read, list(handle.files(commit)), commit_date=info.date, version=info.version,
                           pythons=settings.pythons(), slack=timedelta(days=settings.time_travel_slack_days),
                           backends_as_of=_moment(BUILD_TOOLS_FLOOR))[0]
    return modern_build_tools(recipe)


def as_pip(recipe):
    """The same plan resolved as of today with pip: no time travel, no uv."""
    steps = [s.replace("sf-install", "python -m pip install", 1) for s in recipe.install]
    return recipe.model_copy(update={"install": steps, "exclude_newer": None, "exclude_newer_packages": {},
                                     "env": {**recipe.env}})


def build(backend: Backend, name: str, recipe, commit: str, tag: str) -> tuple[str, float, str | None]:
    """(environment, seconds, image) of a fresh build (NaN seconds and no image when it failed)."""
    recipe = recipe.model_copy(update={"env": {**recipe.env, "SKILLFORGE_BENCH": tag}})  # an image of its own
    env = backend.define(name, recipe, commit)
    started = time.perf_counter()
    try:
        image = backend.ensure(env).image
    except Exception as exc:  # noqa: BLE001 - a failed build is a result too
        print(f"  {tag}: build FAILED: {str(exc).splitlines()[0][:200]}")
        return env, float("nan"), None
    return env, time.perf_counter() - started, image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=DEFAULT_REPO)
    ap.add_argument("--name", default="pallets/flask")
    ap.add_argument("--commit", default=DEFAULT_COMMIT)
    ap.add_argument("--tests", nargs="*", default=["tests/test_basic.py"])
    args = ap.parse_args()

    cache = f"skillforge-bench-cache-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env()
    settings.cache_volume = cache
    client = docker_client()
    handle = RepoHandle(args.name, args.repo)
    recipe = infer(handle, args.commit, settings)
    print(f"{args.name}@{args.commit[:12]}: python {recipe.python}, as of {recipe.exclude_newer}")
    print("  install: " + " && ".join(recipe.install))
    runs: list[tuple[str, str, float]] = []
    images: list[str] = []
    with tempfile.TemporaryDirectory(prefix="skillforge-env-bench-") as tmp:
        backend = Backend(settings, lambda _repo: handle, logs_dir=Path(tmp), client=client)
        from skillforge.execution.images import ensure_base_image

        ensure_base_image(client, settings, recipe.python)  # not timed: the same for every build
        for tag, r in (("uv, time travel, first build", recipe), ("uv, time travel, warm build", recipe),
                       ("pip, as of today, first build", as_pip(recipe)), ("pip, as of today, again", as_pip(recipe))):
            bench_tag = f"{tag.split(',')[0]}-{len(runs)}-{uuid.uuid4().hex[:6]}"
            env, seconds, image = build(backend, args.name, r, args.commit, bench_tag)
            verdict = "-"
            if image is not None:
                images.append(image)
                result = backend.executor.run(env, RunSpec(args.commit, tests=tuple(args.tests),
                                                           label=f"t{len(runs)}"))
                passed = sum(o == "passed" for o in result.tests.values())
                verdict = (f"{passed}/{len(result.tests)} tests pass" if result.tests
                           else f"{result.status}: {result.reason[:80]}")
            runs.append((tag, verdict, seconds))
            print(f"  {tag:32} {seconds:8.1f}s   {verdict}")
        for image in images:  # only the images this run made
            try:
                client.images.remove(image, force=True)
            except Exception:  # noqa: BLE001 - best effort
                pass
    try:
        client.volumes.get(cache).remove(force=True)
    except Exception:  # noqa: BLE001
        pass
    t = {tag.split(",")[0] + ("-warm" if "warm" in tag or "again" in tag else ""): s for tag, _v, s in runs}
    print(f"first build, pip (today) / uv (time travel): {t['pip'] / t['uv']:.2f}x")
    print(f"warm build, pip (today) / uv (time travel, cache filled): {t['pip-warm'] / t['uv-warm']:.2f}x")
    print(f"uv: first / warm: {t['uv'] / t['uv-warm']:.2f}x")


if __name__ == "__main__":
    main()
