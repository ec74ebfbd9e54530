"""Shared fixtures of the validation tests.

Docker-backed fixtures fail (never skip) when no engine answers: start one with
``scripts/ensure-docker.sh``. The base image is built once and reused across
sessions; the tiny repository's environment image is rebuilt once per session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from skillforge.settings import Settings

PYTHON = "3.11"

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "tinypkg"
version = "0.1.0"
requires-python = ">=3.9,<3.12"

[project.optional-dependencies]
test = ["pytest"]

[tool.setuptools.packages.find]
where = ["src"]
"""

TEST_ADD = """\
import pytest

from tinypkg import add


def test_add():
    assert add(2, 3) == 5


def test_broken():
    assert add(2, 2) == 5


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.parametrize("a,b,total", [(1, 1, 2), (2, 2, 5)])
def test_param(a, b, total):
    assert add(a, b) == total


class TestAdd:
    def test_zero(self):
        assert add(0, 0) == 0
"""

TEST_OLD = """\
def test_old():
    pass
"""

TEST_SUB = """\
from tinypkg import sub


def test_sub():
    assert sub(5, 3) == 2
"""


@dataclass(frozen=True)
class TinyRepo:
    path: Path
    name: str      # owner/name
    c1: str        # reference commit: add, tests/test_add.py, tests/test_old.py
    c2: str        # adds sub and tests/test_sub.py, deletes tests/test_old.py
    gold: str      # git diff c1..c2

    def files(self, commit: str) -> list[str]:
        out = subprocess.run(["git", "-C", str(self.path), "ls-tree", "-r", "--name-only", commit],
                             capture_output=True, text=True, check=True).stdout
        return out.split()

    def read(self, commit: str, path: str) -> str | None:
        proc = subprocess.run(["git", "-C", str(self.path), "show", f"{commit}:{path}"], capture_output=True, text=True)
        return proc.stdout if proc.returncode == 0 else None


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory) -> TinyRepo:
    repo = tmp_path_factory.mktemp("tiny") / "tinypkg"
    (repo / "src" / "tinypkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "src" / "tinypkg" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "tests" / "test_add.py").write_text(TEST_ADD)
    (repo / "tests" / "test_old.py").write_text(TEST_OLD)
    (repo / "run.sh").write_text("#!/bin/sh\necho executable\n")
    (repo / "run.sh").chmod(0o755)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "c1")
    c1 = _git(repo, "rev-parse", "HEAD").strip()
    (repo / "src" / "tinypkg" / "__init__.py").write_text(
        "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    (repo / "tests" / "test_sub.py").write_text(TEST_SUB)
    (repo / "tests" / "test_old.py").unlink()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "c2")
    c2 = _git(repo, "rev-parse", "HEAD").strip()
    gold = _git(repo, "diff", c1, c2)
    # a name of this session's own: images made for it are this session's, and nothing else's is touched
    return TinyRepo(path=repo, name=f"example/tinypkg-s{os.getpid()}", c1=c1, c2=c2, gold=gold)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"no Docker engine answers ({exc}); start one with scripts/ensure-docker.sh", pytrace=False)
    before = {c.id for c in _skillforge_containers(client)}
    yield client
    left = [c.name for c in _skillforge_containers(client) if c.id not in before]
    assert not left, f"containers left behind: {left}"


def _skillforge_containers(client):
    """Run and setup containers of these tests (other sessions may share the engine:
    containers another process created are not ours)."""
    from skillforge.execution.images import LABEL_KIND, LABEL_OWNER, owner

    ours = []
    for c in client.containers.list(all=True, filters={"label": LABEL_KIND}, ignore_removed=True):
        labels = c.labels or {}
        if labels.get(LABEL_OWNER, owner()) != owner():
            continue
        if labels.get(LABEL_KIND) == "run" and labels.get("skillforge.environment", "").startswith("example__"):
            ours.append(c)
        elif labels.get(LABEL_KIND) == "setup" and labels.get("skillforge.target", "").startswith(
                ("skillforge/env:example__", "skillforge/test-pulled")):
            ours.append(c)
    return ours


@pytest.fixture(scope="session")
def base_image(docker_client, settings) -> str:
    from skillforge.execution.images import ensure_base_image

    started = time.monotonic()
    tag = ensure_base_image(docker_client, settings, PYTHON, progress=print)
    print(f"base image {tag} ready in {time.monotonic() - started:.1f}s")
    return tag


