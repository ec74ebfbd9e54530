"""Recipe inference: candidate environment recipes from what a repository's
tree says at a commit, in the order they should be tried.

The facts and the install plan come from ``environments.plan``, the Python
from ``environments.python``; this module puts them together as recipes that
travel in time: every dependency resolves as it was at the commit's date
(``EnvRecipe.exclude_newer``). Nothing is executed: ``setup.py`` and
``noxfile.py`` are only scanned with regular expressions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from skillforge.environments.plan import (
    DEV_EXTRAS, SF_INSTALL, TEST_EXTRAS, ProjectFacts, choose_extras, install_steps, read_project, version_env,
)
from skillforge.environments.python import (
    DEFAULT_PYTHONS, PYTHON_END_OF_LIFE, PYTHON_RELEASES, as_utc, ci_pythons, nox_pythons, pick_python,
    python_candidates, python_satisfies, tox_pythons,
)
from skillforge.schema import EnvRecipe

__all__ = [
    "DEFAULT_PYTHONS", "DEV_EXTRAS", "PYTHON_END_OF_LIFE", "PYTHON_RELEASES", "SF_INSTALL", "SUPPORTED_PYTHONS",
    "TEST_EXTRAS", "ProjectFacts", "choose_extras", "ci_pythons", "infer_recipe", "infer_recipes", "install_steps",
    "nox_pythons", "pick_python", "python_candidates", "python_satisfies", "read_project", "recipe_for",
    "recipe_from_facts", "tox_pythons", "version_env",
]

SUPPORTED_PYTHONS = tuple(DEFAULT_PYTHONS)
DEFAULT_SLACK = timedelta(days=1)


def infer_recipes(read_file: Callable[[str], str | None], files: list[str], *,
                  commit_date: datetime | str | None = None, version: str | None = None,
                  pythons: Mapping[str, str] = DEFAULT_PYTHONS, slack: timedelta = DEFAULT_SLACK,
                  max_candidates: int = 3, backends_as_of: datetime | str | None = None) -> list[EnvRecipe]:
    """Candidate recipes from a repository tree's configuration, in the order to try.

    ``read_file(path)`` returns a file's text (None when absent) and ``files``
    lists the tree's paths; ``commit_date`` is the date of the commit the
    environment is built at, ``version`` the version of its nearest release tag
    (for version tools, which find no ``.git`` in the tree), ``pythons`` the
    available interpreters (version -> exact patch version), ``backends_as_of``
    the moment build backends resolve as of when that is later than the commit
    (then an editable install is judged by the backends of that moment).

    The candidates: the full plan on the first Python of ``python_candidates``,
    the full plan on the second, the minimal plan (project and pytest) on the
    first; distinct ones only, at most ``max_candidates``. Every one resolves as
    of ``commit_date + slack`` (``exclude_newer``) and sets the version tools'
    variables; a project that cannot be installed editable with its sources
    under ``src/`` gets them on ``PYTHONPATH`` so that patches to the tree count.
    """
    facts = read_project(read_file, files, commit_date=commit_date, backends_as_of=backends_as_of)
    when = as_utc(commit_date)
    order = python_candidates(facts.python_spec, facts.named_pythons, when, pythons)
    exclude_newer = (when + slack) if when is not None else None
    plans = [*((python, False) for python in order[:2]), (order[0], True)]
    candidates: list[EnvRecipe] = []
    for python, minimal in plans:
        recipe = recipe_from_facts(facts, python, minimal=minimal, version=version, exclude_newer=exclude_newer)
        if all(recipe.key() != c.key() for c in candidates):
            candidates.append(recipe)
    return candidates[:max(1, max_candidates)]


def recipe_from_facts(facts: ProjectFacts, python: str, *, minimal: bool = False, editable: bool = True,
                      version: str | None = None, exclude_newer: datetime | None = None) -> EnvRecipe:
    """One recipe: ``install_steps`` on ``python`` with the version tools' variables."""
    env = version_env(facts, version)
    if facts.installable and facts.src_dir and not (editable and facts.editable_on(python)):
        env["PYTHONPATH"] = f"/testbed/{facts.src_dir}"
    return EnvRecipe(python=python, install=install_steps(facts, python, editable=editable, minimal=minimal),
                     test_files=facts.test_files(python), env=env, exclude_newer=exclude_newer)


def infer_recipe(read_file: Callable[[str], str | None], files: list[str], *,
                 commit_date: datetime | str | None = None, version: str | None = None,
                 pythons: Mapping[str, str] = DEFAULT_PYTHONS, slack: timedelta = DEFAULT_SLACK,
                 backends_as_of: datetime | str | None = None) -> EnvRecipe:
    """The first candidate of ``infer_recipes``: the recipe to try first."""
    return infer_recipes(read_file, files, commit_date=commit_date, version=version, pythons=pythons, slack=slack,
                         max_candidates=1, backends_as_of=backends_as_of)[0]


def recipe_for(repo: str, recipes: dict[str, EnvRecipe], read_file: Callable[[str], str | None],
               files: list[str], **inference) -> EnvRecipe:
    """The hand-written recipe of ``repo`` when there is one, else the inferred one
    (``inference``: the keyword arguments of ``infer_recipe``)."""
    return recipes[repo] if repo in recipes else infer_recipe(read_file, files, **inference)
