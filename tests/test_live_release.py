"""A live source releases its device on the grab thread's way out, never under a running
read, and shutdown errors are logged (issue 15, item 17). A fake camera, no webcam."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest


class StuckCamera:
    """cv2.VideoCapture stand-in whose second read blocks until `unblock` is set; it
    records whether release() ever ran during a read and on which thread."""

    def __init__(self, device, api=None) -> None:
        self.reads = 0
        self.reading = False
        self.unblock = threading.Event()
        self.in_read = threading.Event()
        self.released_during_read = False
        self.released_by: list[str] = []
        self.release_error: Exception | None = None
        StuckCamera.last = self

    def isOpened(self) -> bool:
        return True

    def set(self, prop, value) -> bool:
        return True

    def get(self, prop) -> float:
        return 30.0

    def read(self):
        self.reading = True
        self.reads += 1
        if self.reads > 2:  # the first read is the open check, the second a frame
            self.in_read.set()
            self.unblock.wait(30)
        self.reading = False
        return True, np.zeros((8, 8, 3), np.uint8)

    def release(self) -> None:
        self.released_during_read |= self.reading
        self.released_by.append(threading.current_thread().name)
        if self.release_error is not None:
            raise self.release_error


@pytest.fixture
def stuck_camera(monkeypatch):
    import cv2

    monkeypatch.setattr(cv2, "VideoCapture", StuckCamera)
    return StuckCamera


def test_close_never_releases_under_a_running_read(stuck_camera, caplog) -> None:
    from realtime.sources.webcam import WebcamSource

    cam = WebcamSource(0)
    cam.join_timeout = 0.2
    it = iter(cam)
    next(it)
    cap = stuck_camera.last
    assert cap.in_read.wait(10)  # the grab thread is now stuck inside read()
    with caplog.at_level(logging.WARNING):
        cam.close()
    assert cap.released_by == [] and not cap.released_during_read
    assert "still inside a read" in caplog.text
    cap.unblock.set()  # the read returns: the thread leaves and releases the device
    cam._thread.join(10)
    assert not cam._thread.is_alive()
    assert cap.released_by == ["camera 0-grab"] and not cap.released_during_read


def test_a_source_closed_before_it_started_is_released_once(stuck_camera) -> None:
    from realtime.sources.webcam import WebcamSource

    cam = WebcamSource(0)
    cam.close()
    cam.close()
    assert stuck_camera.last.released_by == [threading.current_thread().name]


@pytest.mark.parametrize("started", [False, True])
def test_an_error_while_releasing_is_logged_not_raised_or_hidden(
    stuck_camera, caplog, started
) -> None:
    from realtime.sources.webcam import WebcamSource

    cam = WebcamSource(0)
    cap = stuck_camera.last
    cap.release_error = RuntimeError("driver said no")
    cap.unblock.set()
    with caplog.at_level(logging.ERROR):
        if started:
            next(iter(cam))
        cam.close()
    assert "camera 0: releasing the device failed" in caplog.text
    assert "driver said no" in caplog.text
