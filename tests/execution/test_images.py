"""Base and environment images against the real Docker engine."""

from __future__ import annotations

import re
import dataclasses

import pytest

from skillforge.settings import CA_MOUNT
from skillforge.execution import InfraError
from skillforge.execution.images import (
    TRACKED_FILES, ensure_base_image, ensure_env_image, env_image_tag, list_images, prune_images, recipe_of_image,
)
from skillforge.schema import EnvRecipe
from skillforge.execution.sandbox import git_tree_tar

pytestmark = pytest.mark.docker


def sh(client, image: str, command: str, **kwargs) -> str:
    out = client.containers.run(image, ["/bin/bash", "-c", command], remove=True, network_mode="none", **kwargs)
    return out.decode()


def test_base_image(docker_client, settings, base_image):
    assert base_image == settings.base_image("3.11")
    # a second call reuses the image
    assert ensure_base_image(docker_client, settings, "3.11") == base_image
    image = docker_client.images.get(base_image)
    assert image.labels["skillforge.kind"] == "base"
    assert image.labels["skillforge.python"] == "3.11"
    config = image.attrs["Config"]
    assert config["WorkingDir"] == "/testbed"
    assert "VIRTUAL_ENV=/opt/venv" in config["Env"]
    out = sh(docker_client, base_image,
             "python --version; git --version; id -u; id -un; stat -c %u /testbed /opt/venv; "
             "command -v python; test -x /opt/venv/bin/pip && echo pip-ok")
    lines = out.split()
    assert "3.11" in out.splitlines()[0]
    assert "git version" in out
    assert out.splitlines()[2:4] == ["1000", "sf"]
    assert out.splitlines()[4:6] == ["1000", "1000"]
    assert "/opt/venv/bin/python" in lines
    assert "pip-ok" in lines


class _PullingClient:
    """A client whose pulls 'succeed' with a local image (no registry here)."""

    def __init__(self, real, image: str):
        self._real, self._image, self.pulled = real, image, []

    def __getattr__(self, name):
        return getattr(self._real, name)

    @property
    def images(self):
        images = self._real.images

        def pull(ref, *args, **kwargs):
            self.pulled.append(ref)
            return self._real.images.get(self._image)

        images.pull = pull
        return images


def test_base_image_from_a_pulled_image(docker_client, settings, base_image):
    """The registry path: a pulled image is completed by a setup container and committed."""
    s = dataclasses.replace(settings, base_image_template="skillforge/test-pulled:py{python}")
    client = _PullingClient(docker_client, base_image)
    tag = ensure_base_image(client, s, "3.11")
    try:
        assert client.pulled == ["python:3.11-slim"]
        image = docker_client.images.get(tag)
        assert image.labels["skillforge.source"] == "python:3.11-slim"
        assert image.attrs["Config"]["User"] == "1000:1000"
        assert "PIP_CERT" not in str(image.attrs["Config"]["Env"])
        assert sh(docker_client, tag, "id -u; python -c 'import sys; print(sys.prefix)'").split() == ["1000", "/opt/venv"]
    finally:
        docker_client.images.remove(tag, force=True)


def test_unsupported_python_is_refused(docker_client, settings):
    s = dataclasses.replace(settings, pull_image_template="")
    with pytest.raises(InfraError, match="made from a Debian or Ubuntu mirror are 3.6 .bionic., 3.8 .focal., "
                                         "3.9 .bullseye.*register an image for 3.4 with SKILLFORGE_BASE_IMAGES"):
        ensure_base_image(docker_client, s, "3.4")


def test_env_image(docker_client, settings, tiny_env, tiny_repo):
    env, log, _seconds = tiny_env
    assert env.image == env_image_tag(settings, tiny_repo.name, env.recipe)
    assert env.image.startswith("skillforge/env:example__tinypkg-")
    image = docker_client.images.get(env.image)
    labels = image.labels
    assert labels["skillforge.kind"] == "env"
    assert labels["skillforge.repo"] == tiny_repo.name
    assert labels["skillforge.recipe"] == env.recipe.key()
    assert recipe_of_image(docker_client, env.image) == env.recipe
    # no install-time variables (CA, proxies, index) persisted in the image
    config_env = "\n".join(image.attrs["Config"]["Env"])
    for key in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "PIP_INDEX_URL", CA_MOUNT):
        assert key not in config_env
    assert image.attrs["Config"]["User"] == "1000:1000"
    out = sh(docker_client, env.image,
             "python -c 'import tinypkg, pytest; print(tinypkg.__file__); print(pytest.__version__)'; "
             f"tr '\\0' '\\n' < {TRACKED_FILES}; test -e /sf || echo no-sf; stat -c %u /testbed/pyproject.toml; "
             "test -x /testbed/run.sh && echo exec-ok")
    assert "/testbed/src/tinypkg/__init__.py" in out  # editable install
    assert "tests/test_old.py" in out and "pyproject.toml" in out
    assert "no-sf" in out and "exec-ok" in out
    text = log.read_text()
    assert re.search(r"Installed \d+ packages|Successfully installed", text) and "tinypkg" in text  # uv, or pip
    # reuse: the same repo and recipe give the same image without building
    assert ensure_env_image(docker_client, settings, tiny_repo.name, env.recipe, lambda: b"unused",
                            log_path=log.parent / "unused.log") == env.image
    assert not (log.parent / "unused.log").exists()
    assert any(i.tag == env.image and i.kind == "env" for i in list_images(docker_client))


