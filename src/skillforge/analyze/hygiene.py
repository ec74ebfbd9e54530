"""Dataset hygiene in the analysis stage: near-duplicate pull requests and decontamination.

Near duplicates
---------------
Cherry-picks, backports, re-lands of reverted changes and copies between
repositories make the same task twice. A PR's *fingerprint* is the set of its
code patch's changed lines, normalised (sign kept, whitespace collapsed, blank
lines dropped), plus each pair of consecutive changed lines (so order counts a
little). Two PRs are near duplicates when the Jaccard similarity of their
fingerprints is at least ``threshold`` (0.85 by default; 1.0 keeps only exact
copies out). The search is exact -- every kept PR at least that similar is
found -- by prefix filtering (Chaudhuri et al., ICDE 2006; Bayardo et al., WWW
2007): with the lines of every fingerprint in one fixed order (by a hash of
each, so every run orders them alike), two sets of Jaccard similarity ``t`` or
more share at least one of their first ``n - floor(t * n) + 1`` lines (``n``
their size). Only those first lines are indexed and looked up, and each PR met
on the way is compared on the exact sets. The first PR seen is kept; later ones
are dropped as ``near-duplicate of <pr_id>`` (the most similar kept PR, the
first kept on a tie).

Decontamination
---------------
A list of pull requests to keep out of the dataset -- those of an evaluation
benchmark such as SWE-bench -- one per line, in any of these forms::

    astropy__astropy-12907          # an instance id (a suffix such as .review-1 is ignored)
    django/django#11099             # owner/repo#N
    https://github.com/o/r/pull/7   # a pull request URL
    {"instance_id": "sympy__sympy-20590", ...}   # a SWE-bench JSONL row

Blank lines and lines starting with ``#`` are ignored; owner and repository
names compare case-insensitively (as on GitHub). Listed PRs are dropped with
the reason ``decontaminated (listed in FILE)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from skillforge.analyze.patch import FileDiff, parse_patch

__all__ = ["Decontamination", "DecontaminationError", "NearDuplicates", "fingerprint", "jaccard"]


def fingerprint(code_patch: str | Iterable[FileDiff]) -> frozenset[str]:
    """The normalised changed lines of a patch (its text, or its files as parsed already), and
    consecutive pairs of them."""
    lines: list[str] = []
    for fd in parse_patch(code_patch) if isinstance(code_patch, str) else code_patch:
        for hunk in fd.hunks:
            for raw in hunk[1:]:
                tag = raw[:1]
                if tag not in "+-" or not raw[1:].strip():
                    continue
                lines.append(tag + " ".join(raw[1:].split()))
    shingles = set(lines)
    shingles.update(f"{a}\n{b}" for a, b in zip(lines, lines[1:]))
    return frozenset(shingles)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _rank(shingle: str) -> bytes:
    """A shingle's place in the one order of all fingerprints (a hash: the same in every run)."""
    return hashlib.blake2b(shingle.encode("utf-8", "surrogateescape"), digest_size=8).digest()


@dataclass
class NearDuplicates:
    """An index of the PRs kept so far; :meth:`check_and_add` answers which kept PR a new one duplicates."""

    threshold: float = 0.85
    _sets: dict[str, frozenset[str]] = field(default_factory=dict)
    _order: dict[str, int] = field(default_factory=dict)  # when each was kept: the first kept wins a tie
    _postings: dict[str, list[str]] = field(default_factory=dict, repr=False)  # prefix line -> PRs
    _last_prefix: tuple[frozenset[str], float, list[str]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self._sets)

    def _prefix(self, shingles: frozenset[str]) -> list[str]:
        """The lines of ``shingles`` that any set at least ``threshold`` similar shares one of: the
        first ``n - floor(threshold * n) + 1`` in the order (the floor makes it a line longer at
        worst, never shorter, whatever the float's rounding)."""
        last = self._last_prefix
        if last is not None and last[0] is shingles and last[1] == self.threshold:
            return last[2]  # find, then add: ranked once
        n = len(shingles)
        prefix = sorted(shingles, key=_rank)[:n - math.floor(self.threshold * n) + 1]
        self._last_prefix = (shingles, self.threshold, prefix)
        return prefix

    def find(self, shingles: frozenset[str]) -> str | None:
        """The kept PR most similar to ``shingles``, if at least ``threshold`` similar (the first kept
        on a tie); None when there is none."""
        if not shingles or not self._sets:
            return None  # no changed line (a pure rename): nothing to compare
        n = len(shingles)
        best: tuple[float, int, str] | None = None
        seen: set[str] = set()
        for line in self._prefix(shingles):
            for pr_id in self._postings.get(line, ()):
                if pr_id in seen:
                    continue
                seen.add(pr_id)
                other = self._sets[pr_id]
                if min(n, len(other)) / max(n, len(other)) < self.threshold:
                    continue  # sizes too far apart to be that similar (the similarity is at most this)
                sim = jaccard(shingles, other)
                if sim >= self.threshold and (best is None or (sim, -self._order[pr_id]) > best[:2]):
                    best = (sim, -self._order[pr_id], pr_id)
        return best[2] if best else None

    def add(self, pr_id: str, shingles: frozenset[str]) -> None:
        if not shingles or pr_id in self._sets:
            return
        self._sets[pr_id] = shingles
        self._order[pr_id] = len(self._order)
        for line in self._prefix(shingles):
            self._postings.setdefault(line, []).append(pr_id)

    def check_and_add(self, pr_id: str, code_patch: str) -> str | None:
        """The kept PR that ``pr_id`` duplicates; else None, and ``pr_id`` is kept."""
        shingles = fingerprint(code_patch)
        dup = self.find(shingles)
        if dup is None:
            self.add(pr_id, shingles)
        return dup


# --------------------------------------------------------------------------- decontamination


class DecontaminationError(ValueError):
    pass


_ID = re.compile(r"^(?P<owner>[\w.-]+?)__(?P<name>[\w.-]+?)-(?P<number>\d+)(?:\.[A-Za-z][\w.-]*)?$")
_REF = re.compile(r"^(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)#(?P<number>\d+)$")
_URL = re.compile(r"^https?://[^/]+/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)/(?:pull|issues)/(?P<number>\d+)/?$")


@dataclass
class Decontamination:
    """The pull requests a decontamination file lists, as (``owner/repo`` lower-cased, number)."""

    source: str
    entries: frozenset[tuple[str, int]]

    @classmethod
    def load(cls, path: str | Path) -> Decontamination:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DecontaminationError(f"decontamination list not found: {path}") from None
        entries: set[tuple[str, int]] = set()
        for k, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("{"):
                try:
                    line = str(json.loads(line)["instance_id"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise DecontaminationError(f"{path}:{k}: a JSON line needs an instance_id: {raw[:80]!r}") from None
            line = line.split()[0]
            m = _ID.match(line) or _REF.match(line) or _URL.match(line)
            if not m:
                raise DecontaminationError(
                    f"{path}:{k}: not an instance id (owner__repo-N), owner/repo#N or pull request URL: {raw[:80]!r}")
            entries.add((f"{m['owner']}/{m['name']}".lower(), int(m["number"])))
        return cls(source=str(path), entries=frozenset(entries))

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, pr: tuple[str, int]) -> bool:
        repo, number = pr
        return (repo.lower(), int(number)) in self.entries

    @property
    def reason(self) -> str:
        return f"decontaminated (listed in {self.source})"
