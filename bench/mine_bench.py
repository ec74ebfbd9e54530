"""Mining + analysis throughput against the cost of simply reading the history.

    python bench/mine_bench.py [--repo PATH] [--repeat N]

Baseline: `git log -p --first-parent` of the repository's history, the least
any miner must read (measured in this run, on this machine). Against it:

1. `skillforge mine PATH`: every merged PR recognised, diffed and stored;
2. mine + the analysis stage: every PR labelled (code/test split, entities,
   tests, trivial-change filter, near-duplicates) and kept or dropped;
3. full analysis of the history: every first-parent commit's diff (the same
   `git log -p --first-parent` output) analysed in every language the
   analyzers know -- Python, JavaScript/TypeScript, Go, Java, Rust -- with one
   tree listing per commit and each changed file parsed once.

Each is printed as seconds and as a ratio to the baseline. Without --repo the
bundled sample is generated and used.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import git  # noqa: E402

from skillforge.analyze import GitTree, analyze_change_labels, language_of  # noqa: E402
from skillforge.stats import workspace_stats  # noqa: E402
from skillforge.analyze.split import load_test_config  # noqa: E402
from skillforge.stages.analyze import Filters, run_analyze  # noqa: E402
from skillforge.stages.analyze import run as analyze_run  # noqa: E402
from skillforge.mine.local import mine_local  # noqa: E402
from skillforge.workspace import Workspace  # noqa: E402

SEP = "\x00\x01SFBENCH\x01"
SEP_FMT = "%x00%x01SFBENCH%x01"


def baseline(repo: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["git", "-C", str(repo), "log", "-p", "--first-parent", "HEAD"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


@dataclass
class PRRun:
    mine_s: float
    total_s: float
    prs: int
    analyzed: int
    report: str


def ours_prs(repo: Path, workers: int | None = None) -> PRRun:
    """Mine + analysis; ``workers``: analysis workers (None: the default, one per CPU)."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(tmp)
        start = time.perf_counter()
        summary = mine_local(ws, repo, repo_name="bench/repo")
        mined = time.perf_counter()
        analysis = analyze_run(ws, Filters(max_files=10_000, max_code_lines=10**9), workers=workers)
        end = time.perf_counter()
        text = workspace_stats(ws).render_text()
        ws.close()
        return PRRun(mined - start, end - start, summary.prs_new, analysis.analyzed + sum(analysis.dropped.values()),
                     text)


@dataclass
class HistoryRun:
    seconds: float = 0.0
    commits: int = 0
    failed: Counter = field(default_factory=Counter)
    files: Counter = field(default_factory=Counter)  # language -> changed code files analysed
    entities: Counter = field(default_factory=Counter)  # language -> entities named
    trivial: Counter = field(default_factory=Counter)
    test_touching: int = 0


def ours_history(repo_path: Path) -> HistoryRun:
    """Analyse every first-parent commit of HEAD (oldest first, so each tree is listed once)."""
    run = HistoryRun()
    start = time.perf_counter()
    repo = git.Repo(repo_path)
    out = subprocess.run(
        ["git", "-C", str(repo_path), "log", "-p", "--first-parent", "-M", "--reverse", "--no-color", "--no-ext-diff",
         f"--format={SEP_FMT}%H %P", "HEAD"], check=True, capture_output=True).stdout.decode("utf-8", "surrogateescape")
    trees: OrderedDict[str, GitTree] = OrderedDict()

    def tree(sha: str) -> GitTree:
        if sha not in trees:
            trees[sha] = GitTree(repo, sha)
            while len(trees) > 2:
                trees.popitem(last=False)
        return trees[sha]

    for chunk in out.split(SEP):
        if not chunk.strip():
            continue
        head, _, patch = chunk.partition("\n")
        shas = head.split()
        if len(shas) < 2 or not patch.strip():
            continue  # the root commit, or an empty one
        sha, parent = shas[0], shas[1]
        run.commits += 1
        try:
            old, new = tree(parent), tree(sha)
            files = list(dict.fromkeys([*old.paths, *new.paths]))
            labels = analyze_change_labels(patch, old.read, new.read, files, load_test_config(new.read_text))
        except Exception as e:  # counted, never fatal: the benchmark reports them
            run.failed[type(e).__name__] += 1
            continue
        a = labels.analysis
        run.test_touching += bool(a.test_files)
        if labels.trivial:
            run.trivial[labels.trivial] += 1
        for f in a.files:
            run.files[language_of(f) or "other"] += 1
        for e in a.entities:
            run.entities[language_of(e.split("::", 1)[0]) or "other"] += 1
    repo.close()
    run.seconds = time.perf_counter() - start
    return run