@pytest.fixture(scope="session")
def tiny_env(docker_client, settings, base_image, tiny_repo, tmp_path_factory):
    """(EnvInfo, install log path, build seconds) of the tiny repository,
    with the recipe inferred from its files."""
    from skillforge.execution.images import ensure_env_image, env_image_tag
    from skillforge.environments.infer import infer_recipe
    from skillforge.execution.sandbox import EnvInfo, git_tree_tar

    recipe = infer_recipe(lambda p: tiny_repo.read(tiny_repo.c1, p), tiny_repo.files(tiny_repo.c1))
    tag = env_image_tag(settings, tiny_repo.name, recipe)
    try:
        docker_client.images.remove(tag, force=True)
    except Exception:  # noqa: BLE001 - absent
        pass
    log = tmp_path_factory.mktemp("logs") / "install.log"
    started = time.monotonic()
    built = ensure_env_image(docker_client, settings, tiny_repo.name, recipe,
                             git_tree_tar(tiny_repo.path, tiny_repo.c1), log_path=log)
    seconds = time.monotonic() - started
    print(f"env image {built} built in {seconds:.1f}s")
    yield EnvInfo(image=built, repo=tiny_repo.name, recipe=recipe), log, seconds
    try:  # this session's own image (its repository name is this session's)
        docker_client.images.remove(built, force=True)
    except Exception:  # noqa: BLE001 - in use by a container still being removed: the next prune takes it
        pass


# --------------------------------------------------------------------------- the bundled sample

SAMPLE_REPO = "skillforge-samples/minicalc"


@pytest.fixture(scope="session")
def sample_env_recipe() -> dict:
    """The sample's environment recipe, as recipes/sample.yaml gives it."""
    from skillforge.stages.recipe import load_run_recipe

    root = Path(__file__).resolve().parents[1]
    recipe = load_run_recipe(root / "recipes" / "sample.yaml")
    return recipe.sources[0].environment


@pytest.fixture(scope="session")
def sample_source(tmp_path_factory) -> Path:
    """The bundled sample's git history, generated once per session."""
    from skillforge.resources import resource_dir
    SAMPLES_DIR = resource_dir("samples")
    from skillforge.sample import generate_sample_repo

    return generate_sample_repo(tmp_path_factory.mktemp("sample") / "minicalc", SAMPLES_DIR / "minicalc")


@pytest.fixture(scope="session")
def sample_workspace(sample_source, tmp_path_factory):
    """A factory: a new workspace with the sample's newest ``limit`` PRs mined and analyzed."""
    from skillforge.stages.analyze import run_analyze
    from skillforge.mine.local import mine_local
    from skillforge.workspace import Workspace

    def make(name: str = "ws", limit: int | None = None) -> Workspace:
        ws = Workspace(tmp_path_factory.mktemp(name))
        mine_local(ws, sample_source, repo_name=SAMPLE_REPO, limit=limit)
        run_analyze(ws)
        return ws

    return make


# --------------------------------------------------------------------------- skillforge as users install it


@dataclass
class Installed:
    """The installed ``skillforge`` command and the environment to run it in (no PYTHONPATH that
    could put a checkout before the wheel)."""

    command: Path
    env: dict

    def run(self, *args: str, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.command), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=self.env)


@pytest.fixture(scope="session")
def installed_skillforge(tmp_path_factory) -> Installed:
    """The ``skillforge`` command of a wheel built from this checkout and installed
    (not editable) in a fresh virtual environment. The wheel's dependencies come from
    the test environment's site-packages (a ``.pth`` line, so its editable install of
    skillforge is not seen): what is tested is the wheel itself, resources included."""
    import sysconfig
    import venv

    root = Path(__file__).resolve().parents[1]
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"),
                            str(root)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = next((work / "dist").glob("skillforge-*.whl"))
    env = work / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "skillforge-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    clean["COLUMNS"] = "200"
    where = subprocess.run([str(python), "-c", "import skillforge, skillforge.resources as r; "
                            "print(skillforge.__file__); print(r.resource_dir('data_cards'))"],
                           capture_output=True, text=True, cwd=work, check=True, env=clean).stdout.split()
    assert where[0].startswith(str(env)) and where[1].startswith(str(env)), where  # the wheel, not the checkout
    return Installed(env / "bin" / "skillforge", clean)


# --------------------------------------------------------------------------- processes


def _child_pids() -> list[int]:
    """Live (not zombie) child processes of this test process."""
    me, out = os.getpid(), []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != "Z":
                out.append(int(pid))
    return out


@pytest.fixture
def child_pids():
    """``child_pids()``: the live child processes of this test process, now."""
    return _child_pids
