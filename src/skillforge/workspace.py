"""The workspace: an embedded SQLite database with the state of every pull
request and candidate through every stage, plus one log directory per instance.

Every write is its own transaction, so a run killed at any moment (Ctrl-C,
kill -9) leaves a consistent database; rerunning picks up exactly what was not
finished. Ids are deterministic, so nothing is duplicated.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skillforge.schema import Analysis, PullRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos (
    repo TEXT PRIMARY KEY,
    location TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS prs (
    pr_id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    number INTEGER NOT NULL,
    record TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT 'mined',
    reason TEXT NOT NULL DEFAULT '',
    analysis TEXT,
    facts TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS prs_stage ON prs(stage);
CREATE TABLE IF NOT EXISTS candidates (
    instance_id TEXT PRIMARY KEY,
    pr_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    data TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'built',
    reason TEXT NOT NULL DEFAULT '',
    gold_score REAL,
    null_score REAL,
    log_dir TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS candidates_status ON candidates(status);
CREATE TABLE IF NOT EXISTS not_built (
    pr_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (pr_id, skill)
);
CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, result TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS environments (
    name TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    recipe TEXT NOT NULL,
    image TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending',
    reason TEXT NOT NULL DEFAULT '',
    reference_commit TEXT NOT NULL DEFAULT ''
);
"""

# PR stages, in order. 'dropped' carries a reason.
PR_STAGES = ("mined", "analyzed", "executed", "built", "dropped")
# candidate statuses: built -> valid | invalid (reason) | error (infrastructure, retried on the next run)
CANDIDATE_STATUSES = ("built", "valid", "invalid", "error")


