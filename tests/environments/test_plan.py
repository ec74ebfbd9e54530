"""Install plans from packaging files as projects wrote them in their era (small
representative files written here, not copies of real projects')."""

from __future__ import annotations

import pytest

from skillforge.environments.plan import (
    choose_extras, install_steps, pep440_version, pipfile_requirement, poetry_requirement, poetry_spec,
    read_project, requirement_files, setup_py_extras,
)

SETUP_CFG_SRC = """\
[metadata]
name = webby
classifiers =
    Programming Language :: Python :: 3.8
    Programming Language :: Python :: 3.9
[options]
package_dir = = src
packages = find:
python_requires = >= 3.6
[tool:pytest]
testpaths = tests
"""

# a web framework's tox.ini of late 2021: pinned test requirements, a "min" and a
# "dev" variant (the latter with today's main branches), a factor for an old
# dependency, and example apps installed from the tree
FLASKISH_TOX = """\
[tox]
envlist =
    py3{11,10,9,8,7,6},pypy3{8,7}
    py39-click7
    py310-min
    py37-dev
    style
    typing
    docs
skip_missing_interpreters = true

[testenv]
deps =
    -r requirements/tests.txt
    min: -r requirements/tests-pallets-min.txt
    dev: https://github.com/example/toolkit/archive/refs/heads/main.tar.gz
    dev: -r requirements/tests-pallets-dev.txt

    click7: click<8

    examples/tutorial[test]
commands = pytest -v --tb=short --basetemp={envtmpdir} {posargs:tests examples}

[testenv:style]
deps = pre-commit
skip_install = true
commands = pre-commit run --all-files

[testenv:typing]
deps = -r requirements/typing.txt
commands = mypy

[testenv:docs]
deps = -r requirements/docs.txt
commands = sphinx-build -W -b html -d {envtmpdir}/doctrees docs {envtmpdir}/html
"""


def flaskish() -> dict[str, str]:
    return {
        "setup.py": "from setuptools import setup\nsetup(name='webby', install_requires=['toolkit>=2.0'],\n"
                    "      extras_require={'async': ['asgiref>=3.2'], 'dotenv': ['python-dotenv']})\n",
        "setup.cfg": SETUP_CFG_SRC,
        "tox.ini": FLASKISH_TOX,
        "requirements/dev.in": "-r docs.in\n-r tests.in\ntox\n",
        "requirements/dev.txt": "sphinx==4.3.0\npytest==6.2.5\ntox==3.24.4\n",
        "requirements/docs.txt": "sphinx==4.3.0\n",
        "requirements/tests.in": "pytest\nasgiref\n",
        "requirements/tests.txt": "asgiref==3.4.1\npytest==6.2.5\n",
        "requirements/tests-pallets-min.txt": "toolkit==2.0.0\n",
        "requirements/tests-pallets-dev.txt": "https://github.com/example/toolkit/archive/refs/heads/main.tar.gz\n",
        "requirements/typing.txt": "mypy==0.910\n",
        "src/webby/__init__.py": "",
        "tests/test_app.py": "",
        "examples/tutorial/setup.py": "",
        "examples/tutorial/tests/test_db.py": "",
    }


def facts_of(files: dict[str, str], date: str | None = None):
    return read_project(files.get, list(files), commit_date=date)


# --------------------------------------------------------------------------- tox


def test_tox_factors_are_evaluated_per_env():
    facts = facts_of(flaskish(), "2021-12-01")
    tox = facts.tox
    assert tox.test_envs() == ["py311", "py310", "py39", "py38", "py37", "py36", "py39-click7", "py310-min",
                               "py37-dev"]  # no pypy, style, typing, docs
    assert tox.env_name("3.10") == "py310"  # not its "min" variant
    assert tox.env_name("3.9") == "py39"  # not "py39-click7"
    plain = tox.env("py310")
    assert plain.requirement_files == ["requirements/tests.txt"]
    assert plain.packages == [] and plain.local_paths == ["./examples/tutorial[test]"]
    assert plain.left_out == []  # the dev URL is not even considered: its factor does not hold
    assert plain.pytest_args == ["-v", "--tb=short", "--basetemp={envtmpdir}", "tests", "examples"]

    minimum = tox.env("py310-min")
    assert minimum.requirement_files == ["requirements/tests.txt", "requirements/tests-pallets-min.txt"]
    assert tox.env("py39-click7").packages == ["click<8"]
    dev = tox.env("py37-dev")  # the env names the URL itself: it is installed there, and only there
    assert dev.packages == ["https://github.com/example/toolkit/archive/refs/heads/main.tar.gz"]
    assert dev.named_files == ["requirements/tests-pallets-dev.txt"]


