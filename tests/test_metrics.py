"""Warping error (DESIGN.md section 4) and the freeze / blur guards, on clips with known
motion."""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np
import pytest
from motion_clips import FlickeringStylizer, invert, texture, translating_clip

from realtime.metrics import (
    WarpingError,
    mean_abs_difference,
    sharpness,
    warping_error,
    warping_errors,
)


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    return translating_clip(n=8, dx=3, dy=1)


def test_consistent_output_scores_near_zero_and_flicker_scores_high(clip):
    consistent = [invert(f) for f in clip]
    flicker = FlickeringStylizer(amplitude=20)
    flickering = [flicker(f) for f in clip]
    per_pair = warping_errors(clip, consistent)
    assert len(per_pair) == len(clip) - 1
    assert max(per_pair) < 2e-4
    # a uniform jitter of up to +-20/255 per channel: E[sum over RGB of d^2] ~ 0.02
    assert warping_error(clip, flickering) > 0.005
    assert warping_error(clip, flickering) > 50 * warping_error(clip, consistent)


def test_a_static_output_on_a_moving_scene_scores_high(clip):
    frozen = [invert(clip[0])] * len(clip)
    assert warping_error(clip, frozen) > 20 * warping_error(clip, [invert(f) for f in clip])


def test_new_content_at_the_border_is_not_counted(clip):
    """The strip that enters frame t has no match in frame t-1: whatever the output shows
    there must not count."""
    rng = np.random.default_rng(0)
    for prev, cur in pairwise(clip):
        noisy = invert(cur)
        noisy[:, -3:] = rng.integers(0, 256, noisy[:, -3:].shape)  # enters at the right
        noisy[-1:, :] = rng.integers(0, 256, noisy[-1:, :].shape)  # and at the bottom
        assert warping_errors([prev, cur], [invert(prev), noisy])[0] < 5e-4
        # the same noise further in lands on content both frames show: it counts
        noisy[:, -6:-3] = rng.integers(0, 256, noisy[:, -6:-3].shape)
        assert warping_errors([prev, cur], [invert(prev), noisy])[0] > 5e-3


def test_variants_share_the_flow_and_match_separate_runs(clip):
    a = [invert(f) for f in clip]
    b = [cv2.GaussianBlur(f, (5, 5), 0) for f in clip]
    meter = WarpingError()
    for s, oa, ob in zip(clip, a, b, strict=True):
        meter.add(s, {"a": oa, "b": ob})
    np.testing.assert_allclose(meter.per_pair["a"], warping_errors(clip, a), rtol=1e-6)
    np.testing.assert_allclose(meter.per_pair["b"], warping_errors(clip, b), rtol=1e-6)
    assert len(meter.reliable_fraction) == len(clip) - 1
    assert all(0.9 < r <= 1 for r in meter.reliable_fraction)


def test_source_of_another_size_is_scaled_to_the_stylized_frames(clip):
    """The flow is computed at the stylized video's size (a peer may downscale)."""
    big = [cv2.resize(f, (192, 128), interpolation=cv2.INTER_CUBIC) for f in clip]
    assert warping_error(big, [invert(f) for f in clip]) < 1e-3


def test_frame_counts_must_match(clip):
    with pytest.raises(ValueError):
        warping_errors(clip, [invert(f) for f in clip[:-1]])


def test_mean_abs_difference():
    a = np.zeros((4, 5, 3), np.uint8)
    b = np.full((4, 5, 3), 51, np.uint8)
    assert mean_abs_difference(a, b) == pytest.approx(0.2)
    assert mean_abs_difference(b, b) == 0
    with pytest.raises(ValueError):
        mean_abs_difference(a, b[:3])


def test_sharpness_drops_with_blur_and_is_zero_on_flat_images():
    img = texture(64, 96)
    assert sharpness(np.full_like(img, 128)) == 0
    blurred = cv2.GaussianBlur(img, (0, 0), 2)
    assert sharpness(blurred) < 0.7 * sharpness(img)
    # a vertical step of height 1 in [0, 1]: gradient 0.5 on the two columns next to it
    step = np.zeros((10, 10, 3), np.uint8)
    step[:, 5:] = 255
    assert sharpness(step) == pytest.approx(0.5 * 2 / 10, rel=0.02)


@pytest.mark.parametrize("flow", ["medium", "farneback"])
def test_scene_cut_pairs_are_left_out(flow):
    a = translating_clip(n=4, height=96, width=128, seed=1)
    b = translating_clip(n=4, height=96, width=128, seed=2)
    clip = a + b
    per_pair = warping_errors(clip, [invert(f) for f in clip], flow_preset=flow)
    assert np.isnan(per_pair[3])  # the pair (a[-1], b[0])
    assert np.isfinite(np.delete(per_pair, 3)).all()
    assert warping_error(clip, [invert(f) for f in clip], flow_preset=flow) < 1e-3
