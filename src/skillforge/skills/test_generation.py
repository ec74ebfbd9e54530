"""Unit-test generation: given the fixed code and its spec, write tests that
pass on the fixed code, fail on the buggy code, and fail on every kept mutant
of the changed code.

Mutants (:mod:`skillforge.analyze.mutate`) are small bugs put back into the
entities the fix changed. ``build`` proposes up to ``MAX_CANDIDATES`` of them
(seeded, so the same PR always gets the same ones); ``prepare`` (once, at
validation) runs the gold tests on each -- fixed code + mutant + gold tests --
and keeps, in order, at most ``MAX_KEPT`` that apply and that the gold tests
kill (a test that passes on the fixed code fails, or the tests no longer
collect). Mutants the gold tests do not kill (equivalent or merely untested)
and those that time out are dropped. So the gold tests score 1 by
construction, and a generated test suite scores 1 only if it also tells every
kept mutant from the fix.
"""

from __future__ import annotations

import fnmatch
import posixpath

from pydantic import BaseModel, Field

from skillforge.analyze.split import DEFAULT_PYTHON_FILES
from skillforge.execution import RunResult, RunSpec
from skillforge.schema import Instance, Triage
from skillforge.skills._tests import check_infra
from skillforge.skills.answers import extract_code, extract_patch
from skillforge.skills.base import BuildInput, Dropped, Score, ScoreContext, Skill

TEST_PATTERNS = (*DEFAULT_PYTHON_FILES, "conftest.py")  # pytest's default test modules, and its conftests
MUTANT_SEED = 0
# Each mutant tried costs one container run at validation, and each kept one a run per reward (and per
# validation rerun): two kept of at most four tried keeps the extra cost of validation bounded.
MAX_CANDIDATES = 4  # mutants proposed per instance
MAX_KEPT = 2  # mutants kept per instance
MAX_PER_ENTITY = 2
MAX_TARGET_CODE = 256 << 10  # characters of target code shown in the prompt; targets beyond it are named only
MUTANT_TIMEOUT_FACTOR, MUTANT_TIMEOUT_MIN = 10, 60  # a mutant's gold run may take 10x the fixed run (at least 60 s)


class MutantSpec(BaseModel):
    """A mutant of the changed code; ``patch`` applies on top of the fix (base + code_patch)."""

    file: str
    entity: str = Field(description="path::Class.func the mutant changes")
    operator: str = Field(description="mutation operator (skillforge.analyze.mutate)")
    line: int = Field(description="line of the change in the fixed file")
    description: str
    patch: str = Field(description="diff from the fixed file to the mutated one")
    killed_by: list[str] = Field(default_factory=list, description="gold tests that fail on the mutant (set at validation)")


class TestGenerationInstance(Instance):
    __test__ = False  # not a pytest class

    spec: str
    target_entities: list[str] = Field(default_factory=list)
    target_code: str = ""
    code_patch: str = Field(description="the fix; applied to the base commit it gives the code under test")
    test_dirs: list[str] = Field(default_factory=list)
    default_test_path: str = ""
    FAIL_TO_PASS: list[str] = Field(default_factory=list)
    mutants: list[MutantSpec] = Field(default_factory=list, description="mutants of the changed code the tests must fail on "
                                      "(before validation: candidates; after it: the ones the gold tests kill)")


def new_file_patch(path: str, content: str) -> str:
    lines = content.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n{body}")


def patch_files(patch: str) -> list[str]:
    from unidiff import PatchSet

    try:
        return [pf.path for pf in PatchSet(patch)]
    except Exception:
        return []


def is_test_path(path: str, test_dirs: list[str]) -> bool:
    name = posixpath.basename(path)
    if any(fnmatch.fnmatch(name, p) for p in TEST_PATTERNS):
        return True
    return any(path.startswith(d.rstrip("/") + "/") for d in test_dirs if d)


def answer_patch(inst: "TestGenerationInstance", answer: str) -> str:
    patch = extract_patch(answer)
    if patch:
        return patch
    code = extract_code(answer).strip()
    return new_file_patch(inst.default_test_path, code + "\n") if code else ""


