"""Data tables of the repair loop (``environments.repair``): which distribution
provides an import, which pytest plugin provides an option, a fixture or a
marker, which Debian package provides a header, a program or a shared library,
and which releases removed a name that old code still uses.

The tables live in ``known.json`` beside this module (shipped in the wheel);
this module reads it once, at import, and gives each table its Python type
(dicts of strings or of tuples, frozensets, tuples of tuples). Notes on single
entries are the ``_comment`` of their table there.

Every distribution value is a requirement per ``packaging.requirements.Requirement``
(most are bare names; a few carry a bound or an extra, e.g. ``setuptools<82``
for ``pkg_resources``). Debian names are valid on Debian bullseye, bookworm and
trixie (the base images) and on Ubuntu bionic to noble, except where a note
says otherwise; a name that became virtual (``libglib2.0-0`` ->
``libglib2.0-0t64``) still installs, since apt picks a sole provider.

Tables only: no logic lives here.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

_TABLES: dict[str, Any] = json.loads(
    files("skillforge.environments").joinpath("known.json").read_text(encoding="utf-8"))


def _entries(name: str) -> Any:
    return _TABLES[name]["entries"]


def _strings(name: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _entries(name).items()}


def _packages(name: str) -> dict[str, tuple[str, ...]]:
    return {str(k): tuple(str(p) for p in v) for k, v in _entries(name).items()}


def _names(name: str) -> frozenset[str]:
    return frozenset(str(n) for n in _entries(name))


# --------------------------------------------------------------------------- imports -> distributions

IMPORT_TO_DIST: dict[str, str] = _strings("IMPORT_TO_DIST")
"""Import name (top-level, or dotted for namespace packages) -> requirement that
provides it. A dotted name resolves by its longest listed prefix, then by the
namespace rules of ``NAMESPACE_DISTS``, then by its top-level package; an
unlisted name is its own distribution."""

NAMESPACE_DISTS: dict[str, tuple[int, str]] = {
    str(k): (int(depth), str(pattern)) for k, (depth, pattern) in _entries("NAMESPACE_DISTS").items()}
"""Namespace packages: prefix -> (how many dotted parts name the distribution,
its name pattern filled with the last of those parts). ``google.cloud.pubsub``
-> ``google-cloud-pubsub``; a missing module under one of these is reported by
that many parts, not by its (shared) top-level name."""

MODULE_REMOVALS: dict[str, str] = _strings("MODULE_REMOVALS")
"""A (sub)module that a release removed -> the constraint that brings it back,
for a missing module whose distribution is installed."""

# --------------------------------------------------------------------------- removed names

KNOWN_REMOVALS: dict[str, str] = _strings("KNOWN_REMOVALS")
"""``module.name`` that a release of its distribution removed -> the constraint
that brings it back (``ImportError: cannot import name`` / ``AttributeError:
module ... has no attribute``). Unlisted names step back one release series
from the installed version."""

KNOWN_ERRORS: tuple[tuple[str, str, str, str], ...] = tuple(
    (str(text), str(kind), str(subject), str(bound)) for text, kind, subject, bound in _entries("KNOWN_ERRORS"))
"""Error messages that name a known incompatibility outright: (text in the log,
kind, subject, constraint)."""

MAJOR_STEP: frozenset[str] = _names("MAJOR_STEP")
"""Distributions that remove names only in major releases: with no table entry,
a removal steps back to before the installed major (other distributions step
back one minor series)."""

NEVER_REMOVES: frozenset[str] = _names("NEVER_REMOVES")
"""Backports that only ever add names: a missing name means the installed one is too old."""

# --------------------------------------------------------------------------- pytest plugins

PYTEST_OPTION_TO_PLUGIN: dict[str, str] = _strings("PYTEST_OPTION_TO_PLUGIN")
"""A pytest command-line option (as in ``addopts`` or a tox command) -> the
plugin requirement that provides it. A key ending in ``-`` is a prefix; ``-p X``
keys are plugins named by ``-p``."""

PYTEST_INI_TO_PLUGIN: dict[str, str] = _strings("PYTEST_INI_TO_PLUGIN")
"""An ini option (``Unknown config option: X``) -> the plugin requirement that reads it."""

PYTEST_FIXTURE_TO_PLUGIN: dict[str, str] = _strings("PYTEST_FIXTURE_TO_PLUGIN")
"""A fixture (``fixture 'X' not found``) -> the plugin requirement that provides it."""

BUILTIN_FIXTURES: frozenset[str] = _names("BUILTIN_FIXTURES")
"""Fixtures pytest defines itself: no plugin brings them (``subtests``, built in since
pytest 9, is left to pytest-subtests, which brings it to older ones)."""

PYTEST_MARKER_TO_PLUGIN: dict[str, str] = _strings("PYTEST_MARKER_TO_PLUGIN")
"""A marker (``'X' not found in `markers` configuration option`` under
``--strict-markers``, ``Unknown pytest.mark.X``) -> the plugin that registers it."""

PYTEST_REMOVED_OPTIONS: dict[str, str] = _strings("PYTEST_REMOVED_OPTIONS")
"""Options later pytest releases removed -> the pytest that still has them."""

PYTEST_NEW_OPTIONS: dict[str, str] = _strings("PYTEST_NEW_OPTIONS")
"""Built-in options an older pytest does not know yet -> the pytest that has them."""

PYTEST_REMOVED_HOOKS: dict[str, str] = _strings("PYTEST_REMOVED_HOOKS")
"""Hooks a plugin or conftest implements that pytest no longer has."""

# --------------------------------------------------------------------------- Debian packages

HEADER_TO_DEBIAN: dict[str, tuple[str, ...]] = _packages("HEADER_TO_DEBIAN")
"""A header (``fatal error: X: No such file or directory``; a key ending in
``/`` is a directory prefix), a build-configuration program (``pg_config``) or
another program a build or test run calls -> the Debian packages that provide it."""

COMPILER_PROGRAMS: frozenset[str] = _names("COMPILER_PROGRAMS")
"""Programs whose absence is a missing compiler (kind ``compiler``)."""

RUST_PROGRAMS: frozenset[str] = _names("RUST_PROGRAMS")

PKGCONFIG_TO_DEBIAN: dict[str, tuple[str, ...]] = _packages("PKGCONFIG_TO_DEBIAN")
"""A pkg-config name (``Package X was not found in the pkg-config search path``,
``Dependency "X" not found``) -> the Debian packages that provide it (and pkg-config itself)."""

SHARED_LIBRARY_TO_DEBIAN: dict[str, tuple[str, ...]] = _packages("SHARED_LIBRARY_TO_DEBIAN")
"""A shared library a wheel or ``ctypes`` could not load (``libGL.so.1: cannot
open shared object file``; keyed by the name before ``.so``) -> Debian packages."""

LIBRARY_MESSAGES: tuple[tuple[str, str], ...] = tuple((str(text), str(key)) for text, key in
                                                      _entries("LIBRARY_MESSAGES"))
"""Loaders' own words for a missing shared library -> its ``SHARED_LIBRARY_TO_DEBIAN`` key."""

DEBIAN_MODULES: dict[str, tuple[str, ...]] = _packages("DEBIAN_MODULES")
"""Standard-library modules Debian's Python ships in a separate package."""
