"""The repair loop's rules (``skillforge.environments.repair``) and tables
(``skillforge.environments.known``), without Docker.

Golden files: ``tests/fixtures/environments/logs/NAME.log`` is a log fragment
as pip, uv, gcc and pytest write it (most were recorded from real runs, paths
rewritten to ``/testbed`` and ``/opt/venv``); ``NAME.expected.json`` beside it
holds what ``diagnose()``, ``plan_repairs()`` and ``installed_versions()``
return for it. After changing a rule or a table, regenerate them and review the
diff of the JSON files:

    .venv/bin/python tests/environments/test_repair.py --regenerate
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import FrozenInstanceError, asdict
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from skillforge.environments import diagnosis as repair  # the log reading and rules of the repair loop
from skillforge.environments import known
from skillforge.environments.repair import (KINDS, Diagnosis, Repair, diagnose, dist_for, installed_versions,
                                            module_subject, plan_repairs, repair_for)

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "environments" / "logs"
CASES = sorted(p.stem for p in LOGS.glob("*.log"))


def expected_for(text: str) -> dict:
    return {
        "diagnose": [asdict(d) for d in diagnose(text)],
        "plan_repairs": [r.to_dict() for r in plan_repairs(text)],
        "installed": installed_versions(text),
    }


def read_log(name: str) -> str:
    return (LOGS / f"{name}.log").read_text(encoding="utf-8")


def regenerate() -> None:
    for name in CASES:
        data = expected_for(read_log(name))
        (LOGS / f"{name}.expected.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                                                    encoding="utf-8")
        print(f"wrote {name}.expected.json")


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize("name", CASES)
def test_golden(name):
    expected = json.loads((LOGS / f"{name}.expected.json").read_text(encoding="utf-8"))
    assert expected_for(read_log(name)) == expected


def test_every_log_has_its_expectation_and_back():
    logs = {p.stem for p in LOGS.glob("*.log")}
    expectations = {p.name[: -len(".expected.json")] for p in LOGS.glob("*.expected.json")}
    assert logs == expectations
    assert len(logs) >= 25


@pytest.mark.parametrize("name", CASES)
def test_golden_evidence_comes_from_the_log(name):
    text = read_log(name)
    plain = repair._ANSI.sub("", text)
    for d in diagnose(text):
        assert d.kind in KINDS
        assert 0 < len(d.evidence) <= repair.MAX_EVIDENCE
        for line in d.evidence.split("\n"):
            assert line in plain, (d, line)


def test_golden_files_cover_every_rule_of_the_brief():
    kinds = {d["kind"] for name in CASES
             for d in json.loads((LOGS / f"{name}.expected.json").read_text())["diagnose"]}
    assert {"missing_module", "import_name", "attribute", "pytest_option", "pytest_fixture", "pytest_marker_plugin",
            "compiler", "header", "no_build_editable", "scm_version", "pytest_too_new_for_code",
            "distutils"} <= kinds
    assert {"shared_library", "rust_compiler", "requires_python", "python_version", "pytest_too_old",
            "pytest_required_plugin"} <= kinds


# --------------------------------------------------------------------------- diagnose


def test_missing_module_variants():
    log = "\n".join([
        "E   ModuleNotFoundError: No module named 'yaml.constructor'",
        "ImportError: No module named six.moves",  # Python 2 wording
        "E   ModuleNotFoundError: No module named 'google.protobuf.internal'",
        "ModuleNotFoundError: No module named 'google.cloud.pubsub_v1'",
        "E   ModuleNotFoundError: No module named 'mypkg'",  # the project's own: reported, the resolver filters
    ])
    subjects = [d.subject for d in diagnose(log)]
    assert subjects == ["yaml", "six", "google.protobuf", "google.cloud.pubsub_v1", "mypkg"]
    assert [r.packages for r in plan_repairs(log)] == [("PyYAML",), ("six",), ("protobuf",),
                                                       ("google-cloud-pubsub-v1",), ("mypkg",)]


def test_tolerates_colours_pytest_prefixes_and_carriage_returns():
    log = ("Downloading numpy\r 10%\r 55%\r\x1b[31mE       ModuleNotFoundError: No module named 'bs4'\x1b[0m\r\n"
           "\x1b[1m\x1b[31mE   fixture 'mocker' not found\x1b[0m\r\n")
    assert [(d.kind, d.subject) for d in diagnose(log)] == [("pytest_fixture", "mocker"),
                                                            ("missing_module", "bs4")]
    assert diagnose(log)[1].evidence == "ModuleNotFoundError: No module named 'bs4'"


def test_one_diagnosis_per_kind_and_subject_first_evidence_kept():
    log = "E   ModuleNotFoundError: No module named 'yaml'\n" * 3 + \
          "ERROR tests/test_a.py - ModuleNotFoundError: No module named 'yaml'\n"
    assert diagnose(log) == [Diagnosis("missing_module", "yaml", "ModuleNotFoundError: No module named 'yaml'")]


def test_most_specific_first():
    log = "\n".join([
        "LookupError: setuptools-scm was unable to detect version for /testbed.",
        "E   ModuleNotFoundError: No module named 'requests'",
        "src/x.c:1:10: fatal error: ffi.h: No such file or directory",
        "E   AttributeError: module '_pytest' has no attribute 'compat'",
    ])
    assert [d.kind for d in diagnose(log)] == ["pytest_too_new_for_code", "header", "missing_module", "scm_version"]
    repairs = plan_repairs(log)
    assert repairs[-1].env == (("SETUPTOOLS_SCM_PRETEND_VERSION", "0.0.0"),)  # the last resort comes last


def test_circular_imports_are_not_version_problems():
    log = ("ImportError: cannot import name 'Session' from partially initialized module 'app.models' "
           "(most likely due to a circular import) (/testbed/app/models.py)\n"
           "AttributeError: partially initialized module 'app' has no attribute 'db' (most likely due to a circular "
           "import)\n")
    assert diagnose(log) == []


def test_stdlib_names_are_python_version_problems_without_repair():
    log = "AttributeError: module 'inspect' has no attribute 'getargspec'\n"
    [d] = diagnose(log)
    assert (d.kind, d.subject) == ("python_version", "inspect.getargspec")
    assert repair_for(d) is None
    assert plan_repairs(log) == []


def test_pytest_options_plugins_removed_and_new():
    log = ("pytest: error: unrecognized arguments: -n4 --cov-report=xml --result-log=log.txt --strict-config "
           "--frobnicate\n")
    found = [(d.kind, d.subject) for d in diagnose(log)]
    assert found == [("pytest_too_new_for_code", "--result-log"), ("pytest_too_old", "pytest>=6.2"),
                     ("pytest_option", "-n"), ("pytest_option", "--cov-report=xml".split("=")[0]),
                     ("pytest_option", "--frobnicate")]
    packages = [r.packages for r in plan_repairs(log)]
    assert packages == [(), ("pytest>=6.2",), ("pytest-xdist",), ("pytest-cov",)]
    assert plan_repairs(log)[0].constraints == ("pytest<6",)


def test_unrecognized_arguments_of_another_program_only_for_known_options():
    log = "mytool: error: unrecognized arguments: --frobnicate --timeout 5\n"
    assert [(d.kind, d.subject) for d in diagnose(log)] == [("pytest_option", "--timeout")]


def test_plugins_named_by_p_and_ini_options():
    log = ('ImportError: Error importing plugin "randomly": No module named \'randomly\'\n'
           "ERROR: Unknown config option: asyncio_mode\n"
           "PytestConfigWarning: Unknown config option: some_project_option\n")
    assert [(d.kind, d.subject) for d in diagnose(log)] == [("pytest_option", "-p randomly"),
                                                            ("pytest_option", "asyncio_mode")]
    assert [r.packages for r in plan_repairs(log)] == [("pytest-randomly",), ("pytest-asyncio",)]


def test_pytest_internals():
    log = "\n".join([
        "E   ImportError: cannot import name 'notset' from '_pytest.monkeypatch' (/opt/venv/lib/python3.11/x.py)",
        "E   ModuleNotFoundError: No module named '_pytest.resultlog'",
        "pluggy._manager.PluginValidationError: unknown hook 'pytest_namespace' in plugin <module 'conftest'>",
        "yield tests were removed in pytest 4.0 - test_gen will be ignored",
    ])
    repairs = plan_repairs(log)
    assert [r.constraints for r in repairs] == [("pytest<9.1",), ("pytest<6",), ("pytest<4",)]  # yield: same as hook
    assert all(r.older == ("pytest",) for r in repairs)


def test_pytest_removed_warning_only_as_an_error():
    summary = ("tests/test_a.py::test_x\n"
               "  /opt/venv/lib/python3.11/site-packages/_pytest/fixtures.py:901: PytestRemovedIn8Warning: "
               "Support for nose tests is deprecated\n")
    assert diagnose(summary) == []
    error = "FAILED tests/test_a.py::test_x - pytest.PytestRemovedIn9Warning: something is deprecated\n"
    assert plan_repairs(error)[0].constraints == ("pytest<9",)


def test_programs_headers_and_libraries():
    log = "\n".join([
        "/bin/sh: 1: git: not found",
        "bash: cmake: command not found",
        "OSError: mysql_config not found",
        "Package libffi was not found in the pkg-config search path.",
        "c/_cffi_backend.c:15:10: fatal error: 'ffi.h' file not found",
        "src/openssl.c:3:10: fatal error: openssl/opensslv.h: No such file or directory",
        "ImportError: failed to find libmagic.  Check your installation",
        "gcc: error trying to exec 'cc1plus': execvp: No such file or directory",
        "FileNotFoundError: config file not found",  # not a program
    ])
    found = [(d.kind, d.subject) for d in diagnose(log)]
    assert found == [("header", "mysql_config"), ("header", "libffi.pc"), ("header", "ffi.h"),
                     ("header", "openssl/opensslv.h"), ("shared_library", "libmagic"), ("compiler", "g++"),
                     ("program", "git"), ("program", "cmake")]
    systems = [r.system_packages for r in plan_repairs(log)]
    assert systems == [("default-libmysqlclient-dev",), ("libffi-dev", "pkg-config"), ("libffi-dev",),
                       ("libssl-dev",), ("libmagic1",), ("build-essential",), ("git",), ("cmake",)]


def test_unknown_header_is_diagnosed_without_repair():
    [d] = diagnose("x.c:1:10: fatal error: frobnicator.h: No such file or directory\n")
    assert d.kind == "header" and repair_for(d) is None


def test_editable_fallback_note_is_not_a_failure():
    note = "  Build backend does not support editables, falling back to setup.py egg_info.\n"
    assert diagnose(note) == []
    assert diagnose("error: invalid command 'develop'\n")[0].kind == "no_build_editable"


def test_pbr_version():
    log = ("Exception: Versioning for this project requires either an sdist tarball, or access to an upstream git "
           "repository.\n")
    assert plan_repairs(log)[0].env == (("PBR_VERSION", "0.0.0"),)


def test_known_api_changes():
    log = ("E   TypeError: load() missing 1 required positional argument: 'Loader'\n"
           "A module that was compiled using NumPy 1.x cannot be run in\n")
    assert [(r.older, r.constraints) for r in plan_repairs(log)] == [(("PyYAML",), ("PyYAML<6.0",)),
                                                                    (("numpy",), ("numpy<2",))]


def test_requires_python_from_pip():
    log = "ERROR: Package 'numpy' requires a different Python: 3.9.2 not in '>=3.10'\n"
    assert plan_repairs(log)[0].older == ("numpy",)


def test_bdist_wheel_and_backend_import():
    log = "error: invalid command 'bdist_wheel'\n" \
          "pip._vendor.pyproject_hooks._impl.BackendUnavailable: Cannot import 'setuptools.build_meta'\n"
    assert [d.subject for d in diagnose(log)] == ["wheel", "setuptools"]


# --------------------------------------------------------------------------- repair_for and installed versions


def test_import_name_steps_back_one_series_from_the_installed_version():
    d = Diagnosis("import_name", "click._something", "ImportError: cannot import name '_something' from 'click'")
    assert repair_for(d).older == ("click",) and repair_for(d).constraints == ()
    r = repair_for(d, installed={"Click": "8.1.3"})
    assert r.constraints == ("click<8.1",)
    assert repair_for(d, installed={"click": "0.0.4"}).constraints == ()
    pinned = Diagnosis("attribute", "numpy.product", "AttributeError: module 'numpy' has no attribute 'product'")
    assert repair_for(pinned, installed={"numpy": "2.1.0"}).constraints == ("numpy<2.0",)
    major = Diagnosis("attribute", "pandas.foo", "AttributeError: module 'pandas' has no attribute 'foo'")
    assert repair_for(major, installed={"pandas": "2.2.1"}).constraints == ("pandas<2",)


def test_typing_extensions_is_too_old_not_too_new():
    d = Diagnosis("import_name", "typing_extensions.TypeAliasType",
                  "ImportError: cannot import name 'TypeAliasType' from 'typing_extensions'")
    assert repair_for(d, installed={"typing-extensions": "4.4.0"}).packages == ("typing-extensions>4.4.0",)


def test_installed_plugin_that_lost_a_fixture_goes_older():
    d = Diagnosis("pytest_fixture", "event_loop", "fixture 'event_loop' not found")
    assert repair_for(d).packages == ("pytest-asyncio",)
    r = repair_for(d, installed={"pytest_asyncio": "1.0.0"})
    assert r.packages == () and r.older == ("pytest-asyncio",) and r.constraints == ("pytest-asyncio<1.0",)
    assert repair_for(Diagnosis("pytest_fixture", "tmp_path", "fixture 'tmp_path' not found")) is None
    assert repair_for(Diagnosis("pytest_fixture", "my_fixture", "fixture 'my_fixture' not found")) is None


def test_async_tests_with_pytest_asyncio_installed_switch_to_auto_mode():
    d = Diagnosis("pytest_marker_plugin", "asyncio", "async def functions are not natively supported.")
    assert repair_for(d, installed={"pytest-asyncio": "0.23.2"}).env == (("PYTEST_ADDOPTS", "-o asyncio_mode=auto"),)


def test_missing_module_of_an_installed_distribution_goes_older():
    log = "E   ModuleNotFoundError: No module named 'sklearn.utils.testing'\n"
    assert plan_repairs(log)[0].constraints == ("scikit-learn<0.24",)  # a known removal
    log = "E   ModuleNotFoundError: No module named 'attr.validators2'\n"
    r = plan_repairs(log, installed={"attrs": "23.1.0"})[0]
    assert r.older == ("attrs",) and r.constraints == ("attrs<23",)


def test_missing_stdlib_module_has_no_package_but_debian_tk_does():
    assert plan_repairs("ModuleNotFoundError: No module named '_ctypes'\n") == []
    assert plan_repairs("ModuleNotFoundError: No module named 'imp'\n") == []
    assert plan_repairs("ModuleNotFoundError: No module named 'asyncore'\n")[0].packages == ("pyasyncore",)
    assert plan_repairs("ModuleNotFoundError: No module named 'tkinter'\n")[0].system_packages == ("python3-tk",)


def test_distutils_with_setuptools_installed():
    log = "ModuleNotFoundError: No module named 'distutils'\nSuccessfully installed setuptools-80.0.0\n"
    assert plan_repairs(log)[0].env == (("SETUPTOOLS_USE_DISTUTILS", "local"),)
    log = "ModuleNotFoundError: No module named 'distutils.msvccompiler'\n"
    assert plan_repairs(log)[0].packages == ("setuptools<74",)


def test_installed_versions():
    log = "\n".join([
        "Successfully installed Flask-2.0.3 Jinja2-3.1.2 python_dateutil-2.8.2 torch-2.1.0+cpu",
        "Requirement already satisfied: six>=1.5 in /opt/venv/lib/python3.11/site-packages "
        "(from python-dateutil>=2.8.2->pandas) (1.16.0)",
        "Installed 3 packages in 12ms",
        " - jinja2==3.1.2",
        " + jinja2==3.0.3",
        " + Ruamel.YAML==0.17.21",
        " ~ mypkg==0.1.0 (from file:///testbed)",
        " - gone==1.0",
        "requests==2.31.0",
        "    \x1b[32mSuccessfully installed\x1b[0m wheel-0.42.0",
        "Requirement already satisfied: pip in /opt/venv/lib/python3.11/site-packages (23.3.1)",
        "numpy>=1.20",  # a specifier, not a version
    ])
    assert installed_versions(log) == {
        "flask": "2.0.3", "jinja2": "3.0.3", "python-dateutil": "2.8.2", "torch": "2.1.0+cpu", "six": "1.16.0",
        "ruamel-yaml": "0.17.21", "mypkg": "0.1.0", "requests": "2.31.0", "wheel": "0.42.0", "pip": "23.3.1",
    }


def test_plan_uses_the_log_and_the_callers_installed_versions():
    log = "E   ImportError: cannot import name 'foo' from 'click' (/x.py)\n" \
          "Successfully installed click-8.1.3\n"
    assert plan_repairs(log)[0].constraints == ("click<8.1",)
    assert plan_repairs(log, installed={"click": "7.1.2"})[0].constraints == ("click<7.1",)


# --------------------------------------------------------------------------- the loop never repeats itself


def test_tried_repairs_are_skipped():
    log = read_log("pytest_option_cov_xdist")
    first = plan_repairs(log)
    assert len(first) == 3
    again = plan_repairs(log, tried=[first[0].description])
    assert again == first[1:]
    assert plan_repairs(log, tried=[r.description for r in first]) == []


def test_a_loop_that_feeds_back_what_it_tried_terminates():
    log = "\n".join(read_log(n) for n in CASES)
    tried: list[str] = []
    for _ in range(200):
        nxt = plan_repairs(log, tried=tried)
        if not nxt:
            break
        tried.append(nxt[0].description)
    else:
        pytest.fail("the plan never ran out")
    assert len(tried) == len(set(tried))


def test_repairs_with_the_same_effect_are_one():
    log = read_log("header_lxml")
    assert [d.subject for d in diagnose(log)] == ["libxml/xmlversion.h", "libxml/xpath.h"]
    assert len(plan_repairs(log)) == 1


def test_records_are_frozen_and_serialisable():
    d = Diagnosis("missing_module", "yaml", "x")
    with pytest.raises(FrozenInstanceError):
        d.kind = "header"  # type: ignore[misc]
    r = Repair("x", packages=("a",), env=(("A", "1"),), editable=False)
    assert json.loads(json.dumps(r.to_dict()))["env"] == [["A", "1"]]
    assert r.effect() == Repair("y", packages=("a",), env=(("A", "1"),), editable=False).effect()


# --------------------------------------------------------------------------- tables


def _requirements(table) -> list[str]:
    return list(table.values()) if isinstance(table, dict) else list(table)


@pytest.mark.parametrize("table", ["IMPORT_TO_DIST", "MODULE_REMOVALS", "KNOWN_REMOVALS", "PYTEST_OPTION_TO_PLUGIN",
                                   "PYTEST_INI_TO_PLUGIN", "PYTEST_FIXTURE_TO_PLUGIN", "PYTEST_MARKER_TO_PLUGIN",
                                   "PYTEST_REMOVED_OPTIONS", "PYTEST_NEW_OPTIONS", "PYTEST_REMOVED_HOOKS"])
def test_every_table_value_is_a_requirement(table):
    for spec in _requirements(getattr(known, table)):
        assert str(Requirement(spec)), spec


def test_removal_tables_cap_the_version():
    for table in (known.MODULE_REMOVALS, known.KNOWN_REMOVALS, known.PYTEST_REMOVED_OPTIONS,
                  known.PYTEST_REMOVED_HOOKS):
        for spec in table.values():
            assert any(s.operator == "<" for s in Requirement(spec).specifier), spec
    for _text, kind, _subject, spec in known.KNOWN_ERRORS:
        assert kind in KINDS and any(s.operator == "<" for s in Requirement(spec).specifier)


def test_debian_names_are_package_names():
    name = re.compile(r"[a-z0-9][a-z0-9+.-]+")
    for table in (known.HEADER_TO_DEBIAN, known.PKGCONFIG_TO_DEBIAN, known.SHARED_LIBRARY_TO_DEBIAN,
                  known.DEBIAN_MODULES):
        for packages in table.values():
            assert packages and all(name.fullmatch(p) for p in packages), packages
    everything = {p for table in (known.HEADER_TO_DEBIAN, known.SHARED_LIBRARY_TO_DEBIAN) for ps in table.values()
                  for p in ps}
    assert not everything & {"libgl1-mesa-glx", "libfreetype6-dev"}  # gone in bookworm / trixie


def test_table_sizes_and_the_mismatches_everyone_hits():
    assert len(known.IMPORT_TO_DIST) >= 150
    assert sum(1 for k, v in known.IMPORT_TO_DIST.items() if repair.normalize(k) != repair.normalize(
        Requirement(v).name)) >= 100
    assert len(known.PYTEST_OPTION_TO_PLUGIN) >= 40
    assert len(known.PYTEST_FIXTURE_TO_PLUGIN) >= 40
    assert len(known.HEADER_TO_DEBIAN) >= 100
    expected = {"yaml": "PyYAML", "PIL": "Pillow", "bs4": "beautifulsoup4", "dateutil": "python-dateutil",
                "attr": "attrs", "sklearn": "scikit-learn", "cv2": "opencv-python", "google.protobuf": "protobuf",
                "Crypto": "pycryptodome", "OpenSSL": "pyOpenSSL", "jwt": "PyJWT", "magic": "python-magic",
                "dotenv": "python-dotenv", "serial": "pyserial", "usb": "pyusb", "zmq": "pyzmq", "git": "GitPython",
                "github": "PyGithub", "docx": "python-docx", "fitz": "PyMuPDF", "lxml": "lxml",
                "simplejson": "simplejson", "toml": "toml", "mock": "mock", "nose": "nose",
                "hypothesis": "hypothesis", "six": "six"}
    for module, dist in expected.items():
        assert known.IMPORT_TO_DIST[module] == dist
    assert Requirement(known.IMPORT_TO_DIST["pkg_resources"]).name == "setuptools"
    for option, plugin in {"--cov": "pytest-cov", "--cov-fail-under": "pytest-cov", "--timeout": "pytest-timeout",
                           "-n": "pytest-xdist", "--numprocesses": "pytest-xdist", "--dist": "pytest-xdist",
                           "--reruns": "pytest-rerunfailures", "--benchmark-skip": "pytest-benchmark",
                           "--mypy": "pytest-mypy", "--flake8": "pytest-flake8",
                           "--doctest-plus": "pytest-doctestplus",
                           "--doctest-rst": "pytest-doctestplus", "--remote-data": "pytest-remotedata",
                           "--mpl": "pytest-mpl", "--html": "pytest-html", "--black": "pytest-black",
                           "--isort": "pytest-isort", "--asyncio-mode": "pytest-asyncio",
                           "--hypothesis-show-statistics": "hypothesis", "--randomly-seed": "pytest-randomly",
                           "-p randomly": "pytest-randomly", "--forked": "pytest-forked",
                           "--instafail": "pytest-instafail", "--nbval": "nbval"}.items():
        assert repair._option_plugin(option) == plugin, option
    for fixture, plugin in {"mocker": "pytest-mock", "benchmark": "pytest-benchmark", "freezer": "pytest-freezer",
                            "aiohttp_client": "pytest-aiohttp", "event_loop": "pytest-asyncio",
                            "requests_mock": "requests-mock", "httpx_mock": "pytest-httpx", "snapshot": "syrupy",
                            "datadir": "pytest-datadir", "respx_mock": "respx"}.items():
        assert known.PYTEST_FIXTURE_TO_PLUGIN[fixture] == plugin
    assert "caplog" in known.BUILTIN_FIXTURES and "caplog" not in known.PYTEST_FIXTURE_TO_PLUGIN


def test_dist_for_and_module_subject():
    assert dist_for("yaml") == "PyYAML"
    assert dist_for("yaml.constructor") == "PyYAML"
    assert dist_for("google.protobuf.internal.containers") == "protobuf"
    assert dist_for("google.cloud.storage") == "google-cloud-storage"
    assert dist_for("google.cloud.pubsub_v1") == "google-cloud-pubsub-v1"
    assert dist_for("google.genai") == "google-genai"
    assert dist_for("azure.storage.blob") == "azure-storage-blob"
    assert dist_for("azure.identity") == "azure-identity"
    assert dist_for("backports.zoneinfo") == "backports.zoneinfo"
    assert dist_for("sphinxcontrib.websupport") == "sphinxcontrib-websupport"
    assert dist_for("frobnicate.sub") == "frobnicate"
    assert module_subject("requests.adapters") == "requests"
    assert module_subject("google.protobuf.internal") == "google.protobuf"
    assert module_subject("google.cloud.storage.blob") == "google.cloud.storage"
    assert module_subject("zope.interface.verify") == "zope.interface"
    assert module_subject("google") == "google"


# --------------------------------------------------------------------------- bounded work


def test_only_the_last_two_mebibytes_are_read(monkeypatch):
    """By construction: a 5 MB log is cut to its last ``TAIL_CHARS`` characters before
    any rule runs, every line a rule reads is clipped, and a cause outside the tail
    is not seen."""
    noise = "INFO frobnicating widget 1234: not found in cache, retrying\n"  # a trigger on every line
    early = "E   ModuleNotFoundError: No module named 'early_module'\n"
    late = "E   ModuleNotFoundError: No module named 'late_module'\n"
    long_line = "x" * 300_000 + " No module named 'clipped_module'\n"
    body = noise * ((5 * 1024 * 1024) // len(noise))
    log = early + long_line + body + late
    assert len(log) > 5 * 1024 * 1024

    seen: dict[str, int] = {"tail": 0, "lines": 0, "chars": 0, "longest": 0}
    tail, clean = repair.log_tail, repair.clean_line

    def counting_tail(text):
        out = tail(text)
        seen["tail"] = max(seen["tail"], len(out))
        return out

    def counting_clean(line):
        out = clean(line)
        seen["lines"] += 1
        seen["chars"] += len(out)
        seen["longest"] = max(seen["longest"], len(out))
        return out

    monkeypatch.setattr(repair, "log_tail", counting_tail)
    monkeypatch.setattr(repair, "clean_line", counting_clean)
    assert [d.subject for d in diagnose(log)] == ["late_module"]
    assert 0 < seen["tail"] <= repair.TAIL_CHARS
    assert seen["chars"] <= repair.TAIL_CHARS
    assert seen["lines"] <= repair.TAIL_CHARS // len(noise) + 2
    assert seen["longest"] <= repair.MAX_LINE

    # a single line longer than the tail is read only up to MAX_LINE characters
    seen.update(lines=0, chars=0, longest=0)
    assert diagnose("y" * (3 * 1024 * 1024) + " No module named 'm'\n") == []
    assert seen["longest"] <= repair.MAX_LINE


def test_no_pattern_can_backtrack_catastrophically():
    """Linear by construction: no pattern repeats a group (``(...)*``, ``(...)+``,
    ``(...){n,m}``) and none has an unbounded ``.*`` / ``.+``; each runs on one clipped line."""
    patterns = [*repair.PATTERNS, repair._ANSI, repair._PREFIX]
    assert len(repair.PATTERNS) >= 30
    for p in patterns:
        outside_classes = re.sub(r"\[(?:\\.|[^\]\\])*\]", "C", p.pattern)  # [...] -> one atom
        assert not re.search(r"\)[*+{]", outside_classes), p.pattern
        assert not re.search(r"(?<!\\)\.[*+]", outside_classes), p.pattern


def test_bytes_and_empty_logs():
    assert diagnose("") == [] and plan_repairs("") == [] and installed_versions("") == {}
    assert diagnose(b"E   ModuleNotFoundError: No module named 'yaml'\n")[0].subject == "yaml"  # type: ignore[arg-type]


if __name__ == "__main__":
    if "--regenerate" in sys.argv[1:]:
        regenerate()
    else:
        print(__doc__)


@pytest.mark.parametrize("error", ["either 0 or 3 positional arguments", "at most 3 positional arguments"])
def test_an_old_pytest_rewriting_a_newer_ast_runs_without_rewriting(error):
    """pytest of 2014-2015 builds ast.Call with the arguments Python 3.5 removed (the oldest image is 3.6):
    the tests run with plain asserts, which changes messages, not outcomes."""
    log = ("____________________ ERROR collecting tests/test_basic.py _____________________\n"
           "/opt/venv/lib/python3.6/site-packages/_pytest/assertion/rewrite.py:544: in visit_Name\n"
           '>       locs = ast.Call(self.builtin("locals"), [], [], None, None)\n'
           f"E       TypeError: Call constructor takes {error}\n")
    [d] = diagnose(log)
    assert d.kind == "pytest_assert_rewrite"
    [r] = plan_repairs(log)
    assert r.env == (("PYTEST_ADDOPTS", "--assert=plain"),) and "assertion rewriting" in r.description
