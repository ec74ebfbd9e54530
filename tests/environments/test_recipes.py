"""Recipes: the model, recipe files, and inference from packaging files."""

from __future__ import annotations

import pytest

from skillforge.environments.infer import infer_recipe, pick_python, python_satisfies, recipe_for
from skillforge.environments.recipes import dump_recipe, load_recipe_file, load_recipes
from skillforge.schema import DEFAULT_TEST_CMD, EnvRecipe

PIP = "python -m pip install"


def infer(files: dict[str, str]) -> EnvRecipe:
    return infer_recipe(files.get, list(files))


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


def test_recipe_for_prefers_hand_written():
    hand = EnvRecipe(install=["make install"])
    assert recipe_for("o/n", {"o/n": hand}, {}.get, []) is hand
    assert recipe_for("o/m", {"o/n": hand}, {}.get, []).install[-1] == f"{PIP} pytest"


# --------------------------------------------------------------------------- python versions


@pytest.mark.parametrize("spec, version, ok", [
    (">=3.8", "3.11", True), ("<3.10", "3.11", False), ("<3.10", "3.9", True),
    (">=3.10,<3.12", "3.11", True), (">=3.10,<3.12", "3.13", False),
    ("==3.11.*", "3.11", True), ("==3.11.*", "3.13", False), ("!=3.11.*", "3.11", False),
    ("~=3.9", "3.13", True), ("~=3.9.0", "3.11", False), ("^3.8", "3.13", True), ("^3.8", "4.0", False),
    (">=3.11.4", "3.11.2", False), (">=3.11.4", "3.11", True), ("<=3.11", "3.11", True),
    (">= 3.7, < 4", "3.13", True), (">=3.7,<3.9 || >=3.11", "3.11", True), ("", "3.11", True),
])
def test_python_satisfies(spec, version, ok):
    assert python_satisfies(version, spec) is ok


@pytest.mark.parametrize("spec, classifiers, expected", [
    (None, [], "3.11"),
    (">=3.8", [], "3.13"),
    (">=3.7", ["Programming Language :: Python :: 3.8", "Programming Language :: Python :: 3.10"], "3.9"),
    (">=3.7", ["Programming Language :: Python :: 3.12"], "3.11"),
    (None, ["Programming Language :: Python :: 3.13"], "3.13"),
    (">=3.10,<3.12", [], "3.11"),
    ("<3.10", [], "3.9"),
    (">=3.11.4", [], "3.13"),  # bookworm's Python is 3.11.2
    ("==3.10.*", [], "3.11"),  # none fits: nearest, newer on a tie
    ("==3.8.*", [], "3.9"),
    (">=3.14", [], "3.13"),
])
def test_pick_python(spec, classifiers, expected):
    assert pick_python(spec, classifiers) == expected


# --------------------------------------------------------------------------- inference


def test_infer_pyproject():
    r = infer({"pyproject.toml": """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
[project]
name = "x"
requires-python = ">=3.8,<3.12"
[project.optional-dependencies]
docs = ["sphinx"]
tests = ["pytest", "hypothesis"]
dev = ["black"]
""", "src/x/__init__.py": "", "tests/test_x.py": ""})
    assert r.python == "3.11"
    assert r.install == [f"{PIP} --upgrade pip setuptools wheel", f"{PIP} -e '.[tests]'", f"{PIP} pytest"]
    assert r.env == {}
    assert r.test_cmd == DEFAULT_TEST_CMD


def test_infer_dev_extra_when_no_test_extra():
    r = infer({"pyproject.toml": "[project]\nname='x'\n[project.optional-dependencies]\ndev=['pytest']\n"})
    assert f"{PIP} -e '.[dev]'" in r.install


def test_infer_setup_cfg_and_requirements_and_tox():
    r = infer({
        "setup.cfg": "[metadata]\nname = foo\nclassifiers =\n    Programming Language :: Python :: 3.8\n"
                     "    Programming Language :: Python :: 3.10\n[options]\npython_requires = >=3.7\n"
                     "[options.extras_require]\ntesting =\n    pytest\n    pytest-mock\ndocs = sphinx\n",
        "setup.py": "from setuptools import setup\nsetup(use_scm_version=True)\n",
        "tox.ini": "[tox]\nenvlist = py38\n[testenv]\ndeps =\n    pytest-cov\n    -rrequirements/test.txt\n"
                   "    {[base]deps}\ncommands = pytest --cov foo {posargs} tests/\n",
        "requirements.txt": "requests\n",
        "requirements/test.txt": "pytest\n",
        "requirements/docs.txt": "sphinx\n",
        "requirements-lint.txt": "flake8\n",
        "docs/requirements.txt": "sphinx\n",
        "tests/test_a.py": "",
    })
    assert r.python == "3.9"  # newest supported that the classifiers still name
    assert r.install == [
        f"{PIP} --upgrade pip setuptools wheel",
        f"{PIP} -r requirements.txt",
        f"{PIP} -r requirements/test.txt",
        f"{PIP} -e '.[testing]'",
        f"{PIP} pytest-cov",
        f"{PIP} pytest",
    ]
    assert r.test_files == ["tests"]
    assert r.env == {"SETUPTOOLS_SCM_PRETEND_VERSION": "0.0.0"}


def test_infer_setup_py_regexes_without_running_it():
    r = infer({"setup.py": "import os\nos.system('rm -rf /')\n"
                           "setup(name='x', python_requires='>=3.6, <3.10',\n"
                           "      extras_require={'test': ['pytest'], \"dev\": ['black']})\n",
               "requirements-dev.txt": "pytest\nmock\n"})
    assert r.python == "3.9"
    assert r.install == [f"{PIP} --upgrade pip setuptools wheel", f"{PIP} -r requirements-dev.txt",
                         f"{PIP} -e '.[test]'", f"{PIP} pytest"]


