"""Synthetic clips with known motion for the flow, temporal and metric tests."""

from __future__ import annotations

import cv2
import numpy as np


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """RGB uint8: smooth colour blobs at two scales plus hard-edged rectangles, so optical
    flow has structure everywhere and there are sharp edges to keep."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.float32)
    for cell, amp in ((12, 0.6), (4, 0.4)):
        small = rng.random((height // cell + 2, width // cell + 2, 3)).astype(np.float32)
        img += amp * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img * 255, 0, 255).astype(np.uint8)
    for _ in range(height * width // 600):
        x, y = int(rng.integers(0, width - 8)), int(rng.integers(0, height - 8))
        w, h = int(rng.integers(4, 16)), int(rng.integers(4, 16))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(img, (x, y), (x + w, y + h), color, -1)
    return img


def translating_clip(
    n: int = 8, height: int = 64, width: int = 96, dx: int = 3, dy: int = 1, seed: int = 0
) -> list[np.ndarray]:
    """Frames of a window sliding over a larger texture by (dx, dy) pixels per frame:
    frame t+1 at x equals frame t at x + (dx, dy), and new content enters at the right
    and bottom borders."""
    big = texture(height + abs(dy) * n + 8, width + abs(dx) * n + 8, seed)
    x0 = 4 if dx >= 0 else 4 + abs(dx) * n
    y0 = 4 if dy >= 0 else 4 + abs(dy) * n
    return [
        big[y0 + dy * t : y0 + dy * t + height, x0 + dx * t : x0 + dx * t + width].copy()
        for t in range(n)
    ]


def invert(image: np.ndarray) -> np.ndarray:
    """A pointwise fake stylizer: stylize(crop) == crop(stylize(whole)), so its output on a
    translating clip is perfectly consistent."""
    return 255 - image


class FlickeringStylizer:
    """``invert`` plus a fresh random colour offset per call: the flicker a per-frame
    network shows on a steady scene. Counts its calls and remembers the sizes it saw."""

    def __init__(self, amplitude: int = 30, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        self.amplitude = amplitude
        self.calls = 0
        self.shapes: list[tuple[int, ...]] = []
        self.last: np.ndarray | None = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.shapes.append(image.shape)
        jitter = self.rng.integers(-self.amplitude, self.amplitude + 1, size=3)
        self.last = np.clip(invert(image).astype(np.int16) + jitter, 0, 255).astype(np.uint8)
        return self.last