def test_flaskish_plan():
    facts = facts_of(flaskish(), "2021-12-01")
    assert not facts.editable and "setuptools" in facts.editable_note  # no PEP 660 before setuptools 64
    assert facts.src_dir == "src"
    assert facts.test_files("3.9") == ["tests", "examples"]
    assert install_steps(facts, "3.9") == [
        "sf-install -r requirements/tests.txt",  # what tox installs: not dev.txt, not the min/dev variants
        "sf-install .",
        "sf-install './examples/tutorial[test]'",
    ]  # pytest is pinned by tests.txt: no separate step
    assert install_steps(facts, "3.9", minimal=True) == ["sf-install .", "sf-install pytest"]
    later = facts_of(flaskish(), "2023-01-01")
    assert install_steps(later, "3.9")[1] == "sf-install -e ."
    assert install_steps(later, "3.9", editable=False)[1] == "sf-install ."


def test_tox_factor_syntax():
    tox_ini = """\
[tox]
envlist = py{36,37,38}, pypy3, lint

[base]
deps = attrs>=19

[testenv]
deps =
    pypy3: enum34
    py36,py37: typed_ast>=1.4,<1.5
    !py36: numpy
    py38-!cov: hypothesis
    {[base]deps}
    {env:EXTRA_DEP:six}
    -c constraints.txt
    -e .[test]
commands =
    py36: python -m pytest --pyargs tests {posargs}
    !py36: coverage run -m pytest {posargs:tests/unit}
"""
    files = {"tox.ini": tox_ini, "setup.py": "setup(extras_require={'test': ['pytest']})\n",
             "constraints.txt": "numpy<2\n", "tests/unit/test_a.py": "", "tests/test_b.py": ""}
    facts = facts_of(files)
    py36, py38 = facts.tox.env("py36"), facts.tox.env("py38")
    assert py36.packages == ["typed_ast>=1.4,<1.5", "attrs>=19", "six"]
    assert py38.packages == ["numpy", "hypothesis", "attrs>=19", "six"]
    assert py36.constraint_files == ["constraints.txt"] and py36.project_extras == ["test"]
    assert (py36.pytest_args, py38.pytest_args) == (["--pyargs", "tests"], ["tests/unit"])
    assert facts.test_files("3.8") == ["tests/unit"]
    assert install_steps(facts, "3.8") == [
        "sf-install -c constraints.txt -e '.[test]'",
        "sf-install -c constraints.txt numpy hypothesis 'attrs>=19' six",
    ]
    # a Python the env list does not name gets the nearest env
    assert facts.tox.env_name("3.11") == "py38" and facts.tox.env_name("3.6") == "py36"


def test_tox_extras_declare_the_test_dependencies():
    """A serialization library of 2019: its tests need the ``tests`` and ``reco`` extras, which
    only tox says; setup.py keeps its extras in a module-level dict."""
    setup_py = """\
from setuptools import setup, find_packages

EXTRAS_REQUIRE = {
    'reco': ['python-dateutil>=2.7.0', 'simplejson'],
    'tests': ['pytest', 'pytz'],
    'lint': ['flake8==3.7.7', 'pre-commit==1.16.1'],
}
EXTRAS_REQUIRE['dev'] = EXTRAS_REQUIRE['reco'] + EXTRAS_REQUIRE['tests'] + ['tox']

setup(name='serial', packages=find_packages('src'), package_dir={'': 'src'},
      extras_require=EXTRAS_REQUIRE, python_requires='>=3.5',
      classifiers=['Programming Language :: Python :: 3.5', 'Programming Language :: Python :: 3.6',
                   'Programming Language :: Python :: 3.7'])
"""
    tox_ini = """\
[tox]
envlist = lint,py35,py36,py37,docs

[testenv]
extras = tests,reco
commands = pytest {posargs}

[testenv:lint]
deps = pre-commit~=1.14
skip_install = true
commands = pre-commit run --all-files

[testenv:docs]
deps = -rdocs/requirements.txt
extras =
commands = sphinx-build docs/ docs/_build {posargs}
"""
    files = {"setup.py": setup_py, "tox.ini": tox_ini, "docs/requirements.txt": "sphinx\n",
             "src/serial/__init__.py": "", "tests/test_schema.py": ""}
    facts = facts_of(files, "2019-05-20")
    assert facts.extras["dev"] == ["python-dateutil>=2.7.0", "simplejson", "pytest", "pytz", "tox"]
    assert facts.test_extras == ["tests"]  # by name, when tox says nothing
    assert facts.tox.env("py36").extras == ["tests", "reco"]
    assert install_steps(facts, "3.6") == ["sf-install '.[tests,reco]'"]  # pytest comes with "tests"
    undated = facts_of(files)
    assert install_steps(undated, "3.8") == ["sf-install -e '.[tests,reco]'"]  # py37's env: the nearest
    assert install_steps(undated, "3.6") == ["sf-install '.[tests,reco]'"]  # setuptools >= 64 needs 3.7


