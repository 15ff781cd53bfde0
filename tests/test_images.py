"""fit_long_side: the one resize every command's --size goes through."""

from __future__ import annotations

import numpy as np

from models.images import fit_long_side


def test_fit_long_side_scales_down_and_up_keeping_aspect():
    img = np.zeros((60, 90, 3), np.uint8)
    assert fit_long_side(img, 45).shape == (30, 45, 3)
    assert fit_long_side(img, 180).shape == (120, 180, 3)
    assert fit_long_side(img, None) is img and fit_long_side(img, 90) is img
