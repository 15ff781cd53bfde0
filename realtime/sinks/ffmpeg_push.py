"""Push the stylized stream with the bundled ffmpeg: RTMP (FLV), SRT and UDP (MPEG-TS),
or HLS (a playlist and its segments in a folder).

- H.264 for low latency: libx264 `-preset veryfast -tune zerolatency`, constant frame
  rate, a keyframe every `gop_seconds` (so HLS segments and late joiners start soon),
  capped bitrate. Frames reach ffmpeg through the timestamped Matroska pipe the file
  writer uses (realtime/sinks/_mkv.py).
- Audio: the source file's audio track when it has one (seeked to the first pushed
  frame's position in the file, read in real time), AAC.
- `write()` never blocks the pipeline: a one-frame slot feeds a sender thread (a newer
  frame replaces one not yet sent, counted in `dropped`). `block=True` waits instead
  (tests, offline pushes).
- When ffmpeg exits (the receiver went away, refused the connection, the network
  broke) or stops taking frames for `stall_timeout` s, the sink says so, waits
  (1 s, 2 s, 4 s ... up to `max_delay`) and starts it again; frames meanwhile are
  dropped and counted. It never raises into the capture loop for that. UDP is
  connectionless: a vanished receiver is not noticed (and costs nothing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import realtime.sinks._mkv as _mkv
from models.errors import UserError
from realtime.ffmpeg import ffmpeg_exe, popen, stop_process
from realtime.frame import Frame
from realtime.sinks.base import Sink
from realtime.sinks.ffmpeg_writer import AudioTrack

log = logging.getLogger(__name__)

_FORMATS = {"rtmp": "flv", "rtmps": "flv", "srt": "mpegts", "udp": "mpegts"}


def _redact(url: str) -> str:
    url = re.sub(r"//[^/@]*@", "//***@", url)
    # RTMP stream keys and SRT passphrases are secrets too
    url = re.sub(r"(passphrase|streamid|key)=[^&]*", r"\1=***", url, flags=re.IGNORECASE)
    if url.lower().startswith("rtmp"):
        parts = url.split("/")
        if len(parts) > 4:
            url = "/".join([*parts[:4], "***"])
    return url


@dataclass(frozen=True)
class PushTarget:
    """Where to push: `kind` rtmp | srt | udp | hls; `muxer` the ffmpeg format."""

    url: str
    kind: str
    muxer: str

    @property
    def display(self) -> str:
        return _redact(self.url)


def is_push_target(spec: str) -> bool:
    """A URL or an HLS playlist: what `parse_target` takes (or refuses with the fix)."""
    return "://" in spec or Path(spec).suffix.lower() == ".m3u8"


def parse_target(to: str) -> PushTarget:
    """Validate `--to` (UserError with the fix)."""
    scheme = urlsplit(to).scheme.lower() if "://" in to else ""
    if scheme in _FORMATS:
        parts = urlsplit(to)
        if not parts.hostname or (not parts.port and scheme in ("srt", "udp")):
            raise UserError(f"--to {_redact(to)}: give a host and port, e.g. {scheme}://HOST:PORT")
        url = to
        if scheme == "udp" and "pkt_size" not in to:  # whole TS packets per datagram
            url += ("&" if "?" in to else "?") + "pkt_size=1316"
        return PushTarget(url, "rtmp" if scheme.startswith("rtmp") else scheme, _FORMATS[scheme])
    if scheme:
        raise UserError(
            f"--to {_redact(to)}: '{scheme}://' is not supported; use rtmp://, srt://, udp:// "
            "or a path ending in .m3u8 (HLS)"
        )
    p = Path(to)
    if p.suffix.lower() != ".m3u8":
        raise UserError(
            f"--to {to}: give rtmp://, srt:// or udp:// URL, or an HLS playlist path ending "
            "in .m3u8 (segments go next to it); to record a file use `stylize-video webcam -o`"
        )
    folder = p.parent if str(p.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--to {to}: cannot create folder {folder} ({e.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise UserError(f"--to {to}: folder {folder} is not writable; choose another path")
    return PushTarget(str(p), "hls", "hls")


class FfmpegPushSink(Sink):
    """Sink (`write`/`close`, context manager) pushing Frames to a PushTarget."""

    def __init__(
        self,
        to: str | PushTarget,
        *,
        fps: float | None = None,
        audio: AudioTrack | None = None,
        audio_time: Callable[[float], float | None] | None = None,
        bitrate_k: int = 2500,
        gop_seconds: float = 1.0,
        preset: str = "veryfast",
        hls_time: float = 2.0,
        hls_list_size: int = 6,
        block: bool = False,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        stall_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.target = to if isinstance(to, PushTarget) else parse_target(to)
        self.name = self.target.display
        self.fps = float(fps) if fps and 0 < fps <= 240 else 30.0
        self.audio = audio
        self.audio_time = audio_time  # live pts -> file position of that frame
        self.bitrate_k = bitrate_k
        self.gop_seconds = gop_seconds
        self.preset = preset
        self.hls_time = hls_time
        self.hls_list_size = hls_list_size
        self.block = block
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stall_timeout = stall_timeout
        # counters (read from any thread)
        self._replaced = 0  # a newer frame came before the sender took this one
        self._skipped = 0  # arrived while waiting to reconnect
        self.starts = 0  # ffmpeg processes started
        self.failures = 0  # ffmpeg exits we did not ask for
        self.state = "idle"  # idle | streaming | retrying | closed
        self.last_error = ""
        self._cond = threading.Condition()
        self._slot: deque[Frame] = deque()
        self._closing = False
        self._proc: subprocess.Popen | None = None
        self._stderr: deque[str] = deque(maxlen=30)
        self._stderr_thread: threading.Thread | None = None
        self._write_since: float | None = None  # when a pipe write began (stall watch)
        self._thread = threading.Thread(target=self._send_loop, name="push-sender", daemon=True)
        self._thread.start()

    # -- command -----------------------------------------------------------------------
    def command(self, width: int, height: int, *, audio_start: float | None, restart: bool):
        """The ffmpeg command line for one connection (as a list)."""
        gop = max(1, round(self.fps * self.gop_seconds))
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
        # the pipe's header says everything: no probing, so the first frame goes out now
        # (not `-fflags nobuffer`: it throws away the frame read while probing)
        cmd += ["-probesize", "32768", "-analyzeduration", "0"]
        cmd += ["-f", "matroska", "-i", "pipe:0"]
        has_audio = self.audio is not None and audio_start is not None
        if has_audio:
            cmd += ["-re", "-ss", f"{max(0.0, audio_start):.3f}", "-i", self.audio.path]
        cmd += ["-map", "0:v:0"] + (["-map", "1:a:0"] if has_audio else [])
        cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-fps_mode", "cfr", "-r", f"{self.fps:g}"]
        cmd += ["-c:v", "libx264", "-preset", self.preset, "-tune", "zerolatency"]
        cmd += ["-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop)]
        cmd += ["-sc_threshold", "0", "-b:v", f"{self.bitrate_k}k"]
        cmd += ["-maxrate", f"{self.bitrate_k}k", "-bufsize", f"{2 * self.bitrate_k}k"]
        if has_audio:
            cmd += ["-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2"]
            # End with the video: the audio was read in real time to its end, so a stream
            # stopped early (--duration) waited for it and was killed unfinished (no
            # #EXT-X-ENDLIST, the last segment lost). Silence pads audio shorter than the
            # video, which -shortest would otherwise cut.
            cmd += ["-af", "apad", "-shortest"]
        t = self.target
        if t.kind == "hls":
            p = Path(t.url)
            flags = "independent_segments+temp_file"
            if self.hls_list_size > 0:
                flags += "+delete_segments"
            if restart:
                flags += "+append_list+discont_start"  # continue the playlist, not overwrite
            cmd += ["-f", "hls", "-hls_time", f"{self.hls_time:g}"]
            cmd += ["-hls_list_size", str(self.hls_list_size), "-hls_flags", flags]
            cmd += ["-hls_segment_filename", str(p.with_name(p.stem + "_%05d.ts")), str(p)]
        else:
            cmd += ["-flush_packets", "1", "-f", t.muxer, t.url]
        return cmd

    @property
    def dropped(self) -> int:
        """Frames never sent: replaced by a newer one, or while waiting to reconnect."""
        with self._cond:
            return self._replaced + self._skipped

    # -- pipeline side -----------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        self.check_frame(frame)
        self._check_stall()
        with self._cond:
            if self._closing:
                raise RuntimeError(f"{self.target.display}: the push sink is closed")
            while self.block and self._slot and not self._closing:
                self._cond.wait(0.1)
                self._check_stall()
            if self._slot:
                self._slot.popleft()
                self._replaced += 1
            self._slot.append(frame)
            self._cond.notify_all()

    def _check_stall(self) -> None:
        """A receiver that accepts the connection but stops reading blocks ffmpeg and then
        our pipe write forever; past `stall_timeout` ffmpeg is killed and retried."""
        since = self._write_since
        if since is not None and time.monotonic() - since > self.stall_timeout:
            self._kill(f"ffmpeg took no frame for {self.stall_timeout:.0f} s")

    def close(self) -> None:
        """Send what is pending, let ffmpeg finish (HLS writes its end tag), join."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=self.stall_timeout + 5)
        if self._thread.is_alive():  # ffmpeg is stuck on the network: stop it
            self._kill("closing")
            self._thread.join()
        self.state = "closed"

    # -- sender thread -----------------------------------------------------------------
    def _take(self) -> Frame | None:
        with self._cond:
            self._cond.wait_for(lambda: self._slot or self._closing)
            frame = self._slot.popleft() if self._slot else None
            self._cond.notify_all()
            return frame

    def _send_loop(self) -> None:
        delay = self.first_delay
        retry_at = 0.0
        first_pts = 0.0
        last_ticks = -1
        streaming_since = 0.0
        try:
            while True:
                frame = self._take()
                if frame is None:
                    return
                if self._proc is None and time.monotonic() < retry_at:
                    with self._cond:
                        self._skipped += 1
                    continue
                try:
                    if self._proc is None:
                        self._start(frame)
                        first_pts, last_ticks = frame.pts, -1
                        streaming_since = time.monotonic()
                    last_ticks = _mkv.ticks_after(frame.pts, first_pts, last_ticks)
                    for part in _mkv.frame_block(last_ticks, frame.image):
                        self._pipe(part)
                    # the nominal duration now, rather than the true one when the next
                    # frame comes: the output is constant-rate and nothing waits a frame
                    self._pipe(_mkv.frame_duration(round(_mkv.TICKS_PER_SECOND / self.fps)))
                    self.frames += 1
                    self.state = "streaming"
                except (BrokenPipeError, ValueError, OSError):
                    why = self._reap()
                    self.failures += 1
                    if time.monotonic() - streaming_since > 30:
                        delay = self.first_delay  # it had been working: start over quickly
                    self.state = "retrying"
                    self.last_error = why
                    log.warning(
                        "push to %s stopped (%s); retrying in %.1f s",
                        self.target.display,
                        why,
                        delay,
                    )
                    retry_at = time.monotonic() + delay
                    delay = min(self.max_delay, delay * 2)
        finally:
            self._finish()

    def _pipe(self, data) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._write_since = time.monotonic()
        try:
            self._proc.stdin.write(data)
        finally:
            self._write_since = None

    def _start(self, frame: Frame) -> None:
        h, w = frame.image.shape[:2]
        audio_start = None
        if self.audio is not None:
            pos = self.audio_time(frame.pts) if self.audio_time else frame.pts
            audio_start = None if pos is None else self.audio.start + pos
        cmd = self.command(w, h, audio_start=audio_start, restart=self.starts > 0)
        self._stderr.clear()
        self._proc = popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._stderr_thread = threading.Thread(
            target=self._drain, args=(self._proc,), name="push-stderr", daemon=True
        )
        self._stderr_thread.start()
        self.starts += 1
        if self.starts > 1:
            log.warning("push to %s: reconnecting (attempt %d)", self.target.display, self.starts)
        self._pipe(_mkv.stream_header(w, h))

    def _drain(self, proc: subprocess.Popen) -> None:
        for line in iter(proc.stderr.readline, b""):
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def _reap(self) -> str:
        """Wait for a failed ffmpeg; return why it stopped (its last stderr line)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return "not running"
        with contextlib.suppress(OSError):
            proc.stdin.close()
        stop_process(proc, 5)
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        proc.stderr.close()
        lines = [ln for ln in self._stderr if ln.strip()]
        return lines[-1] if lines else f"ffmpeg exited with {proc.returncode}"

    def _kill(self, why: str) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            log.warning("push to %s: %s; restarting ffmpeg", self.target.display, why)
            proc.kill()

    def _finish(self) -> None:
        """Close ffmpeg's input so it flushes the encoder and finishes the output."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()
        stop_process(proc, self.stall_timeout, interrupt=5)
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        proc.stderr.close()
        if proc.returncode not in (0, None) and not self.last_error:
            lines = [ln for ln in self._stderr if ln.strip()]
            self.last_error = lines[-1] if lines else f"ffmpeg exited with {proc.returncode}"
