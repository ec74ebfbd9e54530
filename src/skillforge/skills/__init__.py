"""The five atomic skills, each with the same contract (build / prompt / score)."""

from __future__ import annotations

from skillforge.schema import SKILLS
from skillforge.skills.base import BuildInput, Dropped, Score, ScoreContext, Skill, score_context
from skillforge.skills.editing import Editing
from skillforge.skills.localization import Localization
from skillforge.skills.reproduction import Reproduction
from skillforge.skills.review import Review
from skillforge.skills.test_generation import TestGeneration

REGISTRY: dict[str, Skill] = {s.name: s for s in (Localization(), Editing(), TestGeneration(), Reproduction(), Review())}
assert tuple(REGISTRY) == SKILLS


def get_skill(name: str) -> Skill:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown skill {name!r}; choose from {', '.join(SKILLS)}") from None


__all__ = ["REGISTRY", "get_skill", "BuildInput", "Dropped", "Score", "ScoreContext", "Skill", "score_context"]
