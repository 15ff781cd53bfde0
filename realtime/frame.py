"""The one frame type that flows from sources through the pipeline to sinks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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

    A processor may also offer what the protocols below declare; the helpers under
    them call it when it does (a plain function is a processor too)."""

    def __call__(self, image: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Summarizes(Protocol):
    """Its own figures for reports (keyframes, changed share)."""

    def summary(self) -> Mapping[str, Any]: ...


@runtime_checkable
class Concurrent(Protocol):
    """How many frames it may work on at once from several threads. A processor that
    does not say is called for one frame after another: state between frames needs that."""

    max_in_flight: int


@runtime_checkable
class Staged(Protocol):
    """A stateless first stage that may overlap and a second that sees frames in order."""

    def stages(self) -> tuple[Callable, Callable] | None: ...


@runtime_checkable
class Closable(Protocol):
    """Background work of its own to wait for at the end."""

    def close(self) -> None: ...


@runtime_checkable
class WarmsUp(Protocol):
    """Prepares what its first frames need (the stylizer traces its functions, most of
    a second each) before a live source starts delivering frames that would wait."""

    def warm_up(self) -> None: ...


def processor_summary(processor: object) -> dict:
    """A processor's own figures for reports; {} when it has none."""
    return dict(processor.summary()) if isinstance(processor, Summarizes) else {}


def frames_in_flight(processor: object) -> int:
    """The processor's declared ``max_in_flight`` (1 when it declares none)."""
    return max(1, int(processor.max_in_flight)) if isinstance(processor, Concurrent) else 1


def processor_stages(processor: object) -> tuple[Callable, Callable] | None:
    """``(first, second)`` from a processor's ``stages()``: ``second(image,
    first(image))`` is its output; ``first`` keeps no state, so several frames may be in it
    at once, and ``second`` must be called for one frame after another in order. None:
    the processor runs as one call."""
    return processor.stages() if isinstance(processor, Staged) else None


def close_processor(processor: object) -> None:
    """Wait for a processor's own background work, if it has any (realtime.temporal's
    background keyframes); wrappers pass it on."""
    if isinstance(processor, Closable):
        processor.close()


def warm_up_processor(processor: object) -> None:
    """Let a processor prepare what its first frames need, if it declares ``warm_up``."""
    if isinstance(processor, WarmsUp):
        processor.warm_up()


@runtime_checkable
class ControllableStylizer(Protocol):
    """A FrameProcessor whose style, strength and colour mode can change between frames
    (the webcam keys and the browser controls drive these)."""

    style_names: Sequence[str]
    style_index: int
    strength: float
    preserve_color: bool

    def __call__(self, image: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class StyleBank(ControllableStylizer, Protocol):
    """A controllable stylizer that says what each style is (models.styles.StyleSpec:
    preset or painting) and takes new styles (uploads)."""

    specs: Sequence[Any]

    def add_style(self, spec: str) -> int: ...


class ForwardsControls:
    """Mixin for a processor wrapping a stylizer (stored as ``_inner``): the live
    controls (style_index, strength, preserve_color, style_names) read and write through
    to it, so the webcam keys and browser controls work on the wrapper."""

    CONTROLS = ("style_index", "strength", "preserve_color", "style_names")

    def __getattr__(self, name: str):
        if name in ForwardsControls.CONTROLS:
            # a wrapper is as controllable as what it wraps: AttributeError when not
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
        inner = self._inner
        if not isinstance(inner, ControllableStylizer):
            return (None, None, None)
        return (inner.style_index, inner.strength, inner.preserve_color)
