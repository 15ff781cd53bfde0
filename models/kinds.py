"""The model kinds, a registry of small classes keyed by name (as rembg's sessions are).

A kind wraps a loaded module and says everything the stylizer and the cache need to know
about it, so neither branches on kind strings:
- `rep_shape`: the style representation fed to the per-frame function;
- `transform(content, rep)`: float32 RGB [1,H,W,3] in [0,1] -> the same, stylized;
- `rep_from_style(style)` / `style_rep(spec, image_rep)`: how a style becomes a rep;
- `export(dest)` / `export_openvino(dest)`: how the cached kinds are converted into a
  SavedModel (the TensorFlow engine) and into OpenVINO IR (the CPU engine), both from the
  one definition in models.networks (`sources` names the pinned files they come from; a
  kind without sources is never cached);
- `strength_mode`: BOTTLENECK (interpolate the rep with the content's own, Magenta's
  identity interpolation) or PIXELS (blend the output with the content).

No TensorFlow at import: `stylize-video models list` reads the registry through the cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.errors import UserError
from models.styles import NUM_PRESETS, StyleSpec

STYLE_SIZE = 256
BOTTLENECK = "bottleneck"  # strength interpolates the rep with the content's own
PIXELS = "pixels"  # strength blends the stylized pixels with the content

KINDS: dict[str, type[ModelKind]] = {}


def register(cls: type[ModelKind]) -> type[ModelKind]:
    KINDS[cls.name] = cls
    return cls


def model_kind(name: str) -> type[ModelKind]:
    """The kind class registered as `name`; a clear error for anything else."""
    try:
        return KINDS[name]
    except KeyError:
        raise UserError(f"unknown model kind '{name}'; known: {', '.join(KINDS)}") from None


def create(name: str, module: Any, model_id: str | None = None) -> ModelKind:
    """Wrap a loaded module in the kind registered as `name`."""
    return model_kind(name)(module, model_id)


def cached_kinds() -> dict[str, type[ModelKind]]:
    """The kinds the cache converts and `stylize-video models` lists."""
    return {n: k for n, k in KINDS.items() if k.sources}


def _tf() -> Any:
    from models.tf_runtime import import_tensorflow

    return import_tensorflow()


class ModelKind:
    name: ClassVar[str]
    description: ClassVar[str] = ""
    sources: ClassVar[tuple[str, ...]] = ()
    rep_shape: ClassVar[tuple[int, ...]]
    strength_mode: ClassVar[str]
    blends: ClassVar[bool] = True  # whether several styles may be mixed in one rep
    has_stats: ClassVar[bool] = False  # read_transformer gives its pinned weights

    def __init__(self, module: Any, model_id: str | None = None):
        self.module = module
        self.model_id = model_id or self.name  # keys the on-disk style cache
        self._net: Any = None
        self._net_lock = threading.Lock()

    @property
    def kind(self) -> str:
        return self.name

    def rep_spec(self) -> Any:
        return _tf().TensorSpec(self.rep_shape, _tf().float32)

    def transform(self, content: Any, rep: Any) -> Any:
        return self.module.transform(content, rep)

    # --- frozen statistics (exact crops) ---------------------------------------------------
    # Built in process from the pinned weights (0.1 s) on first use rather than exported:
    # each trimmed variant is its own graph, and 16 of them in the SavedModel made every
    # start 3 s slower for users who never stylize regions.

    @classmethod
    def read_transformer(cls) -> Any:
        """The transformer's TransformerWeights, for kinds whose weights we pin."""
        return None

    def supports_stats(self) -> bool:
        """Whether frames can be stylized with frozen statistics: our own pinned networks
        (not a --hub-handle model, whose weights we do not know)."""
        return self.has_stats and self.model_id == self.name

    def stats_network(self) -> Any:
        """The networks.Transformer with `with_stats`/`frozen`, built once."""
        with self._net_lock:
            if self._net is None:
                from models.networks import Transformer

                # Eager constants even when first reached while a tf.function traces.
                with _tf().init_scope():
                    self._net = Transformer(self.read_transformer())
            return self._net

    def _params(self, rep: Any) -> Any:
        net = self.stats_network()
        return net.norm_params(_tf().reshape(rep, [-1, net.style_dim]))

    def transform_stats(self, content: Any, rep: Any) -> tuple[Any, Any]:
        """(image, per-norm stats [1, 2*sum(C)]) of a full frame."""
        return self.stats_network().with_stats(content, self._params(rep))

    def transform_frozen(
        self, content: Any, rep: Any, stats: Any, inner: tuple[bool, ...] | None = None
    ) -> Any:
        """A crop's transform with a full frame's per-norm stats frozen (see
        networks.Transformer.frozen for `inner`)."""
        return self.stats_network().frozen(content, self._params(rep), stats, inner)

    def rep_from_style(self, style: np.ndarray, device: str) -> np.ndarray:
        """[1,256,256,3] preprocessed style image -> this kind's representation."""
        raise NotImplementedError(f"model kind '{self.name}' takes no style images")

    def style_rep(self, spec: StyleSpec, image_rep: Callable[[Path], np.ndarray]) -> np.ndarray:
        """A style spec's representation: the weighted sum of its items' reps, each from
        `image_rep(path)` (the stylizer's cached call of `rep_from_style`)."""
        if not self.blends and len(spec.items) > 1:
            raise UserError(
                f"style '{spec.text}': this --hub-handle model has no predict_style signature, "
                "so styles cannot be blended; give one style image"
            )
        reps = [item.weight * image_rep(Path(item.source)) for item in spec.items]
        return np.sum(reps, axis=0).astype(np.float32)

    @classmethod
    def accepts(cls, module: Any) -> bool:
        """Whether a user's --hub-handle module has this kind's calling convention."""
        return False

    @classmethod
    def export(cls, dest: Path) -> None:
        raise NotImplementedError(f"model kind '{cls.name}' is not cached")

    @classmethod
    def export_openvino(cls, dest: Path) -> dict[str, Any]:
        """Convert the transformer (and a predictor, if the kind has one) into OpenVINO IR
        files in `dest`; returns what the OpenVINO engine needs to know besides them."""
        from models.networks import Transformer

        return export_ir(dest, Transformer(cls.read_transformer()), cls.rep_shape)


