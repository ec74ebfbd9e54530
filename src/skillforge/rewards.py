"""Rewards for training frameworks outside skillforge: verl and TRL.

Both score an answer with the skill's own scorer -- the one that validated the
dataset (gold answers score 1, null answers 0) -- executing in Docker, in the
instance's environment, where the skill needs it.

verl (``custom_reward_function``)::

    custom_reward_function.path=$(python -c "import skillforge.rewards as r; print(r.__file__)")
    custom_reward_function.name=compute_score

``compute_score(data_source, solution_str, ground_truth, extra_info)`` reads the
rows of ``skillforge export --format verl``: the skill from ``data_source``
(``skillforge/<skill>``), the instance from ``extra_info["instance"]``. Rows of
other data sources go to verl's own ``default_compute_score``.

TRL (``GRPOTrainer(reward_funcs=...)``)::

    from skillforge.rewards import trl_reward_functions
    reward_funcs = trl_reward_functions(dataset="DIR")

one callable per skill (``train.rewards.SkillReward``), named after it, which
scores the rows of its skill and gives ``None`` for the others (so TRL logs
``rewards/<skill>/mean``). The instance of a row is looked up by ``instance_id``
in ``dataset``, so the rows of any config (``all`` included) can be trained on.

Where execution happens, in this order: the arguments, else the environment
(read when the backend is first needed, then kept for the process):

| variable | meaning |
| --- | --- |
| ``SKILLFORGE_DATASET`` | the exported folder (its ``environments.json``); a file in it (``train.parquet``) or a Hub id works too |
| ``SKILLFORGE_WORKSPACE`` | the workspace that built the dataset (its clones and environments) |
| ``SKILLFORGE_REPOS_DIR`` | clones as ``DIR/owner__name`` (when there is no workspace) |
| ``SKILLFORGE_LOGS_DIR`` | where the runs' logs go (default: ``<workspace>/logs/rewards``, else ``.skillforge/reward-logs``) |
| ``SKILLFORGE_REWARD_ON_ERROR`` | verl only: an infrastructure failure (Docker, an image build) raises by default; a number here is scored instead, with a warning |

The settings are those of the Docker sandbox (``SKILLFORGE_MEM_LIMIT``, ...; see the README).
"""

# no `from __future__ import annotations`: verl loads this file by path under a module name of its own
# (custom_reward_function.path), which need not be in sys.modules, and dataclasses look string
# annotations up there
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillforge.execution import InfraError
from skillforge.schema import SKILLS, Instance
from skillforge.skills import REGISTRY, ScoreContext
from skillforge.train.rewards import ScoringPool, SkillReward, completion_text

__all__ = ["DATA_SOURCE_PREFIX", "RewardError", "RewardSettings", "compute_score", "instance_score",
           "reward_backend", "trl_reward_functions"]

log = logging.getLogger("skillforge.rewards")

DATA_SOURCE_PREFIX = "skillforge/"  # verl's data_source of the rows of `skillforge export --format verl`
ENV_DATASET, ENV_WORKSPACE, ENV_REPOS_DIR, ENV_LOGS_DIR = (
    "SKILLFORGE_DATASET", "SKILLFORGE_WORKSPACE", "SKILLFORGE_REPOS_DIR", "SKILLFORGE_LOGS_DIR")
ENV_ON_ERROR = "SKILLFORGE_REWARD_ON_ERROR"


class RewardError(ValueError):
    """A reward that cannot be computed as asked (a row that is not skillforge's, no way to execute)."""


@dataclass(frozen=True)
class RewardSettings:
    """Where execution-based scores find environments and repositories."""

    dataset: str | None = None
    workspace: str | None = None
    repos_dir: str | None = None
    logs_dir: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RewardSettings":
        env = os.environ if environ is None else environ
        return cls(*(env.get(k) or None for k in (ENV_DATASET, ENV_WORKSPACE, ENV_REPOS_DIR, ENV_LOGS_DIR)))

    def merged(self, other: "RewardSettings") -> "RewardSettings":
        """These settings, with ``other``'s where these have none."""
        return RewardSettings(*(a or b for a, b in zip(
            (self.dataset, self.workspace, self.repos_dir, self.logs_dir),
            (other.dataset, other.workspace, other.repos_dir, other.logs_dir))))