class Workspace:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "skillforge.db"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, timeout=60, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    # -- plumbing ---------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple | dict = ()) -> None:
        with self.transaction() as db:
            db.execute(sql, params)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def instance_log_dir(self, instance_id: str) -> Path:
        path = self.logs_dir / instance_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- meta and per-repository state -------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0]["value"] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    def repo_state(self, repo: str) -> dict[str, Any]:
        rows = self.query("SELECT state FROM repos WHERE repo=?", (repo,))
        return json.loads(rows[0]["state"]) if rows else {}

    def set_repo_state(self, repo: str, state: dict[str, Any], location: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO repos(repo, location, state) VALUES(?, ?, ?) "
                "ON CONFLICT(repo) DO UPDATE SET state=excluded.state, "
                "location=CASE WHEN excluded.location='' THEN repos.location ELSE excluded.location END",
                (repo, location or "", json.dumps(state)),
            )

    def repo_location(self, repo: str) -> str | None:
        rows = self.query("SELECT location FROM repos WHERE repo=?", (repo,))
        return rows[0]["location"] or None if rows else None

    def repos(self) -> list[str]:
        return [r["repo"] for r in self.query("SELECT repo FROM repos ORDER BY repo")]

    # -- pull requests ----------------------------------------------------
    def add_pr(self, record: PullRecord, *, stage: str = "mined", reason: str = "") -> bool:
        """Store a mined PR; returns False (and changes nothing) if it is already there."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO prs(pr_id, repo, number, record, stage, reason, updated_at) VALUES(?,?,?,?,?,?,?)",
                (record.instance_id, record.repo, record.number, record.model_dump_json(), stage, reason, time.time()),
            )
            return cur.rowcount == 1

    def has_pr(self, pr_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM prs WHERE pr_id=?", (pr_id,)))

    def get_pr(self, pr_id: str) -> PullRecord:
        rows = self.query("SELECT record FROM prs WHERE pr_id=?", (pr_id,))
        if not rows:
            raise KeyError(pr_id)
        return PullRecord.model_validate_json(rows[0]["record"])

    def prs(self, stage: str | None = None, repo: str | None = None) -> list[sqlite3.Row]:
        sql, params = "SELECT * FROM prs WHERE 1=1", []
        if stage:
            sql += " AND stage=?"
            params.append(stage)
        if repo:
            sql += " AND repo=?"
            params.append(repo)
        return self.query(sql + " ORDER BY repo, number", tuple(params))

    def set_pr_stage(self, pr_id: str, stage: str, *, reason: str = "", analysis: Analysis | None = None,
                     facts: dict | None = None) -> None:
        assert stage in PR_STAGES, stage
        sets, params = ["stage=?", "reason=?", "updated_at=?"], [stage, reason, time.time()]
        if analysis is not None:
            sets.append("analysis=?")
            params.append(analysis.model_dump_json())
        if facts is not None:
            sets.append("facts=?")
            params.append(json.dumps(facts))
        self.execute(f"UPDATE prs SET {', '.join(sets)} WHERE pr_id=?", (*params, pr_id))

    def pr_analysis(self, pr_id: str) -> Analysis | None:
        rows = self.query("SELECT analysis FROM prs WHERE pr_id=?", (pr_id,))
        return Analysis.model_validate_json(rows[0]["analysis"]) if rows and rows[0]["analysis"] else None

    def pr_facts(self, pr_id: str) -> dict | None:
        rows = self.query("SELECT facts FROM prs WHERE pr_id=?", (pr_id,))
        return json.loads(rows[0]["facts"]) if rows and rows[0]["facts"] else None

    # -- candidates -------------------------------------------------------
    def add_candidates(self, pr_id: str, candidates: list[tuple[str, str, str]],
                       not_built: list[tuple[str, str]] = ()) -> None:
        """Store (instance_id, skill, json) rows for a PR, and (skill, reason) for the skills that made
        none, and mark the PR built, in one transaction."""
        now = time.time()
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO not_built(pr_id, skill, reason) VALUES(?,?,?)",
                           [(pr_id, skill, reason) for skill, reason in not_built])
            db.executemany(
                "INSERT OR IGNORE INTO candidates(instance_id, pr_id, skill, data, updated_at) VALUES(?,?,?,?,?)",
                [(iid, pr_id, skill, data, now) for iid, skill, data in candidates],
            )
            db.execute("UPDATE prs SET stage='built', reason='', updated_at=? WHERE pr_id=?", (now, pr_id))

    def candidates(self, status: str | None = None, skill: str | None = None) -> list[sqlite3.Row]:
        sql, params = "SELECT * FROM candidates WHERE 1=1", []
        if status:
            sql += " AND status=?"
            params.append(status)
        if skill:
            sql += " AND skill=?"
            params.append(skill)
        return self.query(sql + " ORDER BY instance_id", tuple(params))

    def set_candidate_result(self, instance_id: str, status: str, *, reason: str = "", gold_score: float | None = None,
                             null_score: float | None = None, log_dir: str = "", data: str | None = None) -> None:
        assert status in CANDIDATE_STATUSES, status
        sql = "UPDATE candidates SET status=?, reason=?, gold_score=?, null_score=?, log_dir=?, updated_at=?"
        params: list[Any] = [status, reason, gold_score, null_score, log_dir, time.time()]
        if data is not None:
            sql += ", data=?"
            params.append(data)
        self.execute(sql + " WHERE instance_id=?", (*params, instance_id))

    def not_built(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM not_built ORDER BY pr_id, skill")

    # -- execution cache ----------------------------------------------------
    def cached_run(self, key: str) -> dict | None:
        rows = self.query("SELECT result FROM runs WHERE key=?", (key,))
        return json.loads(rows[0]["result"]) if rows else None

    def store_run(self, key: str, result: dict) -> None:
        self.execute("INSERT OR REPLACE INTO runs(key, result, created_at) VALUES(?,?,?)", (key, json.dumps(result), time.time()))

    # -- environments -----------------------------------------------------
    def environment(self, name: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM environments WHERE name=?", (name,))
        return rows[0] if rows else None

    def set_environment(self, name: str, repo: str, recipe: dict, image: str, status: str, reason: str = "",
                        reference_commit: str = "") -> None:
        self.execute(
            "INSERT INTO environments(name, repo, recipe, image, status, reason, reference_commit) VALUES(?,?,?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET recipe=excluded.recipe, image=excluded.image, status=excluded.status, "
            "reason=excluded.reason, reference_commit=CASE WHEN excluded.reference_commit='' "
            "THEN environments.reference_commit ELSE excluded.reference_commit END",
            (name, repo, json.dumps(recipe), image, status, reason, reference_commit),
        )

    # -- summaries --------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        prs = {r["stage"]: r["n"] for r in self.query("SELECT stage, COUNT(*) n FROM prs GROUP BY stage")}
        cands = [dict(r) for r in self.query("SELECT skill, status, COUNT(*) n FROM candidates GROUP BY skill, status")]
        return {"prs": prs, "candidates": cands}
