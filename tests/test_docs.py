"""The docs hold the design: nothing cites a design file outside the repository (the
design the code relies on is docs/design.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_DESIGN = "DESIGN" + ".md"  # spelled apart so this file does not cite it


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_cites_a_design_file_outside_the_repository() -> None:
    files = _tracked_files()
    assert ROOT / "docs" / "design.md" in files
    citing = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files (pictures) and files deleted but not yet committed
        if OUTSIDE_DESIGN in text:
            citing.append(str(path.relative_to(ROOT)))
    assert citing == []
