"""Gatys et al.'s style transfer by optimization against VGG16 (the offline quality path).

The image itself is optimized so that its VGG16 features match the content photo's and
its feature correlations (Gram matrices) match the painting's, with a total-variation
smoothness term and, for video, Ruder et al.'s temporal term
`(1/D) sum(c * (x - warp(x_prev))^2)`.

Differences from the notebook this replaces (Keras VGG16 + scipy fmin_l_bfgs_b on a batch
of [content, style, result] every call): the content features and style Grams are computed
once, each L-BFGS evaluation runs VGG16 on the result image only, and loss and gradient
come from one `tf.function` call.

Why the early-stop failure happens and how it is avoided: scipy's L-BFGS-B stops when the
relative decrease falls below `ftol` *relative to max(|f|, 1)* or when every projected
gradient entry is below `gtol` (1e-5). Losses that are means over pixels have tiny
per-pixel gradients, and a warm start that is already close to a minimum has a tiny
relative decrease in its first steps, so L-BFGS quits after one or two iterations and
leaves the frame unchanged. Here the loss is scaled so the starting value is 1e3, scipy's
own tolerances are switched off (ftol=gtol=0) and stopping is decided by our relative
loss-change rule after a minimum number of iterations; when L-BFGS-B still ends early
(e.g. a line search failing on float32 noise) it is restarted from where it stopped.

Contract: images are float32 RGB in [0, 1], HxWx3 (numpy) at the API; NHWC inside.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.errors import UserError
from models.progress import progress_bar

# Content: the notebook's deep layer; Johnson et al. use relu2_2 (= Keras block2_conv2,
# whose output is after the ReLU). Style: Gatys et al.'s relu1_1..relu5_1.
NOTEBOOK_CONTENT_LAYERS = ("block5_conv2",)
JOHNSON_CONTENT_LAYERS = ("block2_conv2",)
DEFAULT_STYLE_LAYERS = (
    "block1_conv1",
    "block2_conv1",
    "block3_conv1",
    "block4_conv1",
    "block5_conv1",
)

Init = Literal["content", "noise", "fast"]
Method = Literal["lbfgs", "adam"]


@dataclass(frozen=True)
class OptimizeSettings:
    """Everything that changes the result (hashed for the video work folder)."""

    content_layers: tuple[str, ...] = JOHNSON_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 1e-2
    temporal_weight: float = 2e2
    method: Method = "lbfgs"
    iterations: int = 200  # upper bound; early stopping usually ends sooner
    min_iterations: int = 10
    # Stop when the loss fell by less than `tol` (relative) per iteration, averaged over
    # the last `window` iterations.
    tol: float = 1e-3
    window: int = 10
    learning_rate: float = 0.02  # Adam, for an image in [0, 1]
    init: Init = "content"
    seed: int = 0
    style_scale: float = 1.0  # style image long side relative to the content's

    def validate(self) -> None:
        if not self.content_layers and self.content_weight > 0:
            raise UserError("--content-layers is empty: name at least one VGG16 layer")
        if not self.style_layers and self.style_weight > 0:
            raise UserError("--style-layers is empty: name at least one VGG16 layer")
        weights = {
            "content": self.content_weight,
            "style": self.style_weight,
            "tv": self.tv_weight,
            "temporal": self.temporal_weight,
        }
        for name, value in weights.items():
            if value < 0 or not math.isfinite(value):
                raise UserError(f"--{name}-weight must be >= 0")
        if self.iterations < 1:
            raise UserError("--iterations must be at least 1")
        if self.method not in ("lbfgs", "adam"):
            raise UserError(f"unknown optimizer {self.method!r}: use lbfgs or adam")
        if self.init not in ("content", "noise", "fast"):
            raise UserError(f"unknown --init {self.init!r}: use content, noise or fast")
        if not 0.05 <= self.style_scale <= 4:
            raise UserError("--style-scale must be between 0.05 and 4")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OptimizeResult:
    image: np.ndarray  # float32 HxWx3 in [0, 1]
    history: list[float]  # unscaled loss after each iteration, history[0] = at the start
    iterations: int
    evaluations: int  # loss+gradient calls (L-BFGS line searches add some)
    seconds: float
    restarts: int = 0
    stop_reason: str = ""
    terms: dict[str, float] = field(default_factory=dict)  # final loss terms
    # Weighted (content, style, tv, temporal) after each iteration, [0] = at the start.
    parts_history: list[tuple[float, float, float, float]] = field(default_factory=list)
    init_choice: int = 0  # which of several `init` candidates was used

    @property
    def initial_loss(self) -> float:
        return self.history[0]

    @property
    def final_loss(self) -> float:
        return self.history[-1]


def _gram(f: Any) -> Any:
    import tensorflow as tf

    shape = tf.shape(f)
    n = tf.cast(shape[1] * shape[2], tf.float32)
    c = tf.cast(shape[3], tf.float32)
    flat = tf.reshape(f, [-1, shape[3]])
    return tf.matmul(flat, flat, transpose_a=True) / (n * c)


# The loss terms, unweighted; the optimized loss and the diagnostic split share them.
def _content_terms(feats: Sequence[Any], targets: Sequence[Any]) -> list[Any]:
    import tensorflow as tf

    return [tf.reduce_mean(tf.square(a - b)) for a, b in zip(feats, targets, strict=True)]


def _style_terms(feats: Sequence[Any], grams: Sequence[Any]) -> list[Any]:
    import tensorflow as tf

    return [
        tf.reduce_mean(tf.square(_gram(a) - g)) * tf.cast(tf.shape(g)[0], tf.float32)
        for a, g in zip(feats, grams, strict=True)
    ]


def _tv_term(x: Any) -> Any:
    """Total variation of an NHWC batch (mean squared neighbour differences)."""
    import tensorflow as tf

    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    return tf.reduce_mean(tf.square(dx)) + tf.reduce_mean(tf.square(dy))


class StyleOptimizer:
    """Optimizes images toward one style with a fixed VGG16 extractor.

    `extractor` maps float32 RGB [0, 1] NHWC to the list of feature maps for
    `settings.content_layers + settings.style_layers` (see models.vgg); build it with
    `make_extractor`. The style Grams are recomputed only when the target size changes."""

    def __init__(self, extractor: Any, style: np.ndarray, settings: OptimizeSettings) -> None:
        import tensorflow as tf

        settings.validate()
        self.settings = settings
        self.extractor = extractor
        self.style = _as_float_image(style)
        self._grams_for: tuple[int, int] | None = None
        self._grams: list[Any] = []
        n_content = len(settings.content_layers)
        n_style = len(settings.style_layers)

        def split(feats: Any) -> tuple[list[Any], list[Any]]:
            feats = list(feats) if isinstance(feats, (list, tuple)) else [feats]
            return feats[:n_content], feats[n_content : n_content + n_style]

        self._split = split

        def terms(x, content_t, grams_t, prev, mask, w):
            feats_c, feats_s = split(self.extractor(x, training=False))
            content = tf.add_n(_content_terms(feats_c, content_t) or [tf.zeros([])])
            style = tf.add_n(_style_terms(feats_s, grams_t) or [tf.zeros([])])
            tv = _tv_term(x)
            # Ruder et al.: (1/D) sum(c * (x - warp(x_prev))^2), D = H*W*3.
            temporal = tf.reduce_mean(mask * tf.square(x - prev))
            total = w[0] * content + w[1] * style + w[2] * tv + w[3] * temporal
            return total, tf.stack([content, style, tv, temporal])

        self._terms = terms
        img = tf.TensorSpec([1, None, None, 3], tf.float32)
        specs_c = [tf.TensorSpec(None, tf.float32) for _ in range(n_content)]
        specs_g = [tf.TensorSpec(None, tf.float32) for _ in range(n_style)]
        mask = tf.TensorSpec([1, None, None, 1], tf.float32)
        sig = [img, specs_c, specs_g, img, mask, tf.TensorSpec([4], tf.float32),
               tf.TensorSpec([], tf.float32)]  # fmt: skip

        @tf.function(input_signature=sig)
        def loss_and_grad(x, content_t, grams_t, prev, mask, w, scale):
            with tf.GradientTape() as tape:
                tape.watch(x)
                total, parts = terms(x, content_t, grams_t, prev, mask, w)
                scaled = total * scale
            return scaled, tape.gradient(scaled, x), total, parts

        self._loss_and_grad = loss_and_grad
        self.trace_count = 0

    # -- targets ------------------------------------------------------------------------

    def _style_grams(self, hw: tuple[int, int]) -> list[Any]:
        import cv2
        import tensorflow as tf

        if self._grams_for != hw:
            long_side = max(hw) * self.settings.style_scale
            h, w = self.style.shape[:2]
            k = long_side / max(h, w)
            size = (max(16, round(w * k)), max(16, round(h * k)))
            style = cv2.resize(self.style, size, interpolation=cv2.INTER_AREA)
            _, feats_s = self._split(self.extractor(style[None], training=False))
            self._grams = [tf.constant(_gram(f)) for f in feats_s]
            self._grams_for = hw
        return self._grams

    def _content_targets(self, content: np.ndarray) -> list[Any]:
        import tensorflow as tf

        feats_c, _ = self._split(self.extractor(content[None], training=False))
        return [tf.constant(f) for f in feats_c]

    def loss_terms(self, image: np.ndarray, content: np.ndarray) -> dict[str, float]:
        """The weighted loss of `image` for `content`, split for diagnosis: "content", one
        entry per style layer (by layer name), "tv", and their sum "total" (no temporal
        term). Same formulas as the optimized loss."""
        s = self.settings
        image, content = _as_float_image(image)[None], _as_float_image(content)
        feats_c, feats_s = self._split(self.extractor(image, training=False))
        targets = self._content_targets(content)
        grams = self._style_grams(content.shape[:2])
        out = {"content": s.content_weight * sum(map(float, _content_terms(feats_c, targets)))}
        for name, term in zip(s.style_layers, _style_terms(feats_s, grams), strict=True):
            out[name] = s.style_weight * float(term)
        out["tv"] = s.tv_weight * float(_tv_term(image))
        out["total"] = sum(out.values())
        return out

    # -- the run ------------------------------------------------------------------------

    def run(
        self,
        content: np.ndarray,
        init: np.ndarray | Sequence[np.ndarray] | None = None,
        *,
        temporal_target: np.ndarray | None = None,
        temporal_mask: np.ndarray | None = None,
        iterations: int | None = None,
        progress: Callable[[int, float], None] | None = None,
        show_progress: bool = False,
        desc: str = "optimize",
    ) -> OptimizeResult:
        """Optimize one image. `init` is the starting image (content when None) or a list
        of candidates, of which the one with the lowest loss is taken;
        `temporal_target` (a warped previous result) and `temporal_mask` (HxW in [0, 1],
        1 = reliable) add Ruder's temporal term. `progress(iteration, loss)` is called after
        every iteration (the video job's single bar uses it); `show_progress` draws a
        tqdm bar of its own."""
        import tensorflow as tf

        s = self.settings
        content = _as_float_image(content)
        h, w = content.shape[:2]
        if init is None:
            candidates = [content.copy()]
        elif isinstance(init, (list, tuple)):
            candidates = [_as_float_image(c) for c in init]
        else:
            candidates = [_as_float_image(init)]
        for c in candidates:
            if c.shape != content.shape:
                raise ValueError(f"init shape {c.shape} != content shape {content.shape}")
        if temporal_target is not None:
            prev = _as_float_image(temporal_target)
            mask = (
                np.ones((h, w), np.float32)
                if temporal_mask is None
                else np.asarray(temporal_mask, np.float32)
            )
            tw = s.temporal_weight
        else:
            prev = np.zeros_like(content)
            mask = np.zeros((h, w), np.float32)
            tw = 0.0
        args = (
            self._content_targets(content),
            self._style_grams((h, w)),
            tf.constant(prev[None]),
            tf.constant(mask[None, :, :, None]),
            tf.constant([s.content_weight, s.style_weight, s.tv_weight, tw], tf.float32),
        )
        max_iter = iterations or s.iterations
        t0 = time.perf_counter()

        evals = 0
        last_parts = np.zeros(4)
        last: dict[str, Any] = {}  # the point evaluated last, to skip repeats

        def evaluate(x: np.ndarray, scale: float) -> tuple[float, np.ndarray, float]:
            nonlocal evals, last_parts
            x32 = x.reshape(1, h, w, 3).astype(np.float32)
            if last and last["scale"] == scale and np.array_equal(last["x"], x32):
                return last["out"]
            evals += 1
            scaled, grad, total, parts = self._loss_and_grad(
                tf.constant(x32), *args, tf.constant(scale, tf.float32)
            )
            last_parts = parts.numpy()
            out = (float(scaled), grad.numpy().reshape(-1), float(total))
            last.update(x=x32, scale=scale, out=out)
            return out

        weights = args[4].numpy()
        # Several starting points: take the one with the lowest loss (one VGG pass each).
        best = None
        for i, c in enumerate(candidates):
            _, g, f = evaluate(c, 1.0)
            if best is None or f < best[2]:
                best = (i, g, f, last_parts.copy())
        init_choice, g0, f0, last_parts = best
        x0 = candidates[init_choice]
        last.update(x=x0.reshape(1, h, w, 3))
        # Loss scale: start at 1e3 whatever the weights/size (see module docstring).
        scale = 1e3 / max(f0, 1e-20)
        # The optimizer's first call is at x0 again: answer it without another VGG pass.
        last.update(scale=scale, out=(f0 * scale, g0 * scale, f0))
        history = [f0]
        parts_history = [tuple(float(v) for v in last_parts * weights)]

        bar = progress_bar(max_iter, "it", desc, quiet=not show_progress)

        def on_iteration(loss: float) -> bool:
            """Record an iteration; True = stop (converged)."""
            history.append(loss)
            # The iterate is the point evaluated last (L-BFGS-B's accepted step, Adam's x).
            parts_history.append(tuple(float(v) for v in last_parts * weights))
            it = len(history) - 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4g}")
            if progress is not None:
                progress(it, loss)
            return _converged(history, s)

        try:
            if s.method == "adam":
                x, reason = self._adam(x0, evaluate, scale, max_iter, on_iteration)
                restarts = 0
            else:
                x, reason, restarts = self._lbfgs(
                    history, x0, evaluate, scale, max_iter, on_iteration
                )
            if bar is not None:  # early stopping ends the job short of the iteration budget
                bar.total = bar.n
        finally:
            if bar is not None:
                bar.close()
        # Final terms at the returned image (free when it was the last point evaluated;
        # after a failed line search it may not be).
        evaluate(x, scale)
        img = np.clip(x.reshape(h, w, 3), 0.0, 1.0).astype(np.float32)
        terms = dict(
            zip(
                ("content", "style", "tv", "temporal"),
                (float(v) for v in last_parts * weights),
                strict=True,
            )
        )
        return OptimizeResult(
            image=img,
            history=history,
            iterations=len(history) - 1,
            evaluations=evals,
            seconds=time.perf_counter() - t0,
            restarts=restarts,
            stop_reason=reason,
            terms=terms,
            parts_history=parts_history,
            init_choice=init_choice,
        )

    def _lbfgs(
        self,
        history: list[float],
        x0: np.ndarray,
        evaluate: Callable[[np.ndarray, float], tuple[float, np.ndarray, float]],
        scale: float,
        max_iter: int,
        on_iteration: Callable[[float], bool],
    ) -> tuple[np.ndarray, str, int]:
        from scipy.optimize import minimize

        x = x0.reshape(-1).astype(np.float64)
        done = 0
        restarts = 0
        state = {"converged": False}

        def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
            f, g, _ = evaluate(v, scale)
            return f, g.astype(np.float64)

        def callback(intermediate_result: Any) -> None:
            if on_iteration(float(intermediate_result.fun) / scale):
                state["converged"] = True
                raise StopIteration

        reason = ""
        while True:
            res = minimize(
                fun,
                x,
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, 1.0)] * x.size,
                callback=callback,
                # ftol/gtol off: stopping is ours (see module docstring).
                options={"maxiter": max_iter - done, "ftol": 0.0, "gtol": 0.0, "maxls": 40},
            )
            x = res.x
            done = len(history) - 1
            if state["converged"]:
                reason = "converged (relative loss change)"
                break
            if done >= max_iter:
                reason = "iteration limit"
                break
            # L-BFGS-B ended on its own (line search failure, ...) before our rule said
            # stop: restart from here with a fresh curvature memory, at most 3 times.
            restarts += 1
            reason = f"L-BFGS-B: {res.message}"
            if restarts > 3:
                break
        return x, reason, restarts

    def _adam(
        self,
        x0: np.ndarray,
        evaluate: Callable[[np.ndarray, float], tuple[float, np.ndarray, float]],
        scale: float,
        max_iter: int,
        on_iteration: Callable[[float], bool],
    ) -> tuple[np.ndarray, str]:
        lr = self.settings.learning_rate
        b1, b2, eps = 0.9, 0.999, 1e-8
        x = x0.reshape(-1).astype(np.float32)
        m = np.zeros_like(x)
        v = np.zeros_like(x)
        _, g, _ = evaluate(x, scale)
        for t in range(1, max_iter + 1):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            step = lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
            x = np.clip(x - step, 0.0, 1.0)
            # This evaluation gives the loss after step t and the gradient for step t+1.
            _, g, loss = evaluate(x, scale)
            if on_iteration(loss):
                return x, "converged (relative loss change)"
        return x, "iteration limit"


def _converged(history: Sequence[float], s: OptimizeSettings) -> bool:
    it = len(history) - 1
    if it < max(s.min_iterations, s.window):
        return False
    old, new = history[-1 - s.window], history[-1]
    rel = (old - new) / max(abs(old), 1e-20) / s.window
    return rel < s.tol


def _as_float_image(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def initial_image(
    content: np.ndarray,
    init: Init,
    *,
    fast: Callable[[np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """The starting image: the content, seeded noise, or the fast stylizer's output
    (`fast` takes and returns RGB uint8 HxWx3, the FrameProcessor contract)."""
    content = _as_float_image(content)
    if init == "content":
        return content.copy()
    if init == "noise":
        rng = np.random.default_rng(seed)
        return rng.uniform(0.0, 1.0, content.shape).astype(np.float32)
    if init == "fast":
        if fast is None:
            raise UserError("--init fast needs the fast stylizer (a --style it can load)")
        out = fast((content * 255.0 + 0.5).astype(np.uint8))
        if out.shape != content.shape:
            raise ValueError(f"fast stylizer returned {out.shape}, expected {content.shape}")
        return _as_float_image(out)
    raise UserError(f"unknown --init {init!r}: use content, noise or fast")


def make_extractor(settings: OptimizeSettings, weights: Any = "cache", seed: int = 0) -> Any:
    """The VGG16 extractor for `settings`' layers. `weights="cache"` loads the converted
    torchvision weights (UserError if not fetched); None gives random weights (tests)."""
    from models.vgg import build_vgg16_extractor, load_vgg16_weights

    w = load_vgg16_weights() if isinstance(weights, str) and weights == "cache" else weights
    return build_vgg16_extractor([*settings.content_layers, *settings.style_layers], w, seed=seed)


def plot_loss(histories: dict[str, Sequence[float]] | Sequence[float], path: str | Path) -> Path:
    """Write the loss curve(s) as a PNG (log scale), via a temp file renamed at the end."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not isinstance(histories, dict):
        histories = {"loss": histories}
    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, h in histories.items():
        ax.plot(range(len(h)), h, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    if 1 < len(histories) <= 12:
        ax.legend(fontsize="small", ncol=2 if len(histories) > 6 else 1)
    elif len(histories) > 12:
        ax.set_title(f"{len(histories)} curves")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def make_settings(settings: OptimizeSettings | Mapping[str, Any] | None) -> OptimizeSettings:
    """Settings from plain values (the CLI passes a dict; None values mean the default)."""
    if isinstance(settings, OptimizeSettings):
        s = settings
    else:
        kw = {k: v for k, v in (settings or {}).items() if v is not None}
        for k in ("content_layers", "style_layers"):
            if isinstance(kw.get(k), str):
                kw[k] = tuple(x.strip() for x in kw[k].split(",") if x.strip())
        s = OptimizeSettings(**kw)
    s.validate()
    return s


def cv2_resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
