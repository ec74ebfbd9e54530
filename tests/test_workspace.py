import multiprocessing
import os
import signal

from skillforge.schema import Outcome, PullRecord, Triage
from skillforge.skills.editing import EditingInstance
from skillforge.skills.review import ReviewInstance
from skillforge.workspace import Workspace


def record(n: int) -> PullRecord:
    return PullRecord(repo="o/r", number=n, base_commit="a" * 40, merge_commit="b" * 40, patch="")


def test_prs_are_stored_once_and_survive_reopening(tmp_path):
    ws = Workspace(tmp_path)
    assert ws.add_pr(record(1)) is True
    assert ws.add_pr(record(1)) is False
    ws.set_pr_stage("o__r-1", "dropped", outcome=Outcome.failed(Triage.NO_TEST_CHANGE))
    ws.close()
    again = Workspace(tmp_path)
    rows = again.prs()
    assert [(r.pr_id, r.stage, r.outcome.triage, r.outcome.message) for r in rows] == [
        ("o__r-1", "dropped", Triage.NO_TEST_CHANGE, "no test change")]
    assert rows[0].record == record(1)


def test_candidates_and_results(tmp_path):
    ws = Workspace(tmp_path)
    ws.add_pr(record(2))
    spine = {"repo": "o/r", "pr_number": 2, "base_commit": "a" * 40}
    editing = EditingInstance(instance_id="o__r-2.editing", skill="editing", instruction="fix", problem_statement="",
                              test_patch="", **spine)
    review = ReviewInstance(instance_id="o__r-2.review-0", skill="review", **REVIEW, **spine)
    ws.add_candidates("o__r-2", [editing, review], [("localization", Outcome.failed(Triage.NO_CODE_CHANGE))])
    ws.add_candidates("o__r-2", [editing])  # a resumed build adds nothing
    assert len(ws.candidates()) == 2 and ws.prs(stage="built")[0].pr_id == "o__r-2"
    assert [(r.skill, r.outcome.triage) for r in ws.not_built()] == [("localization", Triage.NO_CODE_CHANGE)]
    ws.set_candidate_result("o__r-2.editing", "valid", gold_score=1.0, null_score=0.0, log_dir="x")
    valid = ws.candidates(status="valid")
    assert [r.instance_id for r in valid] == ["o__r-2.editing"] and valid[0].instance == editing
    ws.set_candidate_result("o__r-2.review-0", "invalid", outcome=Outcome.failed(Triage.FLAKY, log="/l.log"))
    [bad] = ws.candidates(status="invalid")
    assert bad.outcome.triage is Triage.FLAKY and bad.outcome.render() == "flaky: flaky (see /l.log)"
    ws.store_run("k", {"status": "ok"})
    assert ws.cached_run("k") == {"status": "ok"} and ws.cached_run("missing") is None


REVIEW = {"problem_statement": "", "candidate_patch": "", "label": "YES"}


def _writer(path: str) -> None:
    ws = Workspace(path)
    n = 0
    while True:
        n += 1
        ws.add_pr(record(n))


def test_kill_9_mid_write_leaves_a_consistent_database(tmp_path):
    proc = multiprocessing.get_context("spawn").Process(target=_writer, args=(str(tmp_path),))
    proc.start()
    ws = Workspace(tmp_path)
    while len(ws.prs()) < 50:
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    rows = Workspace(tmp_path).prs()
    numbers = sorted(r.number for r in rows)
    assert numbers == list(range(1, len(numbers) + 1))  # every committed record is whole, none lost in between
    assert ws.integrity_ok()


