"""Base and environment images.

``skillforge/base:py<X.Y>`` (``Settings.base_image``) is Debian with python3,
python3-venv, git, a user ``sf`` (uid/gid 1000), an empty venv at
``/opt/venv`` and ``/testbed`` owned by ``sf``. It is pulled and completed from
``Settings.pull_image_template`` when a registry answers, and otherwise built
from the Debian mirror with ``debootstrap`` (needs root on the host).

``skillforge/env:<owner>__<name>-<recipe key>`` is a base image with one
repository's tree (at a reference commit) in ``/testbed`` and its recipe's
installs done. It is built by a setup container with the network on; the CA
bundle is mounted read-only and proxies / index URLs are handed over in a file
that the setup script reads and deletes, so that no secret ends up in the
committed image (neither in its config nor in its layers).
"""

from __future__ import annotations

import contextlib
import functools
import fcntl
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import docker
import docker.errors
import docker.types
import requests.exceptions

from skillforge.gitio import redact
from skillforge.settings import BASE_SUITES, CA_MOUNT, BaseSuite, Settings
from skillforge.execution import InfraError
from skillforge.execution.owner import owner
from skillforge.schema import EnvRecipe

Progress = Callable[[str], None]

USER = "sf"
UID = 1000
VENV = "/opt/venv"
TESTBED = "/testbed"
TRACKED_FILES = "/opt/skillforge/tracked-files"
"""NUL-separated list of the paths of the reference tree in an env image: a run
deletes exactly these before unpacking its own tree, so build products of the
install (egg-info, compiled extensions, generated version files) survive."""

PYTEST_VERSION_FILE = "/opt/skillforge/pytest-version"
"""The pytest version an environment has (runs pass only the options it knows)."""
CACHE_MOUNT = "/opt/skillforge-cache"
"""Where the shared package download cache (a Docker volume) is mounted in environment builds."""
PRODUCTS_TAR = "/opt/skillforge/products.tar"
"""Tar of the files the install added to the reference tree in an env image
(``/testbed`` minus the tracked files: egg-info, compiled extensions,
generated version files). A sealed run starts from an empty ``/testbed`` tmpfs,
unpacks this and then its own tree."""
LAYOUT = "4"
"""Env image layout: "2" has ``PRODUCTS_TAR``. An env image of an older layout is rebuilt."""
LABEL_LAYOUT = "skillforge.layout"

BASE_ENV = [
    f"PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    f"VIRTUAL_ENV={VENV}",
    "LANG=C.UTF-8",
    "PYTHONDONTWRITEBYTECODE=1",
]
LABEL_KIND = "skillforge.kind"
LABEL_OWNER = "skillforge.owner"
"""On run, setup, pool and session containers: ``host:pid:start`` of the process that
created them (``owner()``; ``host:pid`` on those of older versions)."""
LABEL_PYTHON = "skillforge.python"
LABEL_REPO = "skillforge.repo"
LABEL_RECIPE = "skillforge.recipe"
LABEL_RECIPE_JSON = "skillforge.recipe.json"

_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")


# --------------------------------------------------------------------------- helpers


def build_tar(files: dict[str, bytes | str], *, uid: int = 0, gid: int = 0, dirs: Iterable[str] = (),
              modes: dict[str, int] | None = None) -> bytes:
    """An in-memory tar: ``files`` maps archive paths to contents (mode 0644
    unless ``modes`` says otherwise); ``dirs`` are added first (mode 0755)."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d.rstrip("/"))
            info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, 0o755, uid, gid, now
            tar.addfile(info)
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid, info.mtime = len(raw), uid, gid, now
            info.mode = (modes or {}).get(name, 0o644)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def tar_members(data: bytes) -> list[str]:
    """Paths of the non-directory members of a tar (normalised, no ``./``)."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for m in tar:
            if m.isdir() or m.type == tarfile.XGLTYPE:
                continue
            name = m.name
            while name.startswith("./"):
                name = name[2:]
            if name and name != "pax_global_header":
                out.append(name)
    return out


