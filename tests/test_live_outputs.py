"""Every live output kind is open to every live command (realtime.sinks.open_sink): a
webcam run can push HLS, a stream can record a file, serve takes --to too; a bad output
is refused before any model loads. The stylizer is a stand-in: no TensorFlow."""

from __future__ import annotations

import json
import sys
import types

import pytest
from live_fakes import TintStylizer
from video_clips import read_frames, stream_times

import stylize_video
from models.errors import UserError
from realtime.jobs.settings import Limits, LiveOptions, LiveSourceOptions
from realtime.sinks import check_sink

PATTERN = LiveSourceOptions("testpattern", width=64, height=48, fps=30)


@pytest.mark.slow
def test_a_webcam_run_pushes_hls_and_records_a_file(tmp_path, capsys):
    from realtime.jobs.webcam import run_webcam

    playlist, recording = tmp_path / "hls" / "live.m3u8", tmp_path / "rec.mkv"
    live = LiveOptions(
        PATTERN, limits=Limits(max_frames=20), outputs=(str(playlist), str(recording))
    )
    assert run_webcam(live, headless=True, processor=TintStylizer(), as_json=True) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames_out"] == 20
    assert playlist.read_text().rstrip().endswith("#EXT-X-ENDLIST")
    assert stream_times(recording).count == 20
    frames = read_frames(recording)
    assert frames[..., 0].mean() > frames[..., 2].mean() + 40  # stylized: the red tint


@pytest.mark.slow
def test_a_stream_also_records_a_file(tmp_path, capsys):
    from realtime.jobs.stream import run_stream

    playlist, recording = tmp_path / "live.m3u8", tmp_path / "rec.mp4"
    live = LiveOptions(PATTERN, limits=Limits(max_frames=15), outputs=(str(recording),))
    run_stream(live, to=str(playlist), processor=TintStylizer(), as_json=True)
    assert json.loads(capsys.readouterr().out)["pushed"] == 15
    assert stream_times(recording).count == 15


@pytest.mark.parametrize(
    ("spec", "why"),
    [("ftp://host/x", "not supported"), ("out.txt", "m3u8"), ("srt://host", "HOST:PORT")],
)
def test_a_bad_output_is_refused_with_the_fix(spec, why):
    with pytest.raises(UserError, match=why):
        check_sink(spec)


@pytest.mark.parametrize("command", ["webcam", "serve"])
def test_the_cli_refuses_a_bad_output_before_any_model_loads(monkeypatch, capsys, command):
    def load_stylizer(*a, **k):
        raise AssertionError("a model was loaded before the output was checked")

    monkeypatch.setitem(
        sys.modules, "models.stylizer", types.SimpleNamespace(load_stylizer=load_stylizer)
    )
    args = [command, "--source", "testpattern", "--to", "ftp://host/x"]
    assert stylize_video.main(args + (["--headless"] if command == "webcam" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert "ftp://" in err and "not supported" in err and "\n" not in err