def test_secrets_stay_out_of_images_and_logs(docker_client, settings, base_image, tiny_repo, tmp_path):
    token = "sekrit-token-4711"
    s = dataclasses.replace(settings, pip_extra_index_url=f"https://user:{token}@pypi.invalid/simple")
    recipe = EnvRecipe(install=['test -n "$PIP_EXTRA_INDEX_URL"', 'echo "index: $PIP_EXTRA_INDEX_URL"'],
                       env={"SF_TEST_MARKER": tmp_path.name})
    tar = git_tree_tar(tiny_repo.path, tiny_repo.c1)
    log = tmp_path / "install.log"
    tag = ensure_env_image(docker_client, s, "example/secrets", recipe, tar, log_path=log)
    try:
        text = log.read_text()
        assert "index: https://user:***@pypi.invalid/simple" in text or "index: ***" in text
        assert token not in text
        image = docker_client.images.get(tag)
        assert token not in str(image.attrs["Config"])
        assert f"SF_TEST_MARKER={tmp_path.name}" in image.attrs["Config"]["Env"]
        found = sh(docker_client, tag, f"grep -rl {token} / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; true",
                   user="0:0")
        assert found.strip() == ""
    finally:
        docker_client.images.remove(tag, force=True)


def test_failed_install_raises_with_log(docker_client, settings, base_image, tiny_repo, tmp_path):
    recipe = EnvRecipe(install=["echo about to fail", "exit 3"], env={"SF_TEST_MARKER": tmp_path.name})
    log = tmp_path / "install.log"
    with pytest.raises(InfraError) as info:
        ensure_env_image(docker_client, settings, "example/failing", recipe,
                         git_tree_tar(tiny_repo.path, tiny_repo.c1), log_path=log)
    assert info.value.triage == "install"
    assert info.value.log_path == str(log)
    assert str(log) in str(info.value)
    assert "about to fail" in log.read_text()
    assert not docker_client.images.list(name=env_image_tag(settings, "example/failing", recipe))


def test_prune_dry_run(docker_client, tiny_env):
    env, _log, _seconds = tiny_env
    assert env.image in prune_images(docker_client, kind="env", repo=env.repo, dry_run=True)
    # keeping the one tag: only untagged leftovers of the repository (images replaced by a rebuild) may go
    removed = prune_images(docker_client, kind="env", repo=env.repo, keep=[env.image])
    assert all(tag.startswith("<none>@") for tag in removed), removed
    docker_client.images.get(env.image)


def test_env_image_carries_install_products(docker_client, tiny_env):
    from skillforge.execution.images import LABEL_LAYOUT, LAYOUT, PRODUCTS_TAR

    env, _log, _seconds = tiny_env
    assert docker_client.images.get(env.image).labels[LABEL_LAYOUT] == LAYOUT
    listing = sh(docker_client, env.image, f"tar -tf {PRODUCTS_TAR}").split()
    assert "src/tinypkg.egg-info/PKG-INFO" in listing
    assert not any(p.startswith(("tests/", "src/tinypkg/")) or p == "pyproject.toml" for p in listing)


def test_list_images_counts_base_layers_once(docker_client, tiny_env, base_image):
    from skillforge.execution.images import disk_usage

    env, _log, _seconds = tiny_env
    infos = {i.tag: i for i in list_images(docker_client)}
    mine, base = infos[env.image], infos[base_image]
    assert mine.kind == "env" and mine.repo == env.repo and mine.python == "3.11"
    assert mine.base == base.id and 0 < mine.own < mine.size and mine.size == base.size + mine.own
    assert disk_usage([mine, base]) == base.size + mine.own
    assert disk_usage([mine, base, mine]) == disk_usage([mine, base])


def test_images_ls_and_prune_commands(docker_client, tiny_env):
    from typer.testing import CliRunner

    from skillforge.cli.main import app

    env, _log, _seconds = tiny_env
    runner = CliRunner()
    listed = runner.invoke(app, ["images", "ls", "--repo", env.repo], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert env.image in listed.output and "skillforge/base:py3.11" in listed.output
    assert "disk:" in listed.output and "base layers counted once" in listed.output
    pruned = runner.invoke(app, ["images", "prune", "--repo", env.repo, "--dry-run"], env={"COLUMNS": "250"})
    assert pruned.exit_code == 0, pruned.output
    assert f"would remove {env.image}" in pruned.output and re.search(r"would remove \d+ images", pruned.output)
    docker_client.images.get(env.image)  # a dry run removes nothing
