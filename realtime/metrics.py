"""Temporal-quality metrics: the warping error of Lai et al. 2018 (docs/design.md section 4), and
the guards against stability bought by freezing or blurring (difference to a reference
output, sharpness, and the patch fidelity of ``Fidelity``).

Warping error of a stylized video O given its source I: for each pair (t-1, t), flow is
computed on the SOURCE frames, ``w_f`` from I_{t-1} to I_t and ``w_b`` back; M is 1 where
the forward-backward check passes, the pixel is not on a motion boundary and its match
stays in the frame. Then, with RGB in [0, 1] and the squared distance summed over the three
channels as in Lai et al.'s code,

    E_pair = sum_x M(x) * |O_t(x + w_f(x)) - O_{t-1}(x)|^2 / sum_x M(x)

and E_warp is the mean over the pairs. Lai et al.'s clips have no scene cuts; across a cut
the flow is meaningless and the pixels that pass the mask by chance would dominate the mean
(one cut pair weighs as much as 50 ordinary ones). So a cut pair gets NaN and is left out
of the mean, and so is a pair with less than ``min_reliable`` (25 %) of its pixels
reliable (too few to measure; listed apart from the cuts).

A pair is a cut when two tests agree: realtime.flow.MotionEstimator calls it one (most of
the frame unexplained by the flow, and a large flow-compensated difference) AND its flow
fails the geometric check (forward-backward and motion boundaries, no brightness test) on
more than 80 % of the frame. The exposure of the later frame is matched to the earlier
one first (realtime.flow.match_exposure), for both tests and for the measured flow. A
change of exposure alone moved every pixel's brightness and passed the first test: 20 of
48 pairs of one continuous street shot were called cuts. Measured at flow_size 320 on the
clips in ../shared/data/video with random gain steps of 0.4-2x every third frame: every
continuous pair keeps >= 22 % of its flow consistent (cockatoo's fastest motion, 24 %
without any gain change), and >= 31 % where the first test fires; the three hard cuts of
tears_of_steel and a cut between two of those clips keep 0-8 %, a cut between two smooth
synthetic textures 15 %.

Fidelity (docs/design.md section 4): warping error rewards smear, so each output frame is also
compared with a fresh per-frame stylization of the same frame at the same size. The frame
is cut into 16x16 patches (the last row and column of patches may be smaller); a patch's
error is its mean absolute RGB difference in [0, 1]. Per frame the 99th percentile over the
patches (linear interpolation, numpy's default) says how bad the worst ~1 % of the picture
is: a pasted block, a dissolved hand or a dragged edge there barely moves the mean over the
frame but dominates this. Over the frames, ``Fidelity`` reports the mean of those values and
their 99th percentile.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from realtime.flow import (
    FlowEstimator,
    MotionEstimator,
    match_exposure,
    motion_boundaries,
    reliable_mask,
    to_gray,
    warp,
)


class WarpingError:
    """Streaming warping error. Feed the source frame and the stylized frame(s) of each
    time step with ``add``; several stylized variants of one source share the flow.

    ``flow_preset``: "medium" (DIS, default), "fast", "ultrafast" or "farneback". The flow
    runs at the stylized frames' size; source frames of another size are resized to it.
    ``per_pair[name]`` holds one value per pair, NaN at scene cuts and on pairs with too
    few reliable pixels (see the module doc); ``cuts`` and ``unreliable`` list those pairs
    by the frame each ends at."""

    def __init__(
        self,
        flow_preset: str = "medium",
        min_reliable: float = 0.25,
        cut_flow_consistent: float = 0.2,
    ) -> None:
        self.estimator = FlowEstimator(flow_preset)
        self.min_reliable = min_reliable
        self.cut_flow_consistent = cut_flow_consistent
        self.cuts: list[int] = []
        self.unreliable: list[int] = []
        self._cuts = MotionEstimator(flow_size=320, preset="fast")
        self._prev_small: np.ndarray | None = None
        self._prev_gray: np.ndarray | None = None
        self._prev_out: dict[str, np.ndarray] = {}
        self.per_pair: dict[str, list[float]] = {}
        self.reliable_fraction: list[float] = []

    def add(self, source: np.ndarray, stylized: np.ndarray | dict[str, np.ndarray]) -> None:
        outs = stylized if isinstance(stylized, dict) else {"": stylized}
        h, w = next(iter(outs.values())).shape[:2]
        for name, o in outs.items():
            if o.shape[:2] != (h, w):
                raise ValueError(f"stylized frame {name!r} is {o.shape[:2]}, expected {(h, w)}")
        gray = to_gray(source)
        if gray.shape != (h, w):
            gray = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)
        cur = {name: o.astype(np.float32) * (1 / 255) for name, o in outs.items()}
        small = self._cuts.prepare(gray)
        if self._prev_gray is not None:
            pair_end = len(self.reliable_fraction) + 1
            same_exposure = match_exposure(gray, self._prev_gray)
            flow_f = self.estimator.calc(self._prev_gray, same_exposure)
            flow_b = self.estimator.calc(same_exposure, self._prev_gray)
            mask = reliable_mask(flow_f, flow_b).astype(np.float32)
            n = float(mask.sum())
            self.reliable_fraction.append(n / mask.size)
            if self._is_cut(small):
                self.cuts.append(pair_end)
            elif n / mask.size < self.min_reliable:
                self.unreliable.append(pair_end)
            left_out = self.cuts[-1:] == [pair_end] or self.unreliable[-1:] == [pair_end]
            for name, o in cur.items():
                d = warp(o, flow_f) - self._prev_out[name]
                e = float("nan") if left_out else float(np.einsum("hw,hwc,hwc->", mask, d, d)) / n
                self.per_pair.setdefault(name, []).append(e)
        self._prev_gray, self._prev_out, self._prev_small = gray, cur, small

    def _is_cut(self, small: np.ndarray) -> bool:
        """Both tests of the module doc, on flow-size gray frames."""
        motion = self._cuts.estimate(match_exposure(small, self._prev_small), self._prev_small)
        if not motion.cut:
            return False
        consistent = 1.0 - float((motion.occluded | motion_boundaries(motion.flow)).mean())
        return consistent < self.cut_flow_consistent

    def mean(self, name: str = "") -> float:
        values = np.asarray(self.per_pair.get(name, []), dtype=np.float64)
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else float("nan")


def warping_errors(
    sources: Iterable[np.ndarray], stylized: Iterable[np.ndarray], flow_preset: str = "medium"
) -> list[float]:
    """Per-pair warping errors of ``stylized`` (RGB uint8 frames) against the flow of
    ``sources`` (RGB uint8 frames, same count); len = frames - 1. See the module doc."""
    meter = WarpingError(flow_preset)
    for s, o in zip(sources, stylized, strict=True):
        meter.add(s, o)
    return meter.per_pair.get("", [])


def warping_error(
    sources: Iterable[np.ndarray], stylized: Iterable[np.ndarray], flow_preset: str = "medium"
) -> float:
    """Mean warping error over the frame pairs (NaN pairs left out)."""
    values = np.asarray(warping_errors(sources, stylized, flow_preset), dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGB uint8 images, in [0, 1]: how far an output
    strays from a reference output (a frozen or smeared video strays far)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(cv2.absdiff(a, b).mean()) / 255


def sharpness(image: np.ndarray) -> float:
    """Mean gradient magnitude of the luminance in [0, 1] per pixel (3x3 Sobel / 8): a
    blurred output scores lower than the per-frame one."""
    g = to_gray(image).astype(np.float32) * (1 / 255)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) * 0.125
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) * 0.125
    return float(cv2.magnitude(gx, gy).mean())


def patch_errors(output: np.ndarray, reference: np.ndarray, patch: int = 16) -> np.ndarray:
    """Mean absolute RGB difference in [0, 1] of each ``patch`` x ``patch`` tile of two
    same-shaped uint8 images, shape (ceil(h / patch), ceil(w / patch)); edge tiles that
    the size does not fill are averaged over the pixels they have."""
    if output.shape != reference.shape:
        raise ValueError(f"shapes differ: {output.shape} vs {reference.shape}")
    d = cv2.absdiff(output, reference)
    d = d.reshape(d.shape[0], d.shape[1], -1).sum(axis=2, dtype=np.int32)
    h, w = d.shape
    ys, xs = np.arange(0, h, patch), np.arange(0, w, patch)
    sums = np.add.reduceat(np.add.reduceat(d, ys, axis=0), xs, axis=1)
    counts = np.outer(np.diff(np.append(ys, h)), np.diff(np.append(xs, w)))
    channels = 1 if output.ndim == 2 else output.shape[2]
    return sums / (counts * channels * 255.0)


def frame_fidelity(
    output: np.ndarray, reference: np.ndarray, patch: int = 16, percentile: float = 99.0
) -> float:
    """The ``percentile`` over the patches of ``patch_errors``: one frame's fidelity error
    (0 = identical to the reference; lower is more faithful)."""
    return float(np.percentile(patch_errors(output, reference, patch), percentile))


class Fidelity:
    """Streaming fidelity of output frames against per-frame reference stylizations (see
    the module doc). ``add(output, reference)`` per frame; several outputs compared with
    one reference may be given as a dict. ``per_frame[name]`` holds each frame's
    percentile-over-patches; ``mean`` and ``p99`` summarise them over the frames."""

    def __init__(self, patch: int = 16, percentile: float = 99.0) -> None:
        self.patch = patch
        self.percentile = percentile
        self.per_frame: dict[str, list[float]] = {}

    def add(
        self, output: np.ndarray | dict[str, np.ndarray], reference: np.ndarray
    ) -> dict[str, float]:
        outs = output if isinstance(output, dict) else {"": output}
        got = {}
        for name, o in outs.items():
            got[name] = frame_fidelity(o, reference, self.patch, self.percentile)
            self.per_frame.setdefault(name, []).append(got[name])
        return got

    def mean(self, name: str = "") -> float:
        """Mean over the frames of the per-frame patch percentile (NaN before any frame)."""
        v = self.per_frame.get(name, [])
        return float(np.mean(v)) if v else float("nan")

    def p99(self, name: str = "") -> float:
        """99th percentile over the frames of the per-frame patch percentile: the worst
        frames (NaN before any frame)."""
        v = self.per_frame.get(name, [])
        return float(np.percentile(v, 99)) if v else float("nan")

    def summary(self, name: str = "") -> dict[str, float | int]:
        """``{"mean", "p99", "frames"}`` for one output."""
        return {
            "mean": self.mean(name),
            "p99": self.p99(name),
            "frames": len(self.per_frame.get(name, [])),
        }