def test_tox_in_pyproject_legacy_ini_and_native_toml():
    legacy = {"pyproject.toml": '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
                                '[project]\nname = "x"\n[tool.tox]\nlegacy_tox_ini = """\n[tox]\nenvlist = py311\n'
                                '[testenv]\ndeps = pytest-xdist\ncommands = pytest tests\n"""\n',
              "tests/test_a.py": ""}
    facts = facts_of(legacy)
    assert facts.tox.path == "pyproject.toml" and facts.named_pythons == ["3.11"]
    assert install_steps(facts, "3.11") == ["sf-install -e .", "sf-install pytest-xdist", "sf-install pytest"]
    assert facts.test_files("3.11") == ["tests"]

    native = {"pyproject.toml": """
[build-system]
requires = ["flit_core<4"]
build-backend = "flit_core.buildapi"
[project]
name = "cli"
requires-python = ">=3.10"
[dependency-groups]
tests = ["pytest"]
typing = ["mypy", "pytest"]
dev = ["ruff", "tox"]
[tool.tox]
env_list = ["py3.13", "py3.12", "style"]
[tool.tox.env_run_base]
dependency_groups = ["tests"]
commands = [["pytest", "-v", {replace = "posargs", default = ["tests"], extend = true}]]
[tool.tox.env.style]
dependency_groups = ["dev"]
commands = [["pre-commit", "run"]]
""", "tests/test_cli.py": "", "src/cli/__init__.py": ""}
    facts = facts_of(native, "2025-06-01")
    assert facts.tox.env_name("3.13") == "py3.13"
    assert facts.tox.env("py3.13").dependency_groups == ["tests"]
    assert install_steps(facts, "3.13") == ["sf-install -e .", "sf-install pytest"]
    assert facts.test_files("3.13") == ["tests"]


def test_pip_options_in_tox_deps():
    tox_ini = ("[tox]\nenvlist = py39\n[testenv]\ndeps =\n    -Urrequirements_dev.txt\n"
               "    --requirement={toxinidir}/requirements/extra.txt\n    plugins/example-plugin\n"
               "    ./missing-plugin\n")
    files = {"tox.ini": tox_ini, "requirements_dev.txt": "pytest\n", "requirements/extra.txt": "hypothesis\n",
             "requirements.txt": "click\n", "plugins/example-plugin/setup.py": "", "setup.py": "setup()\n"}
    env = facts_of(files).tox.env("py39")
    assert env.requirement_files == ["requirements_dev.txt", "requirements/extra.txt"]
    assert env.local_paths == ["./plugins/example-plugin"]
    assert install_steps(facts_of(files), "3.9") == [
        "sf-install -r requirements.txt", "sf-install -r requirements_dev.txt", "sf-install -r requirements/extra.txt",
        "sf-install -e .", "sf-install ./plugins/example-plugin"]


# --------------------------------------------------------------------------- groups, poetry, Pipfile


def test_pep735_groups_with_includes():
    files = {"pyproject.toml": """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[project]
name = "x"
[dependency-groups]
coverage = ["coverage[toml]>=7"]
test = ["pytest>=8", {include-group = "coverage"}]
lint = ["ruff"]
dev = [{include-group = "test"}, {include-group = "lint"}]
"""}
    facts = facts_of(files)
    assert facts.groups["dev"] == ["pytest>=8", "coverage[toml]>=7", "ruff"]
    assert facts.test_groups == ["test"]
    assert install_steps(facts, "3.12") == ["sf-install -e .", "sf-install 'pytest>=8' 'coverage[toml]>=7'"]


