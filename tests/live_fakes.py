"""Stand-ins for the stylizer in live-output tests (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TINTS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


class TintStylizer:
    """A ControllableStylizer: style i blends the frame towards TINTS[i % 3] by
    0.6 * strength; preserve_color keeps the frame as is. `add_style` takes an image
    path like the real one (and keeps parsed specs, so thumbnails come from the file)."""

    def __init__(self, n: int = 3) -> None:
        self.style_names = [f"tint{i}" for i in range(n)]
        self.specs: list = [None] * n
        self.style_index = 0
        self.strength = 1.0
        self.preserve_color = False
        self.calls = 0

    def add_style(self, spec: str) -> int:
        from models.styles import parse_style

        parsed = parse_style(spec)
        self.specs.append(parsed)
        self.style_names.append(Path(spec).stem)
        return len(self.style_names) - 1

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.preserve_color:
            return image.copy()
        tint = np.array(TINTS[self.style_index % 3], np.float32)
        w = 0.6 * self.strength
        return (image * (1 - w) + tint * w).astype(np.uint8)


def invert(image: np.ndarray) -> np.ndarray:
    """A fixed-style FrameProcessor (not controllable)."""
    return 255 - image
