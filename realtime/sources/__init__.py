"""Sources: each an iterator of Frames and a context manager (see base.Source)."""

from __future__ import annotations

import os
from pathlib import Path

from realtime.sources.base import Source

TEST_PATTERNS = "testpattern (moving) or testpattern:still"


def open_file_source(
    spec: str,
    *,
    start: float | None = None,
    end: float | None = None,
    size: int | None = None,
    fps: float | None = None,
) -> Source:
    """A never-dropping source for a video file or URL, a folder of images or a
    printf-style pattern (frames/%05d.png)."""
    from realtime import validate
    from realtime.sources.image_folder import ImageFolderSource, is_pattern

    validate.refuse_stdin(spec)
    # checked here, before any default replaces them (--fps 0 became 25)
    fps = validate.positive_finite("--fps", fps)
    size = validate.long_side("--size", size)
    if is_pattern(spec) or Path(spec).is_dir():
        if start is not None or end is not None or size is not None:
            from models.errors import UserError

            raise UserError(f"{spec}: --start/--end/--size apply to video files, not frames")
        return ImageFolderSource(spec, fps=fps or 25.0)
    from realtime.sources.video_file import VideoFileSource

    return VideoFileSource(spec, start=start, end=end, size=size)


def open_live_source(
    spec: str | int | None,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    loop: bool = False,
) -> Source:
    """A live source: camera index/path (default camera 0), `testpattern` (the moving
    scene) or `testpattern:still` (a still camera, a van driving in, an exposure step), a
    stream URL, or a video file / image folder played back paced at its own rate (from the
    start again when it ends, with `loop`)."""
    from realtime.sources.stream import NetworkStreamSource, is_url
    from realtime.sources.test_pattern import SCENES, TestPatternSource
    from realtime.sources.webcam import WebcamSource
    from realtime.validate import positive_finite

    fps = positive_finite("--fps", fps)
    if spec is None:
        return WebcamSource(0, width=width, height=height, fps=fps)
    s = str(spec)
    name, _, kind = s.lower().partition(":")
    if name in ("testpattern", "test", "pattern"):
        if kind not in ("", *SCENES):
            from models.errors import UserError

            raise UserError(f"--source {s}: no such test pattern; use {TEST_PATTERNS}")
        scene = kind or "moving"
        return TestPatternSource(width or 640, height or 480, fps or 30.0, scene=scene)
    if is_url(s):
        return NetworkStreamSource(s)
    if s.isdigit() or s.startswith("/dev/video"):
        return WebcamSource(s, width=width, height=height, fps=fps)
    if os.path.exists(s) or "%" in s:
        from realtime.sources.playback import PlaybackSource

        return PlaybackSource(lambda: open_file_source(s, fps=fps), loop=loop)
    from models.errors import UserError

    raise UserError(
        f"{s}: not a camera index, URL, file or test pattern; e.g. --source {TEST_PATTERNS}"
    )
