"""Play a file-like source in real time, as a camera would deliver it (for the live
filter with `--source clip.mp4`): frames are released on their pts and the consumer
always gets the newest one. With `loop`, the file starts over when it ends (a page
served to browsers should not end with the clip)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from realtime.sources.base import Source
from realtime.sources.live import LiveSource


class PlaybackSource(LiveSource):
    def __init__(self, open_inner: Callable[[], Source], *, loop: bool = False) -> None:
        super().__init__()
        self._open_inner = open_inner
        self.loop = loop
        self.inner = open_inner()
        self.name = self.inner.name
        self.fps = self.inner.fps
        self.width, self.height = self.inner.width, self.inner.height
        self.passes = 1  # times the file has been started
        self._it = None
        self._t0: float | None = None
        self._pass_frames = 0

    def _grab(self) -> np.ndarray | None:
        if self._it is None:
            self._it = iter(self.inner)
        frame = next(self._it, None)
        if frame is None:
            if not (self.loop and self._pass_frames) or self._stop.is_set():
                return None
            self.inner.close()  # start over: a new pass on the same live clock
            self.inner, self._it = self._open_inner(), None
            self._t0, self._pass_frames = None, 0
            self.passes += 1
            return self._grab()
        self._pass_frames += 1
        if self._t0 is None:
            self._t0 = time.monotonic() - frame.pts
        delay = self._t0 + frame.pts - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            return None
        return frame.image

    def media_time(self, pts: float) -> float | None:
        """Where on the inner source's timeline a frame this source yielded (its live
        pts) came from, so that file's audio can be synced; None before the first frame."""
        if self._t0 is None or self.pts_clock is None:
            return None
        return pts + self.pts_clock - self._t0

    def _release(self) -> None:
        self.inner.close()