def entity_source(read, entity: str, cache: dict | None = None) -> str | None:
    """The source of ``path::qualname`` as ``read`` gives its file. ``cache`` (a dict the caller
    keeps) lets the entities of many targets in one file be read and parsed once."""
    found = _entity_lines(read, entity, {} if cache is None else cache)
    return "\n".join(found[0]) if found is not None else None


def _entity_lines(read, entity: str, cache: dict) -> tuple[list[str], int] | None:
    """(the entity's lines, their size in characters)."""
    from skillforge.analyze.lang.python import entities as find_entities

    path, _, qual = entity.partition("::")
    cache = {} if cache is None else cache
    if path not in cache:
        data = read(path) if read else None
        if data is None:
            cache[path] = None
        else:
            first: dict[str, object] = {}
            for ent in find_entities(data):
                first.setdefault(ent.qualname, ent)
            cache[path] = (data.decode("utf-8", "replace").splitlines(), first)
    if cache[path] is None:
        return None
    lines, first = cache[path]
    ent = first.get(qual)
    if ent is None:
        return None
    own = lines[ent.start_line - 1:ent.end_line]
    return own, sum(len(line) + 1 for line in own)


class TestGeneration(Skill):
    name = "test_generation"
    instance_model = TestGenerationInstance
    needs_execution = True

    def build(self, src: BuildInput) -> list[TestGenerationInstance]:
        from skillforge.analyze.mutate import mutants_for

        a, pr = src.analysis, src.pr
        if not a.test_patch.strip() or not src.facts.FAIL_TO_PASS:
            raise Dropped(Triage.NO_FAIL_TO_PASS)
        removed = set(a.removed_entities)
        targets = [e for e in a.entities if e not in removed]
        snippets = []
        parsed: dict = {}  # each file read and parsed once, however many of its entities are targets
        shown = 0
        for ent in targets:
            found = _entity_lines(src.read_new, ent, parsed)
            if found is None or not found[1] > 1:
                continue
            own, size = found
            if shown + size > MAX_TARGET_CODE:  # named, not shown: the prompt stays readable (and bounded)
                snippets.append(f"# {ent}\n# ({len(own)} lines, not shown)")
                continue
            shown += size
            snippets.append(f"# {ent}\n" + "\n".join(own))
        if not snippets:
            raise Dropped(Triage.NO_TARGET, "no target code to test (no function or class changed)")
        mutants = [MutantSpec(file=m.file, entity=m.entity, operator=m.operator, line=m.line,
                              description=m.description, patch=m.patch)
                   for m in mutants_for(src.read_new, a, seed=MUTANT_SEED, max_per_entity=MAX_PER_ENTITY,
                                        max_total=MAX_CANDIDATES)] if src.read_new else []
        test_dirs = sorted({posixpath.dirname(f) for f in a.test_files if posixpath.dirname(f)})
        default_dir = posixpath.dirname(src.facts.test_files[0]) if src.facts.test_files else (test_dirs[0] if test_dirs else "tests")
        return [TestGenerationInstance(
            instance_id=self.instance_id(pr), skill="test_generation", answer=a.test_patch,
            spec=pr.problem_statement, target_entities=targets, target_code="\n\n".join(snippets),
            code_patch=a.code_patch, test_dirs=test_dirs,
            default_test_path=posixpath.join(default_dir, "test_skillforge_generated.py"),
            FAIL_TO_PASS=src.facts.FAIL_TO_PASS, mutants=mutants, **self.spine(pr, src.facts, a),
        )]

    def prompt(self, inst: TestGenerationInstance) -> str:
        return (
            f"You are working in the repository {inst.repo}. The code below was just changed to "
            "resolve an issue; the repository contains the change.\n\n"
            f"<spec>\n{inst.spec}\n</spec>\n\n<code>\n{inst.target_code}\n</code>\n\n"
            "Write pytest unit tests that pass on this code and would fail on the code before the change, "
            "and on small bugs put into the changed code (a flipped comparison, an off-by-one constant, a "
            "dropped statement, ...). "
            f"Answer with a unified diff adding or changing test files, or with one complete test module in "
            f"a ```python block, which is saved as {inst.default_test_path}."
        )

    def _run_fixed(self, inst: TestGenerationInstance, patch: str, files: list[str], ctx: ScoreContext
                   ) -> tuple[RunResult, dict[str, str]]:
        fixed = ctx.run(RunSpec(inst.base_commit, (inst.code_patch, patch), tuple(files), label="tests-fixed"))
        check_infra(fixed)
        ran = {t: o for t, o in fixed.tests.items() if t.split("::")[0] in files}
        return fixed, ran

    @staticmethod
    def _caught(result: RunResult, ran: dict[str, str]) -> bool:
        """The tests tell this code from the fixed code: one that passed there does not pass here."""
        return result.status in ("collection_error", "timeout") or any(result.tests.get(t) != "passed" for t in ran)

    def _run_mutant(self, inst: TestGenerationInstance, k: int, mutant: MutantSpec, patch: str, files: list[str],
                    ctx: ScoreContext, timeout: int | None = None) -> RunResult:
        result = ctx.run(RunSpec(inst.base_commit, (inst.code_patch, mutant.patch, patch), tuple(files),
                                 label=f"tests-mutant-{k}", timeout=timeout))
        check_infra(result)
        return result

    def prepare(self, inst: TestGenerationInstance, ctx: ScoreContext) -> TestGenerationInstance:
        """Keep the candidate mutants the gold tests kill (at most MAX_KEPT, in order)."""
        if not inst.mutants:
            return inst
        patch = answer_patch(inst, inst.answer)
        files = patch_files(patch)
        fixed, ran = self._run_fixed(inst, patch, files, ctx)
        if fixed.status != "ok" or not ran or any(o != "passed" for o in ran.values()):
            return inst  # the gold answer fails on the fixed code: validation reports it
        timeout = max(MUTANT_TIMEOUT_MIN, int(MUTANT_TIMEOUT_FACTOR * fixed.duration) + 1)
        kept: list[MutantSpec] = []
        for k, m in enumerate(inst.mutants):
            if len(kept) >= MAX_KEPT:
                break
            result = self._run_mutant(inst, k, m, patch, files, ctx, timeout)
            if result.status in ("apply_failed", "timeout") or not self._caught(result, ran):
                continue
            killed = sorted(t for t in ran if result.tests.get(t) != "passed")
            kept.append(m.model_copy(update={"killed_by": killed or [f"<{result.status}>"]}))
        return inst.model_copy(update={"mutants": kept})

    def score(self, inst: TestGenerationInstance, answer: str, ctx: ScoreContext) -> Score:
        patch = answer_patch(inst, answer)
        files = patch_files(patch)
        if not patch or not files:
            return Score(0.0, {"reason": "no test file in the answer"})
        outside = [f for f in files if not is_test_path(f, inst.test_dirs)]
        if outside:
            return Score(0.0, {"reason": "the answer changes files that are not tests", "files": outside})
        fixed, ran = self._run_fixed(inst, patch, files, ctx)
        if fixed.status != "ok" or not ran or any(o != "passed" for o in ran.values()):
            return Score(0.0, {"reason": "tests do not pass on the fixed code", "status": fixed.status,
                               "outcomes": ran, "log": fixed.log_path})
        buggy = ctx.run(RunSpec(inst.base_commit, (patch,), tuple(files), label="tests-buggy"))
        check_infra(buggy)
        if buggy.status == "apply_failed":
            return Score(0.0, {"reason": "the tests do not apply to the buggy code", "log": buggy.log_path})
        if not self._caught(buggy, ran):
            return Score(0.0, {"reason": "tests also pass on the buggy code",
                               "outcomes_buggy": {t: buggy.tests.get(t) for t in ran}, "log": buggy.log_path})
        for k, m in enumerate(inst.mutants):
            result = self._run_mutant(inst, k, m, patch, files, ctx)
            if result.status == "apply_failed" or not self._caught(result, ran):
                return Score(0.0, {"reason": f"tests pass on mutant {k} ({m.description} in {m.entity})",
                                   "mutants_caught": k, "mutants": len(inst.mutants), "log": result.log_path})
        return Score(1.0, {"reason": "", "mutants_caught": len(inst.mutants), "mutants": len(inst.mutants),
                           "log": buggy.log_path})
