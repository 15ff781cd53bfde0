"""The fast stylizer: a cached SavedModel, a style representation computed once per style,
and a per-frame `tf.function` whose input_signature has `None` height and width, so a new
frame size never retraces.

Contract: frames are RGB uint8 HxWx3 in, RGB uint8 HxWx3 out (same size); internally
float32 RGB in [0, 1], NHWC.

The model kinds (magenta, combined, presets) are the registry in models.kinds: each
says its representation, transform, export and strength mode, so nothing here branches on
a kind's name. Preset specs go to the "presets" kind; style images to the image slot,
our cached "magenta" model unless a --hub-handle stands in for it.

Partial re-stylization (docs/design.md section 3.5):
`stylize_with_stats` stylizes a full frame and returns every instance norm's statistics
(NormStats); `stylize_regions` then re-stylizes boxes of later frames of the same size
with those statistics frozen, equal to what a full frame would give inside them.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models import cache, kinds
from models.atomic import atomic_path
from models.device import DevicePlan, plan_device, visible_gpus
from models.errors import UserError
from models.images import load_image
from models.kinds import BOTTLENECK, PIXELS, STYLE_SIZE, ModelKind
from models.styles import StyleSpec, parse_style
from models.tf_runtime import import_tensorflow

tf = import_tensorflow()

IMAGE_SLOT = "magenta"  # the kind style images go to, unless a --hub-handle replaces it
CONTENT_BOTTLENECK_EVERY = 15  # frames between refreshes of the content's own bottleneck


def preprocess_style(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> [1,256,256,3] float32 in [0,1]: centre square crop, area resize and the
    3x3 average-pool smoothing of the TF Hub tutorial."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    sq = cv2.resize(
        rgb[y : y + s, x : x + s], (STYLE_SIZE, STYLE_SIZE), interpolation=cv2.INTER_AREA
    )
    f = sq.astype(np.float32) / 255.0
    return cv2.blur(f, (3, 3), borderType=cv2.BORDER_REPLICATE)[None]


FRAME, STATS, REGIONS = "frame", "stats", "regions"  # the per-frame functions
# Calls of one region window shape before it is compiled with XLA. XLA makes a window
# 10-25% faster (3-8 ms) and costs 1-2 s of CPU per shape and set of sides, taken from the
# frames on two cores: with 8, an 80-frame clip compiled shapes it barely used and ran at
# 211 ms a frame instead of 122 (cockatoo, --changed, 96 shapes seen; profiled).
REGION_XLA_USES = 300
REGION_XLA_MAX = 24  # region shapes compiled with XLA per stylizer, at most
EXACT_MARGIN = 64  # margins from here on are exact: the network's own halo, trimmed
# Region window sizes per axis (multiples of 4), capped at the frame: a few shapes for XLA
# to compile instead of one per box size. Fine steps while margins dominate, coarser above.
REGION_SIZES = (128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024)


@dataclass(frozen=True)
class NormStats:
    """Every instance norm's per-channel mean and variance on one full frame, with what
    the frame was stylized with. Opaque to callers: made by `Stylizer.stylize_with_stats`,
    consumed by `Stylizer.stylize_regions`."""

    values: np.ndarray = field(repr=False)  # [1, 2*sum(C)]: all means, then all variances
    model: ModelKind = field(repr=False)
    rep: np.ndarray = field(repr=False)  # the representation used (bottleneck strength in)
    style_index: int
    strength: float
    preserve_color: bool
    frame_shape: tuple[int, ...]  # (H, W)


def region_window(
    lo: int, hi: int, margin: int, limit: int, sizes: Sequence[int]
) -> tuple[int, int]:
    """Start and length, along one axis of the network's domain (`limit` px, a multiple of
    4), of the window that holds [lo, hi) with `margin` px of context each side: clipped
    at the domain's ends, started on a multiple of 4, and enlarged (backwards near the
    far end) to the smallest of `sizes` that fits, or to the whole axis."""
    start = max(0, lo - margin) // 4 * 4
    need = min(limit, hi + margin) - start
    n = next((s for s in sizes if s >= need), -(-need // 256) * 256)
    n = min(n, limit)
    return min(start, limit - n), n


def _check_frame(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 HxWx3, got {image.dtype} {image.shape}")


def _check_box(box: Sequence[int], w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ValueError(f"box {tuple(box)} is empty or outside the {w}x{h} frame")
    return x0, y0, x1, y1


def _to_uint8(out: np.ndarray) -> np.ndarray:
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _hub_models(hub_handle: str | None) -> dict[str, ModelKind]:
    """The user's --hub-handle model, standing in for our cached arbitrary-style one."""
    models: dict[str, ModelKind] = {}
    if hub_handle is None:
        return models
    import tensorflow_hub as hub

    try:
        module = hub.load(hub_handle)
    except Exception as e:  # network, format, missing path: all the user's to fix
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"--hub-handle {hub_handle}: cannot load it ({first}); give a SavedModel folder "
            "or a TF Hub URL with the Magenta calling convention (needs network access)"
        ) from None
    model = kinds.hub_kind(module, hub_handle)
    if model is None:
        raise UserError(
            f"--hub-handle {hub_handle}: the model has neither predict_style/transform nor a "
            "__call__(content, style); it is not a Magenta-style stylization model"
        )
    models[IMAGE_SLOT] = model
    return models