def test_a_version_1_workspace_is_migrated(tmp_path):
    """Outcomes were sentences in version 1: they are kept, as messages, in the typed columns."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "skillforge.db")
    db.executescript("""
        CREATE TABLE prs (pr_id TEXT PRIMARY KEY, repo TEXT NOT NULL, number INTEGER NOT NULL, record TEXT NOT NULL,
                          stage TEXT NOT NULL DEFAULT 'mined', reason TEXT NOT NULL DEFAULT '', analysis TEXT,
                          facts TEXT, updated_at REAL NOT NULL);
        CREATE TABLE candidates (instance_id TEXT PRIMARY KEY, pr_id TEXT NOT NULL, skill TEXT NOT NULL,
                                 data TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'built',
                                 reason TEXT NOT NULL DEFAULT '', gold_score REAL, null_score REAL,
                                 log_dir TEXT NOT NULL DEFAULT '', updated_at REAL NOT NULL);
        CREATE TABLE not_built (pr_id TEXT NOT NULL, skill TEXT NOT NULL, reason TEXT NOT NULL,
                                PRIMARY KEY (pr_id, skill));
    """)
    db.execute("INSERT INTO prs VALUES ('o__r-1', 'o/r', 1, ?, 'dropped', 'no test change', NULL, NULL, 0)",
               (record(1).model_dump_json(),))
    db.commit()
    db.close()
    ws = Workspace(tmp_path)
    [row] = ws.prs()
    assert row.stage == "dropped" and row.outcome.message == "no test change" and row.outcome.triage is None
    assert ws.get_meta("schema_version") == "2" and ws.integrity_ok()


# --------------------------------------------------------------------------- leases


def _dead_owner() -> str:
    """The owner label of a process of this host that has ended."""
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    return f"{socket.gethostname()}:{gone.pid}:1"


def _live_other_owner() -> str:
    """The owner label of the parent of this process: alive, and not this process."""
    import socket

    from skillforge.execution.owner import process_start

    return f"{socket.gethostname()}:{os.getppid()}:{process_start(os.getppid())}"


def test_leases_are_taken_refused_for_a_live_owner_and_released(tmp_path):
    from skillforge.execution.owner import owner

    ws = Workspace(tmp_path)
    other = _live_other_owner()
    assert ws.take_leases(["facts:a", "facts:b"], owner=other) == ["facts:a", "facts:b"]
    assert ws.take_leases(["facts:a", "facts:b", "facts:c"]) == ["facts:c"]  # a and b: a live process has them
    assert ws.take_leases(["facts:c"]) == ["facts:c"]  # already this process's
    assert {r.item: r.owner for r in ws.leases()} == {"facts:a": other, "facts:b": other, "facts:c": owner()}
    ws.release_leases(["facts:a"], owner=other)
    ws.release_leases(["facts:b"])  # not this process's lease: it stays
    [a] = [r for r in ws.leases() if r.item == "facts:a"]
    assert a.owner == "" and a.released_at is not None
    assert ws.take_leases(["facts:a", "facts:b"]) == ["facts:a"]
    assert [r.item for r in ws.leases(owner=other)] == ["facts:b"]


def test_leases_of_dead_or_expired_owners_are_taken_over(tmp_path):
    import time

    ws = Workspace(tmp_path)
    assert ws.take_leases(["validate:x"], owner=_dead_owner()) == ["validate:x"]
    assert ws.take_leases(["validate:y"], owner=_live_other_owner(), ttl=-1) == ["validate:y"]
    assert ws.take_leases(["validate:z"], owner="another-host:1:1") == ["validate:z"]  # not ours to judge
    assert ws.take_leases(["validate:x", "validate:y", "validate:z"]) == ["validate:x", "validate:y"]
    # progress (a result recorded) extends the owner's other leases
    ws.take_leases(["validate:w"], owner="another-host:1:1", ttl=1)
    ws.release_leases([], owner="another-host:1:1", ttl=3600)
    assert min(r.expires_at for r in ws.leases(owner="another-host:1:1")) > time.time() + 3000


def test_an_item_finished_after_it_was_listed_is_not_taken(tmp_path):
    import time

    ws = Workspace(tmp_path)
    listed = time.time()
    other = _live_other_owner()
    ws.take_leases(["facts:a", "facts:b"], owner=other)
    ws.release_leases(["facts:a"], owner=other)  # finished by the other process after this one looked
    assert ws.take_leases(["facts:a"], listed_at=listed) == []
    assert ws.take_leases(["facts:a"], listed_at=time.time()) == ["facts:a"]  # a fresh look: it is free


def test_leases_are_taken_atomically_by_concurrent_processes(tmp_path):
    Workspace(tmp_path).close()
    ctx = multiprocessing.get_context("spawn")
    start, done, results = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_take_all, args=(str(tmp_path), 200, start, done, results)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    got = [results.get(timeout=120) for _ in procs]
    done.set()
    for p in procs:
        p.join(timeout=60)
    taken = [item for items in got for item in items]
    assert sorted(taken) == sorted(f"item:{i}" for i in range(200))  # every item once, by one process


def _take_all(root: str, n: int, start, done, results) -> None:
    ws = Workspace(root)
    start.wait()
    results.put(ws.take_leases([f"item:{i}" for i in range(n)]))
    done.wait(120)  # alive until every process has tried (a dead owner's leases may be taken over)
