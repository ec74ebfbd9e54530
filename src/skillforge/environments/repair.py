"""The repair loop's rules: read the log of a failed install or test run in a
freshly built environment, say what went wrong (``diagnose``) and how the
recipe should change (``repair_for``, ``plan_repairs``).

Pure functions over text: no Docker, no network, no file system. The resolver
applies a ``Repair`` to the recipe, rebuilds and retries (bounded); it passes
back the descriptions it already tried, so a loop never repeats itself.

What a log can say, and the repair each kind gets (``KINDS`` is in the order
``diagnose`` reports them, most specific first):

| kind | read from | repair |
| --- | --- | --- |
| ``pytest_assert_rewrite`` | an old pytest's assertion rewriting on a newer Python's AST (``TypeError: Call constructor takes ...``) | ``PYTEST_ADDOPTS=--assert=plain`` |
| ``pytest_too_new_for_code`` | ``_pytest`` internals, ``PytestRemovedInNWarning`` errors, removed options | older |
| ``pytest_too_old`` | ``'minversion' requires pytest-X``, a built-in option not known yet | ``pytest>=X`` |
| ``api_removed`` | known messages of an API change (``yaml.load``, NumPy 2 ABI) | the known bound |
| ``distutils`` | ``No module named 'distutils'`` (Python 3.12+) | setuptools |
| ``header`` | ``fatal error: X.h: No such file``, ``pg_config`` missing, pkg-config | Debian -dev packages |
| ``shared_library`` | ``libGL.so.1: cannot open shared object file`` | Debian runtime packages |
| ``compiler``, ``rust_compiler`` | ``command 'gcc' failed: No such file``, no Rust compiler | build-essential; rustc |
| ``program`` | another program a build or test calls (``git``, ``cmake``) | its Debian package |
| ``no_build_editable`` | a build backend without PEP 660 ``build_editable`` | install non-editable |
| ``requires_python`` | a dependency's newest release needs a newer Python | that dependency, older |
| ``import_name``, ``attribute`` | ``cannot import name 'N' from 'P'``, ``module 'P' has no attribute`` | P older |
| ``python_version`` | the same, from the standard library | none (the resolver's call) |
| ``pytest_required_plugin`` | ``Missing required plugins: X`` | X |
| ``pytest_fixture``, ``_marker_plugin``, ``_option`` | unknown fixture, marker, option | its plugin |
| ``missing_module`` | ``No module named 'X'`` (tests, conftest, setup.py, builds) | X's distribution |
| ``scm_version`` | setuptools-scm / pbr cannot read a version | a pretend version (last resort) |

The log is read by ``environments.diagnosis`` (``diagnose``, ``installed_versions``;
re-exported here); this module turns each diagnosis into a ``Repair``. The data
(imports -> distributions, options / fixtures / markers -> plugins, headers ->
Debian packages) lives in ``known``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from skillforge.environments import known
from skillforge.environments.diagnosis import (
    KINDS, MAX_EVIDENCE, MAX_LINE, PATTERNS, RULES, STDLIB, TAIL_CHARS, Diagnosis, Found, _isolated, _module_named,
    _option_plugin, clean_line, diagnose, dist_for, installed_versions, log_tail, module_subject, normalize,
)

__all__ = [
    "KINDS", "MAX_EVIDENCE", "MAX_LINE", "PATTERNS", "RULES", "STDLIB", "TAIL_CHARS", "Diagnosis", "Found", "Repair",
    "clean_line", "diagnose", "dist_for", "installed_versions", "log_tail", "module_subject", "normalize",
    "plan_repairs", "repair_for", "step_back",
]


@dataclass(frozen=True)
class Repair:
    """One change to a recipe. ``packages`` and ``constraints`` are requirement
    specs; ``older`` names distributions the resolver resolves as of an earlier
    date (it picks the date); ``system_packages`` are Debian packages installed
    as root before the Python install; ``env`` is set at install and test time;
    ``editable=False`` installs the project with ``pip install .``."""

    description: str  # one line for the attempt log: what changes and why
    packages: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    older: tuple[str, ...] = ()
    system_packages: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    editable: bool | None = None

    def effect(self) -> tuple:
        """Everything but the description: two repairs with the same effect are one."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "description")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["env"] = [list(pair) for pair in self.env]
        for key in ("packages", "constraints", "older", "system_packages"):
            data[key] = list(data[key])
        return data


