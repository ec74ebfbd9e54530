"""Code / test / doc split of a change, by where the test runner discovers tests.

A path is **test** when pytest would collect it, or when it is support for
collected tests:

* a *test module*: its name matches ``python_files`` (default ``test_*.py
  *_test.py``; patterns with a ``/`` match the whole path) and, when
  ``testpaths`` is set, it lies under one of the testpaths;
* any ``conftest.py``;
* any file under a *test directory*. Test directories (never the repository
  root) are:

  - a directory named exactly ``tests`` or ``test`` whose subtree holds a test
    module, or a module unittest's default discovery (``test*.py``) would load
    (Django's ``tests/<app>/tests.py``);
  - a directory that directly holds a test module and no other Python module
    than ``__init__.py`` / ``conftest.py`` (``pkg/sub/tests/``, ``testing/``);
  - a ``testpaths`` entry holding test modules, unless it is a source tree with
    test packages inside (``testpaths = ["astropy"]``: a ``tests``/``test``
    directory inside it sits next to non-test modules);
  - upwards: a parent all of whose Python-holding subdirectories are test
    directories and whose own Python files are only test modules,
    ``conftest.py`` and ``__init__.py`` (``spec/`` over ``spec/unit/`` and
    ``spec/functional/``);
  - every directory below a test directory.

  So ``tests/helpers.py``, ``tests/data/x.json`` and ``tests/unit/__init__.py``
  are test; ``src/pkg/testing.py`` and a co-located ``pkg/core.py`` next to
  ``pkg/test_core.py`` are code. ``src/pkg/test_utils.py`` is a test module when
  no ``testpaths`` are configured (pytest would collect it), code otherwise.

Other languages' runners (their files are tests wherever they are):

* JavaScript / TypeScript (Jest, Vitest, Mocha): ``*.test.{js,jsx,ts,tsx,mjs,cjs,mts,cts}``,
  ``*.spec.*`` of the same, anything under ``__tests__/``, ``__mocks__/`` or
  ``__fixtures__/``;
* Go: ``*_test.go``, anything under ``testdata/``;
* Java / Kotlin / Scala (Maven, Gradle): anything under ``src/test/``,
  ``src/androidTest/``, ``src/testFixtures/`` or ``src/integrationTest/``;
* Rust (Cargo): ``*.rs`` under a ``tests/`` directory (integration tests);
  unit tests in ``#[cfg(test)] mod tests`` stay in their code file, which
  stays code (:mod:`.lang.rust` marks those entities as tests);
* and a directory named ``tests`` or ``test`` is a test directory when its
  subtree holds source files of these languages (Mocha's ``test/``, Go's and
  Cargo's ``tests/``).

**doc**: ``docs/**``, ``doc/**``, ``*.rst``/``*.md``/``*.adoc`` anywhere outside
tests, top-level ``*.txt`` other than ``requirements*.txt``, top-level
``README*``, ``LICENSE*``/``COPYING*``, ``CHANGES*``, ``CHANGELOG*``,
``HISTORY*``, ``NEWS*``, ``AUTHORS*``, ``CONTRIBUTORS*``, and release-note
fragments (``changelog.d/**``, ``changes/**``, ``newsfragments/**``,
``news/**``, ``releasenotes/**``) -- what SWE-bench keeps out of the gold patch.

**code**: source files (Python, Cython, C/C++, Rust, ...), packaging and test
runner configuration (``pyproject.toml``, ``setup.py``, ``setup.cfg``,
``MANIFEST.in``, ``requirements*.txt``, ``pytest.ini``, ``tox.ini``, ...), and
every non-doc file inside a Python package directory (package data the code
loads at run time).

**other**: the rest -- CI configuration, dotfiles, top-level data, images.
"""

from __future__ import annotations

import configparser
import fnmatch
import posixpath
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from skillforge.analyze.patch import FileDiff, join_files, parse_patch

