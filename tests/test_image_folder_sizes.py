"""A folder of frames with mixed sizes is fitted to the first frame's size with a warning,
not a traceback from the writer (issue 15, item 9)."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from realtime.frame import Frame
from realtime.sinks.ffmpeg_writer import FfmpegVideoWriter
from realtime.sources.image_folder import ImageFolderSource


def test_mixed_sizes_are_resized_to_the_first_with_one_warning(tmp_path, caplog) -> None:
    sizes = {"f1.png": (48, 64), "f2.png": (24, 32), "f3.png": (48, 64), "f4.png": (60, 40)}
    for name, (h, w) in sizes.items():
        cv2.imwrite(str(tmp_path / name), np.full((h, w, 3), 100, np.uint8))
    out = tmp_path / "out" / "clip.mp4"
    out.parent.mkdir()
    with caplog.at_level(logging.WARNING):
        src = ImageFolderSource(str(tmp_path), fps=10)
        with FfmpegVideoWriter(out, fps=10) as w:
            frames = []
            for f in src:
                frames.append(f)
                w.write(Frame(f.image, f.pts, f.index))
    assert [f.image.shape for f in frames] == [(48, 64, 3)] * 4
    assert int(frames[1].image.mean()) == 100  # the picture, resized
    assert src.resized == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "f2.png is 32x24, the first frame 64x48" in warnings[0]
    assert out.exists()
