"""Settings: defaults, overridden by ``SKILLFORGE_*`` environment variables.

Network settings for installs inside containers (CA bundle, proxies, package
index) default to what the host itself uses, so a machine behind a corporate
proxy or a TLS-inspecting gateway works without configuration; each can be set
explicitly. Proxy URLs and index URLs may hold credentials: they are passed to
containers as environment variables at install time only, never written into
images, logs or datasets.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

_CA_ENV = ("SKILLFORGE_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass(frozen=True)
class BaseSuite:
    """A distribution release whose ``python3`` is the Python of a base image made without a registry."""

    distribution: str  # debian | ubuntu
    suite: str
    version: str  # the exact Python version its release pocket ships


BASE_SUITES: dict[str, BaseSuite] = {
    "3.6": BaseSuite("ubuntu", "bionic", "3.6.5"),
    "3.8": BaseSuite("ubuntu", "focal", "3.8.2"),
    "3.9": BaseSuite("debian", "bullseye", "3.9.2"),
    "3.10": BaseSuite("ubuntu", "jammy", "3.10.4"),
    "3.11": BaseSuite("debian", "bookworm", "3.11.2"),
    "3.12": BaseSuite("ubuntu", "noble", "3.12.3"),
    "3.13": BaseSuite("debian", "trixie", "3.13.5"),
}
"""Pythons every machine can have: debootstrap of these suites from a Debian or Ubuntu mirror."""
DEBIAN_SUITES = {v: s.suite for v, s in BASE_SUITES.items()}


def _first_file(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return value
    return None


def _env(name: str, *fallbacks: str) -> str | None:
    for key in (name, *fallbacks):
        value = os.environ.get(key)
        if value:
            return value
    return None


def _remote_only(urls: str | None) -> str | None:
    """Index URLs a container can reach: ``file://`` indexes on the host are not among them."""
    if not urls:
        return None
    kept = [u for u in urls.split() if not u.startswith("file:")]
    return " ".join(kept) or None