__all__ = [
    "DEFAULT_PYTHON_FILES",
    "Kind",
    "is_language_test_file",
    "TestConfig",
    "TestLayout",
    "classify",
    "is_python_test_module",
    "runnable_test_modules",
    "file_kind",
    "layout",
    "load_test_config",
    "split_patch",
    "split_files",
]

Kind = Literal["code", "test", "doc", "other"]

DEFAULT_PYTHON_FILES: tuple[str, ...] = ("test_*.py", "*_test.py")  # pytest's default ``python_files``


@dataclass(frozen=True)
class TestConfig:
    """The part of pytest's configuration that decides discovery."""

    __test__ = False  # not a pytest test class

    python_files: tuple[str, ...] = DEFAULT_PYTHON_FILES
    python_classes: tuple[str, ...] = ("Test",)
    python_functions: tuple[str, ...] = ("test",)
    testpaths: tuple[str, ...] = ()
    source: str | None = None  # the file the configuration was read from


_DEFAULT_CONFIG = TestConfig()


def _args(value: object) -> tuple[str, ...]:
    """An ini "args"/"linelist" value or a TOML string/list -> tuple of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for v in value:
            out += str(v).split() if isinstance(v, str) and " " in v.strip() else [str(v)]
        return tuple(x for x in out if x)
    return (str(value),)


def _from_mapping(values: dict, source: str) -> TestConfig:
    def get(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        if name not in values:
            return default
        got = _args(values[name])
        return got if got or name == "testpaths" else default

    testpaths = tuple(p.strip().rstrip("/").removeprefix("./") for p in get("testpaths", ()))
    return TestConfig(
        python_files=get("python_files", DEFAULT_PYTHON_FILES),
        python_classes=get("python_classes", ("Test",)),
        python_functions=get("python_functions", ("test",)),
        testpaths=tuple(p for p in testpaths if p and p != "."),
        source=source,
    )


def _ini_section(text: str, section: str) -> dict | None:
    if f"[{section}]" not in text:
        return None  # (configparser reads a section's header from its stripped line: not there)
    sections = ini_sections(text)
    return sections.get(section) if sections is not None else None


@lru_cache(maxsize=32)
def ini_sections(text: str) -> dict[str, dict[str, str]] | None:
    """Each section of an INI text (``setup.cfg``, ``tox.ini``) -> its items (the defaults
    included), as configparser reads them without interpolation; None when it cannot. Kept for
    the texts read last, as :func:`toml_data`: the dicts are shared, never to be changed."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return {s: dict(parser.items(s)) for s in parser.sections()}


@lru_cache(maxsize=32)
def toml_data(text: str) -> dict:
    """``tomllib.loads(text)``, kept for the texts read last: in a history, one version of a
    ``pyproject.toml`` is read for the pytest configuration of one PR's merge and compared
    (:mod:`.trivial`) as the side of two PRs. The dict is shared: never to be changed."""
    return tomllib.loads(text)