@register
class MagentaKind(ModelKind):
    """Our cached Hub-format model, or any model with `predict_style`/`transform`. The rep
    is the 100-d bottleneck; blends and strength are weighted sums of bottlenecks."""

    name = "magenta"
    description = (
        "Magenta arbitrary image stylization (Ghiasi et al. 2017), TF Hub calling convention"
    )
    sources = ("magenta-predict", "magenta-transform")
    rep_shape = (1, 1, 1, 100)
    strength_mode = BOTTLENECK
    has_stats = True

    def rep_from_style(self, style: np.ndarray, device: str) -> np.ndarray:
        tf = _tf()
        with tf.device(device):
            return self.module.predict_style(tf.constant(style)).numpy()

    @classmethod
    def accepts(cls, module: Any) -> bool:
        # A --hub-handle module is a user's SavedModel: its signatures are all there is to
        # read its calling convention from.
        return hasattr(module, "predict_style") and hasattr(module, "transform")

    @classmethod
    def read_transformer(cls) -> Any:
        from models import onnx_weights as ow

        return ow.read_magenta_transformer()

    @classmethod
    def export_openvino(cls, dest: Path) -> dict[str, Any]:
        from models import onnx_weights as ow
        from models.networks import Predictor, Transformer

        return export_ir(
            dest,
            Transformer(ow.read_magenta_transformer()),
            cls.rep_shape,
            Predictor(ow.read_magenta_predictor()),
        )

    @classmethod
    def export(cls, dest: Path) -> None:
        tf = _tf()
        from models import onnx_weights as ow
        from models.networks import MagentaHubModule, Predictor, Transformer

        module = MagentaHubModule(
            Predictor(ow.read_magenta_predictor()), Transformer(ow.read_magenta_transformer())
        )
        signatures = {
            "serving_default": module.serving_default,
            "predict_style": module.predict_style,
            "transform": module.transform,
        }
        tf.saved_model.save(module, str(dest), signatures=signatures)


