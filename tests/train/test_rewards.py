"""Rewards: one per skill, the skill's own scorer, None on other skills' rows,
timeouts scored 0 and counted, and the metrics TRL logs per skill."""

from __future__ import annotations

import time

import pytest

from skillforge.skills.review import judgment
from skillforge.train.data import build_dataset
from skillforge.train.rewards import ScoringPool, SkillReward, completion_text, zero_spread_fraction


@pytest.fixture(scope="module")
def batch(text_instances):
    """Two groups of two completions each, one localization and one review, as TRL passes them."""
    loc = next(i for i in text_instances if i.skill == "localization")
    rev = next(i for i in text_instances if i.skill == "review" and i.label == "NO")
    columns = build_dataset([loc, loc, rev, rev], conversational=True).to_dict()
    completions = [
        [{"role": "assistant", "content": "\n".join(loc.gold_files)}],
        [{"role": "assistant", "content": "README.md"}],
        [{"role": "assistant", "content": "It drops a hunk. " + judgment("NO")}],
        [{"role": "assistant", "content": judgment("NO") + " on second thought " + judgment("YES")}],
    ]
    return completions, columns


def test_each_skill_scores_only_its_rows(batch):
    completions, columns = batch
    metrics: dict[str, float] = {}
    pool = ScoringPool(workers=2)
    loc = SkillReward("localization", pool=pool)
    rev = SkillReward("review", pool=pool)
    assert loc.__name__ == "localization"  # TRL logs rewards/localization/mean
    assert loc(completions, log_metric=metrics.__setitem__, **columns) == [1.0, 0.0, None, None]
    assert rev(completions, log_metric=metrics.__setitem__, **columns) == [None, None, 1.0, 0.0]
    assert metrics["skills/localization/zero_spread_groups"] == 0.0
    assert metrics["skills/review/timeouts"] == 0.0 and metrics["skills/review/errors"] == 0.0
    assert pool.stats["review"].scored == 2 and pool.stats["localization"].scored == 2
    # plain-text completions (a base model without a chat template) score the same
    texts = [completion_text(c) for c in completions]
    assert rev(texts, **columns) == [None, None, 1.0, 0.0]


def test_zero_spread_groups():
    assert zero_spread_fraction(["a", "a", "b", "b", "c", "c"], [1, 1, 0, 1, 0, 0]) == pytest.approx(2 / 3)
    assert zero_spread_fraction(["a"], [1.0]) is None


def test_pool_timeout_scores_are_abandoned_not_awaited():
    pool = ScoringPool(workers=2, timeout=0.3)
    started = time.monotonic()
    results = pool.run([lambda: time.sleep(5), lambda: 7])
    assert time.monotonic() - started < 3
    from skillforge.train.rewards import TIMED_OUT

    assert results[0] is TIMED_OUT and results[1].result() == 7
    assert pool.take_utilization() == 1.0
    pool.shutdown()
