import pytest
from typer.testing import CliRunner

from skillforge.cli.main import app
from skillforge.doctor import TRAIN_INSTALL, check_train_extra, run_checks


@pytest.mark.docker
def test_doctor_finds_the_engine_and_never_prints_tokens(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_doctorSecret123456")
    monkeypatch.setenv("HF_TOKEN", "hf_doctorSecret123456")
    result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "docker engine" in result.output and "Docker " in result.output
    assert "GitHub token" in result.output and "set" in result.output
    assert "Secret123456" not in result.output


def test_doctor_fails_and_says_how_to_fix_without_an_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "docker engine" in result.output and "missing" in result.output
    docker = next(c for c in run_checks() if c.name == "docker engine")
    # a fix that works from a wheel install: what to install and run, no path of a source checkout
    assert not docker.ok and "docs.docker.com/engine/install" in docker.fix and "DOCKER_HOST" in docker.fix
    assert all("scripts/" not in c.fix for c in run_checks())


def test_doctor_prints_the_versions_it_runs_with(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    import platform
    from importlib.metadata import version

    checks = {c.name: c for c in run_checks()}
    assert checks["skillforge"].ok and version("skillforge") in checks["skillforge"].detail
    assert checks["python"].ok and platform.python_version() in checks["python"].detail
    assert checks["git"].ok and "git version" in checks["git"].detail
    assert checks["uv"].ok and checks["uv"].detail.startswith("uv ")
    result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "200"})
    for name in ("skillforge", "python", "git", "uv", "train extra"):
        assert name in result.output


def test_doctor_checks_the_train_extra_and_says_how_to_install_it(monkeypatch):
    import importlib.util

    present = check_train_extra()
    assert present.name == "train extra" and not present.required
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trl" else real(name, *a))
    missing = check_train_extra()
    assert not missing.ok and not missing.required and "trl" in missing.detail
    assert missing.fix == TRAIN_INSTALL and "'skillforge[train]'" in missing.fix and "torch==" in missing.fix


def test_doctor_tells_the_current_hub_login():
    hub = next(c for c in run_checks() if c.name == "Hugging Face token")
    assert "hf auth login" in hub.fix and "huggingface-cli" not in hub.fix
