"""The Hugging Face export as the Hub and ``datasets`` read it: a default config, a ``prompt`` in
every config, ``dataset_info`` in the card's YAML, licenses per source, a card that reads well."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard, DatasetCardData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workspaces import REPO, build_workspace  # noqa: E402

from skillforge.export.hf import DEFAULT_CONFIG, LICENSE_FILE, export_hf, prompt_messages  # noqa: E402
from skillforge.export.io import load_instances  # noqa: E402
from skillforge.schema import SKILLS  # noqa: E402
from skillforge.stages.config import ExportConfig  # noqa: E402
from skillforge.stages.export import run as run_export  # noqa: E402


@pytest.fixture
def exported(tmp_path):
    ws = build_workspace(tmp_path / "ws")
    out = tmp_path / "out"
    export_hf(ws, out)
    return ws, out


def _load(out: Path, name: str | None, tmp_path: Path):
    return datasets.load_dataset(str(out), name=name, split="train", cache_dir=str(tmp_path / "hf-cache"))


def test_load_dataset_without_a_config_name_gives_every_skill(exported, tmp_path):
    ws, out = exported
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))  # no name, no split
    rows = ds["train"]
    stored = {r.instance_id: r.instance for r in ws.candidates(status="valid")}
    assert sorted(rows["instance_id"]) == sorted(stored) and set(rows["skill"]) == set(SKILLS)
    for row in rows:
        inst = stored[row["instance_id"]]
        assert row["prompt"] == prompt_messages(inst) and row["answer"] == inst.answer
    assert {"prompt", "answer", "skill", "created_at", "hints_text"} <= set(rows.column_names)


def test_every_config_has_the_prompt_created_at_and_hints(exported, tmp_path):
    ws, out = exported
    stored = {r.instance_id: r.instance for r in ws.candidates(status="valid")}
    for skill in SKILLS:
        rows = _load(out, skill, tmp_path)
        assert rows.features["prompt"] == datasets.List({"role": datasets.Value("string"),
                                                          "content": datasets.Value("string")})
        for row in rows:
            inst = stored[row["instance_id"]]
            assert row["prompt"] == prompt_messages(inst)
            pr7 = inst.pr_number == 7
            assert row["created_at"] == ("2024-03-01T09:00:00Z" if pr7 else "2024-03-02T10:00:00Z")  # else merged_at
            assert row["hints_text"] == ("Same on 1.2.\nIt is in ops.py." if pr7 else "")
    review = _load(out, "review", tmp_path)
    assert review.features["label"] == datasets.ClassLabel(names=["NO", "YES"])
    assert sorted(zip(review["instance_id"], review["label"], review["answer"])) == [
        ("acme__calc-7.review-0", 1, "<judgment>YES</judgment>"), ("acme__calc-7.review-1", 0, "<judgment>NO</judgment>"),
        ("acme__calc-9.review-0", 1, "<judgment>YES</judgment>")]
    # read back as typed instances (eval, train): the class label is the model's value again
    loaded = load_instances(out)
    assert {i.instance_id: i for rows in loaded.values() for i in rows} == stored


def test_card_yaml_parses_and_declares_features_per_config(exported, tmp_path):
    ws, out = exported
    card = DatasetCard.load(out / "README.md")
    assert isinstance(card.data, DatasetCardData)
    data = card.data.to_dict()
    again = DatasetCardData(**data)  # what the Hub validates: the metadata makes a card data object as it is
    assert again.to_dict() == data
    configs = {c["config_name"]: c for c in data["configs"]}
    assert list(configs) == [DEFAULT_CONFIG, *SKILLS] and configs[DEFAULT_CONFIG]["default"] is True
    infos = {i["config_name"]: i for i in data["dataset_info"]}
    assert set(infos) == set(configs)
    rows = {s: n for s, n in zip(SKILLS, (2, 2, 2, 2, 3))}
    for name, info in infos.items():
        assert info["splits"] == [{"name": "train", "num_bytes": info["splits"][0]["num_bytes"],
                                   "num_examples": sum(rows.values()) if name == DEFAULT_CONFIG else rows[name]}]
        assert info["splits"][0]["num_bytes"] > 0 and info["download_size"] > 0
        builder = datasets.load_dataset_builder(str(out), name, cache_dir=str(tmp_path / "hf-cache"))
        assert builder.info.features is not None and "prompt" in builder.info.features
        assert builder.info.features == _load(out, name, tmp_path).features
    assert data["license"] == "other" and data["license_name"] == "source-repositories"
    assert data["license_link"] == LICENSE_FILE and REPO in (out / LICENSE_FILE).read_text()


def test_card_reads_well(exported):
    ws, out = exported
    text = (out / "README.md").read_text()
    body = text.split("\n---\n", 1)[1]
    assert "\n# skillforge: acme/calc\n" in body  # the title, not an empty heading
    assert not re.search(r"^#+\s*$", body, re.M)
    assert "PATH_OR_HUB_ID" not in body and f'load_dataset("{out}", split="train")' in body
    for skill in SKILLS:
        assert f"### {skill}" in body  # an example per skill
    assert "@misc{skillforge_out," in body and "year         = {2024}" in body
    # no table is printed with its header only: every header row is followed by its separator and a data row
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| ---"):
            assert i + 1 < len(lines) and lines[i + 1].startswith("|"), lines[i - 1]
    assert "Pull requests dropped" not in body  # none was dropped here


def test_an_empty_workspace_exports_a_card_without_tables(tmp_path):
    from skillforge.workspace import Workspace

    out = tmp_path / "out"
    summary = export_hf(Workspace(tmp_path / "ws"), out)
    assert summary.rows == {}
    body = (out / "README.md").read_text().split("\n---\n", 1)[1]
    assert "| ---" not in body and "no instance yet" in body
    assert "## Examples" not in body and "Validated instances per skill" not in body
    DatasetCard.load(out / "README.md")


def test_licenses_from_the_github_miner(tmp_path):
    ws = build_workspace(tmp_path / "ws")
    ws.set_repo_state(REPO, {"github": {"license": "MIT", "default_branch": "main"}})
    out = tmp_path / "out"
    export_hf(ws, out)
    data = DatasetCard.load(out / "README.md").data.to_dict()
    assert data["license"] == "mit" and "license_name" not in data
    assert f"| [{REPO}](https://github.com/{REPO}) | MIT |" in (out / LICENSE_FILE).read_text()
    assert f"- [{REPO}](https://github.com/{REPO}): MIT" in (out / "README.md").read_text()


def test_licenses_of_several_sources(tmp_path):
    from skillforge.export.hf import SourceLicense

    assert [SourceLicense("a/b", s).hub_id for s in ("Apache-2.0", "BSD-3-Clause", "PSF-2.0", None)] == [
        "apache-2.0", "bsd-3-clause", "other", "other"]


def test_the_hub_id_is_what_the_card_names(tmp_path):
    ws = build_workspace(tmp_path / "ws")
    out = tmp_path / "out"
    run_export(ws, ExportConfig(out=str(out)), pretty_name=None)
    assert f'load_dataset("{out}"' in (out / "README.md").read_text()
    export_hf(ws, out, repo_id="acme/calc-skills")
    text = (out / "README.md").read_text()
    assert 'load_dataset("acme/calc-skills", split="train")' in text and str(out) not in text
    assert "\n# calc-skills\n" in text and "https://huggingface.co/datasets/acme/calc-skills" in text
