"""Video file source: the bundled ffmpeg decodes, a thread fills a bounded queue.

Why ffmpeg and not cv2.VideoCapture: ffmpeg autorotates phone videos, converts 10-bit
and any pixel format to RGB24 in one step, and with `-fps_mode passthrough` hands over
every decoded frame exactly once together with its true timestamp (written per frame by
`-stats_enc_pre` to a separate pipe), so variable-frame-rate files keep their timing.
cv2 rounds timestamps through CAP_PROP_POS_MSEC and cannot report the time base.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from models.errors import UserError
from realtime.ffmpeg import MediaInfo, ffmpeg_exe, parse_rate, popen, probe
from realtime.frame import Frame
from realtime.sources.base import Source
from realtime.validate import finite_time

log = logging.getLogger(__name__)

_END = object()


def fit_long_side(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """Size with the long side set to `long_side`, aspect kept (None: unchanged)."""
    if not long_side or long_side == max(width, height):
        return width, height
    if long_side < 2:
        raise UserError(f"--size {long_side}: give a long side of at least 2 pixels")
    s = long_side / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def _video_duration(path: str, info: MediaInfo) -> float | None:
    """The video stream's own length. `ffmpeg -i` prints only the longest stream's, and
    audio often runs longer; OpenCV reads the container's frame count."""
    if "://" not in path and info.fps:
        import cv2

        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        try:
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT) if cap.isOpened() else 0
        finally:
            cap.release()
        if count and count > 0:
            return count / info.fps
    return info.duration


class VideoFileSource(Source):
    """Frames of a video file in decode order, never dropped.

    Frame.pts is seconds on the file's timeline as ffmpeg normalises it (the file starts
    at 0), minus `start`. `audio_origin` is the file position of pts 0, so a writer that
    seeks the audio to `audio_origin + first_frame.pts` is in sync.
    """

    live = False

    def __init__(
        self,
        path: str,
        *,
        start: float | None = None,
        end: float | None = None,
        size: int | None = None,
        queue_size: int = 2,
    ) -> None:
        start = finite_time("--start", start)  # NaN passes every comparison below
        end = finite_time("--end", end)
        self.path = str(path)
        self.name = os.path.basename(self.path)
        self.info: MediaInfo = probe(self.path)
        info = self.info
        if start is not None and start < 0:
            raise UserError(f"--start {start}: give a time of 0 s or more")
        if end is not None and end <= (start or 0):
            raise UserError(f"--end {end}: must be after --start ({start or 0})")
        self.start = float(start or 0.0)
        self.end = end
        self.rotation = info.rotation
        self.has_audio = info.has_audio
        self.fps = info.fps
        self.width, self.height = fit_long_side(*info.display_size, size)
        total = _video_duration(self.path, info)
        if start and total and start >= total:
            raise UserError(
                f"--start {start}: the video in {self.path} is only {total:.2f} s long; "
                "give an earlier start"
            )
        # the count is exact for a constant rate, or the whole of a variable-rate file
        self._count_exact = not info.is_vfr or (
            not self.start and (end is None or (total is not None and end >= total))
        )
        if total is not None:
            total = min(total, end) if end is not None else total
            total = max(0.0, total - self.start)
        self.duration = total
        self.frame_count = round(total * self.fps) if total and self.fps else None
        # frames the header announced, when decoding ended clearly short of them (a
        # truncated file): set at the end of the stream for the job to report
        self.ended_early: int | None = None
        self.audio_origin = self.start
        self.time_base: Fraction | None = None  # known once the first frame arrives
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._proc = None
        self._threads: list[threading.Thread] = []
        self._stderr: deque[str] = deque(maxlen=40)
        self._started = False
        if info.bit_depth > 8:
            log.warning(
                "%s: %d-bit video (%s) is converted to 8-bit RGB for stylizing",
                self.path,
                info.bit_depth,
                info.pix_fmt,
            )

    # -- ffmpeg ---------------------------------------------------------------------
    def command(self, stats_fd: int) -> list[str]:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
        if self.start:
            cmd += ["-ss", f"{self.start:.6f}"]
        if self.end is not None:
            cmd += ["-t", f"{self.end - self.start:.6f}"]
        cmd += ["-i", self.path, "-map", "0:v:0", "-an", "-sn", "-dn"]
        if (self.width, self.height) != self.info.display_size:
            down = self.width * self.height < self.info.width * self.info.height
            flags = "area" if down else "bicubic"
            cmd += ["-vf", f"scale={self.width}:{self.height}:flags={flags}"]
        cmd += [
            "-fps_mode",
            "passthrough",  # every decoded frame once, with its own timestamp
            "-enc_time_base:v",
            "demux",  # keep the file's time base: no rounding of timestamps
            "-stats_enc_pre",
            f"pipe:{stats_fd}",
            "-stats_enc_pre_fmt",
            "{n} {tb} {pts}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ]
        return cmd

    def _start(self) -> None:
        self._started = True
        r, w = os.pipe()
        try:
            self._proc = popen(
                self.command(w),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                pass_fds=(w,),
            )
        finally:
            os.close(w)
        stats = os.fdopen(r, "r", encoding="ascii", errors="replace")
        t_err = threading.Thread(target=self._drain_stderr, name="video-src-stderr", daemon=True)
        t_read = threading.Thread(
            target=self._read, args=(stats,), name="video-src-reader", daemon=True
        )
        self._threads = [t_err, t_read]
        t_err.start()
        t_read.start()

    def _drain_stderr(self) -> None:
        for line in iter(self._proc.stderr.readline, b""):
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self, stats) -> None:
        nbytes = self.width * self.height * 3
        fps = self.fps or 25.0
        index = 0
        result: object = _END
        try:
            out = self._proc.stdout
            while not self._stop.is_set():
                image = np.empty((self.height, self.width, 3), np.uint8)
                view = memoryview(image).cast("B")
                got = 0
                while got < nbytes:
                    n = out.readinto(view[got:])
                    if not n:
                        break
                    got += n
                if got < nbytes:
                    if got:
                        log.warning(
                            "%s: the stream ended inside frame %d; that partial frame was left out",
                            self.path,
                            index,
                        )
                    break
                pts = index / fps
                parts = stats.readline().split()
                if len(parts) == 3:
                    tb = parse_rate(parts[1])
                    if tb is not None:
                        self.time_base = self.time_base or tb
                        pts = int(parts[2]) * float(tb)
                if not self._put(Frame(image=image, pts=pts, index=index)):
                    return
                index += 1
            if self._stop.is_set():
                return
            rc = self._proc.wait()
            for t in self._threads[:1]:
                t.join(timeout=5)
            why = self._stderr[-1] if self._stderr else "no message"
            expected = self.frame_count or 0
            if self._count_exact and index and index < expected - max(2, 0.02 * expected):
                self.ended_early = expected
            if index == 0:
                result = UserError(
                    f"{self.path}: no video frames could be decoded ({why}); "
                    "the file is empty or damaged"
                )
            elif rc != 0:
                log.warning(
                    "%s: decoding stopped after %d frames (%s); the rest is left out",
                    self.path,
                    index,
                    why,
                )
        except BaseException as e:  # hand any failure to the consuming thread
            result = e
        finally:
            stats.close()
            self._put(result)

    # -- public ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise RuntimeError("a VideoFileSource can be iterated once")
        self._start()
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()  # we only read from it: nothing to finalize
        # unblock a reader stuck on a full queue
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for t in self._threads:
            t.join(timeout=10)
        if proc is not None:
            proc.wait()
            for f in (proc.stdout, proc.stderr):
                if f:
                    f.close()
