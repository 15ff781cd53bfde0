"""The TensorFlow engine: the GPU path, and `--hub-handle` models on any device.

Per-frame functions are `tf.function`s whose input_signature has `None` height and width,
so a new frame size never retraces. With XLA (always on a GPU; on a CPU for a fixed frame
shape), each new shape is compiled in a background thread while the plain function serves
the first frames. Models come from the cache's SavedModels (`tensorflow_hub.load`); the
frozen-statistics networks are built in process from the pinned weights.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import numpy as np

from models import cache, kinds
from models.device import DevicePlan, plan_device, visible_gpus
from models.engine import TENSORFLOW, Engine, Sides
from models.errors import UserError
from models.kinds import ModelKind
from models.tf_runtime import import_tensorflow

tf = import_tensorflow()

IMAGE_SLOT = "magenta"  # the kind style images go to, unless a --hub-handle replaces it
FRAME, STATS, REGIONS = "frame", "stats", "regions"  # the per-frame functions
# Calls of one region window shape before it is compiled with XLA. XLA makes a window
# 10-25% faster (3-8 ms) and costs 1-2 s of CPU per shape and set of sides, taken from the
# frames on two cores: with 8, an 80-frame clip compiled shapes it barely used and ran at
# 211 ms a frame instead of 122 (cockatoo, --changed, 96 shapes seen; profiled).
REGION_XLA_USES = 300
REGION_XLA_MAX = 24  # region shapes compiled with XLA per engine, at most


def _hub_model(hub_handle: str) -> ModelKind:
    """The user's --hub-handle model, standing in for our cached arbitrary-style one."""
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
    return model


def _sides_code(sides: Sides) -> str:
    """ "1011" for (top, bottom, left, right) inside the frame; "none" untrimmed."""
    return "none" if sides is None else "".join("1" if s else "0" for s in sides)


class TensorFlowEngine(Engine):
    name = TENSORFLOW

    def __init__(
        self,
        *,
        device: str | None = None,
        hub_handle: str | None = None,
        jit_compile: bool | None = None,
        fixed_shape: bool = True,
        threads: int | None = None,
    ):
        super().__init__()
        if threads:  # before TensorFlow runs anything: N workers share the cores
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        self.plan: DevicePlan = plan_device(
            visible_gpus(), requested=device, jit_compile=jit_compile, fixed_shape=fixed_shape
        )
        if self.plan.mixed_precision:
            tf.config.optimizer.set_experimental_options({"auto_mixed_precision": True})
        self._models: dict[str, ModelKind] = {}
        if hub_handle is not None:
            self._models[IMAGE_SLOT] = _hub_model(hub_handle)
        self._fns: dict[tuple[str, str, bool], Any] = {}
        self._compiled: set[tuple] = set()
        self._compiling: dict[tuple, threading.Thread] = {}
        self._closed = False
        self._region_uses: collections.Counter = collections.Counter()
        self._region_compiles = 0
        self.region_xla_uses = REGION_XLA_USES
        self._lock = threading.Lock()
        self._compile_lock = threading.Lock()

    def load(self, slot: str) -> ModelKind:
        with self._lock:
            if slot not in self._models:
                self._models[slot] = kinds.create(slot, cache.load(slot))
            return self._models[slot]

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "version": tf.__version__,
            "device": self.plan.device,
            "xla": self.plan.jit_compile,
            "mixed_precision": self.plan.mixed_precision,
        }

    def style_rep(self, model: ModelKind, style: np.ndarray) -> np.ndarray:
        return model.rep_from_style(style, self.plan.device)

    def trim_total(self, model: ModelKind) -> int:
        return model.stats_network().trim_total

    # --- traced functions -------------------------------------------------------------------

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

    def _pick(self, model: ModelKind, purpose: str, args: tuple[np.ndarray, ...]) -> Any:
        """The XLA function once it is compiled for these input shapes; until then the
        plain one, while a background thread compiles (seconds per shape on a CPU), so the
        first frames of a stream are not held up."""
        with self._lock:
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
        """Background XLA compiles not yet started are dropped and the running one is
        waited for (a process that exits under a running compile crashes in TensorFlow's
        teardown). The engine still works, without new compiles."""
        self._closed = True
        self.wait_compiled()

    def wait_compiled(self, timeout: float | None = None) -> None:
        for t in list(self._compiling.values()):
            t.join(timeout)

    # --- running ----------------------------------------------------------------------------

    def transform(self, model: ModelKind, content: np.ndarray, rep: np.ndarray) -> np.ndarray:
        fn = self._pick(model, FRAME, (content, rep))
        with tf.device(self.plan.device):
            return fn(tf.constant(content), tf.constant(rep)).numpy()

    def transform_stats(
        self, model: ModelKind, content: np.ndarray, rep: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        model.stats_network()  # built once, outside any trace
        fn = self._pick(model, STATS, (content, rep))
        with tf.device(self.plan.device):
            out, values = fn(tf.constant(content), tf.constant(rep))
        return out.numpy(), values.numpy()

    def transform_regions(
        self,
        model: ModelKind,
        crop: np.ndarray,
        rep: np.ndarray,
        stats: np.ndarray,
        sides: Sides,
    ) -> np.ndarray:
        code = _sides_code(sides)
        flags = np.array([c == "1" for c in code.replace("none", "0000")], np.int32)
        fn = self._pick(model, f"{REGIONS}:{code}", (crop, rep, stats, flags))
        with tf.device(self.plan.device):
            args = (tf.constant(crop), tf.constant(rep), tf.constant(stats), tf.constant(flags))
            return fn(*args).numpy()

    def warm_up(self, model: ModelKind, rep: np.ndarray, with_stats: bool) -> None:
        """Trace, on a small frame, the functions the first frames will call. Each trace
        costs most of a second; XLA compiles later, per shape, in the background."""
        frame, rep_t = tf.zeros([1, 64, 64, 3]), tf.constant(rep)
        with tf.device(self.plan.device):
            if not (with_stats and model.supports_stats()):
                self._fn(model, FRAME, False)(frame, rep_t)
                return
            model.stats_network()  # built once, outside any trace
            _, values = self._fn(model, STATS, False)(frame, rep_t)
        self._trace_regions(model, rep_t, values)

    def _trace_regions(self, model: ModelKind, rep: Any, values: Any) -> None:
        """Trace the plain region function (one for every set of sides) on a small crop."""
        with tf.device(self.plan.device):
            fn = self._fn(model, f"{REGIONS}:0000", False)
            fn(tf.zeros([1, 64, 64, 3]), rep, values, tf.zeros([4], tf.int32))

    def prepare_regions(self, model: ModelKind, rep: np.ndarray, stats: np.ndarray) -> None:
        key = (model.kind, "trace-regions")
        with self._lock:
            if key in self._compiling or self._closed:
                return
            self._compiling[key] = threading.Thread(
                target=self._trace_regions,
                args=(model, tf.constant(rep), tf.constant(stats)),
                name="trace-regions",
            )
            self._compiling[key].start()
