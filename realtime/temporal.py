"""Temporal consistency and speed around any per-frame stylizer.

``make_temporal_processor(stylize, ...)`` wraps a FrameProcessor (RGB uint8 -> RGB uint8)
and returns a stateful FrameProcessor that takes the SOURCE frames in order and returns
stylized frames that stay steady where the scene does:

- temporal filter: the fresh stylization is blended with the previous output warped along
  the optical flow, where the flow is reliable; occluded pixels take the fresh frame;
- keyframe propagation: only keyframes are stylized; the frames between are the last
  keyframe's output warped along the flow (every N frames, or adaptively when too much of
  the frame is occluded, and always on scene cuts);
- internal size: the work above runs on a copy whose long side is ``internal_size``, and
  the result comes back to the frame size with a guided filter (He et al.) that takes its
  edges from the full-size source, so fine detail survives.

All of it is OpenCV and numpy; nothing here imports TensorFlow.
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime.flow import Motion, MotionEstimator, resize_long_side, to_gray, warp
from realtime.frame import FrameProcessor

_CONTROLS = ("style_index", "strength", "preserve_color", "style_names")


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_upsample(
    low: np.ndarray, guide: np.ndarray, radius: int = 1, eps: float = 1e-3
) -> np.ndarray:
    """Bring a stylized image up to the guide's size so its edges sit where the source's
    are: the luma goes through the fast guided filter (He & Sun 2015) with the source's
    luma as guide, i.e. per low-resolution window the output luma is fitted as ``a * I + b``
    and ``a``, ``b`` are upsampled and applied to the full-size guide I; the chroma is
    upsampled bilinearly (video carries chroma at half resolution anyway, and a colour
    guide costs four times as much). ``radius`` is in low-resolution pixels; ``eps``
    (variance of the guide, intensities in [0, 1]) decides how faint an edge of the source
    may be and still be copied.

    ``low``: RGB uint8 hxwx3; ``guide``: RGB uint8 HxWx3 (the source frame); returns RGB
    uint8 HxWx3."""
    H, W = guide.shape[:2]
    h, w = low.shape[:2]
    if (h, w) == (H, W):
        return low
    g_full = to_gray(guide).astype(np.float32) * np.float32(1 / 255)
    g = cv2.resize(g_full, (w, h), interpolation=cv2.INTER_AREA)
    ycc = cv2.cvtColor(low, cv2.COLOR_RGB2YCrCb)
    p = ycc[..., 0].astype(np.float32) * np.float32(1 / 255)
    mean_g, mean_p = _box(g, radius), _box(p, radius)
    a = (_box(g * p, radius) - mean_g * mean_p) / (_box(g * g, radius) - mean_g * mean_g + eps)
    b = mean_p - a * mean_g
    ab = cv2.resize(
        cv2.merge([_box(a, radius), _box(b, radius)]), (W, H), interpolation=cv2.INTER_LINEAR
    )
    out = cv2.resize(ycc, (W, H), interpolation=cv2.INTER_LINEAR)
    y = np.clip(ab[..., 0] * g_full + ab[..., 1], 0, 1)  # convertScaleAbs would mirror < 0
    out[..., 0] = cv2.convertScaleAbs(y, alpha=255)
    return cv2.cvtColor(out, cv2.COLOR_YCrCb2RGB)


def blend(fresh: np.ndarray, warped: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``weight * warped + (1 - weight) * fresh`` per pixel (weight float32 HxW in [0, 1])."""
    return cv2.blendLinear(warped, fresh, weight, 1.0 - weight)


