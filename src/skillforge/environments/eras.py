"""Eras of a repository's history: the commits that can share one environment.

Two commits share an environment when what an install reads is the same at
both (packaging metadata, tox.ini, lock, requirement and constraint files: the
*packaging fingerprint*) and they are close in time (the same half-year), since
dependencies are resolved as of the era's newest commit. A repository whose
packaging never changes still gets a fresh environment every half-year: the
test tools of 2016 and 2024 are not the same.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

_PACKAGING_NAMES = {"pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "pipfile", "pipfile.lock", "poetry.lock",
                    "environment.yml", "environment.yaml", "noxfile.py", "pytest.ini", ".python-version"}


def is_packaging_file(path: str) -> bool:
    """Whether an install (or the choice of Python) reads ``path``."""
    lower = path.lower()
    if path.count("/") > 2:
        return False
    name = lower.rsplit("/", 1)[-1]
    if "/" not in lower and name in _PACKAGING_NAMES:
        return True
    return lower.endswith((".txt", ".in")) and ("requirement" in lower or "constraint" in lower)


def packaging_fingerprint(handle, commit: str) -> str:
    """Short hash of the files an install reads at ``commit`` (a ``gitio.RepoHandle``)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in handle.files(commit) if is_packaging_file(p)):
        digest.update(path.encode() + b"\0" + (handle.read(commit, path) or b"") + b"\0")
    return digest.hexdigest()[:12]


def half_year(when: datetime | None) -> str:
    """``2021h1`` / ``2021h2`` (``undated`` without a date)."""
    if when is None:
        return "undated"
    return f"{when.year}h{1 if when.month <= 6 else 2}"


def era_key(repo: str, fingerprint: str, when: datetime | None) -> str:
    """The key an era's environment choice is recorded under."""
    return f"{repo}@era:{half_year(when)}:{fingerprint}"
