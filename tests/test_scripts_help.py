"""Every script in docs/, benchmarks/ and samples/ answers --help and does nothing else:
no picture regenerated, no sample overwritten."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(
    p
    for pattern in ("docs/*.py", "benchmarks/*.py", "samples/*.py")
    for p in ROOT.glob(pattern)
    if p.name != "__init__.py"
)


def _snapshot() -> dict[str, tuple[int, int]]:
    """(mtime, size) of every file in the checkout but git's own and bytecode."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in (".git", "__pycache__")]
        for name in filenames:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_mtime_ns, st.st_size)
    return out


@pytest.mark.slow
def test_every_script_answers_help_without_side_effects():
    assert {"make_strip.py", "make_samples.py", "bench_video.py"} <= {p.name for p in SCRIPTS}
    before = _snapshot()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    procs = {
        p: subprocess.Popen(
            [sys.executable, str(p), "--help"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in SCRIPTS
    }
    failures = []
    for p, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0 or not out.startswith("usage:"):
            failures.append(f"{p.relative_to(ROOT)}: exit {proc.returncode}: {err[-300:]}")
    assert not failures
    after = _snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"--help changed files: {changed}"
