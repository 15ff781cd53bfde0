"""Region cost curve: what re-stylizing part of a frame with frozen statistics costs
against a full frame, on the preset network and Magenta's, in one run.

    python benchmarks/bench_regions.py [--size 480x640] [--shares 5,15,30,60]
                                       [--margins 64,48] [--repeat 7]
                                       [--engine openvino|tensorflow]

For each network: the median ms of a full frame that records its statistics
(`Stylizer.stylize_with_stats`), then of `Stylizer.stylize_regions` on one centred box
(the frame's aspect) covering each share of the frame, margins included in the work as a
real use would run it (the window is the box plus context, clipped at the frame and
enlarged to its bucket; margin 64 is the exact, trimmed mode, 48 the untrimmed
approximation). On OpenVINO (the default) each window is timed on its static compile
(its shape and trimmed sides baked in, as a conversion runs a variant it uses enough)
and on the dynamic compile (as it runs before that); on TensorFlow, XLA compiled. Every
shape is compiled before timing; each row times its windows and a full frame
alternately, and its ratios are to that full frame. The issue's target: boxes covering
15% cost at most 35% of a full frame. Ratios are within one run; the machine may be
shared, so the figures are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402  (after the path set-up above)

SHARED = ROOT.parent / "shared" / "data"


def content_frame(h: int, w: int) -> np.ndarray:
    """tubingen from ../shared/data when present, else a seeded noise texture."""
    import cv2

    photo = SHARED / "content" / "tubingen.jpg"
    if photo.is_file():
        bgr = cv2.resize(cv2.imread(str(photo)), (w, h), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    noise = np.random.default_rng(0).random((h, w, 3)).astype(np.float32)
    return (cv2.GaussianBlur(noise, (0, 0), 3) * 255).astype(np.uint8)


def centred_box(h: int, w: int, share: float) -> tuple[int, int, int, int]:
    bw, bh = round(w * share**0.5), round(h * share**0.5)
    x0, y0 = (w - bw) // 2, (h - bh) // 2
    return x0, y0, x0 + bw, y0 + bh


def paired_ms(fns: list, repeat: int) -> list[float]:
    """Median ms of each of `fns`, called in turn `repeat` times, so that load from other
    processes on a shared machine weighs on all alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for f, t in zip(fns, times, strict=True):
            start = time.perf_counter()
            f()
            t.append(time.perf_counter() - start)
    return [1000 * statistics.median(t) for t in times]


def bench_network(
    style: str, frame: np.ndarray, shares, margins, repeat: int, engine: str
) -> list[str]:
    from models.stylizer import load_stylizer

    h, w = frame.shape[:2]
    s = load_stylizer([style], jit_compile=True, engine=engine)
    openvino = s.engine.name == "openvino"
    if openvino:
        s.engine.region_compile_px = 0  # each window's variant compiled when first seen
        # The same windows on the dynamic compile: an engine that never compiles one.
        dyn = load_stylizer([style], engine=engine)
        dyn.engine.region_compile_px = float("inf")
        _, dyn_stats = dyn.stylize_with_stats(frame)
        dyn.wait_compiled()
    s.stylize_with_stats(frame)
    s(frame)
    s.wait_compiled()
    _, stats = s.stylize_with_stats(frame)
    full, plain = paired_ms([lambda: s.stylize_with_stats(frame), lambda: s(frame)], repeat)
    rows = [
        f"{style} on {s.engine.name}: full frame {h}x{w} with stats {full:.1f} ms "
        f"(plain call {plain:.1f} ms); exact halo {s.engine.trim_total(stats.model)} px",
    ]
    if openvino:
        rows += [
            "| margin | box share | box | window (inner sides) | window px | static ms "
            "| dynamic ms | full ms | static / full | dynamic / full |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    else:
        rows += [
            "| margin | box share | box | window (inner sides) | window px | ms | full ms "
            "| ratio to full |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for margin in margins:
        for share in shares:
            box = centred_box(h, w, share)
            x0, y0, x1, y1 = box
            s.region_shapes.clear()
            s.stylize_regions(frame, [box], stats, margin=margin)
            s.wait_compiled()
            ((wh, ww, code),) = s.region_shapes
            cells = f"| {margin} | {share:.0%} | {x1 - x0}x{y1 - y0} | {ww}x{wh} ({code}) "
            cells += f"| {ww * wh / (h * w):.0%} "
            fns = [
                lambda b=box, m=margin: s.stylize_regions(frame, [b], stats, m),
                lambda: s.stylize_with_stats(frame),
            ]
            if not openvino:
                ms, full_ms = paired_ms(fns, repeat)
                rows.append(cells + f"| {ms:.1f} | {full_ms:.1f} | {ms / full_ms:.2f} |")
                continue
            fns.insert(1, lambda b=box, m=margin: dyn.stylize_regions(frame, [b], dyn_stats, m))
            before = s.engine.region_windows["dynamic"]
            ms, dyn_ms, full_ms = paired_ms(fns, repeat)
            assert s.engine.region_windows["dynamic"] == before, "a window ran dynamic"
            rows.append(
                cells + f"| {ms:.1f} | {dyn_ms:.1f} | {full_ms:.1f} | {ms / full_ms:.2f} "
                f"| {dyn_ms / full_ms:.2f} |"
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="480x640", help="HxW of the frame")
    ap.add_argument("--shares", default="5,15,30,60", help="box areas, percent of the frame")
    ap.add_argument("--margins", default="64,48", help="context margins in px")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--style", default=None, help="style image for Magenta's network")
    ap.add_argument("--engine", default="openvino", choices=("openvino", "tensorflow"))
    a = ap.parse_args()
    h, w = (int(v) for v in a.size.split("x"))
    shares = [float(v) / 100 for v in a.shares.split(",")]
    margins = [int(v) for v in a.margins.split(",")]
    style = a.style or str(
        SHARED / "style" / "starry_night.jpg"
        if (SHARED / "style").is_dir()
        else ROOT / "samples" / "portrait.jpg"
    )
    frame = content_frame(h, w)
    for spec in ("preset:7", style):
        print(
            "\n".join(bench_network(spec, frame, shares, margins, a.repeat, a.engine)),
            "\n",
            flush=True,
        )


if __name__ == "__main__":
    main()
