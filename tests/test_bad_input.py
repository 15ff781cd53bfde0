"""Bad numbers and paths get one line naming the option, before any model loads
(issue 15, items 7, 8, 10, 11, 12). The stylizer is a stand-in: no TensorFlow."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from video_clips import make_clip, stream_times

from models.errors import UserError
from realtime import validate
from realtime.jobs.image import stylize_images
from realtime.jobs.settings import StyleOptions
from realtime.jobs.video import convert_video


class InvertStylizer:
    """What image's loop uses of a Stylizer: invert the colours."""

    plan = types.SimpleNamespace(device="cpu")

    def __init__(self) -> None:
        self.calls = 0

    def reset_content(self) -> None:
        pass

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        return 255 - image


@pytest.fixture
def fake_stylizer(monkeypatch):
    """models.stylizer replaced (no TensorFlow); `loads` counts model loads."""
    made: list[InvertStylizer] = []

    def load_stylizer(*a, **k):
        made.append(InvertStylizer())
        return made[-1]

    monkeypatch.setitem(
        sys.modules, "models.stylizer", types.SimpleNamespace(load_stylizer=load_stylizer)
    )
    return made


def _png(path: Path, h: int = 48, w: int = 64) -> Path:
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(path)
    return path


# -- item 7: sizes that cannot fit ---------------------------------------------------------


@pytest.mark.parametrize("size", [100000, 8193])
def test_image_size_over_the_maximum_is_refused_up_front(tmp_path, fake_stylizer, size) -> None:
    with pytest.raises(UserError) as e:
        stylize_images(
            [str(_png(tmp_path / "a.png"))],
            str(tmp_path / "o.png"),
            StyleOptions(("preset:1",)),
            size=size,
        )
    assert f"--size {size}" in str(e.value) and "8192" in str(e.value)
    assert fake_stylizer == []  # refused before the model was loaded


def test_image_too_big_for_this_machines_memory_names_a_size_that_fits(
    tmp_path, fake_stylizer, monkeypatch
) -> None:
    monkeypatch.setattr(validate, "physical_memory", lambda: 2 << 30)
    src = _png(tmp_path / "big.png", 2000, 3000)
    with pytest.raises(UserError) as e:
        stylize_images([str(src)], str(tmp_path / "o.png"), StyleOptions(("preset:1",)))
    msg = str(e.value)
    assert "big.png" in msg and "2 GB" in msg and "--size" in msg and "\n" not in msg
    assert fake_stylizer == []
    fits = int(msg.rsplit("--size ", 1)[1].split()[0])
    validate.check_fits_in_memory([("big.png", 2000, 3000)], fits)  # the advice works
    assert (
        stylize_images([str(src)], str(tmp_path / "o.png"), StyleOptions(("preset:1",)), size=fits)
        == 0
    )


# -- item 11: animated GIF ---------------------------------------------------------------


def _gif(path: Path) -> Path:
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
    frames = [Image.fromarray(np.full((32, 40, 3), c, np.uint8)) for c in colours]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[80, 120, 200], loop=0)
    return path


def test_animated_gif_is_stylized_frame_by_frame_into_an_animation(tmp_path, fake_stylizer) -> None:
    out = tmp_path / "out.gif"
    assert (
        stylize_images([str(_gif(tmp_path / "anim.gif"))], str(out), StyleOptions(("preset:1",)))
        == 0
    )
    with Image.open(out) as im:
        assert im.n_frames == 3
        got, durations = [], []
        for i in range(3):
            im.seek(i)
            got.append(np.asarray(im.convert("RGB"))[0, 0])
            durations.append(im.info["duration"])
    assert durations == [80, 120, 200]
    expected = [(5, 255, 255), (255, 5, 255), (255, 255, 5)]  # inverted
    assert np.abs(np.array(got, int) - np.array(expected)).max() <= 8


def test_animated_gif_to_a_still_format_says_only_the_first_frame(
    tmp_path, fake_stylizer, capsys
) -> None:
    out = tmp_path / "out.jpg"
    assert (
        stylize_images([str(_gif(tmp_path / "anim.gif"))], str(out), StyleOptions(("preset:1",)))
        == 0
    )
    err = capsys.readouterr().err
    assert "anim.gif: animated (3 frames)" in err and "first frame only" in err
    assert out.exists()


# -- item 12: an output folder that does not exist ------------------------------------------


def test_image_creates_a_missing_output_folder_and_says_so(tmp_path, fake_stylizer, capsys) -> None:
    out = tmp_path / "new1" / "deeper" / "o.png"
    stylize_images([str(_png(tmp_path / "a.png"))], str(out), StyleOptions(("preset:1",)))
    assert out.exists()
    assert f"created folder {out.parent}" in capsys.readouterr().err


def test_video_creates_a_missing_output_folder_and_says_so(tmp_path, capsys) -> None:
    clip = make_clip(tmp_path / "c.mp4", fps=10, seconds=0.3)
    out = tmp_path / "new2" / "o.mp4"
    convert_video(str(clip), str(out), processor=lambda im: 255 - im, progress=False)
    assert stream_times(out).count == 3
    assert f"created folder {out.parent}" in capsys.readouterr().err


# -- items 8 and 10: --fps, --start, --end ------------------------------------------------


@pytest.fixture
def frames_folder(tmp_path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        _png(folder / f"f{i}.png")
    return folder


def _cli(capsys, monkeypatch, *argv: str) -> tuple[int, str]:
    """Run the CLI with a stand-in stylizer (no TensorFlow); (exit code, stderr)."""
    import stylize_video

    monkeypatch.setattr("realtime.jobs.video.build_stylizer", lambda *a, **k: lambda im: 255 - im)
    code = stylize_video.main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("fps", ["-5", "0", "inf", "nan", "-inf"])
def test_video_fps_must_be_a_positive_number(tmp_path, frames_folder, capsys, monkeypatch, fps):
    out = tmp_path / "o.mp4"
    code, err = _cli(
        capsys, monkeypatch, "video", str(frames_folder), "-o", str(out), f"--fps={fps}"
    )
    assert code == 2
    assert err.strip().splitlines() == [
        f"stylize-video: error: --fps {float(fps)}: give a frame rate from 0.5 to 240, "
        "e.g. --fps 25"
    ]
    assert not out.exists()


def test_a_valid_fps_is_used(tmp_path, frames_folder, capsys, monkeypatch):
    out = tmp_path / "o.mp4"
    code, _ = _cli(capsys, monkeypatch, "video", str(frames_folder), "-o", str(out), "--fps", "5")
    assert code == 0
    assert stream_times(out).pts == pytest.approx([0, 0.2, 0.4])


@pytest.mark.parametrize("fps", [0.0, -1.0, float("nan")])
def test_live_sources_refuse_a_bad_fps(fps) -> None:
    from realtime.sources import open_live_source

    with pytest.raises(UserError, match="--fps"):
        open_live_source("testpattern", fps=fps)


@pytest.mark.parametrize("option", ["--start", "--end"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_start_and_end_that_are_not_times_name_the_option(
    tmp_path, capsys, monkeypatch, option, value
):
    clip = make_clip(tmp_path / "c.mp4", fps=10, seconds=0.5)
    out = tmp_path / "o.mp4"
    code, err = _cli(capsys, monkeypatch, "video", str(clip), "-o", str(out), option, value)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{option} {float(value)}: give a time in seconds" in lines[0]
    assert "c.mp4" not in lines[0]  # the file is fine: the option is at fault
    assert not out.exists()
