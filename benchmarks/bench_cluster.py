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


def segment_costs(clip: Path, temporal: object) -> dict[str, float]:
    """Per-frame stylize time and one segment's fixed cost, with the real stylizer."""
    from realtime.jobs.assembly import build_stylizer
    from realtime.jobs.settings import ClipOptions, StyleOptions
    from realtime.jobs.video import convert_video
    from realtime.segments import plan_segments, scan_frames

    proc = build_stylizer(StyleOptions(("preset:7",), jit_compile=False))
    scan = scan_frames(clip)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "seg.mp4")

        def convert(first: int, stop: int, warmup: int = 0) -> float:
            seg = plan_segments(scan, seconds=None, first=first, stop=stop)[0]
            t0 = time.monotonic()
            convert_video(
                str(clip),
                out,
                processor=proc,
                clip=ClipOptions(start=seg.start, end=seg.end),
                warmup_frames=warmup,
                exact_bounds=True,
                audio=False,
                temporal=temporal,
                progress=False,
                as_json=True,
            )
            return time.monotonic() - t0

        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            convert(0, 3)  # warm the stylizer up
            n = min(30, scan.frames - 10)
            t_many = convert(5, 5 + n)
            t_one = min(convert(5, 6) for _ in range(3))
    t_frame = (t_many - t_one) / (n - 1)
    return {"t_frame": t_frame, "fixed": max(0.0, t_one - t_frame)}


