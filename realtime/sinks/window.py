"""OpenCV window sink with a HUD and a help overlay.

opencv-python's Qt GUI aborts the whole process (a Qt fatal error, not an exception)
when there is no display, and a GUI-less build (opencv-python-headless, which many vision
packages pull in and whose `cv2` then wins over opencv-python's) raises "The function is
not implemented" at the first window; `require_display()` checks both first and raises a
UserError that says what to do."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.errors import UserError
from realtime.bgr import rgb_to_bgr
from realtime.frame import Frame
from realtime.sinks.base import Sink

HELP_LINES = (
    "n / p\tnext / previous style",
    "+ / -\tstrength up / down",
    "c\tpreserve colour on/off",
    "space\tside by side original | stylized",
    "m\tmirror",
    "s\tsnapshot PNG",
    "r\tstart / stop recording MP4",
    "f\tfullscreen",
    "h\tthis help",
    "q / Esc\tquit",
)


_HEADLESS_DISTS = ("opencv-python-headless", "opencv-contrib-python-headless")


def _installed(names: Sequence[str]) -> list[str]:
    from importlib import metadata

    found = []
    for name in names:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def gui_problem(build_information: str | None = None) -> str | None:
    """Why this OpenCV cannot open windows (built without a GUI), with the fix; else None."""
    if build_information is None:
        import cv2

        build_information = cv2.getBuildInformation()
    m = re.search(r"^\s*GUI:\s*(\S+)", build_information, re.MULTILINE)
    if m is None or m.group(1).upper() != "NONE":
        return None
    headless = _installed(_HEADLESS_DISTS)
    gui = _installed(("opencv-python", "opencv-contrib-python")) or ["opencv-python"]
    if headless:
        # both share the cv2 folder: removing one breaks the other, so reinstall
        fix = f"pip uninstall -y {' '.join(headless + gui)} && pip install {gui[0]}"
        what = f"the installed OpenCV has no GUI ({', '.join(headless)} provides cv2)"
    else:
        fix = f"pip install --force-reinstall {gui[0]}"
        what = "the installed OpenCV was built without a GUI"
    return f"{what}; fix: {fix}"


def display_problem() -> str | None:
    """Why a window cannot open here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY", "")
    if not display:
        if os.environ.get("WAYLAND_DISPLAY"):
            return "only Wayland is available and OpenCV's window needs X11 (XWayland); set DISPLAY"
        return "no display (DISPLAY is not set)"
    m = re.fullmatch(r"(unix)?:(\d+)(\.\d+)?", display)
    if m and not Path(f"/tmp/.X11-unix/X{m.group(2)}").exists():
        return f"DISPLAY={display} but no X server listens on it"
    return None


def require_display() -> None:
    problem = gui_problem()
    if problem:
        raise UserError(
            f"cannot open a window: {problem}; or run with --headless (add -o out.mp4 to "
            "record) or use `stylize-video serve` to watch in a browser"
        )
    problem = display_problem()
    if problem:
        raise UserError(
            f"cannot open a window: {problem}; run with --headless (add -o out.mp4 to "
            "record), or under a virtual display: xvfb-run -a stylize-video webcam ..."
        )


def draw_text_block(
    image_bgr: np.ndarray, lines: Sequence[str], origin: tuple[int, int] = (8, 8)
) -> None:
    """White text on a translucent dark box, in place; scales with the frame height."""
    import cv2

    if not lines:
        return
    h = image_bgr.shape[0]
    scale = min(0.8, max(0.35, h / 900))
    thick = 1
    font = cv2.FONT_HERSHEY_SIMPLEX
    (_, th), base = cv2.getTextSize("Ag", font, scale, thick)
    step = th + base + 4
    # "key\tdescription" lines get a second column, aligned
    cells = [line.split("\t", 1) for line in lines]
    key_w = max(
        (cv2.getTextSize(c[0], font, scale, thick)[0][0] for c in cells if len(c) == 2), default=0
    )
    col2 = key_w + 12 if key_w else 0

    def width(c: list[str]) -> int:
        if len(c) == 2:
            return col2 + cv2.getTextSize(c[1], font, scale, thick)[0][0]
        return cv2.getTextSize(c[0], font, scale, thick)[0][0]

    x0, y0 = origin
    x1 = min(image_bgr.shape[1], x0 + max(width(c) for c in cells) + 12)
    y1 = min(h, y0 + step * len(lines) + 8)
    roi = image_bgr[y0:y1, x0:x1]
    roi[:] = (roi.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken for contrast
    for i, c in enumerate(cells):
        y = y0 + 4 + th + i * step
        for j, text in enumerate(c):
            x = x0 + 6 + (col2 if j else 0)
            cv2.putText(image_bgr, text, (x, y), font, scale, (255, 255, 255), thick, cv2.LINE_AA)


class WindowSink(Sink):
    fixed_size = False  # side by side doubles the width
    """Shows RGB frames in a resizable window. `write()` displays; `poll_key()` pumps the
    GUI and returns the key pressed (or None); `is_open()` turns False when the user
    closes the window."""

    def __init__(self, title: str = "stylize-video", *, fullscreen: bool = False) -> None:
        super().__init__()
        require_display()
        import cv2

        self.title = self.name = title
        # no Qt toolbar: the keys are the interface
        cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        self._shown_size: tuple[int, int] | None = None
        self.fullscreen = False
        if fullscreen:
            self.toggle_fullscreen()
        self.hud: list[str] = []
        self.overlay: list[str] = []
        self._closed = False

    def write(self, frame: Frame) -> None:
        import cv2

        self.check_frame(frame)
        bgr = rgb_to_bgr(frame.image)
        draw_text_block(bgr, self.hud)
        if self.overlay:
            draw_text_block(bgr, self.overlay, (8, bgr.shape[0] // 3))
        cv2.imshow(self.title, bgr)
        size = (bgr.shape[1], bgr.shape[0])
        if size != self._shown_size and not self.fullscreen:
            cv2.resizeWindow(self.title, *size)  # 1:1 at first, and after side-by-side
            self._shown_size = size
        self.frames += 1

    def poll_key(self, wait_ms: int = 1) -> int | None:
        import cv2

        k = cv2.waitKey(wait_ms)
        return None if k < 0 else k & 0xFF

    def is_open(self) -> bool:
        import cv2

        if self._closed:
            return False
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return False

    def toggle_fullscreen(self) -> None:
        import cv2

        self.fullscreen = not self.fullscreen
        mode = cv2.WINDOW_FULLSCREEN if self.fullscreen else cv2.WINDOW_NORMAL
        cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, mode)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        import cv2

        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass
