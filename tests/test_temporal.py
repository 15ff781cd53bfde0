"""Temporal filter, keyframe propagation and internal-size upsampling around a fake,
flickering stylizer, on clips with known motion."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from motion_clips import FlickeringStylizer, invert, texture, translating_clip

from realtime.frame import Frame
from realtime.metrics import mean_abs_difference, sharpness, warping_error
from realtime.pipeline import Pipeline
from realtime.sources.base import Source
from realtime.temporal import TemporalProcessor, guided_upsample, make_temporal_processor


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    return translating_clip(n=12, dx=3, dy=1)


def _run(processor, frames):
    return [processor(f) for f in frames]


def _mean_sharpness(frames):
    return float(np.mean([sharpness(f) for f in frames]))


def test_filter_cuts_flicker_on_a_moving_scene_without_blurring_or_freezing(clip):
    per_frame = _run(FlickeringStylizer(seed=1), clip)
    filtered = _run(make_temporal_processor(FlickeringStylizer(seed=1), temporal=0.6), clip)
    e_per, e_filt = warping_error(clip, per_frame), warping_error(clip, filtered)
    assert e_filt < 0.3 * e_per
    # still sharp: the warp resamples, the blend must not smear
    assert _mean_sharpness(filtered) > 0.9 * _mean_sharpness(per_frame)
    # not frozen: it follows the per-frame output far more closely than a still frame does
    mad = np.mean([mean_abs_difference(a, b) for a, b in zip(filtered, per_frame, strict=True)])
    frozen = np.mean([mean_abs_difference(per_frame[0], b) for b in per_frame])
    assert mad < 0.3 * frozen


def test_flow_beats_a_plain_blend_with_the_previous_output(clip):
    """The peer's answer (blend without motion) smears a moving scene."""
    per_frame = _run(FlickeringStylizer(seed=1), clip)
    plain = [per_frame[0]]
    for o in per_frame[1:]:
        plain.append(cv2.addWeighted(plain[-1], 0.6, o, 0.4, 0))
    filtered = _run(make_temporal_processor(FlickeringStylizer(seed=1), temporal=0.6), clip)
    assert warping_error(clip, filtered) < 0.7 * warping_error(clip, plain)
    assert _mean_sharpness(filtered) > 1.15 * _mean_sharpness(plain)


