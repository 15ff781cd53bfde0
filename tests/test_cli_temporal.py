"""The temporal flags reach the jobs as typed settings: live commands default to the
measured live settings, files to plain per-frame stylization."""

from __future__ import annotations

import pytest

import stylize_video
from realtime.jobs.settings import ChangeOptions, TemporalOptions


def settings(*argv: str) -> TemporalOptions | ChangeOptions | None:
    return stylize_video._temporal_options(stylize_video.build_parser().parse_args(list(argv)))


@pytest.mark.parametrize("command", ["webcam", "serve", "stream"])
def test_live_commands_default_to_the_live_settings(command):
    live = TemporalOptions(**stylize_video.LIVE_TEMPORAL, adaptive=True, background=True)
    assert settings(command) == live


def test_files_default_to_per_frame_and_take_the_flags():
    assert settings("video", "in.mp4", "-o", "out.mp4") is None
    assert settings("video", "in.mp4", "-o", "o.mp4", "--temporal", "0.5") == TemporalOptions(
        temporal=0.5
    )
    kf = settings("video", "in.mp4", "-o", "o.mp4", "--keyframe-every", "4", "--no-adaptive")
    assert kf == TemporalOptions(keyframe_every=4)


def test_live_settings_can_be_switched_off():
    off = ("--temporal", "0", "--keyframe-every", "1", "--internal-size", "0")
    assert settings("webcam", *off) is None


def test_changed_mode_reaches_every_command_with_its_own_settings():
    # files keep every decision in frame order
    assert settings("video", "in.mp4", "-o", "o.mp4", "--changed", "--temporal", "0.6") == (
        ChangeOptions(temporal=0.6, background=False)
    )
    for command in ("webcam", "serve", "stream"):
        assert settings(command, "--changed") == ChangeOptions(temporal=0.7, background=True)


def test_a_typo_in_a_setting_fails_at_once():
    with pytest.raises(TypeError):
        TemporalOptions(keyframes_every=2)  # type: ignore[call-arg]
