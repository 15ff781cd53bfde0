"""A GUI-less OpenCV (opencv-python-headless winning the cv2 import) is caught before a
window opens, with one line naming the fix (issue 15, item 15). The headless build is
simulated: its build information says "GUI: NONE" and its namedWindow raises."""

from __future__ import annotations

import pytest

from models.errors import UserError

HEADLESS_BUILD = """
General configuration for OpenCV 5.0.0 =====================================
  GUI:                           NONE
  Media I/O:
"""


@pytest.fixture
def headless_cv2(monkeypatch):
    import cv2

    def not_implemented(*a, **k):
        raise cv2.error(
            "OpenCV(5.0.0) window.cpp:1301: error: (-2:Unspecified error) The function is "
            "not implemented. Rebuild the library with Windows, GTK+ 2.x or Cocoa support"
        )

    monkeypatch.setattr(cv2, "getBuildInformation", lambda: HEADLESS_BUILD)
    monkeypatch.setattr(cv2, "namedWindow", not_implemented)
    monkeypatch.setenv("DISPLAY", "localhost:10.0")  # a display is there
    from importlib import metadata

    from realtime.sinks import window

    installed = {"opencv-python", "opencv-python-headless"}
    real_version = metadata.version

    def version(name: str) -> str:
        if name.startswith("opencv"):
            if name in installed:
                return "5.0.0"
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(metadata, "version", version)
    return window


def test_window_on_a_headless_opencv_says_what_is_wrong_and_the_fix(headless_cv2) -> None:
    with pytest.raises(UserError) as e:
        headless_cv2.WindowSink("t")
    msg = str(e.value)
    assert "\n" not in msg
    assert "opencv-python-headless" in msg and "no GUI" in msg
    assert "pip uninstall -y opencv-python-headless opencv-python" in msg
    assert "pip install opencv-python" in msg
    assert "--headless" in msg and "serve" in msg


def test_webcam_command_exits_2_before_any_slow_work(headless_cv2, monkeypatch, capsys) -> None:
    import stylize_video

    monkeypatch.setattr(
        "realtime.jobs.assembly.build_stylizer",
        lambda *a, **k: pytest.fail("the model was loaded before the window check"),
    )
    assert stylize_video.main(["webcam", "--source", "testpattern"]) == 2
    err = capsys.readouterr().err.strip()
    assert "opencv-python-headless" in err and len(err.splitlines()) == 1


def test_a_gui_build_passes() -> None:
    from realtime.sinks.window import gui_problem

    assert gui_problem("  GUI:                           QT5\n") is None
    assert "built without a GUI" in gui_problem("  GUI: NONE\n")
