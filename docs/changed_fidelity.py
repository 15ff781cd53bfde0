"""Where `--changed` loses fidelity (docs/design.md section 4), in one process on the first
frames of a clip at 640 px with preset 7. Prints, against a fresh per-frame stylization
of each frame (fidelity: per frame the 99th percentile of 16x16 patch errors; its mean
and 99th percentile over the frames):

- `--temporal 0.7` frame by frame (the bound is 1.25x its fidelity) and `--changed` with
  and without its temporal blend;
- every frame stylized in full with the first frame's statistics frozen (what exact
  re-stylization of everything would give);
- an oracle of holding: inside the boxes `--changed` stylized on a frame, that frame's
  per-frame output; elsewhere the per-frame output of d frames before, warped along the
  flow (the best a pixel held for d frames can be, whatever method holds it);
- where the worst 1% of `--changed`'s patches lie: in boxes stylized on this frame, up to
  three frames before, or earlier.

Run from the repository root (a clip name needs ../shared/data/video; a path, e.g. one
`write_clip` wrote, or a test pattern does not):

    python docs/changed_fidelity.py [asl_book.mkv | PATH | testpattern | testpattern:still]
                                    [--frames 60] [--sheet last-frame.png]

`testpattern:still` (640x360) runs its whole 10 s by default: the van driving in, the
exposure step and the white-balance shift are where frozen statistics go stale; a second
table gives the fidelity means per phase of the scene.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from models.images import fit_long_side  # noqa: E402
from models.tf_runtime import quiet_tensorflow  # noqa: E402
from realtime.flow import MotionEstimator, warp  # noqa: E402
from realtime.jobs.assembly import wrap_processor  # noqa: E402
from realtime.metrics import Fidelity  # noqa: E402
from realtime.sources.test_pattern import (  # noqa: E402
    STILL_PHASES,
    STILL_SECONDS,
    render_pattern,
    render_still,
)
from stylize_video import _temporal_options, build_parser  # noqa: E402

VIDEO = ROOT.parent / "shared" / "data" / "video"
PATCH = 16
HELD = (1, 2, 4, 8)  # frames a pixel is held, in the oracle


def read_frames(clip: str, n: int) -> list[np.ndarray]:
    if clip == "testpattern":
        return [render_pattern(i, 640, 480, 30.0) for i in range(n)]
    if clip == "testpattern:still":
        return [render_still(i, 640, 360, 30.0) for i in range(n)]
    cap = cv2.VideoCapture(str(clip if Path(clip).exists() else VIDEO / clip))
    frames = []
    while len(frames) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(fit_long_side(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), 640))
    cap.release()
    return frames


def patch_errors(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    e = np.abs(out.astype(np.float32) - ref.astype(np.float32)).mean(axis=2) / 255
    h, w = (e.shape[0] // PATCH) * PATCH, (e.shape[1] // PATCH) * PATCH
    return e[:h, :w].reshape(h // PATCH, PATCH, w // PATCH, PATCH).mean(axis=(1, 3))


def print_phases(fid: Fidelity, n: int) -> None:
    """Fidelity means over each phase of the still scene (frames at 30 fps)."""
    names = ["--temporal 0.7", "--changed --temporal 0.7", "--changed --temporal 0"]
    print("\nper phase of the still scene (fidelity mean):")
    print(f"| phase | frames | {' | '.join(names)} |")
    print("|---|---|" + "---|" * len(names))
    starts = [round(t * 30) for _, t in STILL_PHASES] + [n]
    for (phase, _), i, j in zip(STILL_PHASES, starts, starts[1:], strict=False):
        if i >= min(j, n):
            break
        cells = " | ".join(f"{np.mean(fid.per_frame[k][i:j]):.3f}" for k in names)
        print(f"| {phase} | {i}-{min(j, n) - 1} | {cells} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "clip",
        nargs="?",
        default="asl_book.mkv",
        help="a clip name or path, testpattern or testpattern:still",
    )
    ap.add_argument("--sheet", help="write the last frame side by side (PNG)")
    ap.add_argument("--frames", type=int, help="default 60 (the still scene: all of it)")
    a = ap.parse_args()
    if a.frames is None:
        a.frames = round(STILL_SECONDS * 30) if a.clip == "testpattern:still" else 60
    quiet_tensorflow()
    from models.stylizer import load_stylizer  # TensorFlow: not for --help

    frames = read_frames(a.clip, a.frames)
    stylizer = load_stylizer(["preset:7"], jit_compile=False)
    refs = [stylizer(f) for f in frames]
    runs = {  # as the video command builds them
        flags: wrap_processor(
            stylizer,
            _temporal_options(
                build_parser().parse_args(["video", "-o", "o.mp4", "i", *flags.split()])
            ),
        )
        for flags in ("--temporal 0.7", "--changed --temporal 0.7", "--changed --temporal 0")
    }
    boxes: dict[int, list] = {}  # frame -> boxes stylized by the spied run
    current = [0]
    regions = stylizer.stylize_regions

    def spy(image, bxs, stats, margin=64):
        boxes.setdefault(current[0], []).extend(bxs)
        return regions(image, bxs, stats, margin)

    spied = "--changed --temporal 0"
    motion = MotionEstimator()
    fid = Fidelity()
    held = []  # the spied run's outputs
    _, stats0 = stylizer.stylize_with_stats(frames[0])
    for i, (frame, ref) in enumerate(zip(frames, refs, strict=True)):
        current[0] = i
        outs = {}
        for name, proc in runs.items():
            stylizer.stylize_regions = spy if name == spied else regions
            outs[name] = proc(frame)
        stylizer.stylize_regions = regions
        h, w = frame.shape[:2]
        outs["all frozen at frame 0"] = stylizer.stylize_regions(frame, [(0, 0, w, h)], stats0)[0]
        for d in HELD:
            if i >= d:
                # The best a pixel held for d frames can be: the per-frame output of d frames
                # before, warped along the flow, outside this frame's boxes.
                flow = motion.estimate(motion.prepare(frame), motion.prepare(frames[i - d]))
                best = warp(refs[i - d], flow.flow_at(w, h), cv2.INTER_CUBIC)
                for x0, y0, x1, y1 in boxes.get(i, []):
                    best[y0:y1, x0:x1] = ref[y0:y1, x0:x1]
                outs[f"oracle: held {d} frame(s), boxes exact"] = best
        fid.add(outs, ref)
        held.append(outs[spied])
        last = {"source": frame, "per-frame": ref, **outs}
    print(f"{a.clip}, first {len(frames)} frames at {frames[0].shape[1]}x{frames[0].shape[0]}")
    print("| output | fidelity mean | p99 | mean vs --temporal 0.7 |")
    print("|---|---|---|---|")
    base = fid.mean("--temporal 0.7")
    rows = [(name, fid.mean(name), fid.p99(name)) for name in fid.per_frame]
    for name, mean, p99 in rows:
        print(f"| {name} | {mean:.3f} | {p99:.3f} | {mean / base:.2f}x |")
    worst = {"this frame": 0, "1-3 frames before": 0, "earlier, or never": 0}
    for i in range(1, len(frames)):
        pe = patch_errors(held[i], refs[i])
        age = np.full(pe.shape, 99)
        for j in range(max(0, i - 3), i + 1):
            for x0, y0, x1, y1 in boxes.get(j, []):
                age[y0 // PATCH : -(-y1 // PATCH), x0 // PATCH : -(-x1 // PATCH)] = i - j
        for a_ in age[pe >= np.percentile(pe, 99)]:
            worst[list(worst)[0 if a_ == 0 else 1 if a_ <= 3 else 2]] += 1
    if a.sheet:
        shown = ["source", "per-frame", "--temporal 0.7", "--changed --temporal 0.7"]
        tiles = []
        for name in shown:
            tile = cv2.cvtColor(last[name], cv2.COLOR_RGB2BGR)
            cv2.putText(tile, name, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
            tiles.append(tile)
        cv2.imwrite(a.sheet, np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])]))
    if a.clip == "testpattern:still":
        print_phases(fid, len(frames))
    total = sum(worst.values())
    print(f"{spied}: where its worst 1% of patches were last stylized:")
    print(", ".join(f"{k} {v / total:.0%}" for k, v in worst.items()))


if __name__ == "__main__":
    main()
