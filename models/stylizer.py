"""The fast stylizer: a cached SavedModel, a style representation computed once per style,
and a per-frame `tf.function` whose input_signature has `None` height and width, so a new
frame size never retraces.

Contract: frames are RGB uint8 HxWx3 in, RGB uint8 HxWx3 out (same size); internally
float32 RGB in [0, 1], NHWC.

The model kinds (magenta, combined, presets) are the registry in models.kinds: each
says its representation, transform, export and strength mode, so nothing here branches on
a kind's name. Preset specs go to the "presets" kind; style images to the image slot,
our cached "magenta" model unless a --hub-handle stands in for it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
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
        self._fns: dict[tuple[str, bool], tf.types.experimental.GenericFunction] = {}
        self._compiled: set[tuple] = set()
        self._compiling: dict[tuple, threading.Thread] = {}
        self.trace_count = 0  # Python-side traces of the per-frame function (tests read it)
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

    def _fn(self, model: ModelKind, jit: bool) -> tf.types.experimental.GenericFunction:
        key = (model.kind, jit)
        if key not in self._fns:

            def per_frame(content: tf.Tensor, rep: tf.Tensor) -> tf.Tensor:
                self.trace_count += 1  # runs only while tracing
                return model.transform(content, rep)

            self._fns[key] = tf.function(
                per_frame,
                input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32), model.rep_spec()],
                jit_compile=jit,
                reduce_retracing=True,
            )
        return self._fns[key]

    def _pick(self, model: ModelKind, shape: tuple) -> tf.types.experimental.GenericFunction:
        """The XLA function once it is compiled for this frame shape; until then the plain
        one, while a background thread compiles (seconds per shape on a CPU), so the first
        frames of a stream are not held up. Call with the lock held."""
        if not self.plan.jit_compile:
            return self._fn(model, False)
        key = (model.kind, shape)
        if key in self._compiled:
            return self._fn(model, True)
        if key not in self._compiling:
            spec = model.rep_spec()
            args = (tf.zeros(shape), tf.zeros(spec.shape, spec.dtype))
            # Not a daemon: a process that exits while XLA is still compiling crashes
            # (SIGSEGV) in TensorFlow's teardown, so exit waits for the compile instead.
            self._compiling[key] = threading.Thread(
                target=self._compile, args=(model, key, *args), name="xla-compile"
            )
            self._compiling[key].start()
        return self._fn(model, False)

    def _compile(self, model: ModelKind, key: tuple, content: tf.Tensor, rep: tf.Tensor) -> None:
        with tf.device(self.plan.device):
            self._fn(model, True)(content, rep)
        self._compiled.add(key)

    def wait_compiled(self, timeout: float | None = None) -> None:
        """Wait for background XLA compilations (benchmarks, and tidy shutdowns)."""
        for t in list(self._compiling.values()):
            t.join(timeout)

    def stylize_float(self, content: np.ndarray) -> np.ndarray:
        """[1,H,W,3] float32 RGB in [0,1] -> [1,H,W,3] float32 RGB in [0,1]."""
        # The lock covers the choices, not the network: two frames may be in flight
        # (file conversion runs two at once; TensorFlow releases the GIL).
        with self._lock:
            model, rep = self._reps[self.style_index]
            w = self.strength
            if w < 1.0 and model.strength_mode == BOTTLENECK:
                rep = (1.0 - w) * self._content_bottleneck(model, content) + w * rep
            fn = self._pick(model, content.shape)
        with tf.device(self.plan.device):
            out = fn(tf.constant(content), tf.constant(rep, tf.float32)).numpy()
        if w < 1.0 and model.strength_mode == PIXELS:
            out = w * out + (1.0 - w) * content
        return out

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
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected RGB uint8 HxWx3, got {image.dtype} {image.shape}")
        out = self.stylize_float(image[None].astype(np.float32) / 255.0)[0]
        rgb = (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
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
