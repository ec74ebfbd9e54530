"""Conditional REST requests through requests-cache, against the loopback GitHub."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from github import Github
from github.Requester import HTTPRequestsConnectionClass, Requester
from requests_cache import CachedSession
from requests_cache.cache_keys import normalize_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import github_replay as gr  # noqa: E402

from skillforge.mine.github import GraphQLLimits, RetryPolicy, mine_github  # noqa: E402
from skillforge.mine.github_api import ApiError, GithubApi, _use_connection_class  # noqa: E402
from skillforge.mine.http_cache import HttpCache, TokenCache  # noqa: E402
from skillforge.mine.tokens import token_fingerprint  # noqa: E402
from skillforge.workspace import Workspace  # noqa: E402

TOKEN_A = "ghp_cacheAAAA0000aaaa"
TOKEN_B = "ghp_cacheBBBB1111bbbb"
FAST = RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.2, secondary_wait=1.0, pacing=None, timeout=10,
                   reset_margin=0.1)
REPO = "acme/widgets"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return gr.build_world(tmp_path_factory.mktemp("remote"), n_prs=30)


@pytest.fixture
def server(world):
    with gr.ReplayServer(world[1], tokens=[TOKEN_A, TOKEN_B]) as srv:
        yield srv


class VaryingServer(gr.ReplayServer):
    """GitHub's ``Vary`` on every answer, 304s included (so requests-cache merges it into the cached one)."""

    def _answer(self, *args, **kwargs):
        status, body, headers = super()._answer(*args, **kwargs)
        if status in (200, 304):
            headers = {**headers, "Vary": "Accept, Authorization, Cookie"}
        return status, body, headers


def entries(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in root.rglob("*.json")]


def test_vary_authorization_still_gives_304s_from_the_cache(world, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="requests_cache")
    with VaryingServer(world[1], tokens=[TOKEN_A]) as srv:
        api = GithubApi(srv.url, [TOKEN_A], cache=HttpCache(tmp_path / "cache"), policy=FAST)
        first = api.get(f"/repos/{REPO}", kind="rest:repo")
        assert not first.from_cache
        second = api.get(f"/repos/{REPO}", kind="rest:repo")
        third = api.get(f"/repos/{REPO}", kind="rest:repo")  # after the 304's own Vary was merged in
        api.close()
        assert second.from_cache and third.from_cache and third.data == second.data == first.data
        assert srv.count("repo", status=200) == 1 and srv.count("repo", status=304) == 2
        assert api.stats.not_modified == 2 and api.stats.by_status[304] == 2 and api.stats.charged == 1
        (stored,) = entries(tmp_path / "cache")
        assert stored["headers"]["Vary"] == "Accept, Cookie"
        assert stored["request"]["headers"]["Authorization"] == "REDACTED"
    assert "Vary check" not in caplog.text  # requests-cache's Vary check passed: a hit, not a miss + revalidation


def test_one_cache_folder_per_token_and_no_token_on_disk(server, tmp_path):
    root = tmp_path / "cache"
    for token in (TOKEN_A, TOKEN_B):
        api = GithubApi(server.url, [token], cache=HttpCache(root), policy=FAST)
        assert not api.get(f"/repos/{REPO}", kind="rest:repo").from_cache  # B does not see A's entry
        assert api.get(f"/repos/{REPO}", kind="rest:repo").from_cache
        api.close()
    assert sorted(p.name for p in root.iterdir()) == sorted([token_fingerprint(TOKEN_A), token_fingerprint(TOKEN_B)])
    assert server.count("repo", status=304, token=TOKEN_A) == 1 and server.count("repo", status=304, token=TOKEN_B) == 1
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files) and any(p.suffix == ".sqlite" for p in files)
    for path in files:
        data = path.read_bytes()
        for token in (TOKEN_A, TOKEN_B):
            assert token.encode() not in data, path


