"""Offline video mode: keyframe choice, warm starts along the flow, propagation between
keyframes, checkpoints/resume, and the file job with audio. Most tests drive the engine
with a fake optimizer (no TensorFlow); one runs the real optimizer with a random VGG."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from motion_clips import texture, translating_clip
from video_clips import make_clip, stream_times

from models.errors import UserError
from models.optimize import OptimizeResult, OptimizeSettings
from realtime import offline as ov
from realtime.frame import Frame
from realtime.jobs.video import optimize_video
from realtime.metrics import warping_error


class FakeOptimizer:
    """Stylizes as colour inversion; records what each keyframe started from."""

    def __init__(self, settings: OptimizeSettings | None = None) -> None:
        self.settings = settings or OptimizeSettings(iterations=5)
        self.calls: list[dict] = []

    def run(self, content, init=None, *, temporal_target=None, temporal_mask=None, progress=None):
        self.calls.append({"init": init, "target": temporal_target, "mask": temporal_mask})
        for i in range(3):
            if progress:
                progress(i + 1, 10.0 - i)
        return OptimizeResult(
            image=(1.0 - content).astype(np.float32),
            history=[10.0, 9.0, 8.0, 7.0],
            iterations=3,
            evaluations=4,
            seconds=0.0,
        )


def _frames(images: list[np.ndarray], fps: float = 25.0) -> list[Frame]:
    return [Frame(image=im, pts=i / fps, index=i) for i, im in enumerate(images)]


def _run(engine: ov.OfflineStylizer, images: list[np.ndarray]) -> list[Frame]:
    out: list[Frame] = []
    engine.run(iter(_frames(images)), out.append)
    return out


def test_keyframes_every_k_and_last_frame() -> None:
    clip = translating_clip(n=10, dx=1, dy=0)
    engine = ov.OfflineStylizer(FakeOptimizer(), ov.KeyframeSettings(every=4, adaptive=False))
    out = _run(engine, clip)
    assert [f.index for f in out] == list(range(10))
    assert [k.index for k in engine.result.keyframes] == [0, 4, 8, 9]
    assert [k.warm for k in engine.result.keyframes] == [False, True, True, True]


@pytest.mark.parametrize(("n", "every"), [(1, 4), (9, 4), (10, 4), (5, 1), (6, 8)])
def test_planned_keyframes_match_the_engine(n: int, every: int) -> None:
    engine = ov.OfflineStylizer(FakeOptimizer(), ov.KeyframeSettings(every=every, adaptive=False))
    _run(engine, translating_clip(n=n, dx=1, dy=0))
    assert ov.planned_keyframes(n, every) == len(engine.result.keyframes)


def test_warm_start_is_previous_result_warped_along_input_flow() -> None:
    clip = translating_clip(n=5, dx=3, dy=1)
    opt = FakeOptimizer()
    engine = ov.OfflineStylizer(opt, ov.KeyframeSettings(every=4, adaptive=False))
    _run(engine, clip)
    warm = opt.calls[1]
    expected = 1.0 - clip[4].astype(np.float32) / 255  # what keyframe 0's result looks like there
    reliable = warm["mask"] > 0.5
    assert reliable.mean() > 0.6  # most of the frame is traced back; the new border is not
    warped, mixed = warm["init"]  # candidates: the warp, and the warp only where reliable
    err = np.abs(warped - expected).mean(axis=2)
    assert err[reliable].mean() < 0.03
    np.testing.assert_array_equal(warped, warm["target"])
    sure = warm["mask"] == 1
    np.testing.assert_allclose(mixed[sure], warped[sure], atol=1e-6)
    prev = 1.0 - clip[0].astype(np.float32) / 255
    np.testing.assert_allclose(
        mixed[~reliable & (warm["mask"] == 0)], prev[~reliable & (warm["mask"] == 0)], atol=1e-6
    )
    assert opt.calls[0]["target"] is None  # the first keyframe is cold: no temporal term


def test_frames_between_follow_the_motion() -> None:
    """With a stylization that is consistent by construction (inversion), the propagated
    frames must match the stylization of their own input, not a frozen keyframe."""
    clip = translating_clip(n=9, dx=2, dy=1)
    engine = ov.OfflineStylizer(FakeOptimizer(), ov.KeyframeSettings(every=8, adaptive=False))
    out = _run(engine, clip)
    for t in (2, 4, 6):
        truth = 255 - clip[t].astype(np.int16)
        inner = np.abs(out[t].image.astype(np.int16) - truth)[6:-6, 6:-6]
        frozen = np.abs(255 - clip[0].astype(np.int16) - truth)[6:-6, 6:-6]
        assert inner.mean() < 6, t
        assert inner.mean() < 0.25 * frozen.mean(), t
    assert warping_error(clip, [f.image for f in out]) < 0.01


def test_holes_take_the_warp_by_default_and_the_fast_stylizer_on_request() -> None:
    """fill="warp" (default) never runs the fast stylizer; fill="fast" runs it once per
    in-between frame."""
    clip = translating_clip(n=9, dx=3, dy=0)
    calls: list[int] = []

    def fast(im: np.ndarray) -> np.ndarray:
        calls.append(1)
        return 255 - im

    keys = ov.KeyframeSettings(every=4, adaptive=False)
    _run(ov.OfflineStylizer(FakeOptimizer(), keys, fast=fast), clip)
    assert calls == []
    engine = ov.OfflineStylizer(FakeOptimizer(), replace(keys, fill="fast"), fast=fast)
    _run(engine, clip)
    assert len(calls) == 9 - 3  # every frame but keyframes 0, 4, 8
    assert engine.result.filled_fraction > 0  # the left edge comes into view


def test_scene_cut_makes_cold_keyframes_on_both_sides() -> None:
    a = translating_clip(n=5, dx=1, dy=0, seed=1)
    b = translating_clip(n=5, dx=1, dy=0, seed=7)
    b = [255 - im[::-1] for im in b]  # a different shot
    engine = ov.OfflineStylizer(FakeOptimizer(), ov.KeyframeSettings(every=20))
    _run(engine, a + b)
    keys = {k.index: k.warm for k in engine.result.keyframes}
    assert keys[4] is True  # the last frame of shot one, warm from keyframe 0
    assert keys[5] is False  # the first frame of shot two, cold
    assert 9 in keys


def test_adaptive_keyframe_on_large_motion() -> None:
    big = texture(64, 400, seed=3)
    clip = [big[:, 4 * t : 4 * t + 128].copy() for t in range(12)]  # 4 px/frame
    fixed = ov.OfflineStylizer(FakeOptimizer(), ov.KeyframeSettings(every=4, adaptive=False))
    _run(fixed, clip)
    adaptive = ov.OfflineStylizer(
        FakeOptimizer(), ov.KeyframeSettings(every=4, adaptive=True, max_unreliable=0.1)
    )
    _run(adaptive, clip)
    assert [k.index for k in fixed.result.keyframes] == [0, 4, 8, 11]
    assert len(adaptive.result.keyframes) > 4
    assert all(k.warm for k in adaptive.result.keyframes[1:])  # more keys, no false cuts


def test_blend_weights_by_distance_and_fills_holes() -> None:
    h, w = 16, 16
    a = np.zeros((h, w, 3), np.float32)
    b = np.ones((h, w, 3), np.float32)
    ones = np.ones((h, w), np.float32)
    out, filled = ov.blend_between(1, 0, 4, a, ones, b, ones, None)
    np.testing.assert_allclose(out, 0.25, atol=1e-6)  # 3/4 of a, 1/4 of b
    assert filled == 0.0
    # Left half reliable only in a, right half only in b: each side takes its own.
    ra = np.zeros((h, w), np.float32)
    ra[:, :6] = 1
    rb = np.zeros((h, w), np.float32)
    rb[:, 10:] = 1
    out, _ = ov.blend_between(2, 0, 4, a, ra, b, rb, None)
    assert out[:, :3].max() < 0.05 and out[:, 13:].min() > 0.95
    # Neither covers the middle: the fill shows there, colour-matched to the blend.
    fill = np.full((h, w, 3), 0.5, np.float32)
    fill[:, 7:9] = 0.9
    out, filled = ov.blend_between(2, 0, 4, a, ra, b, rb, fill)
    assert filled > 0.1
    assert out[:, 7:9].mean() > out[:, 6].mean() - 1e-6


def test_checkpoints_resume_and_mismatch_starts_fresh(tmp_path: Path) -> None:
    clip = translating_clip(n=6, dx=1, dy=0)
    keys = ov.KeyframeSettings(every=3, adaptive=False)
    work = ov.WorkFolder(tmp_path / "w", "k1", log=lambda m: None)
    first = ov.OfflineStylizer(FakeOptimizer(), keys, work=work)
    out1 = _run(first, clip)
    assert len(list((tmp_path / "w").glob("key_*.npy"))) == 3

    messages: list[str] = []
    opt = FakeOptimizer()
    again = ov.OfflineStylizer(
        opt, keys, work=ov.WorkFolder(tmp_path / "w", "k1", log=messages.append)
    )
    out2 = _run(again, clip)
    assert opt.calls == []  # every keyframe came from its checkpoint
    assert again.result.resumed == 3 and "resuming" in messages[0]
    for f1, f2 in zip(out1, out2, strict=True):
        np.testing.assert_array_equal(f1.image, f2.image)

    messages.clear()
    ov.WorkFolder(tmp_path / "w", "k2", log=messages.append)
    assert "another input or settings" in messages[0]
    assert not list((tmp_path / "w").glob("key_*.npy"))


def test_work_folder_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(UserError, match="not a stylize-video work folder"):
        ov.WorkFolder(tmp_path / "mine", "k", log=lambda m: None)
    assert (tmp_path / "mine" / "thesis.tex").exists()


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("clip") / "in.mp4",
        size=(64, 48),
        fps=10,
        seconds=1.0,
        audio_seconds=1.0,
    )


@pytest.fixture
def style_png(tmp_path: Path) -> Path:
    from PIL import Image

    p = tmp_path / "style.png"
    Image.fromarray(texture(48, 48, seed=5)).save(p)
    return p


def test_video_job_writes_all_frames_with_audio_and_removes_work(
    tmp_path: Path, clip_with_audio: Path, style_png: Path, capsys
) -> None:
    out = tmp_path / "out.mp4"
    opt = FakeOptimizer()
    rc = optimize_video(
        str(clip_with_audio),
        str(out),
        style=str(style_png),
        size=None,
        optimizer=opt,
        fast=lambda im: 255 - im,
        keyframes=ov.KeyframeSettings(every=4),
        as_json=True,
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 10 and summary["audio"] is True
    assert summary["keyframes"] == len(opt.calls) >= 3
    v, a = stream_times(out, "v"), stream_times(out, "a")
    assert v.count == 10
    assert a is not None and abs(a.duration - v.duration) < 0.05
    assert not Path(f"{out}.work").exists()


def test_video_job_progress_bar_counts_iterations_and_ends_full(
    tmp_path: Path, clip_with_audio: Path, style_png: Path, capsys
) -> None:
    # 10 frames, keyframes 0, 3, 6, 9: each budgets 5 iterations (3 run, 2 saved by early
    # stopping), each of the 6 frames between counts one. Frames 7 and 8 are written after
    # keyframe 9 is done, so the last words must still count them.
    optimize_video(
        str(clip_with_audio),
        str(tmp_path / "out.mp4"),
        style=str(style_png),
        size=None,
        settings=OptimizeSettings(iterations=5),
        optimizer=FakeOptimizer(OptimizeSettings(iterations=5)),
        keyframes=ov.KeyframeSettings(every=3, adaptive=False),
    )
    err = capsys.readouterr().err
    counts = re.findall(r"(\d+)/(\d+) \[", err)
    assert counts and {total for _, total in counts} == {"26"}
    assert counts[-1][0] == "26"
    assert re.findall(r"frame (\d+)/10", err)[-1] == "10"


def test_video_job_interrupt_keeps_a_playable_file_and_resumes(
    tmp_path: Path, clip_with_audio: Path, style_png: Path
) -> None:
    out = tmp_path / "out.mp4"

    class Interrupting(FakeOptimizer):
        def run(self, content, *a, **k):
            if len(self.calls) == 2:
                raise KeyboardInterrupt
            return super().run(content, *a, **k)

    kw = dict(
        style=str(style_png),
        size=None,
        fast=None,
        progress=False,
        as_json=True,
        keyframes=ov.KeyframeSettings(every=3, adaptive=False, fill="warp"),
    )
    with pytest.raises(KeyboardInterrupt):
        optimize_video(str(clip_with_audio), str(out), optimizer=Interrupting(), **kw)
    assert stream_times(out, "v").count == 4  # keyframe 0, frames 1-2, keyframe 3
    assert len(list(Path(f"{out}.work").glob("key_*.npy"))) == 2
    opt = FakeOptimizer()
    optimize_video(str(clip_with_audio), str(out), optimizer=opt, **kw)
    assert len(opt.calls) == 2  # keyframes 6 and 9 only
    assert stream_times(out, "v").count == 10
    # interrupted again: the finished output stays, this run's frames go beside it
    with pytest.raises(KeyboardInterrupt):
        optimize_video(str(clip_with_audio), str(out), optimizer=Interrupting(), **kw)
    assert stream_times(out, "v").count == 10
    assert stream_times(out.with_name("out.partial.mp4"), "v").count == 4


def test_preset_style_is_refused(tmp_path: Path, clip_with_audio: Path) -> None:
    with pytest.raises(UserError, match="needs one style image"):
        optimize_video(str(clip_with_audio), str(tmp_path / "o.mp4"), style="preset:3")


@pytest.mark.slow
def test_real_optimizer_on_tiny_clip_warm_keyframes_improve() -> None:
    pytest.importorskip("tensorflow")
    from models.optimize import StyleOptimizer, make_extractor

    s = OptimizeSettings(
        content_layers=("block2_conv2",),
        style_layers=("block1_conv1", "block2_conv1"),
        iterations=6,
        min_iterations=4,
        window=2,
        tol=1e-9,
    )
    opt = StyleOptimizer(make_extractor(s, weights=None), texture(48, 48, seed=2), s)
    clip = translating_clip(n=5, height=48, width=64, dx=2, dy=0)
    engine = ov.OfflineStylizer(opt, ov.KeyframeSettings(every=4, adaptive=False))
    out = _run(engine, clip)
    assert len(out) == 5
    reports = engine.result.keyframes
    assert [r.warm for r in reports] == [False, True]
    for r in reports:
        assert r.iterations >= 4 and r.fell, r
    # The warm keyframe starts from a stylized image: lower loss than the cold start did.
    assert reports[1].initial_loss < reports[0].initial_loss
    assert set(engine.result.histories) == {"key 0 (cold)", "key 4 (warm)"}


def test_settings_validation() -> None:
    with pytest.raises(UserError, match="--keyframe-every"):
        ov.KeyframeSettings(every=0).validate()
    with pytest.raises(UserError, match="--fill"):
        replace(ov.KeyframeSettings(), fill="magic").validate()
