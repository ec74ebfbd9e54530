"""SWE-bench-compatible JSONL of the editing instances.

One row per validated editing instance (one per pull request), in SWE-bench's
field names, so SWE-bench's harness (``load_swebench_dataset`` reads ``.jsonl``)
and ``skillforge validate --instances`` read it:

| field | value |
| --- | --- |
| ``instance_id`` | ``owner__repo-N`` (the pull request's id, no skill suffix) |
| ``repo``, ``base_commit`` | as mined |
| ``patch`` | the gold code patch (the editing answer; tests, docs and other files left out) |
| ``test_patch`` | the test files' part of the pull request |
| ``problem_statement`` | the linked issues' titles and bodies (else the PR's title and message) |
| ``hints_text`` | issue comments made before the PR's first commit, joined by newlines |
| ``created_at`` | the PR's creation time (its merge time when unknown) |
| ``version`` | the environment's recipe key: instances with one ``version`` share an environment |
| ``environment_setup_commit`` | the commit the environment was built at (``environments.json``) |
| ``FAIL_TO_PASS``, ``PASS_TO_PASS`` | pytest node ids |
| ``environment`` | skillforge's environment name, a key of ``environments.json`` written beside |

The test lists are JSON lists. SWE-bench's own Hugging Face datasets store them
as JSON-encoded strings (``"[\\"tests/t.py::test_a\\"]"``); its harness reads
both (``make_test_spec`` decodes a string), as does ``validate --instances``.
``json_test_lists=True`` writes the string form, for tools that expect exactly
SWE-bench's Hub rows.

SWE-bench's harness looks up install and test commands by ``(repo, version)``
in its own table, which knows only its benchmark's repositories: for others it
needs an entry per ``version``; the recipe each ``version`` stands for is in
``environments.json`` (``recipe``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skillforge.schema import PullRecord, repo_slug
from skillforge.skills.editing import EditingInstance
from skillforge.environments import workspace_environments
from skillforge.execution.backend import ENVIRONMENTS_FILE
from skillforge.workspace import Workspace
from skillforge.export.hf import ExportSummary, write_environments

SWEBENCH_FIELDS = ("instance_id", "repo", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
                   "created_at", "version", "environment_setup_commit", "FAIL_TO_PASS", "PASS_TO_PASS")


def environment_version(environment: str, repo: str) -> str:
    """``owner__name-<recipe key>`` -> ``<recipe key>``."""
    prefix = f"{repo_slug(repo)}-"
    return environment[len(prefix):] if environment.startswith(prefix) else environment


def swebench_row(inst: EditingInstance, pr: PullRecord | None, reference_commit: str | None, *,
                 json_test_lists: bool = False) -> dict[str, Any]:
    hints = [h.strip() for issue in (pr.issues if pr else []) for h in issue.hints if h.strip()]
    tests = (lambda t: json.dumps(t)) if json_test_lists else list
    return {
        "instance_id": inst.pr_id,
        "repo": inst.repo,
        "base_commit": inst.base_commit,
        "patch": inst.answer,
        "test_patch": inst.test_patch,
        "problem_statement": inst.problem_statement,
        "hints_text": "\n".join(hints),
        "created_at": (pr.created_at or pr.merged_at or "") if pr else "",
        "version": environment_version(inst.environment, inst.repo),
        "environment_setup_commit": reference_commit or inst.base_commit,
        "FAIL_TO_PASS": tests(inst.FAIL_TO_PASS),
        "PASS_TO_PASS": tests(inst.PASS_TO_PASS),
        "environment": inst.environment,
    }


def swebench_rows(ws: Workspace, *, json_test_lists: bool = False) -> list[dict[str, Any]]:
    references = {e.name: e.reference_commit for e in workspace_environments(ws)}
    rows = []
    for r in ws.candidates(status="valid", skill="editing"):
        inst = r.instance
        try:
            pr = ws.get_pr(inst.pr_id)
        except KeyError:
            pr = None
        rows.append(swebench_row(inst, pr, references.get(inst.environment), json_test_lists=json_test_lists))
    return rows


def export_swebench(ws: Workspace, out: str | Path, *, split: str = "train",
                    json_test_lists: bool = False) -> ExportSummary:
    """``out/<split>.jsonl`` (one SWE-bench row per line) and ``out/environments.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = swebench_rows(ws, json_test_lists=json_test_lists)
    path = out / f"{split}.jsonl"
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    write_environments(ws, out / ENVIRONMENTS_FILE)
    return ExportSummary(out=out, rows={"editing": len(rows)}, files=[path])
