"""Code localization: given the issue and the repository, name the files (and
optionally the ``path::Class.func`` entities) the fix must touch."""

from __future__ import annotations

from pydantic import Field

from skillforge.schema import Instance, Triage
from skillforge.skills.answers import extract_lines
from skillforge.skills.base import BuildInput, Dropped, Score, ScoreContext, Skill

MAX_LISTED_FILES = 2000
# source files of the languages the analyzers name entities in
SOURCE_EXTENSIONS = (".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".go", ".java", ".rs")


def source_files(src: BuildInput) -> list[str]:
    """The repository's source files at the base commit, tests (by the runners' discovery rules) left out."""
    from skillforge.analyze.split import TestConfig, layout, load_test_config

    def read(path: str) -> str | None:
        data = src.read_old(path) if src.read_old else None
        return data.decode("utf-8", "replace") if data is not None else None

    config = load_test_config(read) if src.read_old else TestConfig()
    lay = layout(src.repo_files, config)
    tests = set(src.analysis.test_files)
    return [f for f in src.repo_files
            if f.endswith(SOURCE_EXTENSIONS) and f not in tests and lay.classify(f) == "code"]


class LocalizationInstance(Instance):
    problem_statement: str
    repo_files: list[str] = Field(default_factory=list, description="source files at the base commit (tests and docs left out)")
    gold_files: list[str] = Field(default_factory=list)
    gold_entities: list[str] = Field(default_factory=list)


def parse_answer(answer: str) -> tuple[set[str], set[str]]:
    files: set[str] = set()
    entities: set[str] = set()
    for line in extract_lines(answer):
        path, sep, _ = line.partition("::")
        path = path.strip()
        if not path or " " in path:
            continue
        files.add(path)
        if sep:
            entities.add(line.replace(" ", ""))
    return files, entities


def f1(pred: set[str], gold: set[str]) -> float:
    if not pred or not gold:
        return 0.0
    tp = len(pred & gold)
    if tp == 0:
        return 0.0
    precision, recall = tp / len(pred), tp / len(gold)
    return 2 * precision * recall / (precision + recall)


class Localization(Skill):
    name = "localization"
    instance_model = LocalizationInstance

    def build(self, src: BuildInput) -> list[LocalizationInstance]:
        a = src.analysis
        if not a.files:
            raise Dropped(Triage.NO_CODE_CHANGE, "no code file changed")
        gold_entities = sorted(set(a.entities))
        answer = "\n".join(sorted(a.files) + gold_entities)
        code_files = source_files(src)
        return [LocalizationInstance(
            instance_id=self.instance_id(src.pr), skill="localization", answer=answer,
            problem_statement=src.pr.problem_statement, repo_files=code_files[:MAX_LISTED_FILES],
            gold_files=sorted(a.files), gold_entities=gold_entities, **self.spine(src.pr, src.facts, a),
        )]

    def prompt(self, inst: LocalizationInstance) -> str:
        listing = "\n".join(inst.repo_files)
        return (
            f"You are working in the repository {inst.repo} at commit {inst.base_commit[:12]}.\n\n"
            f"<issue>\n{inst.problem_statement}\n</issue>\n\n"
            f"<files>\n{listing}\n</files>\n\n"
            "Which files must be changed to resolve the issue? Answer with one path per line, "
            "relative to the repository root. You may add lines of the form path::Class.function "
            "for the functions or classes to change. Answer with nothing else."
        )

    def score(self, inst: LocalizationInstance, answer: str, ctx: ScoreContext) -> Score:
        files, entities = parse_answer(answer)
        gold = set(inst.gold_files)
        return Score(1.0 if files == gold else 0.0,
                     {"file_f1": f1(files, gold), "entity_f1": f1(entities, set(inst.gold_entities)),
                      "predicted_files": sorted(files)})