def dataset_folder(dataset: str) -> Path | None:
    """The local folder of an exported dataset: the folder itself, the folder of a file in it
    (``train.parquet``), or a Hub id's ``environments.json`` downloaded. None when there is none."""
    path = Path(dataset).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        return path.parent
    if path.exists() or dataset.count("/") != 1:
        return None
    try:  # a Hub id
        from huggingface_hub import hf_hub_download

        from skillforge.execution.backend import ENVIRONMENTS_FILE

        return Path(hf_hub_download(dataset, ENVIRONMENTS_FILE, repo_type="dataset")).parent
    except Exception as exc:  # noqa: BLE001 - any failure to reach it: said when a score needs it
        log.warning("%s: no local folder and no environments.json on the Hub (%s)", dataset, exc)
        return None


_backends: dict[RewardSettings, Any] = {}
_backends_lock = threading.Lock()


def reward_backend(settings: RewardSettings | None = None):
    """The execution ``Backend`` for ``settings`` (default: from the environment), built once per process.
    Building it touches no Docker engine: the engine is reached when a scorer first runs something."""
    settings = settings or RewardSettings.from_env()
    with _backends_lock:
        if settings in _backends:
            return _backends[settings]
        from skillforge.evaluate import backend_for_dataset

        folder = dataset_folder(settings.dataset) if settings.dataset else None
        if folder is None and not settings.workspace:
            raise RewardError(
                "execution-based skills need to know the dataset's environments: set "
                f"{ENV_DATASET} to the exported folder (with environments.json) or {ENV_WORKSPACE} to the "
                f"workspace that built it (and {ENV_REPOS_DIR} to the clones when there is no workspace)")
        logs = settings.logs_dir or (str(Path(settings.workspace) / "logs" / "rewards") if settings.workspace
                                     else str(Path(".skillforge") / "reward-logs"))
        backend = backend_for_dataset(folder or settings.workspace, workspace=settings.workspace,
                                      repos_dir=settings.repos_dir, logs_dir=logs)
        _backends[settings] = backend
        return backend


class _LazyExecutor:
    """The backend's executor, reached only when a scorer really runs something (a review's
    verdict, a localization's file set execute nothing and need no backend)."""

    def __init__(self, settings: RewardSettings | None):
        self.settings = settings

    def run(self, environment, spec, *, log_name=None):
        return reward_backend(self.settings).executor_for().run(environment, spec, log_name=log_name)


def _context(inst: Instance, settings: RewardSettings | None, label: str) -> ScoreContext:
    return ScoreContext(_LazyExecutor(settings), inst.environment,
                        log_prefix=f"{label}/{inst.instance_id}/{uuid.uuid4().hex[:8]}")


def instance_score(inst: Instance, answer: str, *, settings: RewardSettings | None = None,
                   label: str = "reward") -> float:
    """The skill's score of ``answer`` to ``inst`` (an ``InfraError`` when execution fails)."""
    return REGISTRY[inst.skill].score(inst, answer, _context(inst, settings, label)).value


def _skill_of(data_source: str) -> str | None:
    if isinstance(data_source, str) and data_source.startswith(DATA_SOURCE_PREFIX):
        return data_source[len(DATA_SOURCE_PREFIX):]
    return None


def compute_score(data_source: str, solution_str: str, ground_truth: str | None = None,
                  extra_info: Mapping[str, Any] | None = None, **kwargs: Any) -> float:
    """verl's reward function for the rows of ``skillforge export --format verl``: the score in [0, 1] of
    ``solution_str`` under the skill's scorer. ``ground_truth`` (the gold answer) is not needed: the
    instance in ``extra_info["instance"]`` holds everything the scorer compares with. Rows of other
    data sources are scored by verl's ``default_compute_score`` when verl is installed."""
    skill = _skill_of(data_source)
    if skill is None:
        try:
            from verl.utils.reward_score import default_compute_score
        except ImportError:
            raise RewardError(f"data_source {data_source!r} is not skillforge's ({DATA_SOURCE_PREFIX}<skill>) "
                              "and verl's default_compute_score is not importable") from None
        return default_compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)
    if skill not in REGISTRY:
        raise RewardError(f"data_source {data_source!r}: unknown skill {skill!r}; one of {', '.join(SKILLS)}")
    raw = (extra_info or {}).get("instance")
    if not raw:
        raise RewardError(f"{data_source} row without extra_info['instance']: export it with "
                          "`skillforge export --format verl`")
    model = REGISTRY[skill].instance_model
    inst = model.model_validate_json(raw) if isinstance(raw, (str, bytes)) else model.model_validate(raw)
    try:
        return float(instance_score(inst, completion_text(solution_str), label="verl"))
    except InfraError as exc:
        fallback = os.environ.get(ENV_ON_ERROR, "").strip()
        if not fallback:
            raise
        where = f" (see {exc.log_path})" if getattr(exc, "log_path", None) else ""
        log.warning("%s: scoring failed: %s%s; scored %s (%s)", inst.instance_id, exc, where, fallback, ENV_ON_ERROR)
        return float(fallback)