def test_a_token_with_the_response_cached_is_preferred(server, tmp_path):
    cache = HttpCache(tmp_path / "cache")
    warm = GithubApi(server.url, [TOKEN_A], cache=cache, policy=FAST)
    warm.get(f"/repos/{REPO}", kind="rest:repo", params={"x": "1", "y": "2"})
    warm.close()
    server.reset_log()
    api = GithubApi(server.url, [TOKEN_B, TOKEN_A], cache=cache, policy=FAST)  # B would be first otherwise
    response = api.get(f"/repos/{REPO}?y=2", kind="rest:repo", params={"x": "1"})  # same query, other order
    assert response.from_cache
    assert server.count(token=TOKEN_A, status=304) == 1 and server.count(token=TOKEN_B) == 0
    assert not api.get(f"/repos/{REPO}/license", kind="rest:license").from_cache  # no entry anywhere: B
    assert server.count("license", token=TOKEN_B) == 1
    api.close()


def test_304_rate_limit_headers_update_the_limits(server, tmp_path):
    api = GithubApi(server.url, [TOKEN_A], cache=HttpCache(tmp_path / "cache"), policy=FAST)
    first = api.get(f"/repos/{REPO}", kind="rest:repo")
    server.set_rate(TOKEN_A, "core", remaining=42, reset_in=600)
    second = api.get(f"/repos/{REPO}", kind="rest:repo")
    assert second.from_cache and second.data == first.data
    assert second.headers["x-ratelimit-remaining"] == "42" and api.clients[0].remaining("core") == 42
    assert second.headers.get("etag") == first.headers.get("etag")
    api.close()


def test_cached_pages_keep_their_link_header(server, tmp_path):
    api = GithubApi(server.url, [TOKEN_A], cache=HttpCache(tmp_path / "cache"), policy=FAST)
    params = {"state": "closed", "per_page": 10}
    first = list(api.pages(f"/repos/{REPO}/pulls", kind="rest:pulls", params=params))
    second = list(api.pages(f"/repos/{REPO}/pulls", kind="rest:pulls", params=params))
    n = -(-len(server.repos[REPO].prs) // 10)
    assert n > 1 and len(first) == len(second) == n and all(p.from_cache for p in second)
    assert [p.data for p in second] == [p.data for p in first]
    assert [p.next_url for p in second] == [p.next_url for p in first]
    assert server.count("pulls", status=304) == n and api.stats.not_modified == n
    api.close()


def test_uncached_gets_and_graphql_posts_are_never_cached(server, tmp_path):
    root = tmp_path / "cache"
    api = GithubApi(server.url, [TOKEN_A], cache=HttpCache(root), policy=FAST)
    for _ in range(2):
        assert not api.get(f"/repos/{REPO}", kind="rest:repo", cached=False).from_cache
    assert entries(root) == []
    api.get(f"/repos/{REPO}", kind="rest:repo")  # now an entry exists...
    assert not api.get(f"/repos/{REPO}", kind="rest:repo", cached=False).from_cache  # ...and is not used
    assert server.count("repo", status=200) == 4 and server.count("repo", status=304) == 0
    api.close()
    ws = Workspace(tmp_path / "ws")
    summary = mine_github(ws, [REPO], api_url=server.url, repos_dir=tmp_path / "repos", tokens=[TOKEN_A], retry=FAST,
                          limits=GraphQLLimits(page=20))
    assert summary.stored and server.count("graphql:pulls") >= 1
    stored = entries(ws.root / "http-cache")
    assert stored and {e["request"]["method"] for e in stored} == {"GET"}
    assert not any(e["url"].endswith("/graphql") for e in stored)


def test_an_unreadable_entry_is_a_miss(server, tmp_path):
    root = tmp_path / "cache"
    api = GithubApi(server.url, [TOKEN_A], cache=HttpCache(root), policy=FAST)
    api.get(f"/repos/{REPO}", kind="rest:repo")
    (path,) = root.rglob("*.json")
    path.write_text(path.read_text()[:40])  # a run killed mid-write
    assert not api.get(f"/repos/{REPO}", kind="rest:repo").from_cache
    assert api.get(f"/repos/{REPO}", kind="rest:repo").from_cache
    api.close()


def test_without_a_cache_root_pygithub_connections_are_plain(server):
    api = GithubApi(server.url, [TOKEN_A], cache=HttpCache(None), policy=FAST)
    assert api.clients[0].cache is None
    assert getattr(api.clients[0].requester, "_Requester__connectionClass") is HTTPRequestsConnectionClass
    assert not api.get(f"/repos/{REPO}", kind="rest:repo").from_cache
    assert not api.get(f"/repos/{REPO}", kind="rest:repo").from_cache
    assert server.count("repo", status=200) == 2
    api.close()


def test_pygithub_still_has_the_per_instance_connection_hook(server, tmp_path):
    # PyGithub 2.10 keeps the connection class per Requester in this name-mangled attribute;
    # if an upgrade renames it, this fails (and GithubApi raises) instead of mining uncached.
    requester = Github(base_url=server.url).requester
    assert isinstance(getattr(requester, "_Requester__connectionClass"), type)
    assert getattr(requester, "_Requester__connection") is None
    api = GithubApi(server.url, [TOKEN_A], cache=HttpCache(tmp_path / "cache"), policy=FAST)
    requester = api.clients[0].requester
    cls = getattr(requester, "_Requester__connectionClass")
    assert issubclass(cls, HTTPRequestsConnectionClass) and cls is not HTTPRequestsConnectionClass
    assert getattr(Requester, "_Requester__httpConnectionClass") is HTTPRequestsConnectionClass  # nothing global
    api.get(f"/repos/{REPO}", kind="rest:repo")
    connection = getattr(requester, "_Requester__connection")
    assert isinstance(connection, cls) and isinstance(connection.session, CachedSession)
    assert connection.session.auth is Requester.noopAuth  # PyGithub's session settings are kept
    api.close()
    with pytest.raises(RuntimeError, match="PyGithub"):
        _use_connection_class(object(), TokenCache(tmp_path / "other"))  # type: ignore[arg-type]


def test_an_unreachable_github_is_an_error_not_a_stale_answer(world, tmp_path):
    srv = gr.ReplayServer(world[1], tokens=[TOKEN_A]).start()
    policy = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, pacing=None, timeout=5, connect_retries=0)
    api = GithubApi(srv.url, [TOKEN_A], cache=HttpCache(tmp_path / "cache"), policy=policy)
    api.get(f"/repos/{REPO}", kind="rest:repo")
    api.clients[0].requester.close()  # a new connection (and session) over the same cache...
    assert api.get(f"/repos/{REPO}", kind="rest:repo").from_cache
    srv.stop()
    api.clients[0].requester.close()  # ...and one to a server that is gone
    with pytest.raises(ApiError, match="2 attempts"):
        api.get(f"/repos/{REPO}", kind="rest:repo")
    assert api.stats.not_modified == 1 and api.stats.by_status["error"] == 2
    api.close()


