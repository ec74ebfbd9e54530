"""``skillforge doctor``: what is missing on this machine and how to fix it."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from skillforge.settings import DEBIAN_SUITES, Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


TRAIN_PACKAGES = ("torch", "transformers", "trl")
"""What ``skillforge train`` and ``eval --model`` import (the ``train`` extra)."""
TRAIN_INSTALL = "pip install torch==2.13.0 'skillforge[train]'"
"""The train extra's install line (torch first, to choose its build: CPU here)."""
DOCKER_FIX = ("install Docker Engine (https://docs.docker.com/engine/install/; on Debian/Ubuntu "
              "`sudo apt-get install -y docker.io`) and start it (`sudo systemctl start docker`, or `sudo dockerd &` "
              "without systemd), or point DOCKER_HOST at a running engine")


def _version_of(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def check_versions() -> list[Check]:
    """skillforge's own version and the Python it runs on."""
    from skillforge import __version__

    where = Path(__file__).resolve().parent
    return [
        Check("skillforge", True, f"{_version_of('skillforge') or __version__} ({where})"),
        Check("python", True, f"{platform.python_version()} ({sys.executable})"),
    ]


def check_git() -> Check:
    path = shutil.which("git")
    if not path:
        return Check("git", False, "git is not on PATH", "install git (`sudo apt-get install -y git`, "
                     "`brew install git`, or https://git-scm.com/downloads)")
    version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return Check("git", True, f"{version} ({path})")


def check_uv() -> Check:
    """The ``uv`` binary environment builds copy into their containers (a dependency of skillforge)."""
    try:
        import uv

        binary = uv.find_uv_bin()
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as e:  # noqa: BLE001 - missing, or a binary that does not run
        return Check("uv", False, f"no usable uv ({type(e).__name__}: {e}); environment builds need it",
                     "pip install 'uv>=0.8' (in the environment skillforge is installed in)")
    return Check("uv", True, f"{version} ({binary})")


def check_docker() -> Check:
    from skillforge.execution import InfraError
    from skillforge.execution.client import docker_client

    try:
        info = docker_client(timeout=10).version()
        return Check("docker engine", True, f"Docker {info.get('Version', '?')} (API {info.get('ApiVersion', '?')})")
    except (InfraError, Exception) as e:  # noqa: BLE001 - any failure to reach the engine
        return Check("docker engine", False, f"no Docker engine answers: {type(e).__name__}", DOCKER_FIX)


def check_train_extra() -> Check:
    """torch, transformers and trl, found without importing them (torch takes seconds to import)."""
    found = {name: importlib.util.find_spec(name) is not None for name in TRAIN_PACKAGES}
    missing = [name for name, ok in found.items() if not ok]
    if missing:
        return Check("train extra", False, f"{', '.join(missing)} not installed (needed by `skillforge train` "
                     "and `skillforge eval --model`)", TRAIN_INSTALL, required=False)
    versions = ", ".join(f"{name} {_version_of(name) or '?'}" for name in TRAIN_PACKAGES)
    return Check("train extra", True, versions, required=False)


def check_base_images(settings: Settings) -> list[Check]:
    from skillforge.execution.client import docker_client
    from skillforge.execution.images import image_tags

    try:
        tags = image_tags(docker_client(timeout=10))
    except Exception:  # noqa: BLE001 - no engine: check_docker says so
        return []
    out = []
    for python in DEBIAN_SUITES:
        name = settings.base_image(python)
        present = name in tags
        out.append(Check(f"base image {name}", present, "present" if present else "not built yet",
                         f"skillforge images base --python {python}", required=False))
    return out


def check_debootstrap() -> Check:
    path = shutil.which("debootstrap")
    return Check("debootstrap", bool(path), path or "not installed (needed to build base images without a registry)",
                 "sudo apt-get install -y debootstrap (Debian/Ubuntu), or let base images be pulled from a registry",
                 required=False)


def check_ca(settings: Settings) -> Check:
    if settings.ca_bundle:
        return Check("CA bundle for installs", True, f"{settings.ca_bundle} is mounted into install containers")
    return Check("CA bundle for installs", True, "none set; containers use their own certificates "
                 "(set SKILLFORGE_CA_BUNDLE behind a TLS-inspecting proxy)", required=False)


def check_tokens() -> list[Check]:
    gh = any(os.environ.get(k) for k in ("GITHUB_TOKEN", "GH_TOKEN")) or Path("~/.config/gh/hosts.yml").expanduser().exists()
    hf = any(os.environ.get(k) for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")) or Path("~/.cache/huggingface/token").expanduser().exists()
    return [
        Check("GitHub token", gh, "set" if gh else "not set (needed to mine GitHub: its GraphQL API refuses anonymous requests)",
              "export GITHUB_TOKEN=... (or `gh auth login`)", required=False),
        Check("Hugging Face token", hf, "set" if hf else "not set (needed only to publish to the Hub)",
              "export HF_TOKEN=... (or `hf auth login`)", required=False),
    ]


def check_disk(path: Path) -> Check:
    free = shutil.disk_usage(path if path.exists() else Path.cwd()).free / 2**30
    return Check("disk", free >= 10, f"{free:.0f} GiB free at {path}", "free disk space: images need ~2 GiB per Python version")


def run_checks(workspace: Path | None = None) -> list[Check]:
    settings = Settings.from_env()
    checks = [*check_versions(), check_git(), check_uv(), check_docker(), check_debootstrap(), check_ca(settings)]
    checks += check_base_images(settings)
    checks += check_tokens()
    checks.append(check_train_extra())
    checks.append(check_disk(workspace or Path.cwd()))
    return checks
