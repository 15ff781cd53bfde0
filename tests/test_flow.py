"""Optical flow, warping, the occlusion / motion-boundary mask and scene cuts, on frames
with known motion."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
from motion_clips import texture, translating_clip

from realtime.flow import (
    FlowEstimator,
    MotionEstimator,
    forward_backward_occlusion,
    motion_boundaries,
    reliable_mask,
    resize_flow,
    resize_long_side,
    to_gray,
    warp,
)


def _const_flow(h: int, w: int, dx: float, dy: float) -> np.ndarray:
    f = np.empty((h, w, 2), np.float32)
    f[..., 0], f[..., 1] = dx, dy
    return f


def test_dis_flow_recovers_known_translation():
    f0, f1 = translating_clip(n=2, dx=3, dy=1)[:2]
    flow = FlowEstimator("fast").calc(to_gray(f1), to_gray(f0))  # f1(x) = f0(x + (3, 1))
    inner = flow[8:-8, 8:-8].reshape(-1, 2)
    np.testing.assert_allclose(np.median(inner, axis=0), [3, 1], atol=0.25)


def test_warp_aligns_previous_frame_with_current():
    f0, f1 = translating_clip(n=2, dx=3, dy=1)[:2]
    flow = FlowEstimator("fast").calc(to_gray(f1), to_gray(f0))
    aligned = warp(f0, flow)
    before = cv2.absdiff(f0, f1)[8:-8, 8:-8].mean()
    after = cv2.absdiff(aligned, f1)[8:-8, 8:-8].mean()
    assert after < 2.0 < before / 10


def test_warp_with_exact_integer_flow_is_a_shift():
    img = texture(32, 40)
    out = warp(img, _const_flow(32, 40, 2, 0))
    np.testing.assert_array_equal(out[:, :-2], img[:, 2:])
    np.testing.assert_array_equal(out[:, -2:], img[:, -1:].repeat(2, axis=1))  # border


def test_forward_backward_check_on_exact_flows():
    h, w = 20, 30
    ab, ba = _const_flow(h, w, 2, 0), _const_flow(h, w, -2, 0)
    occ = forward_backward_occlusion(ab, ba)
    # consistent everywhere, except where x + 2 leaves the frame
    assert not occ[:, : w - 2].any()
    assert occ[:, w - 2 :].all()
    # a backward flow that does not undo the forward one fails the check
    assert forward_backward_occlusion(ab, _const_flow(h, w, 2, 0))[:, : w - 2].all()
    # within the tolerance 0.01 (|w_f|^2 + |w_b|^2) + 0.5: 0.6 px of error passes at 2 px
    assert not forward_backward_occlusion(ab, _const_flow(h, w, -1.4, 0))[:, : w - 2].any()


def test_motion_boundaries_mark_a_flow_discontinuity_only():
    flow = _const_flow(20, 30, 0, 0)
    flow[:, 15:, 0] = 5.0  # right half moves 5 px, left half still
    mb = motion_boundaries(flow)
    assert mb[:, 14:16].all()
    assert not mb[:, :13].any() and not mb[:, 17:].any()
    # smooth motion (a zoom) is no boundary: gradient 0.01 px/px
    zoom = np.dstack(np.meshgrid(np.arange(30.0), np.arange(20.0))).astype(np.float32) * 0.01
    assert not motion_boundaries(zoom).any()


def test_mask_marks_disoccluded_border_of_a_translation():
    f0, f1 = translating_clip(n=2, dx=3, dy=1)[:2]
    g0, g1 = to_gray(f0), to_gray(f1)
    est = FlowEstimator("fast")
    back, fwd = est.calc(g1, g0), est.calc(g0, g1)
    m = reliable_mask(back, fwd)  # on f1's grid
    # content enters at the right (3 columns) and the bottom (1 row)
    assert not m[:, -3:].any() and not m[-1:, :].any()
    assert m[4:-4, 4:-5].mean() > 0.98


def test_mask_marks_the_uncovered_background_behind_a_moving_object():
    bg, fg = texture(96, 128, seed=3), texture(32, 32, seed=7)

    def frame(x):
        im = bg.copy()
        im[32:64, x : x + 32] = fg
        return im

    motion = MotionEstimator()
    m = motion.estimate(motion.prepare(frame(34)), motion.prepare(frame(30)))
    # columns 30..33 were under the square in the previous frame
    assert m.reliable[36:60, 30:34].mean() < 0.2
    assert m.reliable[:24].mean() > 0.95 and m.reliable[72:].mean() > 0.95
    assert not m.cut


@pytest.mark.parametrize("seeds", [(1, 2), (3, 9), (10, 11)])
def test_unrelated_frames_are_a_scene_cut(seeds):
    motion = MotionEstimator()
    a, b = texture(96, 128, seeds[0]), texture(96, 128, seeds[1])
    assert motion.estimate(motion.prepare(b), motion.prepare(a)).cut


def test_translation_is_not_a_scene_cut():
    motion = MotionEstimator()
    frames = translating_clip(n=4, dx=4, dy=2, height=96, width=128)
    small = [motion.prepare(f) for f in frames]
    assert not any(motion.estimate(b, a).cut for a, b in pairwise(small))


def test_resize_flow_scales_vectors_with_the_grid():
    f = _const_flow(10, 20, 1.5, -2.0)
    big = resize_flow(f, 40, 30)
    assert big.shape == (30, 40, 2)
    np.testing.assert_allclose(big[..., 0], 3.0)
    np.testing.assert_allclose(big[..., 1], -6.0)


def test_resize_long_side_keeps_aspect_and_never_upscales():
    img = np.zeros((480, 640, 3), np.uint8)
    assert resize_long_side(img, 320).shape == (240, 320, 3)
    assert resize_long_side(img, 1000) is img
    assert resize_long_side(img, None) is img


def test_unknown_flow_preset_is_rejected():
    with pytest.raises(ValueError, match="preset"):
        FlowEstimator("slowest")


def _frames(path: Path, start: int, stop: int):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    gen = imageio_ffmpeg.read_frames(str(path))
    w, h = next(gen)["size"]
    for i, raw in enumerate(gen):
        if i >= stop:
            gen.close()
            return
        if i >= start:
            yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)


@pytest.mark.slow
def test_scene_cuts_on_real_clips(shared_data: Path):
    """The three hard cuts of tears_of_steel are found, and neither its flashing light nor
    the fastest motion of cockatoo counts as a cut."""
    video = shared_data / "video"
    motion = MotionEstimator()

    def cuts(name, start, stop):
        found, prev = [], None
        for i, f in enumerate(_frames(video / name, start, stop), start):
            small = motion.prepare(f)
            if prev is not None and motion.estimate(small, prev).cut:
                found.append(i)
            prev = small
        return found

    assert cuts("tears_of_steel.mp4", 0, 240) == [21, 65, 185]
    assert cuts("cockatoo.mp4", 125, 175) == []