def load_test_config(read_file: Callable[[str], str | None]) -> TestConfig:
    """pytest's configuration of a repository, from its root files, in pytest's
    order of precedence: ``pytest.ini``, ``.pytest.ini``, ``pytest.toml``,
    ``.pytest.toml``, ``pyproject.toml`` (``[tool.pytest.ini_options]`` or
    ``[tool.pytest]``), ``tox.ini`` ``[pytest]``, ``setup.cfg`` ``[tool:pytest]``.
    ``read_file`` returns a root file's text, or None when it does not exist."""
    for name in ("pytest.ini", ".pytest.ini"):
        text = read_file(name)
        if text is not None:
            # pytest.ini wins even without a [pytest] section
            values = _ini_section(text, "pytest") or {}
            return _from_mapping(values, name)
    for name in ("pytest.toml", ".pytest.toml"):
        text = read_file(name)
        if text is not None:
            try:
                data = toml_data(text)
            except tomllib.TOMLDecodeError:
                data = {}
            return _from_mapping(data.get("pytest", {}) or {}, name)
    text = read_file("pyproject.toml")
    if text is not None:
        try:
            data = toml_data(text)
        except tomllib.TOMLDecodeError:
            data = {}
        pytest_table = data.get("tool", {}).get("pytest")
        if isinstance(pytest_table, dict):
            ini = pytest_table.get("ini_options")
            if isinstance(ini, dict):
                return _from_mapping(ini, "pyproject.toml")
            native = {k: v for k, v in pytest_table.items() if not isinstance(v, dict)}
            if native:
                return _from_mapping(native, "pyproject.toml")
    text = read_file("tox.ini")
    if text is not None:
        values = _ini_section(text, "pytest")
        if values is not None:
            return _from_mapping(values, "tox.ini")
    text = read_file("setup.cfg")
    if text is not None:
        values = _ini_section(text, "tool:pytest")
        if values is not None:
            return _from_mapping(values, "setup.cfg")
    return TestConfig()


# --------------------------------------------------------------------------- test modules


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def _testpath_match(path: str, testpaths: tuple[str, ...]) -> bool:
    for tp in testpaths:
        if any(ch in tp for ch in "*?["):
            parts = path.split("/")
            for k in range(1, len(parts) + 1):
                if fnmatch.fnmatchcase("/".join(parts[:k]), tp):
                    return True
        elif _under(path, tp):
            return True
    return False


def _matches_python_files(path: str, patterns: Iterable[str]) -> bool:
    base = posixpath.basename(path)
    for pat in patterns:
        if "/" in pat:
            # pytest: a pattern with a separator matches the path's tail
            if fnmatch.fnmatchcase("/" + path, "*/" + pat.lstrip("/")):
                return True
        elif fnmatch.fnmatch(base, pat):
            return True
    return False


_JS_EXT = ("js", "jsx", "ts", "tsx", "mjs", "cjs", "mts", "cts")
_JS_TEST = re.compile(r"\.(test|spec)\.(" + "|".join(_JS_EXT) + r")$")
_JS_TEST_DIRS = ("__tests__", "__mocks__", "__fixtures__")
_JVM_TEST_ROOTS = ("test", "androidTest", "testFixtures", "integrationTest")
# source files that make a ``tests``/``test`` directory a test directory (Python has its own rules)
_OTHER_SOURCE_EXT = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".go", ".java", ".kt", ".kts",
                     ".scala", ".rs")


def runnable_test_modules(paths: Iterable[str], config: TestConfig, mode_of: Callable[[str], str | None],
                          read: Callable[[str], bytes | None]) -> list[str]:
    """The paths that are real Python test modules, in order: regular files (``mode_of``: a
    path's git mode, None when it is absent), text (no NUL byte in what ``read`` gives), named
    as ``config`` names test modules. What is handed to pytest as a test file is one of these."""
    out = []
    for path in paths:
        mode = mode_of(path)
        if mode is None or not is_python_test_module(path, config, mode):
            continue
        data = read(path)
        if data is not None and b"\0" not in data[:8000]:  # git's own test for binary content
            out.append(path)
    return out


def is_language_test_file(path: str) -> bool:
    """A test (or test support file) by the conventions of the JavaScript/TypeScript,
    Go, JVM and Rust runners (see the module docstring); Python is :func:`is_python_test_module`'s."""
    parts = path.split("/")
    base = parts[-1]
    dirs = parts[:-1]
    if _JS_TEST.search(base) or any(d in _JS_TEST_DIRS for d in dirs):
        return True
    if base.endswith("_test.go") or "testdata" in dirs:
        return True
    for k in range(len(dirs) - 1):
        if dirs[k] == "src" and dirs[k + 1] in _JVM_TEST_ROOTS:
            return True
    if base.endswith(".rs") and "tests" in dirs:
        return True
    return False


REGULAR_FILE_MODES = ("100644", "100755")  # git's modes of regular files (a symlink is 120000)


def is_python_test_module(path: str, config: TestConfig | None = None, mode: str | None = None) -> bool:
    """Would pytest collect this file as a test module? Its name matches
    ``python_files`` (``config``'s; without one pytest's default, ``test_*.py``
    and ``*_test.py``) and it lies under ``testpaths`` when those are set;
    ``conftest.py`` and ``__init__.py`` never are. With ``mode`` (its git file
    mode, when known) only a regular file is: a symlink or a submodule named
    ``test_x.py`` is not a test module. The one rule for Python test modules:
    every other part of skillforge asks this function."""
    config = config if config is not None else _DEFAULT_CONFIG
    if mode is not None and mode not in REGULAR_FILE_MODES:
        return False
    if not path.endswith(".py"):
        return False
    if posixpath.basename(path) in ("conftest.py", "__init__.py"):
        return False
    if config.testpaths and not _testpath_match(path, config.testpaths):
        return False
    return _matches_python_files(path, config.python_files)


# --------------------------------------------------------------------------- layout


def _parents(path: str) -> list[str]:
    """Proper ancestor directories, innermost first, without the root ("")."""
    out = []
    d = posixpath.dirname(path)
    while d:
        out.append(d)
        d = posixpath.dirname(d)
    return out


@dataclass
class TestLayout:
    """Which directories of a repository hold tests (computed once per file list)."""

    __test__ = False

    config: TestConfig
    test_modules: frozenset[str]
    test_dirs: frozenset[str]
    package_dirs: frozenset[str]
    files: frozenset[str] = field(repr=False, default=frozenset())

    @classmethod
    def build(cls, repo_files: Iterable[str], config: TestConfig) -> TestLayout:
        files = frozenset(f.strip("/") for f in repo_files if f)
        test_modules = frozenset(f for f in files if is_python_test_module(f, config))

        direct_py: dict[str, list[str]] = {}
        child_dirs: dict[str, set[str]] = {}
        has_py_below: set[str] = set()
        has_test_below: set[str] = set()
        has_unittest_below: set[str] = set()
        has_other_source_below: set[str] = set()
        package_dirs: set[str] = set()
        chains: dict[str, list[str]] = {}  # a folder -> it and its ancestors (each folder's once)
        for f in files:
            d = posixpath.dirname(f)
            chain = chains.get(d)
            if chain is None:
                chain = chains[d] = [d, *_parents(d)] if d else []
                for k, anc in enumerate(chain):
                    child_dirs.setdefault(chain[k + 1] if k + 1 < len(chain) else "", set()).add(anc)
            if f.endswith(_OTHER_SOURCE_EXT):
                has_other_source_below.update(chain)
            if not f.endswith(".py"):
                continue
            direct_py.setdefault(d, []).append(f)
            base = posixpath.basename(f)
            if base == "__init__.py":
                package_dirs.add(d)
            has_py_below.update(chain)
            if f in test_modules:
                has_test_below.update(chain)
            elif fnmatch.fnmatchcase(base, "test*.py"):
                # unittest's default discovery pattern (Django-style ``tests/app/tests.py``)
                has_unittest_below.update(chain)

        def nontest_direct(d: str) -> bool:
            return any(
                f not in test_modules and posixpath.basename(f) not in ("__init__.py", "conftest.py")
                for f in direct_py.get(d, [])
            )

        def direct_tests(d: str) -> bool:
            return any(f in test_modules for f in direct_py.get(d, []))

        all_dirs = {d for kids in child_dirs.values() for d in kids}
        test_dirs: set[str] = set()
        for d in all_dirs:
            name = posixpath.basename(d)
            if name in ("tests", "test") and (
                d in has_test_below or d in has_unittest_below or d in has_other_source_below
            ):
                test_dirs.add(d)
            elif direct_tests(d) and not nontest_direct(d):
                test_dirs.add(d)
        for tp in config.testpaths:
            if any(ch in tp for ch in "*?["):
                cands = [d for d in all_dirs if fnmatch.fnmatchcase(d, tp)]
            else:
                cands = [tp] if tp in all_dirs else []
            for d in cands:
                if d not in has_test_below:
                    continue
                nested_in_code = any(
                    posixpath.basename(x) in ("tests", "test")
                    and x != d
                    and _under(x, d)
                    and nontest_direct(posixpath.dirname(x))
                    for x in all_dirs
                )
                if not nested_in_code:
                    test_dirs.add(d)

        def below_test_dir(d: str) -> bool:
            return d in test_dirs or any(p in test_dirs for p in _parents(d))

        # upwards (deepest first, so children are settled before their parents):
        # parents whose every Python-holding child is a test directory
        for d in sorted(all_dirs, key=lambda x: -x.count("/")):
            if below_test_dir(d) or nontest_direct(d):
                continue
            kids = [k for k in child_dirs.get(d, ()) if k in has_py_below]
            if kids and all(below_test_dir(k) for k in kids):
                test_dirs.add(d)
        return cls(
            config=config,
            test_modules=test_modules,
            test_dirs=frozenset(test_dirs),
            package_dirs=frozenset(package_dirs),
            files=files,
        )

    def in_test_dir(self, path: str) -> bool:
        return any(p in self.test_dirs for p in _parents(path))

    def classify(self, path: str) -> Kind:
        path = path.strip("/")
        base = posixpath.basename(path)
        if path in self.test_modules or base == "conftest.py" or self.in_test_dir(path):
            return "test"
        if is_language_test_file(path):
            return "test"
        # a file the tree does not list yet (added by the patch): judge it by the rules alone
        if path not in self.files and is_python_test_module(path, self.config):
            return "test"
        if _is_doc(path):
            return "doc"
        if _is_code(path, self.package_dirs):
            return "code"
        return "other"


