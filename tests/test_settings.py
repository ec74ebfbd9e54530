"""Settings: defaults, SKILLFORGE_* overrides, the host's network settings for
installs, and the values that must never reach a log."""

from __future__ import annotations

import pytest

from skillforge.settings import CA_MOUNT, Settings, parse_size


def test_environment_overrides(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("cert")
    monkeypatch.setenv("SKILLFORGE_MEM_LIMIT", "4g")
    monkeypatch.setenv("SKILLFORGE_TEST_TIMEOUT", "42")
    monkeypatch.setenv("PIP_CERT", str(bundle))
    monkeypatch.setenv("PIP_INDEX_URL", "https://user:pw@index.example/simple file:///local/simple")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    s = Settings.from_env()
    assert (s.mem_limit, s.test_timeout) == ("4g", 42)
    assert s.ca_bundle == str(bundle)
    assert s.pip_index_url == "https://user:pw@index.example/simple"  # a file:// index is not reachable in a container
    env = s.install_environment()
    assert env["PIP_CERT"] == CA_MOUNT and env["SSL_CERT_FILE"] == CA_MOUNT
    assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://proxy.example:3128"
    assert "https://user:pw@index.example/simple" in s.secret_values()


def test_a_missing_ca_bundle_is_not_mounted(monkeypatch):
    for key in ("SKILLFORGE_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIP_CERT", "/no/such/bundle.pem")
    assert Settings.from_env().ca_bundle is None


@pytest.mark.parametrize("text, size", [("2g", 2 << 30), ("512m", 512 << 20), ("1.5GiB", 3 << 29), ("100k", 102400),
                                        ("4096", 4096), (" 3 MB ", 3 << 20), (7, 7)])
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_parse_size_errors_name_the_value():
    with pytest.raises(ValueError, match="not a size: 'lots'"):
        parse_size("lots")
    assert parse_size("lots", default=5) == 5