def read_archive_file(container, path: str, *, max_bytes: int = 64 << 20) -> bytes | None:
    """One regular file out of a container (running or stopped), or None if absent."""
    try:
        stream, _stat = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    buf = io.BytesIO()
    for chunk in stream:
        buf.write(chunk)
        if buf.tell() > max_bytes + (1 << 20):
            raise InfraError(f"{path} in container is larger than {max_bytes} bytes")
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r:*") as tar:
        for m in tar:
            if m.isfile():
                f = tar.extractfile(m)
                return f.read() if f else None
    return None


def wait_container(container, timeout: float) -> int | None:
    """Exit status, or None when ``timeout`` seconds passed first."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            result = container.wait(timeout=max(1, int(left) + 1) if left > 1 else 1)
            return int(result.get("StatusCode", -1))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
            # docker-py reports a read timeout of the wait call either way; tell
            # a dead engine apart by asking it again.
            try:
                container.reload()
            except Exception as again:  # noqa: BLE001
                raise InfraError(f"Docker engine stopped answering: {again}") from exc
            if container.status not in ("running", "created", "restarting"):
                continue  # finished just now: the next wait returns at once
            if time.monotonic() >= deadline:
                return None


def remove_container(container) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        try:
            container.remove(force=True, v=True)
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise


def container_logs(container) -> str:
    try:
        return container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    except docker.errors.APIError as exc:
        return f"<logs unavailable: {exc}>"


def _image_exists(client, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as exc:
        raise InfraError(f"Docker engine error while looking up {tag}: {exc}") from exc


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@contextlib.contextmanager
def _image_lock(tag: str) -> Iterator[None]:
    """Serialises builds of one tag across threads and processes of this host."""
    with _locks_guard:
        lock = _locks.setdefault(tag, threading.Lock())
    with lock:
        lock_dir = Path(tempfile.gettempdir()) / "skillforge-image-locks"
        lock_dir.mkdir(exist_ok=True)
        with open(lock_dir / (_TAG_BAD.sub("_", tag) + ".lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _secrets_file(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))


@dataclass
class _SetupRun:
    container: object
    output: str
    duration: float


def _run_setup(client, settings: Settings, image: str, script: str, *, files: dict[str, bytes | str] | None = None,
               network: bool, secret_env: dict[str, str] | None = None, timeout: int, what: str,
               log_path: Path | None, triage: str, header: str = "", target: str = "",
               modes: dict[str, int] | None = None, cache: bool = False) -> _SetupRun:
    """Runs ``script`` as root in a container from ``image``; returns the stopped
    container (the caller commits and removes it) when it exits 0, otherwise
    removes it and raises ``InfraError``. ``secret_env`` reaches the script
    through a file it sources and deletes, never through the container config."""
    secrets = settings.secret_values()
    preamble = "set -eu\ntrap 'rm -rf /sf' EXIT\n"
    if secret_env:
        preamble += "set -a\n. /sf/secrets.env\nset +a\nrm -f /sf/secrets.env\n"
    payload: dict[str, bytes | str] = {"sf/setup.sh": preamble + script}
    if secret_env:
        payload["sf/secrets.env"] = _secrets_file(secret_env)
    payload.update(files or {})
    # a bind mount through HostConfig.Mounts only: ``volumes=`` would also
    # declare a VOLUME in the container config, which commit carries over
    mounts = []
    if network and settings.ca_bundle and Path(settings.ca_bundle).is_file():
        mounts.append(docker.types.Mount(target=CA_MOUNT, source=str(Path(settings.ca_bundle).resolve()),
                                         type="bind", read_only=True))
    if cache:  # the package download cache every environment build shares (never part of an image)
        mounts.append(docker.types.Mount(target=CACHE_MOUNT, source=settings.cache_volume, type="volume"))
    start = time.monotonic()
    try:
        container = client.containers.create(
            image, command=["/bin/bash", "/sf/setup.sh"], user="0:0", working_dir="/",
            network_mode=None if network else "none", network_disabled=not network,
            mounts=mounts or None, labels={LABEL_KIND: "setup", "skillforge.target": target, LABEL_OWNER: owner()},
            detach=True,
        )
    except docker.errors.APIError as exc:
        raise InfraError(f"{what}: cannot create a setup container from {image}: {exc}", triage=triage) from exc
    ok = False
    try:
        container.put_archive("/", build_tar(payload, dirs=["sf", "sf/bin"],
                                             modes={"sf/secrets.env": 0o600, **(modes or {})}))
        container.start()
        code = wait_container(container, timeout)
        if code is None:
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
        output = redact(container_logs(container), secrets)
        duration = time.monotonic() - start
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            status = "timeout" if code is None else f"exit {code}"
            log_path.write_text(f"{header}{output}\n== {what}: {status} after {duration:.1f}s\n")
        if code is None:
            raise InfraError(f"{what}: timed out after {timeout}s" + (f"; see {log_path}" if log_path else ""),
                             triage=triage, log_path=str(log_path) if log_path else None)
        if code != 0:
            tail = "\n".join(output.splitlines()[-15:])
            raise InfraError(f"{what}: failed with exit code {code}" + (f"; see {log_path}" if log_path else "")
                             + f"\n{tail}", triage=triage, log_path=str(log_path) if log_path else None)
        ok = True
        return _SetupRun(container, output, duration)
    except docker.errors.APIError as exc:
        raise InfraError(f"{what}: Docker engine error: {exc}", triage=triage,
                         log_path=str(log_path) if log_path else None) from exc
    finally:
        if not ok:
            with contextlib.suppress(Exception):
                remove_container(container)


def _commit(container, tag: str, *, env: list[str], labels: dict[str, str]) -> None:
    repository, _, name = tag.rpartition(":")
    if not repository or "/" in name:
        repository, name = tag, "latest"
    conf = {"Env": env, "WorkingDir": TESTBED, "User": f"{UID}:{UID}", "Labels": labels,
            "Cmd": ["/bin/bash"], "Entrypoint": None}
    api = container.client.api
    try:
        post_json, url = api._post_json, api._url("/commit")
    except AttributeError:  # a docker-py without these internals: default timeout
        container.commit(repository=repository, tag=name, conf=conf)
        return
    # committing a large environment can take longer than the client's timeout
    params = {"container": container.id, "repo": repository, "tag": name, "pause": True}
    api._result(post_json(url, data=conf, params=params, timeout=None), json=True)


# --------------------------------------------------------------------------- base image


_BASE_SETUP = r"""
export DEBIAN_FRONTEND=noninteractive
if ! command -v git >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "== apt-get install git python3-venv"
  apt-get update -q
  if command -v /usr/local/bin/python3 >/dev/null 2>&1; then
    apt-get install -y -q --no-install-recommends git ca-certificates
  else
    apt-get install -y -q --no-install-recommends git ca-certificates python3 python3-venv
  fi