_DOC_DIRS = ("docs", "doc", "changelog.d", "changes", "newsfragments", "news", "releasenotes", "release-notes")
_DOC_TOP = re.compile(r"^(README|LICEN[CS]E|COPYING|CHANGES|CHANGELOG|HISTORY|NEWS|AUTHORS|CONTRIBUTORS|RELEASE[-_]?NOTES)([._-].*)?$", re.I)
_DOC_EXT = (".rst", ".md", ".adoc", ".markdown")
_CODE_EXT = (
    ".py", ".pyi", ".pyx", ".pxd", ".pxi", ".pyf",
    ".c", ".h", ".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx", ".m",
    ".f", ".f90", ".f95", ".for", ".rs", ".go", ".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx",
    ".cu", ".cuh", ".java", ".kt", ".kts", ".scala",
)
_CODE_CONFIG = re.compile(
    r"^(pyproject\.toml|setup\.py|setup\.cfg|MANIFEST\.in|pytest\.ini|\.pytest\.ini|pytest\.toml|tox\.ini|"
    r"requirements([-_.].*)?\.(txt|in)|constraints([-_.].*)?\.txt|Pipfile(\.lock)?|poetry\.lock|uv\.lock|"
    r"environment\.ya?ml|meson\.build|meson\.options|meson_options\.txt|CMakeLists\.txt|Makefile|Cargo\.(toml|lock)|"
    r"package\.json|package-lock\.json|yarn\.lock|pnpm-lock\.yaml|tsconfig(\.[\w-]+)?\.json|go\.(mod|sum)|pom\.xml|"
    r"(build|settings)\.gradle(\.kts)?|gradle\.properties)$"
)


# build files that also sit in subdirectories (monorepos, multi-module builds, workspaces)
_NESTED_CONFIG = ("CMakeLists.txt", "meson.build", "setup.py", "Makefile", "package.json", "tsconfig.json", "go.mod",
                  "go.sum", "Cargo.toml", "pom.xml", "build.gradle", "build.gradle.kts")


