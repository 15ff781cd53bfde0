"""Warping error (docs/design.md section 4) and the freeze / blur guards, on clips with known
motion; fidelity in patches against a per-frame reference."""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np
import pytest
from motion_clips import FlickeringStylizer, invert, texture, translating_clip

from realtime.metrics import (
    Fidelity,
    WarpingError,
    frame_fidelity,
    mean_abs_difference,
    patch_errors,
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


# --- fidelity: patches of a frame against a per-frame reference -----------------------------


def test_identical_frames_have_zero_fidelity_error():
    img = texture(64, 96)
    assert patch_errors(img, img).shape == (4, 6)
    assert frame_fidelity(img, img) == 0
    meter = Fidelity()
    for _ in range(3):
        meter.add(img, img)
    assert meter.summary() == {"mean": 0.0, "p99": 0.0, "frames": 3}


def test_a_pasted_block_raises_the_p99_but_hardly_the_mean():
    """A 32x32 block of wrong pixels (4 of 256 patches) moves the mean over the frame by
    under 2 % of its error, but the 99th percentile over patches sees all of it."""
    ref = texture(256, 256, seed=3)
    out = ref.copy()
    out[64:96, 128:160] = ref[180:212, 20:52]  # a block pasted from elsewhere
    block = mean_abs_difference(out[64:96, 128:160], ref[64:96, 128:160])
    assert block > 0.1
    assert mean_abs_difference(out, ref) < 0.02 * block + 1e-9
    # the percentile lands between the block's two least wrong patches
    per_patch = np.sort(patch_errors(out, ref)[4:6, 8:10].ravel())
    assert per_patch[0] <= frame_fidelity(out, ref) <= per_patch[1]
    assert frame_fidelity(out, ref) > 10 * mean_abs_difference(out, ref)


def test_a_blurred_frame_raises_it():
    ref = texture(96, 128, seed=4)
    soft = frame_fidelity(cv2.GaussianBlur(ref, (0, 0), 1), ref)
    softer = frame_fidelity(cv2.GaussianBlur(ref, (0, 0), 3), ref)
    assert 0.02 < soft < softer


def test_fidelity_by_hand():
    # 32x48 in 16x16 patches: 2 x 3 patches
    ref = np.zeros((32, 48, 3), np.uint8)
    out = ref.copy()
    out[:16, :16] = 255  # patch (0, 0): error 1
    out[16:, 32:, 1] = 51  # patch (1, 2): one channel of three off by 51/255 -> 1/15
    np.testing.assert_allclose(
        patch_errors(out, ref), [[1, 0, 0], [0, 0, 1 / 15]], rtol=1e-12, atol=1e-12
    )
    # sorted [0, 0, 0, 0, 1/15, 1]; the 99th percentile sits at 0.99 * 5 = 4.95
    assert frame_fidelity(out, ref) == pytest.approx(1 / 15 + 0.95 * (1 - 1 / 15))
    # edge patches cover only the pixels the frame has: 20x20 -> 16x16, 16x4, 4x16, 4x4
    small = np.zeros((20, 20, 3), np.uint8)
    corner = small.copy()
    corner[16:, 16:] = 255
    np.testing.assert_allclose(patch_errors(corner, small), [[0, 0], [0, 1]])
    # over frames: values 0.1, 0.2, 0.6 -> mean 0.3; 99th percentile 0.2 + 0.98 * 0.4
    meter = Fidelity()
    for v in (0.1, 0.2, 0.6):
        meter.add(np.full((16, 16, 3), round(v * 255), np.uint8), np.zeros((16, 16, 3), np.uint8))
    assert meter.mean() == pytest.approx(0.3, abs=2e-3)
    assert meter.p99() == pytest.approx(0.2 + 0.98 * 0.4, abs=2e-3)
    with pytest.raises(ValueError):
        meter.add(ref, small)


def test_fidelity_variants_share_one_reference():
    ref = texture(64, 64)
    meter = Fidelity()
    got = meter.add({"same": ref, "inverted": invert(ref)}, ref)
    assert got["same"] == 0 and got["inverted"] > 0.2
    assert meter.summary("inverted")["frames"] == 1 and np.isnan(Fidelity().mean())
