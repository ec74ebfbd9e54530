"""Publishing to the Hugging Face Hub with the real ``huggingface_hub`` client, against the
loopback stand-in (tests/export/hub_standin.py), then reading back through it with
``datasets.load_dataset`` and ``hf_hub_download``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from skillforge.schema import Outcome, Triage
from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_standin import HubStandIn  # noqa: E402
from workspaces import build_workspace  # noqa: E402

from skillforge.export.hf import export_hf  # noqa: E402
from skillforge.export.hub import HubError, push_to_hub  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_standinSECRET0123456789abcdef"
REPO = "acme/calc-skills"


def _no_proxy(env) -> str:
    """NO_PROXY with the loopback address added, so a proxy configured on the machine is bypassed."""
    return ",".join(filter(None, [env.get("NO_PROXY") or env.get("no_proxy"), "127.0.0.1", "localhost"]))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", _no_proxy(os.environ))
    monkeypatch.setenv("no_proxy", _no_proxy(os.environ))
    with HubStandIn(tmp_path / "hub-storage", token=TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
def lfs_client(monkeypatch):
    """The client as it runs with HF_HUB_DISABLE_XET=1 (read at import, so set on the constant here)."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


def _env(hub: HubStandIn, home: Path, token: str | None = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "TRANSFORMERS_OFFLINE"}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(home), HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1",
               COLUMNS="200", NO_PROXY=_no_proxy(env), no_proxy=_no_proxy(env))
    if token:
        env["HF_TOKEN"] = token
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "skillforge.cli.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def _local_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in _files_under(out)}


LOADER = """
import json, sys, datasets
from huggingface_hub import hf_hub_download
datasets.disable_progress_bars()
repo = sys.argv[1]
out = {name: datasets.load_dataset(repo, name=name, split="train").to_list() for name in ("editing", "localization")}
out["README.md"] = hf_hub_download(repo, "README.md", repo_type="dataset")
print(json.dumps(out))
"""


def test_cli_pushes_the_export_and_datasets_loads_it_back_through_the_hub(tmp_path, hub):
    ws = build_workspace(tmp_path / "ws")
    out, home = tmp_path / "out", tmp_path / "hf-home"
    env = _env(hub, home)
    proc = _cli("export", "-w", str(ws.root), "--out", str(out), "--push-to-hub", REPO,
                "--commit-message", "First export", env=env)
    assert proc.returncode == 0, proc.stderr
    head = hub.repo(REPO).branches["main"]
    assert f"published {REPO}: {hub.url}/datasets/{REPO}/commit/{head}" in proc.stdout

    # what the client sent: the token as a Bearer header to the Hub, never to the object store
    pushed = list(hub.requests)
    hub_calls = {(r.method, r.path.split("?")[0]) for r in pushed if r.server == "hub"}
    for call in [("POST", "/api/repos/create"), ("POST", f"/api/datasets/{REPO}/preupload/main"),
                 ("POST", f"/datasets/{REPO}.git/info/lfs/objects/batch"),
                 ("POST", f"/datasets/{REPO}.git/info/lfs/objects/verify"), ("POST", f"/api/datasets/{REPO}/commit/main")]:
        assert call in hub_calls
    for r in pushed:
        if r.server == "hub" and r.method == "POST":
            assert r.headers.get("authorization") == f"Bearer {TOKEN}", r.path
    puts = [r for r in pushed if r.server == "storage"]
    assert puts and all(r.method == "PUT" and "authorization" not in r.headers for r in puts)
    assert not any("xet" in r.path for r in pushed)

    # the repository holds exactly the export, byte for byte: parquet through LFS, the card and JSON as git blobs
    local = _local_files(out)
    remote = hub.files(REPO)
    assert set(remote) == set(local) | {".gitattributes"}
    assert all(remote[p] == data for p, data in local.items())
    commit = hub.repo(REPO).commits[head]
    assert commit.title == "First export"
    assert {p for p, e in commit.files.items() if e.is_lfs} == {p for p in local if p.endswith(".parquet")}
    assert len(puts) == sum(p.endswith(".parquet") for p in local)

    # read back through the same stand-in, as a user of the Hub would
    n = len(hub.requests)
    loaded = subprocess.run([sys.executable, "-c", LOADER, REPO], env=env, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    rows = json.loads(loaded.stdout.strip().splitlines()[-1])
    for name in ("editing", "localization"):
        assert rows[name] == datasets.load_dataset(str(out), name=name, split="train").to_list()
    assert [r["instance_id"] for r in rows["editing"]] == ["acme__calc-7.editing", "acme__calc-9.editing"]
    assert Path(rows["README.md"]).read_bytes() == (out / "README.md").read_bytes()
    reads = hub.requests[n:]
    assert any(r.server == "storage" and r.method == "GET" for r in reads)  # parquet via the signed redirect
    assert all("authorization" not in r.headers for r in reads if r.server == "storage")
    assert any(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in reads if r.server == "hub")

    # the token is nowhere: not in the output, the export, the workspace, the cache, nor the published files
    assert TOKEN not in proc.stdout + proc.stderr + loaded.stdout + loaded.stderr
    for path in _files_under(out, ws.root, home, hub.storage):
        assert TOKEN.encode() not in path.read_bytes(), path


def test_pushing_again_is_idempotent_and_the_repository_mirrors_the_folder(tmp_path, hub, lfs_client):
    ws = build_workspace(tmp_path / "ws")
    out = tmp_path / "out"
    export_hf(ws, out)
    first = push_to_hub(out, REPO, token=TOKEN, endpoint=hub.url)
    repo = hub.repo(REPO)
    assert len(repo.commits) == 2  # the Hub's initial commit, then ours

    n = len(hub.requests)
    assert push_to_hub(out, REPO, token=TOKEN, endpoint=hub.url) == first
    assert len(repo.commits) == 2
    again = hub.requests[n:]
    assert not any(r.method == "POST" and "/commit/" in r.path for r in again)
    assert not any(r.server == "storage" for r in again)

    # one review drops out: one new commit, and only the files that changed travel
    ws.set_candidate_result("acme__calc-7.review-1", "invalid", outcome=Outcome.failed(Triage.FLAKY))
    before = _local_files(out)
    export_hf(ws, out)
    (out / "skillforge_stats.json").unlink()
    after = _local_files(out)
    changed = {p for p in after if before[p] != after[p]}
    assert "review/train-00000-of-00001.parquet" in changed and "editing/train-00000-of-00001.parquet" not in changed
    n = len(hub.requests)
    third = push_to_hub(out, REPO, token=TOKEN, endpoint=hub.url, commit_message="Drop a flaky review")
    assert third != first and len(repo.commits) == 3
    remote = hub.files(REPO)
    assert set(remote) == set(after) | {".gitattributes"}  # the stats file is gone from the Hub too
    assert all(remote[p] == data for p, data in after.items())
    uploaded = [r.path.split("?")[0].rsplit("/", 1)[-1] for r in hub.requests[n:] if r.server == "storage"]
    assert uploaded == [repo.commits[repo.branches["main"]].files["review/train-00000-of-00001.parquet"].sha256]


def test_private_repository_on_a_branch(tmp_path, hub, lfs_client):
    ws = build_workspace(tmp_path / "ws")
    out = tmp_path / "out"
    export_hf(ws, out)
    url = push_to_hub(out, "calc-private", token=TOKEN, endpoint=hub.url, private=True, revision="v1")
    repo = hub.repo(f"{hub.user}/calc-private")  # a bare name lands in the token owner's namespace
    assert repo.private and url.endswith(repo.branches["v1"])
    assert set(hub.files(repo.repo_id, "main")) == {".gitattributes"}
    assert hub.files(repo.repo_id, "v1")["README.md"] == (out / "README.md").read_bytes()

    cache = tmp_path / "cache"
    got = hf_hub_download(repo.repo_id, "README.md", repo_type="dataset", revision="v1", endpoint=hub.url,
                          token=TOKEN, cache_dir=cache)
    assert Path(got).read_bytes() == (out / "README.md").read_bytes()
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo.repo_id, "README.md", repo_type="dataset", revision="v1", endpoint=hub.url,
                        token=False, cache_dir=tmp_path / "anonymous-cache")

    push_to_hub(out, REPO, token=TOKEN, endpoint=hub.url)
    with pytest.raises(HubError, match="exists and is public"):
        push_to_hub(out, REPO, token=TOKEN, endpoint=hub.url, private=True)


