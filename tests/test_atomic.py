"""Outputs appear whole or not at all."""

from __future__ import annotations

import pytest

from models.atomic import atomic_path


def test_complete_write_replaces_the_target(tmp_path):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with atomic_path(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".txt" and tmp != dest
        tmp.write_text("new")
        assert dest.read_text() == "old"  # untouched until the block completes
    assert dest.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failed_write_leaves_the_target_and_no_temporary(tmp_path):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
