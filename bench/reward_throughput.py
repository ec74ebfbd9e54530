"""Reward throughput of the execution-based skills: warm container pool against
one fresh container per run.

    python bench/reward_throughput.py [--workspace WS] [--threads 2] [--pool-size N] [--rounds 2]

Takes the validated editing, test_generation and reproduction instances of a
workspace (without --workspace, the bundled sample is built into a temporary
one with ``recipes/sample.yaml``) and scores each instance's gold answer with
its skill's scorer -- the training reward -- through

  (a) baseline: a ``Backend`` with its default ``DockerExecutor`` (a fresh
      container per run, created, started and removed each time);
  (b) a ``Backend`` with ``executor_factory=pool_factory(N)`` (``WarmPool``).

Both score from the same number of threads and without the run cache: the
scorers get a ``ScoreContext`` over the backend's raw executor, so every reward
executes. The pool is timed from cold (its container starts count). With
--rounds R each is measured R times, in alternating order (baseline then pool,
then pool then baseline, ...), and the totals are compared. Printed: rewards
per second of each and their ratio, p50 latency per reward and per run, the
CPU each spends per reward (containers, engine, this process), the pool's
utilisation during its own rounds, and (``--bare``) the pool's pytest runs
against the same test commands run bare in a container that holds the tree.
Last, the CPU per reward that no pool removes -- the runs' own processes, pytest
and scripts, which the fork servers forked (their accounts of the children they
reaped) -- and the CPU ratio a pool that added nothing around them would reach
against the fresh containers.
The pool runs pytest from a fork server per container, as training rewards do
(``--no-fork-server``: a warm interpreter per run, as validation does).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from skillforge.settings import Settings  # noqa: E402
from skillforge.gitio import RepoSet  # noqa: E402
from skillforge.skills import REGISTRY, ScoreContext  # noqa: E402
from skillforge.environments import workspace_environments  # noqa: E402
from skillforge.execution.backend import Backend  # noqa: E402
from skillforge.execution.pool import WarmPool, pool_factory  # noqa: E402
from skillforge.workspace import Workspace  # noqa: E402

SKILLS = ("editing", "test_generation", "reproduction")


@dataclass
class Measure:
    name: str
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    runs: int = 0
    run_latencies: list[float] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds spent on its rounds, by whom
    executed: list = field(default_factory=list)  # (environment, spec, seconds) of every run
    forked_s: float = 0.0  # CPU seconds of the processes (pytest, scripts) the pool's fork servers forked

    @property
    def rewards(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.rewards / self.wall_s if self.wall_s else 0.0


class _Timing:
    """The raw executor (no cache in between), timing each run."""

    def __init__(self, inner):
        self.inner, self.latencies, self.runs = inner, [], []

    def run(self, environment, spec, *, log_name=None):
        started = time.monotonic()
        try:
            return self.inner.run(environment, spec, log_name=log_name)
        finally:
            self.latencies.append(time.monotonic() - started)
            self.runs.append((environment, spec, self.latencies[-1]))


PREPARE = """set -e
find /testbed -mindepth 1 -delete
tar -xf /opt/skillforge/products.tar -C /testbed --no-same-owner 2>/dev/null || true
tar -xf /sf/src.tar -C /testbed --no-same-owner
for p in /sf/patch-*.diff; do if [ -e "$p" ]; then git apply --whitespace=nowarn "$p"; fi; done
"""


@dataclass
class Bare:
    """One of the pool's runs again, bare: the test command (or ``python /sf/script.py``) alone."""

    script: bool
    seconds: float  # wall
    cpu_s: float  # the command's own processes (user + system, from bash's ``times``)
    pooled_s: float  # the same run's latency in the pool


