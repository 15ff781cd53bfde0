"""The MJPEG side of the browser view: frames in from the pipeline, JPEG bytes out to
any number of HTTP viewers.

- `write()` (the pipeline's output thread) only swaps a reference into a one-item slot,
  so a viewer can never slow the pipeline.
- One encoder thread turns the newest frame into JPEG once, and only while someone
  watches; every viewer gets the same bytes (encoding cost does not grow with viewers).
- Viewers (asyncio tasks in the server's loop) keep a cursor, not a queue: each asks for
  "the newest frame after the one I sent". A viewer that cannot keep up skips frames
  (counted); nothing accumulates for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass

import numpy as np

from realtime.frame import Frame
from realtime.sinks.base import Sink


@dataclass(frozen=True)
class EncodedFrame:
    seq: int  # increases by one per frame written (gaps = frames nobody encoded)
    jpeg: bytes
    width: int
    height: int


def encode_jpeg(rgb: np.ndarray, quality: int = 80) -> bytes:
    import cv2

    from realtime.bgr import rgb_to_bgr

    ok, buf = cv2.imencode(".jpg", rgb_to_bgr(rgb), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for a {rgb.shape} frame")
    return buf.tobytes()


def encode_png(rgb: np.ndarray) -> bytes:
    import cv2

    from realtime.bgr import rgb_to_bgr

    ok, buf = cv2.imencode(".png", rgb_to_bgr(rgb))
    if not ok:
        raise RuntimeError(f"PNG encoding failed for a {rgb.shape} frame")
    return buf.tobytes()


class FrameBroadcaster(Sink):
    fixed_size = False  # side by side doubles the width

    """Sink (`write`/`close`, context manager) that shares JPEG frames with viewers.

    `attach(loop)` binds it to the asyncio loop the viewers run in; `next_frame(after)`
    is awaited there."""

    def __init__(self, quality: int = 80) -> None:
        if not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality {quality}: give 1 to 100")
        super().__init__()
        self.name = "MJPEG stream"
        self.quality = quality
        self.encoded = 0
        self.encode_ms = 0.0  # last encode
        self._cond = threading.Condition()
        self._raw: tuple[int, np.ndarray, float] | None = None  # (seq, image, pts)
        self._jpeg: EncodedFrame | None = None
        self._watchers = 0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None  # replaced each frame (loop side)
        self._thread = threading.Thread(target=self._encode_loop, name="mjpeg-encoder", daemon=True)
        self._thread.start()

    # -- pipeline side (any thread) ------------------------------------------------------
    def write(self, frame: Frame) -> None:
        self.check_frame(frame)
        image = frame.image
        with self._cond:
            if self._closed:
                return
            self.frames += 1
            self._raw = (self.frames, image, frame.pts)
            self._cond.notify_all()

    def latest_image(self) -> np.ndarray | None:
        """The newest frame as written (RGB), for snapshots."""
        with self._cond:
            return None if self._raw is None else self._raw[1]

    @property
    def latest(self) -> EncodedFrame | None:
        return self._jpeg

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        loop = self._loop
        if loop is not None:  # viewers waiting for a frame learn that none will come
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake)

    # -- encoder thread ----------------------------------------------------------------
    def _wanted(self, done: int) -> bool:
        raw = self._raw
        return self._closed or (self._watchers > 0 and raw is not None and raw[0] > done)

    def _encode_loop(self) -> None:
        done = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda d=done: self._wanted(d))
                if self._closed:
                    return
                seq, image, _ = self._raw
            t = time.perf_counter()
            jpeg = encode_jpeg(image, self.quality)  # cv2 releases the GIL here
            self.encode_ms = (time.perf_counter() - t) * 1e3
            done = seq
            self._jpeg = EncodedFrame(seq, jpeg, image.shape[1], image.shape[0])
            self.encoded += 1
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    loop.call_soon_threadsafe(self._wake)

    # -- viewer side (the asyncio loop) --------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def _wake(self) -> None:
        ev, self._event = self._event, None
        if ev is not None:
            ev.set()

    def watch(self) -> None:
        """A viewer arrived: encoding runs while at least one watches."""
        with self._cond:
            self._watchers += 1
            self._cond.notify_all()

    def unwatch(self) -> None:
        with self._cond:
            self._watchers -= 1

    @property
    def closed(self) -> bool:
        return self._closed

    async def next_frame(self, after: int) -> EncodedFrame | None:
        """The newest encoded frame with seq > `after`; None once closed. Call from the
        attached loop."""
        while not self._closed:
            cur = self._jpeg
            if cur is not None and cur.seq > after:
                return cur
            if self._event is None:
                self._event = asyncio.Event()
            await self._event.wait()
        return None
