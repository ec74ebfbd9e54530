"""Diagnosis for the repair loop: read the log of a failed install or test run
in a freshly built environment and say what went wrong (``diagnose``), and
which distributions it shows installed (``installed_versions``). Which kinds
of diagnosis there are, what each is read from and the repair each gets:
``environments.repair``.

Pure functions over text: no Docker, no network, no file system.

Only the last ``TAIL_CHARS`` of a log are read, one line at a time, each line
clipped to ``MAX_LINE`` characters; ANSI colours, ``\\r`` progress lines and the
prefixes of pytest (``E   ``), pip and uv (``│``, ``╰─▶``) and BuildKit
(``#8 1.234``) are removed first. No pattern has a repeated group, so the work
is linear in the text read. The data (imports -> distributions, options /
fixtures / markers -> plugins, headers -> Debian packages) lives in ``known``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Callable

from packaging.requirements import InvalidRequirement, Requirement

from skillforge.environments import known

TAIL_CHARS = 2 * 1024 * 1024
"""Only the last 2 MiB of text of a log are read."""
MAX_LINE = 2000
"""A rule reads at most this many characters of one line."""
MAX_EVIDENCE = 300

KINDS: tuple[str, ...] = (
    "pytest_assert_rewrite", "pytest_too_new_for_code", "pytest_too_old", "api_removed", "distutils", "header", "shared_library", "compiler",
    "rust_compiler", "program", "no_build_editable", "requires_python", "import_name", "attribute", "python_version",
    "pytest_required_plugin", "pytest_fixture", "pytest_marker_plugin", "pytest_option", "missing_module",
    "scm_version",
)
"""Every kind of diagnosis, in the order ``diagnose`` reports them: the most
specific first; ``scm_version`` last, since a version tool that fails is often
the consequence of something above (git missing) and its repair is a last resort."""
_RANK = {kind: i for i, kind in enumerate(KINDS)}

STDLIB: frozenset[str] = frozenset(sys.stdlib_module_names) | frozenset({
    # gone from newer Pythons, still the standard library of the code that imports them
    "distutils", "imp", "asynchat", "asyncore", "smtpd", "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt",
    "imghdr", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib",
    "uu", "xdrlib", "lib2to3", "formatter", "parser", "symbol", "binhex", "macpath", "dummy_threading",
    "_dummy_thread",
})
"""Top-level names of the standard library, of this Python and of the older ones."""


@dataclass(frozen=True)
class Diagnosis:
    """One recognised cause of a failure."""

    kind: str  # one of KINDS
    subject: str  # module / package / option / fixture / header / command the error is about
    evidence: str  # the log line(s) it was read from (short, <= 300 chars)


# --------------------------------------------------------------------------- names


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _namespace(module: str) -> tuple[int, str] | None:
    parts = module.split(".")
    for depth in (2, 1):
        rule = known.NAMESPACE_DISTS.get(".".join(parts[:depth]))
        if rule and len(parts) >= rule[0]:
            return rule
    return None


def module_subject(module: str) -> str:
    """The name a missing module is reported by: its top-level package, or for a
    namespace package (``google.protobuf``, ``google.cloud.storage``, ``zope.interface``)
    the listed prefix or as many parts as name its distribution."""
    parts = module.split(".")
    for i in range(len(parts), 1, -1):
        if ".".join(parts[:i]) in known.IMPORT_TO_DIST:
            return ".".join(parts[:i])
    rule = _namespace(module)
    if rule:
        return ".".join(parts[: rule[0]])
    return parts[0]


def dist_for(module: str) -> str:
    """The requirement that provides an import: the longest listed dotted prefix,
    then the namespace rules, then the top-level package; an unlisted name is
    its own distribution."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        spec = known.IMPORT_TO_DIST.get(".".join(parts[:i]))
        if spec:
            return spec
    rule = _namespace(module)
    if rule:
        depth, pattern = rule
        return pattern.format(parts[depth - 1].replace("_", "-"))
    return parts[0]


# --------------------------------------------------------------------------- reading a log

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*\x07?|\x1b[@-Z\\-_]")
_PREFIX = re.compile(r"^(?:#\d{1,6} \d{1,7}\.\d{1,4} )?"  # BuildKit: "#8 1.234 "
                     r"(?:INTERNALERROR> )?[ \t│┃|╰╭├└┌─━>▶]{0,40}(?:E {1,40})?")  # pip/uv boxes, pytest's "E   "


