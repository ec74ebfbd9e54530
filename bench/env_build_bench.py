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
worth its build time if the tests run in it. Pip as of today usually cannot
build an old commit at all (today's releases of its dependencies); so that the
speed of the installer is compared on equal terms, pip also installs exactly the
versions the uv build resolved (its distributions as constraints), first build
and again. Prints seconds and ratios.

    python bench/env_build_bench.py [--repo PATH --name owner/name --commit SHA] [--tests tests/test_basic.py]
"""

from __future__ import annotations

import argparse
import contextlib
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
    # the pip plan as it was written before time travel (and as hand recipes still write it): today's pip,
    # setuptools and wheel first -- the base image's pip (Debian's) cannot build an editable install
    steps = ["python -m pip install --upgrade pip setuptools wheel",
             *(s.replace("sf-install", "python -m pip install", 1) for s in recipe.install)]
    return recipe.model_copy(update={"install": steps, "exclude_newer": None, "exclude_newer_packages": {},
                                     "env": {**recipe.env}})


PINS = ("import importlib.metadata as m; "
        "print('\\n'.join(sorted({f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions()})))")


def resolved_pins(client, image: str) -> list[str]:
    """The distributions installed in ``image`` (name==version), as pip constraints."""
    out = client.containers.run(image, ["python", "-c", PINS], remove=True, network_disabled=True)
    return [line for line in out.decode().splitlines() if "==" in line]


def as_pip_pinned(recipe, pins: list[str]):
    """The same install steps with pip, held to the versions uv resolved."""
    pip = as_pip(recipe)
    steps = [s.replace("python -m pip install", "python -m pip install -c /sf/constraints.txt", 1) for s in pip.install]
    # the installer's own tools are today's (as in the pip plan); Debian's venv reports a pkg_resources 0.0.0
    tools = ("pip==", "setuptools==", "wheel==", "pkg_resources==")
    return pip.model_copy(update={"install": steps, "constraints": [p for p in pins if not p.lower().startswith(tools)]})


def _failure(exc: Exception) -> str:
    """The failed build's message and the last lines of its log (the log goes with the bench's temp folder)."""
    text = str(exc).splitlines()[0][:200]
    import re

    m = re.search(r"see (\S+\.log)", str(exc))
    if m and Path(m.group(1)).is_file():
        lines = [line for line in Path(m.group(1)).read_text(errors="replace").splitlines() if line.strip()]
        tail = ([line for line in lines if "error" in line.lower()][:3] + lines[-2:])
        text += "\n      " + "\n      ".join(line[:160] for line in tail)
    return text


def build(backend: Backend, name: str, recipe, commit: str, tag: str) -> tuple[str, float, str | None]:
    """(environment, seconds, image) of a fresh build (NaN seconds and no image when it failed)."""
    recipe = recipe.model_copy(update={"env": {**recipe.env, "SKILLFORGE_BENCH": tag}})  # an image of its own
    env = backend.define(name, recipe, commit)
    started = time.perf_counter()
    try:
        image = backend.ensure(env).image
    except Exception as exc:  # noqa: BLE001 - a failed build is a result too
        print(f"  {tag}: build FAILED: {_failure(exc)}")
        return env, float("nan"), None
    return env, time.perf_counter() - started, image


@contextlib.contextmanager
def _kept(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    yield str(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=DEFAULT_REPO)
    ap.add_argument("--name", default="pallets/flask")
    ap.add_argument("--commit", default=DEFAULT_COMMIT)
    ap.add_argument("--tests", nargs="*", default=["tests/test_basic.py"])
    ap.add_argument("--logs", type=Path, help="keep the build and test logs here (default: a temporary folder)")
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
    with (tempfile.TemporaryDirectory(prefix="skillforge-env-bench-") if args.logs is None
          else _kept(args.logs)) as tmp:
        backend = Backend(settings, lambda _repo: handle, logs_dir=Path(tmp), client=client)
        from skillforge.execution.images import ensure_base_image

        ensure_base_image(client, settings, recipe.python)  # not timed: the same for every build
        plans = [("uv, time travel, first build", lambda: recipe), ("uv, time travel, warm build", lambda: recipe),
                 ("pip, uv's versions, first build", lambda: as_pip_pinned(recipe, pins)),
                 ("pip, uv's versions, again", lambda: as_pip_pinned(recipe, pins)),
                 ("pip, as of today, first build", lambda: as_pip(recipe))]
        pins: list[str] = []
        for tag, plan in plans:
            r = plan()
            bench_tag = f"{tag.split(',')[0]}-{len(runs)}-{uuid.uuid4().hex[:6]}"
            env, seconds, image = build(backend, args.name, r, args.commit, bench_tag)
            verdict = "-"
            if image is not None:
                images.append(image)
                if not pins:
                    pins = resolved_pins(client, image)
                result = backend.executor.run(env, RunSpec(args.commit, tests=tuple(args.tests),
                                                           label=f"t{len(runs)}"))
                passed = sum(o == "passed" for o in result.tests.values())
                verdict = (f"{passed}/{len(result.tests)} tests pass" if result.tests
                           else f"{result.status}: {result.reason[:80]} (log: {result.log_path})")
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
    t = {tag: s for tag, _v, s in runs}
    uv_first, uv_warm = t["uv, time travel, first build"], t["uv, time travel, warm build"]
    pip_first, pip_again = t["pip, uv's versions, first build"], t["pip, uv's versions, again"]
    today = dict((tag, v) for tag, v, _s in runs)["pip, as of today, first build"]
    print(f"first build, pip / uv (same versions): {pip_first / uv_first:.2f}x")
    print(f"warm build, pip again / uv with its cache filled (same versions): {pip_again / uv_warm:.2f}x")
    print(f"uv: first / warm: {uv_first / uv_warm:.2f}x")
    print(f"pip as of today (no time travel): {today if today != '-' else 'does not build'}")


if __name__ == "__main__":
    main()
