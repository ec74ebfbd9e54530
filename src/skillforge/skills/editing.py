"""Code editing: given the repository and an instruction that says what to
change and where, produce a patch; it scores 1 when the FAIL_TO_PASS tests pass
and the PASS_TO_PASS tests still pass.

The instruction is the issue (why), the PR description and a where-clause
naming the entities to modify, add and remove (where). It must not hand over
the solution: PR descriptions often paste the fix (a ``diff`` block, the new
function), and issues sometimes do. Every added line of the gold code patch
that is long enough to be specific (:data:`MIN_LEAK_CHARS` characters once
whitespace is collapsed, and not also a removed line) is looked for in the
issue and the description; a fenced or indented code block holding one is
replaced by :data:`REDACTED`, and so is any other line holding one (inline
code). A description that still leaks is left out; an issue that still leaks
drops the instance."""

from __future__ import annotations

import re

from pydantic import Field

from skillforge.analyze.patch import parse_patch
from skillforge.execution import RunSpec
from skillforge.schema import Instance, Triage
from skillforge.skills._tests import all_passed, check_infra, failing
from skillforge.skills.answers import extract_patch
from skillforge.skills.base import BuildInput, Dropped, Score, ScoreContext, Skill

MIN_LEAK_CHARS = 20
REDACTED = "[code removed: it contains the solution]"
_FENCE_OPEN = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_QUOTE = re.compile(r"^(?:[+>]\s?|-(?!-)\s?)")

from skillforge.mine.refs import CLOSING_RE as _CLOSING  # noqa: E402 - the one closing-keyword pattern


def _norm(line: str) -> str:
    return " ".join(line.replace("`", " ").split())


def solution_lines(code_patch: str, min_chars: int = MIN_LEAK_CHARS) -> set[str]:
    """The added lines of a patch that would give the solution away (normalised).

    Lines are read hunk by hunk (:func:`skillforge.analyze.patch.parse_patch`, with
    unidiff's line kinds), so a removed ``-- note`` (``--- note`` in the diff) or an
    added ``++ x`` is content, not a file header."""
    added: set[str] = set()
    removed: set[str] = set()
    for fd in parse_patch(code_patch):
        for hunk in fd.patched_file:
            for line in hunk:
                if line.is_added:
                    added.add(_norm(line.value))
                elif line.is_removed:
                    removed.add(_norm(line.value))
    return {line for line in added - removed if len(line) >= min_chars and any(c.isalnum() for c in line)}


def _leaks(line: str, solution: set[str]) -> bool:
    n = _norm(_QUOTE.sub("", line.strip(), count=1))
    if len(n) < MIN_LEAK_CHARS:
        return False
    return any(s in n for s in solution)


def find_leaks(text: str, solution: set[str]) -> list[str]:
    """Lines of ``text`` that hold a solution line."""
    return [line for line in text.splitlines() if _leaks(line, solution)]


def redact(text: str, solution: set[str]) -> tuple[str, int]:
    """``text`` with every code block (fenced or indented) and every other line that
    holds a solution line replaced by :data:`REDACTED`; and how many were replaced."""
    if not solution or not text:
        return text, 0
    lines = text.splitlines()
    out: list[str] = []
    count = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _FENCE_OPEN.match(line)
        indented = line.startswith(("    ", "\t")) and line.strip() and (i == 0 or not lines[i - 1].strip())
        if m or indented:
            j = i + 1
            if m:
                fence = m.group(1)
                while j < len(lines) and not lines[j].strip().startswith(fence):
                    j += 1
                body = lines[i + 1:j]  # an unclosed fence runs to the end
                j = min(j + 1, len(lines))
            else:
                while j < len(lines) and (lines[j].startswith(("    ", "\t")) or not lines[j].strip()):
                    j += 1
                body = lines[i:j]
            block = lines[i:j]
            if any(_leaks(b, solution) for b in body):
                out.append(REDACTED)
                count += 1
                if not m and block and not block[-1].strip():
                    out.append("")
            else:
                out.extend(block)
            i = j
            continue
        if _leaks(line, solution):
            out.append(REDACTED)
            count += 1
        else:
            out.append(line)
        i += 1
    return "\n".join(out), count


class EditingInstance(Instance):
    instruction: str
    problem_statement: str
    entities: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    test_patch: str
    test_files: list[str] = Field(default_factory=list)
    FAIL_TO_PASS: list[str] = Field(default_factory=list)
    PASS_TO_PASS: list[str] = Field(default_factory=list)


def where_clause(files: list[str], entities: list[str], added: list[str], removed: list[str]) -> str:
    lines = []
    other = set(added) | set(removed)
    modified = [e for e in entities if e not in other]
    if modified:
        lines.append("Modify: " + ", ".join(f"`{e}`" for e in modified) + ".")
    if added:
        lines.append("Add: " + ", ".join(f"`{e}`" for e in added) + ".")
    if removed:
        lines.append("Remove: " + ", ".join(f"`{e}`" for e in removed) + ".")
    covered = {e.split("::")[0] for e in entities}
    rest = [f for f in files if f not in covered]
    if rest:
        lines.append("Files to change: " + ", ".join(f"`{f}`" for f in rest) + ".")
    return "\n".join(lines)


class Editing(Skill):
    name = "editing"
    instance_model = EditingInstance
    needs_execution = True

    def build(self, src: BuildInput) -> list[EditingInstance]:
        a, pr = src.analysis, src.pr
        if not a.code_patch.strip():
            raise Dropped(Triage.NO_CODE_CHANGE)
        solution = solution_lines(a.code_patch)
        problem, _ = redact(pr.problem_statement, solution)
        if find_leaks(problem, solution):
            raise Dropped(Triage.SOLUTION_LEAK)
        description, _ = redact(_CLOSING.sub("", f"{pr.title}\n\n{pr.body}").strip(), solution)
        if find_leaks(description, solution):
            description = ""  # what is left still quotes the fix: leave the description out
        parts = [f"<issue>\n{problem}\n</issue>"]
        if pr.issues and description:
            parts.append(f"<description>\n{description}\n</description>")
        parts.append(where_clause(a.files, a.entities, a.added_entities, a.removed_entities))
        return [EditingInstance(
            instance_id=self.instance_id(pr), skill="editing", answer=a.code_patch,
            instruction="\n\n".join(p for p in parts if p), problem_statement=problem,
            entities=a.entities, files=a.files, test_patch=a.test_patch, test_files=src.facts.test_files,
            FAIL_TO_PASS=src.facts.FAIL_TO_PASS, PASS_TO_PASS=src.facts.PASS_TO_PASS,
            **self.spine(pr, src.facts, a),
        )]

    def prompt(self, inst: EditingInstance) -> str:
        return (
            f"You are working in the repository {inst.repo} at commit {inst.base_commit[:12]}.\n"
            f"Make this change:\n\n{inst.instruction}\n\n"
            "Answer with a single unified diff (as produced by `git diff`) against the repository root, "
            "in a ```diff code block."
        )

    def score(self, inst: EditingInstance, answer: str, ctx: ScoreContext) -> Score:
        patch = extract_patch(answer)
        patches = (patch, inst.test_patch) if patch else (inst.test_patch,)
        result = ctx.run(RunSpec(inst.base_commit, patches, tuple(inst.test_files), label="edit"))
        check_infra(result)
        tests = inst.FAIL_TO_PASS + inst.PASS_TO_PASS
        ok = all_passed(result, tests)
        return Score(1.0 if ok else 0.0, {"status": result.status, "failing": failing(result, tests),
                                          "log": result.log_path})
