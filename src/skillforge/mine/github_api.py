"""A counting, rate-limit-aware layer over PyGithub's ``Requester``.

Every request goes through a PyGithub ``Requester`` (so ``base_url`` --
``--api-url`` for GitHub Enterprise --, authentication, the User-Agent, request
pacing and the ``urllib3.Retry`` for connection errors are PyGithub's own), and
this layer adds what mining at scale needs:

* **accounting** -- every HTTP attempt is counted, by kind, with 304s and retries
  apart, and the GraphQL points GitHub reports;
* **conditional requests** -- REST GETs go through ``requests-cache``
  (:mod:`.http_cache`, one on-disk cache per token): they send the ``ETag`` of
  the cached response, and a ``304`` (free of rate limit) is answered from the
  cache and counted apart; GraphQL POSTs are never cached;
* **token rotation** -- each token has its own requester and its own view of the
  limits (``X-RateLimit-*`` per resource: core, graphql, search); a request goes
  to the token with the most left, so several tokens take turns;
* **primary rate limit** -- when every token is spent for a resource the layer
  waits until the reset with a visible countdown, then resumes;
* **secondary limits and 5xx** -- retried with exponential backoff (honouring
  ``Retry-After``), then a :class:`ApiError` naming the repository, the path and
  the status.

HTTP statuses are retried here rather than inside ``urllib3`` so that every
attempt is counted and every wait is visible; ``urllib3.Retry`` (passed to
PyGithub as ``retry=``) still retries connection and read errors.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

import requests
from github import Auth, Github
from github.Requester import Requester
from rich.console import Console
from rich.errors import LiveError
from urllib3.util.retry import Retry

from skillforge.mine.http_cache import HttpCache, TokenCache
from skillforge.mine.local import MineError
from skillforge.mine.tokens import token_fingerprint, token_label

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
Progress = Callable[[str, dict], None]


@dataclass
class RetryPolicy:
    """How hard to try. The defaults suit github.com; tests shrink the delays."""

    attempts: int = 6                  # attempts for one request failing with 5xx / secondary limits
    backoff: float = 2.0               # first delay; doubles each attempt
    max_backoff: float = 120.0
    secondary_wait: float = 60.0       # GitHub asks for at least a minute when no Retry-After is given
    max_rate_wait: float | None = None  # longest primary-limit wait; beyond it, stop with ApiError (state is saved)
    reset_margin: float = 1.0          # seconds added to X-RateLimit-Reset (a whole second, not an instant)
    pacing: float | None = 0.25        # seconds between requests (PyGithub's seconds_between_requests)
    timeout: int = 60
    connect_retries: int = 3           # urllib3.Retry for connection/read errors


@dataclass
class RequestStats:
    total: int = 0                     # HTTP requests sent, retries included
    not_modified: int = 0              # 304s (free of rate limit)
    retries: int = 0                   # attempts after a failed one
    by_kind: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    graphql_points: int = 0            # rateLimit.cost GitHub reported
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    backoff_waits: int = 0
    backoff_seconds: float = 0.0
    token_switches: int = 0

    @property
    def charged(self) -> int:
        """Requests that count against a rate limit (304s do not)."""
        return self.total - self.not_modified

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "not_modified": self.not_modified, "charged": self.charged, "retries": self.retries,
            "by_kind": dict(sorted(self.by_kind.items())), "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "graphql_points": self.graphql_points, "rate_limit_waits": self.rate_limit_waits,
            "rate_limit_wait_seconds": round(self.rate_limit_wait_seconds, 1), "backoff_waits": self.backoff_waits,
            "backoff_seconds": round(self.backoff_seconds, 1), "token_switches": self.token_switches,
        }


class ApiError(MineError):
    def __init__(self, message: str, *, status: int | None = None, path: str = "", repo: str | None = None):
        super().__init__(message)
        self.status, self.path, self.repo = status, path, repo


class NotFound(ApiError):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, Any]
    data: Any
    from_cache: bool = False

    @property
    def next_url(self) -> str | None:
        return next_link(self.headers.get("link"))


_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')


def next_link(header: str | None) -> str | None:
    for url, rel in _LINK.findall(header or ""):
        if rel == "next":
            return url
    return None


def _resource_for(url: str) -> str:
    path = urlparse(url).path
    if path.endswith("/graphql"):
        return "graphql"
    if "/search/" in path:
        return "search"
    return "core"


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class _Client:
    """One token (or none): a PyGithub instance and what we know of its limits."""

    def __init__(self, index: int, count: int, token: str | None, api_url: str, policy: RetryPolicy,
                 cache: HttpCache | None = None):
        self.label = token_label(index, count)
        self.fingerprint = token_fingerprint(token)
        retry = Retry(total=policy.connect_retries, connect=policy.connect_retries, read=policy.connect_retries,
                      status=0, other=0, backoff_factor=0.5, allowed_methods=None, status_forcelist=(),
                      raise_on_status=False, respect_retry_after_header=False)
        self.github = Github(auth=Auth.Token(token) if token else None, base_url=api_url.rstrip("/"),
                             timeout=policy.timeout, retry=retry, per_page=100, user_agent="skillforge-miner",
                             seconds_between_requests=policy.pacing, seconds_between_writes=policy.pacing)
        self.requester = self.github.requester
        self.cache: TokenCache | None = cache.for_token(self.fingerprint) if cache else None
        if self.cache is not None:
            _use_connection_class(self.requester, self.cache)
        self.limits: dict[str, tuple[int, float]] = {}
        self.uses = 0
        self.disabled: str | None = None

    def update(self, headers: dict[str, Any], resource: str) -> None:
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if remaining is None or reset is None:
            return
        try:
            self.limits[headers.get("x-ratelimit-resource") or resource] = (int(float(remaining)), float(reset))
        except ValueError:
            pass

    def remaining(self, resource: str) -> float:
        value = self.limits.get(resource)
        return float("inf") if value is None else value[0]

    def reset_at(self, resource: str) -> float:
        value = self.limits.get(resource)
        return value[1] if value else 0.0

    def exhausted(self, resource: str, now: float) -> bool:
        value = self.limits.get(resource)
        return value is not None and value[0] <= 0 and value[1] > now

    def close(self) -> None:
        for close in (self.github.close, self.cache.close if self.cache is not None else None):
            try:
                if close is not None:
                    close()
            except Exception:  # pragma: no cover - closing is best effort
                pass


# PyGithub 2.10's Requester picks its connection class (HTTPSRequestsConnectionClass or
# HTTPRequestsConnectionClass, each holding the requests.Session it sends through) in __init__
# and keeps it in the name-mangled attribute ``__connectionClass``; the connection itself is made
# lazily, on the first request. That attribute is the only per-instance hook: the public
# ``Requester.injectConnectionClasses`` is class-wide (every Github instance in the process) and
# turns connection reuse off. If PyGithub renames it, fail here rather than mine uncached.
_CONNECTION_CLASS = "_Requester__connectionClass"


def _use_connection_class(requester: Requester, cache: TokenCache) -> None:
    """Make ``requester`` send through ``cache`` (a requests-cache session in its connection)."""
    base = getattr(requester, _CONNECTION_CLASS, None)
    if not isinstance(base, type) or getattr(requester, "_Requester__connection", None) is not None:
        raise RuntimeError(f"PyGithub's Requester has no {_CONNECTION_CLASS} (or already has a connection); "
                           f"skillforge's HTTP cache needs updating for this PyGithub version")
    setattr(requester, _CONNECTION_CLASS, cache.connection_class(base))


class GithubApi:
    """Counting, caching, rotating access to GitHub's REST and GraphQL APIs."""

    def __init__(self, api_url: str = DEFAULT_API_URL, tokens: list[str] | None = None, *,
                 cache: HttpCache | None = None, policy: RetryPolicy | None = None,
                 progress: Progress | None = None, console: Console | None = None):
        self.api_url = api_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        tokens = [t for t in (tokens or []) if t]
        self.cache = cache or HttpCache(None)
        self.clients = [_Client(i, len(tokens), t, self.api_url, self.policy, self.cache)
                        for i, t in enumerate(tokens)] or [_Client(0, 0, None, self.api_url, self.policy, self.cache)]
        self.progress = progress
        self.console = console or Console(stderr=True, highlight=False)
        self.stats = RequestStats()
        self._last: dict[str, _Client] = {}

    @property
    def graphql_url(self) -> str:
        return self.clients[0].requester.graphql_url

    def close(self) -> None:
        for client in self.clients:
            client.close()

    # -- waiting ------------------------------------------------------------
    def _emit(self, event: str, info: dict) -> None:
        if self.progress:
            self.progress(event, info)

    def _sleep_visible(self, seconds: float, message: str) -> None:
        """Sleep with a countdown: a live status line on a terminal, periodic lines in CI logs."""
        end = time.monotonic() + seconds
        if self.console.is_terminal:
            try:
                with self.console.status(f"{message}: {_fmt_seconds(seconds)} left") as status:
                    while (left := end - time.monotonic()) > 0:
                        status.update(f"{message}: {_fmt_seconds(left)} left")
                        time.sleep(min(1.0, left))
                return
            except LiveError:  # the caller already shows a live display on this console: print lines instead
                pass
        next_line = 0.0
        while (left := end - time.monotonic()) > 0:
            if time.monotonic() >= next_line:
                self.console.print(f"{message}: {_fmt_seconds(left)} left")
                next_line = time.monotonic() + (10.0 if left > 60 else 5.0)
            time.sleep(min(1.0, left))

    def _pick(self, resource: str, repo: str | None, prefer: Callable[[_Client], bool] | None = None) -> _Client:
        while True:
            now = time.time()
            live = [c for c in self.clients if not c.disabled]
            if not live:
                reasons = "; ".join(f"{c.label}: {c.disabled}" for c in self.clients)
                raise ApiError(f"no usable GitHub token ({reasons})", repo=repo)
            usable = [c for c in live if not c.exhausted(resource, now)]
            if usable:
                preferred = [c for c in usable if prefer(c)] if prefer else []
                pool = preferred or usable
                client = max(pool, key=lambda c: (c.remaining(resource), -c.uses))
                last = self._last.get(resource)
                if last is not None and last is not client:
                    self.stats.token_switches += 1
                self._last[resource] = client
                return client
            reset = min(c.reset_at(resource) for c in live)
            wait = max(0.0, reset - now) + self.policy.reset_margin
            until = datetime.fromtimestamp(reset, timezone.utc).strftime("%H:%M:%S UTC")
            if self.policy.max_rate_wait is not None and wait > self.policy.max_rate_wait:
                raise ApiError(f"{repo or 'GitHub'}: {resource} rate limit exhausted for every token until {until}; "
                               f"progress is saved, rerun after the reset", repo=repo)
            who = live[0].label if len(live) == 1 else f"all {len(live)} tokens"
            message = f"GitHub {resource} rate limit reached ({who}); resuming at {until}"
            log.info("%s (waiting %.0fs)", message, wait)
            self.stats.rate_limit_waits += 1
            self.stats.rate_limit_wait_seconds += wait
            self._emit("rate_limit_wait", {"resource": resource, "seconds": wait, "reset": reset, "repo": repo})
            self._sleep_visible(wait, message)
            for c in live:
                if c.reset_at(resource) <= time.time():
                    c.limits.pop(resource, None)

    # -- requests -----------------------------------------------------------
    def request(self, verb: str, url: str, *, kind: str, repo: str | None = None, params: dict | None = None,
                body: Any = None, cached: bool = False, shrink: Callable[[Any], Any] | None = None) -> Response:
        """One logical request, retried as needed. ``cached`` GETs are conditional."""
        resource = _resource_for(url)
        path = urlparse(url).path
        conditional = cached and verb == "GET"
        absolute = self._absolute_url(url, params) if conditional else ""
        failures = 0
        attempts = 0
        while True:
            # a token that has the response cached can get a free 304
            prefer = (lambda c: c.cache is not None and c.cache.contains(absolute)) if conditional else None
            client = self._pick(resource, repo, prefer)
            if client.cache is not None:
                client.cache.use = conditional  # requests-cache adds If-None-Match / If-Modified-Since
            headers: dict[str, str] = {"Accept": "application/vnd.github+json"}
            self.stats.total += 1
            self.stats.by_kind[kind] += 1
            if attempts:
                self.stats.retries += 1
            attempts += 1
            client.uses += 1
            try:
                status, rheaders, output = client.requester.requestJson(verb, url, params, headers, body)
            except requests.RequestException as e:  # urllib3 already retried the connection
                status, rheaders, output, error = None, {}, "", type(e).__name__
            else:
                error = ""
            outcome = client.cache.last if client.cache is not None and status is not None else None
            revalidated = outcome is not None and outcome.from_cache and outcome.revalidated
            # requests-cache answers a 304 with the cached 200 (its body and Link, the 304's headers merged in)
            self.stats.by_status[304 if revalidated else status or "error"] += 1
            client.update(rheaders, resource)
            data = _parse(output)

            if revalidated:
                self.stats.not_modified += 1
                return Response(200, rheaders, data, from_cache=True)
            if status is not None and 200 <= status < 300:
                if resource == "graphql" and isinstance(data, dict) and data.get("errors"):
                    types = {e.get("type") for e in data["errors"] if isinstance(e, dict)}
                    if "RATE_LIMITED" in types:
                        self._primary_limited(client, resource, rheaders)
                        continue
                    if data.get("data") is None:
                        message = "; ".join(str(e.get("message", e)) for e in data["errors"])[:300]
                        if "something went wrong" in message.lower() or "timeout" in message.lower():
                            status, error = 502, message  # GitHub's way of saying the query timed out
                        else:
                            raise ApiError(f"{repo or 'GitHub'}: GraphQL query {kind} failed: {message}",
                                           status=status, path=path, repo=repo)
                    else:
                        return Response(status, rheaders, data)
                else:
                    return Response(status, rheaders, data)

            message = data.get("message", "") if isinstance(data, dict) else ""
            lower = str(message).lower()
            retry_after = _retry_after(rheaders)
            if status in (403, 429):
                remaining = rheaders.get("x-ratelimit-remaining")
                reset = float(rheaders.get("x-ratelimit-reset") or 0)
                primary = lower.startswith(("api rate limit exceeded", "api rate limit already exceeded")) or \
                    (remaining == "0" and retry_after is None and "secondary" not in lower)
                if primary and reset > time.time():
                    self._primary_limited(client, resource, rheaders)
                    continue
                secondary = primary or retry_after is not None or "secondary rate limit" in lower or "abuse" in lower
                if not secondary:
                    raise ApiError(f"{repo or 'GitHub'}: GitHub API {verb} {path} failed with {status}: {message}",
                                   status=status, path=path, repo=repo)
            elif status == 401:
                client.disabled = f"401 {message or 'Bad credentials'}"
                log.warning("GitHub rejected %s (401); it is left out for the rest of the run", client.label)
                continue
            elif status == 404:
                raise NotFound(f"{repo or 'GitHub'}: {verb} {path} not found (404)", status=404, path=path, repo=repo)
            elif status is not None and status not in RETRYABLE_STATUSES:
                raise ApiError(f"{repo or 'GitHub'}: GitHub API {verb} {path} failed with {status}: {message or output[:200]}",
                               status=status, path=path, repo=repo)

            failures += 1
            what = f"{status}" if status else error
            if failures >= self.policy.attempts:
                raise ApiError(f"{repo or 'GitHub'}: GitHub API {verb} {path} failed with {what} "
                               f"after {failures} attempts; progress is saved, rerun to resume",
                               status=status, path=path, repo=repo)
            delay = min(self.policy.max_backoff, self.policy.backoff * 2 ** (failures - 1))
            if status in (403, 429):
                delay = retry_after if retry_after is not None else max(delay, self.policy.secondary_wait)
            self.stats.backoff_waits += 1
            self.stats.backoff_seconds += delay
            self._emit("retry", {"status": status, "path": path, "attempt": failures, "delay": delay, "repo": repo})
            self._sleep_visible(delay, f"GitHub answered {what} to {verb} {path} (attempt {failures}/{self.policy.attempts}); retrying")
            if shrink is not None and status in (502, 504):
                body = shrink(body)

    def _absolute_url(self, url: str, params: dict | None) -> str:
        """The URL PyGithub will request (its ``__makeAbsoluteUrl`` + parameters), to look up the caches."""
        base = urlparse(self.api_url)
        o = urlparse(url)
        path = base.path.rstrip("/") + url if url.startswith("/") else o.path + (f"?{o.query}" if o.query else "")
        return f"{base.scheme}://{base.netloc}{Requester.add_parameters_to_url(path, params or {})}"

    def _primary_limited(self, client: _Client, resource: str, headers: dict[str, Any]) -> None:
        """GitHub refused for the primary limit: this token waits for the reset (at least a second)."""
        try:
            reset = float(headers.get("x-ratelimit-reset") or 0)
        except ValueError:
            reset = 0.0
        if reset <= time.time():  # no reset given, or one already past by our clock: GitHub's second is coarse
            reset = time.time() + (1.0 if reset else 60.0)
        client.limits[headers.get("x-ratelimit-resource") or resource] = (0, reset)

    def get(self, path: str, *, kind: str, repo: str | None = None, params: dict | None = None,
            cached: bool = True) -> Response:
        return self.request("GET", path, kind=kind, repo=repo, params=params, cached=cached)

    def pages(self, path: str, *, kind: str, repo: str | None = None, params: dict | None = None,
              max_pages: int | None = None) -> Iterator[Response]:
        """A REST listing, page by page, following ``Link: rel="next"``."""
        response = self.get(path, kind=kind, repo=repo, params=params)
        count = 1
        yield response
        while (url := response.next_url) and (max_pages is None or count < max_pages):
            response = self.get(url, kind=kind, repo=repo)
            count += 1
            yield response

    def graphql(self, query: str, variables: dict[str, Any], *, kind: str = "graphql", repo: str | None = None,
                shrink: Callable[[dict], dict] | None = None) -> tuple[dict[str, Any], list[dict]]:
        """``(data, errors)``; partial errors (NOT_FOUND on an alias) come back with the data."""
        body = {"query": query, "variables": variables}

        def shrink_body(b: dict) -> dict:
            return {"query": b["query"], "variables": shrink(b["variables"])} if shrink else b

        response = self.request("POST", self.graphql_url, kind=kind, repo=repo, body=body,
                                shrink=shrink_body if shrink else None)
        payload = response.data if isinstance(response.data, dict) else {}
        data = payload.get("data") or {}
        cost = (data.get("rateLimit") or {}).get("cost")
        if isinstance(cost, int):
            self.stats.graphql_points += cost
        return data, list(payload.get("errors") or [])


def _parse(output: Any) -> Any:
    if not output:
        return None
    if isinstance(output, bytes):
        output = output.decode("utf-8", errors="replace")
    try:
        return json.loads(output)
    except ValueError:
        return {"message": output[:200]}


def _retry_after(headers: dict[str, Any]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
