"""`stylize-video evaluate`: warping error of a stylized video file against its source, on
small synthetic clips with known motion written with the project's ffmpeg."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from motion_clips import FlickeringStylizer, invert, translating_clip

from stylize_video import main

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")


def _write(path: Path, frames: list[np.ndarray], fps: float = 24) -> Path:
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (w, h),
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv444p",
        output_params=["-qp", "0"],  # lossless: the test measures our frames, not x264's
        macro_block_size=16,
    )
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("evaluate")
    frames = translating_clip(n=10, height=64, width=96, dx=3, dy=1)
    flicker = FlickeringStylizer(amplitude=25)
    return {
        "source": _write(d / "source.mp4", frames),
        "consistent": _write(d / "consistent.mp4", [invert(f) for f in frames]),
        "flicker": _write(d / "flicker.mp4", [flicker(f) for f in frames]),
        "short": _write(d / "short.mp4", [invert(f) for f in frames[:6]]),
        "square": _write(d / "square.mp4", [invert(f[:, :64]) for f in frames]),
    }


def _json(capsys, *argv: str) -> dict:
    assert main(["evaluate", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_consistent_video_scores_near_zero_and_flickering_one_high(clips, capsys):
    good = _json(capsys, clips["source"], clips["consistent"])
    bad = _json(capsys, clips["source"], clips["flicker"])
    assert good["frames"] == 10 and good["pairs"] == 9 and len(good["per_pair"]) == 9
    assert good["size"] == [96, 64]
    assert good["warping_error"] < 5e-4
    assert bad["warping_error"] > 20 * good["warping_error"]
    assert min(bad["per_pair"]) > max(good["per_pair"])
    assert all(0.8 < r <= 1 for r in good["reliable_fraction"])


def test_text_report_and_plot(clips, tmp_path, capsys):
    plot = tmp_path / "curve.png"
    assert main(["evaluate", str(clips["source"]), str(clips["flicker"]), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("warping error 0.") and "9 frame pairs" in out
    assert str(plot) in out
    from PIL import Image

    with Image.open(plot) as im:
        assert im.format == "PNG" and im.width > 400
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]  # no temp file left


def test_farneback_flow_agrees_on_the_ranking(clips, capsys):
    good = _json(capsys, clips["source"], clips["consistent"], "--flow", "farneback")
    bad = _json(capsys, clips["source"], clips["flicker"], "--flow", "farneback")
    assert bad["warping_error"] > 20 * good["warping_error"]


def test_shorter_stylized_video_is_compared_on_the_common_frames(clips, capsys):
    r = _json(capsys, clips["source"], clips["short"])
    assert r["frames"] == 6 and r["pairs"] == 5
    assert "source.mp4 has more frames" in r["note"]


@pytest.mark.parametrize(
    ("which", "extra", "message"),
    [
        ("missing", [], "no such file"),
        ("square", [], "aspect ratio"),
        ("consistent", ["--plot", "curve.jpg"], "ending in .png"),
        ("consistent", ["--plot", "nowhere/curve.png"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_error(clips, capsys, tmp_path, monkeypatch, which, extra, message):
    monkeypatch.chdir(tmp_path)
    stylized = clips.get(which, tmp_path / "missing.mp4")
    assert main(["evaluate", str(clips["source"]), str(stylized), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylize-video: error:") and "\n" not in err
    assert message in err