def test_infer_poetry_and_dependency_groups():
    r = infer({"pyproject.toml": """
[tool.poetry]
name = "x"
[tool.poetry.dependencies]
python = "^3.9"
[tool.poetry.group.test.dependencies]
pytest-asyncio = "*"
[build-system]
requires = ["poetry-core", "poetry-dynamic-versioning"]
build-backend = "poetry.core.masonry.api"
[dependency-groups]
test = ["pytest>=8", "coverage", {include-group = "other"}]
"""})
    assert r.python == "3.13"
    assert r.install == [f"{PIP} --upgrade pip setuptools wheel", f"{PIP} -e .",
                         f"{PIP} 'pytest>=8' coverage pytest-asyncio"]


def test_infer_nothing_installable():
    r = infer({"pyproject.toml": "[tool.black]\nline-length = 100\n", "test_x.py": ""})
    assert r.install == [f"{PIP} --upgrade pip setuptools wheel", f"{PIP} pytest"]
    assert r.python == "3.11"


def test_infer_tolerates_broken_files():
    r = infer({"pyproject.toml": "this is [not toml", "setup.cfg": "no section header", "tox.ini": "[testenv"})
    assert r.install[-1] == f"{PIP} pytest"


def test_infer_reads_only_listed_files():
    asked = []

    def read(path):
        asked.append(path)
        return None

    infer_recipe(read, ["pyproject.toml", "src/a.py"])
    assert asked == ["pyproject.toml"]


# --------------------------------------------------------------------------- ranges, shipped recipes, schema

import json  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from skillforge.environments.infer import (  # noqa: E402
    ci_pythons, infer_recipes, nox_pythons, python_candidates, tox_pythons,
)
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
    for repo in ("python-attrs/attrs", "pallets/click", "marshmallow-code/marshmallow",
                 "more-itertools/more-itertools", "pytoolz/toolz", "hukkin/tomli"):
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


# --------------------------------------------------------------------------- inference: candidates and sources

def test_python_from_ci_matrix_tox_and_nox():
    files = {
        ".github/workflows/tests.yml": """
jobs:
  test:
    strategy:
      matrix:
        python-version: [3.8, 3.9, "3.10"]
        include:
          - {python: 'pypy-3.9'}
    steps:
      - uses: actions/setup-python@v5
        with: {python-version: "${{ matrix.python-version }}"}
""",
        "tox.ini": "[tox]\nenvlist = py3{8,9,10}-django, lint\n",
        "noxfile.py": "@nox.session(python=['3.8', '3.9'])\ndef tests(session): ...\n",
    }
    assert ci_pythons(files.get, list(files)) == ["3.8", "3.9", "3.10"]
    assert tox_pythons("py3{8,9,10}-django, lint") == ["3.8", "3.9", "3.10"]
    assert tox_pythons("3.1{0-3}-tests, pypy3.11") == ["3.10", "3.11", "3.12", "3.13"]
    assert nox_pythons(files["noxfile.py"]) == ["3.8", "3.9"]
    r = infer({**files, "setup.py": "setup(name='x', python_requires='>=3.8')\n"})
    assert r.python == "3.9"  # the newest supported one CI still runs


def test_commit_date_keeps_later_pythons_for_later_candidates():
    assert python_candidates(">=3.7", [], "2021-06-01") == ["3.9", "3.11", "3.13"]
    assert python_candidates(">=3.7", [], "2023-06-01") == ["3.11", "3.9", "3.13"]
    assert python_candidates(">=3.7", [], None) == ["3.13", "3.11", "3.9"]
    assert python_candidates(">=3.10", [], "2021-06-01") == ["3.11", "3.13"]


def test_candidates_in_order_full_then_other_python_then_minimal():
    files = {"pyproject.toml": """
[project]
name = "x"
requires-python = ">=3.9"
classifiers = ["Programming Language :: Python :: 3.11"]
[project.optional-dependencies]
test = ["pytest", "hypothesis"]
[tool.pytest.ini_options]
testpaths = ["tests"]
""", "tests/test_a.py": ""}
    cands = infer_recipes(files.get, list(files), commit_date="2024-01-01")
    assert [(c.python, c.install[-2:]) for c in cands] == [
        ("3.11", [f"{PIP} -e '.[test]'", f"{PIP} pytest"]),
        ("3.9", [f"{PIP} -e '.[test]'", f"{PIP} pytest"]),
        ("3.11", [f"{PIP} -e .", f"{PIP} pytest"]),
    ]
    assert all(c.test_files == ["tests"] for c in cands)
    assert len({c.key() for c in cands}) == 3
    assert infer_recipe(files.get, list(files), commit_date="2024-01-01") == cands[0]


def test_extras_of_a_dict_named_in_setup_py():
    setup = ('EXTRAS = {\n    "docs": ["sphinx"],\n    "tests_no_zope": ["pytest"],\n}\n'
             'EXTRAS["tests"] = EXTRAS["tests_no_zope"] + ["zope.interface"]\n'
             "setup(name='attrs', extras_require=EXTRAS)\n")
    assert f"{PIP} -e '.[tests]'" in infer({"setup.py": setup}).install


def test_dependency_group_includes_are_followed():
    r = infer({"pyproject.toml": '[project]\nname="x"\n[dependency-groups]\n'
                                 'base = ["hypothesis"]\ntests = [{include-group = "base"}, "pytest>9"]\n'})
    assert r.install[-1] == f"{PIP} hypothesis 'pytest>9'"
