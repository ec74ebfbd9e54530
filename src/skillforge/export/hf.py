"""Export: a folder that is a Hugging Face dataset repository as it stands.

One config per skill (``<skill>/<split>-00000-of-00001.parquet``) with typed
columns derived from the skill's instance model, plus three columns every
config shares:

- ``prompt``: the task as the skill's own ``prompt()`` words it, as a
  conversation (``[{"role": "user", "content": ...}]``), so TRL's trainers and
  any chat template take the rows as they are;
- ``created_at``: when the pull request was opened (its merge time when
  unknown), ISO 8601 in UTC (``2024-03-01T09:00:00Z``), for date cut-offs;
- ``hints_text``: the linked issues' comments made before the fix's first
  commit, as SWE-bench has them.

The review ``label`` is a ``ClassLabel`` (``NO`` = 0, ``YES`` = 1); ``answer``
stays the exact text a prediction takes.

The default config, ``all``, is every skill's rows with the columns every skill
has (the instance spine, ``prompt``, ``answer``, ``created_at``,
``hints_text``), read from the same parquet files (the config selects columns):
``load_dataset(DIR)`` returns the mixed five-skill training set with no copy of
the data. A per-skill config has that skill's typed columns.

The ``README.md`` dataset card is rendered from ``data_cards/`` with the
workspace's real statistics; its YAML header declares the configs,
``dataset_info`` (features, split sizes) per config and the source
repositories' licenses. ``LICENSE.md`` lists each repository with its license.
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from skillforge.schema import SKILLS, Instance, PullRecord
from skillforge.skills import REGISTRY
from skillforge.environments import workspace_environments
from skillforge.execution.backend import ENVIRONMENTS_FILE
from skillforge.execution.backend import write_environments as write_environment_file
from skillforge.stats import workspace_stats
from skillforge.resources import resource
from skillforge.workspace import Workspace

CARD_TEMPLATE = ("data_cards", "skillforge.md.j2")  # a shipped resource (skillforge.resources)
DEFAULT_CONFIG = "all"
LICENSE_FILE = "LICENSE.md"
CLASS_LABEL_FIELDS = ("label",)
"""Fields written as a ``datasets.ClassLabel`` (names sorted: ``NO`` = 0, ``YES`` = 1) when they are a ``Literal``."""
EXTRA_COLUMNS = ("prompt", "created_at", "hints_text")
"""Columns every exported row has beyond its instance's fields."""
EXAMPLE_CHARS = 1200  # characters of a prompt or answer shown in the card's examples

# License ids the Hub knows (https://huggingface.co/docs/hub/repositories-licenses), by lower-cased SPDX id
HUB_LICENSES = frozenset({
    "apache-2.0", "mit", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0",
    "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1",
    "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by", "odbl", "osl-3.0", "postgresql", "ofl-1.1",
    "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr", "apple-ascl",
})


# --------------------------------------------------------------------------- columns


def features_for(model: type[BaseModel], *, class_labels: bool = False):
    """``datasets.Features`` from a pydantic model: lists stay lists, nested models become structs.
    With ``class_labels``, the fields of :data:`CLASS_LABEL_FIELDS` that are a ``Literal``
    become a ``ClassLabel`` of its values (sorted)."""
    import datasets

    def convert(annotation: Any):
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (typing.Union, types.UnionType):
            return convert(args[0])
        if origin is Literal:
            return datasets.Value("string")
        if origin in (list, tuple):
            return datasets.List(convert(args[0]))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return {name: convert(f.annotation) for name, f in annotation.model_fields.items()}
        return datasets.Value({str: "string", int: "int64", float: "float64", bool: "bool"}[annotation])

    out = {}
    for name, f in model.model_fields.items():
        names = _class_label_names(f.annotation) if class_labels and name in CLASS_LABEL_FIELDS else None
        out[name] = datasets.ClassLabel(names=names) if names else convert(f.annotation)
    return datasets.Features(out)