# --------------------------------------------------------------------------- versions


def _name(spec: str) -> str:
    try:
        return Requirement(spec).name
    except InvalidRequirement:
        return spec


def _bounded(spec: str) -> bool:
    """Whether a spec caps the version (so it must also constrain later installs)."""
    try:
        return any(s.operator in ("<", "<=", "==", "~=", "===") for s in Requirement(spec).specifier)
    except InvalidRequirement:
        return False


def _installed_version(name: str, installed: Mapping[str, str]) -> str | None:
    return installed.get(normalize(name))


def step_back(name: str, installed: Mapping[str, str]) -> str | None:
    """A constraint one release series below the installed version of ``name``
    (``werkzeug`` 3.0.1 -> ``werkzeug<3.0``; ``known.MAJOR_STEP`` distributions
    step below the major: ``pytest`` 8.3 -> ``pytest<8``); None when unknown."""
    raw = _installed_version(name, installed)
    if not raw:
        return None
    try:
        v = Version(raw)
    except InvalidVersion:
        return None
    if normalize(name) in known.MAJOR_STEP and v.major > 0:
        return f"{name}<{v.major}"
    if v.major == 0 and v.minor == 0:
        return None
    return f"{name}<{v.major}.{v.minor}"


# --------------------------------------------------------------------------- repairs


def _install(spec: str, why: str, **extra) -> Repair:
    """Install ``spec``; a capped spec also constrains every later install."""
    return Repair(f"install {spec}: {why}", packages=(spec,), constraints=(spec,) if _bounded(spec) else (), **extra)


def _older(name: str, why: str, installed: Mapping[str, str], bound: str | None = None) -> Repair:
    bound = bound or step_back(name, installed)
    label = f" ({bound})" if bound else ""
    return Repair(f"resolve {name} as of an earlier date{label}: {why}", older=(name,),
                  constraints=(bound,) if bound else ())


def _plugin(plugin: str, what: str, installed: Mapping[str, str]) -> Repair:
    """Install the plugin that provides ``what``; when it is installed already, its newer
    releases dropped ``what``: resolve it older."""
    name = _name(plugin)
    if name == "pytest" or _bounded(plugin) or not _installed_version(name, installed):
        return _install(plugin, f"it provides {what}")
    return _older(name, f"{name} {_installed_version(name, installed)} is installed but no longer provides {what}",
                  installed)


_NO_ISOLATION = (("PIP_NO_BUILD_ISOLATION", "0"), ("UV_NO_BUILD_ISOLATION", "1"))


def _missing_module_repair(d: Diagnosis, installed: Mapping[str, str]) -> Repair | None:
    full = _module_named(d.evidence.rsplit("\n", 1)[-1]) or d.subject
    if d.subject in known.DEBIAN_MODULES:
        packages = known.DEBIAN_MODULES[d.subject]
        return Repair(f"install {' '.join(packages)} (Debian): Debian's Python ships '{d.subject}' separately",
                      system_packages=packages)
    parts = full.split(".")
    for i in range(len(parts), 0, -1):
        removal = known.MODULE_REMOVALS.get(".".join(parts[:i]))
        if removal:
            return _install(removal, f"the code imports {'.'.join(parts[:i])}, which later releases removed")
    top = d.subject.split(".")[0]
    if top in STDLIB and d.subject not in known.IMPORT_TO_DIST:
        return None  # a standard-library module this Python lacks: the Python version is the resolver's choice
    spec = dist_for(d.subject)
    name = _name(spec)
    version = _installed_version(name, installed)
    if version and not _bounded(spec):
        return _older(name, f"{name} {version} is installed but has no module '{full}'", installed)
    if _isolated(d.evidence):
        extra = [p for p in ("setuptools", "wheel") if normalize(p) != normalize(name)]
        return Repair(f"install {spec} ({', '.join(extra)}) and build without isolation: "
                      f"the project's build imports '{d.subject}'",
                      packages=(spec, *extra), constraints=(spec,) if _bounded(spec) else (), env=_NO_ISOLATION)
    return _install(spec, f"the code imports '{d.subject}', which nothing installed provides")


