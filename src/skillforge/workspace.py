"""The workspace: an embedded SQLite database with the state of every pull
request and candidate through every stage, plus one log directory per instance.

This module is the only place that knows SQL. It owns every table and its
migration, and hands out typed records (``PRRow``, ``CandidateRow``,
``NotBuiltRow``, ``EnvironmentRow``) whose JSON columns are decoded here.

Every write is its own transaction, so a run killed at any moment (Ctrl-C,
kill -9) leaves a consistent database; rerunning picks up exactly what was not
finished. Ids are deterministic, so nothing is duplicated.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from skillforge.schema import Analysis, EnvRecipe, Instance, Outcome, OutcomeStatus, PRFacts, PullRecord, Triage

SCHEMA_VERSION = 2

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
    updated_at REAL NOT NULL,
    triage TEXT,
    message TEXT NOT NULL DEFAULT '',
    log TEXT,
    details TEXT NOT NULL DEFAULT '{}'
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
    updated_at REAL NOT NULL,
    triage TEXT,
    message TEXT NOT NULL DEFAULT '',
    log TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS candidates_status ON candidates(status);
CREATE TABLE IF NOT EXISTS not_built (
    pr_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    triage TEXT,
    message TEXT NOT NULL DEFAULT '',
    log TEXT,
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
CREATE TABLE IF NOT EXISTS resolutions (
    key TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS swebench_results (
    instance_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    item TEXT PRIMARY KEY,
    owner TEXT NOT NULL DEFAULT '',
    expires_at REAL NOT NULL DEFAULT 0,
    released_at REAL
);
CREATE TABLE IF NOT EXISTS github_seen (
    repo TEXT NOT NULL,
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (repo, number)
);
"""

# columns added by version 2 (typed outcomes) to tables a version-1 workspace already has
_V2_COLUMNS = {
    "prs": (("triage", "TEXT"), ("message", "TEXT NOT NULL DEFAULT ''"), ("log", "TEXT"),
            ("details", "TEXT NOT NULL DEFAULT '{}'")),
    "candidates": (("triage", "TEXT"), ("message", "TEXT NOT NULL DEFAULT ''"), ("log", "TEXT"),
                   ("details", "TEXT NOT NULL DEFAULT '{}'")),
    "not_built": (("triage", "TEXT"), ("message", "TEXT NOT NULL DEFAULT ''"), ("log", "TEXT")),
}

# PR stages, in order. 'dropped' carries an outcome; an infrastructure error leaves the PR at its stage with one.
PR_STAGES = ("mined", "analyzed", "executed", "built", "dropped")
KEPT_STAGES = ("analyzed", "executed", "built")
# candidate statuses: built -> valid | invalid (outcome) | error (infrastructure, retried on the next run)
CANDIDATE_STATUSES = ("built", "valid", "invalid", "error")
LEASE_TTL_S = 2 * 3600.0
"""How long a lease holds without its owner making progress (``Workspace.take_leases``)."""


class WorkspaceError(RuntimeError):
    pass


def _outcome(triage: str | None, message: str, log: str | None, details: str | None,
             status: OutcomeStatus) -> Outcome | None:
    if triage is None and not message:
        return None
    t = Triage(triage) if triage else None
    return Outcome(status=status, triage=t, message=message, log=log, details=json.loads(details or "{}"))


@dataclass(eq=False)
class PRRow:
    """A mined pull request and where it stands."""

    pr_id: str
    repo: str
    number: int
    stage: str
    outcome: Outcome | None
    updated_at: float
    _record: str = field(repr=False)
    _analysis: str | None = field(repr=False)
    _facts: str | None = field(repr=False)

    @cached_property
    def record(self) -> PullRecord:
        return PullRecord.model_validate_json(self._record)

    @cached_property
    def analysis(self) -> Analysis | None:
        return Analysis.model_validate_json(self._analysis) if self._analysis else None

    @cached_property
    def facts(self) -> PRFacts | None:
        return PRFacts.model_validate_json(self._facts) if self._facts else None


@dataclass(eq=False)
class CandidateRow:
    """A candidate instance of one skill and its validation."""

    instance_id: str
    pr_id: str
    skill: str
    status: str
    outcome: Outcome | None
    gold_score: float | None
    null_score: float | None
    log_dir: str
    _data: str = field(repr=False)

    @cached_property
    def instance(self) -> Instance:
        """The typed instance (the skill's own model)."""
        from skillforge.skills import REGISTRY

        return REGISTRY[self.skill].instance_model.model_validate_json(self._data)

    @property
    def environment(self) -> str:
        return self.instance.environment