def profile_prs(repo: Path, top: int = 25) -> None:
    """cProfile of the mine and of the analysis phases, top ``top`` by cumulative time each. The
    analysis runs in this process (no budget worker), so the profile sees its work."""
    import cProfile
    import os
    import pstats

    os.environ["SKILLFORGE_PR_TIMEOUT"], os.environ["SKILLFORGE_PR_MEMORY"] = "0", "0"
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(tmp)
        for phase, call in (("mine", lambda: mine_local(ws, repo, repo_name="bench/repo")),
                            ("analysis", lambda: run_analyze(ws, filters=Filters(max_files=10_000,
                                                                                  max_code_lines=10**9)))):
            prof = cProfile.Profile()
            prof.runcall(call)
            print(f"--- profile: {phase} (top {top} by cumulative time)")
            pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(top)
        ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, help="git repository (default: the bundled sample)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--report", action="store_true", help="also print the analysis stage's report of the PRs")
    parser.add_argument("--prs-only", action="store_true", help="skip the full analysis of the history")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="also run mine + analysis with N analysis workers (e.g. 1) in each repeat and print "
                             "how the analysis scales with the workers of the default (one per CPU)")
    parser.add_argument("--profile", action="store_true",
                        help="print the cProfile top 25 (cumulative) of the mine and of the analysis, then stop")
    args = parser.parse_args()
    repo = args.repo
    if repo is None:
        from skillforge.sample import generate_sample_repo

        repo = generate_sample_repo(Path(tempfile.mkdtemp()) / "minicalc")
    if args.profile:
        return profile_prs(repo)
    base_times, mine_times, total_times, hist_times, few_times = [], [], [], [], []
    pr_run: PRRun | None = None
    hist: HistoryRun | None = None
    for _ in range(args.repeat):
        base_times.append(baseline(repo))
        pr_run = ours_prs(repo)
        mine_times.append(pr_run.mine_s)
        total_times.append(pr_run.total_s)
        if args.workers:
            few = ours_prs(repo, args.workers)
            few_times.append(few.total_s - few.mine_s)
        if not args.prs_only:
            hist = ours_history(repo)
            hist_times.append(hist.seconds)
    assert pr_run is not None
    b, m, t = (statistics.median(x) for x in (base_times, mine_times, total_times))
    print(f"repository: {repo}")
    print(f"merged PRs mined: {pr_run.prs}, analyzed: {pr_run.analyzed}")
    print(f"baseline git log -p --first-parent: {b:.3f}s")
    print(f"skillforge mine:                    {m:.3f}s  ratio {m / b:.2f}x baseline")
    print(f"skillforge mine + analysis (PRs):   {t:.3f}s  ratio {t / b:.2f}x baseline "
          f"({1000 * (t - m) / max(pr_run.analyzed, 1):.1f} ms analysis per PR)")
    print("  per run (mine + analysis / baseline): "
          + ", ".join(f"{tt / bb:.2f}x" for tt, bb in zip(total_times, base_times)))
    if few_times:
        from skillforge.analyze.budget import Budget
        from skillforge.stages.analyze import default_workers

        a, f = t - m, statistics.median(few_times)
        print(f"analysis with {args.workers} worker(s): {f:.3f}s; with the default "
              f"{default_workers(Budget.from_settings())}: {a:.3f}s "
              f"({f / a:.2f}x faster; per run: "
              + ", ".join(f"{ff / (tt - mm):.2f}x" for ff, tt, mm in zip(few_times, total_times, mine_times)) + ")")
    if hist is None:
        return
    h = statistics.median(hist_times)
    print(f"full analysis of the history:       {h:.3f}s  ratio {h / b:.2f}x baseline "
          f"({hist.commits} first-parent commits, {1000 * h / max(hist.commits, 1):.1f} ms per commit)")
    langs = sorted(set(hist.files) | set(hist.entities), key=lambda k: -hist.files[k])
    print("  code files changed / entities named, by language: "
          + ", ".join(f"{k} {hist.files[k]}/{hist.entities[k]}" for k in langs))
    print(f"  commits touching tests: {hist.test_touching}; trivial code changes: "
          + (", ".join(f"{k} {v}" for k, v in hist.trivial.most_common()) or "none")
          + (f"; failed: {dict(hist.failed)}" if hist.failed else ""))
    if args.report:
        print()
        print(pr_run.report)


if __name__ == "__main__":
    main()
