"""`stylize-video video`: whole conversions with a fake stylizer (frame count, duration,
audio), the CLI's errors, and interrupts (SIGINT/SIGTERM to a running CLI) that must
leave a playable file with matching audio and no ffmpeg behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from video_clips import (
    child_ffmpegs,
    make_clip,
    processes_mentioning,
    read_frames,
    slow_fake_cli,
    stream_times,
)

from models.errors import UserError
from realtime.jobs.settings import ClipOptions
from realtime.jobs.video import convert_video

ROOT = Path(__file__).resolve().parents[1]


def invert(img: np.ndarray) -> np.ndarray:
    return 255 - img


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    # 2 s of video at 30 fps with 2.5 s of audio: the audio must be cut to the video
    return make_clip(
        tmp_path_factory.mktemp("cli") / "in.mp4", fps=30, seconds=2.0, audio_seconds=2.5
    )


def test_conversion_matches_source_frames_duration_and_audio(clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    before = set(threading.enumerate())
    assert convert_video(str(clip), str(out), processor=invert, as_json=True) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 60 and summary["audio"] and not summary["interrupted"]
    v_in, v_out, a_out = stream_times(clip), stream_times(out), stream_times(out, "a")
    assert v_out.count == v_in.count
    assert abs(v_out.duration - v_in.duration) <= 1 / 30
    assert abs(a_out.duration - v_out.duration) < 0.05
    # the processor's output is what was written (inverted picture)
    got, src = read_frames(out)[::15], read_frames(clip)[::15]
    assert np.abs(got.astype(int) - (255 - src)).mean() < 6
    assert child_ffmpegs() == [] and set(threading.enumerate()) <= before


def test_frames_folder_in_and_out(clip, tmp_path):
    frames = tmp_path / "frames"
    convert_video(
        str(clip),
        str(frames / "%04d.png"),
        processor=invert,
        progress=False,
        clip=ClipOptions(end=0.5),
    )
    assert len(list(frames.iterdir())) == 15
    out = tmp_path / "back.mkv"
    convert_video(
        str(frames / "%04d.png"),
        str(out),
        processor=invert,
        clip=ClipOptions(fps=15),
        progress=False,
    )
    t = stream_times(out)
    assert t.count == 15 and abs(t.duration - 1.0) < 1 / 15 + 1e-3
    assert stream_times(out, "a") is None


def test_start_end_and_size_options(clip, tmp_path):
    out = tmp_path / "cut.mp4"
    convert_video(
        str(clip),
        str(out),
        processor=invert,
        clip=ClipOptions(start=0.5, end=1.5, size=48),
        progress=False,
    )
    t, a = stream_times(out), stream_times(out, "a")
    assert t.count == 30 and abs(a.duration - 1.0) < 0.05
    assert read_frames(out).shape[1:] == (32, 48, 3)


def test_output_may_not_be_the_input(clip, tmp_path):
    with pytest.raises(UserError, match="is the input"):
        convert_video(str(clip), str(clip), processor=invert)


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "stylize_video.py"), *args],
        capture_output=True,
        encoding="utf-8",  # the progress bar draws with block characters
        cwd=ROOT,
        timeout=120,
        **kw,
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (["video", "{d}/missing.mp4", "-o", "{d}/o.mp4"], "no such file"),
        (["video", "{clip}", "-o", "{d}/o.avi"], "unsupported video output"),
        (["video", "{clip}", "-o", "{d}/o.mp4", "--start", "9"], "only 2.00 s long"),
        (["video", "{d}/junk.mp4", "-o", "{d}/o.mp4"], "not a readable video"),
        (["video", "{clip}", "-o", "{d}/o.png"], "pattern like"),
    ],
)
def test_cli_errors_are_one_line_exit_2(clip, tmp_path, args, needle):
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 1000)
    r = _cli(*[a.format(d=tmp_path, clip=clip) for a in args])
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("stylize-video: error:") and needle in lines[0]
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".o*"))


INTERRUPTIBLE = slow_fake_cli("realtime.jobs.video", 0.03)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_playable_file_with_matching_audio(clip, tmp_path, sig):
    out = tmp_path / "partial.mp4"
    p = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE, "video", str(clip), "-o", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",  # a signal can cut the progress bar inside a character
        start_new_session=True,  # like a terminal: the signal goes to the whole group
    )
    done = 0
    for line in p.stdout:
        done += line.startswith("frame")
        if done == 20:
            os.killpg(p.pid, sig)
            break
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err
    v, a = stream_times(out), stream_times(out, "a")
    assert v is not None and 20 <= v.count < 60, err  # every finished frame, not the rest
    assert abs(a.duration - v.duration) < 0.05
    assert len(read_frames(out)) == v.count  # decodes to the end
    assert processes_mentioning(str(tmp_path)) == []
    assert [f.name for f in tmp_path.iterdir()] == ["partial.mp4"]  # no temp files left


def _beep_flash_clip(path: Path) -> Path:
    """Black video with one white frame at t = 1.0 s and silence with a 1 kHz beep
    starting at t = 1.0 s: where they land in an output shows the A/V sync."""
    from video_clips import run_ffmpeg

    run_ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=64x48:r=30:d=2,drawbox=color=white:t=fill:enable='between(t,0.99,1.02)'",
        "-f",
        "lavfi",
        "-i",
        "aevalsrc='if(between(t,1,1.1),0.8*sin(2*PI*1000*t),0)':s=48000:d=2.2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(path),
    )
    return path


def _flash_and_beep_times(path: Path) -> tuple[float, float]:
    from video_clips import FF

    frames = read_frames(path)
    flash = int(np.argmax(frames.reshape(len(frames), -1).mean(axis=1)))
    t_flash = stream_times(path).pts[flash]
    pcm = subprocess.run(
        [
            FF,
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "48000",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    audio = np.frombuffer(pcm, np.int16)
    t_beep = int(np.argmax(np.abs(audio) > 8000)) / 48000
    return t_flash, t_beep


@pytest.mark.parametrize("start", [None, 0.5])
def test_audio_stays_in_sync(tmp_path, start):
    src = _beep_flash_clip(tmp_path / "sync.mp4")
    f0, b0 = _flash_and_beep_times(src)
    assert abs(f0 - b0) < 0.02  # the test clip itself is in sync
    out = tmp_path / "out.mp4"
    convert_video(
        str(src), str(out), processor=lambda x: x, clip=ClipOptions(start=start), progress=False
    )
    flash, beep = _flash_and_beep_times(out)
    assert flash == pytest.approx(1.0 - (start or 0), abs=0.04)
    assert abs(flash - beep) < 1 / 30  # within a frame
