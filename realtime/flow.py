"""Optical flow for temporal work: OpenCV DIS on downscaled frames, backward warping, the
occlusion and motion-boundary mask of docs/design.md section 4, and scene-cut detection.

Flow convention, used everywhere in this package: ``flow = FlowEstimator().calc(a, b)``
gives for each pixel x of ``a`` the displacement to its match in ``b``, so that
``a(x) ~ b(x + flow(x))``. ``warp(b, flow)`` samples ``b`` at ``x + flow(x)`` and so brings
``b`` onto ``a``'s pixel grid (backward warping with cv2.remap).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_gray(image: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 -> gray uint8 HxW (a gray HxW input is returned as is)."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def scaled_size(height: int, width: int, long_side: int | None) -> tuple[int, int]:
    """(width, height) with the long side at most ``long_side``, aspect kept; None keeps it."""
    if long_side is None or max(height, width) <= long_side:
        return width, height
    s = long_side / max(height, width)
    return max(1, round(width * s)), max(1, round(height * s))


def resize_long_side(image: np.ndarray, long_side: int | None) -> np.ndarray:
    """Downscale (area interpolation) so the long side is at most ``long_side``."""
    w, h = scaled_size(image.shape[0], image.shape[1], long_side)
    if (w, h) == (image.shape[1], image.shape[0]):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


class FlowEstimator:
    """Dense optical flow with OpenCV's DIS (Kroeger et al. 2016) or Farneback.

    ``calc(a, b)`` takes two gray uint8 images of the same size and returns float32 HxWx2
    (dx, dy) with ``a(x) ~ b(x + flow(x))``."""

    def __init__(self, preset: str = "fast") -> None:
        if preset not in (*PRESETS, "farneback"):
            raise ValueError(
                f"unknown flow preset {preset!r}; use one of {[*PRESETS, 'farneback']}"
            )
        self.preset = preset
        self._dis = None if preset == "farneback" else cv2.DISOpticalFlow_create(PRESETS[preset])

    def calc(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self._dis is None:
            return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 5, 15, 3, 5, 1.2, 0)
        return self._dis.calc(a, b, None)


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> np.ndarray:
    g = np.dstack(
        np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    )
    g.flags.writeable = False
    return g


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Backward warp: ``out(x) = image(x + flow(x))``; positions outside the image take the
    nearest border pixel. ``flow`` must have the image's height and width."""
    h, w = flow.shape[:2]
    if image.shape[:2] != (h, w):
        raise ValueError(f"flow is {w}x{h} but the image is {image.shape[1]}x{image.shape[0]}")
    return cv2.remap(
        image, _grid(h, w) + flow, None, interpolation, borderMode=cv2.BORDER_REPLICATE
    )


