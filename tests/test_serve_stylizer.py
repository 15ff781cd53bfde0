"""The real Stylizer behind the browser controls: styles added at run time (uploads) and
thumbnails. Uses TensorFlow and the converted models (session cache)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_photo

from models.errors import UserError
from realtime.live_controls import ControlledProcessor, LiveControls


@pytest.fixture(scope="module")
def stylizer():
    from models.stylizer import load_stylizer

    return load_stylizer(["preset:3"], jit_compile=False)


def test_add_style_appends_a_usable_style(stylizer, style_png):
    img = synthetic_photo(64, 96)
    stylizer.style_index = 0
    preset = stylizer(img)
    index = stylizer.add_style(str(style_png))
    assert index == 1
    assert list(stylizer.style_names) == ["preset:3 confetti-swirl", "strokes"]
    assert len(stylizer.specs) == 2 and not stylizer.specs[1].is_preset
    stylizer.style_index = index
    painted = stylizer(img)
    assert painted.shape == img.shape and painted.dtype == np.uint8
    assert np.abs(painted.astype(int) - preset.astype(int)).mean() > 5  # a different style
    with pytest.raises(UserError, match=r"no-such\.png"):
        stylizer.add_style("no-such.png")
    assert len(stylizer.style_names) == 2  # a failed add leaves the list as it was


def test_controls_drive_the_real_stylizer_and_make_thumbnails(stylizer, style_png):
    if len(stylizer.style_names) < 2:  # run on its own
        stylizer.add_style(str(style_png))
    controls = LiveControls(stylizer)
    # the image style's thumbnail is the painting; the preset's is rendered from a frame
    styles = controls.styles()
    assert [s["thumbnail"] for s in styles] == [False, True]
    proc = ControlledProcessor(stylizer, controls)
    controls.update(style=1, strength=0.5)
    img = synthetic_photo(64, 96, seed=3)
    out = proc(img)
    assert out.shape == img.shape
    assert (stylizer.style_index, stylizer.strength) == (1, 0.5)
    assert all(s["thumbnail"] for s in controls.styles())  # the preset's preview is done