@dataclass
class Settings:
    base_image_template: str = "skillforge/base:py{python}"
    env_image_prefix: str = "skillforge/env"
    pull_image_template: str = "python:{python}-slim"
    debian_mirror: str = "http://deb.debian.org/debian"
    ubuntu_mirror: str = "http://archive.ubuntu.com/ubuntu"
    base_images: dict[str, str] = field(default_factory=dict)  # python -> a registered base image (any registry)
    time_travel_slack_days: int = 1  # dependencies resolve as of the reference commit's date plus this
    cache_volume: str = "skillforge-cache"  # Docker volume with the download cache environment builds share
    ca_bundle: str | None = None
    pip_index_url: str | None = None
    pip_extra_index_url: str | None = None
    http_proxy: str | None = None
    https_proxy: str | None = None
    no_proxy: str | None = None
    container_user: str = "1000:1000"
    mem_limit: str = "2g"
    nano_cpus: int = 1_000_000_000
    pids_limit: int = 256
    test_timeout: int = 300
    install_timeout: int = 1800
    # bounded work per PR in analysis and candidate building (a PR over either is dropped as over_budget);
    # 0 turns a limit off
    pr_timeout: int = 120  # seconds one PR's analysis, or one PR's candidate building, may take
    pr_memory: str = "1g"  # memory one PR's analysis or candidate building may add (2g, 512m, ...)
    analyze_workers: int = 0  # analysis worker processes at once; 0: one per CPU, as far as memory holds
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Settings":
        s = cls()
        for f in fields(cls):
            if f.name in ("extra", "base_images"):
                continue
            value = os.environ.get(f"SKILLFORGE_{f.name.upper()}")
            if value is not None:
                setattr(s, f.name, type(getattr(s, f.name))(value) if isinstance(getattr(s, f.name), int) else value)
        s.base_images = parse_base_images(os.environ.get("SKILLFORGE_BASE_IMAGES", ""))
        s.ca_bundle = s.ca_bundle or _first_file(_CA_ENV)
        s.pip_index_url = s.pip_index_url or _remote_only(_env("PIP_INDEX_URL"))
        s.pip_extra_index_url = s.pip_extra_index_url or _remote_only(_env("PIP_EXTRA_INDEX_URL"))
        s.http_proxy = s.http_proxy or _env("HTTP_PROXY", "http_proxy")
        s.https_proxy = s.https_proxy or _env("HTTPS_PROXY", "https_proxy")
        s.no_proxy = s.no_proxy or _env("NO_PROXY", "no_proxy")
        return s

    def base_image(self, python: str) -> str:
        return self.base_image_template.format(python=python)

    def pythons(self) -> dict[str, str]:
        """Python version -> the exact version its base image has: the suites' and the registered ones
        (a registered ``3.7.17=IMAGE`` says its exact version; ``3.7=IMAGE`` counts as 3.7.0)."""
        out = {v: s.version for v, s in BASE_SUITES.items()}
        for key in self.base_images:
            minor = ".".join(key.split(".")[:2])
            out[minor] = key if key.count(".") == 2 else f"{minor}.0"
        return dict(sorted(out.items(), key=lambda kv: tuple(int(p) for p in kv[0].split("."))))

    def registered_base(self, python: str) -> str | None:
        """The image registered for a Python version, if any."""
        for key, image in self.base_images.items():
            if ".".join(key.split(".")[:2]) == python:
                return image
        return None

    def install_environment(self) -> dict[str, str]:
        """Variables for containers that install packages (network on). The CA
        bundle is mounted at /etc/skillforge/ca.crt by the caller."""
        env: dict[str, str] = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PIP_ROOT_USER_ACTION": "ignore"}
        if self.ca_bundle:
            for key in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"):
                env[key] = CA_MOUNT
        if self.pip_index_url:
            env["PIP_INDEX_URL"] = self.pip_index_url
        if self.pip_extra_index_url:
            env["PIP_EXTRA_INDEX_URL"] = self.pip_extra_index_url
        for key, value in (("HTTP_PROXY", self.http_proxy), ("HTTPS_PROXY", self.https_proxy), ("NO_PROXY", self.no_proxy)):
            if value:
                env[key] = value
                env[key.lower()] = value
        return env

    def secret_values(self) -> list[str]:
        """Values that must never reach a log: tokens and credential-bearing URLs."""
        values = [os.environ.get(k, "") for k in ("GITHUB_TOKEN", "GH_TOKEN", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")]
        values += [v or "" for v in (self.pip_index_url, self.pip_extra_index_url, self.http_proxy, self.https_proxy)]
        return [v for v in values if v and len(v) >= 6]


CA_MOUNT = "/etc/skillforge/ca.crt"


def parse_base_images(text: str) -> dict[str, str]:
    """``SKILLFORGE_BASE_IMAGES``: comma-separated ``VERSION=IMAGE`` pairs, e.g.
    ``3.7=registry.example/python:3.7-slim,3.14.0=python:3.14``. Each image needs
    ``python3`` (with venv), ``git`` and ``bash``; skillforge adds its user and venv."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        version, sep, image = item.partition("=")
        version, image = version.strip(), image.strip()
        if not sep or not re.fullmatch(r"3\.\d+(\.\d+)?", version) or not image:
            raise ValueError(f"SKILLFORGE_BASE_IMAGES: {item.strip()!r} is not VERSION=IMAGE (e.g. 3.7=python:3.7-slim)")
        out[version] = image
    return out

def machine_slots(memory_each: int = 0) -> int:
    """How many jobs this machine runs at once: one per CPU this process may use, as far as memory
    holds ``memory_each`` bytes per job (a quarter kept for the host)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 0
    if memory_each > 0 and total > 0:
        cpus = min(cpus, int(total * 0.75) // memory_each)
    return max(1, cpus)


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*")


def parse_size(text: str | int, *, default: int | None = None) -> int:
    """Bytes of a size setting: ``2g``, ``512m``, ``1.5GiB``, ``100k``, ``4096`` (binary units).
    An unreadable value is an error naming it, unless ``default`` is given."""
    if isinstance(text, int):
        return text
    m = _SIZE.fullmatch(str(text).lower())
    if not m:
        if default is not None:
            return default
        raise ValueError(f"not a size: {text!r} (write e.g. 2g, 512m or 100k)")
    return int(float(m.group(1)) * (1 << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[m.group(2)]))
