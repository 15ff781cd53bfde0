"""The one place where OpenCV's BGR meets the project's RGB."""

from __future__ import annotations

import numpy as np


def bgr_to_rgb(image: np.ndarray) -> np.ndarray:
    """BGR (OpenCV capture/imread) to a contiguous RGB uint8 array."""
    return np.ascontiguousarray(image[..., ::-1])


def rgb_to_bgr(image: np.ndarray) -> np.ndarray:
    """RGB to a contiguous BGR array for OpenCV display/imwrite."""
    return np.ascontiguousarray(image[..., ::-1])