def model(
    t_frame: float,
    fixed: float,
    warmup: int,
    start: float,
    join: float,
    scan_fps: float,
    *,
    minutes: float = 10,
    fps: float = 30,
    seg_seconds: float = 10,
    chunk_seconds: float = 30,
) -> list[tuple[int, float, float]]:
    """(workers, wall seconds, efficiency against one process) for a clip of `minutes`.

    The driver's scan runs beside the conversion (segments go out as soon as planned), so
    it delays the start by its first piece and bounds the pace at `scan_fps`; segments
    are handed out greedily (ceil(segments / workers) rounds); the join is serial."""
    frames = minutes * 60 * fps
    segments = math.ceil(minutes * 60 / seg_seconds)
    seg_cost = seg_seconds * fps * t_frame + fixed + warmup * t_frame
    first_piece = chunk_seconds * fps / scan_fps
    single = frames * t_frame  # one process, no segments, no scan
    rows = []
    for w in (1, 2, 4, 8, 16, 32, 64):
        rounds = math.ceil(segments / w)
        # the last segment starts once the scan has passed its first frame
        convert = max(rounds * seg_cost, (frames - seg_seconds * fps) / scan_fps + seg_cost)
        wall = max(start, first_piece) + convert + join
        rows.append((w, wall, single / (w * wall)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, help="default: the first of ../shared/data/video")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", type=int, default=360)
    ap.add_argument(
        "--segment-seconds",
        type=float,
        help="default: a quarter of the clip (even work for 1 and 2 workers); the model "
        "uses 10 s segments unless this is given",
    )
    ap.add_argument("--temporal", type=float, default=0.0, help="--temporal for all runs")
    a = ap.parse_args()
    src = a.clip or next(iter(sorted(DATA.glob("*.mp4"))), None) if DATA.is_dir() else a.clip
    print(
        f"machine: {os.cpu_count()} cores, shared with other work (one run each: compare "
        "the ratios within this run)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp = Path(tmp)
        clip = prepare_clip(src, a.seconds, a.size, tmp / "clip.mp4")
        print(f"clip: {src.name if src else 'testsrc2'} {a.seconds:g} s at {a.size} px")
        extra = ["--temporal", str(a.temporal)] if a.temporal else []
        from realtime.segments import scan_frames

        frames = scan_frames(clip)
        bench_seg = a.segment_seconds or (frames.pts[-1] + frames.step()) / 4 - 0.001
        seg = ["--segment-seconds", f"{bench_seg:.3f}"]
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
            print(
                f"Ray {w} worker{'s' if w > 1 else ' '}   {wall:7.1f}   {fps:8.2f}   "
                f"{fps / fps_1p:7.2f}   (start-up {js['startup_seconds']:.1f} s, "
                f"{js['segments']} segments, join {js['join_seconds']:.2f} s)"
            )
            for wk in js["workers"]:
                print(
                    f"    worker {wk['worker']}: {wk['frames']} frames {wk['fps']} fps, "
                    f"load {wk['load_seconds']} s, retries {wk['retries']}"
                )
        js2 = runs[2][1]
        from realtime.jobs.settings import TemporalOptions

        temporal = TemporalOptions(temporal=a.temporal) if a.temporal else None
        from realtime.jobs.cluster import WARMUP_FRAMES

        warmup = WARMUP_FRAMES if a.temporal else 0
        costs = segment_costs(clip, temporal)
        t0 = time.monotonic()
        scan_fps_here = scan_frames(clip).frames / (time.monotonic() - t0)
        from realtime.ffmpeg import probe

        clip_size = probe(clip).display_size
    t_frame = costs["t_frame"]
    a.segment_seconds = a.segment_seconds or 10.0  # the model's segments
    seg_frames = a.segment_seconds * 30
    per_seg = seg_frames * t_frame
    join_per_seg = js2["join_seconds"] / max(1, js2["segments"])
    over = costs["fixed"] + warmup * t_frame + join_per_seg
    load = max(w["load_seconds"] or 0 for w in js2["workers"])
    print(
        f"\nper segment ({a.segment_seconds:g} s = {seg_frames:.0f} frames at {a.size} px, "
        f"{t_frame * 1e3:.1f} ms/frame): conversion {per_seg:.1f} s"
    )
    print(
        f"  fixed (seek, ffmpeg start, mux) {costs['fixed']:.3f} s; warm-up {warmup} frames "
        f"{warmup * t_frame:.3f} s; join {join_per_seg:.3f} s"
    )
    print(f"  overhead {over:.3f} s = {100 * over / per_seg:.1f}% of the segment (target <= 5%)")
    print(
        f"  once per worker: start-up incl. Ray {js2['startup_seconds']:.1f} s, "
        f"model load {load:.1f} s"
    )
    # 10-minute 1080p model
    w, h = clip_size
    scale = (1920 * 1080) / (w * h)
    t1080 = t_frame * scale
    scan_fps = scan_fps_here / scale  # decoding cost ~ pixels
    join = join_per_seg * math.ceil(600 / a.segment_seconds) * scale
    rows = model(
        t1080,
        costs["fixed"] * scale,
        warmup,
        js2["startup_seconds"],
        join,
        scan_fps,
        seg_seconds=a.segment_seconds,
    )
    print(
        f"\nmodel: 10-minute 1080p30 clip, {a.segment_seconds:g} s segments "
        f"({math.ceil(600 / a.segment_seconds)}), each worker a machine like this one"
    )
    print(
        f"  from: {t1080:.2f} s/frame at 1080p ({t_frame * 1e3:.1f} ms at {w}x{h} x "
        f"pixels); driver scan {scan_fps:.0f} fps at 1080p ({scan_fps_here:.0f} here / pixels), "
        f"beside the conversion; per segment fixed {costs['fixed'] * scale:.2f} s + "
        f"{warmup} warm-up frames; start-up {js2['startup_seconds']:.0f} s; join "
        f"{join:.1f} s; input transfer to the nodes (~1 GB each, in parallel) not counted"
    )
    print("  workers   wall h   efficiency")
    for w, wall, eff in rows:
        print(f"  {w:7d}  {wall / 3600:7.2f}   {eff:9.2f}")
    print(
        "  limits: whole segments per worker (60 segments on 16 workers: 4 rounds for 3.75 "
        "of work; on 64: 1 round, 4 workers idle), the driver's scan pace (one decode of "
        "the input at 64 px) once workers x their fps pass it, start-up and join"
    )


if __name__ == "__main__":
    main()
