"""Conditional GitHub REST requests, cached on disk by ``requests-cache``.

A REST ``GET`` that the miner marks ``cached`` is kept, with its ``ETag`` /
``Last-Modified``, by :mod:`requests_cache`; the next identical request sends
``If-None-Match`` / ``If-Modified-Since`` and a ``304 Not Modified`` -- which
GitHub does not charge against the rate limit -- is answered from the cache, with
the 304's headers (the rate limits) merged into the cached ones. Every cached GET
still asks GitHub (``always_revalidate``, responses expire at once); responses
without a validator are not kept.

This module only plugs ``requests-cache`` into PyGithub: a
:class:`requests_cache.CachedSession` replaces the plain ``requests.Session`` of
the connection PyGithub's ``Requester`` sends through (see
:meth:`TokenCache.connection_class`). Each token has its own cache folder,
``<root>/<token fingerprint>/`` (GitHub's answers ``Vary: Authorization``), so the
token is never part of a key, and ``requests-cache`` redacts the
``Authorization`` header from what it writes: the token never reaches the disk.
Entries are JSON files (the ``filesystem`` backend); one that cannot be read (a
run killed mid-write) is a cache miss.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests_cache import EXPIRE_IMMEDIATELY, CachedSession, FileCache


@dataclass
class Outcome:
    """How ``requests-cache`` answered the last request (PyGithub's response wrapper loses it)."""

    from_cache: bool = False   # the body came from the cache
    revalidated: bool = False  # ... after GitHub answered 304 Not Modified


class HttpCache:
    """The folder of per-token caches; ``HttpCache(None)`` caches nothing."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root else None
        if self.root:
            self.root.mkdir(parents=True, exist_ok=True)

    def for_token(self, fingerprint: str) -> TokenCache | None:
        """The cache of one token (by :func:`~skillforge.mine.tokens.token_fingerprint`), or None."""
        return TokenCache(self.root / fingerprint) if self.root else None


class TokenCache:
    """One token's cache: the ``requests-cache`` backend and the connection class that uses it.

    The caller sets :attr:`use` before each request (only REST GETs it wants
    conditional) and reads :attr:`last` after it.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.backend = FileCache(self.directory, serializer="json", decode_content=True)
        self.use = False
        self.last = Outcome()

    def session(self, original: requests.Session) -> CachedSession:
        """``original`` (auth, adapters with PyGithub's ``urllib3.Retry``, hooks...) with caching."""
        session = CachedSession.wrap(
            original,
            backend=self.backend,
            expire_after=EXPIRE_IMMEDIATELY,  # stored only with a validator, and revalidated on every use
            always_revalidate=True,
            cache_control=False,               # ignore GitHub's max-age=60: never answer without asking
            allowable_methods=("GET",),        # GraphQL POSTs are never cached
            allowable_codes=(200,),
            stale_if_error=False,
            autoclose=False,                   # the backend outlives a connection; closed by close()
        )
        session.hooks["response"] = [*session.hooks.get("response", []), _drop_authorization_from_vary]
        return session

    def contains(self, url: str) -> bool:
        """Whether a GET of this absolute URL has an entry (query order does not matter)."""
        return self.backend.contains(url=url)

    def connection_class(self, base: type) -> type:
        """A subclass of PyGithub's connection class ``base`` that sends through this cache."""
        cache = self

        class CachedConnection(base):  # type: ignore[misc,valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.session = cache.session(self.session)

            def getresponse(self) -> Any:
                cache.last = Outcome()
                with nullcontext() if cache.use else self.session.cache_disabled():
                    response = super().getresponse()
                raw = response.response  # PyGithub's RequestsResponse wraps the requests response
                cache.last = Outcome(bool(getattr(raw, "from_cache", False)), bool(getattr(raw, "revalidated", False)))
                return response

        CachedConnection.__name__ = CachedConnection.__qualname__ = f"Cached{base.__name__}"
        return CachedConnection

    def close(self) -> None:
        self.backend.close()


def _drop_authorization_from_vary(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Take ``Authorization`` out of ``Vary`` before ``requests-cache`` stores (or merges) the response.

    GitHub answers ``Vary: Accept, Authorization, Cookie, X-GitHub-OTP``.
    ``requests-cache`` redacts ``Authorization`` (it is in its default
    ``ignored_parameters``, which keeps the token off the disk) and so fails the
    ``Vary`` check of every cached response that varies on it ("Vary header(s)
    are in ignored_parameters"), i.e. treats it as a miss. (requests-cache 1.3.3
    with ``always_revalidate`` happens to add ``If-None-Match`` after that failed
    check all the same, so 304s would still come; we do not rely on it.) Each
    token has its own cache folder, so the variation by ``Authorization`` is
    already kept apart. As a ``requests`` response hook this runs inside
    ``requests.Session.send``, i.e. before ``CacheMixin._send_and_cache`` saves a
    200 or merges a 304's headers (GitHub's 304s carry ``Vary`` too) into the
    cached response.
    """
    vary = response.headers.get("Vary")
    if vary:
        kept = [v.strip() for v in vary.split(",") if v.strip() and v.strip().lower() != "authorization"]
        if kept:
            response.headers["Vary"] = ", ".join(kept)
        else:
            del response.headers["Vary"]
    return response
