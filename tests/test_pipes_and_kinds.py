"""Standard input/output and the wrong kind of file get one line and exit 2, before any
model loads: `-o -` made a folder named '-' of PNGs without the audio, `-` as input read
as an empty file, `image -o out.pdf` made a folder `out.pdf/`, and `video photo.jpg`
made a one-frame video."""

from __future__ import annotations

import pytest
from PIL import Image
from video_clips import make_clip

from stylize_video import main


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (48, 32), "teal").save(tmp_path / "photo.jpg")
    make_clip(tmp_path / "clip.mp4", audio_seconds=1.0)
    return tmp_path


def _refused(argv: list[str], capsys, *words: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["video", "clip.mp4", "-o", "-"],
        ["video", "clip.mp4", "-o", "/dev/stdout"],
        ["video", "clip.mp4", "-o", "-", "--workers", "2"],
        ["image", "photo.jpg", "-o", "-"],
        ["webcam", "--source", "testpattern", "--headless", "-o", "-", "--duration", "1"],
    ],
)
def test_standard_output_is_refused_and_no_folder_named_dash(argv, work, capsys):
    _refused(argv, capsys, "standard output is not supported")
    assert sorted(p.name for p in work.iterdir()) == ["clip.mp4", "photo.jpg"]


@pytest.mark.parametrize(
    "argv",
    [
        ["video", "-", "-o", "out.mp4"],
        ["video", "/dev/stdin", "-o", "out.mp4"],
        ["image", "-", "-o", "out.png"],
        ["evaluate", "-", "clip.mp4"],
    ],
)
def test_standard_input_is_refused_in_one_line(argv, work, capsys):
    _refused(argv, capsys, "standard input is not supported")
    assert sorted(p.name for p in work.iterdir()) == ["clip.mp4", "photo.jpg"]


def test_image_refuses_an_output_that_is_not_an_image_format(work, capsys):
    _refused(["image", "photo.jpg", "-o", "out.pdf"], capsys, "-o out.pdf", ".pdf", ".png")
    assert not (work / "out.pdf").exists()


@pytest.mark.parametrize("extra", [[], ["--workers", "2"]])
def test_video_of_a_still_image_points_to_image(extra, work, capsys):
    _refused(["video", "photo.jpg", "-o", "x.mp4", *extra], capsys, "stylize-video image photo.jpg")
    assert not (work / "x.mp4").exists()
