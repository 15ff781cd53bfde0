"""Play a file-like source in real time, as a camera would deliver it (for the live
filter with `--source clip.mp4`): frames are released on their pts and the consumer
always gets the newest one."""

from __future__ import annotations

import time

import numpy as np

from realtime.sources.base import Source
from realtime.sources.live import LiveSource


class PlaybackSource(LiveSource):
    def __init__(self, inner: Source) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self.fps = inner.fps
        self._it = None
        self._t0: float | None = None

    def _grab(self) -> np.ndarray | None:
        if self._it is None:
            self._it = iter(self.inner)
        frame = next(self._it, None)
        if frame is None:
            return None
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
