"""int8 networks on OpenVINO, judged by fidelity before speed, in one run.

    python benchmarks/bench_int8.py [--repeat 15]

For each network (preset 7; Magenta with composition_vii), NNCF post-training quantization
with default settings of the cached float IR, calibrated on 13 frames at 360x640 (the
shared content photos, the bundled portrait and frames of the bundled clip; nothing is
downloaded). Then, on held-out frames (the shared clips' frames at 360x640): median ms per
frame in float32 and int8, the speed-up, and fidelity of the int8 output against the float
output (docs/design.md section 4: per frame the 99th percentile of 16x16 patch mean
absolute errors; mean and 99th percentile over frames). For scale, `--temporal 0.7`
differs from frame-by-frame output by about 0.08 / 0.13 on a street clip.

The bar for offering int8 (`--precision int8`): >= 1.3x faster, with fidelity within
1.25x of `--temporal 0.7`'s (about 0.10 mean / 0.16 p99).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from bench_stylizer import median_ms  # noqa: E402  (the benchmarks' one timer)

DATA = ROOT.parent / "shared" / "data"
SIZE = (360, 640)


def frames_of(path: Path, n: int, skip: int = 0) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while len(out) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        if i >= skip and i % 7 == 0:
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        i += 1
    cap.release()
    return out


def to_input(rgb: np.ndarray) -> np.ndarray:
    x = cv2.resize(rgb, SIZE[::-1], interpolation=cv2.INTER_AREA)
    return x[None].astype(np.float32) / 255.0


def calibration() -> list[np.ndarray]:
    from models.images import load_image

    photos = sorted((DATA / "content").glob("*")) if DATA.is_dir() else []
    rgb = [load_image(p)[0] for p in photos] + [load_image(ROOT / "samples/portrait.jpg")[0]]
    rgb += frames_of(ROOT / "samples/clip.mp4", 13 - len(rgb))
    return [to_input(x) for x in rgb[:13]]


def held_out() -> list[np.ndarray]:
    clips = sorted((DATA / "video").glob("*")) if DATA.is_dir() else [ROOT / "samples/clip.mp4"]
    return [to_input(x) for clip in clips for x in frames_of(clip, 6, skip=30)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    a = ap.parse_args()
    import nncf
    import openvino as ov

    from models import cache
    from models.stylizer import load_stylizer
    from realtime.metrics import Fidelity

    core = ov.Core()
    f32 = {"INFERENCE_PRECISION_HINT": "f32"}
    calib, test = calibration(), held_out()
    style = DATA / "style" / "composition_vii.jpg"
    magenta_rep = load_stylizer([str(style)], engine="openvino").bank.reps[0][1]
    preset_rep = np.eye(26, dtype=np.float32)[7:8]
    print(f"NNCF {nncf.__version__}, OpenVINO {ov.get_version()}, {len(calib)} calibration "
          f"frames, {len(test)} held-out frames at {SIZE[0]}x{SIZE[1]}")  # fmt: skip
    print("| network | float32 ms | int8 ms | speed-up | fidelity mean | fidelity p99 |")
    print("|---|---|---|---|---|---|")
    for slot, rep in (("presets", preset_rep), ("magenta", magenta_rep)):
        model = core.read_model(cache.ensure_converted(slot, fmt=cache.OPENVINO) / "frame.xml")
        model.reshape({0: [1, *SIZE, 3]})
        data = nncf.Dataset(calib, lambda x, rep=rep: [x, rep])
        quantized = nncf.quantize(model, data, subset_size=len(calib))
        cf = core.compile_model(model, "CPU", f32)
        cq = core.compile_model(quantized, "CPU", f32)
        fid = Fidelity()
        for x in test:
            ref = (np.clip(cf([x, rep])[0][0], 0, 1) * 255 + 0.5).astype(np.uint8)
            out = (np.clip(cq([x, rep])[0][0], 0, 1) * 255 + 0.5).astype(np.uint8)
            fid.add(out, ref)
        ms_f = median_ms(partial(cf, [test[0], rep]), a.repeat)
        ms_q = median_ms(partial(cq, [test[0], rep]), a.repeat)
        print(f"| {slot} | {ms_f:.1f} | {ms_q:.1f} | {ms_f / ms_q:.2f}x | "
              f"{fid.mean():.3f} | {fid.p99():.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
