"""Controls changed from another thread (the browser's), applied at frame boundaries.

HTTP handlers only edit `LiveControls`; the processing thread copies that state onto
the stylizer just before each frame (`ControlledProcessor`), so the stylizer has a
single writer and a switch never lands half-way through a frame. The same hook renders
the style thumbnails: the current frame in each style, one style per frame, until
every style has one (image styles use the painting itself).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import UserError
from realtime.frame import (
    ControllableStylizer,
    FrameProcessor,
    StyleBank,
    close_processor,
    processor_summary,
    warm_up_processor,
)
from realtime.sources.base import Source

log = logging.getLogger(__name__)

THUMB_SIZE = 128
MAX_STYLES = 64  # uploads cannot grow the style list (and its memory) without bound


class NotControllable(Exception):
    """The processor has a fixed style (it is not a ControllableStylizer)."""


def make_thumbnail(rgb: np.ndarray, size: int = THUMB_SIZE) -> bytes:
    """Centre square crop, area-resized to size x size, as JPEG bytes."""
    import cv2

    from realtime.sinks.mjpeg import encode_jpeg

    h, w = rgb.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    sq = cv2.resize(rgb[y : y + s, x : x + s], (size, size), interpolation=cv2.INTER_AREA)
    return encode_jpeg(sq, 85)


def _style_image(stylizer: FrameProcessor, index: int) -> str | None:
    """The file behind a single-image style spec (models.styles.StyleSpec), else None."""
    if not isinstance(stylizer, StyleBank) or index >= len(stylizer.specs):
        return None
    spec = stylizer.specs[index]
    items = spec.items if spec is not None else ()  # None: not known (a stand-in's)
    if len(items) == 1 and items[0].preset is None:
        return str(items[0].source)
    return None


class LiveControls:
    """The wanted style, strength, colour mode and side-by-side view, plus thumbnails.

    Works with any FrameProcessor; style/strength/colour need a ControllableStylizer
    (`style_names`, `style_index`, `strength`, `preserve_color`) and raise
    NotControllable otherwise."""

    def __init__(self, stylizer: FrameProcessor, *, max_styles: int = MAX_STYLES) -> None:
        self.stylizer = stylizer
        self.max_styles = max_styles
        self.controllable = isinstance(stylizer, ControllableStylizer)
        self._lock = threading.Lock()
        self._add_lock = threading.Lock()
        self.side_by_side = False
        self._thumbs: dict[int, bytes] = {}
        self._pending: deque[int] = deque()
        if self.controllable:
            self.style_index = int(stylizer.style_index)
            self.strength = float(stylizer.strength)
            self.preserve_color = bool(stylizer.preserve_color)
            for i in range(len(stylizer.style_names)):
                self._init_thumbnail(i)
        else:
            self.style_index, self.strength, self.preserve_color = 0, 1.0, False

    # -- thumbnails -------------------------------------------------------------------
    def _init_thumbnail(self, index: int) -> None:
        path = _style_image(self.stylizer, index)
        if path is not None:
            try:
                from models.images import load_image

                self._thumbs[index] = make_thumbnail(load_image(path)[0])
                return
            except UserError as e:  # the style loaded, so this is unlikely; fall back
                log.warning("thumbnail for %s: %s", path, e)
        self._pending.append(index)

    def thumbnail(self, index: int) -> bytes | None:
        with self._lock:
            return self._thumbs.get(index)

    def next_preview(self) -> int | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None

    def set_preview(self, index: int, rgb: np.ndarray) -> None:
        thumb = make_thumbnail(rgb)
        with self._lock:
            self._thumbs[index] = thumb

    # -- state ------------------------------------------------------------------------
    @property
    def style_names(self) -> list[str]:
        return list(self.stylizer.style_names) if self.controllable else ["fixed"]

    def styles(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"index": i, "name": name, "thumbnail": i in self._thumbs}
                for i, name in enumerate(self.style_names)
            ]

    def state(self) -> dict[str, Any]:
        names = self.style_names
        with self._lock:
            i = min(self.style_index, len(names) - 1)
            return {
                "controllable": self.controllable,
                "style_index": i,
                "style": names[i],
                "style_count": len(names),
                "strength": self.strength,
                "preserve_color": self.preserve_color,
                "side_by_side": self.side_by_side,
            }

    def update(
        self,
        *,
        style: int | None = None,
        strength: float | None = None,
        preserve_color: bool | None = None,
        side_by_side: bool | None = None,
    ) -> dict[str, Any]:
        """Validate and set; ValueError for a bad value, NotControllable for a style
        change on a fixed processor. Nothing is set unless everything is valid."""
        if (style, strength, preserve_color) != (None, None, None) and not self.controllable:
            raise NotControllable("this processor has one fixed style, strength and colour mode")
        n = len(self.style_names)
        if style is not None and (isinstance(style, bool) or not 0 <= int(style) < n):
            raise ValueError(f"style {style!r}: give an index from 0 to {n - 1}")
        if strength is not None and (
            isinstance(strength, bool) or not 0.0 <= float(strength) <= 1.0
        ):
            raise ValueError(f"strength {strength!r}: give a number from 0 to 1")
        with self._lock:
            if style is not None:
                self.style_index = int(style)
            if strength is not None:
                self.strength = float(strength)
            if preserve_color is not None:
                self.preserve_color = bool(preserve_color)
            if side_by_side is not None:
                self.side_by_side = bool(side_by_side)
        return self.state()

    def add_style(self, path: str | Path) -> int:
        """Add an uploaded style image (already checked) and return its index. Slow: the
        style network runs once; call it off the event loop."""
        if not isinstance(self.stylizer, StyleBank):
            raise NotControllable("this processor cannot take new styles")
        with self._add_lock:
            if len(self.style_names) >= self.max_styles:
                raise OverflowError(f"there are already {self.max_styles} styles")
            index = self.stylizer.add_style(str(path))
            self._init_thumbnail(index)
        return index

    # -- the processing thread --------------------------------------------------------
    def apply(self) -> None:
        """Copy the wanted state onto the stylizer (the processing thread only)."""
        if not self.controllable:
            return
        with self._lock:
            idx, strength, keep = self.style_index, self.strength, self.preserve_color
        st = self.stylizer
        st.style_index, st.strength, st.preserve_color = idx, strength, keep


class ControlledProcessor:
    """The FrameProcessor the pipeline runs: applies the controls, runs `inner` (the
    stylizer, possibly wrapped by a temporal filter), then renders at most one pending
    thumbnail with the bare stylizer so the temporal filter's state is untouched."""

    def __init__(self, inner: FrameProcessor, controls: LiveControls) -> None:
        self.inner = inner
        self.controls = controls

    def __call__(self, image: np.ndarray) -> np.ndarray:
        c = self.controls
        c.apply()
        out = self.inner(image)
        index = c.next_preview() if c.controllable else None
        if index is not None:
            st = c.stylizer
            self.close()  # a background keyframe must not run while the style is swapped
            try:
                st.style_index, st.strength, st.preserve_color = index, 1.0, False
                c.set_preview(index, st(image))
            except Exception as e:  # a thumbnail must never cost a frame
                log.warning("thumbnail for style %d failed: %s", index, e)
            finally:
                c.apply()
        elif not c.controllable and c.thumbnail(0) is None:
            c.set_preview(0, out)
        return out

    def warm_up(self) -> None:
        warm_up_processor(self.inner)

    def summary(self) -> dict[str, Any]:
        """The inner processor's figures (--json: `--changed`'s share and refreshes)."""
        return processor_summary(self.inner)

    def close(self) -> None:
        close_processor(self.inner)


def warm_up(
    stylizer: FrameProcessor,
    chain: FrameProcessor,
    source: Source,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> None:
    """The one warm-up of a live job, before the capture starts: the chain traces what
    its first frames call (``warm_up()``), then the bare stylizer runs once per model kind
    on a blank frame of the size the source will deliver: XLA compiles per frame size,
    and a file played in real time would otherwise lose its first seconds to the
    compile. Sources that do not know their size yet (a camera before its first frame)
    skip the second part."""
    warm_up_processor(chain)
    if not source.width or not source.height:
        return
    blank = np.zeros((int(source.height), int(source.width), 3), np.uint8)
    if prepare is not None:
        blank = prepare(blank)
    if not isinstance(stylizer, StyleBank) or not stylizer.specs:
        stylizer(blank)
        return
    keep = stylizer.style_index
    seen: set[bool] = set()
    try:
        for i, spec in enumerate(stylizer.specs):
            kind = spec is not None and spec.is_preset
            if kind not in seen:
                seen.add(kind)
                stylizer.style_index = i
                stylizer(blank)
    finally:
        stylizer.style_index = keep
