"""Shared by the miner's tests: the loopback GitHub is reached without a proxy, and no token of the
machine running the tests is seen (tests that need one set it themselves)."""

import pytest


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for key in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(key, raising=False)
