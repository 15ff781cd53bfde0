"""The ffmpeg video writer at its edges (issue 15): the shortest outputs (item 6), a full
disk (item 4) and interrupts during a slow close (item 16)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from video_clips import child_ffmpegs, stream_times

from realtime.ffmpeg import FfmpegError, probe
from realtime.frame import Frame
from realtime.sinks.ffmpeg_writer import FfmpegVideoWriter
from realtime.sources.video_file import VideoFileSource


def _frame(i: int, h: int = 32, w: int = 48) -> Frame:
    return Frame(np.full((h, w, 3), (40 + 60 * i) % 256, np.uint8), i / 10, i)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
@pytest.mark.parametrize("fps", [10.0, None])
@pytest.mark.parametrize("count", [1, 2])
def test_one_and_two_frame_outputs_play_and_read_back(tmp_path, count, fps, suffix) -> None:
    out = tmp_path / f"short{suffix}"
    with FfmpegVideoWriter(out, fps=fps) as w:
        for i in range(count):
            w.write(_frame(i))
    info = probe(out)
    # not "Duration: N/A"; a lone frame of unknown rate lasts the writer's default 1/30 s
    # (ffmpeg prints the duration to 10 ms)
    expected = count / 10 if fps or count > 1 else 1 / 30
    assert info.duration == pytest.approx(expected, abs=0.005)
    times = stream_times(out)
    assert times.count == count and times.pts == pytest.approx([i / 10 for i in range(count)])
    cap = cv2.VideoCapture(str(out))
    read = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        read.append(bgr)
    cap.release()
    assert len(read) == count
    with VideoFileSource(str(out)) as src:
        frames = list(src)
    assert [f.index for f in frames] == list(range(count))
    assert [int(f.image.mean()) for f in frames] == pytest.approx(
        [40 + 60 * i for i in range(count)], abs=3
    )


# -- a slow or hung ffmpeg while the file is finished (item 16) ------------------------------


def _stand_in(script: str) -> list[str]:
    return [sys.executable, "-c", script]


def _writer_with_stand_in(monkeypatch, tmp_path: Path, stage: str, script: str):
    """A writer with 5 frames written whose encoder ('encoding') or final mux ('muxing')
    is replaced by `script`; returns (writer, list that receives the stand-in's Popen)."""
    import realtime.sinks.ffmpeg_writer as fw

    real_popen = fw.popen
    started: list[subprocess.Popen] = []

    def fake_popen(cmd, **kw):
        is_encoder = "nut" in cmd
        if is_encoder != (stage == "encoding"):
            return real_popen(cmd, **kw)
        if stage == "muxing":
            Path(cmd[-1]).write_bytes(b"")  # what a mux would start with
        p = subprocess.Popen(_stand_in(script), **kw)
        started.append(p)
        return p

    monkeypatch.setattr(fw, "popen", fake_popen)
    w = FfmpegVideoWriter(tmp_path / "slow.mp4", fps=10)
    for i in range(5):
        w.write(_frame(i))
    return w, started


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_second_interrupt_during_a_slow_close_kills_ffmpeg_and_stops(
    tmp_path, monkeypatch, caplog, sig
) -> None:
    # The mux stand-in would take 8 s; the first interrupt arrives as it starts, the second
    # comes from the stand-in itself once it runs (so both land inside close()).
    me = os.getpid()
    script = f"import os, time; os.kill({me}, {int(sig)}); time.sleep(8)"
    import realtime.sinks.ffmpeg_writer as fw

    w, started = _writer_with_stand_in(monkeypatch, tmp_path, "muxing", script)
    stand_in_popen = fw.popen

    def first_interrupt_then_start(cmd, **kw):
        p = stand_in_popen(cmd, **kw)
        if "nut" not in cmd:
            os.kill(me, sig)
        return p

    monkeypatch.setattr(fw, "popen", first_interrupt_then_start)
    previous = signal.getsignal(sig)
    with caplog.at_level("WARNING"), pytest.raises(KeyboardInterrupt, match="stopped"):
        w.close()
    assert started and started[0].returncode == -signal.SIGKILL  # killed, not finished
    assert "interrupt again" in caplog.text
    assert not w.written and list(tmp_path.iterdir()) == []  # no output, no temp files
    assert signal.getsignal(sig) is previous
    assert child_ffmpegs() == []


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["encoding", "muxing"])
def test_a_hung_ffmpeg_is_killed_after_the_timeout_with_a_warning(
    tmp_path, monkeypatch, caplog, stage
) -> None:
    # reads all its input (as an encoder would), then hangs
    script = "import sys, time; sys.stdin and sys.stdin.buffer.read(); time.sleep(8)"
    w, started = _writer_with_stand_in(monkeypatch, tmp_path, stage, script)
    w.stop_timeout = 0.5
    with caplog.at_level("WARNING"), pytest.raises(FfmpegError):
        w.close()
    assert started[0].returncode == -signal.SIGKILL
    assert f"did not finish {stage} within" in caplog.text
    assert not w.written and list(tmp_path.iterdir()) == []
    assert child_ffmpegs() == []


# -- a full disk or a file-size limit during `video` (item 4) -------------------------------

# The CLI with a stand-in stylizer (no TensorFlow). With "mux", only the final mux's ffmpeg
# runs under the file-size limit; else the whole run (and so the encoder) does.
_VIDEO_CLI = r"""
import resource, sys
import realtime.jobs.video as video
import realtime.sinks.ffmpeg_writer as fw

video.build_stylizer = lambda *a, **k: (lambda im: 255 - im)
stage, limit = sys.argv[1], int(sys.argv[2])

def limited():
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

if stage == "mux":
    real_popen = fw.popen
    def popen(cmd, **kw):
        if "nut" not in cmd:
            kw["preexec_fn"] = limited
        return real_popen(cmd, **kw)
    fw.popen = popen
else:
    limited()
import stylize_video
sys.exit(stylize_video.main(sys.argv[3:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["encode", "mux"])
def test_disk_full_during_video_is_one_line_and_leaves_nothing(tmp_path, stage) -> None:
    from video_clips import make_clip

    clip = make_clip(tmp_path / "in.mp4", size=(320, 240), fps=25, seconds=2.0)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "movie.mp4"
    limit = 40_000  # bytes: the stylized clip is several times larger
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cli = ["video", str(clip), "-o", str(out), "--json"]
    r = subprocess.run(
        [sys.executable, "-c", _VIDEO_CLI, stage, str(limit), *cli],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"stylize-video: error: cannot write {out}: ")
    assert "no space left" in lines[0] or "size limit" in lines[0]
    assert list(folder.iterdir()) == []  # nothing at the destination, no temp file


@pytest.mark.parametrize(
    ("returncode", "stderr", "why"),
    [
        (228, "", "no space left on device"),  # AVERROR(ENOSPC) & 0xff
        (1, "av_interleaved_write_frame(): No space left on device", "no space left"),
        (-signal.SIGXFSZ, "", "file-size limit"),
        (1, "Error writing trailer: File too large", "too large"),
        (1, "Disk quota exceeded", "quota"),
    ],
)
@pytest.mark.slow
def test_ffmpeg_disk_failures_become_user_errors(returncode, stderr, why) -> None:
    from models.errors import UserError
    from realtime.sinks.ffmpeg_writer import _failure

    err = _failure(Path("o.mp4"), ["ffmpeg"], returncode, stderr)
    assert isinstance(err, UserError) and why in str(err) and "o.mp4" in str(err)
    assert isinstance(_failure(Path("o.mp4"), ["ffmpeg"], 1, "Invalid data"), FfmpegError)
