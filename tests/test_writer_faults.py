"""The ffmpeg video writer at its edges (issue 15): the shortest outputs (item 6), a full
disk (item 4) and interrupts during a slow close (item 16)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from video_clips import stream_times

from realtime.ffmpeg import probe
from realtime.frame import Frame
from realtime.sinks.ffmpeg_writer import FfmpegVideoWriter
from realtime.sources.video_file import VideoFileSource


def _frame(i: int, h: int = 32, w: int = 48) -> Frame:
    return Frame(np.full((h, w, 3), 40 + 60 * i, np.uint8), i / 10, i)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
@pytest.mark.parametrize("fps", [10.0, None])
@pytest.mark.parametrize("count", [1, 2])
def test_one_and_two_frame_outputs_play_and_read_back(tmp_path, count, fps, suffix) -> None:
    out = tmp_path / f"short{suffix}"
    with FfmpegVideoWriter(out, fps=fps) as w:
        for i in range(count):
            w.write(_frame(i))
    info = probe(out)
    # not "Duration: N/A"; a lone frame of unknown rate lasts the writer's default 1/30 s
    # (ffmpeg prints the duration to 10 ms)
    expected = count / 10 if fps or count > 1 else 1 / 30
    assert info.duration == pytest.approx(expected, abs=0.005)
    times = stream_times(out)
    assert times.count == count and times.pts == pytest.approx([i / 10 for i in range(count)])
    cap = cv2.VideoCapture(str(out))
    read = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        read.append(bgr)
    cap.release()
    assert len(read) == count
    with VideoFileSource(str(out)) as src:
        frames = list(src)
    assert [f.index for f in frames] == list(range(count))
    assert [int(f.image.mean()) for f in frames] == pytest.approx(
        [40 + 60 * i for i in range(count)], abs=3
    )