def bare_runs(backend: Backend, runs, limit: int) -> list[Bare]:
    """Up to ``limit`` of the pool's pytest runs and up to ``limit`` of its script runs, each run
    bare: the run's test command alone (``<python> -m pytest ... <tests>``: interpreter, pytest,
    tests) or its script (``python /sf/script.py``), inside an already-running container of the
    environment whose /testbed already holds the run's tree -- what a run costs with no sandbox,
    reset or engine around it."""
    from skillforge.execution.images import LABEL_KIND, remove_container
    from skillforge.execution.sandbox import DockerExecutor

    inner = DockerExecutor(backend.client, backend.settings, backend.ensure,
                           lambda repo, commit: backend.repos(repo).archive(commit))
    chosen = ([r for r in runs if r[1].script is None][:limit] + [r for r in runs if r[1].script is not None][:limit])
    containers, out = {}, []
    try:
        for env, spec, pooled in chosen:
            info = inner.environment(env)
            if env not in containers:
                options = inner._container_options(info.recipe)
                options["tmpfs"] = {**options["tmpfs"], "/testbed": "rw,exec,size=1g,uid=1000,gid=1000,mode=0755"}
                c = backend.client.containers.create(info.image, command=["sleep", "infinity"], **options,
                                                     labels={LABEL_KIND: "bench"})
                c.start()
                containers[env] = c
            c = containers[env]
            _timeout, tests, payload = inner._run_files(info, spec)
            # the last run's files go (they are the sandbox user's: root without capabilities cannot remove them)
            c.exec_run(["find", "/sf", "-mindepth", "1", "-delete"], user="1000:1000")
            c.put_archive("/", payload)
            code, text = c.exec_run(["bash", "-c", PREPARE], user="1000:1000", workdir="/testbed")
            if code != 0:  # a patch that does not apply: the pooled run ran nothing either
                continue
            command = ("python /sf/script.py" if spec.script is not None else
                       f"{info.recipe.test_cmd} --junitxml=/tmp/junit.xml {' '.join(shlex.quote(t) for t in tests)}")
            code, text = c.exec_run(["bash", "-c", f"s=$EPOCHREALTIME; {command} >/dev/null 2>&1; "
                                                   "e=$EPOCHREALTIME; echo $s $e; times"],
                                    user="1000:1000", workdir="/testbed")
            words = text.decode().split()
            start, end = float(words[0]), float(words[1])
            cpu = sum(_minutes_seconds(w) for w in words[4:6])  # times: the shell's user, sys; its children's
            out.append(Bare(spec.script is not None, end - start, cpu, pooled))
    finally:
        for c in containers.values():
            remove_container(c)
    return out


def _minutes_seconds(word: str) -> float:
    """``1m2.500s`` (bash's ``times``) in seconds."""
    minutes, _, seconds = word.rstrip("s").partition("m")
    return 60 * float(minutes) + float(seconds)


def build_sample(root: Path) -> Path:
    from skillforge.stages.run import run_recipe
    from skillforge.stages.recipe import load_run_recipe

    ws_dir = root / "sample-ws"
    print(f"building the sample dataset in {ws_dir} (recipes/sample.yaml) ...", flush=True)
    started = time.monotonic()
    ws = Workspace(ws_dir)
    run_recipe(load_run_recipe(ROOT / "recipes" / "sample.yaml"), ws, settings=Settings.from_env())
    ws.close()
    print(f"  built in {time.monotonic() - started:.0f}s", flush=True)
    return ws_dir


def load_instances(ws: Workspace, skills: tuple[str, ...]):
    out = []
    for skill in skills:
        for row in ws.candidates(status="valid", skill=skill):
            out.append((skill, row.instance))
    return out


def make_backend(ws: Workspace, repos: RepoSet, logs: Path, factory=None) -> Backend:
    backend = Backend(Settings.from_env(), repos.__getitem__, logs_dir=logs, executor_factory=factory)
    for env in workspace_environments(ws):
        backend.add(env)
    return backend


ENGINE = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc", "docker-init", "docker-proxy")


