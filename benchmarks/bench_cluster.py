"""Scale-out on Ray: what splitting a video into segments costs, and what it buys.

On this machine (all runs on the same clip, one run each, in one go):
  1. single process:   stylize-video video CLIP -o single.mp4 --json
  2. Ray, 1 worker:    ... --workers 1 --segment-seconds S --json
  3. Ray, 2 workers:   ... --workers 2 --segment-seconds S --json
The cores are the same in all three, so 2 and 3 against 1 measure overhead: throughput is
frames over the conversion time (model loading excluded in all three: the single
process's own loop fps; for Ray, the wall time after its workers were up), and the wall
times of whole commands are shown beside it.

Per-segment overhead, measured here in-process with the real stylizer: the fixed cost
of one segment (probe, seek, ffmpeg decoder and encoder start, mux: a 1-frame segment
minus one frame's stylizing), the warm-up frames (--temporal: WARMUP_FRAMES stylized
and not written per seam), the join (stream copy, from run 3), and once per worker the
actor start and model load (from run 3's JSON).

Then a model of a 10-minute 1080p clip (30 fps, 10 s segments) on 1-64 workers built from
those figures, with its assumptions printed: per-frame cost scales with pixels from the
measured size to 1080p; each worker is a machine like this one (its cores all used by
one worker); segments are handed out greedily; the driver's scan and join are serial.

Run: python benchmarks/bench_cluster.py [--seconds 20] [--size 360] [--clip FILE]
     [--segment-seconds 10] [--temporal 0.7]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "video"


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def prepare_clip(src: Path | None, seconds: float, size: int, out: Path) -> Path:
    """A clip of `seconds` at `size` px long side (with audio when the source has it)."""
    cmd = [ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    if src is None:
        cmd += ["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}"]
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    else:
        cmd += ["-i", str(src), "-t", str(seconds)]
    cmd += ["-vf", f"scale='if(gt(iw,ih),{size},-2)':'if(gt(iw,ih),-2,{size})'"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-c:a", "aac", str(out)]
    subprocess.run(cmd, check=True)
    return out


def cli(args: list[str]) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "stylize_video", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{r.stderr[-3000:]}")
    return wall, json.loads(r.stdout.strip().splitlines()[-1])


def segment_costs(clip: Path, temporal: dict | None) -> dict[str, float]:
    """Per-frame stylize time and one segment's fixed cost, with the real stylizer."""
    from realtime.jobs.video import build_processor, convert_video
    from realtime.segments import plan_segments, scan_frames

    proc = build_processor(["preset:7"], jit_compile=False)
    scan = scan_frames(clip)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "seg.mp4")

        def convert(first: int, stop: int, warmup: int = 0) -> float:
            seg = plan_segments(scan, seconds=None, first=first, stop=stop)[0]
            t0 = time.monotonic()
            convert_video(str(clip), out, processor=proc, start=seg.start, end=seg.end,
                          warmup_frames=warmup, exact_bounds=True, audio=False,
                          temporal=temporal, progress=False, as_json=True)  # fmt: skip
            return time.monotonic() - t0

        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            convert(0, 3)  # warm the stylizer up
            n = min(30, scan.frames - 10)
            t_many = convert(5, 5 + n)
            t_one = min(convert(5, 6) for _ in range(3))
    t_frame = (t_many - t_one) / (n - 1)
    return {"t_frame": t_frame, "fixed": max(0.0, t_one - t_frame), "fps": scan.frames}