# --------------------------------------------------------------------------- TRL


class _Instances:
    """The instances of an exported dataset by id, loaded on first use."""

    def __init__(self, dataset: str | None, skills: list[str], split: str):
        self.dataset, self.skills, self.split = dataset, skills, split
        self._by_id: dict[str, Instance] | None = None
        self._lock = threading.Lock()

    def get(self, instance_id: str) -> Instance | None:
        if self.dataset is None:
            return None
        with self._lock:
            if self._by_id is None:
                from skillforge.export.io import load_instances

                loaded = load_instances(self.dataset, split=self.split, skills=self.skills)
                self._by_id = {i.instance_id: i for rows in loaded.values() for i in rows}
        return self._by_id.get(instance_id)


class DatasetSkillReward(SkillReward):
    """A ``SkillReward`` whose instances come from the exported dataset (by ``instance_id``), so rows
    carrying only the shared columns (the ``all`` config) are scored; rows carrying every field of
    their instance are rebuilt from their columns, as ``SkillReward`` does."""

    def __init__(self, skill: str, *, instances: _Instances, backend=None, pool: ScoringPool | None = None):
        super().__init__(skill, backend=backend, pool=pool)
        self.instances = instances

    def _instance(self, columns: dict[str, list], i: int) -> Instance:
        iid = columns["instance_id"][i]
        inst = self._instances.get(iid) or self.instances.get(iid)
        if inst is None:
            from skillforge.export.hf import decode_row

            model = REGISTRY[self.skill].instance_model
            row = decode_row(model, {name: values[i] for name, values in columns.items()
                                     if name in model.model_fields and values[i] is not None})
            try:
                inst = model.model_validate(row)
            except ValueError as exc:
                raise RewardError(f"{iid}: the row lacks the instance's fields ({exc}); pass dataset= "
                                  "(the exported folder) so instances are found by instance_id") from None
        self._instances[iid] = inst
        return inst


class _LazyBackend:
    """``reward_backend(settings)``, built when a scorer first executes something: a review's
    verdict needs none, so a run on skills that execute nothing needs no settings."""

    def __init__(self, settings: RewardSettings, container_pool: int = 0):
        self.settings, self.container_pool = settings, container_pool
        self._backend = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._backend is None:
                backend = reward_backend(self.settings)
                if self.container_pool and not backend.started:
                    # a fork server per container: pytest imported once (rewards share its hash seed)
                    backend.use_pool(self.container_pool, fork_server=True)
                self._backend = backend
            return self._backend

    def executor_for(self, attempt: int = 0):
        return self.get().executor_for(attempt)

    def metrics(self) -> dict[str, float]:
        return self._backend.metrics() if self._backend is not None else {}

    def __getattr__(self, name: str):  # the rest of the Backend's interface (environments, open_session, ...)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)


def trl_reward_functions(skills: Iterable[str] = SKILLS, *, dataset: str | Path | None = None,
                         workspace: str | Path | None = None, repos_dir: str | Path | None = None,
                         logs_dir: str | Path | None = None, split: str = "train", backend=None,
                         workers: int = 4, timeout: float = 900.0, container_pool: int = 0) -> list[SkillReward]:
    """TRL reward functions (``f(completions, **columns) -> list[float | None]``), one per skill.

    ``dataset`` is the exported folder (or Hub id) the training rows come from; ``workspace``,
    ``repos_dir``, ``logs_dir`` say where execution happens (default: the ``SKILLFORGE_*`` variables).
    ``backend`` replaces all that with an ``execution.Backend`` of your own. ``workers`` and ``timeout``
    bound the concurrent scores (a score past ``timeout`` seconds is 0); ``container_pool`` runs them
    in that many warm containers per environment."""
    skills = list(skills)
    unknown = [s for s in skills if s not in REGISTRY]
    if unknown:
        raise RewardError(f"unknown skill(s) {', '.join(unknown)}; choose from {', '.join(SKILLS)}")
    settings = RewardSettings(*(str(v) if v is not None else None for v in (dataset, workspace, repos_dir, logs_dir)))
    settings = settings.merged(RewardSettings.from_env())
    if backend is None and any(REGISTRY[s].needs_execution for s in skills):
        backend = _LazyBackend(settings, container_pool)
    instances = _Instances(settings.dataset, skills, split)
    pool = ScoringPool(workers, timeout)
    return [DatasetSkillReward(s, instances=instances, backend=backend, pool=pool) for s in skills]
