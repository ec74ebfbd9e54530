"""Code/test/doc split by where pytest discovers tests."""

from __future__ import annotations

import pytest

from skillforge.analyze.patch import parse_patch
from skillforge.analyze.split import (
    DEFAULT_PYTHON_FILES,
    TestConfig,
    classify,
    is_python_test_module,
    layout,
    load_test_config,
    split_patch,
)

REPO = """
pyproject.toml
setup.py
setup.cfg
MANIFEST.in
requirements.txt
requirements/dev.txt
tox.ini
README.md
LICENSE
CHANGES.rst
AUTHORS
HISTORY.md
NEWS
notes.txt
docs/conf.py
docs/index.rst
changelog.d/123.bugfix.rst
changes/9.feature
.github/workflows/ci.yml
.gitignore
conftest.py
noxfile.py
data/big.csv
src/pkg/__init__.py
src/pkg/core.py
src/pkg/testing.py
src/pkg/test_utils.py
src/pkg/_pytest_plugin.py
src/pkg/data/schema.json
src/pkg/data/logo.png
src/pkg/templates/page.html
src/pkg/_speedups.c
src/pkg/README.md
tests/__init__.py
tests/conftest.py
tests/helpers.py
tests/unit/__init__.py
tests/unit/test_core.py
tests/unit/core_test.py
tests/data/x.json
tests/data/README.md
tests/fixtures/factories/__init__.py
tests/fixtures/factories/user.py
astro/__init__.py
astro/conftest.py
astro/units/__init__.py
astro/units/core.py
astro/units/tests/__init__.py
astro/units/tests/test_units.py
astro/units/tests/helper.py
astro/units/tests/data/table.fits
colo/__init__.py
colo/core.py
colo/test_core.py
spec/__init__.py
spec/conftest.py
spec/unit/test_a.py
spec/functional/test_b.py
""".split()

DEFAULT = TestConfig()

EXPECTED_DEFAULT = {
    # runner-discovered test modules, conftest, test support
    "tests/unit/test_core.py": "test",
    "tests/unit/core_test.py": "test",
    "tests/__init__.py": "test",
    "tests/unit/__init__.py": "test",
    "tests/conftest.py": "test",
    "conftest.py": "test",
    "tests/helpers.py": "test",
    "tests/data/x.json": "test",
    "tests/data/README.md": "test",
    "tests/fixtures/factories/user.py": "test",
    "astro/conftest.py": "test",
    "astro/units/tests/test_units.py": "test",
    "astro/units/tests/helper.py": "test",
    "astro/units/tests/__init__.py": "test",
    "astro/units/tests/data/table.fits": "test",
    "colo/test_core.py": "test",  # co-located test module
    "spec/unit/test_a.py": "test",
    "spec/__init__.py": "test",  # a directory holding only test directories
    # pytest would collect src/pkg/test_utils.py when no testpaths narrow discovery
    "src/pkg/test_utils.py": "test",
    # code, although the names say "test"
    "src/pkg/testing.py": "code",
    "src/pkg/_pytest_plugin.py": "code",
    "colo/core.py": "code",  # next to a test module, but not test support
    "colo/__init__.py": "code",
    "astro/units/core.py": "code",
    "astro/__init__.py": "code",
    "src/pkg/core.py": "code",
    "src/pkg/_speedups.c": "code",
    "src/pkg/data/schema.json": "code",  # package data
    "src/pkg/templates/page.html": "code",
    "pyproject.toml": "code",
    "setup.py": "code",
    "setup.cfg": "code",
    "MANIFEST.in": "code",
    "requirements.txt": "code",
    "requirements/dev.txt": "code",
    "tox.ini": "code",
    "noxfile.py": "code",
    # docs
    "README.md": "doc",
    "LICENSE": "doc",
    "CHANGES.rst": "doc",
    "AUTHORS": "doc",
    "HISTORY.md": "doc",
    "NEWS": "doc",
    "notes.txt": "doc",
    "docs/conf.py": "doc",
    "docs/index.rst": "doc",
    "changelog.d/123.bugfix.rst": "doc",
    "changes/9.feature": "doc",
    "src/pkg/README.md": "doc",
    # other
    ".github/workflows/ci.yml": "other",
    ".gitignore": "other",
    "data/big.csv": "other",
    "src/pkg/data/logo.png": "other",
}


@pytest.mark.parametrize("path,kind", sorted(EXPECTED_DEFAULT.items()))
def test_classify_default_config(path, kind):
    assert classify(path, REPO, DEFAULT) == kind


def test_testpaths_narrow_discovery():
    cfg = TestConfig(testpaths=("tests",))
    assert classify("src/pkg/test_utils.py", REPO, cfg) == "code"
    assert classify("colo/test_core.py", REPO, cfg) == "code"
    assert classify("tests/unit/test_core.py", REPO, cfg) == "test"
    assert classify("tests/helpers.py", REPO, cfg) == "test"
    assert classify("tests/data/x.json", REPO, cfg) == "test"
    # conftest.py is always test
    assert classify("astro/conftest.py", REPO, cfg) == "test"


