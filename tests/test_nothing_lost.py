"""Nothing lost (issue 20): an interrupted re-run keeps the finished output it would have
replaced, a frame folder never mixes two runs, a frame folder on a disk that cannot take it
is one line, and an input that ends early says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from video_clips import make_clip, slow_fake_cli, stream_times

from models.errors import UserError
from realtime.jobs.settings import ClipOptions
from realtime.jobs.video import convert_video

ROOT = Path(__file__).resolve().parents[1]


def invert(img: np.ndarray) -> np.ndarray:
    return 255 - img


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("lost") / "in.mp4", fps=30, seconds=2.0, audio_seconds=2.0
    )


@pytest.mark.slow
def test_an_interrupted_rerun_keeps_the_finished_output(clip, tmp_path) -> None:
    out = tmp_path / "c.mp4"
    convert_video(str(clip), str(out), processor=invert, progress=False, as_json=True)
    before = out.read_bytes()
    p = subprocess.Popen(
        [sys.executable, "-c", slow_fake_cli("realtime.jobs.video", 0.03), "video", str(clip),
         "-o", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        errors="replace", start_new_session=True,
    )  # fmt: skip
    done = 0
    for line in p.stdout:
        done += line.startswith("frame")
        if done == 20:
            os.killpg(p.pid, signal.SIGTERM)
            break
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert out.read_bytes() == before  # the finished result is untouched
    partial = tmp_path / "c.partial.mp4"
    lines = [ln for ln in err.splitlines() if ln.startswith("interrupted:")]
    assert len(lines) == 1 and str(partial) in lines[0] and str(out) in lines[0], err
    assert 20 <= stream_times(partial).count < 60
    assert sorted(f.name for f in tmp_path.iterdir()) == ["c.mp4", "c.partial.mp4"]


# -- a frame folder never mixes two runs (item 3) -------------------------------------------


HALF = ClipOptions(end=0.5)


def test_a_frame_folder_of_an_earlier_run_is_refused_or_replaced(clip, tmp_path, capsys) -> None:
    frames = tmp_path / "frames"
    convert_video(str(clip), str(frames), processor=invert, progress=False, as_json=True)
    assert len(list(frames.iterdir())) == 60
    (frames / "notes.txt").write_text("the user's own file")
    with pytest.raises(UserError, match=r"holds 60 frames of an earlier run; add --overwrite"):
        convert_video(
            str(clip), str(frames), processor=invert, clip=ClipOptions(end=0.5), progress=False
        )
    assert len(list(frames.glob("frame_*.png"))) == 60  # refused before anything changed
    capsys.readouterr()
    convert_video(str(clip), str(frames), processor=invert, clip=HALF, progress=False,
                  overwrite=True)  # fmt: skip
    assert "replacing 60 frames of an earlier run" in capsys.readouterr().err
    assert sorted(p.name for p in frames.iterdir()) == [
        *(f"frame_{i:06d}.png" for i in range(15)),
        "notes.txt",
    ]
    pattern = tmp_path / "pat" / "%04d.jpg"
    convert_video(
        str(clip), str(pattern), processor=invert, clip=ClipOptions(end=0.3), progress=False
    )
    with pytest.raises(UserError, match="holds 9 frames"):
        convert_video(
            str(clip), str(pattern), processor=invert, clip=ClipOptions(end=0.2), progress=False
        )


@pytest.mark.slow
def test_the_cli_takes_overwrite_for_a_frame_folder(clip, tmp_path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "frame_000007.png").write_bytes(b"old")
    cli = [sys.executable, "-c", slow_fake_cli("realtime.jobs.video", 0), "video", str(clip),
           "-o", str(frames), "--end", "0.2"]  # fmt: skip
    r = subprocess.run(cli, cwd=ROOT, capture_output=True, encoding="utf-8", timeout=60)
    assert r.returncode == 2 and "--overwrite" in r.stderr.strip().splitlines()[-1]
    r = subprocess.run([*cli, "--overwrite"], cwd=ROOT, capture_output=True, encoding="utf-8",
                       timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert len(list(frames.iterdir())) == 6


# -- a frame folder on a disk that cannot take it (item 10) ---------------------------------

_LIMITED_CLI = """
import resource, sys
import realtime.jobs.video as job
job.build_stylizer = lambda *a, **k: (lambda img: 255 - img)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
import stylize_video
sys.exit(stylize_video.main(sys.argv[2:]))
"""


def test_a_full_disk_under_a_frame_folder_is_one_line(clip, tmp_path) -> None:
    out = tmp_path / "frames"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run(
        [sys.executable, "-c", _LIMITED_CLI, "2000", "video", str(clip), "-o", str(out), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"stylize-video: error: cannot write {out}/frame_000000.png: ")
    assert not list(out.glob(".*.part"))  # no half-written frame


def test_a_frame_folder_that_cannot_be_made_is_one_line(clip, tmp_path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"cannot write .*file/frames: "):
        convert_video(str(clip), str(tmp_path / "file" / "frames"), processor=invert)


# -- an input that ends early (item 13) -----------------------------------------------------


def test_a_truncated_input_says_it_ended_early(tmp_path, capsys) -> None:
    from video_clips import run_ffmpeg

    full = tmp_path / "full.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=3", "-c:v", "libx264",
               "-preset", "ultrafast", "-movflags", "+faststart", str(full))  # fmt: skip
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 55 // 100])  # the index (at the start) says 75 frames
    convert_video(str(full), str(tmp_path / "a.mp4"), processor=invert, as_json=True)
    assert json.loads(capsys.readouterr().out)["input_ended_early"] is False
    convert_video(str(cut), str(tmp_path / "b.mp4"), processor=invert, as_json=True)
    s = json.loads(capsys.readouterr().out)
    assert s["input_ended_early"] is True and s["expected_frames"] == 75
    assert 20 < s["frames"] < 60
    convert_video(str(cut), str(tmp_path / "c.mp4"), processor=invert, progress=False)
    err = capsys.readouterr().err
    assert f"{cut} ended after {s['frames']} of the 75 frames" in err