fi
if ! getent passwd 1000 >/dev/null; then
  getent group 1000 >/dev/null || groupadd -g 1000 sf
  useradd -m -u 1000 -g 1000 -s /bin/bash sf
fi
home=$(getent passwd 1000 | cut -d: -f6)
mkdir -p "$home" /testbed /opt/skillforge
python3 -m venv /opt/venv
chown -R 1000:1000 "$home" /opt/venv /testbed
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /root/.cache
echo "== $(/opt/venv/bin/python --version) $(git --version)"
"""


def ensure_base_image(client, settings: Settings, python: str, *, progress: Progress | None = None) -> str:
    """The tag ``settings.base_image(python)``, built if it is not present."""
    tag = settings.base_image(python)
    if _image_exists(client, tag):
        return tag
    say = progress or (lambda _msg: None)
    with _image_lock(tag):
        if _image_exists(client, tag):
            return tag
        started = time.monotonic()
        registered = settings.registered_base(python)
        if registered is not None:
            if not _from_registry(client, settings, python, tag, say, ref=registered):
                raise InfraError(f"the base image registered for Python {python} ({registered}, "
                                 f"SKILLFORGE_BASE_IMAGES) cannot be pulled or completed", triage="base_image")
        elif settings.pull_image_template and _from_registry(client, settings, python, tag, say):
            say(f"{tag}: ready after {time.monotonic() - started:.0f}s (from registry)")
            return tag
        _from_debootstrap(client, settings, python, tag, say)
        say(f"{tag}: ready after {time.monotonic() - started:.0f}s (debootstrap)")
        return tag


def _base_labels(python: str, source: str) -> dict[str, str]:
    return {LABEL_KIND: "base", LABEL_PYTHON: python, "skillforge.source": source}


def _from_registry(client, settings: Settings, python: str, tag: str, say: Progress, ref: str | None = None) -> bool:
    ref = ref or settings.pull_image_template.format(python=python)
    say(f"{tag}: pulling {ref}")
    try:
        image = client.images.pull(ref)
    except (docker.errors.APIError, docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        say(f"{tag}: pull of {ref} failed ({str(exc).splitlines()[0][:200]}); building from the Debian mirror")
        return False
    try:
        run = _run_setup(client, settings, image.id, _BASE_SETUP, network=True,
                         secret_env=settings.install_environment(), timeout=settings.install_timeout,
                         what=f"completing {ref} into {tag}", log_path=None, triage="base_image", target=tag)
    except InfraError as exc:
        say(f"{tag}: completing {ref} failed ({str(exc).splitlines()[0]}); building from the Debian mirror")
        return False
    try:
        _commit(run.container, tag, env=BASE_ENV, labels=_base_labels(python, ref))
    finally:
        remove_container(run.container)
    return True


def _mounts_under(root: str) -> list[str]:
    root = os.path.realpath(root)
    found = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) > 1:
                point = parts[1].replace("\\040", " ")
                if point == root or point.startswith(root + "/"):
                    found.append(point)
    return sorted(found, key=len, reverse=True)


def _safe_rmtree(path: str) -> None:
    """rmtree that never descends into a mount left behind by a failed debootstrap."""
    if not os.path.exists(path):
        return
    for point in _mounts_under(path):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    if _mounts_under(path):
        raise InfraError(f"cannot clean {path}: file systems are still mounted under it")
    shutil.rmtree(path, ignore_errors=True)


def _debootstrap_command(settings: Settings, base: BaseSuite, rootfs: str) -> list[str]:
    """debootstrap of a suite; a suite newer than the host's debootstrap knows uses its family's script."""
    ubuntu = base.distribution == "ubuntu"
    mirror = settings.ubuntu_mirror if ubuntu else settings.debian_mirror
    cmd = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,git,ca-certificates"]
    if ubuntu:
        cmd.append("--components=main,universe")
    cmd += [base.suite, rootfs, mirror]
    scripts = Path("/usr/share/debootstrap/scripts")
    if scripts.is_dir() and not (scripts / base.suite).exists():
        family = "gutsy" if ubuntu else "sid"
        if (scripts / family).exists():
            cmd.append(str(scripts / family))
    return cmd


def _from_debootstrap(client, settings: Settings, python: str, tag: str, say: Progress) -> None:
    base = BASE_SUITES.get(python)
    if base is None:
        supported = ", ".join(f"{v} ({s.suite})" for v, s in BASE_SUITES.items())
        raise InfraError(f"no base image for Python {python}: the versions made from a Debian or Ubuntu mirror are "
                         f"{supported}; register an image for {python} with SKILLFORGE_BASE_IMAGES="
                         f"{python}=IMAGE", triage="base_image")
    suite = base.suite
    if os.geteuid() != 0:
        raise InfraError(f"building {tag} with debootstrap needs root on this host (no registry image could be pulled); "
                         f"run as root, or provide {tag} (docker load / docker tag)", triage="base_image")
    if not shutil.which("debootstrap"):
        raise InfraError(f"building {tag} needs debootstrap (apt-get install debootstrap; scripts/ensure-docker.sh "
                         "installs it)", triage="base_image")
    work = tempfile.mkdtemp(prefix="skillforge-base-")
    rootfs = os.path.join(work, "rootfs")
    tar_path = os.path.join(work, "rootfs.tar")
    rootfs_tag = f"skillforge/rootfs:{suite}-{os.getpid()}-{threading.get_ident()}"
    env = dict(os.environ)
    for key, value in (("http_proxy", settings.http_proxy), ("https_proxy", settings.https_proxy),
                       ("no_proxy", settings.no_proxy)):
        if value:
            env[key] = value
    try:
        cmd = _debootstrap_command(settings, base, rootfs)
        say(f"{tag}: debootstrap {suite} from {cmd[-2] if cmd[-1].startswith('/') else cmd[-1]}")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=settings.install_timeout)
        if proc.returncode != 0:
            log = redact((proc.stdout or "") + (proc.stderr or ""), settings.secret_values())
            tail = "\n".join(log.splitlines()[-20:])
            raise InfraError(f"debootstrap {suite} failed (exit {proc.returncode}):\n{tail}", triage="base_image")
        for junk in ("etc/resolv.conf", "etc/hostname", "etc/hosts"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(rootfs, junk))
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            p = os.path.join(rootfs, cache)
            if os.path.isdir(p):
                for child in os.listdir(p):
                    full = os.path.join(p, child)
                    if os.path.isfile(full):
                        os.remove(full)
        say(f"{tag}: importing the root file system")
        subprocess.run(["tar", "--numeric-owner", "-C", rootfs, "-cf", tar_path, "."], check=True,
                       capture_output=True)
        _safe_rmtree(rootfs)
        try:
            repository, _, name = rootfs_tag.rpartition(":")
            client.api.import_image(src=tar_path, repository=repository, tag=name)
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise InfraError(f"docker import of the {suite} root file system failed: {exc}", triage="base_image") from exc
        say(f"{tag}: adding user sf, /opt/venv, /testbed")
        run = _run_setup(client, settings, rootfs_tag, _BASE_SETUP, network=False, timeout=600,
                         what=f"finishing {tag}", log_path=None, triage="base_image", target=tag)
        try:
            _commit(run.container, tag, env=BASE_ENV, labels=_base_labels(python, f"debootstrap:{suite}"))
        finally:
            remove_container(run.container)
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"debootstrap {suite} timed out after {settings.install_timeout}s", triage="base_image") from exc
    except subprocess.CalledProcessError as exc:
        raise InfraError(f"packing the {suite} root file system failed: {exc.stderr!r}", triage="base_image") from exc
    finally:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(rootfs_tag, noprune=False)
        _safe_rmtree(work)


# --------------------------------------------------------------------------- environment images


def env_image_tag(settings: Settings, repo: str, recipe: EnvRecipe) -> str:
    """``skillforge/env:<owner>__<name>-<recipe key>`` (a valid Docker tag)."""
    slug = _TAG_BAD.sub("-", repo.replace("/", "__")).lstrip(".-") or "repo"
    key = recipe.key()
    return f"{settings.env_image_prefix}:{slug[: 127 - len(key)]}-{key}"


def _env_image_current(client, tag: str) -> bool:
    """Whether the env image exists in the current layout (an older one is rebuilt
    under the same tag; containers still using it keep it until they end)."""
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as exc:
        raise InfraError(f"Docker engine error while looking up {tag}: {exc}", triage="image_build") from exc
    return (image.labels or {}).get(LABEL_LAYOUT) == LAYOUT


SF_INSTALL = r"""#!/bin/bash
# sf-install ARGS...: install into the environment's venv with uv, every dependency resolved as it was at
# $SKILLFORGE_EXCLUDE_NEWER (time travel); pip when uv cannot, time-travelling too when that pip can.
set -o pipefail
uv_args=()
[ -n "${SKILLFORGE_EXCLUDE_NEWER:-}" ] && uv_args+=(--exclude-newer "$SKILLFORGE_EXCLUDE_NEWER")
for p in ${SKILLFORGE_EXCLUDE_NEWER_PACKAGES:-}; do uv_args+=(--exclude-newer-package "$p"); done
[ -s /sf/constraints.txt ] && uv_args+=(--constraint /sf/constraints.txt)
echo "+ uv pip install ${uv_args[*]} $*"
if uv pip install "${uv_args[@]}" "$@"; then exit 0; fi
echo "== uv could not install that: pip (the newest for this Python) tries"
uv pip install --quiet --upgrade pip >/dev/null 2>&1 || true
pip_args=()
[ -s /sf/constraints.txt ] && pip_args+=(--constraint /sf/constraints.txt)
if [ -n "${SKILLFORGE_EXCLUDE_NEWER:-}" ] && python -m pip install --help 2>/dev/null | grep -q -- --uploaded-prior-to; then
  pip_args+=(--uploaded-prior-to "$SKILLFORGE_EXCLUDE_NEWER")
