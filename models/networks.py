"""The style predictor and style transformers in TensorFlow, float32, any input size.

Contract of every network here: float32 RGB in [0, 1], NHWC, and the transformer returns
float32 RGB in [0, 1] at the input's size. The transformer is conditioned on per-norm
affine parameters (`norm_params`: all gammas then all betas) that are computed once per
style, never per frame.

Two implementations of the same math are kept: `plain` follows the graph layer by layer
(the readable reference); `fast` is restructured for CPU speed, each step exact up to float
rounding (see docs/design.md section 3.3):
- the full-resolution 9x9 convs run on a 4x4 space-to-depth input as 3x3 convs with 16x
  the channels, so the GEMM inside is wide instead of 3 or 8 outputs wide;
- nearest x2 upsample + reflect pad + 3x3 conv is one 3x3 conv with 4x the output
  channels on the low-resolution input (symmetric pad), then depth-to-space;
- conv biases that feed an instance norm are dropped (the norm cancels them).

Frozen statistics (docs/design.md section 3.5): the transformer can also
return every norm layer's per-channel mean and variance on a full frame
(`with_stats`), and run on a crop of that frame with those statistics used instead of the
crop's own (`frozen`). Inside a margin of 64 px the crop's output then equals the full
frame's. Stats are packed like `norm_params`: [N, 2*sum(C)], all means then all variances.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from models.onnx_weights import ConvLayer, PredictorWeights, TransformerWeights

S2D = 4  # space-to-depth block for the 9x9 convs
# Only narrow 9x9 convs gain from it: with 32 outputs (the preset network's first layer)
# the GEMM is already wide, and the 1.8x extra multiplies made it slower (181 vs 165 ms
# for the whole network at 360x640).
S2D_MAX_OUT = 8
# A crop's sides inside the frame (top, bottom, left, right): a tuple, or a [4] tensor
Inner = tuple[bool, bool, bool, bool] | tf.Tensor


def _s2d_kernel(k: np.ndarray, block: int = S2D) -> np.ndarray:
    """A KxK stride-1 kernel (HWIO) as the 3x3 kernel that computes the same conv on a
    `block` space-to-depth input and yields a space-to-depth output.

    out[bY+i, bX+j] = sum_{dy,dx} in[bY+i+dy, bX+j+dx] k[dy,dx]; with i+dy = b*a + p the
    tap reads block row Y+a at phase p."""
    kh, kw, cin, cout = k.shape
    taps = (kh - 1 + block - 1) // block + 1
    out = np.zeros((taps, taps, block * block * cin, block * block * cout), np.float32)
    for i in range(block):
        for j in range(block):
            for dy in range(kh):
                for dx in range(kw):
                    a, p = divmod(i + dy, block)
                    b, q = divmod(j + dx, block)
                    src = (p * block + q) * cin
                    dst = (i * block + j) * cout
                    out[a, b, src : src + cin, dst : dst + cout] += k[dy, dx]
    return out


def _subpixel_kernel(k: np.ndarray) -> np.ndarray:
    """Nearest x2 upsample + reflect pad 1 + 3x3 conv, as a 3x3 conv on the symmetric-padded
    low-resolution input with 4x the output channels (then depth-to-space by 2).

    Output row 2Y+i, tap dy reads upsampled row 2Y+i+dy-1 = low-res row Y+(i+dy-1)//2,
    i.e. padded row Y+a with a = (i+dy-1)//2 + 1. Reflect padding of the upsampled image
    equals symmetric padding of the low-resolution one at distance 1."""
    kh, kw, cin, cout = k.shape
    out = np.zeros((3, 3, cin, 4 * cout), np.float32)
    for i in range(2):
        for j in range(2):
            for dy in range(kh):
                for dx in range(kw):
                    a = (i + dy - 1) // 2 + 1
                    b = (j + dx - 1) // 2 + 1
                    dst = (i * 2 + j) * cout
                    out[a, b, :, dst : dst + cout] += k[dy, dx]
    return out


def _round_up_pad(n: tf.Tensor, m: int) -> tf.Tensor:
    """Rows to add to reach a multiple of `m`. Not `(-n) % m`: OpenVINO converts the floor
    modulo of a negative dynamic size as a truncating one, and the pad goes negative."""
    return (m - n % m) % m


def _pad(x: tf.Tensor, p: int, mode: str = "REFLECT") -> tf.Tensor:
    return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode=mode)


class Transformer(tf.Module):
    """Style transformer (Magenta's or the 26-preset one): content + norm params -> image."""

    def __init__(self, w: TransformerWeights, *, fast: bool = True, name: str | None = None):
        super().__init__(name=name)
        self.fast = fast
        self.eps = w.eps
        self.norm_channels = list(w.norm_channels)
        self.style_dim = w.style_dim
        # One matmul gives every gamma and beta from a style vector.
        self.param_w = tf.constant(np.concatenate([w.gamma_w, w.beta_w], axis=1))
        self.param_b = tf.constant(np.concatenate([w.gamma_b, w.beta_b]))
        self._offsets = np.cumsum([0, *self.norm_channels]).tolist()
        self.total = self._offsets[-1]
        self.layers = [self._prepare(layer, w) for layer in w.layers()]
        self.n_contract = len(w.contract)
        self.n_residual = len(w.residual)
        self.trim_total = self._plan_trims()

    def _prepare(self, layer: ConvLayer, w: TransformerWeights) -> dict:
        k = layer.kernel
        mode = "plain"
        if self.fast and layer.upsample and k.shape[0] == 3:
            k, mode = _subpixel_kernel(k), "subpixel"
        elif self.fast and k.shape[0] == 9 and layer.stride == 1 and k.shape[3] <= S2D_MAX_OUT:
            k, mode = _s2d_kernel(k), "s2d"
        bias = None if layer.bias is None else tf.constant(layer.bias)
        return {
            "kernel": tf.constant(k),
            "bias": bias,
            "mode": mode,
            "pad": layer.kernel.shape[0] // 2,
            "stride": layer.stride,
            "norm": layer.norm,
            "act": layer.act,
            "upsample": layer.upsample,
        }

    def _plan_trims(self) -> int:
        """Per layer, how many output px next to a crop's inner edge saw that layer's
        padding (and so differ from the full frame's): ceil(pad / stride), rounded up to
        even before a stride-2 conv so the crop stays on the full frame's sampling grid
        (for the x2 upsampling convs, 1: only the output row next to the edge reads the
        pad, in the subpixel form too). Returns the total in input px (59 for Magenta's
        network, 67 for the preset one with its extra residual block)."""
        total, scale = 0, 1
        for i, L in enumerate(self.layers):
            scale = scale // 2 if L["upsample"] else scale * L["stride"]
            trim = -(-L["pad"] // L["stride"])
            nxt = self.layers[i + 1] if i + 1 < len(self.layers) else None
            if nxt is not None and nxt["stride"] == 2:
                trim += trim % 2
            L["trim"] = trim
            total += trim * scale
        return total

    def norm_params(self, style: tf.Tensor) -> tf.Tensor:
        """[N, style_dim] style vectors (bottlenecks or preset weights) -> [N, 2*sum(C)]."""
        return tf.matmul(style, self.param_w) + self.param_b

    def _norm(
        self, x: tf.Tensor, idx: int, params: tf.Tensor, frozen: tf.Tensor | None, seen: dict
    ) -> tf.Tensor:
        a, b = self._offsets[idx], self._offsets[idx + 1]
        gamma = params[:, a:b][:, None, None, :]
        beta = params[:, self.total + a : self.total + b][:, None, None, :]
        if frozen is None:
            mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        else:
            mean = frozen[:, a:b][:, None, None, :]
            var = frozen[:, self.total + a : self.total + b][:, None, None, :]
        seen[idx] = (mean, var)
        scale = gamma * tf.math.rsqrt(var + self.eps)
        return x * scale + (beta - mean * scale)

    def _layer(
        self,
        x: tf.Tensor,
        L: dict,
        params: tf.Tensor,
        frozen: tf.Tensor | None,
        seen: dict,
        any_size: bool = False,
    ) -> tf.Tensor:
        if L["mode"] == "subpixel":
            x = tf.nn.conv2d(_pad(x, 1, "SYMMETRIC"), L["kernel"], 1, "VALID")
            x = tf.nn.depth_to_space(x, 2)
        elif L["mode"] == "s2d" and any_size:
            # A trimmed crop's map need not be a multiple of the block: pad with zeros
            # beyond the reflect pad (only zero taps reach them), crop the output back.
            h, w = tf.shape(x)[1], tf.shape(x)[2]
            x = _pad(x, L["pad"])
            x = tf.pad(x, [[0, 0], [0, _round_up_pad(h, S2D)], [0, _round_up_pad(w, S2D)], [0, 0]])
            x = tf.nn.space_to_depth(x, S2D)
            x = tf.nn.depth_to_space(tf.nn.conv2d(x, L["kernel"], 1, "VALID"), S2D)[:, :h, :w]
        elif L["mode"] == "s2d":
            x = tf.nn.space_to_depth(_pad(x, L["pad"]), S2D)
            x = tf.nn.depth_to_space(tf.nn.conv2d(x, L["kernel"], 1, "VALID"), S2D)
        else:
            if L["upsample"]:
                x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
            x = tf.nn.conv2d(_pad(x, L["pad"]), L["kernel"], L["stride"], "VALID")
        if L["bias"] is not None:
            x = x + L["bias"]
        if L["norm"] is not None:
            x = self._norm(x, L["norm"], params, frozen, seen)
        if L["act"] == "relu":
            x = tf.nn.relu(x)
        elif L["act"] == "sigmoid":
            x = tf.sigmoid(x)
        return x

    def __call__(self, content: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
        """content [N,H,W,3] float32 RGB in [0,1], any H and W >= 16; params [N, 2*sum(C)].
        Returns [N,H,W,3] float32 RGB in [0,1]. Sizes that are not a multiple of 4 are
        reflect-padded at the bottom/right and cropped back."""
        return self._run(content, params, None, {})

    def with_stats(self, content: tf.Tensor, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """As `__call__`, and also every norm layer's per-channel mean and (biased) variance
        over the frame, as used: [N, 2*sum(C)], all means then all variances (the layout
        of `norm_params`). They are over the frame padded to a multiple of 4."""
        seen: dict = {}
        out = self._run(content, params, None, seen)
        means = [seen[i][0][:, 0, 0, :] for i in range(len(self.norm_channels))]
        variances = [seen[i][1][:, 0, 0, :] for i in range(len(self.norm_channels))]
        return out, tf.concat(means + variances, axis=1)

    def frozen(
        self,
        content: tf.Tensor,
        params: tf.Tensor,
        stats: tf.Tensor,
        inner: Inner | None = None,
    ) -> tf.Tensor:
        """As `__call__`, with every norm layer normalising by `stats` (from `with_stats`
        on a full frame) instead of the content's own statistics. On a crop of that frame
        whose offset is a multiple of 4, the output `trim_total` px (59 or 67) or more inside
        the crop's edges (and everywhere along edges it shares with the frame) equals the
        full frame's.

        `inner` (top, bottom, left, right; see `_trim`): which crop edges are inside the frame.
        Each layer then drops the outputs next to those edges that saw its padding, as a
        VALID conv would, so the later layers compute only what is exact and the output is
        `trim_total` px smaller on each inner side (the same values as without `inner`,
        at less cost). The crop's height and width must then be multiples of 4."""
        return self._run(content, params, stats, {}, inner)

    def _run(
        self,
        content: tf.Tensor,
        params: tf.Tensor,
        frozen: tf.Tensor | None,
        seen: dict,
        inner: Inner | None = None,
    ) -> tf.Tensor:
        def step(x: tf.Tensor, L: dict) -> tf.Tensor:
            y = self._layer(x, L, params, frozen, seen, any_size=inner is not None)
            return _trim(y, L["trim"], inner)

        h, w = tf.shape(content)[1], tf.shape(content)[2]
        ph, pw = _round_up_pad(h, 4), _round_up_pad(w, 4)
        x = tf.pad(content, [[0, 0], [0, ph], [0, pw], [0, 0]], mode="REFLECT")
        layers = iter(self.layers)
        for _ in range(self.n_contract):
            x = step(x, next(layers))
        for _ in range(self.n_residual):
            a, b = next(layers), next(layers)
            x = _trim(x, a["trim"] + b["trim"], inner) + step(step(x, a), b)
        for L in layers:
            x = step(x, L)
        if inner is not None:
            return x  # whole multiples of 4 in, nothing padded to crop back
        return x[:, :h, :w, :]


def _trim(x: tf.Tensor, n: int, inner: Inner | None) -> tf.Tensor:
    """Drop `n` px at each inner side (top, bottom, left, right) of a feature map. `inner`
    is static (a tuple: one graph per set of sides, as XLA needs) or an int32 [4] tensor of
    0/1 (one graph for all sixteen sets: each trace costs most of a second)."""
    if inner is None or n == 0:
        return x
    if isinstance(inner, tuple):
        t, b, left, r = (n if side else 0 for side in inner)
        return x[:, t : (-b or None), left : (-r or None), :]
    t, b, left, r = tf.unstack(inner * n)
    return x[:, t : tf.shape(x)[1] - b, left : tf.shape(x)[2] - r, :]


class Predictor(tf.Module):
    """Magenta's style predictor: [N,256,256,3] float32 RGB in [0,1] -> [N,1,1,100]."""

    def __init__(self, w: PredictorWeights, name: str | None = None):
        super().__init__(name=name)
        c = tf.constant
        self.stem = (c(w.stem[0]), c(w.stem[1]))
        self.blocks = [
            {
                "expand": None if b.expand is None else (c(b.expand[0]), c(b.expand[1])),
                "dw": (c(b.depthwise[0]), c(b.depthwise[1])),
                "project": (c(b.project[0]), c(b.project[1])),
                "stride": b.stride,
                "residual": b.residual,
            }
            for b in w.blocks
        ]
        self.head = (c(w.head[0]), c(w.head[1]))
        self.bottleneck = (c(w.bottleneck[0]), c(w.bottleneck[1]))

    def __call__(self, style: tf.Tensor) -> tf.Tensor:
        # The shipped stride-2 pads (0,0,1,1) are TF 'SAME' on even sizes.
        x = tf.nn.relu6(tf.nn.conv2d(style, self.stem[0], 2, "SAME") + self.stem[1])
        for b in self.blocks:
            y = x
            if b["expand"] is not None:
                y = tf.nn.relu6(tf.nn.conv2d(y, b["expand"][0], 1, "SAME") + b["expand"][1])
            s = b["stride"]
            y = tf.nn.depthwise_conv2d(y, b["dw"][0], [1, s, s, 1], "SAME") + b["dw"][1]
            y = tf.nn.relu6(y)
            y = tf.nn.conv2d(y, b["project"][0], 1, "SAME") + b["project"][1]
            x = x + y if b["residual"] else y
        x = tf.nn.relu6(tf.nn.conv2d(x, self.head[0], 1, "SAME") + self.head[1])
        x = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        return tf.nn.conv2d(x, self.bottleneck[0], 1, "VALID") + self.bottleneck[1]


def _spec(shape: list[int | None]) -> tf.TensorSpec:
    return tf.TensorSpec(shape, tf.float32)


class MagentaHubModule(tf.Module):
    """What the cache exports for the arbitrary-style network. Signatures
    `predict_style(style)`, `transform(content, bottleneck)`, `serving_default(content,
    style)`, and `__call__(content, style) -> [image]`: the calling convention of TF Hub's
    magenta/arbitrary-image-stylization-v1-256, so `tensorflow_hub.load` serves both."""

    def __init__(self, predictor: Predictor, transformer: Transformer):
        super().__init__(name="magenta")
        self.predictor = predictor
        self.transformer = transformer

    @tf.function(input_signature=[_spec([None, None, None, 3])])
    def predict_style(self, style: tf.Tensor) -> tf.Tensor:
        return self.predictor(tf.image.resize(style, [256, 256], method="area"))

    @tf.function(input_signature=[_spec([None, None, None, 3]), _spec([None, 1, 1, 100])])
    def transform(self, content: tf.Tensor, bottleneck: tf.Tensor) -> tf.Tensor:
        params = self.transformer.norm_params(tf.reshape(bottleneck, [-1, 100]))
        return self.transformer(content, params)

    @tf.function(input_signature=[_spec([None, None, None, 3]), _spec([None, None, None, 3])])
    def serving_default(self, content: tf.Tensor, style: tf.Tensor) -> dict:
        return {"output_0": self.transform(content, self.predict_style(style))}

    @tf.function(input_signature=[_spec([None, None, None, 3]), _spec([None, None, None, 3])])
    def __call__(self, content: tf.Tensor, style: tf.Tensor) -> list:
        return [self.transform(content, self.predict_style(style))]


class PresetModule(tf.Module):
    """What the cache exports for the 26 presets: `transform(content, style_weights[N,26])`."""

    def __init__(self, transformer: Transformer):
        super().__init__(name="presets")
        self.transformer = transformer

    @tf.function(input_signature=[_spec([None, None, None, 3]), _spec([None, 26])])
    def transform(self, content: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        return self.transformer(content, self.transformer.norm_params(weights))
