"""A moving synthetic scene, so the live filter runs with no camera (and on CI).

Paced (default) it behaves like a camera: a thread renders at `fps` on the monotonic
clock and keeps only the newest frame. Unpaced it yields `frames` frames as fast as they
are asked for, with pts = index / fps, like a file."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from realtime.frame import Frame
from realtime.sources.live import LiveSource


def render_pattern(index: int, width: int, height: int, fps: float) -> np.ndarray:
    """Frame `index` of the scene: a drifting colour gradient, a bouncing disc, a sweeping
    bar and the frame number, all moving so motion and flicker are visible."""
    import cv2

    t = index / fps
    # The gradient is one period across the frame: drawn at a quarter of the size and
    # scaled up, it looks the same and costs 0.5 ms instead of 5 ms at 640x480, which
    # a live benchmark's "camera" should not take from the stylizer.
    h, w = max(2, height // 4), max(2, width // 4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx, yy = (xx + 0.5) * (width / w) - 0.5, (yy + 0.5) * (height / h) - 0.5
    phase = 2 * np.pi * t / 6.0
    r = 127 + 100 * np.sin(xx / width * 2 * np.pi + phase)
    g = 127 + 100 * np.sin(yy / height * 2 * np.pi - phase)
    b = 127 + 100 * np.cos((xx + yy) / (width + height) * 2 * np.pi + 2 * phase)
    small = np.dstack([r, g, b]).astype(np.uint8)
    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    # bouncing disc
    rad = max(3, min(width, height) // 8)
    span_x, span_y = max(1, width - 2 * rad), max(1, height - 2 * rad)
    px = abs((t * 0.37 * width) % (2 * span_x) - span_x) + rad
    py = abs((t * 0.29 * height) % (2 * span_y) - span_y) + rad
    cv2.circle(img, (int(px), int(py)), rad, (250, 240, 40), -1, lineType=cv2.LINE_AA)
    # sweeping bar
    bx = int((t * 0.5 * width) % width)
    cv2.rectangle(
        img, (bx, 0), (min(width - 1, bx + max(2, width // 40)), height - 1), (20, 20, 20), -1
    )
    scale = max(0.3, height / 480)
    cv2.putText(
        img,
        f"{index:06d}",
        (8, height - 8),  # bottom left: the HUD sits top left
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        max(1, int(2 * scale)),
        cv2.LINE_AA,
    )
    return img


class TestPatternSource(LiveSource):
    __test__ = False  # not a pytest class

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        *,
        frames: int | None = None,
        paced: bool = True,
    ) -> None:
        super().__init__()
        self.name = "testpattern"
        self.width, self.height, self.fps = width, height, float(fps)
        self.frames = frames
        self.paced = paced
        self.live = paced
        if not paced:
            self.pts_clock = None
        self._next = 0
        self._t0: float | None = None

    def _grab(self) -> np.ndarray | None:
        if self.frames is not None and self._next >= self.frames:
            return None
        if self._t0 is None:
            self._t0 = time.monotonic()
        due = self._t0 + self._next / self.fps
        delay = due - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            return None
        img = render_pattern(self._next, self.width, self.height, self.fps)
        self._next += 1
        return img

    def __iter__(self) -> Iterator[Frame]:
        if self.paced:
            yield from super().__iter__()
            return
        i = 0
        while (self.frames is None or i < self.frames) and not self._stop.is_set():
            yield Frame(render_pattern(i, self.width, self.height, self.fps), i / self.fps, i)
            i += 1
