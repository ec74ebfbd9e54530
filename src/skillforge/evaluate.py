"""``skillforge eval``: score predictions with the very scorers that validated the
dataset (and that reward training), per skill, with Avg@k.

A dataset is an exported folder (or a Hub id): one config per skill, every row
carrying its instance's fields, and ``environments.json`` beside it naming what
each ``environment`` stands for, so execution-based skills can rebuild their
images from a local clone when they are missing.
"""

from __future__ import annotations

import statistics
import threading
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
from skillforge.skills import REGISTRY, ScoreContext
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
    """Prediction rows ``{"instance_id": ..., "answer": ...}`` or SWE-bench's ``{"instance_id": ...,
    "model_patch": ...}`` (``export.io.load_predictions``)."""
    try:
        return _load_predictions(path)
    except DatasetError as e:
        raise EvalError(str(e)) from None


DEFAULT_REPOS_DIR = Path(".skillforge") / "repos"
"""Where ``backend_for_dataset`` clones a repository that no workspace or ``repos_dir`` holds."""


def backend_for_dataset(dataset: str | Path, *, workspace: str | Path | None = None,
                        repos_dir: str | Path | None = None, logs_dir: str | Path | None = None,
                        settings: Settings | None = None) -> Backend:
    """A Backend that can execute the dataset's instances: environments from ``environments.json``
    (the dataset folder's, or a Hub id's) and the workspace; repositories from the workspace, else
    ``repos_dir/owner__name`` (default ``.skillforge/repos``), cloned there from the URL
    ``environments.json`` records when missing. A repository none of these gives raises
    ``RepoError`` when first needed, saying what to pass."""
    from skillforge.workspace import WorkspaceError

    try:
        ws = Workspace(workspace, create=False) if workspace else None
    except WorkspaceError as e:
        raise EvalError(str(e)) from None
    clones_root = Path(repos_dir) if repos_dir else DEFAULT_REPOS_DIR
    settings = settings or Settings.from_env()
    folder = _dataset_folder(dataset)
    env_file = folder / ENVIRONMENTS_FILE if folder is not None else None
    handles: dict[str, RepoHandle] = {}
    urls: dict[str, str] = {}
    lock = threading.Lock()

    def repo(name: str) -> RepoHandle:
        with lock:  # one clone at a time, each once
            if name not in handles:
                handles[name] = _open_repo(name, ws, clones_root, urls.get(name), env_file, settings)
            return handles[name]

    logs = Path(logs_dir) if logs_dir else (ws.logs_dir / "eval" if ws else Path(".skillforge") / "eval-logs")
    backend = Backend(settings, repo, logs_dir=logs)
    if env_file is not None and env_file.exists():
        backend.load(env_file)
    if ws is not None:
        from skillforge.environments import workspace_environments

        for env in workspace_environments(ws):
            backend.environments.setdefault(env.name, env)
    urls.update({e.repo: e.url for e in backend.environments.values() if e.url})
    return backend


def _dataset_folder(dataset: str | Path) -> Path | None:
    """The folder ``environments.json`` is read from: a local dataset folder (or the folder of a file in
    it), or a Hub id's ``environments.json`` downloaded (``rewards.dataset_folder``)."""
    from skillforge.rewards import dataset_folder

    return dataset_folder(str(dataset))


def _open_repo(name: str, ws: Workspace | None, clones_root: Path, url: str | None, env_file: Path | None,
               settings: Settings) -> RepoHandle:
    """The workspace's clone of ``name``, else ``clones_root/owner__name``, cloned there from ``url`` when
    missing; ``RepoError`` saying what to pass when there is none."""
    location = ws.repo_location(name) if ws else None
    if location and Path(location).exists():
        return RepoHandle(name, location)
    path = clones_root / repo_slug(name)
    if path.exists():
        return RepoHandle(name, path)
    if url is None:
        recorded = f"{env_file} records no clone URL for it" if env_file is not None and env_file.exists() \
            else f"the dataset has no {ENVIRONMENTS_FILE}"
        raise RepoError(f"no local clone of {name}, and {recorded}: pass --workspace (the one that built the "
                        f"dataset) or --repos-dir DIR with a clone at DIR/{repo_slug(name)}")
    from skillforge.swebench.clones import Clones

    template = url.replace("{", "{{").replace("}", "}}")  # the URL as it is, not a template
    return RepoHandle(name, Clones(clones_root, url_template=template, settings=settings).get(name).path)


