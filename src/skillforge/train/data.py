"""Training data: exported datasets loaded per skill, mixed by ratio, rendered
as prompts with each skill's own ``prompt()``.

Every row of the training dataset keeps all the fields of its instance as
columns (the union over the skills; a field another skill lacks is None), so a
reward function can rebuild the typed instance from the columns TRL hands it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from skillforge.schema import SKILLS, Instance
from skillforge.skills import REGISTRY


class DataError(ValueError):
    pass


def load_skill_instances(datasets_: Sequence[str | Path], skills: Iterable[str] = SKILLS, *, split: str = "train",
                         max_per_skill: int = 0) -> dict[str, list[Instance]]:
    """Typed instances per skill from exported dataset folders (``export.io.load_instances``);
    a dataset without a skill's config contributes nothing to it."""
    from skillforge.export.io import load_instances

    if not datasets_:
        raise DataError("no dataset given: set `dataset:` in the config (a folder written by `skillforge export`)")
    skills = list(skills)
    out: dict[str, list[Instance]] = {s: [] for s in skills}
    for path in datasets_:
        if not Path(path).exists():
            raise DataError(f"{path}: no such dataset folder (write one with `skillforge export`)")
        for skill, rows in load_instances(path, split=split, skills=skills).items():
            out[skill].extend(rows)
    if max_per_skill:
        out = {s: v[:max_per_skill] for s, v in out.items()}
    return out


def mix(by_skill: dict[str, list[Instance]], ratios: dict[str, float], *, seed: int = 0,
        length: int = 0) -> list[Instance]:
    """One ordered stream of instances where each skill takes its ratio's share,
    interleaved as evenly as possible (smooth weighted round-robin), so every
    window of a few prompts holds every skill. A skill's instances are cycled,
    reshuffled on each cycle. ``length`` defaults to the shortest stream in which
    every instance of every skill appears at least once."""
    active = {s: r for s, r in ratios.items() if r > 0 and by_skill.get(s)}
    missing = [s for s, r in ratios.items() if r > 0 and not by_skill.get(s)]
    if not active:
        raise DataError(f"no instances for the selected skills ({', '.join(ratios)}) in the dataset")
    total = sum(active.values())
    shares = {s: r / total for s, r in active.items()}
    natural = max(len(by_skill[s]) / shares[s] for s in shares)
    n = max(int(length), math.ceil(natural - 1e-9))
    rng = random.Random(seed)
    streams = {s: _cycle(by_skill[s], rng) for s in shares}
    current = {s: 0.0 for s in shares}
    out: list[Instance] = []
    for _ in range(n):
        for s in shares:
            current[s] += shares[s]
        pick = max(shares, key=lambda s: (current[s], -list(shares).index(s)))
        current[pick] -= 1.0
        out.append(next(streams[pick]))
    if missing:
        import warnings

        warnings.warn(f"no instances of {', '.join(missing)} in the dataset: training without them", stacklevel=2)
    return out


def _cycle(items: list[Instance], rng: random.Random):
    while True:
        order = list(items)
        rng.shuffle(order)
        yield from order


def columns_of(skills: Iterable[str]):
    """The features (name -> ``datasets`` feature) of the union of the skills' instance fields."""
    from skillforge.export.hf import features_for

    merged: dict[str, Any] = {}
    for skill in skills:
        for name, feature in features_for(REGISTRY[skill].instance_model).items():
            if name in merged and merged[name] != feature:
                raise DataError(f"field {name!r} has different types across skills ({merged[name]} vs {feature})")
            merged[name] = feature
    return merged


def render_prompt(inst: Instance, *, conversational: bool) -> Any:
    """The instance's prompt: the exported ``prompt`` column's conversation (``export.hf.prompt_messages``,
    the skill's own ``prompt()`` as one user message), or its text."""
    from skillforge.export.hf import prompt_messages

    messages = prompt_messages(inst)
    return messages if conversational else messages[0]["content"]


def build_dataset(instances: list[Instance], *, conversational: bool):
    """A ``datasets.Dataset`` with a ``prompt`` column and every instance field as a column."""
    import datasets

    datasets.disable_progress_bars()
    skills = sorted({i.skill for i in instances}, key=SKILLS.index)
    features = columns_of(skills)
    if conversational:
        features["prompt"] = [{"role": datasets.Value("string"), "content": datasets.Value("string")}]
    else:
        features["prompt"] = datasets.Value("string")
    rows = []
    for inst in instances:
        row = {name: None for name in features}
        row.update(inst.model_dump(mode="json"))
        row["prompt"] = render_prompt(inst, conversational=conversational)
        rows.append(row)
    return datasets.Dataset.from_list(rows, features=datasets.Features(features))


def instance_from_columns(columns: dict[str, list], index: int) -> Instance:
    """The typed instance of row ``index`` of a batch TRL passes to a reward function."""
    skill = columns["skill"][index]
    model = REGISTRY[skill].instance_model
    return model.model_validate({name: columns[name][index] for name in model.model_fields
                                 if name in columns and columns[name][index] is not None})


def backend_for(datasets_: Sequence[str | Path], *, workspace: str | None, repos_dir: str | None, logs_dir: Path,
                container_pool: int = 0):
    """The execution Backend for the datasets' instances: environments from each
    dataset's ``environments.json`` (and the workspace), repositories from the
    workspace or ``repos_dir/owner__name``; with ``container_pool`` its executor is
    a warm container pool of that many containers per environment. Nothing here
    touches Docker: the engine is reached when a scorer first runs something."""
    from skillforge.evaluate import backend_for_dataset
    from skillforge.execution.backend import ENVIRONMENTS_FILE

    if not datasets_:
        raise DataError("execution-based skills need the dataset folder (its environments.json)")
    backend = backend_for_dataset(datasets_[0], workspace=workspace, repos_dir=repos_dir, logs_dir=logs_dir)
    if container_pool:  # a fork server per container: pytest imported once (rewards share its hash seed)
        backend.use_pool(container_pool, fork_server=True)
    for extra in datasets_[1:]:
        env_file = Path(extra) / ENVIRONMENTS_FILE
        if env_file.exists():
            backend.load(env_file)  # the environments known already stay
    return backend
