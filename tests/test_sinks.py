"""Sinks: the ffmpeg writer (timing, audio, odd sizes, temp files, errors), the image
folder sink, and the window sink's display check (and a real window under Xvfb)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from video_clips import child_ffmpegs, make_clip, psnr, read_frames, stream_times

from models.errors import UserError
from realtime.frame import Frame
from realtime.sinks.ffmpeg_writer import AudioTrack, FfmpegVideoWriter
from realtime.sinks.image_folder import ImageFolderSink
from realtime.sources.video_file import VideoFileSource

ROOT = Path(__file__).resolve().parents[1]


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def copy_through(src_path: Path, out: Path, **writer_kw) -> FfmpegVideoWriter:
    """Decode with the source, write unchanged with the writer (audio from the source)."""
    with VideoFileSource(str(src_path)) as src:
        audio = AudioTrack(str(src_path), src.audio_origin, src.info.audio_codec)
        fps = None if src.info.is_vfr else src.fps
        with FfmpegVideoWriter(
            out, fps=fps, audio=audio if src.has_audio else None, **writer_kw
        ) as w:
            for f in src:
                w.time_base = w.time_base or src.time_base
                w.write(f)
    return w


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("sink_clips")
    return {
        "long_audio": make_clip(d / "la.mp4", fps=25, seconds=1.0, audio_seconds=1.6),
        "short_audio": make_clip(d / "sa.mp4", fps=25, seconds=1.2, audio_seconds=0.5),
        "vfr": make_clip(d / "vfr.mp4", fps=30, seconds=1.0, vfr_gap=0.25),
        "odd": make_clip(d / "odd.mp4", size=(65, 49), fps=10, seconds=0.5),
    }


def test_cfr_copy_keeps_count_duration_rate_and_cuts_long_audio(clips, tmp_path):
    out = tmp_path / "out.mp4"
    copy_through(clips["long_audio"], out)
    v_in, v_out = stream_times(clips["long_audio"]), stream_times(out)
    assert v_out.count == v_in.count == 25
    assert np.allclose(v_out.pts, v_in.pts, atol=1e-6)  # exactly the source's timing
    assert abs(v_out.duration - v_in.duration) < 1 / 25
    a_out = stream_times(out, "a")
    assert a_out is not None
    assert abs(a_out.duration - v_out.duration) < 0.05  # 1.6 s of audio cut to the video
    frames = read_frames(out)
    # one more RGB -> yuv420p -> RGB trip on a saturated test chart
    assert psnr(frames, read_frames(clips["long_audio"])) > 30


def test_audio_shorter_than_video_does_not_cut_the_video(clips, tmp_path):
    out = tmp_path / "out.mkv"
    copy_through(clips["short_audio"], out)
    assert stream_times(out).count == 30
    assert abs(stream_times(out, "a").duration - 0.5) < 0.05


def test_variable_frame_rate_timing_survives(clips, tmp_path):
    out = tmp_path / "vfr_out.mp4"
    copy_through(clips["vfr"], out)
    t_in, t_out = stream_times(clips["vfr"]), stream_times(out)
    assert t_out.count == t_in.count
    assert np.allclose(t_out.pts, t_in.pts, atol=1e-3)


def test_odd_size_is_padded_not_shifted_or_cropped(clips, tmp_path):
    out = tmp_path / "odd_out.mp4"
    w = copy_through(clips["odd"], out)
    assert w.padded
    src = luma(read_frames(clips["odd"]))
    got = read_frames(out)
    assert got.shape[1:] == (50, 66, 3)
    y = luma(got)
    aligned = psnr(y[:, :49, :65], src)
    assert aligned > 35  # the same picture at the same place (luma: 4:2:0 blurs chroma)
    assert psnr(y[:, 1:50, 1:66], src) < aligned - 10  # a one-pixel shift would show
    # the added column/row repeats the edge
    assert np.abs(y[:, :49, 65] - src[:, :, 64]).mean() < 4
    assert np.abs(y[:, 49, :65] - src[:, 48, :]).mean() < 4


def test_writes_to_a_temp_file_and_renames(tmp_path):
    out = tmp_path / "x.mp4"
    img = np.zeros((32, 48, 3), np.uint8)
    with FfmpegVideoWriter(out, fps=10) as w:
        for i in range(5):
            w.write(Frame(img + i * 10, i / 10, i))
            assert not out.exists()  # nothing at the final name until complete
        parts = [p.name for p in tmp_path.iterdir()]
        assert any(p.endswith(".part.nut") for p in parts)
    assert out.exists() and stream_times(out).count == 5
    assert [p.name for p in tmp_path.iterdir()] == ["x.mp4"]
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode
    assert child_ffmpegs() == []


def test_a_crash_leaves_no_file_and_no_process(tmp_path):
    out = tmp_path / "y.mp4"
    with pytest.raises(RuntimeError, match="boom"), FfmpegVideoWriter(out) as w:
        w.write(Frame(np.zeros((16, 16, 3), np.uint8), 0.0, 0))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    assert child_ffmpegs() == []


def test_frame_size_change_is_refused(tmp_path):
    w = FfmpegVideoWriter(tmp_path / "z.mp4")
    w.write(Frame(np.zeros((16, 16, 3), np.uint8), 0.0, 0))
    with pytest.raises(ValueError, match="every frame must have one size"):
        w.write(Frame(np.zeros((16, 18, 3), np.uint8), 0.1, 1))
    w.abort()
    assert child_ffmpegs() == []


def test_ffmpeg_failure_reports_command_and_stderr(tmp_path):
    w = FfmpegVideoWriter(tmp_path / "q.mp4", preset="no-such-preset")
    with pytest.raises(Exception) as e:
        for i in range(50):
            w.write(Frame(np.zeros((16, 16, 3), np.uint8), i / 10, i))
        w.close()
    msg = str(e.value)
    assert "libx264" in msg and "no-such-preset" in msg
    w.abort()


def test_timebase_is_the_sources(tmp_path):
    out = tmp_path / "tb.mp4"
    w = FfmpegVideoWriter(out, fps=24, time_base=Fraction(1, 12288))
    for i in range(24):
        w.write(Frame(np.zeros((16, 16, 3), np.uint8), i / 24, i))
    w.close()
    t = stream_times(out)
    assert np.allclose(np.diff(t.pts), 1 / 24, atol=1e-9)


@pytest.mark.parametrize("name", ["a.avi", "a.webm", "blocker/a.mp4"])
def test_bad_output_names(tmp_path, name):
    (tmp_path / "blocker").write_text("a file where the folder should be")
    with pytest.raises(UserError) as e:
        FfmpegVideoWriter(tmp_path / name)
    assert "\n" not in str(e.value)


def test_image_folder_sink_round_trips_png(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (8, 10, 3), dtype=np.uint8) for _ in range(3)]
    with ImageFolderSink(tmp_path / "frames") as sink:
        for i, im in enumerate(imgs):
            sink.write(Frame(im, i / 25, i))
    files = sorted((tmp_path / "frames").iterdir())
    assert [f.name for f in files] == [f"frame_{i:06d}.png" for i in range(3)]
    back = cv2.imread(str(files[1]))[..., ::-1]
    assert np.array_equal(back, imgs[1])
    with ImageFolderSink(tmp_path / "p" / "%03d.jpg") as sink:
        sink.write(Frame(imgs[0], 0, 0))
    assert (tmp_path / "p" / "000.jpg").exists()


def test_display_check(monkeypatch):
    from realtime.sinks import window

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "DISPLAY is not set" in window.display_problem()
    with pytest.raises(UserError, match="--headless"):
        window.require_display()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert "XWayland" in window.display_problem()
    monkeypatch.setenv("DISPLAY", ":987")
    assert "no X server" in window.display_problem()


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed")
def test_window_opens_shows_and_closes_under_xvfb(tmp_path):
    script = textwrap.dedent(
        """
        import threading, numpy as np
        from realtime.frame import Frame
        from realtime.sinks.window import WindowSink
        w = WindowSink("t")
        w.hud = ["hud line"]
        for i in range(5):
            w.write(Frame(np.full((48, 64, 3), i * 40, np.uint8), i / 10, i))
            w.poll_key(1)
        assert w.is_open() and w.frames == 5
        w.toggle_fullscreen()
        w.poll_key(1)
        w.close()
        assert not w.is_open()
        print("ok", threading.active_count())
        """
    )
    r = subprocess.run(
        ["xvfb-run", "-a", sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "xcb"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ok" in r.stdout


def test_uneven_live_timestamps_keep_every_frame_playable(tmp_path):
    # wall-clock pts as a camera gives them; the last frame must not be hidden by the
    # mp4 edit list (it was, with B-frames and no frame durations)
    rng = np.random.default_rng(0)
    pts = np.cumsum(rng.uniform(0.001, 0.06, 12)) + 3.0
    out = tmp_path / "live.mp4"
    with FfmpegVideoWriter(out) as w:
        for i, p in enumerate(pts):
            w.write(Frame(np.full((24, 32, 3), i * 20, np.uint8), float(p), i))
    frames = read_frames(out)
    assert [round(int(f[0, 0, 0]) / 20) for f in frames] == list(range(12))
    assert np.allclose(stream_times(out).pts, pts - pts[0], atol=1e-4)


def test_ctrl_c_while_finishing_is_held_until_the_file_is_complete(tmp_path, monkeypatch):
    import signal

    import realtime.sinks.ffmpeg_writer as fw

    real_popen = fw.popen

    def popen_then_ctrl_c(cmd, **kw):
        p = real_popen(cmd, **kw)
        if "nut" not in cmd:  # the final mux, not the encoder
            os.kill(os.getpid(), signal.SIGINT)
        return p

    out = tmp_path / "held.mp4"
    w = FfmpegVideoWriter(out, fps=10)
    for i in range(10):
        w.write(Frame(np.full((16, 16, 3), i * 20, np.uint8), i / 10, i))
    monkeypatch.setattr(fw, "popen", popen_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt, match="held"):
        w.close()
    assert w.written and stream_times(out).count == 10
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert child_ffmpegs() == []
