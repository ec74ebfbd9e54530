"""Code review: given the issue and a candidate patch, judge whether the patch
resolves it. Labels come from execution: the gold patch passes the PR's tests
(YES); a wrong patch fails them (NO), and the tests it fails are recorded.

Wrong patches (``candidate_kind``):

* ``pre_review`` -- the PR's code as it stood before the first review comment,
  when the PR changed after review (PRs mined from GitHub; the code files the
  final patch changes, as they were at ``pre_review_commit``);
* ``partial`` -- the gold patch with one hunk dropped;
* ``mutant`` -- the gold patch with a mutant of the changed code
  (:mod:`skillforge.analyze.mutate`) applied on top, shown as one patch.

Balance rule: every PR gives exactly one YES (its gold patch, ``review-0``)
and at most one NO (``review-1``), so the dataset never holds more NO than YES
and holds as many wherever a PR has a provably wrong candidate. The NO is the
first *provably wrong* candidate of a per-PR order: the pre-review revision
first (a real reviewer's catch), then partial patches and mutants alternating,
which kind leads decided by a seed from the instance id (so kinds mix across
PRs and a rerun picks the same). ``build`` stores the first candidate in
``candidate_patch`` and the rest in ``fallbacks``; ``prepare`` (at validation)
runs them in order with the PR's tests and keeps the first that fails a
FAIL_TO_PASS or PASS_TO_PASS test, emptying ``fallbacks``. A PR none of whose
candidates fails a test gives no NO (dropped, with that reason).

The PR's review comments, when mined, ride along as context in the prompt.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, Field

from skillforge.execution import RunSpec
from skillforge.schema import Instance, Triage
from skillforge.skills._tests import check_infra, failing
from skillforge.skills.answers import extract_judgment
from skillforge.skills.base import BuildInput, Dropped, Score, ScoreContext, Skill

CandidateKind = Literal["gold", "partial", "mutant", "pre_review"]
REVIEW_SEED = 0
MAX_PARTIAL = 2  # partial patches proposed per PR
MAX_MUTANT = 2  # gold+mutant patches proposed per PR


class ReviewCandidate(BaseModel):
    kind: CandidateKind
    description: str
    patch: str


class ReviewInstance(Instance):
    problem_statement: str
    candidate_patch: str
    candidate_kind: CandidateKind = "gold"
    candidate_description: str = Field(default="", description="how the candidate was made (not shown to the reviewer)")
    label: Literal["YES", "NO"]
    failed_tests: list[str] = Field(default_factory=list, description="tests the candidate fails (execution evidence for NO)")
    review_comments: list[str] = Field(default_factory=list, description="the PR's review comments, when mined")
    test_patch: str = ""
    test_files: list[str] = Field(default_factory=list)
    FAIL_TO_PASS: list[str] = Field(default_factory=list)
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    fallbacks: list[ReviewCandidate] = Field(
        default_factory=list, description="wrong-patch candidates tried in order when this one passes every test "
        "(emptied at validation)")


def judgment(label: str) -> str:
    return f"<judgment>{label}</judgment>"


# --------------------------------------------------------------------------- wrong patches


def partial_candidates(code_patch: str, limit: int = MAX_PARTIAL) -> list[ReviewCandidate]:
    """The gold patch with one hunk dropped (only when it has two hunks or more)."""
    from skillforge.analyze.patch import drop_hunk, hunk_count, parse_patch

    total = hunk_count(code_patch)
    if total < 2:
        return []
    out = []
    for fd in parse_patch(code_patch):
        for index in range(len(fd.hunks)):
            if len(out) >= limit:
                return out
            out.append(ReviewCandidate(kind="partial", patch=drop_hunk(code_patch, fd.path, index),
                                       description=f"hunk {index + 1} of {len(fd.hunks)} in {fd.path} dropped "
                                                   f"({total} hunks in all)"))
    return out


def gold_with_mutant(code_patch: str, read_old, read_new, mutant) -> str | None:
    """The gold patch with ``mutant`` (a diff on the fixed file) folded in: one patch from
    the base commit to the fixed code with the mutant in it. None when the mutated file
    is renamed or binary in the gold patch, or cannot be read."""
    from skillforge.analyze.mutate import file_diff
    from skillforge.analyze.patch import PatchError, apply_patch_to_text, join_files, parse_patch

    files = parse_patch(code_patch)
    k = next((i for i, f in enumerate(files) if f.path == mutant.file), None)
    if k is None:
        return None
    fd = files[k]
    if fd.binary or fd.status not in ("added", "modified"):
        return None
    new = read_new(mutant.file)
    old = None if fd.status == "added" else read_old(mutant.file)
    if new is None or (fd.status == "modified" and old is None):
        return None
    new_text = new.decode("utf-8", "surrogateescape")
    try:
        mutated = apply_patch_to_text(new_text, parse_patch(mutant.patch)[0])
    except (PatchError, IndexError):
        return None
    section = file_diff(mutant.file, None if old is None else old.decode("utf-8", "surrogateescape"), mutated)
    parsed = parse_patch(section)
    if not parsed:  # the mutant undoes this file's whole change: that is a partial patch, not a mutant
        return None
    files[k] = parsed[0]
    return join_files(files)


def mutant_candidates(src: BuildInput, limit: int = MAX_MUTANT) -> list[ReviewCandidate]:
    """Gold + one mutant, mutants on the lines the gold patch adds first."""
    from skillforge.analyze.mutate import mutants_for

    if src.read_new is None or src.read_old is None:
        return []
    mutants = mutants_for(src.read_new, src.analysis, seed=REVIEW_SEED, max_per_entity=2, max_total=2 * limit + 2)
    mutants.sort(key=lambda m: not m.on_changed_line)  # stable: the seeded order within each group stays
    out = []
    for m in mutants:
        if len(out) >= limit:
            break
        patch = gold_with_mutant(src.analysis.code_patch, src.read_old, src.read_new, m)
        if patch:
            out.append(ReviewCandidate(kind="mutant", patch=patch,
                                       description=f"gold patch with a mutant: {m.description} in {m.entity} (line {m.line})"))
    return out


def pre_review_candidate(src: BuildInput) -> ReviewCandidate | None:
    """The code files of the final patch as they were at the PR's pre-review commit."""
    from skillforge.analyze.mutate import file_diff

    pr, a = src.pr, src.analysis
    read_at = src.read_at
    if not pr.pre_review_commit or read_at is None or src.read_old is None:
        return None
    parts = []
    for path in a.files:
        old = src.read_old(path)
        pre = read_at(pr.pre_review_commit, path)
        if old == pre:
            continue
        parts.append(file_diff(path, None if old is None else old.decode("utf-8", "surrogateescape"),
                               None if pre is None else pre.decode("utf-8", "surrogateescape")))
    patch = "".join(parts)
    if not patch.strip():
        return None
    new_same = all(read_at(pr.pre_review_commit, p) == (src.read_new(p) if src.read_new else None) for p in a.files)
    if new_same:
        return None  # the review changed no code file of the final patch
    return ReviewCandidate(kind="pre_review", patch=patch,
                           description=f"the PR's code before the first review comment ({pr.pre_review_commit[:12]})")