def model(
    t_frame_1080: float,
    fixed: float,
    warmup: int,
    start: float,
    join_per_min: float,
    scan_per_min: float,
    *,
    minutes: float = 10,
    fps: float = 30,
    seg_seconds: float = 10,
) -> list[tuple[int, float, float]]:
    """(workers, wall seconds, efficiency) for a clip of `minutes`."""
    frames = minutes * 60 * fps
    segments = math.ceil(minutes * 60 / seg_seconds)
    per_seg = seg_seconds * fps * t_frame_1080
    seg_cost = per_seg + fixed + warmup * t_frame_1080
    serial = scan_per_min * minutes + join_per_min * minutes
    single = frames * t_frame_1080  # one process, no segments
    rows = []
    for w in (1, 2, 4, 8, 16, 32, 64):
        rounds = math.ceil(segments / w)
        wall = serial + start + rounds * seg_cost
        rows.append((w, wall, single / (w * wall)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, help="default: the first of ../shared/data/video")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", type=int, default=360)
    ap.add_argument("--segment-seconds", type=float, default=10.0)
    ap.add_argument("--temporal", type=float, default=0.0, help="--temporal for all runs")
    a = ap.parse_args()
    src = a.clip or next(iter(sorted(DATA.glob("*.mp4"))), None) if DATA.is_dir() else a.clip
    print(f"machine: {os.cpu_count()} cores, shared with other work (one run each: compare "
          "the ratios within this run)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp = Path(tmp)
        clip = prepare_clip(src, a.seconds, a.size, tmp / "clip.mp4")
        print(f"clip: {src.name if src else 'testsrc2'} {a.seconds:g} s at {a.size} px")
        extra = ["--temporal", str(a.temporal)] if a.temporal else []
        seg = ["--segment-seconds", str(a.segment_seconds)]
        wall_1p, single = cli(["video", str(clip), "-o", str(tmp / "single.mp4"), *extra])
        runs = {}
        for w in (1, 2):
            out = tmp / f"w{w}.mp4"
            runs[w] = cli(["video", str(clip), "-o", str(out), "--workers", str(w), *seg, *extra])
        print("\n                 wall s   conv fps   vs single")
        fps_1p = single["fps"]
        print(f"single process  {wall_1p:7.1f}   {fps_1p:8.2f}      1.00")
        for w, (wall, js) in runs.items():
            conv = js["seconds"] - js["startup_seconds"]
            fps = js["frames"] / conv if conv > 0 else 0.0
            print(f"Ray {w} worker{'s' if w > 1 else ' '}   {wall:7.1f}   {fps:8.2f}   "
                  f"{fps / fps_1p:7.2f}   (start-up {js['startup_seconds']:.1f} s, "
                  f"{js['segments']} segments, join {js['join_seconds']:.2f} s)")  # fmt: skip
            for wk in js["workers"]:
                print(f"    worker {wk['worker']}: {wk['frames']} frames {wk['fps']} fps, "
                      f"load {wk['load_seconds']} s, retries {wk['retries']}")  # fmt: skip
        js2 = runs[2][1]
        temporal = {"temporal": a.temporal, "keyframe_every": 1} if a.temporal else None
        from realtime.jobs.cluster import WARMUP_FRAMES

        warmup = WARMUP_FRAMES if a.temporal else 0
        costs = segment_costs(clip, temporal)
    t_frame = costs["t_frame"]
    seg_frames = a.segment_seconds * 30
    per_seg = seg_frames * t_frame
    join_per_seg = js2["join_seconds"] / max(1, js2["segments"])
    over = costs["fixed"] + warmup * t_frame + join_per_seg
    load = max(w["load_seconds"] or 0 for w in js2["workers"])
    print(f"\nper segment ({a.segment_seconds:g} s = {seg_frames:.0f} frames at {a.size} px, "
          f"{t_frame * 1e3:.1f} ms/frame): conversion {per_seg:.1f} s")  # fmt: skip
    print(f"  fixed (seek, ffmpeg start, mux) {costs['fixed']:.3f} s; warm-up {warmup} frames "
          f"{warmup * t_frame:.3f} s; join {join_per_seg:.3f} s")  # fmt: skip
    print(f"  overhead {over:.3f} s = {100 * over / per_seg:.1f}% of the segment (target <= 5%)")
    print(f"  once per worker: start-up incl. Ray {js2['startup_seconds']:.1f} s, "
          f"model load {load:.1f} s")  # fmt: skip
    # 10-minute 1080p model
    scale = (1920 * 1080) / (a.size * a.size * 16 / 9)
    t1080 = t_frame * scale
    scan_per_min = 60 * 30 * (1920 * 1080) / 150e6  # decode at ~150 Mpixel/s (one core)
    join_per_min = join_per_seg * 6 * scale
    rows = model(t1080, costs["fixed"] * scale, warmup, js2["startup_seconds"], join_per_min,
                 scan_per_min, seg_seconds=a.segment_seconds)  # fmt: skip
    print("\nmodel: 10-minute 1080p30 clip, "
          f"{a.segment_seconds:g} s segments ({math.ceil(600 / a.segment_seconds)})")  # fmt: skip
    print(f"  assumptions: {t1080:.2f} s/frame at 1080p (measured ms/frame x pixels); each worker "
          "a machine like this one; fixed and join costs scale with pixels; driver scan at "
          "~150 Mpixel/s decode; start-up as measured; input transfer to nodes not counted "
          "(~1 GB at network speed per node, in parallel)")  # fmt: skip
    print("  workers   wall h   efficiency")
    for w, wall, eff in rows:
        print(f"  {w:7d}  {wall / 3600:7.2f}   {eff:9.2f}")
    print("  limits: segments (60) per worker round up (64 workers: 1 round, 4 idle), the "
          "serial scan and join, start-up per worker; shorter segments raise the rounds' "
          "balance at the cost of more seams")  # fmt: skip


if __name__ == "__main__":
    main()