@dataclass
class SkillResult:
    scores: dict[str, list[float | None]] = field(default_factory=dict)  # instance -> per prediction (None: not scored)
    missing: int = 0
    errors: list[str] = field(default_factory=list)
    # a skill's reported score details (``Skill.detail_metrics``): metric -> instance -> its scored predictions' values
    metrics: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def metric_mean(self, name: str) -> float | None:
        """The mean over instances of the mean of a reported detail over their scored predictions
        (predictions that report none, e.g. rows without the labels, are left out); None when none did."""
        values = [statistics.fmean(v) for v in self.metrics.get(name, {}).values() if v]
        return statistics.fmean(values) if values else None

    @property
    def unscored(self) -> list[str]:
        """Instances with a prediction that could not be scored (an infrastructure error): left out of the score."""
        return sorted(iid for iid, s in self.scores.items() if None in s)

    def avg_at_k(self, k: int) -> float | None:
        """The mean over instances of the mean of their first ``k`` scores (a prediction short of ``k``
        counts 0); instances that could not be scored are left out; None when none was scored."""
        scored = [s for s in self.scores.values() if None not in s]
        if not scored:
            return None if self.scores else 0.0
        return statistics.fmean(statistics.fmean((s + [0.0] * k)[:k]) for s in scored)


@dataclass
class EvalReport:
    k: int
    skills: dict[str, SkillResult]
    unknown: list[str] = field(default_factory=list)  # prediction ids that name no instance of the dataset

    @property
    def unscored(self) -> list[str]:
        return [iid for r in self.skills.values() for iid in r.unscored]

    def to_json(self) -> dict:
        skills = {name: {"score": r.avg_at_k(self.k), "n": len(r.scores) - len(r.unscored), "k": self.k,
                         "missing": r.missing, "errors": len(r.errors), "unscored": len(r.unscored),
                         **{m: r.metric_mean(m) for m in _detail_metrics(name)}}
                  for name, r in self.skills.items()}
        scored = [v["score"] for v in skills.values() if v["score"] is not None]
        return {
            "skills": skills,
            "overall": statistics.fmean(scored) if scored else (None if skills else 0.0),
            "k": self.k,
            "instances": {iid: s for r in self.skills.values() for iid, s in sorted(r.scores.items())},
            "errors": [e for r in self.skills.values() for e in r.errors],
            "unscored": self.unscored,
            "unknown": self.unknown,
        }


def _detail_metrics(skill: str) -> tuple[str, ...]:
    """The score details a skill's report carries the mean of (localization: ``function_f1``)."""
    return tuple(getattr(REGISTRY[skill], "detail_metrics", ()) if skill in REGISTRY else ())


def match_predictions(instances: list[Instance], predictions: dict[str, list[str]]
                      ) -> tuple[dict[str, list[str]], list[str]]:
    """(predictions keyed by the instances' ids, the ids that name none). A pull request's id
    (``owner__repo-N``, as SWE-bench names its rows) stands for that PR's editing instance."""
    ids = {i.instance_id for i in instances}
    editing = {i.pr_id: i.instance_id for i in instances if i.skill == "editing"}
    matched: dict[str, list[str]] = {}
    unknown: list[str] = []
    for pid, answers in predictions.items():
        target = pid if pid in ids else editing.get(pid)
        if target is None:
            unknown.append(pid)
        else:
            matched.setdefault(target, []).extend(answers)
    return matched, unknown


