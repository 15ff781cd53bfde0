"""Base of live sources: a thread grabs frames and keeps only the newest one.

A consumer slower than the camera gets the freshest frame each time it asks and stale
frames are dropped (counted in `dropped`), so latency stays bounded by one capture
interval plus the consumer's own time.

The device is released by the grab thread on its way out, never by another thread while
a read may be running (OpenCV's capture is not safe to release under a read; vidgear's
CamGear does the same). A source whose thread never started is released by close()."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import numpy as np

from realtime.frame import Frame
from realtime.sources.base import Source

log = logging.getLogger(__name__)


class LiveSource(Source):
    """Subclasses implement `_grab()` (an RGB frame, or None when the source has ended)
    and may override `_release()`."""

    live = True
    # Seconds close() waits for the grab thread; one still inside a read after that
    # releases the device itself when the read returns.
    join_timeout: float = 10.0

    def __init__(self) -> None:
        self.pts_clock = time.monotonic()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._seq = 0
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._released = False
        self._release_lock = threading.Lock()
        self.captured = 0
        self.delivered = 0

    @property
    def dropped(self) -> int:
        """Frames captured but replaced by a newer one before anyone took them."""
        with self._cond:
            pending = 1 if self._latest is not None else 0
            return max(0, self.captured - self.delivered - pending)

    def _grab(self) -> np.ndarray | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _release(self) -> None:
        pass

    def _release_once(self) -> None:
        """Release the device exactly once; an error is logged, not raised or hidden (it
        comes at shutdown, when the frames are already safe)."""
        with self._release_lock:
            if self._released:
                return
            self._released = True
        try:
            self._release()
        except Exception:
            log.exception("%s: releasing the device failed", self.name)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                image = self._grab()
                if image is None:
                    break
                now = time.monotonic()
                with self._cond:
                    self._latest = Frame(image=image, pts=now - self.pts_clock, index=self.captured)
                    self.captured += 1
                    self._seq += 1
                    self._cond.notify_all()
        except BaseException as e:  # surfaced to the consumer
            self._error = e
        finally:
            self._release_once()  # here: no read can be running any more
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"{self.name}-grab", daemon=True)
            self._thread.start()

    def __iter__(self) -> Iterator[Frame]:
        self.start()
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._latest is not None or self._ended or self._stop.is_set()
                )
                frame, self._latest = self._latest, None
                ended = self._ended or self._stop.is_set()
            if frame is not None:
                self.delivered += 1
                yield frame
            elif ended:
                if self._error is not None:
                    raise self._error
                return

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is None:
            self._release_once()  # never started: nothing can be reading
            return
        self._thread.join(timeout=self.join_timeout)
        if self._thread.is_alive():
            log.warning(
                "%s: still inside a read after %.0f s; the device is released when it returns",
                self.name,
                self.join_timeout,
            )
