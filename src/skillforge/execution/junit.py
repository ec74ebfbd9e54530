"""JUnit XML (as pytest writes it) -> outcome per pytest node id.

pytest's ``junit_family=xunit1`` testcases carry ``classname`` (the node id's
path made dotted, ``.py`` dropped, plus the classes), ``name`` (the test's
name with its parameters) and ``file`` (the file path of the node id, relative
to the rootdir). The node id is rebuilt from these: ``file`` tells where the
module part of ``classname`` ends.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Iterable

from skillforge.execution import TestOutcome

# When a node id is reported more than once (a test that failed and whose
# teardown errored, reruns), the most telling outcome wins.
_RANK = {"failed": 3, "error": 2, "passed": 1, "skipped": 0}


def _module_of(path: str) -> str:
    return re.sub(r"\.py$", "", path.replace("\\", "/").replace("/", "."))


def _outcome(case: ET.Element) -> TestOutcome:
    tags = {child.tag for child in case}
    if "failure" in tags:
        return "failed"
    if "error" in tags:
        return "error"
    if "skipped" in tags:
        return "skipped"
    return "passed"


def _guess_split(classname: str, known_files: Iterable[str]) -> tuple[str, list[str]]:
    """(file path, class parts) of a dotted ``classname`` without a usable
    ``file`` attribute: a known file whose module is a prefix of it, otherwise
    the leading lowercase parts are the module and the capitalised tail the
    classes."""
    best = ""
    for f in known_files:
        mod = _module_of(f)
        if (classname == mod or classname.startswith(mod + ".")) and len(mod) > len(_module_of(best) if best else ""):
            best = f
    if best:
        rest = classname[len(_module_of(best)) + 1:]
        return best, rest.split(".") if rest else []
    parts = classname.split(".")
    i = len(parts)
    while i > 1 and parts[i - 1][:1].isupper():
        i -= 1
    return "/".join(parts[:i]) + ".py", parts[i:]


def node_id(classname: str, name: str, file: str | None, known_files: Iterable[str] = ()) -> str:
    """The pytest node id of one JUnit testcase."""
    classname = classname or ""
    if file:
        file = file.replace("\\", "/")
        while file.startswith("./"):
            file = file[2:]
        mod = _module_of(file)
        if not classname and name == mod:  # a collection error of a whole file
            return file
        if classname == mod:
            return f"{file}::{name}"
        if classname.startswith(mod + "."):
            return "::".join([file, *classname[len(mod) + 1:].split("."), name])
    if not classname:
        return name
    path, classes = _guess_split(classname, known_files)
    return "::".join([path, *classes, name])


def _message(case: ET.Element) -> str:
    """What a failing or erroring testcase says about why: its ``message`` and the last line of its report
    (pytest's ``E   ...`` line), at most 500 characters."""
    for child in case:
        if child.tag in ("failure", "error"):
            message = (child.get("message") or "").strip()
            lines = [ln.strip() for ln in (child.text or "").splitlines() if ln.strip()]
            last = lines[-1] if lines else ""
            text = message if not last or last in message else f"{message} | {last}" if message else last
            return text[:500]
    return ""


def parse_junit_details(xml_text: str | bytes, *, known_files: Iterable[str] = ()
                        ) -> tuple[dict[str, TestOutcome], dict[str, str]]:
    """``parse_junit``'s outcomes, and for every failed or erroring test its message (``_message``)."""
    root = _root(xml_text)
    known = list(known_files)
    out: dict[str, TestOutcome] = {}
    messages: dict[str, str] = {}
    for case in root.iter("testcase"):
        nid = node_id(case.get("classname", ""), case.get("name", ""), case.get("file"), known)
        outcome = _outcome(case)
        if nid not in out or _RANK[outcome] > _RANK[out[nid]]:
            out[nid] = outcome
            if outcome in ("failed", "error"):
                messages[nid] = _message(case)
    return out, messages


def _root(xml_text: str | bytes) -> ET.Element:
    if isinstance(xml_text, bytes):
        xml_text = xml_text.decode("utf-8", "replace")
    if "<!ENTITY" in xml_text:
        raise ValueError("JUnit XML with entity declarations is refused")
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"not valid JUnit XML: {exc}") from exc
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"not JUnit XML: root element <{root.tag}>")
    return root


def parse_junit(xml_text: str | bytes, *, known_files: Iterable[str] = ()) -> dict[str, TestOutcome]:
    """Outcome (passed/failed/error/skipped) per pytest node id, over every
    testsuite in the document. xfail counts as skipped, a strict xpass as
    failed, setup errors as error. ``known_files`` (paths of the tree) help
    when a testcase has no ``file`` attribute (xunit2). Raises ``ValueError``
    on text that is not JUnit XML."""
    return parse_junit_details(xml_text, known_files=known_files)[0]
