"""Recipes: the model, recipe files, commit ranges and the shipped recipes
(inference: test_infer, test_plan, test_python)."""

from __future__ import annotations

import pytest

from skillforge.environments.recipes import dump_recipe, load_recipe_file, load_recipes
from skillforge.schema import DEFAULT_TEST_CMD, EnvRecipe

# --------------------------------------------------------------------------- model


def test_defaults():
    r = EnvRecipe()
    assert r.python == "3.11"
    assert r.test_cmd == DEFAULT_TEST_CMD == "python -m pytest -p no:cacheprovider -rA"
    assert r.install == r.pre_test == r.test_files == r.system_packages == []
    assert r.timeout is None and r.install_timeout is None


def test_key_is_stable_and_covers_only_image_fields():
    r = EnvRecipe(install=["pip install -e ."], env={"A": "1"})
    assert r.key() == EnvRecipe(install=["pip install -e ."], env={"A": "1"}).key()
    assert len(r.key()) == 12 and int(r.key(), 16) >= 0
    # run-time fields do not change the image
    assert r.key() == r.model_copy(update={"pre_test": ["make"], "test_cmd": "pytest", "timeout": 5,
                                           "test_files": ["tests"], "install_timeout": 9}).key()
    for change in ({"python": "3.13"}, {"install": ["pip install ."]}, {"env": {"A": "2"}},
                   {"system_packages": ["libxml2-dev"]}):
        assert r.model_copy(update=change).key() != r.key(), change


def test_python_must_be_a_string_version():
    with pytest.raises(ValueError, match="string"):
        EnvRecipe(python=3.10)
    with pytest.raises(ValueError):
        EnvRecipe(python="python3")
    assert EnvRecipe(python="3.9").python == "3.9"


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError):
        EnvRecipe(instal=["typo"])


# --------------------------------------------------------------------------- files


def test_load_single_and_list(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text("repo: psf/requests\nenvironment:\n  python: '3.9'\n  install: [\"pip install -e .\"]\n"
                   "  pre_test: [make]\n  env: {CI: 1}\n  timeout: 120\n")
    recipes = load_recipe_file(one)
    assert list(recipes) == ["psf/requests"]
    r = recipes["psf/requests"]
    assert (r.python, r.install, r.pre_test, r.env, r.timeout) == ("3.9", ["pip install -e ."], ["make"], {"CI": "1"}, 120)

    many = tmp_path / "many.yml"
    many.write_text("- repo: a/b\n  environment: {python: '3.13'}\n- repo: c/d\n  environment: {}\n")
    assert {k: v.python for k, v in load_recipe_file(many).items()} == {"a/b": "3.13", "c/d": "3.11"}
    assert set(load_recipes(tmp_path)) == {"psf/requests", "a/b", "c/d"}
    assert load_recipes(tmp_path / "absent") == {}


@pytest.mark.parametrize("text, message", [
    ("repo: a/b\nenvironment: {python: 3.10}\n", "string"),
    ("repo: not-a-repo\n", "owner/name"),
    ("- repo: a/b\n- repo: a/b\n", "more than one"),
    ("repo: a/b\nenvironment: {bogus: 1}\n", "bogus"),
    ("just text", "mapping"),
    ("repo: [unclosed\n", "YAML"),
])
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_recipe_file(path)


def test_same_repo_in_two_files(tmp_path):
    (tmp_path / "a.yaml").write_text("repo: a/b\n")
    (tmp_path / "b.yaml").write_text("repo: a/b\n")
    with pytest.raises(ValueError, match="both"):
        load_recipes(tmp_path)


def test_dump_round_trip(tmp_path):
    r = EnvRecipe(python="3.13", install=["pip install ."], env={"X": "y"})
    path = tmp_path / "r.yaml"
    path.write_text(dump_recipe("o/n", r))
    assert load_recipe_file(path) == {"o/n": r}


# --------------------------------------------------------------------------- ranges, shipped recipes, schema

import json  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from skillforge.environments.recipes import (  # noqa: E402
    RecipeWhen, load_recipe_book, load_recipe_variants, recipe_schema, select_recipe, when_matches,
)
from skillforge.gitio import CommitInfo  # noqa: E402
from skillforge.gitio import commit_info as git_commit_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "recipes" / "environments"


def _git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}
    import os

    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args], capture_output=True,
                          text=True, check=True, env={**os.environ, **env}).stdout.strip()


