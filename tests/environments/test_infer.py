"""Recipe inference: candidate recipes from packaging files, in the order to try,
resolving dependencies as of the commit's date."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from skillforge.environments.infer import infer_recipe, infer_recipes, recipe_for
from skillforge.schema import DEFAULT_TEST_CMD, EnvRecipe

SF = "sf-install"


def infer(files: dict[str, str], **kwargs) -> EnvRecipe:
    return infer_recipe(files.get, list(files), **kwargs)


def test_recipe_for_prefers_hand_written():
    hand = EnvRecipe(install=["make install"])
    assert recipe_for("o/n", {"o/n": hand}, {}.get, []) is hand
    assert recipe_for("o/m", {"o/n": hand}, {}.get, []).install[-1] == f"{SF} pytest"


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
    assert r.install == [f"{SF} -e '.[tests]'"]  # the tests extra brings pytest
    assert r.env == {}
    assert r.test_cmd == DEFAULT_TEST_CMD
    assert r.exclude_newer is None  # no date: no time travel


def test_infer_dev_extra_when_no_test_extra():
    r = infer({"pyproject.toml": "[project]\nname='x'\n[project.optional-dependencies]\ndev=['pytest']\n"})
    assert f"{SF} -e '.[dev]'" in r.install


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
    assert r.python == "3.10"  # the newest the classifiers name
    assert r.install == [
        f"{SF} -r requirements.txt",
        f"{SF} -r requirements/test.txt",
        f"{SF} -e '.[testing]'",
        f"{SF} pytest-cov",
    ]  # requirements/test.txt and the testing extra bring pytest
    assert r.test_files == ["tests"]
    assert r.env == {"SETUPTOOLS_SCM_PRETEND_VERSION": "0.0.0"}


def test_infer_setup_py_regexes_without_running_it():
    r = infer({"setup.py": "import os\nos.system('rm -rf /')\n"
                           "setup(name='x', python_requires='>=3.6, <3.10',\n"
                           "      extras_require={'test': ['pytest'], \"dev\": ['black']})\n",
               "requirements-dev.txt": "pytest\nmock\n"})
    assert r.python == "3.9"
    assert r.install == [f"{SF} -r requirements-dev.txt", f"{SF} -e '.[test]'"]


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
    assert r.install == [f"{SF} -e .", f"{SF} 'pytest>=8' coverage pytest-asyncio"]
    assert r.env == {"POETRY_DYNAMIC_VERSIONING_BYPASS": "0.0.0"}


def test_infer_nothing_installable():
    r = infer({"pyproject.toml": "[tool.black]\nline-length = 100\n", "test_x.py": ""})
    assert r.install == [f"{SF} pytest"]
    assert r.python == "3.11"


def test_infer_tolerates_broken_files():
    r = infer({"pyproject.toml": "this is [not toml", "setup.cfg": "no section header", "tox.ini": "[testenv"})
    assert r.install[-1] == f"{SF} pytest"


def test_infer_reads_only_listed_files():
    asked = []

    def read(path):
        asked.append(path)
        return None

    infer_recipe(read, ["pyproject.toml", "src/a.py"])
    assert asked == ["pyproject.toml"]


def test_python_from_ci_matrix_tox_and_nox():
    files = {
        ".github/workflows/tests.yml": "jobs:\n  test:\n    strategy:\n      matrix:\n"
                                       "        python-version: [3.8, 3.9, \"3.10\"]\n",
        "tox.ini": "[tox]\nenvlist = py3{8,9,10}-django, lint\n",
        "noxfile.py": "@nox.session(python=['3.8', '3.9'])\ndef tests(session): ...\n",
    }
    r = infer({**files, "setup.py": "setup(name='x', python_requires='>=3.8')\n"})
    assert r.python == "3.10"  # the newest CI still runs


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
        ("3.11", [f"{SF} -e '.[test]'"]),
        ("3.10", [f"{SF} -e '.[test]'"]),
        ("3.11", [f"{SF} -e .", f"{SF} pytest"]),
    ]
    assert all(c.test_files == ["tests"] for c in cands)
    assert len({c.key() for c in cands}) == 3
    assert infer_recipe(files.get, list(files), commit_date="2024-01-01") == cands[0]
    assert len(infer_recipes(files.get, list(files), commit_date="2024-01-01", max_candidates=2)) == 2


def test_extras_of_a_dict_named_in_setup_py():
    setup = ('EXTRAS = {\n    "docs": ["sphinx"],\n    "tests_no_zope": ["pytest"],\n}\n'
             'EXTRAS["tests"] = EXTRAS["tests_no_zope"] + ["zope.interface"]\n'
             "setup(name='attrs', extras_require=EXTRAS)\n")
    assert f"{SF} -e '.[tests]'" in infer({"setup.py": setup}).install


def test_dependency_group_includes_are_followed():
    r = infer({"pyproject.toml": '[project]\nname="x"\n[dependency-groups]\n'
                                 'base = ["hypothesis"]\ntests = [{include-group = "base"}, "pytest>9"]\n'})
    assert r.install[-1] == f"{SF} hypothesis 'pytest>9'"


# --------------------------------------------------------------------------- time travel


def test_exclude_newer_is_the_commit_date_plus_slack():
    files = {"setup.py": "setup(name='x')\n"}
    when = datetime(2021, 3, 4, 15, 30, tzinfo=timezone.utc)
    r = infer(files, commit_date=when)
    assert r.exclude_newer == "2021-03-05T15:30:00Z"
    assert infer(files, commit_date=when, slack=timedelta(0)).exclude_newer == "2021-03-04T15:30:00Z"
    assert infer(files, commit_date="2021-03-04T17:30:00+02:00").exclude_newer == "2021-03-05T15:30:00Z"
    assert all(c.exclude_newer == r.exclude_newer for c in infer_recipes(files.get, list(files), commit_date=when))
    assert r.key() != infer(files).key()  # the moment shapes the image


def test_python_by_commit_date():
    setup_py = "setup(name='x', python_requires='>=2.7')\n"
    assert [c.python for c in infer_recipes({"setup.py": setup_py}.get, ["setup.py"], commit_date="2019-07-01")] == [
        "3.6", "3.8"]  # the minimal plan is the full one here: not repeated
    named = {"setup.py": "setup(name='x', classifiers=[%s])\n" % ", ".join(
        f"'Programming Language :: Python :: 3.{m}'" for m in (6, 7, 8, 9))}
    assert infer(named, commit_date="2021-10-20").python == "3.9"
    modern = {"pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.8"\n'}
    assert infer(modern, commit_date="2023-06-01").python == "3.11"
    assert infer(modern, commit_date="2023-06-01", pythons={"3.9": "3.9.2", "3.13": "3.13.5"}).python == "3.9"


def test_scm_version_from_the_nearest_tag():
    files = {"pyproject.toml": '[build-system]\nrequires = ["setuptools>=64", "setuptools_scm>=8"]\n'
                               'build-backend = "setuptools.build_meta"\n[project]\nname = "x"\n'
                               'dynamic = ["version"]\n[tool.setuptools_scm]\n'}
    assert infer(files, version="2.1").env == {"SETUPTOOLS_SCM_PRETEND_VERSION": "2.1"}
    assert infer(files, version="v3.0.0rc1").env == {"SETUPTOOLS_SCM_PRETEND_VERSION": "3.0.0rc1"}
    assert infer(files).env == {"SETUPTOOLS_SCM_PRETEND_VERSION": "0.0.0"}
    pbr = {"setup.py": "setup(setup_requires=['pbr'], pbr=True)\n", "setup.cfg": "[metadata]\nname = p\n"}
    assert infer(pbr, version="5.4.1").env == {"PBR_VERSION": "5.4.1"}


def test_src_layout_without_editable_install_gets_its_sources_on_the_path():
    files = {"setup.py": "setup(name='x', package_dir={'': 'src'})\n", "src/x/__init__.py": "",
             "tests/test_x.py": ""}
    old = infer(files, commit_date="2020-05-01")
    assert old.install == [f"{SF} .", f"{SF} pytest"] and old.env == {"PYTHONPATH": "/testbed/src"}
    new = infer(files, commit_date="2023-05-01")
    assert new.install == [f"{SF} -e .", f"{SF} pytest"] and new.env == {}
    flat = infer({"setup.py": "setup(name='x')\n", "x/__init__.py": ""}, commit_date="2020-05-01")
    assert flat.env == {}  # the tests import it from the repository's root


def test_backends_resolved_later_than_the_commit_keep_editable_installs():
    files = {"setup.py": "setup(name='x', package_dir={'': 'src'})\n", "src/x/__init__.py": ""}
    floored = infer(files, commit_date="2020-05-01", backends_as_of="2023-01-01T00:00:00Z")
    assert floored.install == [f"{SF} -e .", f"{SF} pytest"] and floored.env == {}
    assert floored.exclude_newer == "2020-05-02T00:00:00Z"  # the project's dependencies still travel
    on_36 = infer_recipes(files.get, list(files), commit_date="2020-05-01", backends_as_of="2023-01-01",
                          pythons={"3.6": "3.6.9"})[0]
    assert on_36.install[0] == f"{SF} ." and on_36.env == {"PYTHONPATH": "/testbed/src"}  # setuptools 64 needs 3.7
