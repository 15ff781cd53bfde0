"""Base of live sources: a thread grabs frames and keeps only the newest one.

A consumer slower than the camera gets the freshest frame each time it asks and stale
frames are dropped (counted in `dropped`), so latency stays bounded by one capture
interval plus the consumer's own time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np

from realtime.frame import Frame
from realtime.sources.base import Source


class LiveSource(Source):
    """Subclasses implement `_grab()` (an RGB frame, or None when the source has ended)
    and may override `_release()`."""

    live = True

    def __init__(self) -> None:
        self.pts_clock = time.monotonic()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._seq = 0
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
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
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._release()