def log_tail(log: str | bytes) -> str:
    """The part of a log that is read: its last ``TAIL_CHARS`` characters (from the
    first line that starts inside them), ANSI escape sequences removed."""
    if isinstance(log, bytes):
        log = log[-4 * TAIL_CHARS:].decode("utf-8", "replace")
    if len(log) > TAIL_CHARS:
        log = log[-TAIL_CHARS:]
        newline = log.find("\n")
        if 0 <= newline < len(log) - 1:
            log = log[newline + 1:]
    return _ANSI.sub("", log)


def clean_line(line: str) -> str:
    """A line as the rules read it: without the prefixes of pytest, pip, uv and
    BuildKit, at most ``MAX_LINE`` characters."""
    return _PREFIX.sub("", line[: MAX_LINE + 200], count=1)[:MAX_LINE].rstrip()


def _evidence(*lines: str) -> str:
    parts = [ln.strip() for ln in lines if ln and ln.strip()]
    if len(parts) > 1:
        head = parts[0][:120]
        return (head + "\n" + parts[-1])[:MAX_EVIDENCE]
    return parts[0][:MAX_EVIDENCE] if parts else ""


# build steps that run in an isolated environment (PEP 517) and the legacy ones that do not
_ISOLATED = ("Getting requirements to build", "(pyproject.toml)", "Installing build dependencies",
             "build backend returned an error", "` failed (exit status", "Failed to build `",
             "Failed to download and build `")
_LEGACY = ("setup.py egg_info", "(setup.py)", "Running setup.py", "setup.py develop", "setup.py install",
           "setup.py bdist_wheel", "Complete output from command")
_BUILD_END = ("[end of output]", "test session starts", "Successfully installed", "Successfully built")


def _isolated(evidence: str) -> bool:
    head = evidence.split("\n", 1)[0] if "\n" in evidence else ""
    return any(m in head for m in _ISOLATED)


# --------------------------------------------------------------------------- rules

Found = list[tuple[str, str]]  # (kind, subject) pairs read from one line


@dataclass(frozen=True)
class _Rule:
    name: str
    triggers: tuple[str, ...]
    read: Callable[[str, str], Found]  # (line, next line) -> findings


PATTERNS: list[re.Pattern] = []


def _re(pattern: str) -> re.Pattern:
    compiled = re.compile(pattern)
    PATTERNS.append(compiled)
    return compiled


def _known_errors(line: str, _next: str) -> Found:
    return [(kind, subject) for text, kind, subject, _ in known.KNOWN_ERRORS if text in line][:1]


_OLD_AST_CALL = "TypeError: Call constructor takes "


def _assert_rewrite(line: str, _next: str) -> Found:
    """pytest before 2.8 builds ``ast.Call`` with the arguments Python 3.5 removed: its assertion rewriting
    fails at collection on every Python there is an image for."""
    return [("pytest_assert_rewrite", "assertion rewriting")] if _OLD_AST_CALL in line else []


_REMOVED_WARNING = _re(r"(?:^|\s-\s)(?:_pytest\.warning_types\.|pytest\.)?(PytestRemovedIn\d{1,2}Warning):")


def _pytest_removed_warning(line: str, _next: str) -> Found:
    m = _REMOVED_WARNING.search(line)
    return [("pytest_too_new_for_code", m.group(1))] if m else []


_PYTEST_MOD = r"(_pytest|_pytest\.[\w.]{1,200}|pytest|pytest\.[\w.]{1,200})"
_PYTEST_IMPORT = _re(r"cannot import name '(\w{1,100})' from '" + _PYTEST_MOD + "'")
_PYTEST_ATTR = _re(r"module '" + _PYTEST_MOD + r"' has no attribute '(\w{1,100})'")
_PYTEST_MODULE = _re(r"No module named '(_pytest\.[\w.]{1,200})'")


def _pytest_internal(line: str, _next: str) -> Found:
    if m := _PYTEST_IMPORT.search(line):
        return [("pytest_too_new_for_code", f"{m.group(2)}.{m.group(1)}")]
    if "partially initialized" not in line and (m := _PYTEST_ATTR.search(line)):
        return [("pytest_too_new_for_code", f"{m.group(1)}.{m.group(2)}")]
    if m := _PYTEST_MODULE.search(line):
        return [("pytest_too_new_for_code", m.group(1))]
    return []


_UNKNOWN_HOOK = _re(r"unknown hook '(\w{1,100})'")
_HOOK_ARGS = _re(r"Argument\(s\) (\{[^}]{1,200}\}) are declared in the hookimpl")


