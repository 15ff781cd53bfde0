"""A run killed outright leaves its partial file; the next run into that folder removes it,
but never a live run's (issue 15, item 13). Real processes, real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.atomic import atomic_path

ROOT = Path(__file__).resolve().parents[1]

# Writes three frames of a video (the encoder starts at the third) and then waits, as a
# long run would, until killed.
_WRITER = r"""
import sys, time
import numpy as np
from realtime.frame import Frame
from realtime.sinks.ffmpeg_writer import FfmpegVideoWriter
w = FfmpegVideoWriter(sys.argv[1], fps=10)
for i in range(3):
    w.write(Frame(np.zeros((16, 16, 3), np.uint8), i / 10, i))
print(w._proc.pid, flush=True)
time.sleep(600)
"""

# A later run that writes an image into the same folder.
_NEXT = r"""
import sys
from models.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"done")
"""


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # reparented and not yet reaped
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_killed_runs_partial_file_is_removed_by_the_next_run(tmp_path: Path) -> None:
    killed = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path / "movie.mp4")],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    ffmpeg_pid = int(killed.stdout.readline())
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    killed.stdout.close()
    deadline = time.monotonic() + 30  # its ffmpeg ends once its input pipe closes
    while not _gone(ffmpeg_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _hidden(tmp_path), "the killed run should have left its partial file"
    mine = tmp_path / ".notes.part.txt"  # not the tool's: must stay
    mine.write_text("keep")

    subprocess.run(
        [sys.executable, "-c", _NEXT, str(tmp_path / "still.png")], env=_env(), check=True
    )
    assert _hidden(tmp_path) == [".notes.part.txt"]
    assert (tmp_path / "still.png").read_bytes() == b"done"


def test_a_live_runs_partial_file_stays(tmp_path: Path) -> None:
    live = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path / "movie.mp4")],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        int(live.stdout.readline())
        before = _hidden(tmp_path)
        assert before
        # an older file of the live run, seen by a run that started later
        subprocess.run(
            [sys.executable, "-c", _NEXT, str(tmp_path / "still.png")], env=_env(), check=True
        )
        assert _hidden(tmp_path) == before
    finally:
        live.kill()
        live.wait()
        live.stdout.close()


def test_a_partial_file_newer_than_this_process_stays(tmp_path: Path) -> None:
    # a dead pid, but written after we started: maybe another host's run on a shared disk
    other = tmp_path / ".clip.sv999999999-abcdefgh.part.mp4"
    other.write_bytes(b"x")
    with atomic_path(tmp_path / "a.png") as tmp:
        tmp.write_bytes(b"y")
    assert other.exists()


# A server that holds its uploads folder until killed, and one started after it.
_SERVER = r"""
import sys, time
from realtime.live_controls import LiveControls
from realtime.server import ServerConfig, StreamServer
from realtime.sinks.mjpeg import FrameBroadcaster
server = StreamServer(FrameBroadcaster(), LiveControls(lambda image: image), ServerConfig())
print(server._upload_dir, flush=True)
if sys.argv[1] == "wait":
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_killed_servers_uploads_folder_is_removed_by_the_next_server(tmp_path: Path) -> None:
    env = dict(_env(), TMPDIR=str(tmp_path))
    killed = subprocess.Popen(
        [sys.executable, "-c", _SERVER, "wait"], env=env, stdout=subprocess.PIPE, text=True
    )
    uploads = Path(killed.stdout.readline().strip())
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    killed.stdout.close()
    assert uploads.parent == tmp_path and uploads.name.startswith("stylize-video-uploads-")
    assert uploads.is_dir()  # a SIGKILLed server cannot remove it
    live = tmp_path / f"stylize-video-uploads-{os.getpid()}-abcdefgh"  # a running server's
    live.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", _SERVER, "go"], env=env, capture_output=True, text=True, check=True
    )
    assert not uploads.exists() and live.is_dir()
    Path(out.stdout.strip()).rmdir()  # this one was not stopped either
    live.rmdir()