def cpu_now() -> dict[str, float | dict[int, float]]:
    """CPU seconds so far of the containers (the engine's cgroup, hierarchical), of each of the
    engine's own processes (their reaped children included) and of this process."""
    import os
    import resource

    out: dict[str, float | dict[int, float]] = {}
    for path, scale in (("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage", 1e-9),
                        ("/sys/fs/cgroup/docker/cpu.stat", 1e-6), ("/sys/fs/cgroup/system.slice/cpu.stat", 1e-6)):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        value = text.split()[1] if text.startswith("usage_usec") else text.split()[0]
        out["containers"] = int(value) * scale
        break
    tick, engine = os.sysconf("SC_CLK_TCK"), {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if comm in ENGINE or comm.startswith("containerd-shim"):
                engine[int(pid)] = sum(int(x) for x in rest[11:15]) / tick  # utime stime cutime cstime
    out["engine"] = engine
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["client"] = usage.ru_utime + usage.ru_stime
    return out


def forked_pytest_cpu() -> dict[int, float]:
    """CPU seconds so far of the processes each fork server (of the pool's containers) forked and
    reaped, by fork server pid: the runs' own work (pytest, scripts), with no interpreter start or
    pytest import."""
    import os

    tick, out = os.sysconf("SC_CLK_TCK"), {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if b"\0fork-server\0" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            out[int(pid)] = sum(int(x) for x in stat[stat.rindex(")") + 2:].split()[13:15]) / tick  # cutime cstime
    return out


def cpu_spent(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds between two ``cpu_now()``. The engine's processes that ended meanwhile (the
    shim of a removed container) are left out: their time is lost with them, so the figure
    understates the engine's work, most for a new container per run."""
    spent = {k: after[k] - before.get(k, 0.0) for k in ("containers", "client") if k in after}
    spent["engine"] = sum(v - before["engine"].get(pid, 0.0) for pid, v in after["engine"].items())
    return spent


def measure(name: str, backend: Backend, instances, threads: int, into: Measure) -> None:
    executor = _Timing(backend.executor.inner)  # the raw executor: nothing comes from the run cache

    def reward(item):
        skill, inst = item
        ctx = ScoreContext(executor, inst.environment, log_prefix=f"{inst.instance_id}/bench-{name}")
        started = time.monotonic()
        value = REGISTRY[skill].score(inst, inst.answer, ctx).value
        return inst.instance_id, value, time.monotonic() - started

    started, cpu, forked = time.monotonic(), cpu_now(), forked_pytest_cpu()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(reward, instances))
    into.wall_s += time.monotonic() - started
    into.forked_s += sum(v - forked.get(pid, 0.0) for pid, v in forked_pytest_cpu().items())
    for key, value in cpu_spent(cpu, cpu_now()).items():
        into.cpu[key] = into.cpu.get(key, 0.0) + value
    into.runs += len(executor.latencies)
    into.run_latencies += executor.latencies
    into.executed += executor.runs
    for iid, value, latency in results:
        into.latencies.append(latency)
        if value != 1.0:
            into.wrong.append(f"{iid}={value}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, help="a workspace with validated instances (default: build the sample)")
    ap.add_argument("--threads", type=int, default=2, help="concurrent reward calls, the same for both")
    ap.add_argument("--pool-size", type=int, default=None, help="warm containers per environment (default: --threads)")
    ap.add_argument("--rounds", type=int, default=2, help="measure each this many times, alternating the order")
    ap.add_argument("--skills", default=",".join(SKILLS), help="execution-based skills to score")
    ap.add_argument("--bare", type=int, default=40, metavar="N",
                    help="time N of the pool's pytest runs and N of its script runs bare, the test command "
                         "alone (0: not)")
    ap.add_argument("--no-fork-server", dest="fork_server", action="store_false",
                    help="the pool without its fork server (a warm interpreter per run)")
    args = ap.parse_args()
    size = args.pool_size or args.threads

    tmp = tempfile.TemporaryDirectory(prefix="sf-reward-bench-")
    ws_dir = args.workspace or build_sample(Path(tmp.name))
    ws = Workspace(ws_dir)
    instances = load_instances(ws, tuple(s.strip() for s in args.skills.split(",") if s.strip()))
    if not instances:
        print(f"no validated {args.skills} instances in {ws_dir}", file=sys.stderr)
        return 1
    repos = RepoSet(ws)
    logs = Path(tmp.name) / "logs"
    fresh = make_backend(ws, repos, logs / "fresh")
    warm = make_backend(ws, repos, logs / "pool", pool_factory(size, fork_server=args.fork_server))
    for env in sorted({inst.environment for _, inst in instances}):  # images built before any timing
        fresh.ensure(env)
        warm.ensure(env)
    counts = {s: sum(1 for k, _ in instances if k == s) for s in dict.fromkeys(k for k, _ in instances)}
    print(f"{len(instances)} rewards per round ({', '.join(f'{k}={v}' for k, v in counts.items())}), "
          f"{args.threads} threads, pool of {size} per environment, {args.rounds} round(s)", flush=True)

    base, pooled = Measure("fresh container per run"), Measure(f"warm pool (size {size})")
    pool: WarmPool = warm.executor.inner  # type: ignore[assignment]
    busy = live = 0.0  # container-seconds of the pool during its own rounds (it idles during the baseline's)
    try:
        for r in range(args.rounds):
            for which in (("fresh", "pool") if r % 2 == 0 else ("pool", "fresh")):  # a load trend hits both
                if which == "fresh":
                    measure("fresh", fresh, instances, args.threads, base)
                    print(f"  round {r + 1}: baseline {base.wall_s:.1f}s so far", flush=True)
                    continue
                before = pool.stats()
                measure("pool", warm, instances, args.threads, pooled)
                after = pool.stats()
                busy += after["busy_container_s"] - before["busy_container_s"]
                live += after["live_container_s"] - before["live_container_s"]
                print(f"  round {r + 1}: pool {pooled.wall_s:.1f}s so far", flush=True)
        stats = pool.stats()
    finally:
        pool.close()
    bare = bare_runs(warm, pooled.executed, args.bare) if args.bare else []

    print()
    print(f"{'executor':<28}{'rewards':>8}{'runs':>6}{'wall s':>9}{'rewards/s':>11}{'p50 s/reward':>14}"
          f"{'p95 s':>8}{'p50 s/run':>11}{'not 1.0':>9}")
    for m in (base, pooled):
        lat = sorted(m.latencies)
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        print(f"{m.name:<28}{m.rewards:>8}{m.runs:>6}{m.wall_s:>9.1f}{m.per_second:>11.3f}"
              f"{statistics.median(lat):>14.2f}{p95:>8.2f}{statistics.median(m.run_latencies):>11.2f}"
              f"{len(m.wrong):>9}")
    print()
    print("CPU per reward (containers + engine + this process; other load on the machine left out; the engine's "
          "processes that ended during a round are not counted):")
    for m in (base, pooled):
        parts = ", ".join(f"{k} {v / m.rewards * 1000:.0f} ms" for k, v in sorted(m.cpu.items()))
        print(f"  {m.name:<28}{sum(m.cpu.values()) / m.rewards * 1000:>7.0f} ms  ({parts})")
    print(f"CPU ratio (fresh / pool): {sum(base.cpu.values()) / max(sum(pooled.cpu.values()), 1e-9):.2f}x")
    print(f"throughput ratio (pool / fresh): {pooled.per_second / base.per_second:.2f}x")
    print(f"p50 latency ratio (fresh / pool): {statistics.median(base.latencies) / statistics.median(pooled.latencies):.2f}x")
    print(f"pool: utilisation {busy / live if live else 0:.0%} during its rounds, "
          f"run latency p50 {stats['latency_p50_s']:.2f}s "
          f"p95 {stats['latency_p95_s']:.2f}s, mean wait for a container {stats['wait_mean_s']:.2f}s, "
          f"containers started {stats['containers_started']:.0f}, discarded {stats['containers_discarded']:.0f}, "
          f"runs whose pytest (or script) was started ahead of them {stats['warm_runs']:.0f} of {stats['runs']:.0f}, "
          f"compilations served by the fork servers' code caches {stats['code_cache_hits']:.0f}")
    tests = [b for b in bare if not b.script]
    if tests:
        b, w = statistics.median(x.seconds for x in tests), statistics.median(x.pooled_s for x in tests)
        print(f"bare test time (the test command alone, in a running container with the tree in place) of "
              f"{len(tests)} of the pool's pytest runs: p50 {b:.3f}s; the same runs in the pool: p50 {w:.3f}s; "
              f"pooled overhead over bare: {w - b:+.3f}s; bare CPU per run p50 "
              f"{statistics.median(x.cpu_s for x in tests) * 1000:.0f} ms")
    scripts = [b.cpu_s for b in bare if b.script]
    if scripts:
        print(f"bare script runs (python /sf/script.py alone, as above) of {len(scripts)} of the pool's script runs: "
              f"CPU per run p50 {statistics.median(scripts) * 1000:.0f} ms")
    if pooled.forked_s:
        # what no pool removes: the runs' own processes (pytest and the scripts), which the fork servers
        # forked and reaped (their accounts of their children); everything else is the pool's
        own = pooled.forked_s / pooled.rewards
        print(f"CPU per reward of the runs' own processes (forked by the fork servers; {stats['warm_runs']:.0f} "
              f"of {stats['runs']:.0f} runs): {own * 1000:.0f} ms ({pooled.forked_s / max(stats['warm_runs'], 1) * 1000:.0f}"
              f" ms per run); the pool adds {sum(pooled.cpu.values()) / pooled.rewards * 1000 - own * 1000:.0f} ms "
              "around them")
        print(f"CPU ratio of a pool that added nothing around them (fresh / their CPU): "
              f"{sum(base.cpu.values()) / base.rewards / own:.2f}x")
    if pool.jobs_unavailable_reason:
        print(f"containers without a job server: {stats['jobs_unavailable']:.0f} ({pool.jobs_unavailable_reason})")
    if pool.discard_reasons:
        print(f"pool discards: {dict(pool.discard_reasons)}")
    for m in (base, pooled):
        if m.wrong:
            print(f"{m.name}: gold answers not scoring 1.0: {', '.join(m.wrong)}", file=sys.stderr)
    return 1 if base.wrong or pooled.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
