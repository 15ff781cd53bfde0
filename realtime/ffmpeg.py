"""The project's ffmpeg: the binary imageio-ffmpeg bundles, a probe that reads `ffmpeg -i`
(there is no ffprobe), and the child-process rules every source and sink follows."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from models.errors import UserError


class FfmpegError(RuntimeError):
    """ffmpeg failed; the message carries the command line and the tail of its stderr."""

    def __init__(self, cmd: list[str], returncode: int | None, stderr: str) -> None:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        super().__init__(
            f"ffmpeg exited with {returncode}\ncommand: {subprocess.list2cmdline(cmd)}\n{tail}"
        )
        self.cmd = cmd
        self.returncode = returncode
        self.stderr = stderr


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def popen(cmd: list[str], **kw) -> subprocess.Popen:
    """Start ffmpeg in its own session so a terminal's Ctrl-C reaches only us: we then
    close its input on purpose and it finalizes the file, instead of dying half-way.
    If we are killed outright its pipes close and it exits on its own."""
    return subprocess.Popen(cmd, start_new_session=True, **kw)


def stop_process(
    proc: subprocess.Popen,
    timeout: float | None,
    *,
    interrupt: float | None = None,
    on_timeout: Callable[[], None] | None = None,
) -> int:
    """Wait up to `timeout` s for `proc` to end by itself, then (after `on_timeout`, a
    warning) send SIGINT and wait `interrupt` s more when given (ffmpeg finishes its output
    on SIGINT: the last HLS segment, the end tag), then kill it. Returns its exit code."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    if on_timeout is not None:
        on_timeout()
    if interrupt is not None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=interrupt)
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    return proc.wait()


@dataclass(frozen=True)
class MediaInfo:
    """What `ffmpeg -i` says about a file's first video stream and first audio stream.

    width/height are as stored; `rotation` (degrees, counter-clockwise as ffmpeg prints
    it) tells how the decoder (which autorotates) will turn them."""

    path: str
    duration: float | None
    width: int
    height: int
    pix_fmt: str
    codec: str
    avg_fps: float | None
    rate: float | None  # ffmpeg's "tbr": the guessed base frame rate
    rotation: int
    audio_codec: str | None
    audio_rate: int | None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def fps(self) -> float | None:
        return self.avg_fps or self.rate

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) after autorotation."""
        if self.rotation % 180 == 90:
            return self.height, self.width
        return self.width, self.height

    @property
    def bit_depth(self) -> int:
        m = re.search(r"p(9|10|12|14|16)(le|be)?$", self.pix_fmt)
        return int(m.group(1)) if m else 8

    @property
    def is_vfr(self) -> bool:
        """Average frame rate differs from the base rate: frames are not evenly spaced."""
        if not self.avg_fps or not self.rate:
            return False
        return abs(self.avg_fps - self.rate) > 0.005 * self.rate


def _split_top(s: str) -> list[str]:
    """Split ffmpeg's stream description on commas outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _num(tok: str, unit: str) -> float | None:
    m = re.match(rf"([\d.]+)(k?) {unit}$", tok)
    if not m:
        return None
    return float(m.group(1)) * (1000 if m.group(2) else 1)


_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: (Video|Audio|Subtitle|Data|Attachment): (.*)$")


def parse_probe(path: str, text: str) -> MediaInfo:
    """Parse `ffmpeg -i` stderr. Raises UserError when there is no video stream."""
    lines = text.splitlines()
    duration = None
    m = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    if m:
        duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    video = audio = None
    rotation = 0
    for i, line in enumerate(lines):
        sm = _STREAM.match(line)
        if not sm:
            continue
        kind, desc = sm.groups()
        if kind == "Video" and video is None and "attached pic" not in desc:
            video = desc
            for follow in lines[i + 1 :]:
                if _STREAM.match(follow) or not follow.startswith("    "):
                    break
                rm = re.search(r"rotation of (-?[\d.]+) degrees", follow, re.IGNORECASE)
                if rm:
                    rotation = round(float(rm.group(1))) % 360
        elif kind == "Audio" and audio is None:
            audio = desc
    if video is None:
        raise UserError(
            f"{path}: no video stream found; give a video file (mp4, mkv, mov, webm, ...)"
        )
    toks = _split_top(video)
    codec = toks[0].split()[0]
    pix_fmt = toks[1].split("(")[0].strip() if len(toks) > 1 else "unknown"
    width = height = 0
    avg_fps = rate = None
    for t in toks:
        dm = re.match(r"(\d+)x(\d+)", t)
        if dm and not width:
            width, height = int(dm.group(1)), int(dm.group(2))
        avg_fps = avg_fps or _num(t, "fps")
        rate = rate or _num(t, "tbr")
    if not width:
        raise UserError(f"{path}: the video stream has no frame size; the file may be damaged")
    audio_codec = audio_rate = None
    if audio is not None:
        atoks = _split_top(audio)
        audio_codec = atoks[0].split()[0]
        for t in atoks:
            hz = re.match(r"(\d+) Hz$", t)
            if hz:
                audio_rate = int(hz.group(1))
    return MediaInfo(
        path=path,
        duration=duration,
        width=width,
        height=height,
        pix_fmt=pix_fmt,
        codec=codec,
        avg_fps=avg_fps,
        rate=rate,
        rotation=rotation,
        audio_codec=audio_codec,
        audio_rate=audio_rate,
    )


def probe(path: str | Path) -> MediaInfo:
    """Describe a media file or URL, or raise UserError naming it and the fix."""
    path = str(path)
    if "://" not in path and not Path(path).exists():
        raise UserError(f"{path}: no such file; check the path")
    if "://" not in path and Path(path).is_dir():
        raise UserError(f"{path}: is a folder; give a video file or a folder of images")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60)
    except subprocess.TimeoutExpired:
        raise UserError(f"{path}: ffmpeg could not read it within 60 s; check the file") from None
    text = r.stderr
    if "Error opening input" in text or "Input #0" not in text:
        last = [ln for ln in text.strip().splitlines() if ln.strip()]
        why = last[-1].split(":", 1)[-1].strip() if last else "unreadable"
        raise UserError(f"{path}: not a readable video ({why}); give an mp4/mkv/mov/webm file")
    return parse_probe(path, text)


def parse_rate(tb: str) -> Fraction | None:
    try:
        f = Fraction(tb)
    except (ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None