@register
class CombinedKind(ModelKind):
    """A Hub model with only `model(content, style)[0]` (e.g. the real tfhub.dev handle).
    The rep is the preprocessed 256x256 style image; strength blends pixels with the
    content, and blends of styles are refused."""

    name = "combined"
    rep_shape = (1, STYLE_SIZE, STYLE_SIZE, 3)
    strength_mode = PIXELS
    blends = False

    def transform(self, content: Any, rep: Any) -> Any:
        return self.module(content, rep)[0]

    def rep_from_style(self, style: np.ndarray, device: str) -> np.ndarray:
        return style

    @classmethod
    def accepts(cls, module: Any) -> bool:
        return callable(module)


@register
class PresetKind(ModelKind):
    """The 26-style network; the rep is the 26 preset weights; strength blends pixels (the
    network has no identity style)."""

    name = "presets"
    description = "26 built-in styles (Dumoulin et al. 2017)"
    sources = ("multistyle26",)
    rep_shape = (1, NUM_PRESETS)
    strength_mode = PIXELS
    has_stats = True

    def style_rep(self, spec: StyleSpec, image_rep: Callable[[Path], np.ndarray]) -> np.ndarray:
        w = np.zeros(self.rep_shape, np.float32)
        for item in spec.items:
            w[0, item.preset] = item.weight
        return w

    @classmethod
    def read_transformer(cls) -> Any:
        from models import onnx_weights as ow

        return ow.read_multistyle()

    @classmethod
    def export(cls, dest: Path) -> None:
        tf = _tf()
        from models import onnx_weights as ow
        from models.networks import PresetModule, Transformer

        module = PresetModule(Transformer(ow.read_multistyle()))
        tf.saved_model.save(module, str(dest), signatures={"transform": module.transform})


# The IR files each cached kind has: whole frames, frames with their per-norm statistics,
# regions with frozen statistics (sides as an int32 [4] input: one graph for all sixteen
# sets), and the style predictor for kinds that take style images.
IR_FRAME, IR_STATS, IR_REGIONS, IR_PREDICT = "frame", "stats", "regions", "predict"


def export_ir(
    dest: Path, net: Any, rep_shape: tuple[int, ...], predictor: Any = None
) -> dict[str, Any]:
    """Trace the transformer's three functions (and the predictor's) with TensorFlow and
    save each as OpenVINO IR in float32 (`compress_to_fp16=False`: the default halves the
    weights, which is not the network we tested). Height and width stay dynamic; the engine
    fixes them per frame shape when it compiles."""
    import openvino as ov

    from models.atomic import sha256_file

    tf = _tf()
    content = tf.TensorSpec([1, None, None, 3], tf.float32, name="content")
    rep = tf.TensorSpec(rep_shape, tf.float32, name="rep")
    stats = tf.TensorSpec([1, 2 * net.total], tf.float32, name="stats")
    sides = tf.TensorSpec([4], tf.int32, name="sides")

    def params(r: Any) -> Any:
        return net.norm_params(tf.reshape(r, [-1, net.style_dim]))

    functions: dict[str, tuple[Callable, list]] = {
        IR_FRAME: (lambda c, r: net(c, params(r)), [content, rep]),
        IR_STATS: (lambda c, r: net.with_stats(c, params(r)), [content, rep]),
        IR_REGIONS: (
            lambda c, r, s, d: net.frozen(c, params(r), s, d),
            [content, rep, stats, sides],
        ),
    }
    if predictor is not None:
        style = tf.TensorSpec([1, STYLE_SIZE, STYLE_SIZE, 3], tf.float32, name="style")
        functions[IR_PREDICT] = (predictor, [style])
    files = {}
    for name, (fn, signature) in functions.items():
        concrete = tf.function(fn, input_signature=signature, autograph=False)
        model = ov.convert_model(concrete.get_concrete_function())
        ov.save_model(model, dest / f"{name}.xml", compress_to_fp16=False)
        for suffix in (".xml", ".bin"):
            files[name + suffix] = sha256_file(dest / f"{name}{suffix}")
    return {"trim_total": net.trim_total, "stats_width": 2 * net.total, "files": files}


def hub_kind(module: Any, handle: str) -> ModelKind | None:
    """The kind whose calling convention a --hub-handle module has (Magenta's two
    signatures first), or None."""
    model_id = "hub-" + hashlib.sha256(handle.encode()).hexdigest()[:16]
    for cls in (MagentaKind, CombinedKind):
        if cls.accepts(module):
            return cls(module, model_id)
    return None
