"""What every sink shares (vidgear's gears and imageio's plugins keep one method set):
`open(time_base)` once before the first frame, `write(frame)`, `close()` (finish: the
output is complete and in place), `abort()` (stop and leave no output), `frames` written,
`summary()` for the job's report; and each is a context manager whose exit closes on
success or Ctrl-C (an interrupted file keeps the work done) and aborts on an error."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from realtime.frame import Frame


class Sink:
    name: str = "sink"
    # False for views that change size with the display mode (side by side, HUD).
    fixed_size: bool = True
    frames: int = 0  # written (or accepted) so far; a subclass counts, or computes it
    # Set before `close` when the job was interrupted: a file sink then never replaces an
    # output that was complete before the run started (see FfmpegVideoWriter.close).
    interrupted: bool = False

    def __init__(self) -> None:
        self._shape: tuple[int, ...] | None = None

    def open(self, time_base: Fraction | None) -> None:
        """Called once before the first frame with the source's time base (None: not
        known, e.g. a camera). Sinks that keep no timing ignore it."""

    def check_frame(self, frame: Frame) -> bool:
        """Refuse a frame that is not RGB uint8, or (``fixed_size``) not the first frame's
        size. True for the first frame."""
        image = frame.image
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"{self.name}: frame {frame.index} is {image.dtype} {image.shape}, "
                "expected RGB uint8 HxWx3"
            )
        first = self._shape is None
        if first:
            self._shape = image.shape
        elif self.fixed_size and image.shape != self._shape:
            raise ValueError(
                f"{self.name}: frame {frame.index} is {image.shape}, the first was "
                f"{self._shape}; every frame must have one size"
            )
        return first

    def write(self, frame: Frame) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Finish the output. Safe to call more than once."""

    def abort(self) -> None:
        """Stop without finishing; by default the same as close (nothing to throw away)."""
        self.close()

    def summary(self) -> dict[str, Any]:
        return {"frames": self.frames}

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.interrupted = self.interrupted or exc_type is not None
            self.close()
        else:
            self.abort()
