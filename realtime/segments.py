"""Cutting one video into segments that convert independently, and joining them again.

Used by the Ray driver (realtime/jobs/cluster.py); nothing here imports Ray or
TensorFlow, so all of it is unit-tested on its own.

- `scan_frames`: one decode pass of the bundled ffmpeg at a tiny size gives every
  frame's timestamp (the same frames, in the same order and on the same normalised
  timeline as realtime.sources.video_file hands over) and ffmpeg's scene-change score.
- `plan_segments`: cut at scene cuts, else every `seconds`, always between two frames. A
  segment's bounds are the midpoints between frame times, so each frame falls in exactly
  one segment whatever rounding the seek does. A segment that does not start the clip
  starts `warmup` frames early (decoded and processed, not written): the temporal
  filter's state at the seam then matches a single-process run (it decays as
  temporal^warmup; at a scene cut it is reset anyway).
- `WindowedSource`: the frames of one segment, plus its warm-up frames, from a
  VideoFileSource that seeks a little earlier.
- `SegmentWork`: finished segments kept in OUTPUT.work/ beside the output, keyed by a hash
  of input and settings, so an interrupted job resumes.
- `join_segments`: the concat demuxer joins the encoded segments without re-encoding
  (they share x264 settings and time base), the source's audio is muxed once, and the
  output appears by an atomic rename only when complete.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from models.atomic import KeyedWorkFolder, atomic_path, outputs_in_folder
from models.errors import UserError
from realtime.ffmpeg import FfmpegError, ffmpeg_exe, parse_rate, popen
from realtime.frame import Frame
from realtime.sources.base import Source

VIDEO_EXTS = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".flv"}
# ffmpeg's scene score (0-1, the frame difference not explained by motion at 64 px); a
# hard cut between two shots scores 0.3-0.7, motion inside a shot rarely 0.2.
CUT_THRESHOLD = 0.35
WORK_FORMAT = 1  # bump when segments made by older code must not be reused


# --- scanning ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameScan:
    pts: np.ndarray  # float64 seconds of every frame, in decode (= display) order
    scene: np.ndarray  # float64 scene-change score of each frame against the one before
    time_base: Fraction | None

    @property
    def frames(self) -> int:
        return len(self.pts)

    def step(self) -> float:
        """The typical frame interval (the last frame's duration)."""
        if len(self.pts) < 2:
            return 1 / 25
        return float(np.median(np.diff(self.pts)))


def scan_frames(
    path: str | Path, *, width: int = 64, seek: float = 0.0, duration: float | None = None
) -> FrameScan:
    """Timestamps (on the file's timeline) and scene scores of every frame of `path`'s
    first video stream, or of those from `seek` for `duration` seconds (one decode pass
    at `width` pixels; cheap next to stylizing). The first frame scores 0."""
    with tempfile.TemporaryDirectory(prefix="sv-scan-") as tmp:
        stats, meta = Path(tmp) / "stats.txt", Path(tmp) / "scene.txt"
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
        if seek > 0:
            cmd += ["-ss", f"{seek:.6f}"]
        if duration is not None:
            cmd += ["-t", f"{duration:.6f}"]
        cmd += ["-i", str(path), "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough"]
        cmd += ["-vf", f"scale={width}:-2,select='gte(scene\\,0)',"]
        cmd[-1] += f"metadata=print:key=lavfi.scene_score:file={_filter_path(meta)}"
        cmd += ["-enc_time_base:v", "demux", "-stats_enc_pre", str(stats)]
        cmd += ["-stats_enc_pre_fmt", "{n} {tb} {pts}", "-f", "null", "-"]
        r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
        if r.returncode != 0:
            raise FfmpegError(cmd, r.returncode, r.stderr)
        tb: Fraction | None = None
        pts: list[float] = []
        for line in stats.read_text().splitlines() if stats.exists() else []:
            parts = line.split()
            if len(parts) == 3:
                tb = tb or parse_rate(parts[1])
                pts.append(seek + (int(parts[2]) * float(tb) if tb else len(pts) / 25))
        scores: dict[int, float] = {}
        n = -1
        for line in meta.read_text().splitlines() if meta.exists() else []:
            if line.startswith("frame:"):
                n = int(line.split()[0].split(":")[1])
            elif line.startswith("lavfi.scene_score=") and n >= 0:
                scores[n] = float(line.split("=", 1)[1])
    if not pts and seek <= 0:
        raise UserError(f"{path}: no video frames could be decoded; the file is empty or damaged")
    scene = np.array([scores.get(i, 0.0) for i in range(len(pts))], np.float64)
    if len(scene):
        scene[0] = 0.0
    return FrameScan(np.asarray(pts, np.float64), scene, tb)


def scan_chunks(
    path: str | Path, *, chunk_seconds: float = 30.0, preroll: float = 1.0
) -> Iterator[FrameScan]:
    """`scan_frames` of the whole file in pieces of `chunk_seconds`, in order, so planning
    (and converting) can start before the scan ends. Each piece decodes from `preroll`
    seconds early so its first frame is scored against its true predecessor; a frame
    is taken once, by the first piece it falls in (timestamps of two seeks agree to a
    fraction of a millisecond)."""
    last = -math.inf
    k = 0
    while True:
        a, b = k * chunk_seconds, (k + 1) * chunk_seconds
        seek = max(0.0, a - preroll) if k else 0.0
        part = scan_frames(path, seek=seek, duration=b - seek)
        keep = (part.pts > last + 5e-4) & (part.pts < b)
        if not keep.any():
            if part.frames and part.pts[-1] >= b:  # nothing in this piece: a long gap
                k += 1
                continue
            return
        last = float(part.pts[keep][-1])
        yield FrameScan(part.pts[keep], part.scene[keep], part.time_base)
        k += 1


def join_scans(parts: Sequence[FrameScan]) -> FrameScan:
    return FrameScan(
        np.concatenate([p.pts for p in parts]) if parts else np.zeros(0),
        np.concatenate([p.scene for p in parts]) if parts else np.zeros(0),
        next((p.time_base for p in parts if p.time_base), None),
    )


def _filter_path(p: Path) -> str:
    # filtergraph escaping: a path may hold ':' or '\' or quotes
    return str(p).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


# --- planning ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """Frames [first, stop) of the scanned clip (indices into FrameScan.pts)."""

    index: int
    first: int
    stop: int
    warmup: int  # frames before `first` processed, not written
    start: float  # seconds: bound before `first` (a midpoint between frame times)
    end: float  # seconds: bound after the last frame
    cut: bool  # starts at a scene cut

    @property
    def frames(self) -> int:
        return self.stop - self.first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scene_cuts(scan: FrameScan, threshold: float = CUT_THRESHOLD) -> list[int]:
    """Indices of frames that start a new shot."""
    return [int(i) for i in np.flatnonzero(scan.scene >= threshold) if i > 0]


def plan_segments(
    scan: FrameScan,
    *,
    seconds: float | None = 10.0,
    warmup: int = 0,
    align: int = 1,
    threshold: float = CUT_THRESHOLD,
    first: int = 0,
    stop: int | None = None,
) -> list[Segment]:
    """Segments of frames [first, stop): a new one at every scene cut, and after
    `seconds` without one (None: only at cuts, i.e. shots). A segment shorter than a
    quarter of `seconds` is not started by the clock, only by a cut. Boundaries set by
    the clock fall on multiples of `align` frames from `first` or the last cut (the keyframe
    cadence of `--keyframe-every`, so keyframes land where a single process puts them) and start
    `warmup` frames early (rounded up to a multiple of `align`, never before `first`)."""
    pts = scan.pts
    stop = len(pts) if stop is None else stop
    if not 0 <= first < stop <= len(pts):
        raise ValueError(f"frames [{first}, {stop}) outside 0..{len(pts)}")
    align = max(1, align)
    warmup = math.ceil(warmup / align) * align if warmup else 0
    cuts = set(scene_cuts(scan, threshold))
    starts: list[tuple[int, bool]] = [(first, first in cuts)]
    anchor = first  # the temporal filter restarts its keyframe count at a cut
    for i in range(first + 1, stop):
        last = starts[-1][0]
        if i in cuts:
            starts.append((i, True))
            anchor = i
        elif (
            seconds
            and (i - anchor) % align == 0
            and pts[i] - pts[last] >= seconds
            and not _cut_soon(cuts, i, pts, seconds / 4, stop)
        ):
            starts.append((i, False))
    step = scan.step()
    segments = []
    for k, (a, cut) in enumerate(starts):
        b = starts[k + 1][0] if k + 1 < len(starts) else stop
        w = min(warmup, a - first)
        start = (pts[a - 1] + pts[a]) / 2 if a > 0 else max(0.0, pts[0] - step / 2)
        end = (pts[b - 1] + pts[b]) / 2 if b < len(pts) else pts[b - 1] + step / 2
        segments.append(Segment(k, a, b, w, float(start), float(end), cut))
    return segments


class Planner:
    """`plan_segments` while the scan is still running: `add` each scanned piece, and
    get the segments that are final (no frame still to come can change them); `finish`
    gives the rest. The segments are the ones `plan_segments` gives on the whole scan.
    `start`/`end` (seconds) select frames as --start/--end do."""

    def __init__(self, *, start: float | None = None, end: float | None = None, **plan) -> None:
        self.plan = plan
        self.start, self.end = start or 0.0, end
        self.parts: list[FrameScan] = []
        self.scan = FrameScan(np.zeros(0), np.zeros(0), None)
        self.committed: list[Segment] = []
        self.done = False

    def _range(self) -> tuple[int, int]:
        pts = self.scan.pts
        first = int(np.searchsorted(pts, self.start - 1e-6))
        stop = len(pts) if self.end is None else int(np.searchsorted(pts, self.end - 1e-6))
        return first, stop

    def add(self, part: FrameScan) -> list[Segment]:
        self.parts.append(part)
        self.scan = join_scans(self.parts)
        first, stop = self._range()
        if stop < len(self.scan.pts) or first >= stop:
            return []  # past --end: finish() decides
        seconds = self.plan.get("seconds")
        # a start at frame s is final once the scan reaches past s by the cut look-ahead
        horizon = self.scan.pts[-1] - (seconds / 4 if seconds else 0.0)
        segs = plan_segments(self.scan, first=first, stop=stop, **self.plan)
        new = []
        for seg in segs[len(self.committed) : -1]:
            if seg.stop >= len(self.scan.pts) or self.scan.pts[seg.stop] > horizon:
                break
            new.append(seg)
        self.committed += new
        return new

    def finish(self, path: str | Path = "input") -> list[Segment]:
        """The remaining segments once the scan is complete."""
        self.done = True
        first, stop = self._range()
        if first >= stop:
            last = self.scan.pts[-1] if len(self.scan.pts) else 0.0
            raise UserError(f"{path}: --start/--end select no frames; the video is {last:.2f} s")
        segs = plan_segments(self.scan, first=first, stop=stop, **self.plan)

        def frames(ss: list[Segment]) -> list[tuple]:
            return [(x.first, x.stop, x.warmup, x.cut) for x in ss]

        if frames(segs[: len(self.committed)]) != frames(self.committed):  # a logic error
            raise RuntimeError("segment plan changed while scanning")
        new = segs[len(self.committed) :]
        self.committed += new
        return new


def _cut_soon(cuts: set[int], i: int, pts: np.ndarray, within: float, stop: int) -> bool:
    """A scene cut follows within `within` seconds (so the clock need not cut here)."""
    j = i
    while j < stop and pts[j] - pts[i] < within:
        if j in cuts:
            return True
        j += 1
    return False


# --- one segment's frames ----------------------------------------------------------------


class WindowedSource(Source):
    """Frames with start <= pts < end of a video file, preceded by up to `warmup` frames
    before `start` (negative pts: the caller processes them and does not write them).

    The inner source seeks a little before the warm-up frames and the window is chosen by
    timestamp, so bounds placed between frames are frame-exact. pts are relative to
    `start`, like VideoFileSource's with start=`start`."""

    def __init__(
        self,
        path: str,
        *,
        start: float | None,
        end: float | None,
        warmup: int = 0,
        size: int | None = None,
        audio: bool = True,
    ) -> None:
        from realtime.ffmpeg import probe
        from realtime.sources.video_file import VideoFileSource

        info = probe(path)
        self.start = float(start or 0.0)
        step = 1 / (info.fps or 25.0)
        # Seek back further than the warm-up needs: frame times may be uneven, and the
        # seek lands on the exact time, not on a frame.
        margin = (warmup + 2) * step * 1.5 + 0.1 if warmup else step / 2
        seek = max(0.0, self.start - margin)
        self.shift = self.start - seek
        self.end = end
        self.warmup = warmup
        self.inner = VideoFileSource(
            path, start=seek or None, end=None if end is None else end + 2 * step, size=size
        )
        self.has_audio = self.inner.has_audio and audio
        self.audio_origin = self.start
        self.fps = self.inner.fps
        self.name = self.inner.name
        self.width, self.height = self.inner.width, self.inner.height
        self.frame_count = None
        if end is not None and self.fps:
            self.frame_count = max(0, round((end - self.start) * self.fps)) + warmup

    def __getattr__(self, name: str):
        # path, info, time_base, width, height, ... as the file source has them
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    @staticmethod
    def is_warmup(frame: Frame) -> bool:
        return frame.pts < 0

    def __iter__(self) -> Iterator[Frame]:
        held: deque[Frame] = deque(maxlen=self.warmup or 1)
        started = False
        for f in self.inner:
            pts = f.pts - self.shift
            if self.end is not None and pts >= self.end - self.start:
                return
            frame = Frame(f.image, pts, f.index)
            if pts < 0:
                if self.warmup:
                    held.append(frame)
                continue
            if not started:
                started = True
                if self.warmup:
                    yield from held
                held.clear()
            yield frame

    def close(self) -> None:
        self.inner.close()


# --- the work folder ---------------------------------------------------------------------


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def work_key(input: str | Path, settings: dict[str, Any]) -> str:
    """Hash of what decides a segment's result: the input's bytes, the bytes of any style
    file named in `settings["style"]["styles"]`, and every setting."""
    h = hashlib.sha256(file_digest(input).encode())
    if settings.get("style_path") and Path(settings["style_path"]).is_file():
        h.update(file_digest(settings["style_path"]).encode())
    for s in (settings.get("style") or {}).get("styles") or []:
        for part in str(s).split(","):
            p = Path(part.rsplit(":", 1)[0]) if ":" in part else Path(part)
            for cand in (Path(part), p):
                if cand.is_file():
                    h.update(file_digest(cand).encode())
                    break
    h.update(json.dumps({"format": WORK_FORMAT, **settings}, sort_keys=True).encode())
    return h.hexdigest()


class SegmentWork(KeyedWorkFolder):
    """OUTPUT.work/: encoded segments `seg_NNNNN.mp4` (written to a temp name, renamed)."""

    what = "segments"
    format = WORK_FORMAT

    def count_done(self) -> int:
        return len(self.done())

    def segment_path(self, index: int) -> Path:
        return self.path / f"seg_{index:05d}.mp4"

    def done(self) -> set[int]:
        return {int(p.stem[4:]) for p in self.path.glob("seg_*.mp4") if p.stem[4:].isdigit()}

    def save(self, index: int, data: bytes) -> Path:
        dest = self.segment_path(index)
        with atomic_path(dest) as tmp:
            tmp.write_bytes(data)
        return dest


# --- joining -----------------------------------------------------------------------------


def concat_list(parts: Sequence[Path], durations: Sequence[float] | None = None) -> str:
    """The concat demuxer's list file text (absolute paths, quotes escaped). `durations`:
    each part's time from its first frame to the next part's first frame, so the next
    part starts exactly there even when frame intervals are uneven (the demuxer would
    otherwise take the part's own length, whose last frame lasts a guessed interval)."""
    lines = ["ffconcat version 1.0"]
    for i, p in enumerate(parts):
        q = str(Path(p).resolve()).replace("'", "'\\''")
        lines.append(f"file '{q}'")
        if durations is not None:
            lines.append(f"duration {durations[i]:.6f}")
    return "\n".join(lines) + "\n"


def join_command(
    list_file: str,
    out: str,
    *,
    muxer: str,
    duration: float,
    audio_path: str | None = None,
    audio_start: float = 0.0,
    audio_copy: bool = True,
) -> list[str]:
    """Join the segments named in `list_file` by stream copy; take `duration` seconds
    of `audio_path`'s first audio stream from `audio_start` (copied when it starts at 0
    and the container takes the codec, else AAC, as the single-process writer does)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += ["-f", "concat", "-safe", "0", "-i", list_file]
    maps, codecs = ["-map", "0:v:0"], ["-c:v", "copy"]
    if audio_path is not None:
        if audio_start > 0:
            cmd += ["-ss", f"{audio_start:.6f}"]
        cmd += ["-t", f"{duration:.6f}", "-i", audio_path]
        maps += ["-map", "1:a:0"]
        codecs += ["-c:a", "copy"] if audio_copy and audio_start <= 0 else ["-c:a", "aac"]
        if not (audio_copy and audio_start <= 0):
            codecs += ["-b:a", "192k"]
    cmd += maps + codecs + ["-map_metadata", "-1"]
    if muxer in ("mp4", "mov"):
        cmd += ["-movflags", "+faststart"]
    return [*cmd, "-f", muxer, out]


def join_segments(
    parts: Sequence[Path],
    output: str | Path,
    *,
    duration: float,
    audio_path: str | None = None,
    audio_start: float = 0.0,
    audio_codec: str | None = None,
    durations: Sequence[float] | None = None,
) -> None:
    """Write `output` (.mp4/.mov/.m4v/.mkv) from the encoded segments, in order, with the
    source's audio; the file appears only when complete. `durations`: see concat_list."""
    from realtime.sinks.ffmpeg_writer import _COPYABLE, check_video_output

    muxer = check_video_output(output)
    copyable = _COPYABLE[muxer]
    audio_copy = copyable is None or (audio_codec or "") in copyable
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="sv-join-") as tmp:
        listing = Path(tmp) / "parts.ffconcat"
        listing.write_text(concat_list(parts, durations))
        with atomic_path(output) as out:
            cmd = join_command(
                str(listing),
                str(out),
                muxer=muxer,
                duration=duration,
                audio_path=audio_path,
                audio_start=audio_start,
                audio_copy=audio_copy,
            )
            proc = popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                _, err = proc.communicate()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            if proc.returncode != 0:
                raise FfmpegError(cmd, proc.returncode, err.decode("utf-8", "replace"))


# --- folders of videos ---------------------------------------------------------------------


def is_video_file(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in VIDEO_EXTS and not p.name.startswith(".")


def video_folder_files(folder: Path) -> list[Path]:
    """The video files directly in `folder` (not recursive), by name; [] if it has none."""
    return sorted(p for p in folder.iterdir() if is_video_file(p))


def folder_outputs(inputs: Sequence[Path], output: str | Path) -> list[Path]:
    """A folder of videos goes to a folder: each output is named after its input, as .mp4
    (`name_ext.mp4` when two inputs share a stem), as the image command names its PNGs."""
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: a folder of videos needs an output folder; give a folder")
    if out.suffix.lower() in VIDEO_EXTS and not out.exists():
        raise UserError(f"-o {out}: a folder of videos needs an output folder, not a file name")
    return outputs_in_folder(inputs, out, ".mp4")