@dataclass(frozen=True)
class NotBuiltRow:
    """A skill that made no candidate from a PR, and why."""

    pr_id: str
    skill: str
    outcome: Outcome


@dataclass(frozen=True)
class LeaseRow:
    """Who works on an item (``owner``: ``host:pid:start``; "" once released) and until when."""

    item: str
    owner: str
    expires_at: float
    released_at: float | None


@dataclass(frozen=True)
class EnvironmentRow:
    name: str
    repo: str
    recipe: EnvRecipe
    image: str
    status: str
    message: str
    reference_commit: str


class Workspace:
    def __init__(self, root: str | Path, *, create: bool = True):
        self.root = Path(root).resolve()
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"{self.root} is a file, not a workspace directory")
        if not create and not (self.root / "skillforge.db").exists():
            raise WorkspaceError(f"{self.root}: no workspace here (no skillforge.db); run `skillforge mine` first")
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "skillforge.db"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, timeout=60, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    @staticmethod
    def exists(root: str | Path) -> bool:
        return (Path(root) / "skillforge.db").is_file()

    # -- plumbing ---------------------------------------------------------
    def _migrate(self) -> None:
        with self.transaction() as db:
            old = {t: {r["name"] for r in db.execute(f"PRAGMA table_info({t})")} for t in _V2_COLUMNS}
            for table, columns in _V2_COLUMNS.items():
                if old[table]:  # the table exists (a workspace of an older version)
                    for name, decl in columns:
                        if name not in old[table]:
                            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
            for statement in SCHEMA.split(";"):  # executescript would commit: one statement at a time
                if statement.strip():
                    db.execute(statement)
            if any(old.values()):  # version 1 kept outcomes as sentences: keep them as messages
                for table in _V2_COLUMNS:
                    db.execute(f"UPDATE {table} SET message=reason WHERE message='' AND reason!=''")
            db.execute("INSERT INTO meta(key, value) VALUES('schema_version', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(SCHEMA_VERSION),))

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

    def _query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _execute(self, sql: str, params: tuple | dict = ()) -> None:
        """One statement: a transaction of its own (the connection commits each statement that is
        not in a :meth:`transaction`)."""
        with self._lock:
            self._db.execute(sql, params)

    def integrity_ok(self) -> bool:
        return self._query("PRAGMA integrity_check")[0][0] == "ok"

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

    def write_report(self, instance_id: str, report: dict) -> Path:
        """``logs/<instance_id>/report.json`` (replaced atomically)."""
        path = self.instance_log_dir(instance_id) / "report.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
        tmp.replace(path)
        return path

    # -- meta and per-repository state -------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0]["value"] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        self._execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                      (key, value))

    def repo_state(self, repo: str) -> dict[str, Any]:
        rows = self._query("SELECT state FROM repos WHERE repo=?", (repo,))
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
        rows = self._query("SELECT location FROM repos WHERE repo=?", (repo,))
        return rows[0]["location"] or None if rows else None

    def repos(self) -> list[str]:
        return [r["repo"] for r in self._query("SELECT repo FROM repos ORDER BY repo")]

    # -- pull requests ----------------------------------------------------
    def add_pr(self, record: PullRecord, *, stage: str = "mined") -> bool:
        """Store a mined PR; returns False (and changes nothing) if it is already there."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO prs(pr_id, repo, number, record, stage, updated_at) VALUES(?,?,?,?,?,?)",
                (record.instance_id, record.repo, record.number, record.model_dump_json(), stage, time.time()),
            )
            return cur.rowcount == 1

    def replace_pr_record(self, record: PullRecord) -> None:
        """Overwrite a stored PR's record (its stage and results stay)."""
        self._execute("UPDATE prs SET record=?, updated_at=? WHERE pr_id=?",
                      (record.model_dump_json(), time.time(), record.instance_id))

    def has_pr(self, pr_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM prs WHERE pr_id=?", (pr_id,)))

    @staticmethod
    def _pr_row(r: sqlite3.Row) -> PRRow:
        status = OutcomeStatus.DROPPED if r["stage"] == "dropped" else OutcomeStatus.ERROR
        return PRRow(r["pr_id"], r["repo"], r["number"], r["stage"],
                     _outcome(r["triage"], r["message"], r["log"], r["details"], status), r["updated_at"],
                     r["record"], r["analysis"], r["facts"])

    def pr(self, pr_id: str) -> PRRow:
        rows = self._query("SELECT * FROM prs WHERE pr_id=?", (pr_id,))
        if not rows:
            raise KeyError(pr_id)
        return self._pr_row(rows[0])

    def get_pr(self, pr_id: str) -> PullRecord:
        return self.pr(pr_id).record

    def prs(self, stage: str | Iterable[str] | None = None, repo: str | None = None) -> list[PRRow]:
        sql, params = "SELECT * FROM prs WHERE 1=1", []
        if stage:
            stages = [stage] if isinstance(stage, str) else list(stage)
            sql += f" AND stage IN ({','.join('?' * len(stages))})"
            params += stages
        if repo:
            sql += " AND repo=?"
            params.append(repo)
        return [self._pr_row(r) for r in self._query(sql + " ORDER BY repo, number", tuple(params))]

    def newest_pr(self, repo: str) -> PRRow | None:
        rows = self._query("SELECT * FROM prs WHERE repo=? ORDER BY number DESC LIMIT 1", (repo,))
        return self._pr_row(rows[0]) if rows else None

    def set_pr_stage(self, pr_id: str, stage: str, *, outcome: Outcome | None = None, analysis: Analysis | None = None,
                     facts: PRFacts | None = None, analysis_json: str | None = None) -> None:
        """Move a PR to ``stage``; ``outcome`` says why it was dropped (or, at a kept stage,
        which infrastructure error it waits on); no outcome clears the previous one.
        ``analysis_json``: the analysis as ``analysis.model_dump_json()`` gave it already."""
        if stage not in PR_STAGES:
            raise ValueError(f"unknown PR stage {stage!r}")
        o = outcome
        sets = ["stage=?", "triage=?", "message=?", "log=?", "details=?", "reason=''", "updated_at=?"]
        params: list[Any] = [stage, o.triage.value if o and o.triage else None, o.message if o else "",
                             o.log if o else None, json.dumps(o.details if o else {}, default=str), time.time()]
        if analysis is not None and analysis_json is not None:
            raise ValueError("an analysis, or its JSON: not both")
        if analysis is not None or analysis_json is not None:
            sets.append("analysis=?")
            params.append(analysis.model_dump_json() if analysis is not None else analysis_json)
        if facts is not None:
            sets.append("facts=?")
            params.append(facts.model_dump_json())
        self._execute(f"UPDATE prs SET {', '.join(sets)} WHERE pr_id=?", (*params, pr_id))

    def pr_analysis(self, pr_id: str) -> Analysis | None:
        rows = self._query("SELECT analysis FROM prs WHERE pr_id=?", (pr_id,))
        return Analysis.model_validate_json(rows[0]["analysis"]) if rows and rows[0]["analysis"] else None

    def pr_facts(self, pr_id: str) -> PRFacts | None:
        rows = self._query("SELECT facts FROM prs WHERE pr_id=?", (pr_id,))
        return PRFacts.model_validate_json(rows[0]["facts"]) if rows and rows[0]["facts"] else None

    # -- candidates -------------------------------------------------------
    def add_candidates(self, pr_id: str, instances: Iterable[Instance],
                       not_built: Iterable[tuple[str, Outcome]] = ()) -> None:
        """Store a PR's candidates, and why each skill that made none did not, and mark
        the PR built, in one transaction."""
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO not_built(pr_id, skill, triage, message, log) VALUES(?,?,?,?,?)",
                [(pr_id, skill, o.triage.value if o.triage else None, o.message, o.log) for skill, o in not_built])
            db.executemany(
                "INSERT OR IGNORE INTO candidates(instance_id, pr_id, skill, data, updated_at) VALUES(?,?,?,?,?)",
                [(i.instance_id, pr_id, i.skill, i.model_dump_json(), now) for i in instances],
            )
            db.execute("UPDATE prs SET stage='built', triage=NULL, message='', log=NULL, reason='', updated_at=? "
                       "WHERE pr_id=?", (now, pr_id))

    @staticmethod
    def _candidate_row(r: sqlite3.Row) -> CandidateRow:
        status = OutcomeStatus.ERROR if r["status"] == "error" else OutcomeStatus.DROPPED
        return CandidateRow(r["instance_id"], r["pr_id"], r["skill"], r["status"],
                            _outcome(r["triage"], r["message"], r["log"], r["details"], status),
                            r["gold_score"], r["null_score"], r["log_dir"], r["data"])

    def candidates(self, status: str | Iterable[str] | None = None, skill: str | None = None,
                   pr_id: str | None = None) -> list[CandidateRow]:
        sql, params = "SELECT * FROM candidates WHERE 1=1", []
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params += statuses
        if skill:
            sql += " AND skill=?"
            params.append(skill)
        if pr_id:
            sql += " AND pr_id=?"
            params.append(pr_id)
        return [self._candidate_row(r) for r in self._query(sql + " ORDER BY instance_id", tuple(params))]

    def set_candidate_result(self, instance_id: str, status: str, *, outcome: Outcome | None = None,
                             gold_score: float | None = None, null_score: float | None = None, log_dir: str = "",
                             instance: Instance | None = None) -> None:
        if status not in CANDIDATE_STATUSES:
            raise ValueError(f"unknown candidate status {status!r}")
        o = outcome
        sql = ("UPDATE candidates SET status=?, triage=?, message=?, log=?, details=?, reason='', gold_score=?, "
               "null_score=?, log_dir=?, updated_at=?")
        params: list[Any] = [status, o.triage.value if o and o.triage else None, o.message if o else "",
                             o.log if o else None, json.dumps(o.details if o else {}, default=str), gold_score,
                             null_score, log_dir, time.time()]
        if instance is not None:
            sql += ", data=?"
            params.append(instance.model_dump_json())
        self._execute(sql + " WHERE instance_id=?", (*params, instance_id))

    def not_built(self) -> list[NotBuiltRow]:
        rows = self._query("SELECT * FROM not_built ORDER BY pr_id, skill")
        return [NotBuiltRow(r["pr_id"], r["skill"],
                            _outcome(r["triage"], r["message"], r["log"], None, OutcomeStatus.DROPPED)
                            or Outcome(status=OutcomeStatus.DROPPED))
                for r in rows]

    # -- execution cache ----------------------------------------------------
    def cached_run(self, key: str) -> dict | None:
        rows = self._query("SELECT result FROM runs WHERE key=?", (key,))
        return json.loads(rows[0]["result"]) if rows else None

    def store_run(self, key: str, result: dict) -> None:
        self._execute("INSERT OR REPLACE INTO runs(key, result, created_at) VALUES(?,?,?)",
                      (key, json.dumps(result), time.time()))

    # -- leases: processes sharing the work of one workspace ----------------
    def take_leases(self, items: Iterable[str], *, owner: str | None = None, ttl: float = LEASE_TTL_S,
                    listed_at: float | None = None) -> list[str]:
        """Leases on ``items`` (work units, e.g. ``facts:<pr>``) for ``owner`` (this process by
        default), taken in one transaction; returns the items now held, in order. An item is
        taken when it is free, ``owner``'s already, expired, or held by a process of this host
        that is gone; one held by a live other process is left to it. With ``listed_at``, the
        time the caller read the state of the items, one released since is refused as well:
        another process finished it after the caller looked."""
        from skillforge.execution.owner import owner as this_process, owner_alive

        me, now = owner or this_process(), time.time()
        taken = []
        with self.transaction() as db:
            for item in dict.fromkeys(items):
                row = db.execute("SELECT owner, expires_at, released_at FROM leases WHERE item=?", (item,)).fetchone()
                if row is not None:
                    if listed_at is not None and row["released_at"] is not None and row["released_at"] > listed_at:
                        continue
                    held = row["owner"] not in ("", me) and row["expires_at"] > now
                    if held and owner_alive(row["owner"]):
                        continue
                db.execute("INSERT INTO leases(item, owner, expires_at, released_at) VALUES(?, ?, ?, NULL) "
                           "ON CONFLICT(item) DO UPDATE SET owner=excluded.owner, expires_at=excluded.expires_at, "
                           "released_at=NULL", (item, me, now + ttl))
                taken.append(item)
        return taken

    def release_leases(self, items: Iterable[str], *, owner: str | None = None, ttl: float = LEASE_TTL_S) -> None:
        """``owner``'s leases on ``items`` end (their results are recorded), in one transaction
        that extends its other leases by ``ttl``: it is making progress."""
        from skillforge.execution.owner import owner as this_process

        me, now = owner or this_process(), time.time()
        items = list(items)
        with self.transaction() as db:
            db.executemany("UPDATE leases SET owner='', expires_at=0, released_at=? WHERE item=? AND owner=?",
                           [(now, item, me) for item in items])
            db.execute("UPDATE leases SET expires_at=? WHERE owner=?", (now + ttl, me))

    def leases(self, owner: str | None = None) -> list[LeaseRow]:
        """Every lease (``owner``'s only, when given), released ones included."""
        sql, params = "SELECT * FROM leases", ()
        if owner is not None:
            sql, params = sql + " WHERE owner=?", (owner,)
        return [LeaseRow(r["item"], r["owner"], r["expires_at"], r["released_at"])
                for r in self._query(sql + " ORDER BY item", params)]

    # -- environments -----------------------------------------------------
    @staticmethod
    def _env_row(r: sqlite3.Row) -> EnvironmentRow:
        return EnvironmentRow(r["name"], r["repo"], EnvRecipe.model_validate_json(r["recipe"]), r["image"],
                              r["status"], r["reason"], r["reference_commit"])

    def environment(self, name: str) -> EnvironmentRow | None:
        rows = self._query("SELECT * FROM environments WHERE name=?", (name,))
        return self._env_row(rows[0]) if rows else None

    def environments(self) -> list[EnvironmentRow]:
        return [self._env_row(r) for r in self._query("SELECT * FROM environments ORDER BY name")]

    def set_environment(self, name: str, repo: str, recipe: EnvRecipe, image: str, status: str, message: str = "",
                        reference_commit: str = "") -> None:
        self._execute(
            "INSERT INTO environments(name, repo, recipe, image, status, reason, reference_commit) VALUES(?,?,?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET recipe=excluded.recipe, image=excluded.image, status=excluded.status, "
            "reason=excluded.reason, reference_commit=CASE WHEN excluded.reference_commit='' "
            "THEN environments.reference_commit ELSE excluded.reference_commit END",
            (name, repo, recipe.model_dump_json(), image, status, message, reference_commit),
        )

    def resolution(self, key: str) -> dict | None:
        """What the environment resolver recorded under ``key`` (the recipe it kept, what it tried)."""
        rows = self._query("SELECT data FROM resolutions WHERE key=?", (key,))
        return json.loads(rows[0]["data"]) if rows else None

    def set_resolution(self, key: str, repo: str, data: dict) -> None:
        self._execute("INSERT INTO resolutions(key, repo, data, updated_at) VALUES(?,?,?,?) ON CONFLICT(key) DO "
                      "UPDATE SET data=excluded.data, updated_at=excluded.updated_at",
                      (key, repo, json.dumps(data, default=str), time.time()))

    def resolutions(self, repo: str | None = None) -> dict[str, dict]:
        sql, params = "SELECT key, data FROM resolutions", ()
        if repo:
            sql, params = sql + " WHERE repo=?", (repo,)
        return {r["key"]: json.loads(r["data"]) for r in self._query(sql + " ORDER BY key", params)}

    # -- SWE-bench-format rows -------------------------------------------------
    def swebench_result(self, instance_id: str) -> tuple[str, dict] | None:
        """(input key, stored result) of a SWE-bench-format row validated before."""
        rows = self._query("SELECT key, result FROM swebench_results WHERE instance_id=?", (instance_id,))
        return (rows[0]["key"], json.loads(rows[0]["result"])) if rows else None

    def store_swebench_result(self, instance_id: str, key: str, status: str, result: dict) -> None:
        self._execute(
            "INSERT INTO swebench_results(instance_id, key, status, result, updated_at) VALUES(?,?,?,?,?) "
            "ON CONFLICT(instance_id) DO UPDATE SET key=excluded.key, status=excluded.status, "
            "result=excluded.result, updated_at=excluded.updated_at",
            (instance_id, key, status, json.dumps(result), time.time()))

    # -- GitHub mining bookkeeping ---------------------------------------------
    def github_seen(self, repo: str | None = None, status: str | None = None) -> dict[tuple[str, int], tuple[str, str]]:
        """(repo, number) -> (status, reason) of the PRs the GitHub miner decided on for good."""
        sql, params = "SELECT repo, number, status, reason FROM github_seen WHERE 1=1", []
        if repo:
            sql += " AND repo=?"
            params.append(repo)
        if status:
            sql += " AND status=?"
            params.append(status)
        return {(r["repo"], r["number"]): (r["status"], r["reason"]) for r in self._query(sql, tuple(params))}

    def mark_github_seen(self, repo: str, number: int, status: str, reason: str = "") -> None:
        self._execute("INSERT OR REPLACE INTO github_seen(repo, number, status, reason, updated_at) VALUES(?,?,?,?,?)",
                      (repo, number, status, reason, time.time()))

    # -- summaries --------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        prs = {r["stage"]: r["n"] for r in self._query("SELECT stage, COUNT(*) n FROM prs GROUP BY stage")}
        cands = [dict(r) for r in self._query("SELECT skill, status, COUNT(*) n FROM candidates GROUP BY skill, status")]
        return {"prs": prs, "candidates": cands}