def _plugin_validation(line: str, _next: str) -> Found:
    if m := _UNKNOWN_HOOK.search(line):
        return [("pytest_too_new_for_code", m.group(1))]
    if m := _HOOK_ARGS.search(line):
        return [("pytest_too_new_for_code", f"hookimpl arguments {m.group(1)}")]
    return []


_MINVERSION = _re(r"'minversion' requires pytest-([0-9][\w.]{0,20}), actual pytest-")
_REQUIRED = _re(r"Missing required plugins: ([^\n]{1,500})")


def _pytest_config(line: str, _next: str) -> Found:
    if m := _MINVERSION.search(line):
        return [("pytest_too_old", f"pytest>={m.group(1)}")]
    if m := _REQUIRED.search(line):
        out = []
        for spec in m.group(1).split(","):
            spec = spec.strip()
            try:
                Requirement(spec)
            except InvalidRequirement:
                continue
            out.append(("pytest_required_plugin", spec))
        return out
    return []


_UNRECOGNIZED = _re(r"error: (?:unrecognized arguments|no such option|unknown option): ([^\n]{1,1500})")
_PYTEST_USAGE = ("pytest: error", "__main__.py: error", "py.test: error", "pytest.py: error")
_INI = _re(r"Unknown config option: ([\w.-]{1,100})")


def _option_plugin(option: str) -> str | None:
    if option in known.PYTEST_OPTION_TO_PLUGIN:
        return known.PYTEST_OPTION_TO_PLUGIN[option]
    for key, plugin in known.PYTEST_OPTION_TO_PLUGIN.items():
        if key.endswith("-") and key.startswith("--") and option.startswith(key):
            return plugin
    return None


def _option_name(token: str) -> str:
    option = token.split("=", 1)[0]
    if re.fullmatch(r"-[A-Za-z][^-]\S{0,40}", option):  # -n4, -nauto: a short option with its value
        option = option[:2]
    return option


def _pytest_options(line: str, _next: str) -> Found:
    if m := _UNRECOGNIZED.search(line):
        pytest_usage = any(u in line for u in _PYTEST_USAGE)
        out: Found = []
        plugins: set[str] = set()
        for token in m.group(1).split():
            if not token.startswith("-") or token == "-":
                continue
            option = _option_name(token)
            if option in known.PYTEST_REMOVED_OPTIONS or token in known.PYTEST_REMOVED_OPTIONS:
                out.append(("pytest_too_new_for_code", token if token in known.PYTEST_REMOVED_OPTIONS else option))
            elif option in known.PYTEST_NEW_OPTIONS:
                out.append(("pytest_too_old", known.PYTEST_NEW_OPTIONS[option]))
            elif (plugin := _option_plugin(option)) is not None:
                if plugin not in plugins:
                    plugins.add(plugin)
                    out.append(("pytest_option", option))
            elif pytest_usage:
                out.append(("pytest_option", option))
        return out
    if m := _INI.search(line):
        if m.group(1) in known.PYTEST_INI_TO_PLUGIN:
            return [("pytest_option", m.group(1))]
    return []


_PLUGIN_IMPORT = _re(r"Error importing plugin \"([\w.]{1,100})\"")
_NO_MODULE = _re(r"No module named '([\w.]{1,200})'|ImportError: No module named ([A-Za-z_][\w.]{0,200})")


def _module_named(line: str) -> str | None:
    m = _NO_MODULE.search(line)
    return (m.group(1) or m.group(2)).rstrip(".") if m else None


def _plugin_import(line: str, _next: str) -> Found:
    m = _PLUGIN_IMPORT.search(line)
    if not m:
        return []
    if f"-p {m.group(1)}" in known.PYTEST_OPTION_TO_PLUGIN:
        return [("pytest_option", f"-p {m.group(1)}")]
    module = _module_named(line) or m.group(1)
    return [("missing_module", module_subject(module))]


_DISTUTILS = _re(r"No module named '?(distutils[\w.]{0,100})")


def _distutils(line: str, _next: str) -> Found:
    m = _DISTUTILS.search(line)
    return [("distutils", m.group(1).rstrip("."))] if m else []


_GCC_HEADER = _re(r"fatal error: ([\w./+-]{1,200}): No such file or directory")
_CLANG_HEADER = _re(r"fatal error: '([\w./+-]{1,200})' file not found")
_PKGCONFIG = _re(r"(?:Package '?|No package '|Dependency \"?)([\w.+-]{1,100})'?\"?,? "
                 r"(?:was not found in the pkg-config|found|not found)")
