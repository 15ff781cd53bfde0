"""Webcam source (OpenCV): a device index or path, newest frame only."""

from __future__ import annotations

import glob
import logging
import sys

import numpy as np

from models.errors import UserError
from realtime.bgr import bgr_to_rgb
from realtime.sources.live import LiveSource

log = logging.getLogger(__name__)


def _backends() -> list[tuple[str, int]]:
    import cv2

    if sys.platform.startswith("linux"):
        return [("V4L2", cv2.CAP_V4L2), ("any", cv2.CAP_ANY)]
    if sys.platform == "darwin":
        return [("AVFoundation", cv2.CAP_AVFOUNDATION), ("any", cv2.CAP_ANY)]
    return [("DirectShow", cv2.CAP_DSHOW), ("MSMF", cv2.CAP_MSMF), ("any", cv2.CAP_ANY)]


class WebcamSource(LiveSource):
    """Frames from a camera. `device` is an index (0, 1, ...) or a path (/dev/video2).

    Opening tries each capture backend in turn and reads one frame to prove the camera
    delivers; on failure a UserError names the device, the backends tried and the
    cameras present."""

    def __init__(
        self,
        device: int | str = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
    ) -> None:
        super().__init__()
        import cv2

        self.device = int(device) if isinstance(device, str) and device.isdigit() else device
        self.name = f"camera {self.device}"
        tried = []
        self._cap = None
        first = None
        for label, api in _backends():
            cap = cv2.VideoCapture(self.device, api)
            if cap is not None and cap.isOpened():
                if width:
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                if height:
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
                if fps:
                    cap.set(cv2.CAP_PROP_FPS, fps)
                ok, bgr = cap.read()
                if ok and bgr is not None:
                    self._cap, first = cap, bgr
                    break
                tried.append(f"{label}: opened but gave no frame")
            else:
                tried.append(f"{label}: could not open")
            if cap is not None:
                cap.release()
        if self._cap is None:
            present = sorted(glob.glob("/dev/video*")) or ["none found"]
            raise UserError(
                f"camera {self.device}: cannot capture ({'; '.join(tried)}); cameras present: "
                f"{', '.join(present)}. Check it is plugged in and not used by another "
                "program, pick another with --camera N, or try --source testpattern"
            )
        self.height, self.width = first.shape[:2]
        reported = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(reported) if reported and reported > 0 else (fps or 30.0)
        if width and height and (self.width, self.height) != (width, height):
            log.warning(
                "%s: asked for %dx%d, the camera gives %dx%d",
                self.name,
                width,
                height,
                self.width,
                self.height,
            )

    def _grab(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            log.warning("%s: stopped delivering frames", self.name)
            return None
        return bgr_to_rgb(bgr)

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