def _distutils_repair(d: Diagnosis, installed: Mapping[str, str]) -> Repair:
    removal = known.MODULE_REMOVALS.get(d.subject)
    if removal:
        return _install(removal, f"the build imports {d.subject}, which later setuptools releases removed")
    if _isolated(d.evidence):
        return Repair("install setuptools and wheel and build without isolation: the project's build imports "
                      "distutils (gone from Python 3.12), which setuptools provides",
                      packages=("setuptools", "wheel"), env=_NO_ISOLATION)
    if _installed_version("setuptools", installed):
        return Repair("set SETUPTOOLS_USE_DISTUTILS=local: setuptools is installed, so its distutils can stand in "
                      "for the one Python 3.12 removed", env=(("SETUPTOOLS_USE_DISTUTILS", "local"),))
    return _install("setuptools", "Python 3.12 removed distutils, which setuptools provides")


def _removed_name_repair(d: Diagnosis, installed: Mapping[str, str]) -> Repair | None:
    module, _, attr = d.subject.rpartition(".")
    bound = known.KNOWN_REMOVALS.get(d.subject)
    if bound:
        name = _name(bound)
        return _older(name, f"'{attr}' is gone from {module} in newer releases", installed, bound)
    spec = dist_for(module)
    name = _name(spec)
    if normalize(name) in known.NEVER_REMOVES:
        version = _installed_version(name, installed)
        target = f"{name}>{version}" if version else name
        return Repair(f"install {target}: {name} only adds names, so one without '{attr}' is too old",
                      packages=(target,))
    return _older(name, f"'{attr}' is gone from {module} in newer releases", installed)


def _pytest_bound(subject: str) -> str | None:
    for table in (known.KNOWN_REMOVALS, known.PYTEST_REMOVED_OPTIONS, known.PYTEST_REMOVED_HOOKS,
                  known.MODULE_REMOVALS):
        if subject in table:
            return table[subject]
    for text, _kind, name, bound in known.KNOWN_ERRORS:
        if name == subject:
            return bound
    m = re.fullmatch(r"PytestRemovedIn(\d{1,2})Warning", subject)
    return f"pytest<{m.group(1)}" if m else None


def _header_packages(subject: str) -> tuple[str, ...] | None:
    if subject == "libxml2 and libxslt development packages":
        return known.HEADER_TO_DEBIAN["libxml/"]
    if subject.endswith(".pc"):
        return known.PKGCONFIG_TO_DEBIAN.get(subject[:-3])
    if subject in known.HEADER_TO_DEBIAN:
        return known.HEADER_TO_DEBIAN[subject]
    best = ""
    for key in known.HEADER_TO_DEBIAN:
        if key.endswith(("/", ".")) and subject.startswith(key) and len(key) > len(best):
            best = key
        elif key.endswith("/") and f"/{key}" in f"/{subject}" and len(key) > len(best):
            best = key
    if best:
        return known.HEADER_TO_DEBIAN[best]
    return known.HEADER_TO_DEBIAN.get(subject.rsplit("/", 1)[-1])


def _library_packages(subject: str) -> tuple[str, ...] | None:
    key = subject.split(".so", 1)[0]
    return known.SHARED_LIBRARY_TO_DEBIAN.get(key) or known.SHARED_LIBRARY_TO_DEBIAN.get(f"lib{key}")


def _system(packages: tuple[str, ...] | None, why: str) -> Repair | None:
    if not packages:
        return None
    return Repair(f"install {' '.join(packages)} (Debian): {why}", system_packages=packages)