def test_cache_lookups_use_the_url_pygithub_requests():
    api = GithubApi("https://ghe.example/api/v3/", ["ghp_x"], cache=HttpCache(None))  # GitHub Enterprise: a prefix

    def same(url: str, expected: str) -> bool:
        return normalize_url(url, None) == normalize_url(expected, None)  # requests-cache's key: query order aside

    assert same(api._absolute_url("/repos/a/b/pulls", {"state": "closed", "per_page": 100}),
                "https://ghe.example:443/api/v3/repos/a/b/pulls?per_page=100&state=closed")
    assert same(api._absolute_url("https://ghe.example/api/v3/repos/a/b/pulls?state=closed&page=2", None),
                "https://ghe.example/api/v3/repos/a/b/pulls?page=2&state=closed")
    assert same(api._absolute_url("/search/repositories", {"q": "language:python stars:>10"}),
                "https://ghe.example/api/v3/search/repositories?q=language%3Apython+stars%3A%3E10")
    api.close()


def test_a_changed_resource_is_fetched_and_stored_again(server, tmp_path):
    api = GithubApi(server.url, [TOKEN_A], cache=HttpCache(tmp_path / "cache"), policy=FAST)
    repo = server.repos[REPO]
    stars = repo.stars
    try:
        first = api.get(f"/repos/{REPO}", kind="rest:repo")
        repo.stars = stars + 1  # the ETag changes: GitHub answers 200, charged
        second = api.get(f"/repos/{REPO}", kind="rest:repo")
        third = api.get(f"/repos/{REPO}", kind="rest:repo")
    finally:
        repo.stars = stars
    assert not second.from_cache and second.data["stargazers_count"] == first.data["stargazers_count"] + 1
    assert third.from_cache and third.data == second.data
    assert server.count("repo", status=200) == 2 and server.count("repo", status=304) == 1
    assert api.stats.charged == 2 and api.stats.by_status[200] == 2 and api.stats.by_status[304] == 1
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1
    api.close()