_LXML = "Please make sure the libxml2 and libxslt development packages are installed"


def _header(line: str, _next: str) -> Found:
    if m := _GCC_HEADER.search(line) or _CLANG_HEADER.search(line):
        return [("header", m.group(1))]
    if _LXML in line:
        return [("header", "libxml2 and libxslt development packages")]
    if m := _PKGCONFIG.search(line):
        if "pkg-config" in line or "No package" in line or "Dependency" in line:
            return [("header", f"{m.group(1)}.pc")]
    return []


_SO = _re(r"([\w+.-]{1,120}): cannot open shared object file")
_CANNOT_LOAD = _re(r"cannot load library '([^']{1,120})'")
_NO_LIBRARY = _re(r"no library called \"([^\"]{1,60})\" was found")


def _shared_library(line: str, _next: str) -> Found:
    if m := _SO.search(line) or _CANNOT_LOAD.search(line) or _NO_LIBRARY.search(line):
        return [("shared_library", m.group(1).rsplit("/", 1)[-1])]
    for text, key in known.LIBRARY_MESSAGES:
        if text in line:
            return [("shared_library", key)]
    return []


_NOT_FOUND = _re(r"([\w.+-]{1,64})(:| executable:?| command)? (?:command )?not found")
_NO_FILE = _re(r"No such file or directory: '([^']{1,200})'")
_UNABLE_EXEC = _re(r"unable to execute '?([^':]{1,200})'?: No such file")
_COMMAND_FAILED = _re(r"command '([^']{1,200})' failed: No such file")
_EXEC_CC1 = _re(r"error trying to exec '(cc1plus|cc1)'")
_COMPILER_MESSAGES = (("Unknown compiler(s)", "cc"), ("No CMAKE_C_COMPILER could be found", "cc"),
                      ("No CMAKE_CXX_COMPILER could be found", "c++"), ("linker `cc` not found", "cc"),
                      ("can't find Rust compiler", "rustc"), ("CMake must be installed", "cmake"))


def _program_kind(name: str) -> str:
    if name in known.COMPILER_PROGRAMS:
        return "compiler"
    if name in known.RUST_PROGRAMS:
        return "rust_compiler"
    if name.endswith("-config") or name.endswith("_config") or name in ("pkg-config", "pkgconf"):
        return "header"
    return "program"


def _program(line: str, _next: str) -> Found:
    for text, name in _COMPILER_MESSAGES:
        if text in line:
            return [(_program_kind(name), name)]
    if m := _EXEC_CC1.search(line):
        return [("compiler", "g++" if m.group(1) == "cc1plus" else "gcc")]
    for pattern in (_COMMAND_FAILED, _UNABLE_EXEC, _NO_FILE):
        if m := pattern.search(line):
            name = m.group(1).rstrip("/").rsplit("/", 1)[-1]
            if name in known.HEADER_TO_DEBIAN:
                return [(_program_kind(name), name)]
    for m in _NOT_FOUND.finditer(line):
        name = m.group(1)
        # "X: not found", "X executable not found", "X command not found"; bare "X not found" only for *-config
        if name in known.HEADER_TO_DEBIAN and (m.group(2) or name.endswith("config")):
            return [(_program_kind(name), name)]
    return []


_EDITABLE = ("missing the 'build_editable' hook", "has no attribute 'build_editable'",
             "cannot be installed in editable mode", "editable mode currently requires a setuptools-based build",
             "does not support editable", "invalid command 'develop'", "PEP 660")


def _no_build_editable(line: str, _next: str) -> Found:
    if "falling back" in line:  # pip's note when it falls back to setup.py develop: not a failure
        return []
    if "PEP 660" in line and "error" not in line.lower() and not any(t in line for t in _EDITABLE[:-1]):
        return []  # PEP 660 named outside an error
    return [("no_build_editable", "build_editable")] if any(t in line for t in _EDITABLE) else []


def _scm_version(line: str, _next: str) -> Found:
    if "nable to detect version" in line:
        return [("scm_version", "setuptools-scm")]
    if "Versioning for this project requires either an sdist tarball" in line:
        return [("scm_version", "pbr")]
    return []