def test_missing_token_says_how_to_fix_it_and_reaches_no_hub(tmp_path, hub):
    ws = build_workspace(tmp_path / "ws")
    out = tmp_path / "out"
    proc = _cli("export", "-w", str(ws.root), "--out", str(out), "--push-to-hub", REPO,
                env=_env(hub, tmp_path / "empty-home", token=None))
    assert proc.returncode == 1
    message = " ".join(proc.stderr.split())
    assert "no Hugging Face token" in message and "HF_TOKEN" in message and "hf auth login" in message
    assert "the export in" in message and (out / "README.md").exists()
    assert hub.requests == []


def test_a_refused_token_is_explained_without_echoing_it(tmp_path, hub, lfs_client):
    out = tmp_path / "out"
    export_hf(build_workspace(tmp_path / "ws"), out)
    wrong = "hf_wrongTOKEN9876543210"
    with pytest.raises(HubError) as err:
        push_to_hub(out, REPO, token=wrong, endpoint=hub.url)
    assert "(401)" in str(err.value) and "write access" in str(err.value) and wrong not in str(err.value)
    assert hub.requests[0].headers["authorization"] == f"Bearer {wrong}" and hub.repos == {}


def test_a_client_using_xet_is_told_to_use_lfs_against_an_lfs_only_hub(tmp_path, hub, monkeypatch):
    """huggingface_hub picks Xet on its own when hf_xet is installed; the stand-in, like any
    LFS-only server, refuses the Xet token and the error says what to set."""
    from huggingface_hub.utils._runtime import is_xet_available

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    assert is_xet_available(), "hf_xet ships with huggingface_hub; this test covers the client's Xet path"
    out = tmp_path / "out"
    export_hf(build_workspace(tmp_path / "ws"), out)
    with pytest.raises(HubError, match="HF_HUB_DISABLE_XET=1"):
        push_to_hub(out, REPO, token=TOKEN, endpoint=hub.url)
    assert any("/xet-write-token/" in r.path for r in hub.requests)
    assert not any(r.method == "POST" and "/commit/" in r.path for r in hub.requests)
