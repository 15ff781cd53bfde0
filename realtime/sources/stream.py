"""Network stream source (rtsp/http/udp/rtmp/srt URL via OpenCV's FFmpeg backend).

Live: newest frame only. When the stream drops it reconnects with exponential backoff
(0.5 s, 1 s, 2 s ... capped) and gives up after `max_retries` failed attempts in a row."""

from __future__ import annotations

import logging
import re

import numpy as np

from models.errors import UserError
from realtime.bgr import bgr_to_rgb
from realtime.sources.live import LiveSource

log = logging.getLogger(__name__)

_URL = re.compile(r"^(rtsp|rtsps|rtmp|rtmps|http|https|udp|tcp|srt|rtp)://", re.IGNORECASE)


def is_url(spec: str) -> bool:
    return bool(_URL.match(spec))


def _redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)  # never print credentials


class NetworkStreamSource(LiveSource):
    def __init__(
        self,
        url: str,
        *,
        max_retries: int = 6,
        first_delay: float = 0.5,
        max_delay: float = 8.0,
    ) -> None:
        super().__init__()
        if not is_url(url):
            raise UserError(f"{url}: not a stream URL; use rtsp://, http(s)://, udp://, srt://")
        self.url = url
        self.name = _redact(url)
        self.max_retries = max_retries
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.reconnects = 0
        self._cap = self._connect()
        if self._cap is None:
            raise UserError(
                f"{self.name}: cannot open the stream; check the URL and that the sender runs"
            )
        import cv2

        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None

    def _connect(self):
        import cv2

        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG)
        if cap is not None and cap.isOpened():
            return cap
        if cap is not None:
            cap.release()
        return None

    def _grab(self) -> np.ndarray | None:
        ok, bgr = self._cap.read() if self._cap is not None else (False, None)
        if ok and bgr is not None:
            return bgr_to_rgb(bgr)
        delay = self.first_delay
        for attempt in range(1, self.max_retries + 1):
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            log.warning("%s: stream dropped; reconnecting in %.1f s", self.name, delay)
            if self._stop.wait(delay):
                return None
            self._cap = self._connect()
            if self._cap is not None:
                ok, bgr = self._cap.read()
                if ok and bgr is not None:
                    self.reconnects += 1
                    return bgr_to_rgb(bgr)
            delay = min(delay * 2, self.max_delay)
            if attempt == self.max_retries:
                log.warning("%s: gave up after %d attempts", self.name, attempt)
        return None

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
