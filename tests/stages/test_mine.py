"""What a source string means to ``skillforge mine`` (local path, GitHub, or an error)."""

from __future__ import annotations

import os

import pytest

from skillforge.mine.local import MineError
from skillforge.stages.mine import source_spec


def test_source_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repos").mkdir()
    assert source_spec("github:pallets/click").github == "pallets/click"
    assert source_spec("pallets/click").github == "pallets/click"  # nothing of it exists here
    # the first path component exists: a local path, never a GitHub request, even when mistyped
    assert source_spec("repos/typo").path == "repos/typo"
    assert source_spec("./click").path == "./click"
    assert source_spec(str(tmp_path / "x")).path == str(tmp_path / "x")
    assert source_spec("pallets/click", require_issue=True).require_issue is True
    with pytest.raises(MineError, match="github: needs owner/name"):
        source_spec("github:click")
    with pytest.raises(MineError, match="no such local repository, and not a GitHub owner/name"):
        source_spec("click")
    assert os.getcwd() == str(tmp_path)