def resize_flow(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resample a flow field to ``width`` x ``height``, scaling the vectors with it."""
    h0, w0 = flow.shape[:2]
    if (w0, h0) == (width, height):
        return flow
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w0
    out[..., 1] *= height / h0
    return out


def _sq(v: np.ndarray) -> np.ndarray:
    """|v|^2 per pixel of an HxWx2 field (cv2.magnitude beats einsum by 5x here)."""
    return cv2.magnitude(v[..., 0], v[..., 1]) ** 2


def _outside(pos: np.ndarray) -> np.ndarray:
    h, w = pos.shape[:2]
    x, y = pos[..., 0], pos[..., 1]
    return (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)


def forward_backward_occlusion(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """True where the forward-backward check fails on ``a``'s grid (Sundaram et al. 2010):
    ``|w_ab + w_ba(x + w_ab)|^2 > 0.01 (|w_ab|^2 + |w_ba(x + w_ab)|^2) + 0.5``.

    Pixels whose match leaves the frame count as occluded too: with border replication the
    check alone would pass them (a pure translation is consistent at the border)."""
    pos = _grid(*flow_ab.shape[:2]) + flow_ab
    back = cv2.remap(flow_ba, pos, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    fails = _sq(flow_ab + back) > 0.01 * (_sq(flow_ab) + _sq(back)) + 0.5
    return fails | _outside(pos)


def motion_boundaries(flow: np.ndarray) -> np.ndarray:
    """True on motion boundaries: ``|grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002``
    (central differences)."""
    dx = cv2.Sobel(flow, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)
    dy = cv2.Sobel(flow, cv2.CV_32F, 0, 1, ksize=1, scale=0.5)
    return _sq(dx) + _sq(dy) > 0.01 * _sq(flow) + 0.002


def match_exposure(gray: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`gray` (uint8) with its mean and spread matched to `like`'s: a change of exposure
    or gain between two frames is taken out before flow and residuals are compared."""
    mean, std = cv2.meanStdDev(gray)
    like_mean, like_std = cv2.meanStdDev(like)
    scale = (float(like_std[0, 0]) + 1e-3) / (float(std[0, 0]) + 1e-3)
    offset = float(like_mean[0, 0]) - float(mean[0, 0]) * scale
    return cv2.addWeighted(gray, scale, gray, 0.0, offset)  # rounded, saturated uint8


def reliable_mask(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """The mask M of docs/design.md section 4 on ``a``'s grid: True where the pixel is neither
    occluded (forward-backward check, or leaving the frame) nor on a motion boundary."""
    return ~(forward_backward_occlusion(flow_ab, flow_ba) | motion_boundaries(flow_ab))


@dataclass(frozen=True)
class Motion:
    """Motion from a current frame to a reference frame, at the flow resolution.

    ``flow`` maps current pixels into the reference (``cur(x) ~ ref(x + flow(x))``);
    ``reliable`` is float32 in {0, 1}: 1 where the mask of docs/design.md section 4 holds and
    the warped reference agrees with the current frame photometrically."""

    flow: np.ndarray
    reliable: np.ndarray
    occluded_fraction: float  # fails the forward-backward check or leaves the frame
    unreliable_fraction: float  # 1 - mean(reliable)
    residual: float  # median |warp(ref) - cur| in [0, 1]
    cut: bool
    occluded: np.ndarray | None = None  # bool: forward-backward check failed or left frame
    diff: np.ndarray | None = None  # uint8 |warp(ref) - cur| (gray), at the flow size

    def flow_at(self, width: int, height: int) -> np.ndarray:
        return resize_flow(self.flow, width, height)

    def reliable_at(self, width: int, height: int) -> np.ndarray:
        h, w = self.reliable.shape
        if (w, h) == (width, height):
            return self.reliable
        return cv2.resize(self.reliable, (width, height), interpolation=cv2.INTER_LINEAR)


class MotionEstimator:
    """Flow, reliability mask and scene-cut test between two frames, on gray copies whose
    long side is ``flow_size`` (DIS is fast there, and the stylized output changes little
    below that scale).

    A pixel is reliable when the mask of docs/design.md section 4 holds AND the warped reference
    is within ``residual_threshold`` (gray, [0, 1]) of the current frame, which catches
    changes of light and flow errors the forward-backward check misses.

    A scene cut is declared when at least ``cut_unreliable`` of the frame is unreliable
    AND the median flow-compensated difference is at least ``cut_residual``: fast motion
    alone fails the second test, a flash of light alone the first. Measured at
    flow_size 320 on the clips in ../shared/data/video: the three hard cuts of
    tears_of_steel score unreliable >= 0.986 with residual >= 0.17; no other pair passes
    both (fastest motion, cockatoo: 0.72 with residual 0.024; a flashing light in
    tears_of_steel: 0.68 with residual 0.13)."""

    def __init__(
        self,
        flow_size: int | None = 320,
        preset: str = "fast",
        residual_threshold: float = 0.08,
        cut_unreliable: float = 0.8,
        cut_residual: float = 0.06,
    ) -> None:
        self.flow_size = flow_size
        self.estimator = FlowEstimator(preset)
        self.residual_threshold = residual_threshold
        self.cut_unreliable = cut_unreliable
        self.cut_residual = cut_residual

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The gray, downscaled copy of an RGB frame that ``estimate`` takes."""
        return resize_long_side(to_gray(image), self.flow_size)

    def estimate(self, cur: np.ndarray, ref: np.ndarray) -> Motion:
        """Motion from ``cur`` to ``ref``, both from ``prepare``."""
        flow = self.estimator.calc(cur, ref)
        back = self.estimator.calc(ref, cur)
        occluded = forward_backward_occlusion(flow, back)
        bad = occluded | motion_boundaries(flow)
        diff = cv2.absdiff(warp(ref, flow), cur)
        bad |= diff > self.residual_threshold * 255
        unreliable = float(bad.mean())
        residual = float(np.median(diff)) / 255
        cut = unreliable >= self.cut_unreliable and residual >= self.cut_residual
        return Motion(
            flow,
            (~bad).astype(np.float32),
            float(occluded.mean()),
            unreliable,
            residual,
            cut,
            occluded,
            diff,
        )