def test_testpaths_that_are_source_trees_are_not_test_directories():
    cfg = TestConfig(testpaths=("astro", "tests"))
    assert classify("astro/units/core.py", REPO, cfg) == "code"
    assert classify("astro/units/tests/helper.py", REPO, cfg) == "test"
    assert classify("astro/__init__.py", REPO, cfg) == "code"


def test_testpaths_directory_with_helpers_and_odd_name():
    files = ["t/__init__.py", "t/factories.py", "t/unit/test_a.py", "t/support/db.py", "src/pkg/core.py"]
    cfg = TestConfig(testpaths=("t",))
    assert classify("t/factories.py", files, cfg) == "test"
    assert classify("t/support/db.py", files, cfg) == "test"
    assert classify("src/pkg/core.py", files, cfg) == "code"
    # without testpaths, t/ holds a non-test module and no tests of its own: only t/unit is a test dir
    assert classify("t/factories.py", files, DEFAULT) == "code"
    assert classify("t/unit/test_a.py", files, DEFAULT) == "test"


def test_python_files_patterns():
    cfg = TestConfig(python_files=("check_*.py", "testing/python/*.py"))
    assert is_python_test_module("pkg/check_api.py", cfg)
    assert not is_python_test_module("pkg/test_api.py", cfg)
    assert is_python_test_module("testing/python/collect.py", cfg)
    assert not is_python_test_module("other/python/collect.py", cfg)
    assert not is_python_test_module("tests/conftest.py", cfg)
    assert not is_python_test_module("tests/test_x.txt", DEFAULT)
    # testpaths may be globs
    assert is_python_test_module("pkgs/a/tests/test_x.py", TestConfig(testpaths=("pkgs/*/tests",)))
    assert not is_python_test_module("pkgs/a/test_x.py", TestConfig(testpaths=("pkgs/*/tests",)))


def test_python_test_module_defaults_to_pytests_patterns():
    assert DEFAULT_PYTHON_FILES == ("test_*.py", "*_test.py")
    assert is_python_test_module("tests/test_cart.py") and is_python_test_module("cart_test.py")
    assert not is_python_test_module("tests/conftest.py") and not is_python_test_module("tests/helpers.py")
    assert not is_python_test_module("tests/test_cart.pyc")


def test_new_files_not_in_the_listing():
    assert classify("tests/unit/test_new.py", REPO, DEFAULT) == "test"
    assert classify("src/pkg/new_module.py", REPO, DEFAULT) == "code"
    lay = layout(REPO, DEFAULT)
    assert "tests" in lay.test_dirs and "src/pkg" not in lay.test_dirs


# --------------------------------------------------------------------------- config


def _reader(files: dict[str, str]):
    return files.get


def test_config_defaults_without_files():
    cfg = load_test_config(_reader({}))
    assert cfg.python_files == DEFAULT_PYTHON_FILES and cfg.testpaths == () and cfg.source is None