def _class_label_names(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is Literal:
        return sorted(str(a) for a in typing.get_args(annotation))
    return None


def decode_row(model: type[BaseModel], row: dict[str, Any]) -> dict[str, Any]:
    """A row read back from an export, its ``ClassLabel`` integers turned back into the model's values."""
    out = dict(row)
    for name in CLASS_LABEL_FIELDS:
        f = model.model_fields.get(name)
        names = _class_label_names(f.annotation) if f is not None else None
        if names and isinstance(out.get(name), int) and not isinstance(out.get(name), bool):
            out[name] = names[out[name]]
    return out


def prompt_messages(inst: Instance) -> list[dict[str, str]]:
    """The instance's task as a conversation: one user message, the skill's own ``prompt()``."""
    return [{"role": "user", "content": REGISTRY[inst.skill].prompt(inst)}]


def extra_features() -> dict[str, Any]:
    import datasets

    string = datasets.Value("string")
    return {"prompt": datasets.List({"role": string, "content": string}), "created_at": string, "hints_text": string}


def skill_features(skill: str):
    """The columns of a skill's config: its instance's fields (review labels as ``ClassLabel``), then the extras."""
    import datasets

    return datasets.Features({**features_for(REGISTRY[skill].instance_model, class_labels=True), **extra_features()})


def shared_features():
    """The columns of the ``all`` config: the fields every instance has, then the extras."""
    import datasets

    return datasets.Features({**features_for(Instance), **extra_features()})


def iso_utc(value: str | None) -> str:
    """An ISO 8601 time as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC); as given when it does not parse, "" when absent."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return value
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pr_created_at(pr: PullRecord | None) -> str:
    """When the pull request was opened (its merge time when unknown)."""
    return iso_utc((pr.created_at or pr.merged_at) if pr else None)


def pr_hints(pr: PullRecord | None) -> str:
    """The linked issues' comments made before the fix's first commit, one per line (SWE-bench's ``hints_text``)."""
    return "\n".join(h.strip() for issue in (pr.issues if pr else []) for h in issue.hints if h.strip())


class _PRs:
    """Pull requests of a workspace by id, read once."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._cache: dict[str, PullRecord | None] = {}

    def get(self, pr_id: str) -> PullRecord | None:
        if pr_id not in self._cache:
            try:
                self._cache[pr_id] = self.ws.get_pr(pr_id)
            except KeyError:
                self._cache[pr_id] = None
        return self._cache[pr_id]


def export_row(inst: Instance, pr: PullRecord | None) -> dict[str, Any]:
    """One exported row: the instance's fields, its prompt, ``created_at`` and ``hints_text``."""
    return {**inst.model_dump(mode="json"), "prompt": prompt_messages(inst), "created_at": pr_created_at(pr),
            "hints_text": pr_hints(pr)}


# --------------------------------------------------------------------------- licenses


@dataclass
class SourceLicense:
    repo: str
    spdx: str | None  # as GitHub detected it; None when unknown (a local source, or no license detected)

    @property
    def hub_id(self) -> str:
        spdx = (self.spdx or "").lower()
        return spdx if spdx in HUB_LICENSES else "other"


def source_licenses(ws: Workspace, repos: list[str]) -> list[SourceLicense]:
    """Each repository's SPDX license, as the GitHub miner recorded it (``repo_state["github"]["license"]``)."""
    out = []
    for repo in repos:
        github = ws.repo_state(repo).get("github") or {}
        spdx = github.get("license") if isinstance(github, dict) else None
        out.append(SourceLicense(repo, spdx if spdx and spdx != "NOASSERTION" else None))
    return out


def license_file(licenses: list[SourceLicense]) -> str:
    lines = ["# Licenses", "",
             "Every instance carries code and text from its source repository, under that repository's license.",
             ""]
    if licenses:
        lines += ["| repository | license (SPDX) |", "| --- | --- |"]
        lines += [f"| [{lic.repo}](https://github.com/{lic.repo}) | "
                  f"{lic.spdx or 'not recorded: see the repository'} |" for lic in licenses]
    else:
        lines.append("This export holds no instance.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the export


@dataclass
class ExportSummary:
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def collect_stats(ws: Workspace) -> dict[str, Any]:
    """The card's statistics (``stats.WorkspaceStats.card``)."""
    return workspace_stats(ws).card()


def write_environments(ws: Workspace, path: Path) -> None:
    """What each instance's ``environment`` stands for (repository, recipe, reference commit, and the
    URL the repository is cloned from), so the dataset can be evaluated elsewhere: the repository is
    cloned and the image rebuilt from it when missing."""
    envs = workspace_environments(ws)
    urls = {repo: clone_url(ws, repo) for repo in {e.repo for e in envs}}
    for env in envs:
        env.url = urls[env.repo]
    write_environment_file(envs, path)


def clone_url(ws: Workspace, repo: str) -> str | None:
    """The URL the workspace's clone of ``repo`` came from (its ``origin``), credentials removed;
    None for a clone without a remote, or one whose remote is a local path (no URL others can use)."""
    from urllib.parse import urlsplit, urlunsplit

    from skillforge.gitio import remote_url

    location = ws.repo_location(repo)
    url = remote_url(location) if location and Path(location).is_dir() else None
    if not url or ("://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url)):
        return None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    return urlunsplit(parts)


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _clip(text: str, limit: int = EXAMPLE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + f"\n… ({len(text) - limit} more characters)"


def _example(inst: Instance, row: dict[str, Any]) -> dict[str, Any]:
    prompt = _clip(row["prompt"][0]["content"])
    answer = _clip(inst.answer.rstrip("\n"))
    return {"instance_id": inst.instance_id, "repo": inst.repo, "created_at": row["created_at"],
            "prompt": prompt, "prompt_fence": _fence(prompt), "answer": answer, "answer_fence": _fence(answer)}


def _default_title(repos: list[str]) -> str:
    if not repos:
        return "skillforge: an empty export"
    shown = ", ".join(repos[:3])
    return f"skillforge: {shown}" + (f" and {len(repos) - 3} more" if len(repos) > 3 else "")


def _size_category(total: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if total < bound:
            return label
    return "1M<n<10M"


def export_hf(ws: Workspace, out: str | Path, *, split: str = "train", template: Path | None = None,
              pretty_name: str | None = None, repo_id: str | None = None) -> ExportSummary:
    """Write the dataset folder. ``repo_id`` (the ``--push-to-hub`` id) is what the card's load
    snippets and citation name; without it they name the folder."""
    import datasets
    from huggingface_hub import DatasetCard, DatasetCardData

    datasets.disable_progress_bars()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(out=out)
    prs = _PRs(ws)
    configs: list[dict[str, Any]] = []
    infos: dict[str, datasets.DatasetInfo] = {}
    examples: dict[str, dict[str, Any]] = {}
    shared_rows: list[dict[str, Any]] = []
    shared = list(shared_features())
    years: list[str] = []
    for skill in SKILLS:
        insts = [r.instance for r in ws.candidates(status="valid", skill=skill)]
        for stale in (out / skill).glob(f"{split}-*.parquet"):  # a re-export replaces, never mixes
            stale.unlink()
        if not insts:
            continue
        rows = [export_row(inst, prs.get(inst.pr_id)) for inst in insts]
        path = out / skill / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds = datasets.Dataset.from_list(rows, features=skill_features(skill))
        ds.to_parquet(str(path))
        summary.rows[skill] = len(rows)
        summary.files.append(path)
        configs.append({"config_name": skill, "data_files": [{"split": split, "path": f"{skill}/{split}-*.parquet"}]})
        infos[skill] = _info(ds, split, [path])
        examples[skill] = _example(insts[0], rows[0])
        shared_rows += [{k: r[k] for k in shared} for r in rows]
        years += [r["created_at"][:4] for r in rows if r["created_at"][:4].isdigit()]
    if configs:
        shared_ds = datasets.Dataset.from_list(shared_rows, features=shared_features())
        configs.insert(0, {"config_name": DEFAULT_CONFIG, "default": True,
                           "data_files": [{"split": split, "path": [c["data_files"][0]["path"] for c in configs]}],
                           "columns": list(shared_features())})
        infos[DEFAULT_CONFIG] = _info(shared_ds, split, summary.files)

    stats = collect_stats(ws)
    repos = sorted({r for s in stats["skills"].values() for r in s["repos"]}) or list(stats["repos"])
    licenses = source_licenses(ws, repos)
    hub_ids = sorted({lic.hub_id for lic in licenses}) or ["other"]
    license_fields: dict[str, Any] = {"license": hub_ids[0] if len(hub_ids) == 1 else hub_ids}
    if "other" in hub_ids:
        license_fields.update(license_name="source-repositories", license_link=LICENSE_FILE)
    total = sum(summary.rows.values())
    title = pretty_name or (repo_id.split("/")[-1] if repo_id else _default_title(repos))
    card_data = DatasetCardData(
        pretty_name=title, language=["en", "code"], task_categories=["text-generation"],
        tags=["code", "agents", "swe", "reinforcement-learning", "skillforge"], size_categories=[_size_category(total)],
        configs=configs, **license_fields,
    )
    datasets.info.DatasetInfosDict(infos).to_dataset_card_data(card_data)
    dataset_ref = repo_id or str(out)
    from skillforge import __version__

    card = DatasetCard.from_template(
        card_data, template_path=str(template or resource(*CARD_TEMPLATE)),
        title=title, dataset_ref=dataset_ref, on_hub=bool(repo_id), stats=stats, rows=summary.rows, total=total,
        split=split, skills=SKILLS, examples=examples, licenses=licenses, license_file=LICENSE_FILE,
        default_config=DEFAULT_CONFIG, shared_columns=list(shared_features()), repos=repos,
        sample_skill="editing" if "editing" in summary.rows else next(iter(summary.rows), ""),
        year=max(years) if years else str(datetime.now(timezone.utc).year), version=__version__,
        citation_key=_citation_key(dataset_ref), url=f"https://huggingface.co/datasets/{repo_id}" if repo_id else "",
    )
    card.save(str(out / "README.md"))
    (out / LICENSE_FILE).write_text(license_file(licenses))
    (out / "skillforge_stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True))
    write_environments(ws, out / ENVIRONMENTS_FILE)
    return summary


def _info(ds, split: str, files: list[Path]):
    """``datasets.DatasetInfo`` of one config: its features, the split's rows and bytes, the files' size."""
    import datasets

    num_bytes = ds.data.nbytes
    splits = datasets.SplitDict({split: datasets.SplitInfo(split, num_bytes=num_bytes, num_examples=len(ds))})
    return datasets.DatasetInfo(features=ds.features, splits=splits, dataset_size=num_bytes,
                                download_size=sum(p.stat().st_size for p in files))


def _citation_key(ref: str) -> str:
    key = "".join(c if c.isalnum() else "_" for c in Path(ref).name if c.isascii()).strip("_")
    return f"skillforge_{key or 'dataset'}"
