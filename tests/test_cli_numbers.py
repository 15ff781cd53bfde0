"""Every numeric option is checked once, at parse time: one line naming the option and
the fix, exit 2, before any model loads and before anything is written (issue 20 items 8
and 9). Loading a model here fails the test at once, so none of these waits for one."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image
from video_clips import make_clip

import stylize_video


@pytest.fixture
def no_model(monkeypatch):
    """A model load is a failure: the option should have been refused before it."""

    def load_stylizer(*a, **k):
        raise AssertionError("a model was loaded before the option was checked")

    monkeypatch.setitem(
        sys.modules, "models.stylizer", types.SimpleNamespace(load_stylizer=load_stylizer)
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", fps=10, seconds=0.5)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    for i in range(3):
        Image.fromarray(np.full((16, 24, 3), 60 * i, np.uint8)).save(folder / f"{i:03d}.png")
    return folder


VIDEO_CASES = [
    (["--temporal", "1.5"], "--temporal 1.5"),
    (["--temporal", "nan"], "--temporal nan"),
    (["--temporal", "-0.5"], "--temporal -0.5"),
    (["--keyframe-every", "-3"], "--keyframe-every -3"),
    (["--keyframe-every", "0"], "--keyframe-every 0"),
    (["--internal-size", "-5"], "--internal-size -5"),
    (["--crf", "99"], "--crf 99"),
    (["--workers", "0"], "--workers 0"),
    (["--workers", "-1"], "--workers -1"),
    (["--workers", "2", "--segment-seconds", "0"], "--segment-seconds 0"),
    (["--workers", "2", "--segment-seconds", "nan"], "--segment-seconds nan"),
    (["--workers", "2", "--segment-seconds", "-1"], "--segment-seconds -1"),
    (["--strength", "2"], "--strength 2"),
]


@pytest.mark.parametrize(("extra", "named"), VIDEO_CASES, ids=[" ".join(c[0]) for c in VIDEO_CASES])
def test_video_refuses_bad_numbers_in_one_line(no_model, clip, tmp_path, capsys, extra, named):
    out = tmp_path / "o.mp4"
    assert stylize_video.main(["video", str(clip), "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and "give" in err and "\n" not in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no OUT.work/, no output


@pytest.mark.parametrize("fps", ["0.0001", "1e9", "0", "nan"])
def test_frame_folder_rate_is_bounded_to_what_the_container_holds(
    no_model, frames, tmp_path, capsys, fps
):
    out = tmp_path / "o.mp4"
    assert stylize_video.main(["video", str(frames), "-o", str(out), "--fps", fps]) == 2
    err = capsys.readouterr().err.strip()
    assert f"--fps {float(fps)}" in err and "0.5 to 240" in err and "\n" not in err, err
    assert not out.exists()


LIVE_CASES = [
    (["serve", "--port", "70000"], "--port 70000"),
    (["serve", "--temporal", "1.5"], "--temporal 1.5"),
    (["webcam", "--headless", "--temporal", "nan"], "--temporal nan"),
    (["stream", "--to", "x.m3u8", "--keyframe-every", "0"], "--keyframe-every 0"),
    (["webcam", "--headless", "--frames", "0"], "--frames 0"),
    (["serve", "--duration", "-1"], "--duration -1"),
    (["serve", "--width", "-5"], "--width -5"),
]


@pytest.mark.parametrize(("args", "named"), LIVE_CASES, ids=[" ".join(c[0]) for c in LIVE_CASES])
def test_live_commands_refuse_bad_numbers_in_one_line(no_model, capsys, args, named):
    assert stylize_video.main([*args, "--source", "testpattern"]) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and "\n" not in err, err


def test_good_numbers_still_pass(no_model, clip, tmp_path):
    """The checks refuse only what is wrong: these reach the model load."""
    for extra in (["--temporal", "0.7", "--keyframe-every", "2", "--internal-size", "0"], []):
        with pytest.raises(AssertionError, match="model was loaded"):
            stylize_video.main(["video", str(clip), "-o", str(tmp_path / "o.mp4"), *extra])