_PIP_PYTHON = _re(r"Package '([\w.-]{1,100})' requires a different Python")
_UV_PYTHON = _re(r"does not satisfy Python\S{0,40},? and (?:all versions of |all of: )?([A-Za-z0-9][\w.-]{0,99})")
_UV_PYTHON_FIRST = _re(r"Because (?:all versions of )?([A-Za-z0-9][\w.-]{0,99})\S{0,40} depends? on Python\S{0,40} "
                       r"and the (?:current|requested) Python version")


def _requires_python(line: str, nxt: str) -> Found:
    if m := _PIP_PYTHON.search(line):
        return [("requires_python", m.group(1))]
    if "does not satisfy Python" in line:
        m = _UV_PYTHON.search(line) or _UV_PYTHON.search(line + " " + nxt.strip())
        if m and m.group(1) not in ("we", "the", "your"):
            return [("requires_python", m.group(1))]
        m = _UV_PYTHON_FIRST.search(line)
        if m:
            return [("requires_python", m.group(1))]
    return []


_IMPORT_NAME = _re(r"cannot import name '(\w{1,100})' from '([\w.]{1,200})'")
_ATTRIBUTE = _re(r"module '([\w.]{1,200})' has no attribute '(\w{1,100})'")


def _import_name(line: str, _next: str) -> Found:
    if "partially initialized" in line:  # a circular import: the code, not a version
        return []
    m = _IMPORT_NAME.search(line)
    kind = "import_name"
    if not m:
        m = _ATTRIBUTE.search(line)
        kind = "attribute"
        if not m:
            return []
        module, name = m.group(1), m.group(2)
    else:
        name, module = m.group(1), m.group(2)
    top = module.split(".")[0]
    if top in STDLIB and top not in known.IMPORT_TO_DIST:
        kind = "python_version"
    return [(kind, f"{module}.{name}")]


_FIXTURE = _re(r"fixture '(\w{1,100})' not found")
_MARKER = _re(r"'(\w{1,100})' not found in .markers. configuration option")
_UNKNOWN_MARK = _re(r"Unknown pytest\.mark\.(\w{1,100})")


def _pytest_names(line: str, _next: str) -> Found:
    if m := _FIXTURE.search(line):
        return [("pytest_fixture", m.group(1))]
    if m := _MARKER.search(line):
        return [("pytest_marker_plugin", m.group(1))]
    if (m := _UNKNOWN_MARK.search(line)) and m.group(1) in known.PYTEST_MARKER_TO_PLUGIN:
        return [("pytest_marker_plugin", m.group(1))]  # a warning: only a marker some plugin registers
    if "async def functions are not natively supported" in line:
        return [("pytest_marker_plugin", "asyncio")]
    return []


_BACKEND = _re(r"Cannot import '([\w.]{1,100})'")


def _build_tools(line: str, _next: str) -> Found:
    if "invalid command 'bdist_wheel'" in line:
        return [("missing_module", "wheel")]
    if m := _BACKEND.search(line):
        return [("missing_module", module_subject(m.group(1)))]
    return []


def _missing_module(line: str, _next: str) -> Found:
    module = _module_named(line)
    return [("missing_module", module_subject(module))] if module else []


RULES: tuple[_Rule, ...] = (
    _Rule("known_errors", tuple(t for t, *_ in known.KNOWN_ERRORS), _known_errors),
    _Rule("assert_rewrite", (_OLD_AST_CALL,), _assert_rewrite),
    _Rule("pytest_removed_warning", ("PytestRemovedIn",), _pytest_removed_warning),
    _Rule("pytest_internal", ("_pytest", "module 'pytest'", "from 'pytest'"), _pytest_internal),
    _Rule("plugin_validation", ("unknown hook '", "declared in the hookimpl"), _plugin_validation),
    _Rule("pytest_config", ("'minversion' requires", "Missing required plugins"), _pytest_config),
    _Rule("pytest_options", ("unrecognized arguments", "no such option", "unknown option", "Unknown config option"),
          _pytest_options),
    _Rule("plugin_import", ("Error importing plugin",), _plugin_import),
    _Rule("distutils", ("No module named 'distutils", "No module named distutils"), _distutils),
    _Rule("header", ("fatal error:", _LXML, "pkg-config", "No package '", "Dependency "), _header),
    _Rule("shared_library", ("cannot open shared object file", "cannot load library", "no library called",
                             *(t for t, _ in known.LIBRARY_MESSAGES)), _shared_library),
    _Rule("program", ("not found", "No such file or directory: '", "failed: No such file", "unable to execute",
                      "error trying to exec",
                      "Unknown compiler(s)", "can't find Rust compiler", "CMake must be installed"), _program),
    _Rule("no_build_editable", _EDITABLE, _no_build_editable),
    _Rule("scm_version", ("nable to detect version", "Versioning for this project requires"), _scm_version),
    _Rule("requires_python", ("requires a different Python", "does not satisfy Python"), _requires_python),
    _Rule("import_name", ("cannot import name", "has no attribute"), _import_name),
    _Rule("pytest_names", ("fixture '", "configuration option", "Unknown pytest.mark.", "natively supported"),
          _pytest_names),
    _Rule("build_tools", ("invalid command 'bdist_wheel'", "Cannot import '"), _build_tools),
    _Rule("missing_module", ("No module named",), _missing_module),
)
"""Tried in this order on each line; the first that finds something reads the line."""


