"""Sources: video file (timing, rotation, 10-bit, seeking, bad input), image folders,
the test pattern, and the webcam and network stream through a fake cv2.VideoCapture."""

from __future__ import annotations

import logging
import threading
import time
from itertools import pairwise

import numpy as np
import pytest
from video_clips import child_ffmpegs, make_clip, read_frames, run_ffmpeg, stream_times

from models.errors import UserError
from realtime.sources.image_folder import ImageFolderSource
from realtime.sources.test_pattern import TestPatternSource
from realtime.sources.video_file import VideoFileSource


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("src_clips")
    return {
        "cfr": make_clip(d / "cfr.mp4", fps=25, seconds=1.2, audio_seconds=1.5),
        "vfr": make_clip(d / "vfr.mp4", fps=30, seconds=1.0, vfr_gap=0.25),
        "rot": make_clip(d / "rot.mp4", size=(96, 64), seconds=0.4, rotation=90),
        "ten": make_clip(d / "ten.mp4", seconds=0.4, pix_fmt="yuv420p10le"),
        "dir": d,
    }


def test_video_file_frames_and_timestamps_match_the_file(clips):
    truth = stream_times(clips["cfr"])
    with VideoFileSource(str(clips["cfr"])) as src:
        frames = list(src)
        assert src.fps == 25 and src.has_audio and src.rotation == 0
        assert src.time_base is not None and src.time_base.denominator > 25
        assert src.frame_count == len(frames) == truth.count == 30
    assert [f.index for f in frames] == list(range(30))
    assert np.allclose([f.pts for f in frames], truth.pts, atol=1e-6)
    # pixels are exactly what ffmpeg itself decodes
    assert np.array_equal(np.stack([f.image for f in frames]), read_frames(clips["cfr"]))


def test_variable_frame_rate_keeps_its_timing(clips):
    truth = stream_times(clips["vfr"])
    with VideoFileSource(str(clips["vfr"])) as src:
        pts = [f.pts for f in src]
        assert src.info.is_vfr
    assert len(pts) == truth.count == 30
    assert np.allclose(pts, truth.pts, atol=1e-6)
    gaps = np.diff(pts)
    assert gaps.max() > 0.25 and gaps.max() == pytest.approx(np.diff(truth.pts).max())


def test_rotated_phone_video_comes_out_upright(clips):
    plain = read_frames(clips["dir"] / "plain_rot.mp4")
    with VideoFileSource(str(clips["rot"])) as src:
        assert src.rotation == 90
        assert (src.width, src.height) == (64, 96)
        frames = np.stack([f.image for f in src])
    assert frames.shape[1:] == (96, 64, 3)
    # display matrix 90 = counter-clockwise: the stored picture turned a quarter left
    expected = np.rot90(plain, k=1, axes=(1, 2))
    assert np.abs(frames.astype(int) - expected).mean() < 2


def test_ten_bit_input_becomes_8_bit_with_a_warning(clips, caplog):
    with caplog.at_level(logging.WARNING), VideoFileSource(str(clips["ten"])) as src:
        frames = [f.image for f in src]
    assert "10-bit" in caplog.text
    assert frames[0].dtype == np.uint8 and len(frames) == 12
    assert frames[0].std() > 20  # a real picture, not a black frame


def test_start_end_and_size(clips):
    with VideoFileSource(str(clips["cfr"]), start=0.4, end=0.8, size=48) as src:
        frames = list(src)
        assert src.audio_origin == pytest.approx(0.4)
    assert len(frames) == 10  # 0.4 s at 25 fps
    assert frames[0].image.shape == (32, 48, 3)
    assert frames[0].pts == pytest.approx(0.0, abs=1e-3)
    import cv2

    full = read_frames(clips["cfr"])
    diffs = [
        np.abs(
            frames[0].image.astype(int) - cv2.resize(f, (48, 32), interpolation=cv2.INTER_AREA)
        ).mean()
        for f in full
    ]
    assert int(np.argmin(diffs)) == 10  # the file's frame at t = 0.4 s comes first


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("missing.mp4", None, "no such file"),
        ("notes.txt", b"hello, not a video", "not a readable video"),
        ("empty.mp4", b"", "not a readable video"),
        ("zero_frames.mkv", "header-only", "not a readable video"),
    ],
)
def test_bad_inputs_raise_one_line_user_errors(tmp_path, name, content, needle):
    path = tmp_path / name
    if content == "header-only":  # a Matroska video track and not one frame
        from realtime.sinks._mkv import stream_header

        content = stream_header(64, 48)
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError) as e:
        VideoFileSource(str(path))
    msg = str(e.value)
    assert needle in msg and name in msg and "\n" not in msg