def test_strength_orders_the_flicker(clip):
    errors = [
        warping_error(clip, _run(make_temporal_processor(FlickeringStylizer(), temporal=s), clip))
        for s in (0.0, 0.3, 0.7)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_scene_cut_resets_to_the_fresh_frame():
    a = translating_clip(n=5, height=96, width=128, seed=1)
    b = translating_clip(n=3, height=96, width=128, seed=2)
    stylize = FlickeringStylizer()
    p = make_temporal_processor(stylize, temporal=0.8)
    outs = [p(f) for f in a]
    assert not np.array_equal(outs[-1], stylize.last)  # blended inside the shot
    cut = p(b[0])
    np.testing.assert_array_equal(cut, stylize.last)  # nothing of the old shot
    assert p.cuts == 1
    after = p(b[1])
    assert not np.array_equal(after, stylize.last)  # blending resumes in the new shot


def test_keyframes_only_are_stylized_and_in_between_frames_follow_the_motion(clip):
    stylize = FlickeringStylizer(amplitude=0)
    p = make_temporal_processor(stylize, keyframe_every=4)
    outs = _run(p, clip)
    assert stylize.calls == p.keyframes == 3  # frames 0, 4 and 8
    truth = [invert(f) for f in clip]
    inner = np.s_[4:-4, 4:-8]  # away from the content that enters at the border
    for t, out in enumerate(outs):
        follows = mean_abs_difference(out[inner], truth[t][inner])
        assert follows < 0.02, t
        if t % 4:
            stale = mean_abs_difference(truth[t - t % 4][inner], truth[t][inner])
            assert follows < 0.1 * stale, t


def test_keyframe_propagation_cuts_flicker(clip):
    per_frame = _run(FlickeringStylizer(), clip)
    propagated = _run(make_temporal_processor(FlickeringStylizer(), keyframe_every=4), clip)
    assert warping_error(clip, propagated) < 0.5 * warping_error(clip, per_frame)


def test_adaptive_keyframes_follow_occlusion_and_cuts():
    still = [texture(96, 128, seed=4)] * 6
    moving = translating_clip(n=6, dx=6, dy=0, height=96, width=128, seed=5)
    stylize = FlickeringStylizer(amplitude=0)
    p = make_temporal_processor(stylize, adaptive=True, max_unreliable=0.1)
    _run(p, still)
    assert stylize.calls == 1  # nothing changes: one keyframe
    p(moving[0])  # a cut
    assert stylize.calls == 2 and p.cuts == 1
    _run(p, moving[1:])
    # 6 px per frame uncovers 4.7 % of the width: a new keyframe every two or three frames
    assert 3 <= stylize.calls <= 5


def test_keyframes_with_the_filter_blend_at_each_keyframe(clip):
    per_frame = _run(FlickeringStylizer(), clip)
    stylize = FlickeringStylizer()
    p = make_temporal_processor(stylize, temporal=0.6, keyframe_every=3)
    outs = _run(p, clip)
    assert stylize.calls == 4
    assert warping_error(clip, outs) < 0.3 * warping_error(clip, per_frame)


def test_internal_size_returns_the_frame_size_and_stylizes_smaller():
    frames = translating_clip(n=3, height=96, width=128)
    stylize = FlickeringStylizer(amplitude=0)
    p = make_temporal_processor(stylize, internal_size=64)
    outs = _run(p, frames)
    assert all(
        o.shape == f.shape and o.dtype == np.uint8 for o, f in zip(outs, frames, strict=True)
    )
    assert stylize.shapes == [(48, 64, 3)] * 3


def test_guided_upsampling_keeps_source_edges_sharper_than_bilinear():
    gray = cv2.cvtColor(texture(96, 128, seed=4), cv2.COLOR_RGB2GRAY)
    img = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    truth = invert(img)  # what a full-size stylization would give
    low = invert(cv2.resize(img, (64, 48), interpolation=cv2.INTER_AREA))
    bilinear = cv2.resize(low, (128, 96), interpolation=cv2.INTER_LINEAR)
    guided = guided_upsample(low, img, radius=1, eps=1e-4)
    assert guided.shape == img.shape
    assert mean_abs_difference(guided, truth) < 0.2 * mean_abs_difference(bilinear, truth)
    assert sharpness(guided) > 1.15 * sharpness(bilinear)
    assert sharpness(guided) == pytest.approx(sharpness(truth), rel=0.05)


def test_guided_upsampling_keeps_the_stylization_texture_where_the_source_is_flat():
    """A guided filter would smooth brush texture the source does not have; this must not,
    and the source's edge must still come back sharp."""
    src = np.full((96, 128, 3), 120, np.uint8)
    src[31:71, 41:91] = 220  # a sharp square on a flat background, odd edges
    low = cv2.resize(src, (64, 48), interpolation=cv2.INTER_AREA)
    strokes = ((np.indices((48, 64)).sum(axis=0) % 4) * 20)[..., None].astype(np.uint8)
    textured = cv2.add(low, np.repeat(strokes, 3, axis=2))  # the "style" adds texture
    bilinear = cv2.resize(textured, (128, 96), interpolation=cv2.INTER_LINEAR)
    out = guided_upsample(textured, src, radius=1, eps=1e-3)
    flat = np.s_[4:24, 4:124]
    assert np.abs(out[flat].astype(int) - bilinear[flat]).max() <= 1
    # without the texture, the square's edges come back (identity "style": truth = src)
    plain = cv2.resize(low, (128, 96), interpolation=cv2.INTER_LINEAR)
    edges = np.s_[26:76, 36:96]
    err_plain = np.abs(plain[edges].astype(int) - src[edges]).mean()
    err_guided = np.abs(guided_upsample(low, src)[edges].astype(int) - src[edges]).mean()
    assert err_guided < 0.3 * err_plain


def test_guided_upsampling_is_identity_at_full_size():
    img = texture(32, 48)
    assert guided_upsample(img, img) is img


def test_style_change_forces_a_keyframe(clip):
    class Controllable(FlickeringStylizer):
        style_index = 0
        strength = 1.0
        preserve_color = False
        style_names = ("a", "b")

    stylize = Controllable(amplitude=0)
    p = make_temporal_processor(stylize, keyframe_every=100)
    _run(p, clip[:3])
    assert stylize.calls == 1
    p.style_index = 1  # the webcam's key handler does this on the processor
    assert stylize.style_index == 1 and p.style_names == ("a", "b")
    p(clip[3])
    assert stylize.calls == 2


def test_frame_size_change_starts_over():
    stylize = FlickeringStylizer(amplitude=0)
    p = make_temporal_processor(stylize, temporal=0.5, keyframe_every=5)
    p(texture(64, 96))
    out = p(texture(48, 64))
    assert out.shape == (48, 64, 3) and stylize.calls == 2


def test_everything_off_returns_the_stylizer_itself():
    stylize = FlickeringStylizer()
    assert make_temporal_processor(stylize) is stylize
    assert isinstance(make_temporal_processor(stylize, temporal=0.5), TemporalProcessor)
    assert not hasattr(make_temporal_processor(stylize, temporal=0.5), "style_index")


@pytest.mark.parametrize(
    "kwargs",
    [{"temporal": 1.0}, {"temporal": -0.1}, {"keyframe_every": 0}, {"internal_size": 8}],
)
def test_bad_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        make_temporal_processor(FlickeringStylizer(), **kwargs)


def test_propagation_flow_size_follows_the_working_size():
    frame = texture(240, 320, seed=2)
    full = make_temporal_processor(FlickeringStylizer(), keyframe_every=4)
    small = make_temporal_processor(FlickeringStylizer(), keyframe_every=4, internal_size=200)
    every = make_temporal_processor(FlickeringStylizer(), temporal=0.5)
    for p in (full, small, every):
        p(frame)
    assert full.motion.flow_size == 160  # half of 320, at least 160
    assert small.motion.flow_size == 160
    assert every.motion.flow_size == 320
    big = make_temporal_processor(FlickeringStylizer(), keyframe_every=4)
    big(cv2.resize(frame, (640, 480)))
    assert big.motion.flow_size == 320


class GatedStylizer(FlickeringStylizer):
    """Each call after the first waits until the test opens the gate, like a stylizer
    still busy on the worker thread; the shade it adds tells the calls apart."""

    style_index = 0
    strength = 1.0
    preserve_color = False
    style_names = ("a", "b")

    def __init__(self) -> None:
        super().__init__(amplitude=0)
        self.gate = threading.Event()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.calls > 0:
            assert self.gate.wait(10), "the test never opened the gate"
        out = super().__call__(image)
        return cv2.add(out, np.full_like(out, 20 * self.calls))  # call n: +20n (saturating)


def test_background_keyframes_do_not_hold_up_frames_and_land_later(clip):
    stylize = GatedStylizer()
    p = make_temporal_processor(stylize, keyframe_every=2, background=True)
    first = p(clip[0])  # nothing to warp from yet: stylized at once
    assert stylize.calls == 1 and p.keyframes == 1
    # frame 2 falls due: its keyframe starts on the worker, which waits at the gate; the
    # frames keep coming, warped from keyframe 0
    outs = [p(f) for f in clip[1:4]]
    assert p.keyframes == 1
    assert all(o.shape == first.shape for o in outs)
    assert mean_abs_difference(outs[-1][4:-4, 4:-4], invert(clip[3])[4:-4, 4:-4]) < 0.15
    stylize.gate.set()
    p.close()  # waits for the worker
    assert stylize.calls == 2 and p.keyframes == 1  # finished, not landed yet
    landed = p(clip[4])  # keyframe of frame 2 (+40) warped onto frame 4
    assert p.keyframes == 2
    inner = (slice(8, -8), slice(8, -8))
    shade = landed[inner].astype(int) - invert(clip[4])[inner].astype(int)
    assert abs(np.median(shade) - 40) <= 2
    assert [t for t in threading.enumerate() if t.name == "temporal-keyframe"] == []


def test_a_background_keyframe_of_the_old_style_is_dropped(clip):
    stylize = GatedStylizer()
    p = make_temporal_processor(stylize, keyframe_every=2, background=True)
    _run(p, clip[:3])  # frame 2 starts a keyframe in style 0, held at the gate
    p.style_index = 1
    stylize.gate.set()
    p.close()  # the old style's keyframe (+40) has finished
    out = p(clip[3])  # a style change: stylized at once in the new style
    assert stylize.calls == 3
    p(clip[4])
    assert p.keyframes == 2  # frames 0 and 3; the stale one never lands
    inner = (slice(8, -8), slice(8, -8))
    shade = out[inner].astype(int) - invert(clip[3])[inner].astype(int)
    assert abs(np.median(shade) - 60) <= 2  # the third call's shade: the new style


def test_a_failing_background_keyframe_surfaces_on_the_frame_thread(clip):
    class Failing(GatedStylizer):
        def __call__(self, image):
            if self.calls > 0:
                raise RuntimeError("stylizer broke")
            return super().__call__(image)

    p = make_temporal_processor(Failing(), keyframe_every=2, background=True)
    _run(p, clip[:3])
    p.close()
    with pytest.raises(RuntimeError, match="stylizer broke"):
        p(clip[3])


class OverlapCountingStylizer:
    """``invert`` plus a flicker offset that depends on the frame alone (so the output
    does not depend on call order), taking a frame-dependent 5-25 ms; counts the calls
    that run at once."""

    max_in_flight = 2

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        key = int(image[::7, ::7].sum())
        time.sleep(0.005 + (key % 5) * 0.005)
        jitter = np.array([key % 41, key % 37, key % 29], np.int16) - 20
        with self.lock:
            self.active -= 1
        return np.clip(invert(image).astype(np.int16) + jitter, 0, 255).astype(np.uint8)


class ClipSource(Source):
    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames

    def __iter__(self):
        for i, image in enumerate(self.frames):
            yield Frame(image, i / 25, i)

    def close(self) -> None:
        pass


def test_frames_overlap_in_the_stylizer_and_the_blend_stays_in_order(clip):
    stylizer = OverlapCountingStylizer()
    expected = _run(TemporalProcessor(stylizer, temporal=0.7), clip)
    assert stylizer.most == 1
    processor = TemporalProcessor(stylizer, temporal=0.7)
    assert processor.max_in_flight == 2
    got: list[np.ndarray] = []
    Pipeline(ClipSource(clip), processor, lambda frame, out: got.append(out)).run()
    assert stylizer.most == 2  # two frames were in the stylizer at once
    assert len(got) == len(clip) and processor.frames == len(clip)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


@pytest.mark.parametrize(
    "kwargs", [{"keyframe_every": 2}, {"adaptive": True}, {"background": True}]
)
def test_a_processor_whose_state_decides_what_is_stylized_takes_one_frame_at_a_time(kwargs):
    processor = TemporalProcessor(OverlapCountingStylizer(), temporal=0.7, **kwargs)
    assert processor.stages() is None and processor.max_in_flight == 1


def test_a_stylizer_that_takes_one_frame_at_a_time_is_not_called_for_two():
    processor = TemporalProcessor(FlickeringStylizer(), temporal=0.7)  # declares nothing
    assert processor.stages() is None and processor.max_in_flight == 1