@pytest.fixture
def history(tmp_path) -> dict[str, str]:
    """c2019 (tag v1.0) -> c2023 (tag v2.1) -> c2025: three commits years apart."""
    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    out = {"path": str(repo)}
    for name, date, tag in (("c2019", "2019-05-01T12:00:00+00:00", "v1.0"),
                            ("c2023", "2023-03-01T12:00:00+00:00", "release-2.1"),
                            ("c2025", "2025-06-01T12:00:00+00:00", None)):
        (repo / "f.txt").write_text(name)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", name, date=date)
        out[name] = _git(repo, "rev-parse", "HEAD")
        if tag:
            _git(repo, "tag", "-a", tag, "-m", tag, date=date)
    return out


def test_commit_info_from_git(history):
    info = git_commit_info(history["path"], history["c2023"])
    assert info.date.year == 2023 and info.version == "2.1"
    assert info.contains(history["c2019"]) and not info.contains(history["c2025"])
    assert git_commit_info(history["path"], history["c2025"]).version == "2.1"
    assert git_commit_info(history["path"], history["c2019"]).version == "1.0"


def test_ranges_by_date_commit_and_version(history):
    at = {k: git_commit_info(history["path"], history[k]) for k in ("c2019", "c2023", "c2025")}
    since_2023 = RecipeWhen(since="2023-01-01")
    assert [when_matches(since_2023, at[k]) for k in at] == [False, True, True]
    until = RecipeWhen(until=history["c2023"])  # commits that do not contain c2023
    assert [when_matches(until, at[k]) for k in at] == [True, False, False]
    since_commit = RecipeWhen(since=history["c2023"][:10])
    assert [when_matches(since_commit, at[k]) for k in at] == [False, True, True]
    versions = RecipeWhen(versions=">=2,<3")
    assert [when_matches(versions, at[k]) for k in at] == [False, True, True]
    assert when_matches(RecipeWhen(versions="<2"), at["c2019"])
    # a range that needs what is unknown does not match
    assert not when_matches(versions, CommitInfo("x"))
    assert when_matches(RecipeWhen(), CommitInfo("x"))


def test_recipe_file_with_ranges_first_match_wins(tmp_path, history):
    path = tmp_path / "r.yaml"
    path.write_text(f"""\
repo: o/n
environments:
  - when: {{since: 2025-01-01}}
    environment: {{python: "3.13"}}
  - when: {{versions: ">=2"}}
    environment: {{python: "3.11"}}
  - environment: {{python: "3.9"}}
""")
    variants = load_recipe_variants(path)["o/n"]
    pick = {k: select_recipe(variants, git_commit_info(history["path"], history[k])).python
            for k in ("c2019", "c2023", "c2025")}
    assert pick == {"c2019": "3.9", "c2023": "3.11", "c2025": "3.13"}
    assert load_recipe_file(path)["o/n"].python == "3.9"  # the catch-all
    assert select_recipe(variants[:1], CommitInfo("x")) is None


@pytest.mark.parametrize("text, message", [
    ("repo: a/b\nenvironments: []\n", "empty"),
    ("repo: a/b\nenvironment: {}\nenvironments: [{environment: {}}]\n", "not both"),
    ("repo: a/b\nenvironments: [{when: {since: yesterday}, environment: {}}]\n", "date"),
    ("repo: a/b\nenvironments: [{when: {versions: '>=>1'}, environment: {}}]\n", "PEP 440"),
    ("repo: a/b\nenvironments: [{when: {after: x}, environment: {}}]\n", "after"),
])
def test_bad_ranges(tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_recipe_file(path)


def test_shipped_recipes_are_valid_and_the_schema_is_current():
    book = load_recipe_book(SHIPPED)
    # one documented example of the format; inference makes environments for every other repository
    assert sorted(book) == ["pallets/click"]
    for repo in book:
        variants = book[repo]
        assert variants[-1].when.empty(), f"{repo}: the last entry should cover every other commit"
        for v in variants:
            assert v.environment.install and v.environment.test_files
    schema = json.loads((SHIPPED / "recipe.schema.json").read_text())
    assert schema == recipe_schema(), "regenerate recipes/environments/recipe.schema.json from recipe_schema()"
    for path in SHIPPED.glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=recipe.schema.json")


def test_schema_validates_the_shipped_files():
    import jsonschema  # the test extra
    import yaml

    schema = recipe_schema()
    for path in SHIPPED.glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"repo": "a/b", "environment": {"instal": []}}, schema)
