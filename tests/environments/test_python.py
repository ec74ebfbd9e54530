"""Which Python a commit gets: specifiers on exact patch versions, named
versions (classifiers, CI, tox, nox) and the commit's date."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from skillforge.environments.python import (
    DEFAULT_PYTHONS, ci_pythons, nox_pythons, pick_python, python_candidates, python_satisfies, tox_env_names,
    tox_pythons,
)

THREE = {"3.9": "3.9.2", "3.11": "3.11.2", "3.13": "3.13.5"}  # the Debian-only table of before


def classifiers(*versions: str) -> list[str]:
    return [f"Programming Language :: Python :: {v}" for v in versions]


def test_default_pythons_are_the_seven_base_images():
    assert DEFAULT_PYTHONS == {"3.6": "3.6.9", "3.8": "3.8.10", "3.9": "3.9.2", "3.10": "3.10.12",
                               "3.11": "3.11.2", "3.12": "3.12.3", "3.13": "3.13.5"}


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


@pytest.mark.parametrize("spec, named, expected", [
    (None, [], "3.11"),
    (">=3.8", [], "3.13"),
    (">=3.7", ["3.8", "3.10"], "3.9"),
    (">=3.7", ["3.12"], "3.11"),
    (None, ["3.13"], "3.13"),
    (">=3.10,<3.12", [], "3.11"),
    ("<3.10", [], "3.9"),
    (">=3.11.4", [], "3.13"),  # bookworm's Python is 3.11.2
    ("==3.10.*", [], "3.11"),  # none fits: nearest, newer on a tie
    ("==3.8.*", [], "3.9"),
    (">=3.14", [], "3.13"),
])
def test_pick_python_among_three(spec, named, expected):
    assert pick_python(spec, classifiers(*named), supported=THREE) == expected


@pytest.mark.parametrize("spec, named, expected", [
    (None, [], "3.11"),  # nothing known at all
    (">=3.8", [], "3.13"),
    (">=3.7", ["3.8", "3.10"], "3.10"),  # the newest one named
    (">=3.7", ["3.12"], "3.12"),
    ("==3.10.*", [], "3.10"),
    ("==3.7.*", [], "3.8"),  # none fits: nearest, newer on a tie
    (">=3.11.4,<3.12", [], "3.11"),  # 3.11.2 is the closest there is
    ("==2.7.*", [], "3.6"),
    (">=3.12.4", [], "3.13"),  # noble's Python is 3.12.3
])
def test_pick_python_among_all(spec, named, expected):
    assert pick_python(spec, classifiers(*named)) == expected


def test_commit_date_keeps_later_pythons_for_later_candidates():
    assert python_candidates(">=3.7", [], "2021-06-01", THREE) == ["3.9", "3.11", "3.13"]
    assert python_candidates(">=3.7", [], "2023-06-01", THREE) == ["3.11", "3.9", "3.13"]
    assert python_candidates(">=3.7", [], None, THREE) == ["3.13", "3.11", "3.9"]
    assert python_candidates(">=3.10", [], "2021-06-01", THREE) == ["3.11", "3.13"]


@pytest.mark.parametrize("spec, named, date, expected", [
    # 3.7 is not available and 3.8 not released yet: 3.6, then the nearest
    (">=2.7", [], "2019-07-01", ["3.6", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]),
    (">=2.7", ["2.7", "3.5", "3.6", "3.7"], "2019-07-01", ["3.6", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]),
    # 3.10 (2021-10-04) is a week old: the newest named one of the era
    (None, ["3.6", "3.7", "3.8", "3.9", "3.10"], "2021-10-12", ["3.9", "3.8", "3.10", "3.11", "3.6", "3.12", "3.13"]),
    (">=3.6", ["3.6", "3.7", "3.8", "3.9"], "2021-10-20", ["3.9", "3.8", "3.10", "3.11", "3.6", "3.12", "3.13"]),
    (">=3.8", [], "2023-06-01", ["3.11", "3.10", "3.12", "3.9", "3.13", "3.8"]),
    (">=3.8", [], "2023-01-10", ["3.10", "3.9", "3.11", "3.8", "3.12", "3.13"]),  # 3.11 is under 3 months old
    (">=3.12", [], "2023-11-01", ["3.12", "3.13"]),  # only a young one allowed: it
    (">=3.13", [], "2023-11-01", ["3.13"]),  # asks for a Python newer than its date
    ("<3.8", [], "2024-01-01", ["3.6"]),
    # classifiers nobody updated: 3.6 is two years past its end of life
    (None, ["3.6", "3.7"], "2024-03-01", ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.6"]),
])
def test_python_by_era(spec, named, date, expected):
    assert python_candidates(spec, named, date) == expected


def test_nothing_satisfies_gives_the_closest_never_nothing():
    assert python_candidates("==2.7.*", [], "2015-01-01")[0] == "3.6"
    assert python_candidates(">=3.14", [], "2026-01-01")[0] == "3.13"
    assert python_candidates(">=3.11.4,<3.12", [], None, {"3.11": "3.11.2"}) == ["3.11"]
    with pytest.raises(ValueError):
        python_candidates(None, [], None, {})


def test_dates_may_be_datetimes_with_or_without_zone():
    naive = datetime(2023, 6, 1)
    aware = datetime(2023, 6, 1, tzinfo=timezone.utc)
    assert python_candidates(">=3.8", [], naive) == python_candidates(">=3.8", [], aware) == \
        python_candidates(">=3.8", [], "2023-06-01T00:00:00Z")


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


def test_ci_of_other_services():
    files = {
        ".travis.yml": "language: python\npython:\n  - '3.6'\n  - '3.7'\n",
        "azure-pipelines.yml": "strategy:\n  matrix:\n    py38:\n      python.version: '3.8'\n",
        "appveyor.yml": "environment:\n  matrix:\n    - PYTHON: 'C:\\\\Python39-x64'\n",
        ".circleci/config.yml": "jobs:\n  test:\n    docker:\n      - image: cimg/python:3.10\n",
        ".gitlab-ci.yml": "test:\n  image: python:3.11-slim\n  script: [pytest]\n",
        "docs/conf.yml": "python: '3.12'\n",  # not CI
    }
    assert sorted(ci_pythons(files.get, list(files))) == ["3.10", "3.11", "3.6", "3.7", "3.8", "3.9"]


def test_tox_env_names_expand():
    assert tox_env_names("py3{11,10}, pypy3{8,7}\npy310-min\n  style") == [
        "py311", "py310", "pypy38", "pypy37", "py310-min", "style"]