def test_audio_only_and_truncated_files(tmp_path, clips):
    audio = tmp_path / "tone.m4a"
    run_ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac", str(audio))
    with pytest.raises(UserError, match="no video stream"):
        VideoFileSource(str(audio))
    # an mp4 cut before its index (moov at the end) cannot be opened
    big = make_clip(tmp_path / "big.mp4", size=(160, 120), seconds=1.0)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    with pytest.raises(UserError, match=r"cut\.mp4"):
        VideoFileSource(str(cut))


def test_stream_cut_mid_frame_ends_cleanly(tmp_path, caplog):
    ts = tmp_path / "clip.ts"
    run_ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x64:rate=30:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(ts),
    )
    cut = tmp_path / "cut.ts"
    cut.write_bytes(ts.read_bytes()[: int(ts.stat().st_size * 0.6)])
    with VideoFileSource(str(cut)) as src:
        frames = list(src)
    assert 10 < len(frames) < 60
    assert all(f.image.shape == (64, 96, 3) for f in frames)


def test_closing_mid_file_leaves_no_thread_or_ffmpeg(clips):
    before = set(threading.enumerate())
    src = VideoFileSource(str(clips["cfr"]), queue_size=2)
    it = iter(src)
    next(it)
    assert child_ffmpegs()  # the decoder runs
    src.close()
    assert child_ffmpegs() == []
    assert set(threading.enumerate()) <= before


def test_image_folder_and_pattern(tmp_path):
    import cv2

    for i in (1, 2, 10):  # natural order: 1, 2, 10
        img = np.full((8, 12, 3), i * 20, np.uint8)
        img[..., 0] = 255  # BGR blue
        cv2.imwrite(str(tmp_path / f"f{i}.png"), img)
    (tmp_path / "readme.txt").write_text("not an image")
    src = ImageFolderSource(str(tmp_path), fps=10)
    frames = list(src)
    assert [int(f.image[0, 0, 1]) for f in frames] == [20, 40, 200]
    assert frames[0].image[0, 0, 2] == 255  # blue ends up in the RGB blue channel
    assert [f.pts for f in frames] == pytest.approx([0, 0.1, 0.2])
    pat = ImageFolderSource(str(tmp_path / "f%d.png"))
    assert len(list(pat)) == 3
    with pytest.raises(UserError, match="no images"):
        ImageFolderSource(str(tmp_path / "g%04d.png"))


def test_test_pattern_moves_and_is_deterministic():
    a = [f.image for f in TestPatternSource(64, 48, 30, frames=5, paced=False)]
    b = [f.image for f in TestPatternSource(64, 48, 30, frames=5, paced=False)]
    assert len(a) == 5 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.abs(a[0].astype(int) - a[4]).mean() > 3


def test_paced_test_pattern_is_live_and_keeps_only_the_newest():
    src = TestPatternSource(64, 48, fps=100, frames=40)
    got = []
    with src:
        for f in src:
            got.append(f)
            time.sleep(0.05)  # a consumer 5x slower than the source
    assert src.live and src.pts_clock is not None
    assert len(got) < 20 and src.dropped > 10
    idx = [f.index for f in got]
    assert idx == sorted(idx)


def test_webcam_delivers_rgb_newest_frames(fake_cv2_capture):
    from realtime.sources.webcam import WebcamSource

    with WebcamSource(0, width=32, height=24) as cam:
        got = []
        for f in cam:
            got.append(f)
            time.sleep(0.03)
            if len(got) == 5:
                break
    assert got[0].image[0, 0, 0] == 7  # red first: BGR was converted
    blues = [int(f.image[0, 0, 2]) for f in got]
    assert all(b2 - b1 > 1 for b1, b2 in pairwise(blues))  # stale skipped
    assert fake_cv2_capture.instances[0].released


def test_webcam_that_cannot_open_names_device_and_attempts(fake_cv2_capture):
    from realtime.sources.webcam import WebcamSource

    fake_cv2_capture.opened = False
    with pytest.raises(UserError) as e:
        WebcamSource(3)
    msg = str(e.value)
    assert "camera 3" in msg and "could not open" in msg and "--camera" in msg


def test_stream_reconnects_then_gives_up(fake_cv2_capture, caplog):
    from realtime.sources.stream import NetworkStreamSource

    fake_cv2_capture.fail_after = 3
    fake_cv2_capture.max_open = 3
    src = NetworkStreamSource("rtsp://user:secret@cam.local/live", max_retries=2, first_delay=0.01)
    assert "secret" not in src.name
    with caplog.at_level(logging.WARNING), src:
        frames = []
        for f in src:
            frames.append(f)
            time.sleep(0.02)
    # three connections give 3 frames each, then two reconnect attempts fail
    assert src.reconnects == 2
    assert len(fake_cv2_capture.instances) == 5
    assert 3 <= len(frames) <= 9
    assert "gave up after 2 attempts" in caplog.text
    assert all(c.released for c in fake_cv2_capture.instances)


