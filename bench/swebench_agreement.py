"""Agreement of skillforge's FAIL_TO_PASS with SWE-bench's own, on real SWE-bench rows.

    .venv/bin/python bench/swebench_agreement.py INSTANCES.jsonl REPOS_DIR [--out DIR] [--repo owner/name ...]

INSTANCES holds SWE-bench rows (JSONL, or a JSON array as some copies of the
dataset are stored) with SWE-bench's FAIL_TO_PASS / PASS_TO_PASS; REPOS_DIR holds
clones as REPOS_DIR/owner__name (a missing one is cloned from
SKILLFORGE_CLONE_URL_TEMPLATE, default GitHub). Validation runs with zero
configuration: no recipes, every environment inferred from the repository's
packaging files. The baseline is SWE-bench's published lists: the script prints,
per instance, whether the environment built, our status, and how our FAIL_TO_PASS
compares with SWE-bench's, then the agreement ratio over the instances whose
environment built, and why the others did not. No data is written outside --out
(default: a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from skillforge.swebench.validate import SWEBenchOptions, read_instances, validate_instances


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("instances", type=Path, help="SWE-bench rows (JSONL or a JSON array)")
    ap.add_argument("repos_dir", type=Path, help="clones as DIR/owner__name")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary directory)")
    ap.add_argument("--repo", action="append", default=[], help="only rows of this repository (repeatable)")
    ap.add_argument("--id", action="append", default=[], help="only this instance id (repeatable)")
    ap.add_argument("--workers", type=int, default=0, help="test containers at once (0: sized to the machine)")
    ap.add_argument("--reruns", type=int, default=2)
    args = ap.parse_args(argv)

    out_dir = args.out or Path(tempfile.mkdtemp(prefix="swebench-agreement-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [i.row for i in read_instances(args.instances)
            if (not args.repo or i.repo in args.repo) and (not args.id or i.instance_id in args.id)]
    if not rows:
        print("no rows selected", file=sys.stderr)
        return 2
    selected = out_dir / "instances.jsonl"
    selected.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = out_dir / "validated.jsonl"

    started = time.monotonic()
    summary = validate_instances(selected, args.repos_dir, out, options=SWEBenchOptions(workers=args.workers,
                                                                                        reruns=args.reruns),
                                 progress=lambda phase, msg: print(f"[{phase}] {msg}", file=sys.stderr, flush=True))
    seconds = time.monotonic() - started

    built, matched, why_not = 0, 0, Counter()
    print(f"\n{'instance':<42} {'env':<6} {'status':<8} {'F2P vs SWE-bench':<18} detail")
    for line in out.read_text().splitlines():
        row = json.loads(line)
        rep = row["skillforge"]
        env_ok = rep["status"] != "error"  # the tests ran in a working environment (valid or invalid)
        agree = (rep.get("agreement") or {}).get("FAIL_TO_PASS")
        if env_ok:
            built += 1
            matched += bool(agree and agree["match"])
        else:
            why_not[rep["triage"]] += 1
        if agree is None:
            verdict, detail = "-", rep["reason"][:160]
        elif agree["match"]:
            verdict, detail = f"match ({len(agree['both'])})", rep["reason"][:120]
        else:
            verdict = "differs"
            detail = (f"only ours {agree['only_ours'][:3]}, only SWE-bench {agree['only_theirs'][:3]}; "
                      f"{rep['reason'][:100]}")
        print(f"{row['instance_id']:<42} {'ok' if env_ok else 'FAIL':<6} {rep['status']:<8} {verdict:<18} {detail}")
        if rep["status"] == "error" and rep.get("log"):
            print(f"{'':<42} log: {rep['log']}")

    print(f"\nrows: {summary.rows}; environment built for {built}; errors by triage: "
          f"{dict(summary.errors) or 'none'}; invalid by reason: {dict(summary.invalid) or 'none'}")
    if built:
        print(f"FAIL_TO_PASS equal to SWE-bench's: {matched}/{built} = {matched / built:.2f} of the instances whose "
              f"environment built (ratio to the SWE-bench baseline)")
    if summary.with_given_p2p:
        print(f"PASS_TO_PASS equal to SWE-bench's: {summary.p2p_match}/{summary.with_given_p2p}")
    for triage, n in why_not.most_common():
        print(f"no working environment: {n} x {triage}")
    for name, status in summary.environments.items():
        print(f"environment {name}: {status[:300]}")
    print(f"time: {seconds:.0f}s; output {out}; logs under {summary.workspace}/logs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