def test_poetry_groups_with_caret_specs():
    files = {"pyproject.toml": """
[tool.poetry]
name = "svc"
version = "0.1.0"
[tool.poetry.dependencies]
python = "^3.8"
httpx = "^0.23"
[tool.poetry.group.dev.dependencies]
black = "^22.3"
[tool.poetry.group.test.dependencies]
pytest = "^7.2"
pytest-cov = "~4.0"
hypothesis = {version = "^6.50", extras = ["numpy"]}
mylib = {git = "https://github.com/example/mylib.git"}
tomli = {version = "^2.0.1", python = "<3.11"}
[build-system]
requires = ["poetry-core>=1.0.0"]
build-backend = "poetry.core.masonry.api"
"""}
    facts = facts_of(files, "2023-03-01")
    assert facts.python_spec == "^3.8" and facts.test_groups == ["test"]
    assert facts.groups["test"] == ["pytest>=7.2,<8", "pytest-cov>=4.0,<4.1", "hypothesis[numpy]>=6.50,<7",
                                    "tomli>=2.0.1,<3"]
    assert install_steps(facts, "3.11") == [
        "sf-install -e .", "sf-install 'pytest>=7.2,<8' 'pytest-cov>=4.0,<4.1' 'hypothesis[numpy]>=6.50,<7' "
                           "'tomli>=2.0.1,<3'"]
    # poetry-core 1.0.8 (2022-02) brought editable installs
    assert install_steps(facts_of(files, "2021-06-01"), "3.9")[0] == "sf-install ."
    assert poetry_requirement("tomli", {"version": "^2.0.1", "python": "<3.11"}, "3.11") is None


@pytest.mark.parametrize("spec, pep440", [
    ("^1.2.3", ">=1.2.3,<2"), ("^0.2.3", ">=0.2.3,<0.3"), ("^0.0.3", ">=0.0.3,<0.0.4"), ("^2", ">=2,<3"),
    ("~1.2.3", ">=1.2.3,<1.3"), ("~1.2", ">=1.2,<1.3"), ("~1", ">=1,<2"), ("*", ""), ("1.2.3", "==1.2.3"),
    (">=1.2,<2.0", ">=1.2,<2.0"), (">= 1.2, < 2", ">=1.2,<2"), ("~=1.4", "~=1.4"), ("1.2.*", "==1.2.*"),
    ("^1.0 || ^2.0", ""),
])
def test_poetry_spec(spec, pep440):
    assert poetry_spec(spec) == pep440


def test_pipfile_application():
    files = {"Pipfile": """
[[source]]
url = "https://pypi.org/simple"
name = "pypi"

[packages]
requests = "*"
flask = ">=1.1"
app = {path = ".", editable = true}

[dev-packages]
pytest = ">=6"
mock = "*"
factory-boy = {version = "*", extras = ["django"]}
tool = {git = "https://github.com/example/tool.git", ref = "main"}
""", "app/__init__.py": "", "tests/test_app.py": ""}
    facts = facts_of(files)
    assert not facts.installable
    assert facts.pipfile_packages == ["requests", "flask>=1.1"]
    assert facts.pipfile_dev_packages == ["pytest>=6", "mock", "factory-boy[django]"]
    assert install_steps(facts, "3.9") == ["sf-install requests 'flask>=1.1' 'pytest>=6' mock 'factory-boy[django]'"]
    assert install_steps(facts, "3.9", minimal=True) == ["sf-install requests 'flask>=1.1'", "sf-install pytest"]
    assert pipfile_requirement("x", {"version": "==1.0", "markers": "sys_platform == 'linux'"}) == \
        "x==1.0; sys_platform == 'linux'"


# --------------------------------------------------------------------------- setup.py, extras, requirement files


