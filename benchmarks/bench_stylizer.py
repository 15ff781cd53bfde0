"""Speed of the fast stylizer beside onnxruntime on the same float network, in one run.

    python benchmarks/bench_stylizer.py [--sizes 240x320,480x640] [--repeat 10] [--attempts]

Prints, per frame size, the median ms per frame of the Magenta style transformer:
- ours: the restructured network (space-to-depth 9x9 convs, folded subpixel upsampling)
  compiled with XLA for the frame's shape, as the video and webcam paths run it;
- ours, no XLA: the same network as a plain tf.function (what still images use);
- plain TF: the layer-by-layer rebuild, no XLA (the naive port);
- onnxruntime: the shipped graph with activation Q/DQ removed (float, same math);
and the ratio onnxruntime / ours (> 1: ours is faster). Also the style predictor, the first
call (trace + XLA compile) per size, and process start to first stylized frame with a warm
cache. `--attempts` also measures, in subprocesses, what TensorFlow settings change at
480x640: oneDNN on, one intra-op thread, batches of 2 frames.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def transformer_fns(size: tuple[int, int], bottleneck: np.ndarray):
    import onnxruntime as ort
    import tensorflow as tf

    from models import onnx_weights as ow
    from models.networks import Transformer

    w = ow.read_magenta_transformer()
    content = np.random.default_rng(0).random((1, *size, 3), dtype=np.float32)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(
        ow.float_reference_model("magenta-transform").SerializeToString(), opts
    )
    feed = {
        "content_image": content,
        "mobilenet_conv/Conv/BiasAdd": bottleneck.reshape(1, 1, 1, 100),
    }
    spec = [tf.TensorSpec([1, None, None, 3]), tf.TensorSpec([1, None])]
    fns = {}
    first_call = {}
    for label, fast, jit in [
        ("ours", True, True),
        ("ours, no XLA", True, False),
        ("plain TF", False, False),
    ]:
        net = Transformer(w, fast=fast)
        params = net.norm_params(tf.constant(bottleneck.reshape(1, 100)))
        f = tf.function(net.__call__, input_signature=spec, jit_compile=jit)
        c = tf.constant(content)
        t = time.perf_counter()
        f(c, params).numpy()
        first_call[label] = 1000 * (time.perf_counter() - t)
        fns[label] = lambda f=f, c=c, p=params: f(c, p).numpy()
    fns["onnxruntime"] = lambda: sess.run(None, feed)
    return fns, first_call


def predictor_ms(repeat: int) -> tuple[float, float]:
    import onnxruntime as ort

    from models import cache
    from models import onnx_weights as ow

    style = np.random.default_rng(1).random((1, 256, 256, 3), dtype=np.float32)
    m = cache.load("magenta")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(
        ow.float_reference_model("magenta-predict").SerializeToString(), opts
    )
    return (
        median_ms(lambda: m.predict_style(style).numpy(), repeat),
        median_ms(lambda: sess.run(None, {"style_image": style}), repeat),
    )


# Prints the seconds from the parent's clock reading (argv[1]) to the first frame: the
# process then waits for the background XLA compile before it exits, which is not start-up.
START_SNIPPET = """
import os, sys, time, numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from models.stylizer import load_stylizer
s = load_stylizer(["preset:7"])
s(np.zeros((480, 640, 3), np.uint8))
print(time.time() - float(sys.argv[1]))
"""

ATTEMPT_SNIPPET = """
import os, sys, time, statistics, numpy as np, tensorflow as tf
from models import onnx_weights as ow
from models.networks import Transformer
mode = sys.argv[1]
if mode == "intra1":
    tf.config.threading.set_intra_op_parallelism_threads(1)
net = Transformer(ow.read_magenta_transformer(), fast=True)
b = np.random.default_rng(0).standard_normal((1, 100)).astype(np.float32)
n = 2 if mode == "batch2" else 1
c = tf.constant(np.random.default_rng(0).random((n, 480, 640, 3), dtype=np.float32))
p = tf.repeat(net.norm_params(tf.constant(b)), n, axis=0)
f = tf.function(net.__call__, jit_compile=True)
f(c, p).numpy()
ts = []
for _ in range(8):
    t = time.perf_counter(); f(c, p).numpy(); ts.append(time.perf_counter() - t)
print(1000 * statistics.median(ts) / n)
"""


def attempts() -> list[tuple[str, float]]:
    root = Path(__file__).resolve().parents[1]
    runs = [
        ("default (restructured + XLA)", "default", {}),
        ("TF_ENABLE_ONEDNN_OPTS=1", "default", {"TF_ENABLE_ONEDNN_OPTS": "1"}),
        ("one intra-op thread", "intra1", {}),
        ("batch of 2 frames (per frame)", "batch2", {}),
    ]
    out = []
    for label, mode, env in runs:
        r = subprocess.run(
            [sys.executable, "-c", ATTEMPT_SNIPPET, mode],
            cwd=root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        out.append((label, float(r.stdout.strip().splitlines()[-1])))
    return out


def start_to_first_frame() -> float:
    root = Path(__file__).resolve().parents[1]
    seconds = 0.0
    for _ in range(2):  # the second run has a warm model cache and a warm OS file cache
        r = subprocess.run(
            [sys.executable, "-c", START_SNIPPET, str(time.time())],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        )
        seconds = float(r.stdout.strip().splitlines()[-1])
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="240x320,384x384,480x640,720x1280")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--attempts", action="store_true")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    bottleneck = np.random.default_rng(2).standard_normal((1, 100)).astype(np.float32)

    print(
        f"Magenta style transformer, float32, {os.cpu_count()} CPU cores, median of {args.repeat}"
    )
    print(
        f"{'size':>10} | {'ours':>8} | {'no XLA':>8} | {'plain TF':>8} | {'onnxrt':>8} | "
        f"{'onnxrt/ours':>11} | {'first call (trace+XLA)':>22}"
    )
    for size in sizes:
        fns, first = transformer_fns(size, bottleneck)
        ms = {k: median_ms(f, args.repeat) for k, f in fns.items()}
        print(
            f"{size[0]:>4}x{size[1]:<5} | {ms['ours']:>6.1f}ms | {ms['ours, no XLA']:>6.1f}ms | "
            f"{ms['plain TF']:>6.1f}ms | {ms['onnxruntime']:>6.1f}ms | "
            f"{ms['onnxruntime'] / ms['ours']:>10.2f}x | {first['ours']:>20.0f}ms"
        )
    ours, ref = predictor_ms(args.repeat)
    print(
        f"\nstyle predictor (256x256, once per style): ours {ours:.1f} ms, "
        f"onnxruntime {ref:.1f} ms, ratio {ref / ours:.2f}x"
    )
    print(
        f"process start to first stylized 480x640 frame, warm cache: {start_to_first_frame():.1f} s"
    )
    if args.attempts:
        print("\nattempts at 480x640 (ms per frame, each in its own process):")
        for label, v in attempts():
            print(f"  {label:<32} {v:7.1f}")


if __name__ == "__main__":
    main()
