"""The one frame type that flows from sources through the pipeline to sinks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """An RGB uint8 HxWx3 image with its presentation time in seconds and its index.

    BGR exists only inside OpenCV I/O code; every Frame is RGB."""

    image: np.ndarray
    pts: float
    index: int


class FrameProcessor(Protocol):
    """What the pipeline calls per frame: RGB uint8 HxWx3 in, RGB uint8 HxWx3 out.

    Optional: ``max_in_flight`` (how many frames it may work on at once from several
    threads; 1 when absent, since a processor with state between frames must see them one
    by one and in order), ``stages()`` (a stateless first stage that may overlap and a
    second that sees the frames in order; see ``processor_stages``), ``close()`` (wait
    for its own background work) and ``summary()`` (its own figures for reports)."""

    def __call__(self, image: np.ndarray) -> np.ndarray: ...


def processor_summary(processor: object) -> dict:
    """A processor's own figures for reports (``summary()``, optional: keyframes, changed
    share); {} when it has none."""
    summary = getattr(processor, "summary", None)
    return dict(summary()) if summary is not None else {}


def frames_in_flight(processor: object) -> int:
    """The processor's declared ``max_in_flight`` (1 when it declares none)."""
    return max(1, int(getattr(processor, "max_in_flight", 1)))


def processor_stages(processor: object) -> tuple[Callable, Callable] | None:
    """``(first, second)`` from a processor's optional ``stages()``: ``second(image,
    first(image))`` is its output; ``first`` keeps no state, so several frames may be in it
    at once, and ``second`` must be called for one frame after another in order. None:
    the processor runs as one call."""
    stages = getattr(processor, "stages", None)
    return stages() if stages is not None else None


def close_processor(processor: object) -> None:
    """Wait for a processor's own background work, if it has any: ``close()`` is optional
    on a FrameProcessor (realtime.temporal's background keyframes have it), and wrappers
    pass it on."""
    close = getattr(processor, "close", None)
    if close is not None:
        close()


def warm_up_processor(processor: object, **options: Any) -> None:
    """Let a processor prepare what its first frames need (``warm_up()``, optional: the
    stylizer traces its functions, most of a second each), before a live source starts
    delivering frames that would otherwise wait for it."""
    warm_up = getattr(processor, "warm_up", None)
    if warm_up is not None:
        warm_up(**options)


class ControllableStylizer(FrameProcessor, Protocol):
    """A FrameProcessor whose style, strength and colour mode can change between frames
    (the webcam keys and the browser controls drive these)."""

    style_names: Sequence[str]
    style_index: int
    strength: float
    preserve_color: bool


class ForwardsControls:
    """Mixin for a processor wrapping a stylizer (stored as ``_inner``): the live
    controls (style_index, strength, preserve_color, style_names) read and write through
    to it, so the webcam keys and browser controls work on the wrapper."""

    CONTROLS = ("style_index", "strength", "preserve_color", "style_names")

    def __getattr__(self, name: str):
        if name in ForwardsControls.CONTROLS:
            return getattr(self._inner, name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value) -> None:
        if name in ForwardsControls.CONTROLS:
            setattr(self._inner, name, value)
        else:
            object.__setattr__(self, name, value)

    def warm_up(self) -> None:
        """See ``warm_up_processor``."""
        warm_up_processor(self._inner)

    def controls(self) -> tuple:
        """Style, strength and colour mode now: a change means a fresh full frame."""
        return tuple(getattr(self._inner, n, None) for n in ForwardsControls.CONTROLS[:3])
