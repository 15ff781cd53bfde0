"""H.264 video file writer: frames go to the bundled ffmpeg, the source's audio is muxed in.

How it works, and why:
1. Frames are piped to ffmpeg as a Matroska stream (realtime/sinks/_mkv.py) so each keeps
   its own timestamp and duration: constant-rate sources come out at exactly their rate
   and time base (`-enc_time_base`), variable-rate ones keep their timing, live
   recordings get wall-clock timing (1/90000 time base). libx264, yuv420p. The encode
   goes to a NUT file next to the output: NUT keeps any time base and is readable up to
   the last complete packet even if the process is killed.
2. On close, ffmpeg's stdin is closed (it flushes the encoder), then one stream-copy pass
   muxes that video with the source's audio, cut to the video's duration (`-t` on the
   audio input, so audio longer than the video is trimmed and audio shorter than it is
   not stretched), into a temp file that is renamed over the output. Audio is copied
   when the container takes the codec and the audio starts at the file's start, else
   encoded to AAC (a copy cannot start between the packets of a seek). An interrupted run goes
   through the same close, so the output holds every frame written and matching audio.
3. Odd sizes: yuv420p needs even width and height, and H.264's crop window moves in
   2-pixel steps in 4:2:0, so an odd frame gets one replicated column/row on the right/
   bottom edge. The picture is never shifted, scaled or cropped; the file is at most one
   pixel larger.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from models.atomic import part_file
from models.errors import UserError
from realtime.ffmpeg import FfmpegError, ffmpeg_exe, popen, stop_process
from realtime.frame import Frame
from realtime.sinks._mkv import (
    TICKS_PER_SECOND,
    frame_block,
    frame_duration,
    stream_header,
    ticks_after,
)
from realtime.sinks.base import Sink
from realtime.validate import prepare_output_folder, refuse_stdout

log = logging.getLogger(__name__)

MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# audio codecs each container takes as-is (anything else becomes AAC)
_COPYABLE = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"},
    "matroska": None,  # Matroska takes everything ffmpeg decodes
}


@contextlib.contextmanager
def _first_signal_held(path: Path):
    """While the file is finished, hold the first SIGINT/SIGTERM (main thread only) and
    raise KeyboardInterrupt once the block is done; a second one raises at once, so the
    caller kills ffmpeg and stops without the file (imageio-ffmpeg's stop policy). A
    no-op off the main thread, where Python delivers no signals anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def handler(signum: int, _frame) -> None:
        if caught:
            raise KeyboardInterrupt(f"signal {signum} while finishing {path}: stopped")
        caught.append(signum)
        log.warning("finishing %s; interrupt again to stop now without it", path)

    old = {sig: signal.signal(sig, handler) for sig in _HELD}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
    if caught:
        raise KeyboardInterrupt(f"signal {caught[0]} (held until the file was complete)")


_HELD = (signal.SIGINT, signal.SIGTERM)
_SHORT_CLIP = 2  # frames; a clip this short is encoded without B-frames


# What ffmpeg says, or how it ends, when the disk cannot take the file: the cause a user
# can act on. ffmpeg exits with AVERROR(errno) & 0xff (ENOSPC 28 -> 228); a file-size
# limit (ulimit -f) kills it with SIGXFSZ.
_WRITE_FAILURES = (
    ("No space left on device", errno.ENOSPC, "no space left on device"),
    ("Disk quota exceeded", errno.EDQUOT, "disk quota exceeded"),
    ("File too large", errno.EFBIG, "the file is too large for the file system or size limit"),
)


def write_failure(returncode: int | None, stderr: str) -> str | None:
    """Why ffmpeg could not write its output when the cause is the disk (no space, quota,
    a file-size limit), as a phrase for the user; None for any other failure."""
    # SIGXFSZ exists only on POSIX systems: nothing matches elsewhere
    if returncode == -getattr(signal, "SIGXFSZ", 0):
        return "the file-size limit was reached (ulimit -f)"
    for text, code, why in _WRITE_FAILURES:
        if text in stderr or returncode == 256 - code:
            return why
    return None


def _failure(path: Path, cmd: list[str], returncode: int | None, stderr: str) -> Exception:
    """The error to raise for a failed ffmpeg: the user's to fix when the disk is full."""
    why = write_failure(returncode, stderr)
    if why is None:
        return FfmpegError(cmd, returncode, stderr)
    return UserError(f"cannot write {path}: {why}; free some space or choose another -o")


@dataclass(frozen=True)
class AudioTrack:
    """Where the output's audio comes from: `path`'s first audio stream from `start` s."""

    path: str
    start: float = 0.0
    codec: str | None = None


def check_video_output(path: str | Path) -> str:
    """Return the muxer for `path` or raise UserError with the fix."""
    refuse_stdout(path)
    p = Path(path)
    muxer = MUXERS.get(p.suffix.lower())
    if muxer is None:
        raise UserError(
            f"{path}: unsupported video output type '{p.suffix}'; use .mp4, .mov, .m4v or .mkv"
        )
    parent = p.parent if str(p.parent) else Path(".")
    prepare_output_folder(p)  # a missing folder is made, and the user told, as by `image`
    if not os.access(parent, os.W_OK):
        raise UserError(f"{path}: folder {parent} is not writable; choose another output")
    return muxer


class FfmpegVideoWriter(Sink):
    """Sink writing Frames (RGB uint8, pts seconds) to an H.264 file, with audio."""

    # Seconds any one wait on ffmpeg may take while finishing (flushing the encoder, the
    # stream-copy mux of the whole file) before it is killed with a warning: generous,
    # a slow disk copying hours of video still fits.
    stop_timeout: float = 300.0

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float | None = None,
        time_base: Fraction | None = None,
        audio: AudioTrack | None = None,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = str(self.path)
        self.muxer = check_video_output(self.path)
        # An interrupted run never replaces an output that was there before it started:
        # its frames go to NAME.partial.EXT instead (see `target`).
        self._replaces = self.path.exists()
        self.partial_path = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        self.fps = fps
        self.time_base = time_base
        self.audio = audio
        self.crf = crf
        self.preset = preset
        self._encoded = 0
        self._pending: list[Frame] = []
        self.padded = False
        self._first_pts = 0.0
        self._last_pts = 0.0
        self._last_ticks = -1
        self._last_interval: float | None = None
        self._proc: subprocess.Popen | None = None
        self._stderr: deque[str] = deque(maxlen=60)
        self._stderr_thread: threading.Thread | None = None
        self._tmp_video: str | None = None
        self._closed = False
        self.written = False  # True once the output file is in place
        self.kept_old = False  # True when an interrupt left the old output and wrote partial_path

    # -- helpers --------------------------------------------------------------------
    def _tempname(self, suffix: str) -> str:
        # named for this process, so a later run can tell a killed run's leftovers
        try:
            return str(part_file(self.path, suffix))
        except OSError as e:
            raise UserError(
                f"cannot write {self.path}: {e.strerror or e}; choose another -o"
            ) from None

    def encode_command(
        self, width: int, height: int, out: str, *, bframes: bool = True
    ) -> list[str]:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        cmd += ["-f", "matroska", "-i", "pipe:0", "-map", "0:v:0"]
        cmd += ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf)]
        cmd += ["-pix_fmt", "yuv420p", "-fps_mode", "passthrough"]
        if not self.fps or not bframes:
            # Uneven frame times: no B-frames, so pts equal dts and the mp4 needs no edit
            # list (see mux_command), which would hide the last frame. A clip of one or
            # two frames gets none either: with B-frames on, ffmpeg guesses their decode
            # times 1 tick apart and the mp4 comes out 0 s long, unreadable to OpenCV.
            cmd += ["-bf", "0"]
        # the source's time base keeps its timestamps exact; live frames get 1/90000
        tb = self.time_base or Fraction(1, 90000)
        cmd += ["-enc_time_base:v", f"{tb.numerator}/{tb.denominator}"]
        cmd += ["-f", "nut", out]
        return cmd

    def _step(self) -> float:
        """The last frame's duration (s): the frame time, else the last interval."""
        return 1.0 / self.fps if self.fps else (self._last_interval or 1 / 30)

    def video_duration(self) -> float:
        """Seconds from the first frame's start to the last frame's end."""
        if not self._encoded:
            return 0.0
        return self._last_pts - self._first_pts + self._step()

    def mux_command(self, video: str, out: str) -> list[str]:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        cmd += ["-i", video]
        maps = ["-map", "0:v:0"]
        codecs = ["-c:v", "copy"]
        if self._encoded <= _SHORT_CLIP:
            # NUT keeps no packet durations and the muxer guesses the last one from the
            # one before, so a one-frame file had none ("Duration: N/A", unreadable to
            # OpenCV): give each frame the frame time. Only here: on longer clips the
            # filter would lose the mp4's edit list for B-frames.
            fill = f"DURATION+not(DURATION)*round({self._step():.9f}/TB)"
            codecs += ["-bsf:v", f"setts=duration={fill}"]
        if self.audio is not None:
            start = self.audio.start + self._first_pts
            if start > 0:
                cmd += ["-ss", f"{start:.6f}"]
            cmd += ["-t", f"{self.video_duration():.6f}", "-i", self.audio.path]
            maps += ["-map", "1:a:0"]
            copyable = _COPYABLE[self.muxer]
            # A stream copy can only start at a packet the demuxer seeks to (mp4 seeks by
            # the video's keyframes), so a cut start is re-encoded to be sample-exact.
            exact_start_needed = start > 0
            if not exact_start_needed and (
                copyable is None or (self.audio.codec or "") in copyable
            ):
                codecs += ["-c:a", "copy"]
            else:
                codecs += ["-c:a", "aac", "-b:a", "192k"]
        cmd += maps + codecs + ["-map_metadata", "-1"]
        if self.muxer in ("mp4", "mov"):
            cmd += ["-movflags", "+faststart"]
            if not self.fps:
                # The edit list would be cut from the stream's duration without the last
                # frame's, and players would skip that frame; without B-frames (see
                # encode_command) pts equal dts and no edit list is needed.
                cmd += ["-use_editlist", "0"]
        cmd += ["-f", self.muxer, out]
        return cmd

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in iter(self._proc.stderr.readline, b""):
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def _open(self, height: int, width: int, *, bframes: bool = True) -> None:
        self._tmp_video = self._tempname(".nut")
        ew, eh = width + width % 2, height + height % 2
        self.padded = (ew, eh) != (width, height)
        self._cmd = self.encode_command(ew, eh, self._tmp_video, bframes=bframes)
        self._proc = popen(
            self._cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._stderr_thread = threading.Thread(
            target=self._drain, name="video-writer-stderr", daemon=True
        )
        self._stderr_thread.start()
        self._send(stream_header(ew, eh))

    def _send(self, data) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, ValueError):
            self._wait(self._proc, "encoding")
            if self._stderr_thread:
                self._stderr_thread.join(timeout=5)
            stderr = "\n".join(self._stderr)
            raise _failure(self.path, self._cmd, self._proc.returncode, stderr) from None

    # -- sink API -------------------------------------------------------------------
    @property
    def frames(self) -> int:
        """Frames accepted so far."""
        return self._encoded + len(self._pending)

    def write(self, frame: Frame) -> None:
        if self._closed:
            raise RuntimeError(f"{self.path}: writer is closed")
        image = frame.image
        if self.check_frame(frame):
            self._first_pts = frame.pts
        if self._proc is None:
            # The encoder starts at the third frame: a clip that ends sooner is encoded
            # without B-frames (see encode_command). A copy: the caller may reuse the array.
            self._pending.append(Frame(image.copy(), frame.pts, frame.index))
            if len(self._pending) == _SHORT_CLIP + 1:
                self._start(bframes=True)
            return
        self._encode(frame)

    def _start(self, *, bframes: bool) -> None:
        assert self._shape is not None
        self._open(self._shape[0], self._shape[1], bframes=bframes)
        pending, self._pending = self._pending, []
        for f in pending:
            self._encode(f)

    def _encode(self, frame: Frame) -> None:
        image = frame.image
        if self.padded:
            h, w = image.shape[:2]
            image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        ticks = ticks_after(frame.pts, self._first_pts, self._last_ticks)
        if self._encoded:
            self._send(frame_duration(ticks - self._last_ticks))  # closes the previous frame
            self._last_interval = frame.pts - self._last_pts
        self._last_ticks = ticks
        self._last_pts = frame.pts
        for part in frame_block(ticks, image):
            self._send(part)
        self._encoded += 1

    def close(self) -> None:
        """Finish the file: flush the encoder, mux the audio, rename into place.

        A first Ctrl-C or SIGTERM during this step is held until the file is in place and
        then raised, so an interrupt never throws away the work done; a second one kills
        ffmpeg and raises at once, leaving no file. Each wait on ffmpeg is bounded by
        `stop_timeout` seconds, after which it is killed with a warning."""
        if self._closed:
            return
        with _first_signal_held(self.path):
            self._finish()

    def _finish(self) -> None:
        self._closed = True
        final_tmp = None
        try:
            if self._pending:
                self._start(bframes=False)  # a clip of one or two frames
            if self._proc is None:
                return  # nothing was written: leave no file
            with contextlib.suppress(BrokenPipeError, FfmpegError):
                self._send(frame_duration(round(self._step() * TICKS_PER_SECOND)))
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
            rc = self._wait(self._proc, "encoding")
            if self._stderr_thread:
                self._stderr_thread.join(timeout=5)
            if rc != 0:
                raise _failure(self.path, self._cmd, rc, "\n".join(self._stderr))
            final_tmp = self._tempname(self.path.suffix)
            cmd = self.mux_command(self._tmp_video, final_tmp)
            mux = popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                try:
                    _, err = mux.communicate(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self._warn_stuck("muxing")
                    mux.kill()
                    _, err = mux.communicate()
            except BaseException:  # a second interrupt: stop now
                mux.kill()
                mux.wait()
                raise
            if mux.returncode != 0:
                raise _failure(self.path, cmd, mux.returncode, err.decode("utf-8", "replace"))
            os.replace(final_tmp, self.target)
            final_tmp = None
            self.written = True
            self.kept_old = self.target != self.path
        finally:
            self._cleanup(final_tmp)

    @property
    def target(self) -> Path:
        """Where close puts the file: the output, or beside it when this run was
        interrupted and an output was there before it started."""
        return self.partial_path if self.interrupted and self._replaces else self.path

    def _warn_stuck(self, what: str) -> None:
        log.warning(
            "%s: ffmpeg did not finish %s within %.0f s; stopping it",
            self.path,
            what,
            self.stop_timeout,
        )

    def _wait(self, proc: subprocess.Popen, what: str) -> int:
        """Wait for `proc`, at most `stop_timeout` s; then warn and kill it."""
        return stop_process(proc, self.stop_timeout, on_timeout=lambda: self._warn_stuck(what))

    def abort(self) -> None:
        """Stop without producing an output file."""
        self._closed = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._cleanup(None)

    def open(self, time_base: Fraction | None) -> None:
        """The source's time base, when known, keeps its timestamps exact."""
        self.time_base = self.time_base or time_base

    def summary(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "written": self.written,
            **({"partial_output": str(self.partial_path)} if self.kept_old else {}),
            "duration": round(self.video_duration(), 3),
            "audio": self.audio is not None,
            "padded_to_even": self.padded,
        }

    def _cleanup(self, final_tmp: str | None) -> None:
        if self._proc is not None:
            stop_process(self._proc, 0)
            if self._stderr_thread:
                self._stderr_thread.join(timeout=5)
            if self._proc.stderr:
                self._proc.stderr.close()
        for name in (self._tmp_video, final_tmp):
            if name:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