fi
echo "+ pip install ${pip_args[*]} $*"
python -m pip install "${pip_args[@]}" "$@"
"""
"""The install helper of every environment build (``/sf/bin/sf-install``, on PATH while the recipe's
install commands run; gone from the image afterwards)."""


@functools.lru_cache(maxsize=1)
def uv_binary() -> bytes:
    """The ``uv`` executable skillforge installs with (the ``uv`` distribution's binary, copied into
    each build container: no base image needs it, and no network is needed to get it)."""
    try:
        import uv
    except ImportError as exc:  # a dependency of skillforge: only a broken install lacks it
        raise InfraError("the `uv` package is missing (pip install uv): environment builds need it",
                         triage="image_build") from exc
    return Path(uv.find_uv_bin()).read_bytes()


def _env_setup_script(recipe: EnvRecipe) -> tuple[str, str]:
    root = []
    if recipe.system_packages:
        pkgs = " ".join(shlex.quote(p) for p in recipe.system_packages)
        root.append("export DEBIAN_FRONTEND=noninteractive\n"
                    f"echo '== apt-get install {pkgs}'\n"
                    "apt-get update -q\n"
                    f"apt-get install -y -q --no-install-recommends {pkgs}\n"
                    "apt-get clean\nrm -rf /var/lib/apt/lists/*\n")
    root.append(
        "echo '== source tree'\n"
        f"find {TESTBED} -mindepth 1 -delete\n"
        f"tar -xf /sf/src.tar -C {TESTBED} --no-same-owner\n"
        f"chown -R {UID}:{UID} {TESTBED}\n"
        f"mkdir -p {os.path.dirname(TRACKED_FILES)} {CACHE_MOUNT}/uv\n"
        f"chown {UID}:{UID} {CACHE_MOUNT} {CACHE_MOUNT}/uv\n"
        f"cp /sf/tracked-files {TRACKED_FILES}\nchmod 0644 {TRACKED_FILES}\n"
        f"home=$(getent passwd {UID} | cut -d: -f6)\n"
        f"chmod 0755 /sf /sf/bin\nchown {UID}:{UID} /sf/install.sh\n"
        "echo '== install (as uid 1000)'\n"
        "if command -v setpriv >/dev/null 2>&1; then\n"  # setpriv: util-linux >= 2.32 (not Ubuntu bionic's)
        f"  env HOME=\"$home\" USER={USER} setpriv --reuid={UID} --regid={UID} --clear-groups "
        "/bin/bash /sf/install.sh\n"
        "else\n"
        f"  env HOME=\"$home\" USER={USER} runuser -u \"$(getent passwd {UID} | cut -d: -f1)\" -- "
        "/bin/bash /sf/install.sh\n"
        "fi\n"
        "rm -rf \"$home/.cache\" /root/.cache\n"
        f"{VENV}/bin/python -c 'import pytest; print(pytest.__version__)' > {PYTEST_VERSION_FILE} 2>/dev/null "
        f"|| rm -f {PYTEST_VERSION_FILE}\n"
        "echo '== install products'\n"
        f"(cd {TESTBED} && find . -mindepth 1 \\( -path ./build -o -name __pycache__ -o -name .pytest_cache \\) -prune "
        "-o \\( -type f -o -type l \\) -printf '%P\\0' | LC_ALL=C sort -z > /tmp/sf-all)\n"
        f"LC_ALL=C sort -z {TRACKED_FILES} > /tmp/sf-tracked\n"
        "LC_ALL=C comm -z -23 /tmp/sf-all /tmp/sf-tracked > /tmp/sf-products\n"
        f"tar -C {TESTBED} --null --no-recursion -T /tmp/sf-products -cf {PRODUCTS_TAR}\n"
        f"chmod 0644 {PRODUCTS_TAR}\n"
        "echo \"$(tr -cd '\\0' < /tmp/sf-products | wc -c) files\"\n"
        "rm -f /tmp/sf-all /tmp/sf-tracked /tmp/sf-products\n"
    )
    user = ["set -eu\n", f"export VIRTUAL_ENV={VENV} PATH=/sf/bin:{VENV}/bin:$PATH PIP_NO_CACHE_DIR=1\n",
            f"export UV_CACHE_DIR={CACHE_MOUNT}/uv UV_LINK_MODE=copy UV_PYTHON={VENV}/bin/python UV_NO_PROGRESS=1 "
            "UV_PYTHON_DOWNLOADS=never UV_HTTP_TIMEOUT=120 UV_COMPILE_BYTECODE=1\n"]
    if recipe.exclude_newer:
        user.append(f"export SKILLFORGE_EXCLUDE_NEWER={shlex.quote(recipe.exclude_newer)}\n")
    if recipe.exclude_newer_packages:
        pairs = " ".join(f"{name}={when}" for name, when in sorted(recipe.exclude_newer_packages.items()))
        user.append(f"export SKILLFORGE_EXCLUDE_NEWER_PACKAGES={shlex.quote(pairs)}\n")
    for k, v in sorted(recipe.env.items()):
        user.append(f"export {k}={shlex.quote(v)}\n")
    user.append(f"cd {TESTBED}\n")
    for cmd in recipe.install:
        user.append(f"printf '%s\\n' {shlex.quote('+ ' + cmd)}\n")
        user.append(f"(cd {TESTBED} && bash -e -o pipefail -c {shlex.quote(cmd)})\n")
    user.append("echo \"== $(python --version) in $VIRTUAL_ENV\"\n")
    return "".join(root), "".join(user)


def ensure_env_image(client, settings: Settings, repo: str, recipe: EnvRecipe, source_tar: bytes | Callable[[], bytes],
                     *, log_path: Path, progress: Progress | None = None) -> str:
    """The environment image of ``repo`` under ``recipe``, built if absent.

    ``source_tar`` is a tar of the repository tree at a reference commit (or a
    callable returning it, only called when a build is needed). Install output
    goes to ``log_path`` with secrets redacted; a failed install raises
    ``InfraError(triage="install", log_path=...)``.
    """
    tag = env_image_tag(settings, repo, recipe)
    if _env_image_current(client, tag):
        return tag
    say = progress or (lambda _msg: None)
    log_path = Path(log_path)
    with _image_lock(tag):
        if _env_image_current(client, tag):
            return tag
        base = ensure_base_image(client, settings, recipe.python, progress=progress)
        data = source_tar() if callable(source_tar) else source_tar
        try:
            tracked = tar_members(data)
        except tarfile.TarError as exc:
            raise InfraError(f"source tar for {repo} is not a tar archive: {exc}", triage="install") from exc
        root_script, user_script = _env_setup_script(recipe)
        files: dict[str, bytes | str] = {
            "sf/src.tar": data,
            "sf/install.sh": user_script,
            "sf/tracked-files": "".join(p + "\0" for p in tracked),
            "sf/bin/uv": uv_binary(),
            "sf/bin/sf-install": SF_INSTALL,
            "sf/constraints.txt": "".join(c + "\n" for c in recipe.constraints),
        }
        header = (f"== environment image {tag}\n== repository {repo}\n== base {base}\n"
                  f"== recipe {recipe.model_dump_json()}\n")
        say(f"{tag}: installing ({len(recipe.install)} commands)")
        timeout = recipe.install_timeout or settings.install_timeout
        run = _run_setup(client, settings, base, root_script, files=files, network=True,
                         secret_env=settings.install_environment(), timeout=timeout,
                         what=f"install of {repo} ({tag})", log_path=log_path, triage="install", header=header,
                         target=tag, modes={"sf/bin/uv": 0o755, "sf/bin/sf-install": 0o755}, cache=True)
        try:
            env = list(BASE_ENV) + [f"{k}={v}" for k, v in sorted(recipe.env.items())]
            labels = {LABEL_KIND: "env", LABEL_PYTHON: recipe.python, LABEL_REPO: repo, LABEL_RECIPE: recipe.key(),
                      LABEL_RECIPE_JSON: recipe.model_dump_json(), LABEL_LAYOUT: LAYOUT}
            _commit(run.container, tag, env=env, labels=labels)
        except docker.errors.APIError as exc:
            raise InfraError(f"commit of {tag} failed: {exc}", triage="install", log_path=str(log_path)) from exc
        finally:
            remove_container(run.container)
        say(f"{tag}: built in {run.duration:.0f}s")
        return tag


# --------------------------------------------------------------------------- listing and pruning


@dataclass
class ImageInfo:
    tag: str
    id: str
    kind: str
    python: str
    repo: str
    recipe: str
    size: int
    created: str
    own: int = 0  # bytes of its own layers (an env image: what it adds to its base image)
    base: str = ""  # env images: the base image id they were built from, when it is still present
    containers: int = 0  # containers using it now
    layout: str = ""


def _layers(image) -> list[str]:
    return list((image.attrs.get("RootFS") or {}).get("Layers") or [])


def image_tags(client) -> set[str]:
    """Every tag the engine has (skillforge's or not)."""
    return {t for img in client.images.list() for t in img.tags}


def list_images(client, *, kind: str | None = None) -> list[ImageInfo]:
    """skillforge images (base, env), newest first; an image without a tag (an
    env image replaced by a rebuild) is listed as ``<none>@<id>``. ``own`` is
    the size of the image's own layers: an env image counts what it adds to the
    base image it was built from (whose layers it shares)."""
    label = f"{LABEL_KIND}={kind}" if kind else LABEL_KIND
    images = [i for i in client.images.list(filters={"label": label})
              if (i.labels or {}).get(LABEL_KIND) in ("base", "env")]
    bases = {i.id: i for i in client.images.list(filters={"label": f"{LABEL_KIND}=base"})}
    used: dict[str, int] = {}
    with contextlib.suppress(docker.errors.APIError):
        for c in client.containers.list(all=True, ignore_removed=True):
            img = c.attrs.get("Image", "")
            used[img] = used.get(img, 0) + 1
    out = []
    for image in images:
        labels = image.labels or {}
        size = int(image.attrs.get("Size", 0))
        own, base_id = size, ""
        if labels.get(LABEL_KIND) == "env":
            layers = _layers(image)
            # the base it was built from: the base image whose layers are the longest prefix of its own
            best = max((b for b in bases.values() if _layers(b) and layers[:len(_layers(b))] == _layers(b)),
                       key=lambda b: len(_layers(b)), default=None)
            if best is not None:
                own, base_id = max(0, size - int(best.attrs.get("Size", 0))), best.id
        for tag in image.tags or [f"<none>@{image.short_id}"]:
            out.append(ImageInfo(tag=tag, id=image.id, kind=labels.get(LABEL_KIND, ""), python=labels.get(LABEL_PYTHON, ""),
                                 repo=labels.get(LABEL_REPO, ""), recipe=labels.get(LABEL_RECIPE, ""),
                                 size=size, created=image.attrs.get("Created", ""), own=own, base=base_id,
                                 containers=used.get(image.id, 0), layout=labels.get(LABEL_LAYOUT, "")))
    return sorted(out, key=lambda i: i.created, reverse=True)


def disk_usage(images: Iterable[ImageInfo]) -> int:
    """Bytes the images take on disk: each image's own layers once, each base
    image once (its layers are shared by the env images built on it)."""
    seen: set[str] = set()
    total = 0
    for info in images:
        if info.id in seen:
            continue
        seen.add(info.id)
        total += info.own if info.kind == "env" else info.size
    return total


def prune_images(client, *, kind: str | None = "env", repo: str | None = None, keep: Iterable[str] = (),
                 dry_run: bool = False) -> list[str]:
    """Removes skillforge images (by default every env image; ``kind=None`` also
    base images), except the tags in ``keep``; untagged ones (replaced by a
    rebuild) go too. Images in use by a container are skipped. Returns the
    removed (or, with ``dry_run``, the removable) tags."""
    keep = set(keep)
    removed = []
    for info in list_images(client, kind=kind):
        if info.tag in keep or (repo and info.repo != repo) or info.containers:
            continue
        if not dry_run:
            try:
                client.images.remove(info.id if info.tag.startswith("<none>") else info.tag)
            except docker.errors.APIError:
                continue
        removed.append(info.tag)
    return removed


def recipe_of_image(client, tag: str) -> EnvRecipe | None:
    """The recipe an env image was built with (from its labels)."""
    try:
        labels = client.images.get(tag).labels or {}
    except docker.errors.ImageNotFound:
        return None
    raw = labels.get(LABEL_RECIPE_JSON)
    return EnvRecipe.model_validate(json.loads(raw)) if raw else None
