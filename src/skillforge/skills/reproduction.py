"""Issue reproduction: given the issue and the repository at the base commit,
write a standalone script that exits non-zero while the bug is present and
zero once it is fixed.

The gold script is synthesized from the PR's first FAIL_TO_PASS test that can
be made standalone (:func:`skillforge.analyze.repro.synthesize_script`:
fixtures from the test module and its ``conftest.py`` files inlined, the
node id's ``parametrize`` case selected, helpers and imports resolved, a
failing assertion turned into exit status 1 with a message). A PR none of
whose FAIL_TO_PASS tests can be made standalone builds no instance, and the
reason of its first test is recorded; no script is ever faked. At most
:data:`MAX_TRIED` tests are tried (each try reads its test module again: with
thousands of tests, trying them all would cost their number times the module's
size).
"""

from __future__ import annotations

from pydantic import Field

from skillforge.execution import RunSpec
from skillforge.schema import Instance, Triage
from skillforge.skills._tests import check_infra
from skillforge.skills.answers import extract_code
from skillforge.skills.base import BuildInput, Dropped, Score, ScoreContext, Skill


MAX_TRIED = 50  # FAIL_TO_PASS tests tried, in order, for a standalone script


class ReproductionInstance(Instance):
    problem_statement: str
    code_patch: str = Field(description="the fix; the script must exit 0 once it is applied")
    source_test: str = Field(default="", description="the FAIL_TO_PASS test the gold script was synthesized from")


class Reproduction(Skill):
    name = "reproduction"
    instance_model = ReproductionInstance
    needs_execution = True

    def build(self, src: BuildInput) -> list[ReproductionInstance]:
        from skillforge.analyze.repro import NotStandalone, synthesize_script
        from skillforge.analyze.split import load_test_config

        def read_text(path: str) -> str | None:
            data = src.read_new(path) if src.read_new else None
            return None if data is None else data.decode("utf-8", "replace")

        reasons = []
        extra = ["."] + (["src"] if any(f.startswith("src/") for f in src.repo_files) else [])
        repo_files = sorted({*src.repo_files, *src.analysis.test_files})  # with the test files the PR adds
        config = load_test_config(read_text)
        for test in src.facts.FAIL_TO_PASS[:MAX_TRIED]:
            path = test.split("::")[0]
            text = read_text(path)
            if text is None:
                reasons.append(f"{test}: test file not found")
                continue
            try:
                script = synthesize_script(text, test, test_path=path, extra_sys_path=extra, repo_files=repo_files,
                                           test_config=config, read_file=read_text)
            except NotStandalone as e:
                reasons.append(f"{test}: {e}")
                continue
            return [ReproductionInstance(
                instance_id=self.instance_id(src.pr), skill="reproduction", answer=script,
                problem_statement=src.pr.problem_statement, code_patch=src.analysis.code_patch,
                source_test=test, **self.spine(src.pr, src.facts, src.analysis),
            )]
        raise Dropped(Triage.NOT_STANDALONE, Triage.NOT_STANDALONE.label + (f" ({reasons[0]})" if reasons else ""))

    def prompt(self, inst: ReproductionInstance) -> str:
        return (
            f"You are working in the repository {inst.repo} at commit {inst.base_commit[:12]}, "
            "where this issue was reported:\n\n"
            f"<issue>\n{inst.problem_statement}\n</issue>\n\n"
            "Write a standalone Python script, run with `python` from the repository root, that reproduces "
            "the issue: it must exit with a non-zero status while the bug is present and with status 0 once "
            "the issue is fixed. Answer with the script in a ```python block."
        )

    def score(self, inst: ReproductionInstance, answer: str, ctx: ScoreContext) -> Score:
        script = extract_code(answer)
        if not script.strip():
            return Score(0.0, {"reason": "empty script"})
        before = ctx.run(RunSpec(inst.base_commit, (), script=script, label="repro-before"))
        check_infra(before)
        if before.status != "ok" or not before.exit_code:
            return Score(0.0, {"reason": "the script does not fail before the fix", "status": before.status,
                               "exit_code": before.exit_code, "log": before.log_path})
        after = ctx.run(RunSpec(inst.base_commit, (inst.code_patch,), script=script, label="repro-after"))
        check_infra(after)
        ok = after.status == "ok" and after.exit_code == 0
        return Score(1.0 if ok else 0.0, {"reason": "" if ok else "the script still fails after the fix",
                                          "exit_codes": [before.exit_code, after.exit_code], "log": after.log_path})
