"""The still test scene (realtime/sources/test_pattern.py, `--source testpattern:still`):
a camera that does not move, a van that drives in and parks, an exposure step and a
white-balance shift at fixed times, all a pure function of time."""

from __future__ import annotations

import json
from itertools import pairwise

import cv2
import numpy as np
import pytest

from models.errors import UserError
from realtime.sources.test_pattern import (
    EXPOSURE,
    EXPOSURE_AT,
    VAN_ENTERS_AT,
    VAN_PARKED_AT,
    WHITE_BALANCE,
    WHITE_BALANCE_AT,
    StillScene,
    TestPatternSource,
    render_still,
    still_scene,
    write_clip,
)

W, H, FPS = 160, 120, 30.0


def frame_at(t: float) -> int:
    return round(t * FPS)


def masks(i: int) -> dict[str, np.ndarray]:
    return still_scene(W, H).render(i / FPS, masks=True)[1]


def away_from(*ms: np.ndarray, grow: int = 7) -> np.ndarray:
    """Pixels not near any of the masks, nor in the frame number's corner."""
    near = cv2.dilate(np.logical_or.reduce(ms).astype(np.uint8), np.ones((grow, grow), np.uint8))
    keep = ~near.astype(bool)
    keep[-H // 5 :, : W // 2] = False  # the frame number, bottom left
    return keep


def test_frames_are_a_pure_function_of_time():
    fresh = StillScene(W, H)  # not the cached one: textures rebuilt from the same seeds
    for i in (0, frame_at(2.6), frame_at(EXPOSURE_AT) + 3):
        a = render_still(i, W, H, FPS)
        assert np.array_equal(a, render_still(i, W, H, FPS))
        assert np.array_equal(still_scene(W, H).render(i / FPS), fresh.render(i / FPS))
    src = TestPatternSource(W, H, FPS, frames=3, paced=False, scene="still")
    frames = list(src)
    assert [f.pts for f in frames] == pytest.approx([0, 1 / FPS, 2 / FPS])
    assert all(np.array_equal(f.image, render_still(f.index, W, H, FPS)) for f in frames)


def test_the_camera_is_still_and_only_the_hand_moves():
    i, j = frame_at(0.3), frame_at(VAN_ENTERS_AT) - 2
    a, b = render_still(i, W, H, FPS), render_still(j, W, H, FPS)
    ma, mb = masks(i), masks(j)
    assert not ma["van"].any() and not mb["van"].any()
    keep = away_from(ma["hand"], mb["hand"])
    assert keep.mean() > 0.6
    assert np.array_equal(a[keep], b[keep])  # not one background pixel changed
    # ... and the scene is not frozen: the hand moved, and the picture with it
    assert not np.array_equal(ma["hand"], mb["hand"])
    assert np.abs(a.astype(int) - b)[~keep].mean() > 5


def test_the_van_drives_in_then_stays_parked_covering_a_quarter_of_the_frame():
    scene = still_scene(W, H)
    start = frame_at(VAN_ENTERS_AT)
    assert [masks(i)["van"].any() for i in range(start - 3, start + 2)] == [0, 0, 0, 0, 1]
    # it grows frame by frame while its tail is still outside the frame (about a second)
    entering = [i for i in range(start, frame_at(VAN_PARKED_AT)) if scene.van_x(i / FPS) < 0]
    assert len(entering) > FPS * 0.8
    areas = [masks(i)["van"].mean() for i in entering]
    assert all(b > a for a, b in pairwise(areas))
    parked = [masks(i)["van"] for i in range(frame_at(VAN_PARKED_AT), frame_at(5.0), 7)]
    assert all(np.array_equal(parked[0], m) for m in parked)  # does not move once parked
    assert 0.2 <= parked[0].mean() <= 0.4
    # a clearly different colour: a teal van in a warm room
    img = still_scene(W, H).render(VAN_PARKED_AT + 0.5)
    van, room = img[parked[0]].mean(0), img[~parked[0]].mean(0)
    assert van[2] > van[0] + 40 and room[0] > room[2] + 15
    # textured (flow can follow it), not a flat patch
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    inside = cv2.erode(parked[0].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.abs(cv2.Laplacian(gray, cv2.CV_32F))[inside].mean() > 2.0


def test_the_exposure_steps_from_one_frame_to_the_next_then_the_white_balance():
    scene = still_scene(W, H)
    k = frame_at(EXPOSURE_AT)
    before2, before, after = (scene.render(i / FPS).astype(np.float64) for i in (k - 2, k - 1, k))
    assert before.mean() / before2.mean() == pytest.approx(1, abs=0.01)
    assert after.mean() / before.mean() == pytest.approx(EXPOSURE, abs=0.01)
    hands = masks(k - 1)["hand"] | masks(k)["hand"]
    keep = away_from(hands, grow=3)
    assert np.abs(np.round(before[keep] * EXPOSURE) - after[keep]).max() <= 1
    later = scene.render((k + 30) / FPS).astype(np.float64)
    assert later.mean() / before.mean() == pytest.approx(EXPOSURE, abs=0.01)  # stays dark
    k = frame_at(WHITE_BALANCE_AT)
    before, after = scene.render((k - 1) / FPS), scene.render(k / FPS)
    ratio = after.reshape(-1, 3).mean(0) / before.reshape(-1, 3).mean(0)
    assert ratio == pytest.approx(WHITE_BALANCE, abs=0.02)


def test_testpattern_still_is_a_live_source():
    from realtime.sources import open_live_source

    src = open_live_source("testpattern:still", width=W, height=H)
    assert isinstance(src, TestPatternSource) and src.scene == "still"
    assert src.name == "testpattern:still"
    assert open_live_source("testpattern").scene == "moving"
    with pytest.raises(UserError, match="testpattern:still"):
        open_live_source("testpattern:sunset")


def test_webcam_runs_on_the_still_scene_headless(tmp_path, monkeypatch, capsys):
    from live_fakes import TintStylizer

    import realtime.jobs.webcam as webcam
    import stylize_video

    real = webcam.run_webcam
    monkeypatch.setattr(
        webcam, "run_webcam", lambda *a, **k: real(*a, **k, processor=TintStylizer())
    )
    args = ["webcam", "--source", "testpattern:still", "--headless", "--frames", "4"]
    args += ["--width", str(W), "--height", str(H), "--json"]
    assert stylize_video.main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames_out"] == 4


def test_the_scene_written_as_a_clip(tmp_path):
    from realtime.ffmpeg import probe
    from realtime.sources import open_file_source

    out = write_clip(tmp_path / "still.mp4", seconds=0.5, width=W, height=H, fps=FPS)
    info = probe(out)
    assert (info.width, info.height, info.codec) == (W, H, "h264")
    with open_file_source(str(out)) as src:
        frames = list(src)
    assert [f.index for f in frames] == list(range(15))
    assert [f.pts for f in frames] == pytest.approx([i / FPS for i in range(15)], abs=1e-3)

    def err(i: int) -> float:
        return np.abs(frames[7].image.astype(int) - render_still(i, W, H, FPS)).mean()

    assert err(7) < 4  # close to the rendered frame (yuv420p's halved colour is most of it)
    assert err(7) < err(2)  # and that frame: the hand moved since frame 2
    assert [p.name for p in tmp_path.iterdir()] == ["still.mp4"]