class Stylizer:
    """Stylizes frames with one of several styles. Satisfies realtime's
    ControllableStylizer: `style_index`, `strength` and `preserve_color` may change
    between frames, and switching style costs nothing (all representations are computed
    at construction)."""

    max_in_flight = 2  # no per-frame state: the pipeline may run two frames at once

    def __init__(
        self,
        styles: Sequence[str],
        *,
        strength: float = 1.0,
        preserve_color: bool = False,
        hub_handle: str | None = None,
        jit_compile: bool | None = None,
        fixed_shape: bool = True,
        device: str | None = None,
    ):
        specs = [parse_style(s) for s in (styles or ["preset:7"])]
        self.plan: DevicePlan = plan_device(
            visible_gpus(), requested=device, jit_compile=jit_compile, fixed_shape=fixed_shape
        )
        if self.plan.mixed_precision:
            tf.config.optimizer.set_experimental_options({"auto_mixed_precision": True})
        self._models = _hub_models(hub_handle)
        self.specs = specs
        self.style_names = [s.name for s in specs]
        self._reps = [self._rep_for(s) for s in specs]
        self._fns: dict[tuple[str, str, bool], tf.types.experimental.GenericFunction] = {}
        self._compiled: set[tuple] = set()
        self._compiling: dict[tuple, threading.Thread] = {}
        self._closed = False
        self._region_uses: collections.Counter = collections.Counter()
        self._region_compiles = 0
        self._compile_lock = threading.Lock()
        self.traces: Counter[str] = Counter()  # Python-side traces per function (tests)
        self.region_sizes: tuple[int, ...] = REGION_SIZES
        self.region_xla_uses = REGION_XLA_USES
        # (height, width, inner sides code) of the windows run: one XLA compile each
        self.region_shapes: set[tuple[int, int, str]] = set()
        self.style_index = 0
        self.strength = strength
        self.preserve_color = preserve_color
        self._content_rep: np.ndarray | None = None
        self._frames_since_content = 0
        self._lock = threading.Lock()

    # --- styles ---------------------------------------------------------------------------

    @property
    def strength(self) -> float:
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise UserError(f"--strength {value}: give a number from 0 to 1")
        self._strength = float(value)

    @property
    def style_index(self) -> int:
        return self._style_index

    @style_index.setter
    def style_index(self, value: int) -> None:
        self._style_index = int(value) % len(self.specs)

    def _model(self, slot: str) -> ModelKind:
        if slot not in self._models:
            self._models[slot] = kinds.create(slot, cache.load(slot))
        return self._models[slot]

    def _rep_for(self, spec: StyleSpec) -> tuple[ModelKind, np.ndarray]:
        model = self._model("presets" if spec.is_preset else IMAGE_SLOT)
        return model, model.style_rep(spec, lambda p: self.style_rep_from_file(model, p))

    def style_rep_from_file(self, model: ModelKind, path: Path) -> np.ndarray:
        """Representation of a style image, cached in memory and on disk by the sha256 of
        the file's bytes (and the model)."""
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        key = f"{model.model_id}-{digest}"
        if key in _REP_MEMORY:
            return _REP_MEMORY[key]
        disk = cache.cache_dir() / "styles" / f"{key}.npy"
        rep = None
        if disk.is_file():
            try:
                rep = np.load(disk)
            except (OSError, ValueError):
                rep = None
        if rep is None or rep.shape != tuple(model.rep_spec().shape):
            rep = self._compute_rep(model, load_image(path)[0])
            _save_npy(disk, rep)
        _REP_MEMORY[key] = rep
        return rep

    def _compute_rep(self, model: ModelKind, rgb: np.ndarray) -> np.ndarray:
        return model.rep_from_style(preprocess_style(rgb), self.plan.device)

    # --- frames ---------------------------------------------------------------------------

    def _fn(self, model: ModelKind, purpose: str, jit: bool) -> Any:
        """The tf.function for `purpose`: FRAME, STATS, or REGIONS + ":" + the crop's inner
        sides code ("1011": top, bottom, left, right; "none": untrimmed). Region functions
        also take the sides as an int32 [4] tensor: XLA's are traced per code (static
        shapes), the plain one reads the tensor, so one trace serves all sixteen codes."""
        base, _, code = purpose.partition(":")
        if base == REGIONS and not jit and code != "none":
            code = "any"
        key = (model.kind, f"{base}:{code}", jit)
        if key not in self._fns:
            static = None if code in ("", "none", "any") else tuple(c == "1" for c in code)

            def traced(
                content: tf.Tensor,
                rep: tf.Tensor,
                stats: tf.Tensor | None = None,
                sides: tf.Tensor | None = None,
            ):
                self.traces[base] += 1  # runs only while tracing
                if base == FRAME:
                    return model.transform(content, rep)
                if base == STATS:
                    return model.transform_stats(content, rep)
                inner = sides if code == "any" else static
                return model.transform_frozen(content, rep, stats, inner)

            # None height and width: a new frame or crop size never retraces.
            signature = [tf.TensorSpec([1, None, None, 3], tf.float32), model.rep_spec()]
            if base == REGIONS:
                signature += [tf.TensorSpec([1, None], tf.float32), tf.TensorSpec([4], tf.int32)]
            fn = tf.function(
                traced,
                input_signature=signature,
                jit_compile=jit,
                reduce_retracing=True,
                autograph=False,  # no tensor-dependent Python control flow to convert
            )
            # Each purpose and XLA choice is its own function, traced once; TensorFlow
            # counts them all as retraces of `traced` and would warn about retracing.
            fn._omit_frequent_tracing_warning = True
            self._fns[key] = fn
        return self._fns[key]

    @property
    def trace_count(self) -> int:
        """Python-side traces of the per-frame function (tests read it)."""
        return self.traces[FRAME]

    def _pick(
        self, model: ModelKind, purpose: str, args: tuple[np.ndarray, ...]
    ) -> tf.types.experimental.GenericFunction:
        """The XLA function once it is compiled for these input shapes; until then the
        plain one, while a background thread compiles (seconds per shape on a CPU), so the
        first frames of a stream are not held up. Call with the lock held."""
        if not self.plan.jit_compile:
            return self._fn(model, purpose, False)
        shape = args[0].shape
        key = (model.kind, shape) if purpose == FRAME else (model.kind, purpose, shape)
        if key in self._compiled:
            return self._fn(model, purpose, True)
        if purpose.startswith(REGIONS):
            # Region windows come in many shapes (buckets x trimmed sides), each an XLA
            # compile of seconds and megabytes: only shapes in steady use earn one.
            self._region_uses[key] += 1
            if self._region_uses[key] < self.region_xla_uses or (
                key not in self._compiling and self._region_compiles >= REGION_XLA_MAX
            ):
                return self._fn(model, purpose, False)
        if key not in self._compiling:
            self._region_compiles += purpose.startswith(REGIONS)
            zeros = tuple(tf.zeros(np.shape(a), np.asarray(a).dtype) for a in args)
            # Not a daemon: a process that exits while XLA is still compiling crashes
            # (SIGSEGV) in TensorFlow's teardown, so exit waits for the compile instead.
            self._compiling[key] = threading.Thread(
                target=self._compile, args=(model, purpose, key, zeros), name="xla-compile"
            )
            self._compiling[key].start()
        return self._fn(model, purpose, False)

    def _compile(self, model: ModelKind, purpose: str, key: tuple, args: tuple) -> None:
        # One compile at a time: region buckets may ask for several shapes at once, and
        # parallel XLA compiles would starve the frames being served meanwhile.
        with self._compile_lock, tf.device(self.plan.device):
            if self._closed:
                return  # the job is over: a compile now would only delay its exit
            self._fn(model, purpose, True)(*args)
        self._compiled.add(key)

    def close(self) -> None:
        """The job is over: background XLA compiles not yet started are dropped and the
        running one is waited for (a process that exits under a running compile crashes
        in TensorFlow's teardown). The stylizer still works, without new compiles."""
        self._closed = True
        self.wait_compiled()

    def wait_compiled(self, timeout: float | None = None) -> None:
        """Wait for background XLA compilations (benchmarks, and tidy shutdowns)."""
        for t in list(self._compiling.values()):
            t.join(timeout)

    def _choose(self, content: np.ndarray) -> tuple[ModelKind, np.ndarray, float]:
        """The current style's model, its rep with bottleneck strength applied, and the
        strength. Call with the lock held."""
        model, rep = self._reps[self.style_index]
        w = self.strength
        if w < 1.0 and model.strength_mode == BOTTLENECK:
            rep = (1.0 - w) * self._content_bottleneck(model, content) + w * rep
        return model, np.asarray(rep, np.float32), w

    def stylize_float(self, content: np.ndarray) -> np.ndarray:
        """[1,H,W,3] float32 RGB in [0,1] -> [1,H,W,3] float32 RGB in [0,1]."""
        # The lock covers the choices, not the network: two frames may be in flight
        # (file conversion runs two at once; TensorFlow releases the GIL).
        with self._lock:
            model, rep, w = self._choose(content)
            fn = self._pick(model, FRAME, (content, rep))
        with tf.device(self.plan.device):
            out = fn(tf.constant(content), tf.constant(rep)).numpy()
        if w < 1.0 and model.strength_mode == PIXELS:
            out = w * out + (1.0 - w) * content
        return out

    # --- frozen statistics: full frames that record them, regions that reuse them ----------

    def stylize_with_stats_float(self, content: np.ndarray) -> tuple[np.ndarray, NormStats]:
        """As `stylize_float`, and the frame's per-norm statistics (see NormStats). The
        output is float32 [1,H,W,3] in [0,1], strength applied, colour not preserved."""
        with self._lock:
            model, rep, w = self._choose(content)
            if not model.supports_stats():
                raise UserError(
                    "a --hub-handle model cannot re-stylize regions of frames (its weights "
                    "are not ours to rebuild with frozen statistics); use the built-in "
                    "model (no --hub-handle) or stylize whole frames"
                )
            stats_info = (self.style_index, w, self.preserve_color)
            model.stats_network()  # built once, outside any trace
            fn = self._pick(model, STATS, (content, rep))
        with tf.device(self.plan.device):
            out, values = fn(tf.constant(content), tf.constant(rep))
        out = out.numpy()
        if w < 1.0 and model.strength_mode == PIXELS:
            out = w * out + (1.0 - w) * content
        index, strength, preserve = stats_info
        stats = NormStats(
            values.numpy(), model, rep, index, strength, preserve, tuple(content.shape[1:3])
        )
        self._trace_regions_early(stats)
        return out, stats

    def warm_up(self, with_stats: bool = False) -> None:
        """Trace, on a small frame, the functions the first frames will call: whole frames,
        or (`with_stats`) frames with statistics and regions. Each trace costs most of a
        second; a live source calls this before it starts, so its first frames do not
        wait. XLA compiles later, per shape, in the background as always."""
        model, rep = self._reps[self.style_index]
        frame, rep_t = tf.zeros([1, 64, 64, 3]), tf.constant(np.asarray(rep, np.float32))
        with tf.device(self.plan.device):
            if not (with_stats and model.supports_stats()):
                self._fn(model, FRAME, False)(frame, rep_t)
                return
            model.stats_network()  # built once, outside any trace
            _, values = self._fn(model, STATS, False)(frame, rep_t)
        self._trace_regions(model, rep_t, values)

    def _trace_regions(self, model: ModelKind, rep: tf.Tensor, values: tf.Tensor) -> None:
        """Trace the plain region function (one for every set of sides) on a small crop."""
        with tf.device(self.plan.device):
            fn = self._fn(model, f"{REGIONS}:0000", False)
            fn(tf.zeros([1, 64, 64, 3]), rep, values, tf.zeros([4], tf.int32))

    def _trace_regions_early(self, stats: NormStats) -> None:
        """Statistics are recorded for regions to follow: trace the region function now,
        in the background (most of a second), not on the first changed frame."""
        key = (stats.model.kind, "trace-regions")
        with self._lock:
            if key in self._compiling or self._closed:
                return
            self._compiling[key] = threading.Thread(
                target=self._trace_regions,
                args=(stats.model, tf.constant(stats.rep), tf.constant(stats.values)),
                name="trace-regions",
            )
            self._compiling[key].start()

    def stylize_with_stats(self, image: np.ndarray) -> tuple[np.ndarray, NormStats]:
        """RGB uint8 HxWx3 -> (stylized RGB uint8 HxWx3, NormStats): the full frame with
        the current style, strength and preserve_color (the same math as `__call__`, up
        to float rounding: +-1 level at most in uint8), and the
        per-norm statistics that `stylize_regions` needs to re-stylize parts of later
        frames of the same size. The stats record the style index, strength and
        preserve_color they were made with (`stats_are_current` compares them)."""
        _check_frame(image)
        out, stats = self.stylize_with_stats_float(image[None].astype(np.float32) / 255.0)
        rgb = _to_uint8(out[0])
        return (preserve_colors(image, rgb) if stats.preserve_color else rgb), stats

    def stats_are_current(self, stats: NormStats) -> bool:
        """Whether style, strength and preserve_color are still those `stats` were made
        with (if not, a full frame is due: regions would paste the old look)."""
        return (stats.style_index, stats.strength, stats.preserve_color) == (
            self.style_index,
            self.strength,
            self.preserve_color,
        ) and stats.model is self._reps[self.style_index][0]

    def stylize_regions_float(
        self,
        image: np.ndarray,
        boxes: Sequence[tuple[int, int, int, int]],
        stats: NormStats,
        margin: int = 64,
    ) -> list[np.ndarray]:
        """As `stylize_regions`, but float32 [y1-y0, x1-x0, 3] in [0, 1] per box, strength
        applied, colour not preserved."""
        _check_frame(image)
        h, w = image.shape[:2]
        if (h, w) != stats.frame_shape:
            raise ValueError(f"stats are of a {stats.frame_shape} frame, got {(h, w)}")
        # The network's domain: the frame reflect-padded to a multiple of 4 at the
        # bottom/right, as the transformer pads it; windows start on multiples of 4 so the
        # two stride-2 convs see the full frame's sampling grid.
        domain = image
        if h % 4 or w % 4:
            domain = np.pad(image, [(0, -h % 4), (0, -w % 4), (0, 0)], mode="reflect")
        model, rep, sw = stats.model, stats.rep, stats.strength
        exact = margin >= EXACT_MARGIN
        trim = model.stats_network().trim_total if exact else 0
        hp, wp = domain.shape[:2]
        rep_t, stats_t = tf.constant(rep), tf.constant(stats.values)
        outs = []
        for box in boxes:
            x0, y0, x1, y1 = _check_box(box, w, h)
            wy, wh = region_window(y0, y1, trim or margin, hp, self.region_sizes)
            wx, ww = region_window(x0, x1, trim or margin, wp, self.region_sizes)
            crop = domain[None, wy : wy + wh, wx : wx + ww].astype(np.float32) / 255.0
            code, oy, ox = "none", wy, wx  # untrimmed: the output is the whole window
            if exact:
                inner = (wy > 0, wy + wh < hp, wx > 0, wx + ww < wp)
                code = "".join("1" if side else "0" for side in inner)
                oy, ox = wy + trim * inner[0], wx + trim * inner[2]
            sides = np.array([c == "1" for c in code.replace("none", "0000")], np.int32)
            with self._lock:
                self.region_shapes.add((wh, ww, code))
                fn = self._pick(model, f"{REGIONS}:{code}", (crop, rep, stats.values, sides))
            with tf.device(self.plan.device):
                out = fn(tf.constant(crop), rep_t, stats_t, tf.constant(sides)).numpy()[0]
            out = out[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
            if sw < 1.0 and model.strength_mode == PIXELS:
                out = sw * out + (1.0 - sw) * (image[y0:y1, x0:x1].astype(np.float32) / 255.0)
            outs.append(out)
        return outs

    def stylize_regions(
        self,
        image: np.ndarray,
        boxes: Sequence[tuple[int, int, int, int]],
        stats: NormStats,
        margin: int = 64,
    ) -> list[np.ndarray]:
        """Re-stylize boxes (x0, y0, x1, y1), pixel coordinates, x1/y1 exclusive, of an RGB
        uint8 HxWx3 frame with the per-norm statistics of an earlier full frame of the
        same size (`stylize_with_stats`); returns each box's stylized RGB uint8
        [y1-y0, x1-x0, 3], in order.

        Style, strength and preserve_color are those recorded in `stats`, so the boxes
        match the full frame they will be pasted into. Each box runs in a window with
        context around it (clipped at the frame's borders, where the network's own reflect
        padding makes borders exact), enlarged to one of a few bucketed sizes
        (`region_sizes`, capped at the frame) so XLA compiles per bucket and set of inner
        sides, not per box.

        `margin` >= 64 (EXACT_MARGIN, the default) is exact: the context is the network's
        own halo (`trim_total`: 59 px Magenta, 67 presets) and each layer skips the
        outputs next to the window's inner edges that its padding spoiled, so a box equals
        the full frame's output (to float rounding) and later layers do less work. A
        smaller margin gives that much context, untrimmed: cheaper windows, but errors
        near the box's inner edges (48: about 0.003 on a photo, up to 0.03 on harsh
        noise; 32: 0.04 and more; docs/design.md section 3.5)."""
        floats = self.stylize_regions_float(image, boxes, stats, margin)
        outs = []
        for box, out in zip(boxes, floats, strict=True):
            rgb = _to_uint8(out)
            if stats.preserve_color:
                x0, y0, x1, y1 = box
                rgb = preserve_colors(image[y0:y1, x0:x1], rgb)
            outs.append(rgb)
        return outs

    def _content_bottleneck(self, model: ModelKind, content: np.ndarray) -> np.ndarray:
        # The content's own style changes slowly along a video: refresh it every few frames
        # rather than running the predictor on every one.
        if self._content_rep is None or self._frames_since_content >= CONTENT_BOTTLENECK_EVERY:
            rgb = (content[0] * 255.0 + 0.5).astype(np.uint8)
            self._content_rep = self._compute_rep(model, rgb)
            self._frames_since_content = 0
        self._frames_since_content += 1
        return self._content_rep

    def reset_content(self) -> None:
        """Forget the content bottleneck (call between unrelated images or on a scene cut)."""
        self._content_rep = None

    def add_style(self, spec: str) -> int:
        """Add a style while frames are flowing (a browser upload); returns its index.

        The representation is computed before taking the lock, so a frame being stylized
        on another thread waits only for the append."""
        parsed = parse_style(spec)
        rep = self._rep_for(parsed)
        with self._lock:
            self.specs.append(parsed)
            self._reps.append(rep)
            self.style_names.append(parsed.name)
            return len(self.specs) - 1

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 HxWx3 -> stylized RGB uint8 HxWx3 of the same size."""
        _check_frame(image)
        rgb = _to_uint8(self.stylize_float(image[None].astype(np.float32) / 255.0)[0])
        return preserve_colors(image, rgb) if self.preserve_color else rgb


def preserve_colors(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Stylized luminance with the original's chroma (YCrCb), both RGB uint8."""
    o = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb)
    s = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    o[:, :, 0] = s[:, :, 0]
    return cv2.cvtColor(o, cv2.COLOR_YCrCb2RGB)


_REP_MEMORY: dict[str, np.ndarray] = {}


def _save_npy(path: Path, arr: np.ndarray) -> None:
    try:
        with atomic_path(path) as tmp:
            np.save(tmp, arr)
    except OSError:
        pass  # the disk cache is an optimisation; the style still works without it


def load_stylizer(styles: Sequence[str], **options: Any) -> Stylizer:
    """Build a Stylizer for one or more style specs (see models.styles); `options` are
    Stylizer's keyword arguments (strength, preserve_color, hub_handle, jit_compile,
    fixed_shape, device)."""
    return Stylizer(styles, **options)
