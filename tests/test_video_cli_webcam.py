"""`stylize-video webcam`: the keys, headless runs with a fake camera, the no-display
message, and a real window under Xvfb driven by scripted key presses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import FakeStylizer
from video_clips import (
    child_ffmpegs,
    processes_mentioning,
    read_frames,
    slow_fake_cli,
    stream_times,
)

from models.errors import UserError
from realtime.frame import Frame
from realtime.jobs.settings import Limits, LiveOptions, LiveSourceOptions
from realtime.jobs.webcam import run_webcam
from realtime.live_keys import LiveController

ROOT = Path(__file__).resolve().parents[1]


def test_keys_change_style_strength_colour_and_view(tmp_path):
    s = FakeStylizer()
    c = LiveController(s, snapshot_dir=tmp_path)
    for k in "nn":
        c.handle_key(ord(k))
    assert s.style_index == 2 and c.pending_switch[1] == 2
    c.handle_key(ord("n"))
    assert s.style_index == 0  # wraps around
    c.handle_key(ord("p"))
    assert s.style_index == 2
    for _ in range(3):
        c.handle_key(ord("-"))
    assert s.strength == pytest.approx(0.7)
    for _ in range(5):
        c.handle_key(ord("+"))
    assert s.strength == 1.0  # clamped
    c.handle_key(ord("c"))
    assert s.preserve_color
    c.handle_key(ord(" "))
    c.handle_key(ord("m"))
    c.handle_key(ord("h"))
    assert c.side_by_side and c.mirror and c.show_help
    frame = Frame(np.zeros((8, 10, 3), np.uint8), 0.0, 0)
    view = c.on_frame(frame, s(frame.image), style_used=2)
    assert view.shape == (8, 20, 3)  # original | stylized
    assert c.switch_latencies_ms and c.pending_switch is None
    assert "style 3/3: udnie" in c.hud_lines(_stats())
    c.handle_key(ord("s"))
    assert len(c.snapshots) == 1 and Path(c.snapshots[0]).exists()
    c.handle_key(27)
    assert c.quit


def test_keys_on_a_fixed_processor_say_so(tmp_path):
    c = LiveController(lambda img: img, snapshot_dir=tmp_path)
    c.handle_key(ord("n"))
    assert "fixed" in c.message and not c.controllable


def test_record_key_writes_a_playable_file(tmp_path):
    c = LiveController(FakeStylizer(), snapshot_dir=tmp_path)
    c.handle_key(ord("r"))
    for i in range(6):
        img = np.full((16, 24, 3), i * 30, np.uint8)
        c.on_frame(Frame(img, 0.1 * i, i), img, None)
    c.handle_key(ord("r"))
    assert len(c.recordings) == 1
    assert stream_times(Path(c.recordings[0])).count == 6
    assert child_ffmpegs() == []


def _stats():
    from realtime.pipeline import PipelineStats

    return PipelineStats(stage_ms={"process": 10.0})


def test_headless_fake_camera_records_and_reports(fake_cv2_capture, tmp_path, capsys):
    before = set(threading.enumerate())
    out = tmp_path / "rec.mp4"
    run_webcam(
        LiveOptions(LiveSourceOptions("0"), limits=Limits(max_frames=12)),
        headless=True,
        record=str(out),
        as_json=True,
        processor=FakeStylizer(),
        mirror=True,
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames_out"] >= 1 and summary["recordings"] == [str(out)]
    assert summary["latency_ms"] > 0 and "process" in summary["stage_ms"]
    assert 0 < summary["first_frame_s"] < 30  # start-up is reported
    frames = read_frames(out)
    assert len(frames) == summary["frames_out"]
    assert frames.shape[1:] == (24, 32, 3)
    assert child_ffmpegs() == [] and set(threading.enumerate()) <= before
    assert fake_cv2_capture.instances[0].released


def test_no_display_without_headless_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(UserError, match="--headless"):
        run_webcam(LiveOptions(LiveSourceOptions("testpattern")), processor=FakeStylizer())


def test_cli_no_display_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run(
        [sys.executable, str(ROOT / "stylize_video.py"), "webcam", "--source", "testpattern"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 2 and "--headless" in r.stderr and "Traceback" not in r.stderr


WINDOW_RUN = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, "tests")
    from helpers import FakeStylizer
    from realtime.sinks.window import WindowSink
    from realtime.jobs.webcam import run_webcam

    keys = iter([ord(c) for c in "n s r"] + [None] * 8 + [ord(c) for c in "rhq"])
    real_poll = WindowSink.poll_key

    def scripted(self, wait_ms=1):
        real_poll(self, wait_ms)  # pump the real GUI
        return next(keys, ord("q"))

    WindowSink.poll_key = scripted
    from realtime.jobs.settings import Limits, LiveOptions, LiveSourceOptions
    live = LiveOptions(LiveSourceOptions("testpattern", width=96, height=64),
                       limits=Limits(max_seconds=30))
    run_webcam(live, processor=FakeStylizer(), snapshot_dir=sys.argv[1], as_json=True)
    """
)


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed")
def test_window_with_hud_and_keys_under_xvfb(tmp_path):
    r = subprocess.run(
        ["xvfb-run", "-a", sys.executable, "-c", WINDOW_RUN, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["stopped_by_user"] and summary["style_switch_ms"] is not None
    (snap,) = summary["snapshots"]
    (rec,) = summary["recordings"]
    # keys were: n, space, s, space, r ... r, h, q
    shot = read_frames(Path(snap))
    assert shot.shape[1:] == (64, 192, 3)  # side by side: original | stylized
    assert abs(int(shot[0, 32, 96 + 48, 0]) - 100) <= 2  # after 'n': style 1 (red 100)
    assert np.abs(shot[0, :, :96, 0].astype(int) - 100).mean() > 20  # left is the original
    recorded = read_frames(Path(rec))
    assert len(recorded) >= 3 and recorded.shape[1:] == (64, 96, 3)
    assert "Traceback" not in r.stderr


LIVE_CLI = slow_fake_cli("realtime.jobs.assembly", 0.01)  # run_live builds it


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_live_cli_stops_on_signal_and_keeps_the_recording(tmp_path, sig):
    out = tmp_path / "live.mp4"
    p = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LIVE_CLI,
            "webcam",
            "--source",
            "testpattern",
            "--width",
            "64",
            "--height",
            "48",
            "--headless",
            "-o",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    done = 0
    for line in p.stdout:
        done += line.startswith("frame")
        if done == 15:
            os.killpg(p.pid, sig)
            break
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "recorded" in err and "Traceback" not in err
    assert stream_times(out).count >= 10  # live mode may drop a stale processed frame
    assert processes_mentioning(str(tmp_path)) == []


def test_worst_ten_second_rate_includes_a_slow_start():
    from realtime.live_keys import ShownRate

    rate = ShownRate()
    rate.counts = [5, 5, 5] + [30] * 20 + [7]  # slow start-up; the last second is partial
    assert rate.worst(10) == (3 * 5 + 7 * 30) / 10
    rate.counts = [30] * 10  # 9 whole seconds
    assert rate.worst(10) is None
