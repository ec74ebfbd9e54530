"""Stage configurations are written once: the run recipe embeds them, the command
line turns their fields into flags, and a typo names the keys that exist."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from skillforge.cli.main import app
from skillforge.cli.options import config_flags, make_config
from skillforge.stages.config import AnalyzeConfig, ExportConfig, MineConfig, SourceSpec, ValidateConfig
from skillforge.stages.recipe import RecipeError, load_run_recipe

runner = CliRunner()


def test_defaults_live_in_the_models():
    assert ValidateConfig().reruns == 3 and ValidateConfig().workers == 0 and ValidateConfig().executor == "local"
    assert AnalyzeConfig().near_duplicate_threshold == 0.85 and AnalyzeConfig().drop_trivial is True
    assert ExportConfig().format == "hf" and ExportConfig().split == "train"
    assert MineConfig().limit is None


def test_flags_are_made_from_the_fields():
    seen = {}
    cli = typer.Typer()

    @cli.command()
    @config_flags(ValidateConfig, AnalyzeConfig)
    def validate(workspace: str = "ws", **flags) -> None:
        seen["validate"] = make_config(ValidateConfig, flags)
        seen["analyze"] = make_config(AnalyzeConfig, flags)

    result = runner.invoke(cli, ["--reruns", "5", "--skills", "review,editing", "--executor", "ray",
                                 "--no-drop-trivial", "--max-files", "7"])
    assert result.exit_code == 0, result.output
    v, a = seen["validate"], seen["analyze"]
    assert (v.reruns, v.skills, v.executor, v.workers) == (5, ["review", "editing"], "ray", 0)
    assert (a.drop_trivial, a.max_files, a.max_code_lines) == (False, 7, 1500)
    help_text = " ".join(runner.invoke(cli, ["--help"], env={"COLUMNS": "300"}).output.split())
    assert "runs of every before/after execution" in help_text and "(default: 3)" in help_text
    bad = runner.invoke(cli, ["--skills", "cooking"])
    assert bad.exit_code == 2 and "unknown skill(s) cooking" in " ".join(bad.output.split())
    assert runner.invoke(cli, ["--executor", "slurm"]).exit_code == 2


def test_the_commands_offer_the_config_flags():
    out = " ".join(runner.invoke(app, ["validate", "--help"], env={"COLUMNS": "300"}).output.split())
    for flag in ("--workers", "--reruns", "--skills", "--executor", "--ray-address", "--recipes-dir",
                 "--decontaminate", "--max-files", "--near-duplicate-threshold"):
        assert flag in out, flag
    out = " ".join(runner.invoke(app, ["export", "--help"], env={"COLUMNS": "300"}).output.split())
    for flag in ("--out", "--format", "--json-test-lists", "--push-to-hub", "--private", "--hub-endpoint"):
        assert flag in out, flag
    out = " ".join(runner.invoke(app, ["mine", "--help"], env={"COLUMNS": "300"}).output.split())
    for flag in ("--limit", "--since", "--search", "--repos-dir", "--api-url", "--require-issue", "--repo-name",
                 "--issues"):
        assert flag in out, flag


def test_the_run_recipe_embeds_the_stage_models(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nsources: [{path: repo, repo: o/n}]\nmine: {limit: 3, since: 2024-01-02}\n"
                    "filters: {max_files: 4}\nvalidate: {reruns: 2, skills: [review]}\n"
                    "export: {format: swebench, out: out}\n")
    recipe = load_run_recipe(path)
    assert isinstance(recipe.mine, MineConfig) and recipe.mine.since == "2024-01-02"
    assert isinstance(recipe.filters, AnalyzeConfig) and recipe.filters.max_files == 4
    assert isinstance(recipe.validate_, ValidateConfig) and recipe.validate_.skills == ["review"]
    assert isinstance(recipe.export, ExportConfig) and recipe.resolve(recipe.export.out) == tmp_path / "out"
    assert recipe.sources == [SourceSpec(path="repo", repo="o/n")]


@pytest.mark.parametrize("text, message", [
    ("name: x\nsources: [{path: r}]\nvalidate: {rerun: 2}\n",
     "validate.rerun: unknown key; valid keys: executor, ray_address, recipes_dir, reruns, skills, warm_containers, workers"),
    ("name: x\nsources: [{path: r}]\nexprot: {}\n", "exprot: unknown key; valid keys: export, filters, mine, "),
    ("name: x\nsources: [{path: r, sample: s}]\n", "a source needs exactly one of"),
    ("name: x\nsources: [{path: r}]\nmine: {since: yesterday}\n", "YYYY-MM-DD"),
    ("- just\n- a list\n", "a recipe is a mapping"),
])
def test_recipe_errors_name_the_key_and_what_is_valid(tmp_path: Path, text: str, message: str):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as err:
        load_run_recipe(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_config_paths_accept_path_objects(tmp_path: Path):
    assert AnalyzeConfig(decontaminate=tmp_path / "list.txt").decontaminate == str(tmp_path / "list.txt")