def test_setup_py_only_extras():
    setup_py = """\
import setuptools

TESTS_REQUIRE = ['nose', 'pytest', 'pytest-mock']
EXTRAS_REQUIRE = {
    'optional': ['numba', 'scipy'],
    'doc': ['sphinx'],
    'test': TESTS_REQUIRE,
}
EXTRAS_REQUIRE['all'] = sorted(set(sum(EXTRAS_REQUIRE.values(), [])))

setuptools.setup(name='solar', extras_require=EXTRAS_REQUIRE, tests_require=TESTS_REQUIRE,
                 **{'python_requires': '~=3.5'})
"""
    facts = facts_of({"setup.py": setup_py, "solar/__init__.py": ""}, "2019-05-01")
    assert facts.python_spec == "~=3.5"
    assert facts.extras["test"] == ["nose", "pytest", "pytest-mock"] and facts.test_extras == ["test"]
    assert facts.tests_require == ["nose", "pytest", "pytest-mock"]
    assert install_steps(facts, "3.6") == ["sf-install '.[test]'"]
    assert facts.src_dir is None


def test_setup_py_extras_forms():
    assert setup_py_extras("setup(extras_require={'testing': ['pytest', 'mock'], \"docs\": ['sphinx']})") == {
        "testing": ["pytest", "mock"], "docs": ["sphinx"]}
    assert set(setup_py_extras("setup(extras_require=dict(test=['pytest'], dev=['black']))")) == {"test", "dev"}
    assert setup_py_tests_only() == ["pytest", "mock"]


def setup_py_tests_only() -> list[str]:
    facts = facts_of({"setup.py": "setup(name='x', tests_require=['pytest', 'mock'])\n"})
    assert install_steps(facts, "3.11") == ["sf-install -e .", "sf-install pytest mock"]
    return facts.tests_require


@pytest.mark.parametrize("extras, chosen", [
    (["docs", "tests", "dev"], ["tests"]), (["Testing", "dev"], ["Testing"]), (["docs", "tests_no_zope"],
                                                                               ["tests_no_zope"]),
    (["docs", "develop"], ["develop"]), (["docs", "lint"], []), (["all", "docs"], []),
])
def test_choose_extras(extras, chosen):
    assert choose_extras(extras) == chosen


def test_all_extra_only_when_nothing_else_says():
    pyproject = '[project]\nname = "x"\n[project.optional-dependencies]\nall = ["numpy"]\ndocs = ["sphinx"]\n'
    assert facts_of({"pyproject.toml": pyproject}).test_extras == ["all"]
    with_reqs = facts_of({"pyproject.toml": pyproject, "requirements-test.txt": "pytest\n"})
    assert with_reqs.test_extras == []


def test_requirement_files_by_name():
    files = ["requirements.txt", "requirements/base.txt", "requirements/tests.txt", "requirements/tests-min.txt",
             "requirements/tests-dev.txt", "requirements/dev.txt", "requirements/docs.txt", "requirements/lint.in",
             "test-requirements.txt", "dev-requirements.in", "docs/requirements.txt", "requirements-mypy.txt"]
    found = requirement_files(files)
    assert found.runtime == ["requirements.txt", "requirements/base.txt"]
    assert found.test == ["test-requirements.txt", "requirements/tests.txt"]  # shallow first; no variants, no dev
    assert requirement_files(["dev-requirements.in", "requirements-dev.txt"]).test == [
        "dev-requirements.in", "requirements-dev.txt"]
    assert requirement_files(["requirements/tests-dev.txt"]).test == ["requirements/tests-dev.txt"]
    assert requirement_files(["requirements/dev.in", "requirements/dev.txt"]).test == ["requirements/dev.txt"]


def test_url_requirements_are_left_out_of_a_file_no_env_names():
    files = {"setup.py": "setup()\n",
             "requirements-test.txt": "pytest>=6\ngit+https://github.com/example/plugin.git@main#egg=plugin\n"
                                      "https://example.org/archive/main.tar.gz\nhypothesis  # property tests\n"}
    assert install_steps(facts_of(files), "3.11") == ["sf-install -e .", "sf-install 'pytest>=6' hypothesis"]


# --------------------------------------------------------------------------- backends and eras


FLIT_2020 = """\
[build-system]
requires = ["flit_core >=2,<4"]
build-backend = "flit_core.buildapi"

[tool.flit.metadata]
module = "tinyhttp"
author = "A. Author"
requires-python = ">=3.6"
requires-extra = {test = ["pytest >=5", "pytest-cov"], doc = ["sphinx"]}
classifiers = ["Programming Language :: Python :: 3.6", "Programming Language :: Python :: 3.8"]
"""


