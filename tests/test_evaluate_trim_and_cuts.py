"""`evaluate` on a trimmed output (--start/--end as `video` has them, and a loud warning
when the two clips' lengths differ), and a scene-cut test that a change of exposure does
not fool: only a pair whose flow fails is a cut."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from helpers import write_clip
from motion_clips import invert, texture, translating_clip

from realtime.metrics import WarpingError
from stylize_video import main

FPS = 24


def _accelerating(n: int = 12, h: int = 64, w: int = 96) -> list[np.ndarray]:
    """A window that rests, then slides faster and faster: frame t's motion differs from
    frame t+4's, so measuring against the wrong source frames shows."""
    xs = [0, 0, 0, 0, 0, 2, 6, 12, 20, 30, 42, 56][:n]
    big = texture(h + 8, w + xs[-1] + 8, seed=3)
    return [big[4 : 4 + h, 4 + x : 4 + x + w].copy() for x in xs]


@pytest.fixture(scope="module")
def trimmed(tmp_path_factory):
    d = tmp_path_factory.mktemp("trim")
    frames = _accelerating()
    source = write_clip(d / "source.mp4", frames, fps=FPS)
    # what `video source.mp4 --start 4/24 --end 10/24` makes: frames 4-9
    stylized = write_clip(d / "out.mp4", [invert(f) for f in frames[4:10]], fps=FPS)
    return source, stylized


def _evaluate(capsys, *argv) -> tuple[dict, str]:
    assert main(["evaluate", *map(str, argv), "--json"]) == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def test_start_and_end_compare_a_trimmed_output_with_the_same_part_of_the_source(trimmed, capsys):
    source, stylized = trimmed
    both = ["--start", f"{4 / FPS:.4f}", "--end", f"{10 / FPS:.4f}"]
    aligned, err = _evaluate(capsys, source, stylized, *both)
    assert aligned["frames"] == 6 and aligned["warning"] is None and "warning" not in err
    wrong, err = _evaluate(capsys, source, stylized)  # the source's first frames
    assert "warning" in err and "--start/--end" in err
    assert "has 12:" in wrong["warning"] and "--start/--end" in wrong["warning"]
    assert wrong["warping_error"] > 10 * aligned["warping_error"]


def test_the_text_report_warns_when_the_lengths_differ(trimmed, capsys):
    source, stylized = trimmed
    assert main(["evaluate", str(source), str(stylized)]) == 0
    out = capsys.readouterr()
    assert "WARNING: " in out.out and "has 6 frames but" in out.out
    assert "stylize-video: warning: " in out.err


def _gain_steps(frames: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """An auto-exposure that jumps by up to 2x every third frame."""
    rng = np.random.default_rng(seed)
    out, gain = [], 1.0
    for i, f in enumerate(frames):
        if i % 3 == 0:
            gain = float(rng.uniform(0.5, 1.6))
        out.append(np.clip(f * gain, 0, 255).astype(np.uint8))
    return out


def _meter(frames: list[np.ndarray]) -> WarpingError:
    meter = WarpingError("medium")
    for f in frames:
        meter.add(f, invert(f))
    return meter


def _left_out(meter: WarpingError) -> list[int]:
    """The pairs (by the frame each ends at) left out of the mean."""
    return [i + 1 for i, e in enumerate(meter.per_pair[""]) if not np.isfinite(e)]


def test_exposure_changes_in_one_shot_are_not_cuts_and_a_real_cut_is():
    shot = _gain_steps(translating_clip(n=12, height=96, width=128, seed=1))
    meter = _meter(shot)
    assert _left_out(meter) == []
    assert meter.cuts == [] and meter.unreliable == []
    other = _gain_steps(translating_clip(n=6, height=96, width=128, seed=2), seed=1)
    meter = _meter(shot[:6] + other)
    assert _left_out(meter) == [6] and meter.cuts == [6]  # the pair (shot[5], other[0])


def _clip(path, n: int) -> list[np.ndarray]:
    cap, frames = cv2.VideoCapture(str(path)), []
    while len(frames) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        frames.append(cv2.resize(bgr, (320, round(320 * h / w)), interpolation=cv2.INTER_AREA))
    cap.release()
    return [f[..., ::-1].copy() for f in frames]


@pytest.mark.slow
def test_on_real_clips_exposure_steps_make_no_cut_and_hard_cuts_stay(shared_data):
    video = shared_data / "video"
    if not (video / "asl_book.mkv").exists():
        pytest.skip("needs ../shared/data/video")
    # one continuous shot: 20 of 48 pairs of such a clip were called cuts
    assert _left_out(_meter(_gain_steps(_clip(video / "asl_book.mkv", 48)))) == []
    assert _left_out(_meter(_gain_steps(_clip(video / "cockatoo.mp4", 48)))) == []
    # the first two hard cuts of tears_of_steel, with and without exposure steps
    tears = _clip(video / "tears_of_steel.mp4", 70)
    for clip in (tears, _gain_steps(tears)):
        meter = _meter(clip)
        assert _left_out(meter) == [21, 65] and meter.cuts == [21, 65]
