"""`stylize-video evaluate`: warping error of a stylized video file against its source, and
fidelity against a per-frame reference (--reference video or --style), on small synthetic
clips with known motion written with the project's ffmpeg."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import write_clip
from motion_clips import FlickeringStylizer, invert, translating_clip

from stylize_video import main

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("evaluate")
    frames = translating_clip(n=10, height=64, width=96, dx=3, dy=1)
    flicker = FlickeringStylizer(amplitude=25)
    return {
        "source": write_clip(d / "source.mp4", frames),
        "consistent": write_clip(d / "consistent.mp4", [invert(f) for f in frames]),
        "flicker": write_clip(d / "flicker.mp4", [flicker(f) for f in frames]),
        "short": write_clip(d / "short.mp4", [invert(f) for f in frames[:6]]),
        "square": write_clip(d / "square.mp4", [invert(f[:, :64]) for f in frames]),
        # the per-frame reference (a second file with the same frames), a version with a
        # block of wrong pixels pasted on frames 4-6, a blurred one and a half-size one
        "reference": write_clip(d / "reference.mp4", [invert(f) for f in frames]),
        "pasted": write_clip(
            d / "pasted.mp4", [_pasted(invert(f), i) for i, f in enumerate(frames)]
        ),
        "blurred": write_clip(
            d / "blurred.mp4", [cv2.GaussianBlur(invert(f), (0, 0), 1.5) for f in frames]
        ),
        "half": write_clip(d / "half.mp4", [invert(f[::2, ::2]) for f in frames]),
    }


def _pasted(frame: np.ndarray, i: int) -> np.ndarray:
    if 4 <= i <= 6:
        frame = frame.copy()
        frame[16:32, 48:64] = frame[40:56, 8:24]  # a stale block pasted in
    return frame


def _json(capsys, *argv: str) -> dict:
    assert main(["evaluate", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
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


def test_without_a_reference_the_report_has_no_fidelity(clips, capsys):
    assert "fidelity" not in _json(capsys, clips["source"], clips["consistent"])
    assert main(["evaluate", str(clips["source"]), str(clips["consistent"])]) == 0
    assert "fidelity" not in capsys.readouterr().out


@pytest.mark.slow
def test_fidelity_against_a_reference_video(clips, capsys):
    src, ref = clips["source"], clips["reference"]
    same = _json(capsys, src, clips["consistent"], "--reference", ref)["fidelity"]
    pasted = _json(capsys, src, clips["pasted"], "--reference", ref)["fidelity"]
    blurred = _json(capsys, src, clips["blurred"], "--reference", ref)["fidelity"]
    assert same["frames"] == 10 and same["patch"] == 16 and same["reference"] == str(ref)
    assert same["mean"] == 0 and same["p99"] == 0 and same["per_frame"] == [0] * 10
    # the pasted block shows on exactly frames 4-6, and dominates the p99 over frames
    bad = [i for i, v in enumerate(pasted["per_frame"]) if v > 0.05]
    assert bad == [4, 5, 6]
    assert pasted["p99"] > 0.1 and pasted["p99"] > 2 * pasted["mean"]
    assert min(blurred["per_frame"]) > 0.02
    # warping error is reported as before beside it
    plain = _json(capsys, src, clips["pasted"])
    with_ref = _json(capsys, src, clips["pasted"], "--reference", ref)
    assert with_ref["warping_error"] == plain["warping_error"]


@pytest.mark.slow
def test_fidelity_in_the_text_report_and_the_plot(clips, tmp_path, capsys):
    plot = tmp_path / "curve.png"
    argv = [clips["source"], clips["pasted"], "--reference", clips["reference"], "--plot", plot]
    assert main(["evaluate", *map(str, argv)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("warping error 0.")
    line = next(s for s in out.splitlines() if s.startswith("fidelity "))
    assert "mean" in line and "p99 over 10 frames" in line and "reference.mp4" in line
    from PIL import Image

    with Image.open(plot) as im:
        assert im.format == "PNG" and im.height > 600  # the fidelity panel below the curve


def test_a_shorter_reference_covers_the_common_frames(clips, capsys):
    r = _json(capsys, clips["source"], clips["consistent"], "--reference", clips["short"])
    assert r["frames"] == 10 and r["fidelity"]["frames"] == 6
    assert "short.mp4 ends first" in r["fidelity"]["note"]


def test_the_reference_path_does_not_import_tensorflow(clips):
    code = (
        "import sys; from stylize_video import main; "
        f"rc = main(['evaluate', {str(clips['source'])!r}, {str(clips['pasted'])!r}, "
        f"'--reference', {str(clips['reference'])!r}, '--json']); "
        "assert rc == 0; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["fidelity"]["frames"] == 10


@pytest.mark.slow
def test_fidelity_against_the_fast_stylizer_frame_by_frame(clips, tmp_path, capsys):
    """--style stylizes each source frame here: a video made the same way scores 0 (the
    clips are coded exactly losslessly), and against a weaker strength it is far off."""
    from models.stylizer import load_stylizer

    stylize = load_stylizer(["preset:7"], fixed_shape=True)
    frames = translating_clip(n=10, height=64, width=96, dx=3, dy=1)[:4]
    source = write_clip(tmp_path / "src4.mkv", frames, rgb=True)
    per_frame = write_clip(tmp_path / "per_frame.mkv", [stylize(f) for f in frames], rgb=True)
    near = _json(capsys, source, per_frame, "--style", "preset:7")["fidelity"]
    far = _json(capsys, source, per_frame, "--style", "preset:7", "--strength", "0.2")["fidelity"]
    assert near["frames"] == 4 and near["reference"] == "--style preset:7 --strength 1"
    assert near["p99"] < 1e-3
    assert far["mean"] > 0.05


@pytest.mark.parametrize(
    ("which", "extra", "message"),
    [
        ("missing", [], "no such file"),
        ("square", [], "aspect ratio"),
        ("consistent", ["--plot", "curve.jpg"], "ending in .png"),
        ("consistent", ["--plot", "nowhere/curve.png"], "does not exist"),
        ("consistent", ["--reference", "REF:half"], "frames are 48x32"),
        ("consistent", ["--reference", "nope.mp4"], "nope.mp4"),
        ("consistent", ["--strength", "0.5"], "only used with --style"),
    ],
)
def test_bad_input_is_one_line_error(clips, capsys, tmp_path, monkeypatch, which, extra, message):
    monkeypatch.chdir(tmp_path)
    stylized = clips.get(which, tmp_path / "missing.mp4")
    extra = [str(clips[e[4:]]) if e.startswith("REF:") else e for e in extra]
    assert main(["evaluate", str(clips["source"]), str(stylized), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylize-video: error:") and "\n" not in err
    assert message in err
