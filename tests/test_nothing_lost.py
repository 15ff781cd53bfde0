"""Nothing lost (issue 20): an interrupted re-run keeps the finished output it would have
replaced, a frame folder never mixes two runs, a frame folder on a disk that cannot take it
is one line, and an input that ends early says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from video_clips import make_clip, slow_fake_cli, stream_times

from realtime.jobs.video import convert_video

ROOT = Path(__file__).resolve().parents[1]


def invert(img: np.ndarray) -> np.ndarray:
    return 255 - img


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("lost") / "in.mp4", fps=30, seconds=2.0, audio_seconds=2.0
    )


def test_an_interrupted_rerun_keeps_the_finished_output(clip, tmp_path) -> None:
    out = tmp_path / "c.mp4"
    convert_video(str(clip), str(out), processor=invert, progress=False, as_json=True)
    before = out.read_bytes()
    p = subprocess.Popen(
        [sys.executable, "-c", slow_fake_cli("realtime.jobs.video", 0.03), "video", str(clip),
         "-o", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    done = 0
    for line in p.stdout:
        done += line.startswith("frame")
        if done == 20:
            os.killpg(p.pid, signal.SIGTERM)
            break
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert out.read_bytes() == before  # the finished result is untouched
    partial = tmp_path / "c.partial.mp4"
    lines = [ln for ln in err.splitlines() if ln.startswith("interrupted:")]
    assert len(lines) == 1 and str(partial) in lines[0] and str(out) in lines[0], err
    assert 20 <= stream_times(partial).count < 60
    assert sorted(f.name for f in tmp_path.iterdir()) == ["c.mp4", "c.partial.mp4"]