@pytest.mark.slow
def test_live_source_dispatch_and_paced_file_playback(clips, fake_cv2_capture):
    from realtime.sources import open_live_source
    from realtime.sources.playback import PlaybackSource
    from realtime.sources.webcam import WebcamSource

    assert isinstance(open_live_source("testpattern"), TestPatternSource)
    cam = open_live_source("2")
    assert isinstance(cam, WebcamSource) and fake_cv2_capture.instances[0].device == 2
    cam.close()
    with pytest.raises(UserError, match="testpattern"):
        open_live_source("no-such-thing")
    # a file played like a camera: in real time, newest frame only
    src = open_live_source(str(clips["cfr"]))
    assert isinstance(src, PlaybackSource) and src.live
    t0 = time.monotonic()
    with src:
        frames = list(src)
    assert time.monotonic() - t0 > 1.0  # 1.2 s of video is not played faster
    assert 10 < len(frames) <= 30
    assert child_ffmpegs() == []


def _bg_and_hand(i: int, w: int, h: int):
    """Two consecutive pattern frames, the true background flow between them (from the
    camera's affine) and the masks of the moving things."""
    from realtime.sources.test_pattern import pattern_scene, render_pattern

    scene = pattern_scene(w, h)
    a, b = render_pattern(i, w, h, 30), render_pattern(i + 1, w, h, 30)
    _, ma = scene.render(i / 30, masks=True)
    _, mb = scene.render((i + 1) / 30, masks=True)
    cam = [np.vstack([scene.camera(k / 30), [0, 0, 1]]) for k in (i, i + 1)]
    t = cam[1] @ np.linalg.inv(cam[0])  # frame i pixel -> frame i+1 pixel
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    true = np.dstack(
        [t[0, 0] * xx + t[0, 1] * yy + t[0, 2] - xx, t[1, 0] * xx + t[1, 1] * yy + t[1, 2] - yy]
    )
    return a, b, true, ma, mb


@pytest.mark.parametrize("i", [40, 200])
def test_dis_flow_follows_the_test_pattern(i):
    """The pattern is textured everywhere: DIS flow on two consecutive frames recovers the
    camera's pan and zoom on the background, and follows the hand, which moves on its own."""
    import cv2

    from realtime.flow import FlowEstimator, to_gray

    w, h = 320, 240
    a, b, true, ma, mb = _bg_and_hand(i, w, h)
    flow = FlowEstimator("medium").calc(to_gray(a), to_gray(b))
    moving = ma["hand"] | ma["objects"] | mb["hand"] | mb["objects"]
    bg = ~cv2.dilate(moving.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    bg[:8], bg[-8:], bg[:, :8], bg[:, -8:] = False, False, False, False  # new content
    bg[-30:, :100] = False  # the frame counter stays put
    assert bg.mean() > 0.4
    err = np.hypot(*(flow - true)[bg].T)
    pan = np.hypot(*true[bg].T)
    assert np.median(pan) > 0.4  # the camera does move between these frames
    assert np.median(err) < 0.12 and np.percentile(err, 90) < 0.3
    # the hand moves between the frames, and the flow inside it says by how much
    ca, cb = np.argwhere(ma["hand"]).mean(0)[::-1], np.argwhere(mb["hand"]).mean(0)[::-1]
    assert np.hypot(*(cb - ca)) > 1.0
    inside = cv2.erode(ma["hand"].astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    hand_flow = np.median(flow[inside], axis=0)
    assert np.hypot(*(hand_flow - (cb - ca))) < 0.6
    assert np.hypot(*(hand_flow - np.median(flow[bg], axis=0))) > 1.0


def test_test_pattern_at_any_size_and_texture_everywhere():
    """Tiny sizes (tests use 16x16) work, and no part of a 640x480 frame is flat: flow has
    texture to track in every 32x32 block."""
    import cv2

    from realtime.sources.test_pattern import render_pattern

    for w, h in ((16, 16), (32, 24), (99, 71)):
        assert render_pattern(3, w, h, 30).shape == (h, w, 3)
    img = cv2.cvtColor(render_pattern(0, 640, 480, 30), cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = np.abs(cv2.Laplacian(cv2.GaussianBlur(img, (3, 3), 0), cv2.CV_32F))
    blocks = lap.reshape(15, 32, 20, 32).mean(axis=(1, 3))
    assert blocks.min() > 1.0
