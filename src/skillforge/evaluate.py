"""``skillforge eval``: score predictions with the very scorers that validated the
dataset (and that reward training), per skill, with Avg@k.

A dataset is an exported folder (or a Hub id): one config per skill, every row
carrying its instance's fields, and ``environments.json`` beside it naming what
each ``environment`` stands for, so execution-based skills can rebuild their
images from a local clone when they are missing.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from skillforge.export.io import DatasetError
from skillforge.export.io import load_instances as _load
from skillforge.export.io import load_predictions as _load_predictions
from skillforge.settings import Settings
from skillforge.execution import InfraError
from skillforge.gitio import RepoError, RepoHandle
from skillforge.schema import SKILLS, Instance, repo_slug
from skillforge.skills import REGISTRY, score_context
from skillforge.execution.backend import ENVIRONMENTS_FILE, Backend
from skillforge.workspace import Workspace


class EvalError(DatasetError):
    pass


def load_instances(dataset: str | Path, *, split: str = "train", skills: Iterable[str] = SKILLS) -> list[Instance]:
    """Typed instances of every skill config the dataset has (``export.io.load_instances``)."""
    by_skill = _load(dataset, split=split, skills=skills)
    if not any(by_skill.values()):
        raise EvalError(f"{dataset}: no skill config ({', '.join(skills)}) found in split {split!r}")
    return [inst for rows in by_skill.values() for inst in rows]


def load_predictions(path: str | Path) -> dict[str, list[str]]:
    """JSONL rows ``{"instance_id": ..., "answer": ...}`` (``export.io.load_predictions``)."""
    try:
        return _load_predictions(path)
    except DatasetError as e:
        raise EvalError(str(e)) from None


def backend_for_dataset(dataset: str | Path, *, workspace: str | Path | None = None,
                        repos_dir: str | Path | None = None, logs_dir: str | Path | None = None,
                        settings: Settings | None = None) -> Backend:
    """A Backend that can execute the dataset's instances: environments from ``environments.json``
    (or the workspace), repositories from the workspace or ``repos_dir/owner__name``."""
    ws = Workspace(workspace) if workspace else None
    repos_dir = Path(repos_dir) if repos_dir else None
    handles: dict[str, RepoHandle] = {}

    def repo(name: str) -> RepoHandle:
        if name not in handles:
            location = ws.repo_location(name) if ws else None
            if location is None and repos_dir is not None:
                location = str(repos_dir / repo_slug(name))
            if location is None or not Path(location).exists():
                raise RepoError(f"no local clone of {name}: pass --workspace (the one that built the dataset) "
                                f"or --repos-dir DIR with DIR/{repo_slug(name)}")
            handles[name] = RepoHandle(name, location)
        return handles[name]

    logs = Path(logs_dir) if logs_dir else (ws.logs_dir / "eval" if ws else Path(".skillforge") / "eval-logs")
    backend = Backend(settings or Settings.from_env(), repo, logs_dir=logs)
    env_file = Path(dataset) / ENVIRONMENTS_FILE
    if env_file.exists():
        backend.load(env_file)
    if ws is not None:
        from skillforge.environments import workspace_environments

        for env in workspace_environments(ws):
            backend.environments.setdefault(env.name, env)
    return backend


@dataclass
class SkillResult:
    scores: dict[str, list[float]] = field(default_factory=dict)  # instance -> one score per prediction
    missing: int = 0
    errors: list[str] = field(default_factory=list)

    def avg_at_k(self, k: int) -> float:
        if not self.scores:
            return 0.0
        return statistics.fmean(statistics.fmean((s + [0.0] * k)[:k]) for s in self.scores.values())


@dataclass
class EvalReport:
    k: int
    skills: dict[str, SkillResult]

    def to_json(self) -> dict:
        skills = {name: {"score": r.avg_at_k(self.k), "n": len(r.scores), "k": self.k, "missing": r.missing,
                         "errors": len(r.errors)} for name, r in self.skills.items()}
        return {
            "skills": skills,
            "overall": statistics.fmean(v["score"] for v in skills.values()) if skills else 0.0,
            "k": self.k,
            "instances": {iid: s for r in self.skills.values() for iid, s in sorted(r.scores.items())},
            "errors": [e for r in self.skills.values() for e in r.errors],
        }


def evaluate(instances: list[Instance], predictions: dict[str, list[str]], backend: Backend | None, *, k: int = 1,
             workers: int = 2, on_scored: Callable[[str, float], None] | None = None) -> EvalReport:
    """Score the first ``k`` predictions of every instance; skills without any prediction are left out,
    and an instance without predictions scores 0 (counted as missing)."""
    if k < 1:
        raise EvalError("--k must be at least 1")
    predicted_skills = {i.skill for i in instances if i.instance_id in predictions}
    results = {s: SkillResult() for s in SKILLS if s in predicted_skills}
    jobs = []
    for inst in instances:
        if inst.skill not in results:
            continue
        answers = predictions.get(inst.instance_id, [])[:k]
        if not answers:
            results[inst.skill].missing += 1
            results[inst.skill].scores[inst.instance_id] = [0.0] * k
            continue
        results[inst.skill].scores[inst.instance_id] = [0.0] * len(answers)
        jobs.extend((inst, j, a) for j, a in enumerate(answers))

    def score(inst: Instance, j: int, answer: str) -> tuple[Instance, int, float, str | None]:
        skill = REGISTRY[inst.skill]
        try:
            ctx = score_context(backend, inst.environment, f"{inst.instance_id}/pred{j}") if backend else None
            if ctx is None:
                from skillforge.skills import ScoreContext

                ctx = ScoreContext(None)
            return inst, j, skill.score(inst, answer, ctx).value, None
        except (InfraError, RepoError) as e:
            where = f" (see {e.log_path})" if getattr(e, "log_path", None) else ""
            return inst, j, 0.0, f"{inst.instance_id}: {e}{where}"

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for fut in as_completed([pool.submit(score, *job) for job in jobs]):
            inst, j, value, error = fut.result()
            results[inst.skill].scores[inst.instance_id][j] = value
            if error:
                results[inst.skill].errors.append(error)
            if on_scored:
                on_scored(inst.instance_id, value)
    return EvalReport(k=k, skills=results)