def test_flit_of_2020_cannot_install_editable():
    facts = facts_of({"pyproject.toml": FLIT_2020, "tinyhttp.py": ""}, "2020-09-01")
    assert facts.backend == "flit_core.buildapi" and facts.installable
    assert not facts.editable and "flit-core" in facts.editable_note and "PEP 660" in facts.editable_note
    assert any("no editable install" in n for n in facts.notes)
    assert facts.python_spec == ">=3.6" and facts.named_pythons == ["3.6", "3.8"]
    assert facts.test_extras == ["test"]
    assert install_steps(facts, "3.8") == ["sf-install '.[test]'"]
    # flit_core 3.4 (2021-10) could
    assert install_steps(facts_of({"pyproject.toml": FLIT_2020}, "2022-01-01"), "3.9") == ["sf-install -e '.[test]'"]
    pinned_new = FLIT_2020.replace("flit_core >=2,<4", "flit_core >=3.4,<4")
    assert facts_of({"pyproject.toml": pinned_new}, "2020-09-01").editable  # a lower bound that has it
    pinned_old = FLIT_2020.replace("flit_core >=2,<4", "flit_core >=2,<3")
    assert not facts_of({"pyproject.toml": pinned_old}, "2024-01-01").editable  # an upper bound that has not


def test_setuptools_editable_needs_python_37():
    facts = facts_of({"setup.py": "setup()\n"}, "2023-01-01")
    assert facts.editable and facts.editable_from == "3.7"
    assert install_steps(facts, "3.6")[0] == "sf-install ."
    assert install_steps(facts, "3.8")[0] == "sf-install -e ."
    hatch = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n[project]\nname = "h"\n'
    assert facts_of({"pyproject.toml": hatch}, "2022-01-01").editable
    poetry_itself = '[build-system]\nrequires = ["poetry>=0.12"]\nbuild-backend = "poetry.masonry.api"\n'
    assert not facts_of({"pyproject.toml": poetry_itself}, "2024-01-01").editable


def test_version_tools():
    scm = '[build-system]\nrequires = ["setuptools>=64", "setuptools_scm[toml]>=6.2"]\n' \
          'build-backend = "setuptools.build_meta"\n[project]\nname = "s"\ndynamic = ["version"]\n'
    assert facts_of({"pyproject.toml": scm}).version_tools == ["setuptools_scm"]
    hatch_vcs = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n' \
                '[tool.hatch.version]\nsource = "vcs"\n'
    assert facts_of({"pyproject.toml": hatch_vcs}).version_tools == ["hatch-vcs"]
    assert facts_of({"setup.py": "setup(setup_requires=['pbr'], pbr=True)\n"}).version_tools == ["pbr"]


@pytest.mark.parametrize("tag, version", [
    ("2.1", "2.1"), ("v1.0.0", "1.0.0"), ("astroid-2.4.0", "2.4.0"), ("1.2-beta", "1.2b0"), (None, "0.0.0"),
    ("", "0.0.0"), ("release", "0.0.0"),
])
def test_pep440_version(tag, version):
    assert pep440_version(tag) == version


def test_tox_env_of_the_nearest_python_without_variants():
    """A 2016 env matrix: Pythons times dependency variants, none for the chosen Python."""
    tox_ini = """\
[tox]
envlist = {py26,py27,pypy}-{lowest,release,devel}, {py33,py34,py35}-{release,devel}, docs

[testenv]
commands = py.test []
deps =
    pytest
    greenlet
    lowest: Werkzeug==0.7
    release: blinker
    devel: git+https://github.com/example/werkzeug.git
"""
    facts = facts_of({"tox.ini": tox_ini, "setup.py": "setup(name='web')\n", "web/__init__.py": ""}, "2016-02-01")
    assert facts.tox.env_name("3.6") == "py35-release"  # not py26 (the same minor), not a variant
    assert facts.tox.env_name("2.7") == "py27-release"
    assert install_steps(facts, "3.6") == ["sf-install .", "sf-install pytest greenlet blinker"]
    plain = facts_of({"tox.ini": "[tox]\nenvlist = py37, py38, dbt110, tests, winpy\n[testenv]\ndeps = x\n"})
    assert plain.tox.env_name("3.11") == "tests"  # a plain test env before the nearest Python's
    nearest = facts_of({"tox.ini": "[tox]\nenvlist = py37, py38, dbt110, winpy\n[testenv]\ndeps = x\n"})
    assert nearest.tox.env_name("3.11") == "py38"  # before an env of other factors