def no_candidates(src: BuildInput, seed: int | str = REVIEW_SEED) -> list[ReviewCandidate]:
    """Wrong-patch candidates in the order they are tried (see the module docstring)."""
    out: list[ReviewCandidate] = []
    pre = pre_review_candidate(src)
    if pre is not None:
        out.append(pre)
    groups = [partial_candidates(src.analysis.code_patch), mutant_candidates(src)]
    random.Random(f"{seed}:{src.pr.instance_id}").shuffle(groups)
    for i in range(max(len(g) for g in groups)):
        out += [g[i] for g in groups if i < len(g)]
    seen: set[str] = {src.analysis.code_patch}
    unique = []
    for c in out:
        if c.patch not in seen:
            seen.add(c.patch)
            unique.append(c)
    return unique


class Review(Skill):
    name = "review"
    instance_model = ReviewInstance
    needs_execution = True

    def build(self, src: BuildInput) -> list[ReviewInstance]:
        a, pr, facts = src.analysis, src.pr, src.facts
        if not a.code_patch.strip() or not facts.FAIL_TO_PASS:
            raise Dropped(Triage.NO_FAIL_TO_PASS, "no FAIL_TO_PASS test to decide a label")
        comments = [f"{c.path}: {c.body}" for c in pr.review_comments]
        common = dict(problem_statement=pr.problem_statement, review_comments=comments, test_patch=a.test_patch,
                      test_files=facts.test_files, FAIL_TO_PASS=facts.FAIL_TO_PASS, PASS_TO_PASS=facts.PASS_TO_PASS,
                      **self.spine(pr, facts, a))
        out = [ReviewInstance(instance_id=self.instance_id(pr, 0), skill="review", candidate_patch=a.code_patch,
                              candidate_kind="gold", candidate_description="the merged patch", label="YES",
                              answer=judgment("YES"), **common)]
        wrong = no_candidates(src)
        if wrong:
            first, rest = wrong[0], wrong[1:]
            out.append(ReviewInstance(instance_id=self.instance_id(pr, 1), skill="review", candidate_patch=first.patch,
                                      candidate_kind=first.kind, candidate_description=first.description, label="NO",
                                      answer=judgment("NO"), fallbacks=rest, **common))
        return out

    def _run(self, inst: ReviewInstance, patch: str, ctx: ScoreContext, label: str):
        result = ctx.run(RunSpec(inst.base_commit, (patch, inst.test_patch), tuple(inst.test_files), label=label))
        check_infra(result)
        return result

    def prepare(self, inst: ReviewInstance, ctx: ScoreContext) -> ReviewInstance:
        """Execute the candidate: a YES must pass every test; a NO is the first candidate that fails one."""
        tests = inst.FAIL_TO_PASS + inst.PASS_TO_PASS
        if inst.label == "YES":
            result = self._run(inst, inst.candidate_patch, ctx, "review-candidate")
            if result.status == "apply_failed":
                raise Dropped(Triage.PATCH_APPLY, "candidate patch does not apply")
            if failing(result, tests) or result.status != "ok":
                raise Dropped(Triage.TEST_FAILURE, "gold patch fails its tests")
            return inst
        candidates = [ReviewCandidate(kind=inst.candidate_kind, description=inst.candidate_description,
                                      patch=inst.candidate_patch), *inst.fallbacks]
        for k, cand in enumerate(candidates):
            result = self._run(inst, cand.patch, ctx, f"review-candidate-{k}")
            if result.status in ("apply_failed", "timeout"):
                continue  # not proof of anything about the patch's correctness
            failed = failing(result, tests)
            if failed or result.status != "ok":
                return inst.model_copy(update={
                    "candidate_patch": cand.patch, "candidate_kind": cand.kind,
                    "candidate_description": cand.description, "fallbacks": [],
                    "failed_tests": failed or [f"<{result.status}>"],
                })
        raise Dropped(Triage.NO_NEGATIVE, "no wrong candidate is provably wrong (each passes the PR's tests or does not apply)")

    def prompt(self, inst: ReviewInstance) -> str:
        context = ""
        if inst.review_comments:
            context = "<review_comments>\n" + "\n".join(inst.review_comments) + "\n</review_comments>\n\n"
        return (
            f"You are reviewing a patch to the repository {inst.repo} at commit {inst.base_commit[:12]}.\n\n"
            f"<issue>\n{inst.problem_statement}\n</issue>\n\n<patch>\n{inst.candidate_patch}</patch>\n\n{context}"
            "Does this patch correctly resolve the issue? Explain briefly, then end with "
            "<judgment>YES</judgment> or <judgment>NO</judgment>."
        )

    def score(self, inst: ReviewInstance, answer: str, ctx: ScoreContext) -> Score:
        verdict = extract_judgment(answer)
        return Score(1.0 if verdict == inst.label else 0.0, {"verdict": verdict, "label": inst.label})
