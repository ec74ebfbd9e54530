"""Rate limits, retries, token rotation, conditional requests and secrecy of the GitHub miner."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import github_replay as gr  # noqa: E402

from skillforge.mine.github import GraphQLLimits, RetryPolicy, mine_github  # noqa: E402
from skillforge.mine.github_api import GithubApi  # noqa: E402
from skillforge.mine.http_cache import HttpCache  # noqa: E402
from skillforge.mine.local import MineError  # noqa: E402
from skillforge.mine.tokens import resolve_tokens, token_fingerprint  # noqa: E402
from skillforge.workspace import Workspace  # noqa: E402

TOKEN_A = "ghp_rotateAAAA0000aaaa"
TOKEN_B = "ghp_rotateBBBB1111bbbb"
FAST = RetryPolicy(attempts=4, backoff=0.05, max_backoff=0.2, secondary_wait=1.0, pacing=None, timeout=10,
                   reset_margin=0.1)
REPO = "acme/widgets"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return gr.build_world(tmp_path_factory.mktemp("remote"), n_prs=60)


@pytest.fixture
def server(world):
    with gr.ReplayServer(world[1], tokens=[TOKEN_A, TOKEN_B]) as srv:
        yield srv


def mine(ws, srv, tmp_path, **kw):
    kw.setdefault("tokens", [TOKEN_A])
    kw.setdefault("retry", FAST)
    kw.setdefault("limits", GraphQLLimits(page=20))
    return mine_github(ws, [REPO], api_url=srv.url, repos_dir=tmp_path / "repos", **kw)


# -- primary rate limit ------------------------------------------------------------------
def test_exhausted_primary_limit_is_waited_out_with_a_countdown(server, tmp_path, capfd):
    server.set_rate(TOKEN_A, "graphql", remaining=1, reset_in=1.0)  # the first answer says 0 left, reset in ~1 s
    events = []
    start = time.monotonic()
    summary = mine(Workspace(tmp_path / "ws"), server, tmp_path, progress=lambda e, i: events.append((e, i)))
    assert time.monotonic() - start >= 0.9
    assert summary.repos[REPO].complete and summary.stored == 59
    assert summary.requests.rate_limit_waits == 1
    # waited before asking: GitHub never had to refuse a request
    assert server.count(status=403) == 0 and server.count("graphql:pulls") == 3
    assert any(e == "rate_limit_wait" and i["resource"] == "graphql" for e, i in events)
    assert "rate limit reached" in capfd.readouterr().err


def test_refused_requests_wait_for_the_reset_and_resume(server, tmp_path):
    server.fail("repo", primary=True, reset_in=1.0)            # REST: 403 "API rate limit exceeded"
    server.fail("graphql:pulls", primary=True, after=1, reset_in=1.0)  # GraphQL: 200 with errors[type=RATE_LIMITED]
    summary = mine(Workspace(tmp_path / "ws"), server, tmp_path)
    assert summary.stored == 59 and summary.repos[REPO].complete
    assert server.count("repo", status=403) == 1 and server.count("repo", status=200) == 1
    assert summary.requests.rate_limit_waits == 2
    assert summary.requests.total == server.count()


def test_max_rate_wait_stops_cleanly_and_a_rerun_resumes(server, tmp_path):
    ws = Workspace(tmp_path / "ws")
    server.fail("graphql:pulls", primary=True, after=1, reset_in=3600)
    with pytest.raises(MineError, match=r"acme/widgets: graphql rate limit exhausted"):
        mine(ws, server, tmp_path, retry=RetryPolicy(pacing=None, max_rate_wait=5))
    stored = len(ws.prs())
    assert stored == 20  # the first page was kept
    server.rate.clear()  # an hour later: the budget is back
    summary = mine(ws, server, tmp_path)
    assert summary.repos[REPO].resumed and len(ws.prs()) == 59


# -- secondary limits and 5xx ------------------------------------------------------------
def test_secondary_limit_and_short_502_storm_are_retried(server, tmp_path):
    server.fail("graphql:pulls", status=403, retry_after=1, times=1)
    server.fail("graphql:pulls", status=502, times=3, after=2)
    summary = mine(Workspace(tmp_path / "ws"), server, tmp_path)
    assert summary.stored == 59
    assert server.count("graphql:pulls", status=403) == 1 and server.count("graphql:pulls", status=502) == 3
    assert summary.requests.retries == 4 and summary.requests.backoff_waits == 4
    assert summary.requests.backoff_seconds >= 1


def test_502_storm_is_reported_clearly_and_nothing_is_lost(server, tmp_path):
    ws = Workspace(tmp_path / "ws")
    server.fail("graphql:pulls", status=502, times=1000, after=1)
    with pytest.raises(MineError) as info:
        mine(ws, server, tmp_path)
    message = str(info.value)
    assert "acme/widgets" in message and "POST /graphql" in message and "502" in message and "4 attempts" in message
    assert info.value.summary.repos[REPO].error  # the summary comes with the error
    assert len(ws.prs()) == 20  # the page before the storm is stored
    assert server.count("graphql:pulls", status=502) == 4
    server.faults.clear()
    server.reset_log()
    summary = mine(ws, server, tmp_path)
    assert len(ws.prs()) == 59 and summary.repos[REPO].resumed
    assert server.count("graphql:pulls") == 2  # only the pages not stored


def test_graphql_pages_shrink_after_a_gateway_timeout(server, tmp_path):
    server.fail("graphql:pulls", status=502, times=1)
    summary = mine(Workspace(tmp_path / "ws"), server, tmp_path, limits=GraphQLLimits(page=40))
    assert summary.stored == 59 and summary.repos[REPO].complete
    assert server.count("graphql:pulls", status=200) == 2  # 20 (halved after the 502), then the other 40


# -- tokens -------------------------------------------------------------------------------
def test_tokens_rotate_and_an_exhausted_one_is_skipped_without_waiting(server, tmp_path):
    server.set_rate(TOKEN_A, "graphql", remaining=0, reset_in=3600)
    summary = mine(Workspace(tmp_path / "ws"), server, tmp_path, tokens=[TOKEN_A, TOKEN_B])
    assert summary.stored == 59 and summary.requests.rate_limit_waits == 0
    assert server.count("graphql:pulls", status=200, token=TOKEN_B) == 3
    assert server.count("graphql*", token=TOKEN_A) == 1  # refused once, then left alone


def test_a_rejected_token_is_dropped_and_the_others_carry_on(server, tmp_path):
    summary = mine(Workspace(tmp_path / "ws"), server, tmp_path, tokens=["ghp_revokedXXXX", TOKEN_B])
    assert summary.stored == 59
    assert server.count(status=401) == 1


def test_tokens_never_reach_logs_errors_or_disk(server, tmp_path, monkeypatch, caplog, capfd):
    secret = "ghp_S3cretNeverWritten0042"
    server.tokens = [secret]
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    caplog.set_level(logging.DEBUG)
    ws = Workspace(tmp_path / "ws")
    server.fail("graphql:pulls", status=403, retry_after=0, times=1)
    mine_github(ws, [REPO], api_url=server.url, repos_dir=tmp_path / "repos", retry=FAST,
                limits=GraphQLLimits(page=20))  # the token comes from the environment
    server.fail("graphql:pulls", status=502, times=100)
    with pytest.raises(MineError) as info:
        mine_github(ws, [REPO], api_url=server.url, repos_dir=tmp_path / "repos", retry=FAST)
    assert server.count(token=secret) > 0
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, str(info.value), repr(info.value.summary.as_dict())):
        assert secret not in text
    ws.close()
    for path in list((tmp_path / "ws").rglob("*")) + list((tmp_path / "repos").rglob("*")):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert list((tmp_path / "ws" / "http-cache").rglob("*.json"))  # the cache exists, keyed without the token


# -- conditional requests -----------------------------------------------------------------
def test_etag_304_is_served_from_cache_and_costs_no_rate_limit(server, tmp_path):
    cache = HttpCache(tmp_path / "cache")
    api = GithubApi(server.url, [TOKEN_A], cache=cache, policy=FAST)
    first = api.get(f"/repos/{REPO}", kind="rest:repo")
    left = int(first.headers["x-ratelimit-remaining"])
    second = api.get(f"/repos/{REPO}", kind="rest:repo")
    assert second.from_cache and second.data == first.data
    assert int(second.headers["x-ratelimit-remaining"]) == left  # a 304 is free
    assert api.stats.not_modified == 1 and server.count("repo", status=304) == 1
    other = GithubApi(server.url, [TOKEN_B], cache=cache, policy=FAST)  # entries are per token
    assert not other.get(f"/repos/{REPO}", kind="rest:repo").from_cache
    assert all(TOKEN_A not in p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert token_fingerprint(TOKEN_A) != token_fingerprint(TOKEN_B)
    pages = list(api.pages(f"/repos/{REPO}/pulls", kind="rest:pulls", params={"state": "closed", "per_page": 25}))
    assert len(pages) == 3 and sum(len(p.data) for p in pages) == len(server.repos[REPO].prs)
    api.close()
    other.close()


def test_no_token_is_a_clear_error(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no gh config either
    monkeypatch.delenv("GH_CONFIG_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    with pytest.raises(MineError, match="GITHUB_TOKEN"):
        mine_github(Workspace(tmp_path / "ws"), [REPO], api_url=server.url, repos_dir=tmp_path / "repos")
    assert server.count() == 0


# -- where tokens come from ----------------------------------------------------------------
def test_resolve_tokens_from_environment_and_gh_config(tmp_path):
    assert resolve_tokens(env={"GITHUB_TOKEN": "a1, b2", "GH_TOKEN": "b2,c3"}) == ["a1", "b2", "c3"]
    assert resolve_tokens(env={"GH_TOKEN": "only"}) == ["only"]
    gh = tmp_path / "gh"
    gh.mkdir()
    (gh / "hosts.yml").write_text("github.com:\n  oauth_token: gho_old\n  user: me\n"
                                  "ghe.corp.example:\n  users:\n    me:\n      oauth_token: gho_ghe\n")
    env = {"GH_CONFIG_DIR": str(gh)}
    assert resolve_tokens(env=env) == ["gho_old"]
    assert resolve_tokens("https://ghe.corp.example/api/v3", env=env) == ["gho_ghe"]
    assert resolve_tokens(env={"HOME": str(tmp_path / "nobody")}) == []
