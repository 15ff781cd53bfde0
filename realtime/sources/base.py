"""What every source shares: an iterator of Frames that is also a context manager."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from realtime.frame import Frame


class Source:
    """Base of all sources. Subclasses implement `__iter__` and `close`.

    `live` sources (cameras, streams, the paced test pattern) keep only the newest frame
    and stamp each frame's pts on the monotonic clock: `pts_clock + frame.pts` is the
    `time.monotonic()` at capture, which is how the pipeline measures capture-to-display
    latency. File-like sources never drop a frame and leave `pts_clock` None."""

    live: bool = False
    pts_clock: float | None = None
    fps: float | None = None
    # Exact timestamps' unit when known (video files, once the first frame is decoded).
    time_base: Fraction | None = None
    has_audio: bool = False
    frame_count: int | None = None  # known for files and folders (an estimate for containers)
    dropped: int = 0  # frames a live source replaced by newer ones before anyone took them
    name: str = "source"
    # The frame size it delivers, when known before the first frame (warm-up uses it)
    width: int | None = None
    height: int | None = None

    def __iter__(self) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
