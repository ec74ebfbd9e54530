"""A pool of budget workers: every task runs once, each worker serves its stretches in order, the
budgets stay per task (a task over its time or memory, or whose worker dies, gets an OverBudget and the
tasks queued behind it are run by a fresh worker), and nothing is left running when it ends."""

from __future__ import annotations

import os
import signal
import time

import pytest

from skillforge.analyze.budget import Budget, BudgetPool, OverBudget, TaskError, fork_available

pytestmark = pytest.mark.skipif(not fork_available(), reason="budget workers are forked")

MIB = 1 << 20
KEEP: list = []  # what a task keeps in its worker (its memory grows)


def handler(key: str, payload: bytes = b""):
    if key.startswith("sleep"):
        time.sleep(30)
    elif key.startswith("hog"):
        return len(bytearray(512 * MIB))
    elif key.startswith("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    elif key.startswith("raise"):
        raise ValueError(f"bad task {key}")
    elif key.startswith("grow"):
        KEEP.append(bytearray(48 * MIB))
        KEEP[-1][::4096] = b"x" * len(KEEP[-1][::4096])  # resident, not only reserved
    elif key.startswith("gen"):
        return _parts(key)
    return os.getpid(), key, len(payload)


def _parts(key):
    yield f"{key}.a"
    yield f"{key}.b"
    return key


def _run(pool: BudgetPool, stretches) -> dict:
    got = {}
    for key, answer in pool.run([(k, (k,)) for k in stretch] for stretch in stretches):
        assert key not in got
        got[key] = answer
    return got


def test_every_task_once_each_stretch_in_order_by_one_worker(child_pids):
    stretches = [[f"t{s}.{i}" for i in range(6)] for s in range(5)]
    order: list[str] = []
    before = child_pids()  # (processes earlier tests left are not this pool's)
    with BudgetPool(handler, Budget(seconds=60, memory=512 * MIB), workers=2) as pool:
        got = {}
        for key, answer in pool.run([(k, (k,)) for k in stretch] for stretch in stretches):
            got[key] = answer
            order.append(key)
        assert pool.started == 2
    assert sorted(got) == sorted(k for s in stretches for k in s)
    for stretch in stretches:
        pids = {got[k][0][0] for k in stretch}
        assert len(pids) == 1  # a stretch is one worker's
        assert [k for k in order if k in stretch] == stretch  # in its order
    assert all(got[k][1] == [] for k in got)
    assert set(child_pids()) <= set(before)


def test_a_task_over_its_time_budget_is_stopped_and_the_tasks_behind_it_run():
    started = time.monotonic()
    with BudgetPool(handler, Budget(seconds=2, memory=512 * MIB), workers=2, depth=3) as pool:
        got = _run(pool, [["a1", "sleep", "a2", "a3", "a4"], ["b1", "b2"]])
    assert time.monotonic() - started < 20
    exc = got.pop("sleep")
    assert isinstance(exc, OverBudget) and exc.resource == "time" and "time budget (2 s)" in exc.message
    assert "handler" in exc.log_text  # the worker's stack when it was stopped
    assert 1.5 < exc.elapsed < 10  # from when the task began, not when it was queued
    assert sorted(got) == ["a1", "a2", "a3", "a4", "b1", "b2"]
    assert all(isinstance(v, tuple) for v in got.values())
    assert pool.started == 3  # a fresh worker ran a2..a4


def test_a_task_over_its_memory_budget_and_a_dying_worker():
    with BudgetPool(handler, Budget(seconds=60, memory=256 * MIB), workers=2) as pool:
        got = _run(pool, [["a1", "hog", "a2"], ["b1", "die", "b2", "b3"]])
    hog, die = got.pop("hog"), got.pop("die")
    assert isinstance(hog, OverBudget) and hog.resource == "memory" and "MemoryError" in hog.log_text
    assert isinstance(die, OverBudget) and die.resource == "memory" and "the worker died (SIGKILL)" in die.message
    assert sorted(got) == ["a1", "a2", "b1", "b2", "b3"]
    assert all(isinstance(v, tuple) for v in got.values())


def test_errors_and_generators_come_back_per_task():
    with BudgetPool(handler, Budget(seconds=60, memory=512 * MIB), workers=2) as pool:
        got = _run(pool, [["raise1", "gen1", "a1"], ["a2"]])
    err = got["raise1"]
    assert isinstance(err, TaskError) and err.type_name == "ValueError" and "bad task raise1" in err.message
    assert got["gen1"] == ("gen1", ["gen1.a", "gen1.b"])
    assert got["a1"][0][1] == "a1" and got["a2"][0][1] == "a2"


def test_a_worker_that_retires_hands_its_queued_tasks_to_a_fresh_one():
    """Its memory grew by half its budget: it ends after its task, the tasks sent to it go to the next."""
    with BudgetPool(handler, Budget(seconds=60, memory=64 * MIB), workers=1, depth=4) as pool:
        got = _run(pool, [["a1", "grow1", "a2", "a3", "a4", "a5"]])
        assert pool.started == 2
    assert sorted(got) == ["a1", "a2", "a3", "a4", "a5", "grow1"]
    assert len({got[k][0][0] for k in ("a2", "a3", "a4", "a5")}) == 1
    assert got["a1"][0][0] != got["a2"][0][0]


def test_tasks_and_results_larger_than_a_pipe_do_not_block():
    """Megabytes each way, several tasks queued per worker: the stage writes without blocking."""
    big = os.urandom(4 * MIB)
    tasks = [[(f"t{s}.{i}", (f"t{s}.{i}", big)) for i in range(4)] for s in range(4)]

    def echo(key, payload):
        return key, payload

    started = time.monotonic()
    with BudgetPool(echo, Budget(seconds=60, memory=1 << 30), workers=2, depth=3) as pool:
        got = dict(pool.run(tasks))
    assert time.monotonic() - started < 60
    assert sorted(got) == sorted(k for s in tasks for k, _ in s)
    assert all(v[0][1] == big for v in got.values())


def test_leaving_early_kills_the_workers(child_pids):
    before = child_pids()
    with pytest.raises(KeyboardInterrupt):
        with BudgetPool(handler, Budget(seconds=60, memory=512 * MIB), workers=2) as pool:
            for _key, _answer in pool.run([[(f"a{i}", (f"a{i}",)) for i in range(20)], [("sleep", ("sleep",))]]):
                raise KeyboardInterrupt
    assert set(child_pids()) <= set(before)


def test_a_pool_needs_an_enforced_budget():
    with pytest.raises(ValueError):
        BudgetPool(handler, Budget(seconds=0, memory=0), workers=2)
