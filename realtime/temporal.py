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
  edges from the full-size source, so fine detail survives;
- background keyframes (live use): a due keyframe is stylized on a worker thread while
  the frames keep coming, each warped from the newest finished keyframe, so the frame
  rate is set by the flow and the warp, not by the stylizer.

All of it is OpenCV and numpy; nothing here imports TensorFlow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.flow import Motion, MotionEstimator, resize_long_side, to_gray, warp
from realtime.frame import (
    ForwardsControls,
    FrameProcessor,
    close_processor,
    frames_in_flight,
    processor_summary,
)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_upsample(
    low: np.ndarray, guide: np.ndarray, radius: int = 1, eps: float = 1e-3
) -> np.ndarray:
    """Bring a stylized image up to the guide's size and give it back the source's fine
    edges. Plain upsampling keeps the stylization but blurs every edge; a guided filter
    (He et al.) restores the edges but smooths the brush texture away wherever the source
    is flat. So this keeps the bilinear upsampling and adds the detail the downscale took
    from the source, ``I - up(down(I))``, scaled per neighbourhood by the local linear
    coefficient ``a = cov(I, p) / (var(I) + eps)`` of the stylized luma p on the source
    luma I (fitted at the low resolution in windows of ``radius``, as in He & Sun's fast
    guided filter). Where the stylization follows the source's edges the lost sharpness
    comes back with the right sign and strength; where it does not, ``a`` is ~0 and
    nothing is added. Only the luma is treated: video carries chroma at half resolution
    anyway.

    ``low``: RGB uint8 hxwx3; ``guide``: RGB uint8 HxWx3 (the source frame); returns RGB
    uint8 HxWx3."""
    H, W = guide.shape[:2]
    h, w = low.shape[:2]
    if (h, w) == (H, W):
        return low
    g_full = to_gray(guide).astype(np.float32)
    g = cv2.resize(g_full, (w, h), interpolation=cv2.INTER_AREA)
    ycc = cv2.cvtColor(low, cv2.COLOR_RGB2YCrCb)
    p = ycc[..., 0].astype(np.float32)
    mean_g, mean_p = _box(g, radius), _box(p, radius)
    var_g = _box(g * g, radius) - mean_g * mean_g
    a = (_box(g * p, radius) - mean_g * mean_p) / (var_g + eps * 255 * 255)
    a_up = cv2.resize(_box(a, radius), (W, H), interpolation=cv2.INTER_LINEAR)
    lost = g_full - cv2.resize(g, (W, H), interpolation=cv2.INTER_LINEAR)
    out = cv2.resize(ycc, (W, H), interpolation=cv2.INTER_LINEAR)
    y = out[..., 0].astype(np.float32) + a_up * lost
    out[..., 0] = cv2.convertScaleAbs(np.maximum(y, 0))  # rounds, saturates at 255
    return cv2.cvtColor(out, cv2.COLOR_YCrCb2RGB)


