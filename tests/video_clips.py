"""Short synthetic clips made with the bundled ffmpeg, and ways to inspect media files
that do not go through the code under test (ffmpeg's framecrc and rawvideo output)."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from imageio_ffmpeg import get_ffmpeg_exe

FF = get_ffmpeg_exe()


def run_ffmpeg(*args: str) -> str:
    r = subprocess.run(
        [FF, "-hide_banner", "-nostdin", "-y", *args], capture_output=True, text=True
    )
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return r.stderr


def make_clip(
    path: Path,
    *,
    size: tuple[int, int] = (96, 64),
    fps: int = 30,
    seconds: float = 1.0,
    audio_seconds: float | None = None,
    pix_fmt: str = "yuv420p",
    vfr_gap: float | None = None,
    rotation: int | None = None,
) -> Path:
    """testsrc2 video (w, h) at `fps` for `seconds`; a 440 Hz sine of `audio_seconds`
    when given. `vfr_gap` inserts a pause after frame 10 (variable frame rate);
    `rotation` adds a display-matrix rotation like a phone video."""
    w, h = size
    ew, eh = w + w % 2, h + h % 2  # testsrc2 makes even sizes: crop odd ones from it
    src = f"testsrc2=size={ew}x{eh}:rate={fps}:duration={seconds}"
    if (ew, eh) != (w, h):
        src += f",format=rgb24,crop={w}:{h}:0:0"
    args = ["-f", "lavfi", "-i", src]
    if audio_seconds:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={audio_seconds}"]
    if vfr_gap:
        args += ["-vf", f"setpts='(N/{fps}+if(gt(N,10),{vfr_gap},0))/TB'", "-fps_mode", "vfr"]
    if (w % 2 or h % 2) and pix_fmt == "yuv420p":
        pix_fmt = "yuv444p"  # the source may be odd-sized; only our output must be 4:2:0
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", pix_fmt]
    if audio_seconds:
        args += ["-c:a", "aac"]
    target = path if rotation is None else path.with_name("plain_" + path.name)
    run_ffmpeg(*args, str(target))
    if rotation is not None:
        run_ffmpeg("-display_rotation", str(rotation), "-i", str(target), "-c", "copy", str(path))
    return path


@dataclass
class StreamTimes:
    count: int
    pts: list[float]  # sorted presentation times, seconds
    duration: float  # first start to last end


def stream_times(path: Path, kind: str = "v") -> StreamTimes | None:
    """Packet timing of the first video ('v') or audio ('a') stream, from ffmpeg's
    framecrc of a stream copy (no decoding, independent of the code under test)."""
    probe = subprocess.run([FF, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    if f"{'Video' if kind == 'v' else 'Audio'}:" not in probe.stderr:
        return None
    r = subprocess.run(
        [
            FF,
            "-hide_banner",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            f"0:{kind}:0",
            "-c",
            "copy",
            "-f",
            "framecrc",
            "-",
        ],
        capture_output=True,
        text=True,
    )
    tb = None
    rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"#tb 0: (\d+)/(\d+)", line)
        if m:
            tb = Fraction(int(m.group(1)), int(m.group(2)))
        elif line and not line.startswith("#"):
            parts = [p.strip() for p in line.split(",")]
            rows.append((int(parts[2]), int(parts[3])))  # pts, duration
    if tb is None or not rows:
        return None
    pts = sorted(p for p, _ in rows)
    end = max(p + d for p, d in rows)
    return StreamTimes(len(rows), [float(p * tb) for p in pts], float((end - pts[0]) * tb))


def read_frames(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """All frames decoded by ffmpeg as RGB uint8 (N, H, W, 3)."""
    r = subprocess.run(
        [FF, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True
    )
    m = re.search(r"Video: .*?, (\d+)x(\d+)", r.stderr)
    rot = re.search(r"rotation of (-?[\d.]+) degrees", r.stderr)
    w, h = int(m.group(1)), int(m.group(2))
    if rot and round(float(rot.group(1))) % 180 == 90:
        w, h = h, w
    if size:
        w, h = size
    out = subprocess.run(
        [
            FF,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",
            "-enc_time_base:v",
            "demux",  # a 1/fps guess would merge frames closer than a frame time
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, h, w, 3)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (e.g. a test's tmp folder):
    an ffmpeg left behind shows up here."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            continue
        if text in cmd and state != "Z" and "pytest" not in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def child_ffmpegs() -> list[int]:
    """ffmpeg processes whose parent is this test process."""
    me = os.getpid()
    kids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me and fields[0] != "Z" and "ffmpeg" in comm:
            kids.append(int(pid))
    return kids


def slow_fake_cli(job_module: str, seconds: float) -> str:
    """A ``python -c`` script running the real CLI (argument parsing, job, sinks) with
    ``job_module``'s build_stylizer replaced by a slow pixel-inverting fake that prints
    "frame" as each frame is done, so a test can interrupt it part-way."""
    return textwrap.dedent(
        f"""
        import sys, time
        import {job_module} as job

        def fake(*a, **k):
            def proc(img):
                time.sleep({seconds})
                print("frame", flush=True)
                return 255 - img
            return proc

        job.build_stylizer = fake
        import stylize_video
        sys.exit(stylize_video.main(sys.argv[1:]))
        """
    )