class _CheckedExecutor:
    """The backend's executor, reached only when a scorer runs something (a localization's file set, a
    review's verdict execute nothing), and only once the run's environment and repository are there: a
    missing one (no clone, no clone URL) fails before any Docker work, saying what to pass."""

    def __init__(self, backend: Backend):
        self.backend = backend

    def run(self, environment: str, spec, *, log_name: str | None = None):
        env = self.backend.environments.get(environment)
        if env is None:
            raise InfraError(f"unknown environment {environment!r}: not in the dataset's {ENVIRONMENTS_FILE} nor a "
                             "workspace; pass --workspace (the one that built the dataset)", triage="image_build")
        self.backend.repos(env.repo)  # a RepoError when there is no clone and none can be made
        return self.backend.executor.run(environment, spec, log_name=log_name)


def evaluate(instances: list[Instance], predictions: dict[str, list[str]], backend: Backend | None, *, k: int = 1,
             workers: int = 2, on_scored: Callable[[str, float | None], None] | None = None,
             progress: Callable[[str, str], None] | None = None) -> EvalReport:
    """Score the first ``k`` predictions of every instance; skills without any prediction are left out,
    and an instance without predictions scores 0 (counted as missing). Predictions are matched to
    instances by ``match_predictions``; none matching is an ``EvalError``. A prediction that cannot be
    scored (an infrastructure error) is recorded as an error and its instance left out of the score
    (``EvalReport.unscored``), never counted 0. ``progress(phase, message)`` hears of every scored
    prediction, and ``progress.total(phase, n)``, when it has one, of their number."""
    if k < 1:
        raise EvalError("--k must be at least 1")
    given = predictions
    predictions, unknown = match_predictions(instances, given)
    if given and not predictions:
        skills = sorted({i.skill for i in instances})
        shown = ", ".join(sorted(given)[:3]) + (f" and {len(given) - 3} more" if len(given) > 3 else "")
        raise EvalError(f"none of the {len(given)} prediction ids names an instance of the dataset ({shown}; "
                        f"its skills here: {', '.join(skills) or 'none'}): ids are `owner__repo-N.<skill>`, "
                        "or a pull request's `owner__repo-N` for its editing instance")
    predicted_skills = {i.skill for i in instances if i.instance_id in predictions}
    results: dict[str, SkillResult] = {s: SkillResult() for s in SKILLS if s in predicted_skills}
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
    if progress is not None and hasattr(progress, "total"):
        progress.total("score", len(jobs))

    checked = _CheckedExecutor(backend) if backend is not None else None

    def score(inst: Instance, j: int, answer: str) -> tuple[Instance, int, float | None, str | None, dict]:
        skill = REGISTRY[inst.skill]
        try:
            ctx = ScoreContext(checked, inst.environment, log_prefix=f"{inst.instance_id}/pred{j}")
            got = skill.score(inst, answer, ctx)
            return inst, j, got.value, None, got.detail
        except (InfraError, RepoError) as e:
            where = f" (see {e.log_path})" if getattr(e, "log_path", None) else ""
            return inst, j, None, f"{inst.instance_id}: {e}{where}", {}

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for fut in as_completed([pool.submit(score, *job) for job in jobs]):
            inst, j, value, error, detail = fut.result()
            results[inst.skill].scores[inst.instance_id][j] = value
            for m in _detail_metrics(inst.skill):
                got = detail.get(m)
                if isinstance(got, (int, float)) and not isinstance(got, bool):
                    results[inst.skill].metrics.setdefault(m, {}).setdefault(inst.instance_id, []).append(float(got))
            if error:
                results[inst.skill].errors.append(error)
            if on_scored:
                on_scored(inst.instance_id, value)
            if progress is not None:
                progress("score", f"{inst.instance_id}: " + ("error" if value is None else f"{value:.2f}"))
    return EvalReport(k=k, skills=results, unknown=sorted(unknown))