def blend(fresh: np.ndarray, warped: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``weight * warped + (1 - weight) * fresh`` per pixel (weight float32 HxW in [0, 1])."""
    return cv2.blendLinear(warped, fresh, weight, 1.0 - weight)


def _energy(detail: np.ndarray, radius: int) -> np.ndarray:
    return _box(detail * detail, radius)


def contrast_keeping_blend(
    fresh: np.ndarray,
    warped: np.ndarray,
    weight: np.ndarray,
    sigma: float = 1.5,
    max_gain: float = 1.6,
) -> np.ndarray:
    """``blend`` that keeps the fresh frame's texture contrast.

    Averaging two stylizations whose brush texture differs lowers the contrast of that
    texture: the output looks washed out and soft even where it is perfectly aligned. So
    the blend's detail layer (image minus a Gaussian of ``sigma`` px) is scaled up, per
    neighbourhood, until its luma energy matches the fresh frame's, by at most
    ``max_gain``. The detail that is scaled is the blend's own, which is steady over time,
    so the flicker stays down while the strokes stay crisp."""
    f = fresh.astype(np.float32)
    b = f + weight.astype(np.float32, copy=False)[..., None] * (warped.astype(np.float32) - f)
    base = cv2.GaussianBlur(b, (0, 0), sigma)
    det = b - base
    luma_f = to_gray(fresh).astype(np.float32)
    det_luma_f = luma_f - cv2.GaussianBlur(luma_f, (0, 0), sigma)
    det_luma_b = cv2.cvtColor(det, cv2.COLOR_RGB2GRAY)
    r = max(1, round(2 * sigma))
    gain = cv2.sqrt((_energy(det_luma_f, r) + 1) / (_energy(det_luma_b, r) + 1))
    np.clip(gain, 1.0, max_gain, out=gain)
    out = base + gain[..., None] * det
    return cv2.convertScaleAbs(np.maximum(out, 0))  # rounds and saturates at 255


@dataclass
class _KeyframeJob:
    """A keyframe being stylized on the worker thread."""

    generation: int  # TemporalProcessor._generation when it started
    frame: int  # index of its source frame
    thread: threading.Thread
    result: tuple[np.ndarray, np.ndarray] | None = None  # (gray small, stylized)
    error: BaseException | None = None


class TemporalProcessor(ForwardsControls):
    """A stateful FrameProcessor: source frame in (RGB uint8, in display order), stylized
    frame of the same size out. Build it with ``make_temporal_processor``.

    If the wrapped stylizer is controllable (style_index, strength, preserve_color), those
    attributes are forwarded, and a change of any of them starts a new keyframe so no stale
    style is propagated.

    With ``background``, a keyframe that falls due while the last one is still good enough
    to warp from is stylized on a worker thread; until it lands, frames keep being warped
    from the previous keyframe. It lands on the frame after it finishes: warped from its
    source frame to that one and blended with the previous output like any keyframe. The
    first keyframe, scene cuts and style changes are stylized at once (there is nothing
    to warp from). ``close()`` waits for the worker.

    Counters for reports and tests: ``frames``, ``keyframes``, ``cuts``."""

    def __init__(
        self,
        stylize: FrameProcessor,
        *,
        temporal: float = 0.0,
        keyframe_every: int = 1,
        adaptive: bool = False,
        internal_size: int | None = None,
        flow_size: int | None = None,
        flow_preset: str | None = None,
        max_unreliable: float = 0.3,
        upsample_radius: int = 1,
        upsample_eps: float = 1e-3,
        warp_interpolation: str = "cubic",
        keep_contrast: bool = True,
        background: bool = False,
    ) -> None:
        if not 0.0 <= temporal < 1.0:
            raise ValueError(f"temporal strength must be in [0, 1), got {temporal}")
        if keyframe_every < 1:
            raise ValueError(f"keyframe_every must be >= 1, got {keyframe_every}")
        if internal_size is not None and internal_size < 16:
            raise ValueError(f"internal_size must be at least 16 pixels, got {internal_size}")
        object.__setattr__(self, "_inner", stylize)
        self.temporal = temporal
        self.keyframe_every = keyframe_every
        self.adaptive = adaptive
        self.internal_size = internal_size
        self.max_unreliable = max_unreliable
        self.upsample_radius = upsample_radius
        self.upsample_eps = upsample_eps
        self._interp = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}[warp_interpolation]
        self.keep_contrast = keep_contrast
        self.background = background
        self._job: _KeyframeJob | None = None
        self._generation = 0  # bumped by reset and style changes: older jobs are stale
        # The flow is most of a propagated frame's cost but a sliver of a stylized one's:
        # DIS fast at 160 px costs 2 ms of CPU at 640x480, DIS medium at 320 px 26 ms.
        # Propagated frames are the flow-warped keyframe, so their flow must not be much
        # coarser than the frame: half the working long side, 160 to 320 px; the whole of
        # it up to 320 px with background keyframes, whose frame thread has the time (thin
        # fast movers are lost at half size: warping error 0.86x instead of 1.17x per-frame
        # on the test pattern).
        propagates = keyframe_every > 1 or adaptive
        if flow_preset is None:
            flow_preset = "fast" if propagates else "medium"
        self._auto_flow_size = flow_size is None and propagates
        if flow_size is None:
            flow_size = 320
        self.motion = MotionEstimator(flow_size=flow_size, preset=flow_preset)
        self.frames = 0
        self.keyframes = 0
        self.cuts = 0
        self.reset()

    # ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the past: the next frame is a keyframe with nothing blended in."""
        self._prev_small: np.ndarray | None = None  # gray flow-size copy of the last source
        self._prev_out: np.ndarray | None = None  # last output at the working size
        self._key_small: np.ndarray | None = None
        self._key_out: np.ndarray | None = None
        self._since_key = 0
        self._controls_seen: tuple | None = None
        self._generation += 1

    def close(self) -> None:
        """Wait for a keyframe still being stylized in the background (the next frame
        adopts it; the processor stays usable), then close the stylizer."""
        if self._job is not None:
            self._job.thread.join()
        close_processor(self._inner)

    def summary(self) -> dict:
        return {**processor_summary(self._inner), "keyframes": self.keyframes, "cuts": self.cuts}

    @property
    def propagates(self) -> bool:
        return self.keyframe_every > 1 or self.adaptive

    @property
    def max_in_flight(self) -> int:
        """2 when every frame is stylized in file order (see ``stages``), else 1."""
        return 1 if self.stages() is None else 2

    def stages(self) -> tuple[Callable, Callable] | None:
        """(first, second) when each frame is stylized whatever came before (no
        propagation, no background keyframes): the first stage only stylizes, so the
        pipeline may run it for two frames at once, and the second (the blend with the
        previous output) runs for one frame after another in order. The output is that of
        ``__call__``. None when the state decides what is stylized, or when the stylizer
        takes one frame at a time itself."""
        if self.propagates or self.background or frames_in_flight(self._inner) < 2:
            return None
        return self._stylized, self._finish

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self._finish(image, (self._work(image), None))

    def _work(self, image: np.ndarray) -> np.ndarray:
        return resize_long_side(image, self.internal_size) if self.internal_size else image

    def _stylized(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        work = self._work(image)
        return work, np.asarray(self._inner(work))

    def _finish(
        self, image: np.ndarray, staged: tuple[np.ndarray, np.ndarray | None]
    ) -> np.ndarray:
        work, fresh = staged
        out = self._process(work, fresh)
        self.frames += 1
        if out.shape[:2] != image.shape[:2]:
            out = guided_upsample(out, image, self.upsample_radius, self.upsample_eps)
        return out

    def _process(self, work: np.ndarray, fresh: np.ndarray | None = None) -> np.ndarray:
        """``fresh``: ``work`` already stylized (the first stage), or None."""
        if self._auto_flow_size:
            side = max(work.shape[:2]) // (1 if self.background else 2)
            self.motion.flow_size = min(320, max(160, side))
        small = self.motion.prepare(work)
        if self._prev_out is not None and self._prev_out.shape != work.shape:
            self.reset()
        controls = self.controls()
        if controls != self._controls_seen:
            self._key_out = None  # a new style must not be propagated from the old one
            self._controls_seen = controls
            self._generation += 1
        landed = self._finished_keyframe()

        if self.propagates and self._key_out is not None:
            if landed is not None and (out := self._land(work, small, *landed)) is not None:
                return out
            to_key = self.motion.estimate(small, self._key_small)
            due = self._since_key + 1 >= self.keyframe_every if self.keyframe_every > 1 else False
            too_occluded = self.adaptive and to_key.unreliable_fraction > self.max_unreliable
            if to_key.cut:
                self.cuts += 1
                self._prev_out = None
            elif self.background or not (due or too_occluded):
                h, w = work.shape[:2]
                out = warp(self._key_out, to_key.flow_at(w, h), self._interp)
                # (right after a landing the previous output is the keyframe itself)
                if (
                    self.background
                    and to_key.unreliable_fraction > 0.01
                    and self._prev_out is not self._key_out
                ):
                    out = self._patch_from_previous(out, small, to_key)
                self._since_key += 1
                if due or too_occluded:
                    self._start_keyframe(work, small)
                self._remember(small, out)
                return out

        self._generation += 1  # a background keyframe still running is older than this one
        if fresh is None:
            fresh = np.asarray(self._inner(work))
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
        warped = warp(self._prev_out, motion.flow_at(w, h), self._interp)
        return self._mix(fresh, warped, motion.reliable_at(w, h))

    def _patch_from_previous(
        self, out: np.ndarray, small: np.ndarray, to_key: Motion
    ) -> np.ndarray:
        """Where the keyframe has no reliable match (uncovered, fast thin movers, changed
        light), take the previous output warped one frame instead: a one-frame flow holds
        where a flow across several frames fails."""
        h, w = out.shape[:2]
        to_prev = self.motion.estimate(small, self._prev_small)
        if to_prev.cut:
            return out
        chained = warp(self._prev_out, to_prev.flow_at(w, h), self._interp)
        return blend(out, chained, 1.0 - to_key.reliable_at(w, h))

    def _mix(self, fresh: np.ndarray, warped: np.ndarray, reliable: np.ndarray) -> np.ndarray:
        weight = reliable * np.float32(self.temporal)
        if self.keep_contrast:
            return contrast_keeping_blend(fresh, warped, weight)
        return blend(fresh, warped, weight)

    # --- background keyframes --------------------------------------------------------
    def _start_keyframe(self, work: np.ndarray, small: np.ndarray) -> None:
        """Stylize ``work`` on a worker thread (one at a time: while one runs, later due
        frames just keep warping)."""
        if self._job is not None:
            return

        def run() -> None:
            try:
                job.result = (small, np.asarray(self._inner(work)))
            except BaseException as e:  # handed to the frame thread when it lands
                job.error = e

        thread = threading.Thread(target=run, name="temporal-keyframe", daemon=True)
        job = self._job = _KeyframeJob(self._generation, self.frames, thread)
        thread.start()

    def _finished_keyframe(self) -> tuple[np.ndarray, np.ndarray, int] | None:
        """(gray small, stylized, source frame index) of a background keyframe that has
        finished, if any."""
        job = self._job
        if job is None or job.thread.is_alive():
            return None
        self._job = None
        if job.error is not None:
            raise job.error
        if job.generation != self._generation:
            return None  # a style change, reset or newer keyframe since it started
        return (*job.result, job.frame)

    def _land(
        self,
        work: np.ndarray,
        small: np.ndarray,
        key_small: np.ndarray,
        fresh: np.ndarray,
        key_frame: int,
    ) -> np.ndarray | None:
        """The frame on which a background keyframe lands: the keyframe warped from its
        own (older) source frame to this one, then temporally filtered against the
        previous output exactly as a keyframe stylized in place would be. It becomes the
        keyframe that later frames are warped from. None if a cut lies between."""
        h, w = work.shape[:2]
        to_new = self.motion.estimate(small, key_small)
        if to_new.cut:
            return None
        out = warp(fresh, to_new.flow_at(w, h), self._interp)
        if self.temporal > 0 and self._prev_out is not None:
            to_prev = self.motion.estimate(small, self._prev_small)
            if not to_prev.cut:
                out = self._blend(out, to_prev)
        self.keyframes += 1
        self._since_key = self.frames - key_frame  # the age of its content
        self._key_small, self._key_out = small, out
        self._remember(small, out)
        return out

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
    - ``adaptive``: also start a keyframe as soon as more than ``max_unreliable`` (default
      0.3) of the frame has no reliable match in the last keyframe (occluded, on a motion
      boundary, or changed in brightness). Scene cuts always do.
    - ``internal_size``: long side in pixels at which the stylizer and the temporal work
      run; the output is brought back to the frame size with a guided filter. None = the
      frame size.
    - ``tuning``: ``flow_size`` (long side of the flow computation) and ``flow_preset``
      ("ultrafast", "fast", "medium"): default 320 px "medium" when every frame is
      stylized anyway; "fast" at half the working long side (160-320 px) when keyframes
      propagate; ``max_unreliable``,
      ``keep_contrast`` (default True, see ``contrast_keeping_blend``),
      ``warp_interpolation`` ("cubic" default, "linear"), ``upsample_radius``,
      ``upsample_eps``, ``background`` (stylize due keyframes on a worker thread and keep
      warping meanwhile: for live sources; call ``close()`` at the end).

    Keyframe propagation without ``temporal`` switches abruptly at each keyframe (which
    flickers more than per-frame stylization); use both.

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
