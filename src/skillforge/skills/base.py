"""The skill contract: build, prompt, score.

One scorer per skill serves validation (gold must score 1, null must score 0),
evaluation (``score(prediction)``) and training (``score(completion)``), so a
dataset can never disagree with the reward it trains.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from skillforge.execution import Executor, InfraError, RunResult, RunSpec
from skillforge.schema import Analysis, Difficulty, Dropped, Instance, PRFacts, PullRecord


@dataclass
class Score:
    value: float
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"score out of [0, 1]: {self.value}")


@dataclass
class ScoreContext:
    """Where a scorer executes: an executor bound to the instance's environment.

    ``log_prefix`` names the per-run log files (``<prefix>-<label>.log``) so
    validation, eval and training runs of one instance do not overwrite each other.
    """

    executor: Executor | None
    environment: str = ""
    log_prefix: str = "score"

    def run(self, spec: RunSpec) -> RunResult:
        if self.executor is None:
            raise InfraError("this skill needs an execution backend (Docker) to score, and none was given")
        name = f"{self.log_prefix}-{spec.label}" if spec.label else self.log_prefix
        return self.executor.run(self.environment, spec, log_name=name)


def score_context(backend, environment: str, log_prefix: str, attempt: int = 0) -> ScoreContext:
    """A scorer's context on an execution backend (``execution.Backend``): rerun ``attempt``
    really executes again (see ``execution.cache.CachedExecutor``)."""
    return ScoreContext(backend.executor_for(attempt), environment, log_prefix=log_prefix)


__all__ = ["BuildInput", "Dropped", "Score", "ScoreContext", "Skill", "score_context"]


@dataclass
class BuildInput:
    pr: PullRecord
    analysis: Analysis
    facts: PRFacts
    read_new: Any = None  # Callable[[str], bytes | None]: file at the merge commit
    read_old: Any = None  # Callable[[str], bytes | None]: file at the base commit
    repo_files: list[str] = field(default_factory=list)  # files at the base commit
    read_at: Any = None  # Callable[[str, str], bytes | None]: (commit, path) -> file at any commit of the repository


class Skill(ABC):
    name: ClassVar[str]
    instance_model: ClassVar[type[Instance]]
    needs_execution: ClassVar[bool] = False

    @abstractmethod
    def build(self, src: BuildInput) -> list[Instance]:
        """Zero or more candidates with their gold answers; raise ``Dropped(triage, message)`` for none."""

    @abstractmethod
    def prompt(self, inst: Instance) -> str:
        """The task as the agent sees it, ending with the exact answer format."""

    @abstractmethod
    def score(self, inst: Instance, answer: str, ctx: ScoreContext) -> Score:
        """The reward in [0, 1]."""

    def prepare(self, inst: Instance, ctx: ScoreContext) -> Instance:
        """Execution-derived facts of a candidate, computed once at validation (e.g. a
        review label). Default: nothing to derive. Raise Dropped to discard."""
        return inst

    def null_answer(self, inst: Instance) -> str:
        return ""

    # helpers ------------------------------------------------------------
    def instance_id(self, pr: PullRecord, index: int | None = None) -> str:
        suffix = self.name if index is None else f"{self.name}-{index}"
        return f"{pr.instance_id}.{suffix}"

    @staticmethod
    def difficulty(analysis: Analysis) -> Difficulty:
        return Difficulty(files=len(analysis.files), hunks=analysis.hunks, lines=analysis.code_lines,
                          entities=len(analysis.entities))

    @staticmethod
    def spine(pr: PullRecord, facts: PRFacts, analysis: Analysis) -> dict[str, Any]:
        return {"repo": pr.repo, "pr_number": pr.number, "base_commit": pr.base_commit,
                "environment": facts.environment, "difficulty": Skill.difficulty(analysis)}