# --------------------------------------------------------------------------- diagnose


def diagnose(log: str) -> list[Diagnosis]:
    """Every recognised cause of a failure in ``log``, most specific first
    (``KINDS`` order, then order of appearance), one per (kind, subject)."""
    text = log_tail(log)
    active = [rule for rule in RULES if any(t in text for t in rule.triggers)]
    if not active:
        return []
    lines = text.splitlines()
    tracks_builds = any(m in text for m in _ISOLATED + _LEGACY)
    found: dict[tuple[str, str], tuple[int, Diagnosis]] = {}
    context = ""
    cleaned_next = clean_line(lines[0]) if lines else ""
    for i in range(len(lines)):
        line = cleaned_next
        cleaned_next = clean_line(lines[i + 1]) if i + 1 < len(lines) else ""
        if tracks_builds:
            if any(m in line for m in _BUILD_END):
                context = ""
            elif not line.startswith("File ") and (any(m in line for m in _ISOLATED)
                                                  or any(m in line for m in _LEGACY)):
                context = line  # the build step a failure belongs to (not a traceback's frame)
        for rule in active:
            if not any(t in line for t in rule.triggers):
                continue
            hits = rule.read(line, cleaned_next)
            if not hits:
                continue
            for kind, subject in hits:
                key = (kind, subject)
                if key in found:
                    continue
                build = kind in ("missing_module", "distutils") and context and context != line
                evidence = _evidence(context, line) if build else _evidence(line)
                found[key] = (i, Diagnosis(kind, subject, evidence))
            break
    ordered = sorted(found.values(), key=lambda item: (_RANK[item[1].kind], item[0]))
    return [d for _, d in ordered]


# --------------------------------------------------------------------------- installed versions

_UV_LINE = _re(r"^ ([+~-]) ([A-Za-z0-9][\w.-]{0,100})==([^\s]{1,80})")
_FREEZE = _re(r"^([A-Za-z0-9][\w.-]{0,100})==([0-9][\w.+!-]{0,60})$")
_SATISFIED = _re(r"^Requirement already satisfied: ([A-Za-z0-9][\w.-]{0,100})")
_SATISFIED_VERSION = _re(r"\(([0-9][\w.+!-]{0,60})\)$")


def installed_versions(log: str) -> dict[str, str]:
    """Distribution versions installed according to the log: pip's ``Successfully
    installed a-1.0 b-2.0`` and ``Requirement already satisfied: ... (1.0)``,
    uv's `` + name==1.2.3`` (and `` - name==...`` for removals), ``pip freeze``
    lines. Later lines win. Keys are PEP 503 normalised."""
    out: dict[str, str] = {}
    for raw in log_tail(log).splitlines():
        line = raw.rstrip()
        if "==" in line:
            if m := _UV_LINE.match(line):
                if m.group(1) == "-":
                    out.pop(normalize(m.group(2)), None)
                else:
                    out[normalize(m.group(2))] = m.group(3)
                continue
            if m := _FREEZE.match(line.strip()):
                out[normalize(m.group(1))] = m.group(2)
                continue
        stripped = _PREFIX.sub("", line, count=1)
        if stripped.startswith("Successfully installed "):
            for token in stripped[len("Successfully installed "):].split():
                name, _, version = token.rpartition("-")
                if name and version[:1].isdigit():
                    out[normalize(name)] = version
        elif stripped.startswith("Requirement already satisfied: "):
            m, v = _SATISFIED.match(stripped), _SATISFIED_VERSION.search(stripped)
            if m and v:
                out[normalize(m.group(1))] = v.group(1)
    return out