def _is_doc(path: str) -> bool:
    parts = path.split("/")
    if parts[0] in _DOC_DIRS and len(parts) > 1:
        return True
    base = parts[-1]
    if base.lower().endswith(_DOC_EXT):
        return True
    if len(parts) == 1:
        if _DOC_TOP.match(base):
            return True
        if base.endswith(".txt") and not _CODE_CONFIG.match(base):
            return True
    return False


def _is_code(path: str, package_dirs: frozenset[str]) -> bool:
    parts = path.split("/")
    base = parts[-1]
    if base.lower().endswith(_CODE_EXT):
        return True
    if _CODE_CONFIG.match(base) and (len(parts) == 1 or base in _NESTED_CONFIG):
        return True
    if base.endswith((".txt", ".in")) and (base.startswith("requirements") or "requirements" in parts[:-1]):
        return True  # requirements/dev.txt, ci/requirements-docs.txt and the like
    # package data: any file inside a Python package directory (or under src/)
    d = posixpath.dirname(path)
    if d and (d in package_dirs or any(p in package_dirs for p in _parents(path)) or parts[0] == "src"):
        return not _looks_binary_name(base)
    return False


_BINARY_EXT = (
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".webp", ".pdf", ".zip", ".gz", ".tgz", ".bz2", ".xz",
    ".whl", ".so", ".dll", ".dylib", ".pyd", ".exe", ".bin", ".npy", ".npz", ".pkl", ".pickle", ".h5", ".hdf5",
    ".ttf", ".otf", ".woff", ".woff2", ".mo", ".sqlite", ".db",
)


def _looks_binary_name(base: str) -> bool:
    return base.lower().endswith(_BINARY_EXT)


@lru_cache(maxsize=32)
def _layout_cached(files: frozenset[str], config: TestConfig) -> TestLayout:
    return TestLayout.build(files, config)


def layout(repo_files: Iterable[str], config: TestConfig) -> TestLayout:
    """The (cached) :class:`TestLayout` of a file list."""
    return _layout_cached(frozenset(repo_files), config)


def classify(path: str, repo_files: Iterable[str], config: TestConfig) -> Kind:
    """``code`` | ``test`` | ``doc`` | ``other`` for one path of a repository
    (see the module docstring for the rules). For many paths of one tree, build
    a :class:`TestLayout` once and call its ``classify``."""
    return layout(repo_files, config).classify(path)


# --------------------------------------------------------------------------- splitting


def file_kind(fd: FileDiff, lay: TestLayout) -> Kind:
    """Kind of one file of a patch: its path after the change decides (before it, for deletions)."""
    return lay.classify(fd.path)


def split_files(
    files: list[FileDiff], lay: TestLayout
) -> tuple[list[FileDiff], list[FileDiff], list[FileDiff]]:
    """(code, test, other) files; binary files without a ``GIT binary patch``
    payload cannot be applied by git and always go to other."""
    code: list[FileDiff] = []
    test: list[FileDiff] = []
    other: list[FileDiff] = []
    for fd in files:
        kind = file_kind(fd, lay)
        if fd.binary and not fd.has_binary_payload:
            other.append(fd)
        elif kind == "code":
            code.append(fd)
        elif kind == "test":
            test.append(fd)
        else:
            other.append(fd)
    return code, test, other


def split_patch(patch_text: str, repo_files: Iterable[str], config: TestConfig) -> tuple[str, str, str]:
    """``(code_patch, test_patch, other_patch)``; other holds docs and other files.
    Each is a byte-faithful selection of the original patch's files."""
    files = parse_patch(patch_text)
    all_files = set(repo_files) | {f.path for f in files}
    code, test, other = split_files(files, layout(all_files, config))
    return join_files(code), join_files(test), join_files(other)