class TemporalProcessor:
    """A stateful FrameProcessor: source frame in (RGB uint8, in display order), stylized
    frame of the same size out. Build it with ``make_temporal_processor``.

    If the wrapped stylizer is controllable (style_index, strength, preserve_color), those
    attributes are forwarded, and a change of any of them starts a new keyframe so no stale
    style is propagated.

    Counters for reports and tests: ``frames``, ``keyframes``, ``cuts``."""

    def __init__(
        self,
        stylize: FrameProcessor,
        *,
        temporal: float = 0.0,
        keyframe_every: int = 1,
        adaptive: bool = False,
        internal_size: int | None = None,
        flow_size: int | None = 320,
        flow_preset: str = "fast",
        max_occluded: float = 0.1,
        upsample_radius: int = 1,
        upsample_eps: float = 1e-3,
    ) -> None:
        if not 0.0 <= temporal < 1.0:
            raise ValueError(f"temporal strength must be in [0, 1), got {temporal}")
        if keyframe_every < 1:
            raise ValueError(f"keyframe_every must be >= 1, got {keyframe_every}")
        if internal_size is not None and internal_size < 16:
            raise ValueError(f"internal_size must be at least 16 pixels, got {internal_size}")
        object.__setattr__(self, "_stylize", stylize)
        self.temporal = temporal
        self.keyframe_every = keyframe_every
        self.adaptive = adaptive
        self.internal_size = internal_size
        self.max_occluded = max_occluded
        self.upsample_radius = upsample_radius
        self.upsample_eps = upsample_eps
        self.motion = MotionEstimator(flow_size=flow_size, preset=flow_preset)
        self.frames = 0
        self.keyframes = 0
        self.cuts = 0
        self.reset()

    # --- controllable-stylizer passthrough -------------------------------------------
    def __getattr__(self, name: str):
        if name in _CONTROLS:
            return getattr(self._stylize, name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value) -> None:
        if name in _CONTROLS:
            setattr(self._stylize, name, value)
        else:
            object.__setattr__(self, name, value)

    def _controls(self) -> tuple:
        return tuple(getattr(self._stylize, n, None) for n in _CONTROLS[:3])

    # ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the past: the next frame is a keyframe with nothing blended in."""
        self._prev_small: np.ndarray | None = None  # gray flow-size copy of the last source
        self._prev_out: np.ndarray | None = None  # last output at the working size
        self._key_small: np.ndarray | None = None
        self._key_out: np.ndarray | None = None
        self._since_key = 0
        self._controls_seen: tuple | None = None

    @property
    def propagates(self) -> bool:
        return self.keyframe_every > 1 or self.adaptive

    def __call__(self, image: np.ndarray) -> np.ndarray:
        work = resize_long_side(image, self.internal_size) if self.internal_size else image
        out = self._process(work)
        self.frames += 1
        if out.shape[:2] != image.shape[:2]:
            out = guided_upsample(out, image, self.upsample_radius, self.upsample_eps)
        return out

    def _process(self, work: np.ndarray) -> np.ndarray:
        small = self.motion.prepare(work)
        if self._prev_out is not None and self._prev_out.shape != work.shape:
            self.reset()
        controls = self._controls()
        if controls != self._controls_seen:
            self._key_out = None  # a new style must not be propagated from the old one
            self._controls_seen = controls

        if self.propagates and self._key_out is not None:
            to_key = self.motion.estimate(small, self._key_small)
            due = self._since_key + 1 >= self.keyframe_every if self.keyframe_every > 1 else False
            too_occluded = self.adaptive and to_key.unreliable_fraction > self.max_occluded
            if to_key.cut:
                self.cuts += 1
                self._prev_out = None
            elif not (due or too_occluded):
                h, w = work.shape[:2]
                out = warp(self._key_out, to_key.flow_at(w, h))
                self._since_key += 1
                self._remember(small, out)
                return out

        fresh = np.asarray(self._stylize(work))
        out = fresh
        if self.temporal > 0 and self._prev_out is not None:
            to_prev = self.motion.estimate(small, self._prev_small)
            if to_prev.cut:
                self.cuts += 1
            else:
                out = self._blend(fresh, to_prev)
        self.keyframes += 1
        self._since_key = 0
        self._key_small, self._key_out = small, out
        self._remember(small, out)
        return out

    def _blend(self, fresh: np.ndarray, motion: Motion) -> np.ndarray:
        h, w = fresh.shape[:2]
        warped = warp(self._prev_out, motion.flow_at(w, h))
        weight = motion.reliable_at(w, h) * np.float32(self.temporal)
        return blend(fresh, warped, weight)

    def _remember(self, small: np.ndarray, out: np.ndarray) -> None:
        self._prev_small, self._prev_out = small, out


def make_temporal_processor(
    stylize: FrameProcessor,
    temporal: float = 0.0,
    keyframe_every: int = 1,
    adaptive: bool = False,
    internal_size: int | None = None,
    **tuning,
) -> FrameProcessor:
    """Wrap a per-frame stylizer into a temporally consistent, stateful FrameProcessor.

    ``stylize``: RGB uint8 HxWx3 -> RGB uint8 HxWx3 (same size). The returned processor
    takes the SOURCE frames, in order, and returns stylized frames of the source's size.

    - ``temporal`` in [0, 1): weight of the flow-warped previous output where the flow is
      reliable (0 = off). Occluded pixels and scene cuts take the fresh frame.
    - ``keyframe_every`` N >= 1: stylize every N-th frame and warp the last keyframe's
      output along the flow for the frames between (1 = stylize every frame).
    - ``adaptive``: also start a keyframe as soon as more than ``max_occluded`` (default
      0.1) of the frame is occluded from the last keyframe. Scene cuts always do.
    - ``internal_size``: long side in pixels at which the stylizer and the temporal work
      run; the output is brought back to the frame size with a guided filter. None = the
      frame size.
    - ``tuning``: ``flow_size`` (long side of the flow computation, default 320),
      ``flow_preset`` ("ultrafast", "fast", "medium"), ``max_occluded``,
      ``upsample_radius``, ``upsample_eps``.

    With everything off it returns ``stylize`` itself.
    """
    if temporal == 0 and keyframe_every == 1 and not adaptive and internal_size is None:
        return stylize
    return TemporalProcessor(
        stylize,
        temporal=temporal,
        keyframe_every=keyframe_every,
        adaptive=adaptive,
        internal_size=internal_size,
        **tuning,
    )
