"""Offline (VGG16 optimization) video mode, measured in one run on a real clip.

1. Seconds per L-BFGS iteration: ours (targets computed once, VGG on the result image only,
   loss+gradient in one tf.function, scipy L-BFGS-B) beside a straightforward reproduction
   of the Keras notebook (Keras VGG16 on the batch [content, style, result] every call,
   scipy fmin_l_bfgs_b with an Evaluator that computes loss and gradients per call), in
   its eager form and with the per-call function compiled by tf.function (what the old
   Keras `K.function` amounted to). Same image size, layers and weights.
2. Warm against cold keyframes: every keyframe is optimized cold (from the content, no
   temporal term, a fixed number of iterations); the video mode optimizes the same
   keyframes warm-started from the previous result warped along the input flow, with
   Ruder's temporal term. For each warm keyframe: iterations and seconds until its
   content+style+TV loss is at or below what the cold run reached at its end. Then why
   not sooner: the first warm keyframe's starting points split into loss terms (content,
   style per layer), and the best case of a warm start, a converged cold result and its
   frame both shifted by one whole pixel (perfect flow, nothing resampled).
3. Warping error (docs/design.md section 4, on the input frames' flow) of the optimized video,
   of the same pipeline with independent (cold, no temporal term) keyframes, and of the
   fast stylizer run on every frame; the keyframe variants with the default hole fill
   (warp) and with the fast stylizer's (same keyframes, replayed), split into the pairs
   touching a keyframe and the others.

Usage: python benchmarks/bench_offline.py [--clip PATH] [--start S --end E] [--size PX]
Needs the VGG16 weights (`stylize-video models fetch vgg16`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def load_frames(clip: str, start: float, end: float, size: int) -> tuple[list, float]:
    from realtime.sources import open_file_source

    with open_file_source(clip, start=start, end=end, size=size) as src:
        frames = list(src)
        fps = src.fps
    return frames, fps


def load_style(path: str) -> np.ndarray:
    from models.images import load_image

    return load_image(path)[0]


# --- 1. seconds per iteration -----------------------------------------------------------


def ours_s_per_iteration(optimizer, content: np.ndarray, iters: int) -> dict:
    s = optimizer.settings
    optimizer.settings = replace(s, tol=0.0)
    try:
        optimizer.run(content, iterations=2)  # trace + targets
        r = optimizer.run(content, iterations=iters)
    finally:
        optimizer.settings = s
    return {
        "iterations": r.iterations,
        "evaluations": r.evaluations,
        "seconds": r.seconds,
        "s_per_iteration": r.seconds / r.iterations,
        "s_per_evaluation": r.seconds / r.evaluations,
    }


def notebook_s_per_iteration(
    settings, weights, content: np.ndarray, style: np.ndarray, iters: int, compiled: bool
) -> dict:
    """The Keras example's structure, ported to TF2 without changing its cost model."""
    import cv2
    import tensorflow as tf
    from scipy.optimize import fmin_l_bfgs_b

    from models.vgg import build_vgg16_extractor

    h, w = content.shape[:2]
    # The notebook loads the style image at the content's size and stacks all three.
    style_hw = cv2.resize(style.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    layers = [*settings.content_layers, *settings.style_layers]
    model = build_vgg16_extractor(layers, weights)
    base = tf.constant(content[None])
    style_ref = tf.constant(style_hw[None])
    nc = len(settings.content_layers)

    def gram(x):
        f = tf.reshape(x, [-1, x.shape[-1]])
        return tf.matmul(f, f, transpose_a=True) / tf.cast(tf.shape(f)[0] * f.shape[-1], tf.float32)

    def loss_and_grads(comb):
        with tf.GradientTape() as tape:
            tape.watch(comb)
            feats = model(tf.concat([base, style_ref, comb], 0))
            loss = tf.zeros([])
            for f in feats[:nc]:
                loss += settings.content_weight * tf.reduce_mean(tf.square(f[2] - f[0]))
            for f in feats[nc:]:
                g = gram(f[2]) - gram(f[1])
                loss += settings.style_weight * tf.reduce_mean(tf.square(g)) * f.shape[-1]
            dx = comb[:, :, 1:] - comb[:, :, :-1]
            dy = comb[:, 1:] - comb[:, :-1]
            loss += settings.tv_weight * (tf.reduce_mean(dx * dx) + tf.reduce_mean(dy * dy))
        return loss, tape.gradient(loss, comb)

    fn = tf.function(loss_and_grads) if compiled else loss_and_grads

    class Evaluator:
        """As in the notebook: loss() computes both and caches the gradients."""

        def __init__(self) -> None:
            self.grad_values = None
            self.calls = 0

        def loss(self, x):
            self.calls += 1
            loss, grads = fn(tf.constant(x.reshape(1, h, w, 3).astype(np.float32)))
            self.grad_values = grads.numpy().reshape(-1).astype(np.float64)
            return float(loss)

        def grads(self, x):
            return self.grad_values

    ev = Evaluator()
    x = content.reshape(-1).astype(np.float64)
    fmin_l_bfgs_b(ev.loss, x, fprime=ev.grads, maxiter=2)  # warm-up / trace
    ev.calls = 0
    t0 = time.perf_counter()
    x, _, info = fmin_l_bfgs_b(
        ev.loss, x, fprime=ev.grads, maxiter=iters, maxfun=10 * iters, factr=0, pgtol=0
    )
    dt = time.perf_counter() - t0
    return {
        "iterations": int(info["nit"]),
        "evaluations": ev.calls,
        "seconds": dt,
        "s_per_iteration": dt / max(info["nit"], 1),
        "s_per_evaluation": dt / max(ev.calls, 1),
    }


# --- 2 and 3. video variants ------------------------------------------------------------


class ColdKeyframes:
    """Wraps the optimizer so every keyframe starts cold: content init, no temporal term
    (independent per-keyframe optimization), with exactly `settings.iterations`."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.settings = inner.settings

    def run(self, content, init=None, *, temporal_target=None, temporal_mask=None, progress=None):
        s = self.inner.settings
        self.inner.settings = replace(s, tol=0.0)
        try:
            return self.inner.run(content, None, progress=progress)
        finally:
            self.inner.settings = s


class Recorder:
    """Passes runs through and keeps each keyframe's result and starting point (by the
    content's bytes), so the same keyframes can be propagated again with another fill
    without optimizing them again (Replay)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.settings = inner.settings
        self.runs: dict[bytes, dict] = {}

    def run(self, content, init=None, **kw):
        r = self.inner.run(content, init, **kw)
        self.runs[np.asarray(content).tobytes()] = {"result": r, "init": init, **kw}
        return r


class Replay:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.settings = recorder.settings

    def run(self, content, init=None, **kw):
        return self.recorder.runs[np.asarray(content).tobytes()]["result"]


def run_video(optimizer, frames, keys, fast) -> tuple[list[np.ndarray], object, float]:
    from realtime.offline import OfflineStylizer

    engine = OfflineStylizer(optimizer, keys, fast=fast)
    out: list = []
    t0 = time.perf_counter()
    engine.run(iter(frames), out.append)
    return [f.image for f in out], engine.result, time.perf_counter() - t0


def split_pairs(errors: list[float], keyframes: list[int]) -> tuple[float, float]:
    """Mean warping error over the pairs that touch a keyframe, and over the others
    (pair i is frames i and i+1)."""
    keys = set(keyframes)
    touch = [e for i, e in enumerate(errors) if i in keys or i + 1 in keys]
    rest = [e for i, e in enumerate(errors) if not (i in keys or i + 1 in keys)]
    return float(np.nanmean(touch)), float(np.nanmean(rest)) if rest else float("nan")


def translated_restart(
    optimizer, content: np.ndarray, result: np.ndarray, target: float, shift: int, iters: int
) -> dict:
    """The best case for a warm start: the scene moves by exactly `shift` whole pixels, the
    flow is perfect and the warp resamples nothing (np.roll of content and result). How
    many iterations until the loss is back at `target` (the cold run's end)?"""
    c = np.roll(content, shift, axis=1)
    x = np.roll(result, shift, axis=1)
    s = optimizer.settings
    optimizer.settings = replace(s, tol=0.0)
    try:
        r = optimizer.run(c, x, iterations=iters)
    finally:
        optimizer.settings = s
    reach = next((i for i, v in enumerate(r.history) if v <= target), None)
    return {"shift": shift, "start": r.initial_loss, "end": r.final_loss, "reach": reach,
            "at_third": r.history[min(len(r.history) - 1, iters // 3)]}  # fmt: skip


def iterations_to_reach(parts_history: list, target: float) -> int | None:
    for i, p in enumerate(parts_history):
        if p[0] + p[1] + p[2] <= target:
            return i
    return None


def diagnose_warm_start(a, results, optimizer, frames, rec_cold, rec_warm, warm_res):
    """Why warm starts do not skip the tail: the first warm keyframe's starting points
    split into loss terms, and the best case of a warm start (a whole-pixel translation
    with a perfect flow)."""
    if len(warm_res.keyframes) < 2:
        return
    p, k = warm_res.keyframes[0].index, warm_res.keyframes[1].index

    def f32(i: int) -> np.ndarray:
        return frames[i].image.astype(np.float32) / 255.0

    run_k = rec_warm.runs[f32(k).tobytes()]
    prev = rec_warm.runs[f32(p).tobytes()]["result"].image
    cold_k = rec_cold.runs[f32(k).tobytes()]["result"]
    layers = optimizer.settings.style_layers
    starts = {
        f"previous keyframe ({p}) result, at frame {p}": optimizer.loss_terms(prev, f32(p)),
        "  its bicubic warp along the flow": optimizer.loss_terms(run_k["init"][0], f32(k)),
        "  warp, unwarped where unreliable": optimizer.loss_terms(run_k["init"][1], f32(k)),
        "  not warped at all": optimizer.loss_terms(prev, f32(k)),
        f"cold start's end at frame {k}": optimizer.loss_terms(cold_k.image, f32(k)),
    }
    reliable = float(np.mean(run_k["temporal_mask"]))
    print(
        f"\n   loss terms of the starting points of keyframe {k} (flow reliable on "
        f"{reliable:.0%} of it; warm run started from candidate {run_k['result'].init_choice})"
    )
    short = [n.replace("_conv1", "") for n in layers]
    print(f"{'':40} {'total':>7} {'content':>8} " + " ".join(f"{n:>7}" for n in short))
    for name, t in starts.items():
        print(
            f"{name:40} {t['total']:7.2f} {t['content']:8.2f} "
            + " ".join(f"{t[n]:7.2f}" for n in layers)
        )
    h = cold_k.history
    third = a.iterations // 3
    print(
        f"   cold start at frame {k}: {h[0]:.1f} at 0, {h[min(10, len(h) - 1)]:.2f} at 10, "
        f"{h[min(third, len(h) - 1)]:.2f} at {third}, {h[-1]:.2f} at {len(h) - 1}"
    )
    p_cold = rec_cold.runs[f32(p).tobytes()]["result"]
    best = translated_restart(optimizer, f32(p), p_cold.image, p_cold.final_loss, 1, a.iterations)
    print(
        f"   best case, frame {p} and its cold result both shifted by 1 whole pixel: starts "
        f"at {best['start']:.2f} (cold end {p_cold.final_loss:.2f}), {best['at_third']:.2f} "
        f"after {third} iterations, back at the cold end after "
        f"{best['reach'] if best['reach'] is not None else 'never'} iterations"
    )
    results["warm_start_diagnosis"] = {
        "starts": starts,
        "reliable": reliable,
        "cold_history": h,
        "translated_by_1px": best,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", default=str(DATA / "video" / "cockatoo.mp4"))
    ap.add_argument("--start", type=float, default=3.0)
    ap.add_argument("--end", type=float, default=4.25)
    ap.add_argument("--size", type=int, default=192, help="long side in pixels")
    ap.add_argument("--style", default=str(DATA / "style" / "starry_night.jpg"))
    ap.add_argument("--keyframe-every", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=100, help="per keyframe")
    ap.add_argument("--speed-iterations", type=int, default=10)
    ap.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON")
    a = ap.parse_args()

    from models.errors import UserError
    from models.optimize import OptimizeSettings, StyleOptimizer, make_extractor
    from models.vgg import load_vgg16_weights
    from realtime.metrics import sharpness, warping_error, warping_errors
    from realtime.offline import KeyframeSettings

    try:
        weights = load_vgg16_weights()
    except UserError as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 2
    frames, _ = load_frames(a.clip, a.start, a.end, a.size)
    h, w = frames[0].image.shape[:2]
    style = load_style(a.style)
    settings = OptimizeSettings(iterations=a.iterations)
    optimizer = StyleOptimizer(make_extractor(settings, weights), style, settings)
    content0 = frames[0].image.astype(np.float32) / 255.0
    print(
        f"clip {Path(a.clip).name} {a.start}-{a.end} s: {len(frames)} frames at {w}x{h}, "
        f"style {Path(a.style).name}, keyframe every {a.keyframe_every}, "
        f"{a.iterations} iterations max per keyframe",
        flush=True,
    )
    results: dict = {"clip": a.clip, "size": [w, h], "frames": len(frames)}

    # 1. speed, alternating so a busy machine hurts both sides alike; best of two.
    speed: dict[str, list[dict]] = {"ours": [], "notebook_eager": [], "notebook_tf_function": []}
    for _ in range(2):
        speed["ours"].append(ours_s_per_iteration(optimizer, content0, a.speed_iterations))
        for name, compiled in (("notebook_eager", False), ("notebook_tf_function", True)):
            speed[name].append(
                notebook_s_per_iteration(
                    settings, weights, content0, style, a.speed_iterations, compiled
                )
            )
    best = {k: min(v, key=lambda r: r["s_per_iteration"]) for k, v in speed.items()}
    results["speed"] = best
    print(f"\n1. seconds per L-BFGS iteration at {w}x{h} (best of 2 runs of {a.speed_iterations})")
    print(f"{'':24} {'s/iteration':>12} {'s/evaluation':>13} {'evals/it':>9} {'vs ours':>8}")
    for k, r in best.items():
        ratio = r["s_per_iteration"] / best["ours"]["s_per_iteration"]
        print(
            f"{k:24} {r['s_per_iteration']:12.3f} {r['s_per_evaluation']:13.3f} "
            f"{r['evaluations'] / max(r['iterations'], 1):9.2f} {ratio:7.2f}x"
        )

    # 2 + 3. video variants on identical keyframes (adaptive off so they coincide).
    from models.stylizer import load_stylizer

    fast = load_stylizer([a.style], fixed_shape=True)
    fast(frames[0].image)  # trace
    # Keyframe choice depends on the input only, so the variants share their keyframes.
    keys = KeyframeSettings(every=a.keyframe_every, adaptive=False)  # default fill: warp
    rec_cold, rec_warm = Recorder(ColdKeyframes(optimizer)), Recorder(optimizer)
    cold_out, cold_res, cold_t = run_video(rec_cold, frames, keys, fast)
    warm_out, warm_res, warm_t = run_video(rec_warm, frames, keys, fast)
    # The same warm starts without Ruder's term: what the warm start alone buys.
    optimizer.settings = replace(settings, temporal_weight=0.0)
    rec_nt = Recorder(optimizer)
    nt_out, nt_res, nt_t = run_video(rec_nt, frames, keys, fast)
    optimizer.settings = settings
    # The same keyframes propagated with the fast stylizer filling the holes.
    fast_keys = replace(keys, fill="fast")
    fill_fast = {
        name: run_video(Replay(rec), frames, fast_keys, fast)[0]
        for name, rec in (("warm", rec_warm), ("nt", rec_nt), ("cold", rec_cold))
    }
    t0 = time.perf_counter()
    fast_out = [fast(f.image) for f in frames]
    fast_t = time.perf_counter() - t0
    sources = [f.image for f in frames]

    print("\n2. warm-started keyframes vs cold start (loss = content + style + TV)")
    results["warm_vs_cold"] = {}
    for label, res in (("warm + temporal term", warm_res), ("warm, no temporal term", nt_res)):
        print(f"   {label}")
        print(
            f"{'key':>5} {'cold it':>8} {'cold loss':>10} {'warm start':>11} {'warm it':>8} "
            f"{'warm loss':>10} {'it to reach':>12} {'s to reach':>11} {'cold s':>8}"
        )
        rows = []
        for k_cold, k_warm in zip(cold_res.keyframes[1:], res.keyframes[1:], strict=True):
            target = k_cold.final_loss
            parts = res.parts_histories[k_warm.index]
            reach = iterations_to_reach(parts, target)
            s_it = k_warm.seconds / max(k_warm.iterations, 1)
            row = {
                "keyframe": k_warm.index,
                "cold_iterations": k_cold.iterations,
                "cold_final_loss": target,
                "cold_seconds": k_cold.seconds,
                "warm_initial_loss": sum(parts[0][:3]),
                "warm_iterations": k_warm.iterations,
                "warm_final_loss": sum(parts[-1][:3]),
                "iterations_to_reach_cold": reach,
                "seconds_to_reach_cold": None if reach is None else reach * s_it,
            }
            rows.append(row)
            print(
                f"{row['keyframe']:5d} {k_cold.iterations:8d} {target:10.4g} "
                f"{row['warm_initial_loss']:11.4g} {k_warm.iterations:8d} "
                f"{row['warm_final_loss']:10.4g} {'never' if reach is None else reach:>12} "
                f"{'-' if reach is None else f'{reach * s_it:.1f}':>11} {k_cold.seconds:8.1f}"
            )
        results["warm_vs_cold"][label] = rows
        reached = [r["iterations_to_reach_cold"] for r in rows if r["iterations_to_reach_cold"]]
        if rows:
            print(
                f"   reached the cold loss: {len(reached)}/{len(rows)} keyframes"
                + (
                    f", in {np.mean(reached) / a.iterations:.2f} of the cold iterations "
                    "on average (target <= 0.33)"
                    if reached
                    else ""
                )
            )

    diagnose_warm_start(a, results, optimizer, frames, rec_cold, rec_warm, warm_res)

    print(
        "\n3. warping error (lower is steadier) and time for the whole clip; holes (pixels "
        f"neither keyframe covers, {warm_res.filled_fraction:.1%} of in-between pixels) "
        "filled with the warp (default) or the fast stylizer; pairs touching a keyframe "
        "vs the others (default fill)"
    )
    key_idx = [k.index for k in warm_res.keyframes]
    variants = {
        "optimized video (warm + temporal)": (warm_out, fill_fast["warm"], warm_t),
        "warm, no temporal term": (nt_out, fill_fast["nt"], nt_t),
        "independent keyframes (cold)": (cold_out, fill_fast["cold"], cold_t),
        "fast stylizer per frame": (fast_out, fast_out, fast_t),
    }
    rows = {}
    for k, (out_w, out_f, t) in variants.items():
        per_pair = warping_errors(sources, out_w)
        at_keys, between = split_pairs(per_pair, key_idx)
        rows[k] = {
            "E_warp": float(np.nanmean(per_pair)),
            "E_warp_fast_fill": warping_error(sources, out_f),
            "pairs_touching_keyframes": at_keys,
            "pairs_between": between,
            "per_pair": per_pair,
            "sharpness": float(np.mean([sharpness(f) for f in out_w])),
            "seconds": t,
        }
    ours = rows["optimized video (warm + temporal)"]
    print(
        f"{'':36} {'E_warp':>8} {'ours/this':>9} {'fast fill':>9} {'ours/this':>9} "
        f"{'at keys':>8} {'between':>8} {'sharpness':>9} {'seconds':>8}"
    )
    for k, r in rows.items():
        print(
            f"{k:36} {r['E_warp']:8.5f} {ours['E_warp'] / r['E_warp']:9.2f} "
            f"{r['E_warp_fast_fill']:9.5f} {ours['E_warp_fast_fill'] / r['E_warp_fast_fill']:9.2f} "
            f"{r['pairs_touching_keyframes']:8.5f} {r['pairs_between']:8.5f} "
            f"{r['sharpness']:9.4f} {r['seconds']:8.1f}"
        )
    for k in ("optimized video (warm + temporal)", "independent keyframes (cold)"):
        print(f"   per pair, {k}: " + " ".join(f"{e:.4f}" for e in rows[k]["per_pair"]))
    results["warping_error"] = rows
    results["filled_fraction"] = warm_res.filled_fraction
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
