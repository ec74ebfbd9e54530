"""Small parsers shared by the install plan (``environments.plan``) and its
readers of tox configurations and requirement declarations: TOML and ini text
(malformed text reads as empty), nested tables, multi-line ini values,
requirement strings, paths of the tree.
"""

from __future__ import annotations

import configparser
import posixpath
import re
import shlex
import tomllib
from collections.abc import Callable, Iterable
from typing import Any

ReadFile = Callable[[str], "str | None"]


def _toml(text: str | None) -> dict:
    if not text:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def _cfg(text: str | None) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if text:
        try:
            parser.read_string(text)
        except configparser.Error:
            pass
    return parser


def _table(data: Any, *keys: str) -> dict:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _lines(value: str, *, commas: bool = False) -> list[str]:
    """The entries of a multi-line ini value: comments and blank lines dropped,
    ``\\`` continuations joined; ``commas``: a one-line value is a comma list.
    Markers (``; python_version < "3.8"``) stay."""
    value = re.sub(r"\\\s*\n\s*", " ", value or "")
    parts = value.split(",") if commas and "\n" not in value.strip() else value.splitlines()
    out = []
    for line in parts:
        line = re.split(r"\s+#", line, maxsplit=1)[0].strip()
        if line and not line.startswith(("#", ";")):
            out.append(line)
    return out


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int, float))]
    return []


def req_name(req: str) -> str:
    """The normalized distribution name of a requirement (``""`` for a path, URL or option)."""
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    if not m or req.lstrip().startswith(("-", ".", "/")) or re.match(r"^\s*\w+\+?\w*://", req):
        return ""
    return re.sub(r"[-_.]+", "-", m.group(1)).lower()


_URL = re.compile(r"(^|\s|@\s*)(git|hg|svn|bzr)\+|://|^file:", re.IGNORECASE)


def is_url(req: str) -> bool:
    """A URL or VCS requirement (``https://...``, ``git+...``, ``name @ https://...``)."""
    return bool(_URL.search(req))


def _norm(path: str, base: str = "") -> str:
    """A repository-relative path (``""`` for the root itself)."""
    joined = posixpath.normpath(posixpath.join(base, path))
    return "" if joined == "." else joined


def _quote(args: Iterable[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
