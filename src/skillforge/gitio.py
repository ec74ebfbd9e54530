"""The one git layer: every git command skillforge runs goes through here.

* the git subprocess: :func:`run_git` with :data:`GIT_ENV` (git never prompts,
  never asks a helper for a password, speaks English: ``LC_ALL=C``), failures
  as :class:`GitError` with credentials redacted;
* redaction: :func:`redact_url` (credentials in URLs) and :func:`redact`
  (that, plus given secret values);
* repository handles: :class:`RepoHandle` (file reads at a commit, tree
  listings and ``git archive`` tars through one GitPython handle per repository;
  GitPython keeps a persistent ``git cat-file --batch`` process per handle) and
  :class:`RepoSet` (the handles of a workspace's repositories);
* history: :func:`history`, :func:`commit_records`, :func:`first_parent_patches`
  (:func:`first_parent_patch_bytes`), :func:`diff` (:func:`diff_bytes`), :func:`messages`,
  :func:`missing_commits`, :func:`shallow_commits`, ...;
* source trees: :func:`tree_tar` (the tree of a commit, ``.gitattributes`` ignored);
* commit facts for recipe ranges: :func:`commit_info` (date, release version,
  ancestry);
* the clone cache: :class:`GitCache` (bare clones under ``--repos-dir``,
  fetched incrementally).

Git's bytes are data. What mining reads (commit messages, authors, patches) is
decoded losslessly by :func:`decode_text`: as UTF-8 when it is valid UTF-8, else as
latin-1 (every byte one character), and the codec is returned beside the text, so
``text.encode(codec)`` gives back the bytes git printed. Patches are also available
as bytes (:func:`first_parent_patch_bytes`, :func:`diff_bytes`). Other text output
(:func:`run_git` with ``text=True``: ids, refs, dates) is decoded as UTF-8 with bad
bytes replaced.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import git
import git.db
from gitdb.base import OInfo, OStream

from skillforge.schema import repo_slug

if TYPE_CHECKING:
    from skillforge.workspace import Workspace

__all__ = [
    "FALLBACK_ENCODING", "GIT_ENV", "CommitInfo", "CommitRecord", "GitCache", "GitError", "RepoError", "RepoHandle",
    "RepoSet", "commit_info", "commit_records", "decode_text", "decode_texts", "diff", "diff_bytes",
    "first_parent_ancestor", "first_parent_patch_bytes", "first_parent_patches", "git_env", "has_commits", "history",
    "is_ancestor", "messages", "missing_commits", "newest_commit", "open_repo", "redact", "redact_url", "remote_url",
    "resolve_commit", "run_git", "shallow_commits", "tag_version", "tree_tar",
]

#: What every git subprocess runs with, on top of the caller's environment.
GIT_ENV: Mapping[str, str] = MappingProxyType(
    {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"})

#: The codec text that is not valid UTF-8 is decoded with: every byte is one character, so nothing is lost.
FALLBACK_ENCODING = "latin-1"

_URL_CREDENTIALS = re.compile(r"//[^/@\s]+@")
_REC = "\x00\x01SFREC\x01"
_REC_BYTES = _REC.encode()
_REC_FMT = "%x00%x01SFREC%x01"  # the same, as git format escapes (arguments cannot hold NUL)
_FIELDS_FMT = "%H%x00%P%x00%aI%x00%cI%x00%an%x00%B"


# --------------------------------------------------------------------------- errors, environment, redaction


class RepoError(RuntimeError):
    """A repository cannot be used: no clone, not a git repository, a git command failed."""


class GitError(RepoError):
    """A git command failed. The message names the command (credentials redacted),
    the directory and the end of git's error output."""

    def __init__(self, message: str, *, returncode: int | None = None, stderr: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a git subprocess: the current one, :data:`GIT_ENV`, then ``extra``."""
    return {**os.environ, **GIT_ENV, **(extra or {})}


def redact_url(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced
    (``https://user:token@host/x`` -> ``https://***@host/x``); works on whole messages too."""
    return _URL_CREDENTIALS.sub("//***@", text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first) and URL credentials removed."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return redact_url(text)


def decode_text(data: bytes) -> tuple[str, str]:
    """``(text, codec)``: ``data`` decoded as UTF-8 when it is valid UTF-8, else as
    :data:`FALLBACK_ENCODING` (latin-1). Lossless: ``text.encode(codec) == data``."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode(FALLBACK_ENCODING), FALLBACK_ENCODING


def decode_texts(*parts: bytes) -> tuple[list[str], str]:
    """Several byte strings that belong together (one record's fields) decoded with ONE codec:
    UTF-8 when every part is valid UTF-8, else latin-1 for all of them (see :func:`decode_text`)."""
    try:
        return [p.decode("utf-8") for p in parts], "utf-8"
    except UnicodeDecodeError:
        return [p.decode(FALLBACK_ENCODING) for p in parts], FALLBACK_ENCODING


def run_git(cwd: str | Path | None, *args: str, input: str | bytes | None = None, check: bool = True,
            timeout: float | None = None, env: Mapping[str, str] | None = None, text: bool = True,
            ) -> subprocess.CompletedProcess:
    """``git -C cwd args...`` with :data:`GIT_ENV` (plus ``env``); output as text (UTF-8, bad bytes
    replaced) or bytes. With ``check``, a failure raises :class:`GitError`; without it, the
    result is returned as it is (a timeout as exit status 124)."""
    cmd = ["git", *(["-C", str(cwd)] if cwd is not None else []), *args]
    decode = {"text": True, "encoding": "utf-8", "errors": "replace"} if text else {}
    try:
        proc = subprocess.run(cmd, input=input, capture_output=True, env=git_env(env), timeout=timeout, **decode)
    except FileNotFoundError as exc:
        raise GitError("git is not installed (no `git` on PATH)") from exc
    except subprocess.TimeoutExpired:
        message = f"timed out after {timeout:.0f}s"
        proc = subprocess.CompletedProcess(cmd, 124, "" if text else b"", message if text else message.encode())
    if check and proc.returncode != 0:
        stderr = proc.stderr if text else proc.stderr.decode("utf-8", "replace")
        shown = " ".join(redact_url(a) for a in args[:4])
        where = f" in {cwd}" if cwd is not None else ""
        detail = redact_url(stderr.strip())[-500:] or f"exit status {proc.returncode}"
        raise GitError(f"git {shown} failed{where}: {detail}", returncode=proc.returncode, stderr=redact_url(stderr))
    return proc


def open_repo(path: str | Path, name: str | None = None) -> git.Repo:
    """A GitPython handle on the repository at ``path`` (its root, a working or a bare one);
    :class:`RepoError` when there is none. Its objects are read through GitPython's persistent
    ``git cat-file --batch`` and kept by id (:class:`CachingObjectDB`); a commit's files come
    from them (:meth:`CachingObjectDB.commit_blobs`), with no ``git`` process per commit."""
    try:
        return git.Repo(path, odbt=CachingObjectDB)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError) as e:
        what = f"repository {name}: {path}" if name else str(path)
        raise RepoError(f"{what} is not a git repository") from e


# --------------------------------------------------------------------------- objects by id


_HEX40 = re.compile(r"[0-9a-f]{40}")


def _canon_mode(mode: int) -> int:
    """The mode git lists for a tree entry (``canon_mode`` of git's tree-walk)."""
    kind = mode & 0o170000
    if kind == 0o100000:
        return 0o100755 if mode & 0o100 else 0o100644
    if kind in (0o120000, 0o040000):
        return kind
    return 0o160000


# the modes trees hold (as git writes them), and the text of the canonical modes of blobs
_MODES = {b"100644": 0o100644, b"100755": 0o100755, b"40000": 0o040000, b"120000": 0o120000, b"160000": 0o160000}
_MODE_TEXT = {0o100644: "100644", 0o100755: "100755", 0o120000: "120000"}


class CachingObjectDB(git.db.GitCmdObjectDB):
    """GitPython's object database (one persistent ``git cat-file --batch`` per handle) that keeps
    the objects it read by id, least recently used first out, up to :attr:`max_bytes`: a blob read
    for one PR's merge side is not read again for another PR's base side, nor a tree shared by
    two commits listed twice. Objects are immutable, so what it returns is what git has."""

    max_bytes = 64 << 20  # object bytes kept (an object over an eighth of it is read, never kept)
    max_entries = 1 << 18  # tree-listing entries (files) kept

    def __init__(self, root_path, git_cmd) -> None:
        super().__init__(root_path, git_cmd)
        self._objects: OrderedDict[bytes, tuple[bytes, bytes]] = OrderedDict()  # binsha -> (type, data)
        self._bytes = 0
        self._blobs: OrderedDict[tuple[bytes, str], dict[str, tuple[str, str]]] = OrderedDict()  # (tree, prefix) -> blobs
        self._blobs_kept = 0
        self._roots: dict[bytes, bytes] = {}  # commit binsha -> its root tree's (see prefetch_commits)

    def object(self, binsha: bytes) -> tuple[bytes, bytes]:
        """``(type, data)`` of the object ``binsha``; ``ValueError`` when git has none."""
        got = self._objects.get(binsha)
        if got is not None:
            self._objects.move_to_end(binsha)
            return got
        _hexsha, typename, _size, data = self._git.get_object_data(binsha.hex())
        return self._keep(binsha, typename if isinstance(typename, bytes) else typename.encode(), data)

    def _keep(self, binsha: bytes, typename: bytes, data: bytes) -> tuple[bytes, bytes]:
        got = (typename, data)
        if len(data) <= self.max_bytes // 8:
            self._objects[binsha] = got
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, (_, old) = self._objects.popitem(last=False)
                self._bytes -= len(old)
        return got

    prefetch_batch = 256  # ids asked at once (10 KB: inside a pipe's buffer, so writing them never waits on git)

    def prefetch(self, binshas: Iterable[bytes]) -> None:
        """Read the objects ``binshas`` that are not kept, asking git for them all at once: one round
        trip to ``git cat-file --batch`` (the same process :meth:`object` reads from) instead of one
        per object. What git does not have is left for :meth:`object` to report; an object over
        the size kept is read now and again when asked for."""
        wanted = [b for b in dict.fromkeys(binshas) if b not in self._objects]
        for binsha, typename, _sha, data in self._cat_batch(wanted, [b.hex() for b in wanted]):
            self._keep(binsha, typename, data)

    def _cat_batch(self, keys: list, names: list[str]) -> list[tuple[object, bytes, bytes, bytes]]:
        """``(key, type, id, content)`` of each object that ``git cat-file --batch`` has of ``names``
        (object names, one per key), asked in batches of :attr:`prefetch_batch` and read whole
        before any is used (so the process stays in step whatever its caller does); [] when there
        is nothing to ask, or GitPython has no public call that asks for several objects (its
        persistent ``cat-file --batch``, the process ``get_object_data`` reads from, is used)."""
        persistent = getattr(self._git, "_get_persistent_cmd", None)
        if not names or persistent is None:
            return []
        cmd = persistent("cat_file_all", "cat_file", batch=True)
        out = []
        for i in range(0, len(names), self.prefetch_batch):
            cmd.stdin.write("".join(f"{name}\n" for name in names[i:i + self.prefetch_batch]).encode())
            cmd.stdin.flush()
            for key in keys[i:i + self.prefetch_batch]:
                header = cmd.stdout.readline().split()
                if len(header) != 3:  # "<name> missing" (or ambiguous): no content follows
                    continue
                data = cmd.stdout.read(int(header[2]))
                cmd.stdout.read(1)  # the newline after the content
                out.append((key, header[1], header[0], data))
        return out

    def info(self, binsha: bytes) -> OInfo:
        """The object's type and size, from a whole read kept for what comes next (GitPython asks for
        a commit's type before it reads the commit)."""
        typename, data = self.object(binsha)
        return OInfo(binsha, typename, len(data))

    def stream(self, binsha: bytes) -> OStream:
        typename, data = self.object(binsha)
        return OStream(binsha, typename, len(data), io.BytesIO(data))

    def tree_blobs(self, binsha: bytes, prefix: str = "") -> dict[str, tuple[str, str]]:
        """The blobs (files and symlinks; submodules left out) of the tree ``binsha`` as
        ``git ls-tree -r`` lists them: path (``prefix`` and the path relative to the tree, decoded
        as UTF-8 with surrogate escapes) -> (mode, id), in git's tree order. Kept by tree id and
        prefix, so a commit's listing is built from those of the subtrees it shares with the
        commits before (each copied whole, as it is kept): the dict returned is shared, never to be
        changed."""
        key = (binsha, prefix)
        got = self._blobs.get(key)
        if got is not None:
            self._blobs.move_to_end(key)
            return got
        typename, data = self.object(binsha)
        if typename != b"tree":
            raise ValueError(f"{binsha.hex()} is a {typename.decode()}, not a tree")
        entries: list[tuple[int, str, bytes]] = []
        pos, end = 0, len(data)
        while pos < end:
            space = data.index(b" ", pos)
            nul = data.index(b"\0", space)
            raw = data[pos:space]
            mode = _MODES.get(raw) or _canon_mode(int(raw, 8))
            name, sha = data[space + 1:nul].decode("utf-8", "surrogateescape"), data[nul + 1:nul + 21]
            if len(sha) != 20:
                raise ValueError(f"tree {binsha.hex()} is truncated")
            pos = nul + 21
            entries.append((mode, name, sha))
        # the subtrees not listed yet, read in one round trip (then theirs, a level down, in one more)
        self.prefetch(sha for mode, name, sha in entries
                      if mode == 0o040000 and (sha, f"{prefix}{name}/") not in self._blobs)
        out: dict[str, tuple[str, str]] = {}
        for mode, name, sha in entries:
            if mode == 0o040000:
                out.update(self.tree_blobs(sha, f"{prefix}{name}/"))
            elif mode != 0o160000:
                out[prefix + name] = (_MODE_TEXT[mode], sha.hex())
        self._blobs[key] = out
        self._blobs_kept += len(out)
        while self._blobs_kept > self.max_entries and len(self._blobs) > 1:
            _, old_blobs = self._blobs.popitem(last=False)
            self._blobs_kept -= len(old_blobs)
        return out

    max_roots = 1 << 16  # commits whose root tree is known without their object

    def prefetch_commits(self, commits: Iterable[str]) -> None:
        """The root trees of the commits ``commits`` (40 hex digits each; others are left alone) not
        known yet, asked for as ``<commit>^{tree}``: one round trip for what :meth:`commit_blobs` of
        each reads first, and no commit object read. An id git cannot peel to a tree is left for
        :meth:`commit_blobs` to look at (and git to report)."""
        wanted = [c for c in dict.fromkeys(commits) if _HEX40.fullmatch(c) and bytes.fromhex(c) not in self._roots]
        got = self._cat_batch(wanted, [f"{c}^{{tree}}" for c in wanted])
        if len(self._roots) + len(got) > self.max_roots:
            self._roots.clear()
        for commit, typename, sha, data in got:
            if typename == b"tree" and sha.decode() != commit:  # (a tree's id peels to itself: not a commit)
                tree = bytes.fromhex(sha.decode())
                self._keep(tree, b"tree", data)
                self._roots[bytes.fromhex(commit)] = tree

    def commit_blobs(self, commit: str) -> dict[str, tuple[str, str]] | None:
        """:meth:`tree_blobs` of the tree of the commit ``commit`` (40 hex digits); None when it is
        not a commit this walk reads (then ``git ls-tree`` says what it is)."""
        if not _HEX40.fullmatch(commit):
            return None
        try:
            binsha = bytes.fromhex(commit)
            root = self._roots.get(binsha)
            if root is None:
                root = _root_tree(*self.object(binsha))
            return self.tree_blobs(root) if root is not None else None
        except (ValueError, RecursionError):
            return None  # git says what is wrong (or lists a tree nested too deeply for this walk)


def _root_tree(typename: bytes, data: bytes) -> bytes | None:
    """The id of a commit object's tree (None for another object, or a commit this walk does not read)."""
    if typename != b"commit" or not data.startswith(b"tree ") or data[45:46] != b"\n":
        return None
    try:
        return bytes.fromhex(data[5:45].decode())
    except ValueError:
        return None


# --------------------------------------------------------------------------- handles


class RepoHandle:
    """One repository: file reads at a commit, tree listings, tars. Thread-safe."""

    def __init__(self, name: str, path: str | Path):
        self.name = name
        self.path = Path(path)
        self.git = open_repo(self.path, name)
        self._lock = threading.Lock()

    def read(self, commit: str, path: str) -> bytes | None:
        """The file ``path`` at ``commit``; None when the tree has no such path."""
        with self._lock:
            try:
                return (self.git.commit(commit).tree / path).data_stream.read()
            except KeyError:
                return None

    def reader(self, commit: str) -> Callable[[str], bytes | None]:
        return lambda path: self.read(commit, path)

    @lru_cache(maxsize=64)  # noqa: B019 - handles live as long as the process
    def files(self, commit: str) -> tuple[str, ...]:
        """Every file path in the tree of ``commit``."""
        with self._lock:
            out = self.git.git.ls_tree("-r", "--name-only", "-z", commit)
        return tuple(p for p in out.split("\0") if p)

    def archive(self, commit: str) -> bytes:
        """The tree at ``commit`` as a tar, as ``git archive`` makes it (``.gitattributes`` apply)."""
        buf = io.BytesIO()
        with self._lock:
            self.git.archive(buf, commit, format="tar")
        return buf.getvalue()

    def tree_tar(self, commit: str) -> bytes:
        """The tree at ``commit`` as a tar, ``.gitattributes`` ignored (see :func:`tree_tar`)."""
        return tree_tar(self.path, commit)

    def commit_info(self, commit: str) -> CommitInfo:
        return commit_info(self.path, commit)

    def close(self) -> None:
        self.git.close()


class RepoSet:
    """Handles for every repository of a workspace, opened on first use."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._handles: dict[str, RepoHandle] = {}
        self._lock = threading.Lock()

    def __getitem__(self, repo: str) -> RepoHandle:
        with self._lock:
            if repo not in self._handles:
                location = self.ws.repo_location(repo)
                if not location:
                    raise RepoError(f"repository {repo} has no local clone recorded in the workspace; mine it first")
                self._handles[repo] = RepoHandle(repo, location)
            return self._handles[repo]


# --------------------------------------------------------------------------- history


@dataclass
class CommitRecord:
    """A commit as ``git log`` describes it (dates in strict ISO 8601, message stripped).

    ``message`` and ``author`` were decoded with ``encoding`` (see :func:`decode_texts`):
    ``message.encode(encoding)`` are the bytes git printed (ASCII whitespace stripped)."""

    sha: str
    parents: list[str]
    message: str
    author_date: str = ""
    commit_date: str = ""
    author: str = ""
    encoding: str = "utf-8"

    @property
    def raw_message(self) -> bytes:
        return self.message.encode(self.encoding)


def _records(out: bytes) -> Iterator[CommitRecord]:
    for chunk in out.split(_REC_BYTES):
        if not chunk.strip():
            continue
        sha, parents, adate, cdate, author, message = chunk.split(b"\x00", 5)
        (author_text, message_text), encoding = decode_texts(author, message.strip())
        yield CommitRecord(sha.decode().strip(), parents.decode().split(), message_text, adate.decode(),
                           cdate.decode(), author_text, encoding)


def history(path: str | Path, ref: str = "HEAD", *, since: datetime | None = None,
            first_parent: bool = True) -> Iterator[CommitRecord]:
    """The history of ``ref``, newest first (along first parents by default), committed
    since ``since`` when given (a naive datetime is taken as UTC)."""
    args = ["log", f"--format={_REC_FMT}{_FIELDS_FMT}"]
    if first_parent:
        args.append("--first-parent")
    if since is not None:
        args.append(f"--since={(since if since.tzinfo else since.replace(tzinfo=timezone.utc)).isoformat()}")
    yield from _records(run_git(path, *args, ref, "--", text=False).stdout)


def commit_records(path: str | Path, shas: Iterable[str]) -> dict[str, CommitRecord]:
    """The commits among ``shas`` (all must be present), by id, with one ``git log``."""
    shas = [s for s in dict.fromkeys(shas) if s]
    if not shas:
        return {}
    out = run_git(path, "log", "--no-walk=unsorted", f"--format={_REC_FMT}{_FIELDS_FMT}", *shas, "--",
                  text=False).stdout
    return {r.sha: r for r in _records(out)}


def missing_commits(path: str | Path, shas: Iterable[str]) -> set[str]:
    """The commits among ``shas`` (ids, abbreviated ids or other revisions) the repository does not have."""
    shas = [s for s in dict.fromkeys(shas) if s]
    if not shas:
        return set()
    out = run_git(path, "cat-file", "--batch-check=%(objectname) %(objecttype)",
                  input="".join(f"{s}^{{commit}}\n" for s in shas)).stdout.splitlines()
    return {s for s, line in zip(shas, out) if not line.endswith(" commit")} | set(shas[len(out):])


def newest_commit(path: str | Path, shas: Iterable[str]) -> str:
    """The commit among ``shas`` with the newest committer date (ties: the greatest id; unknown ones count as oldest)."""
    shas = list(dict.fromkeys(shas))
    if len(shas) == 1:
        return shas[0]
    proc = run_git(path, "show", "-s", "--format=%H %ct", *shas, "--", check=False)
    dates = {}
    for line in proc.stdout.splitlines():
        sha, _, ct = line.partition(" ")
        if ct.strip().isdigit():
            dates[sha] = int(ct)
    full = {c: next((s for s in dates if s.startswith(c)), c) for c in shas}
    return max(shas, key=lambda c: (dates.get(full[c], 0), c))


def resolve_commit(path: str | Path, rev: str) -> str | None:
    """The commit id ``rev`` names, or None."""
    proc = run_git(path, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return proc.stdout.strip() or None


def first_parent_ancestor(path: str | Path, sha: str, depth: int) -> str | None:
    """``sha~depth`` along first parents, or None when history is shorter."""
    return resolve_commit(path, f"{sha}~{depth}")


def is_ancestor(path: str | Path, ancestor: str, commit: str) -> bool:
    """Whether ``ancestor`` is in the history of ``commit`` (a commit is its own ancestor)."""
    return run_git(path, "merge-base", "--is-ancestor", ancestor, commit, check=False).returncode == 0


def remote_url(path: str | Path, remote: str = "origin") -> str | None:
    """The configured URL of ``remote``, or None."""
    proc = run_git(path, "config", "--get", f"remote.{remote}.url", check=False)
    return proc.stdout.strip() or None


def messages(path: str | Path, base: str, head: str, max_count: int = 250) -> list[str]:
    """Messages of the commits in ``base..head`` (a PR's own commits), each decoded with
    :func:`decode_text`; [] when git cannot tell."""
    proc = run_git(path, "log", f"--max-count={max_count}", f"--format={_REC_FMT}%B", f"{base}..{head}", "--",
                   check=False, text=False)
    return [decode_text(m.strip())[0] for m in proc.stdout.split(_REC_BYTES) if m.strip()]


def diff_bytes(path: str | Path, base: str, head: str) -> bytes:
    """``base..head`` as a patch, as git printed it (renames detected, as :func:`first_parent_patches` prints it)."""
    return run_git(path, "diff", "-M", "--no-color", "--no-ext-diff", base, head, "--", text=False).stdout


def diff(path: str | Path, base: str, head: str) -> str:
    """:func:`diff_bytes` decoded with :func:`decode_text`."""
    return decode_text(diff_bytes(path, base, head))[0]


def first_parent_patch_bytes(path: str | Path, shas: list[str], batch: int = 256) -> dict[str, bytes]:
    """The patch of each commit against its first parent, as git printed it, with one ``git show`` per batch."""
    patches: dict[str, bytes] = {}
    for i in range(0, len(shas), batch):
        chunk = shas[i:i + batch]
        out = run_git(path, "show", "--diff-merges=first-parent", "-M", "--no-color", "--no-ext-diff",
                      f"--format={_REC_FMT}%H", *chunk, "--", text=False).stdout
        for part in out.split(_REC_BYTES):
            if not part:
                continue
            sha, _, patch = part.partition(b"\n")
            patches[sha.decode().strip()] = patch.lstrip(b"\n")
    return patches


def first_parent_patches(path: str | Path, shas: list[str], batch: int = 256) -> dict[str, str]:
    """:func:`first_parent_patch_bytes`, each patch decoded with :func:`decode_text`."""
    return {sha: decode_text(patch)[0] for sha, patch in first_parent_patch_bytes(path, shas, batch).items()}


def has_commits(path: str | Path, ref: str = "HEAD") -> bool:
    """Whether ``ref`` names a commit (False in an empty repository)."""
    return resolve_commit(path, ref) is not None


def shallow_commits(path: str | Path) -> set[str]:
    """The commits at a shallow clone's boundary (their parents are not in the clone); empty for a full clone."""
    proc = run_git(path, "rev-parse", "--path-format=absolute", "--git-path", "shallow", check=False)
    where = proc.stdout.strip()
    if proc.returncode != 0 or not where:
        return set()
    try:
        return {line.strip() for line in Path(where).read_text("ascii", "replace").splitlines() if line.strip()}
    except OSError:  # no such file: not shallow
        return set()


# --------------------------------------------------------------------------- source trees


def tree_tar(path: str | Path, commit: str) -> bytes:
    """A tar of the tree of ``commit`` (paths relative to the repository root, no prefix).

    Like ``git archive --format=tar <commit>`` but ignoring ``.gitattributes``:
    ``export-ignore`` (which some projects put on their tests) and
    ``export-subst`` do not apply. Submodules are left out, as ``git archive``
    does. File times are the commit time. Raises :class:`GitError`.
    """
    when = int(run_git(path, "show", "-s", "--format=%ct", f"{commit}^{{commit}}").stdout.strip() or 0)
    listing = run_git(path, "ls-tree", "-r", "-z", "--full-tree", commit, text=False).stdout
    entries = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, name = record.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind == b"blob":
            entries.append((mode, sha, os.fsdecode(name)))
    blobs = run_git(path, "cat-file", "--batch", input=b"".join(sha + b"\n" for _, sha, _ in entries),
                    text=False).stdout
    buf = io.BytesIO()
    pos = 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for mode, sha, name in entries:
            end = blobs.index(b"\n", pos)
            header = blobs[pos:end].split()
            if len(header) < 3:  # "<sha> missing": the clone lacks the object
                raise GitError(f"blob {sha.decode()} of {name} at {commit} is missing in {path} (is the clone complete?)")
            size = int(header[2])
            data = blobs[end + 1: end + 1 + size]
            pos = end + 1 + size + 1
            info = tarfile.TarInfo(name)
            info.mtime = when
            if mode == b"120000":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.fsdecode(data), 0o777
                tar.addfile(info)
            else:
                info.size, info.mode = size, 0o755 if mode == b"100755" else 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# --------------------------------------------------------------------------- commit facts


@dataclass
class CommitInfo:
    """What a recipe range is matched against."""

    sha: str
    date: datetime | None = None
    version: str | None = None  # of the nearest release tag at or before the commit
    contains: Callable[[str], bool] | None = field(default=None, repr=False)  # the given commit is in its history


def tag_version(tag: str) -> str | None:
    """``v1.2.3`` / ``1.2.3`` / ``project-1.2`` -> a PEP 440 version, or None."""
    from packaging.version import InvalidVersion, Version

    m = re.search(r"(\d+(?:\.\d+)+(?:[._-]?(?:a|b|rc|post|dev)\.?\d*)*)$", tag.strip())
    if not m:
        return None
    try:
        return str(Version(m.group(1)))
    except InvalidVersion:
        return None


def commit_info(path: str | Path, commit: str) -> CommitInfo:
    """The committer date of ``commit``, the version of the newest release tag in its
    history (``git tag --merged``, newest created first, the first that reads as a
    version) and an ancestry test. Unknown facts are None; nothing raises."""

    def out(*args: str) -> str | None:
        proc = run_git(path, *args, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    when = out("show", "-s", "--format=%cI", f"{commit}^{{commit}}")
    tags = out("tag", "--merged", commit, "--sort=-creatordate") or ""
    version = next((v for t in tags.splitlines() if (v := tag_version(t))), None)
    return CommitInfo(commit, datetime.fromisoformat(when) if when else None, version,
                      lambda other: is_ancestor(path, other, commit))


# --------------------------------------------------------------------------- clone cache


class GitCache:
    """Bare clones of mined repositories, kept under ``--repos-dir`` and fetched incrementally.

    ``<repos-dir>/<owner>__<name>`` is a bare repository whose ``refs/heads/*``
    mirror the remote's branches; PR heads that are not on any branch (squash and
    rebase merges) are fetched on demand into ``refs/pull/N/head``. Diffs are
    computed from the clone, never over the API. Clone URLs are taken as given
    (``file://`` in tests); credentials are never put in them, and git never
    prompts. Failures raise :class:`GitError`.
    """

    def __init__(self, repos_dir: str | Path):
        self.root = Path(repos_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.fetches = 0  # git network operations, for the report

    def path(self, repo: str) -> Path:
        return self.root / repo_slug(repo)

    def sync(self, repo: str, url: str, default_branch: str | None = None) -> Path:
        """Clone (first time) or fetch (later) ``url`` into the cache; returns the bare repository's path."""
        path = self.path(repo)
        if not (path / "HEAD").exists():
            path.mkdir(parents=True, exist_ok=True)
            run_git(path, "init", "--bare", "--quiet")
            run_git(path, "remote", "add", "origin", url)
            run_git(path, "config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*")
            run_git(path, "config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*")
        else:
            current = run_git(path, "remote", "get-url", "origin").stdout.strip()
            if current != url:
                run_git(path, "remote", "set-url", "origin", url)
        self.fetches += 1
        run_git(path, "fetch", "--quiet", "--no-write-fetch-head", "origin")
        if default_branch:
            run_git(path, "symbolic-ref", "HEAD", f"refs/heads/{default_branch}")
        return path

    def refresh(self, repo: str) -> None:
        self.fetches += 1
        run_git(self.path(repo), "fetch", "--quiet", "--no-write-fetch-head", "origin")

    def missing(self, repo: str, shas: list[str]) -> set[str]:
        """The commits among ``shas`` the clone does not have."""
        return missing_commits(self.path(repo), shas)

    def fetch_pull_heads(self, repo: str, numbers: list[int]) -> None:
        """``refs/pull/N/head`` for each PR, in one fetch; refs the remote lacks are skipped."""
        if not numbers:
            return
        self.fetches += 1
        specs = [f"+refs/pull/{n}/head:refs/pull/{n}/head" for n in sorted(set(numbers))]
        proc = run_git(self.path(repo), "fetch", "--quiet", "--no-write-fetch-head", "origin", *specs, check=False)
        if proc.returncode != 0:  # one missing ref fails the whole fetch: fall back to one by one
            for spec in specs:
                run_git(self.path(repo), "fetch", "--quiet", "--no-write-fetch-head", "origin", spec, check=False)

    def fetch_commits(self, repo: str, shas: list[str]) -> None:
        """Fetch commits by id (GitHub serves any reachable commit; other remotes may refuse)."""
        if shas:
            self.fetches += 1
            run_git(self.path(repo), "fetch", "--quiet", "--no-write-fetch-head", "origin", *shas, check=False)

    def commits(self, repo: str, shas: list[str]) -> dict[str, CommitRecord]:
        return commit_records(self.path(repo), shas)

    def messages(self, repo: str, base: str, head: str, max_count: int = 250) -> list[str]:
        """Messages of the commits in ``base..head`` (a PR's own commits)."""
        return messages(self.path(repo), base, head, max_count)

    def first_parent_ancestor(self, repo: str, sha: str, depth: int) -> str | None:
        """``sha~depth`` along first parents, or None when history is shorter."""
        return first_parent_ancestor(self.path(repo), sha, depth)

    def patches(self, repo: str, shas: list[str]) -> dict[str, str]:
        """First-parent patches of the commits (see :func:`first_parent_patches`)."""
        return first_parent_patches(self.path(repo), shas)

    def patch_bytes(self, repo: str, shas: list[str]) -> dict[str, bytes]:
        """First-parent patches of the commits, as git printed them (see :func:`first_parent_patch_bytes`)."""
        return first_parent_patch_bytes(self.path(repo), shas)

    def diff(self, repo: str, base: str, head: str) -> str:
        """``base..head`` as the local miner's ``git show`` prints it (for rebase merges of several commits)."""
        return diff(self.path(repo), base, head)

    def diff_bytes(self, repo: str, base: str, head: str) -> bytes:
        """:meth:`diff` as git printed it."""
        return diff_bytes(self.path(repo), base, head)