def test_config_pytest_ini_wins_even_without_section():
    cfg = load_test_config(_reader({"pytest.ini": "# empty\n", "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["x"]\n'}))
    assert cfg.source == "pytest.ini" and cfg.testpaths == ()


def test_config_pytest_ini_values():
    ini = "[pytest]\ntestpaths = tests\n    integration/\npython_files = check_*.py\n  *_spec.py\npython_classes = Check\npython_functions = check_\n"
    cfg = load_test_config(_reader({"pytest.ini": ini}))
    assert cfg.testpaths == ("tests", "integration")
    assert cfg.python_files == ("check_*.py", "*_spec.py")
    assert cfg.python_classes == ("Check",) and cfg.python_functions == ("check_",)


def test_config_pyproject_ini_options():
    text = '[project]\nname = "x"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests", "./integration"]\npython_files = "test_*.py tests.py"\n'
    cfg = load_test_config(_reader({"pyproject.toml": text}))
    assert cfg.source == "pyproject.toml"
    assert cfg.testpaths == ("tests", "integration")
    assert cfg.python_files == ("test_*.py", "tests.py")


def test_config_pyproject_native_table():
    text = '[tool.pytest]\ntestpaths = ["t"]\npython_files = ["t_*.py"]\n'
    cfg = load_test_config(_reader({"pyproject.toml": text}))
    assert cfg.testpaths == ("t",) and cfg.python_files == ("t_*.py",)


def test_config_pyproject_without_pytest_falls_through_to_tox_and_setup_cfg():
    files = {
        "pyproject.toml": '[tool.black]\nline-length = 100\n',
        "tox.ini": "[tox]\nenvlist = py311\n\n[pytest]\ntestpaths = t1\n",
        "setup.cfg": "[tool:pytest]\ntestpaths = t2\n",
    }
    assert load_test_config(_reader(files)).testpaths == ("t1",)
    del files["tox.ini"]
    cfg = load_test_config(_reader(files))
    assert cfg.testpaths == ("t2",) and cfg.source == "setup.cfg"
    files["tox.ini"] = "[tox]\nenvlist = py311\n"  # no [pytest] section: skipped
    assert load_test_config(_reader(files)).testpaths == ("t2",)


def test_config_setup_cfg_multiline_python_files():
    text = "[metadata]\nname = x\n\n[tool:pytest]\npython_files =\n    test_*.py\n    check_*.py\n"
    cfg = load_test_config(_reader({"setup.cfg": text}))
    assert cfg.python_files == ("test_*.py", "check_*.py")


def test_config_broken_files_do_not_crash():
    cfg = load_test_config(_reader({"pyproject.toml": "[tool.pytest.ini_options\n", "setup.cfg": "[tool:pytest]\ntestpaths = t\n"}))
    assert cfg.testpaths == ("t",)


@pytest.mark.parametrize("text", [
    "[tool:pytest]\ntestpaths = t\n",
    "[metadata]\nname = x\n   [tool:pytest]   \ntestpaths = t\n",  # a header on an indented line
    "[tool:pytest] ; the section's comment\ntestpaths = t\n",
    "[DEFAULT]\ntestpaths = d\n\n[tool:pytest]\npython_files = x_*.py\n",  # defaults in every section
    "# [tool:pytest] is not here\n[metadata]\nname = x\n",
    "[tool:pytest]\ntestpaths = t\n[tool:pytest]\ntestpaths = u\n",  # twice: read as one (strict off)
    "[tool:pytest\ntestpaths = t\n",  # no section at all
    "testpaths = t\n[tool:pytest]\n",  # an option before any section: configparser's error
])
def test_config_setup_cfg_is_what_configparser_reads(text):
    """Only the ``[tool:pytest]`` items of ``setup.cfg`` are read (a file without that header is not
    parsed): what a ConfigParser without interpolation makes of the file, or the defaults."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
        values = dict(parser.items("tool:pytest")) if parser.has_section("tool:pytest") else None
    except configparser.Error:
        values = None
    cfg = load_test_config(_reader({"setup.cfg": text}))
    want = load_test_config(_reader({})) if values is None else load_test_config(
        _reader({"setup.cfg": "[tool:pytest]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())}))
    assert cfg == want and (values is None or cfg.source == "setup.cfg")


# --------------------------------------------------------------------------- split_patch


def _section(path: str, old: str = "a", new: str = "b") -> str:
    return f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}\n+{new}\n"


def test_split_patch_routes_every_file():
    paths = [
        "src/pkg/core.py",
        "tests/unit/test_core.py",
        "tests/data/x.json",
        "docs/index.rst",
        "CHANGES.rst",
        "pyproject.toml",
        ".github/workflows/ci.yml",
    ]
    patch = "".join(_section(p) for p in paths)
    binary = "diff --git a/src/pkg/data/logo.png b/src/pkg/data/logo.png\nindex 1111111..2222222 100644\nBinary files a/src/pkg/data/logo.png and b/src/pkg/data/logo.png differ\n"
    payload_binary = (
        "diff --git a/tests/data/img.bin b/tests/data/img.bin\nindex 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644\n"
        "GIT binary patch\nliteral 5\nMcmZQzOv=my00M6TI{*Lx\n\nliteral 6\nNcmZQzO3KVL0ssTy0d4>Q\n\n"
    )
    code, test, other = split_patch(patch + binary + payload_binary, REPO, DEFAULT)
    assert [f.path for f in parse_patch(code)] == ["src/pkg/core.py", "pyproject.toml"]
    assert [f.path for f in parse_patch(test)] == ["tests/unit/test_core.py", "tests/data/x.json", "tests/data/img.bin"]
    assert [f.path for f in parse_patch(other)] == [
        "docs/index.rst",
        "CHANGES.rst",
        ".github/workflows/ci.yml",
        "src/pkg/data/logo.png",  # cannot be applied without its payload
    ]
    assert code + test + other != ""
    assert code == _section("src/pkg/core.py") + _section("pyproject.toml")


def test_split_patch_uses_the_path_after_a_rename():
    patch = (
        "diff --git a/tests/helpers.py b/src/pkg/helpers.py\nsimilarity index 100%\n"
        "rename from tests/helpers.py\nrename to src/pkg/helpers.py\n"
    )
    code, test, other = split_patch(patch, REPO, DEFAULT)
    assert code == patch and test == "" and other == ""


def test_unittest_style_tests_directory():
    """Django: no pytest-style names, unittest discovery finds tests/<app>/tests.py."""
    files = ["django/__init__.py", "django/db/models.py", "tests/runtests.py", "tests/admin_views/__init__.py", "tests/admin_views/tests.py", "tests/admin_views/models.py"]
    assert classify("tests/admin_views/models.py", files, DEFAULT) == "test"
    assert classify("tests/runtests.py", files, DEFAULT) == "test"
    assert classify("django/db/models.py", files, DEFAULT) == "code"