def repair_for(d: Diagnosis, *, installed: Mapping[str, str] | None = None) -> Repair | None:
    """The change to the recipe that answers one diagnosis; None when no rule
    knows one. ``installed`` (distribution -> version) turns "older" repairs into
    a bound one release series back and spots plugins that are present already."""
    have = {normalize(k): v for k, v in (installed or {}).items()}
    kind, subject = d.kind, d.subject
    if kind == "missing_module":
        return _missing_module_repair(d, have)
    if kind == "distutils":
        return _distutils_repair(d, have)
    if kind in ("import_name", "attribute"):
        return _removed_name_repair(d, have)
    if kind == "api_removed":
        bound = _pytest_bound(subject)
        return _older(_name(bound), f"{subject} changed in newer releases", have, bound) if bound else None
    if kind == "pytest_assert_rewrite":
        # the pytest of the era predates the AST of the oldest Python there is an image for; outcomes are the
        # same without rewriting (only failure messages are plainer), and every pytest since 2.7 reads the variable
        return Repair("set PYTEST_ADDOPTS=--assert=plain: this pytest's assertion rewriting predates this Python's "
                      "AST", env=(("PYTEST_ADDOPTS", "--assert=plain"),))
    if kind == "pytest_too_new_for_code":
        removed = re.fullmatch(r"PytestRemovedIn(\d{1,2})Warning", subject)
        why = (f"the tests rely on what pytest {removed.group(1)} removed ({subject} raised as an error)" if removed
               else f"the tests use {subject}, which newer pytest removed")
        return _older("pytest", why, have, _pytest_bound(subject))
    if kind in ("pytest_too_old", "pytest_required_plugin"):
        why = "the test configuration needs it" if kind == "pytest_required_plugin" else \
            "the test configuration needs a newer pytest"
        return _install(subject, why)
    if kind == "pytest_option":
        plugin = _option_plugin(subject) or known.PYTEST_INI_TO_PLUGIN.get(subject)
        what = f"the ini option {subject}" if subject in known.PYTEST_INI_TO_PLUGIN else f"the option {subject}"
        return _plugin(plugin, what, have) if plugin else None
    if kind == "pytest_fixture":
        plugin = known.PYTEST_FIXTURE_TO_PLUGIN.get(subject)
        if subject in known.BUILTIN_FIXTURES or not plugin:
            return None
        return _plugin(plugin, f"the fixture '{subject}'", have)
    if kind == "pytest_marker_plugin":
        plugin = known.PYTEST_MARKER_TO_PLUGIN.get(subject)
        if not plugin:
            return None
        if subject == "asyncio" and "natively supported" in d.evidence and _installed_version(plugin, have):
            return Repair("set PYTEST_ADDOPTS=-o asyncio_mode=auto: pytest-asyncio is installed but runs unmarked "
                          "async tests only in auto mode", env=(("PYTEST_ADDOPTS", "-o asyncio_mode=auto"),))
        if _installed_version(plugin, have):
            return None
        return _install(plugin, f"it provides the marker '{subject}'")
    if kind in ("compiler", "rust_compiler", "program"):
        what = {"compiler": "no C compiler", "rust_compiler": "no Rust compiler"}.get(kind, "no program")
        return _system(known.HEADER_TO_DEBIAN.get(subject), f"{what} '{subject}'")
    if kind == "header":
        return _system(_header_packages(subject), f"the build needs {subject}")
    if kind == "shared_library":
        return _system(_library_packages(subject), f"the code loads {subject}")
    if kind == "no_build_editable":
        return Repair("install the project non-editable (pip install . instead of -e .): its build backend has no "
                      "PEP 660 build_editable hook", editable=False)
    if kind == "requires_python":
        return _older(subject, "its newest releases need a newer Python than this environment's", {})
    if kind == "scm_version":
        variable = "PBR_VERSION" if subject == "pbr" else "SETUPTOOLS_SCM_PRETEND_VERSION"
        return Repair(f"set {variable}=0.0.0 (last resort): {subject} cannot read a version without git metadata",
                      env=((variable, "0.0.0"),))
    return None  # python_version: the Python version is the resolver's choice


def plan_repairs(log: str, *, tried: Collection[str] = (),
                 installed: Mapping[str, str] | None = None) -> list[Repair]:
    """The repairs to try next for ``log``, in ``diagnose`` order: one per diagnosis
    that has a rule, none whose description is in ``tried``, none with the same
    effect as an earlier one. ``installed`` adds to (and overrides) the versions
    the log itself shows (``installed_versions``)."""
    have = installed_versions(log)
    have.update({normalize(k): v for k, v in (installed or {}).items()})
    done = set(tried)
    out: list[Repair] = []
    effects: set[tuple] = set()
    for d in diagnose(log):
        r = repair_for(d, installed=have)
        if r is None or r.description in done or r.effect() in effects:
            continue
        effects.add(r.effect())
        out.append(r)
    return out
