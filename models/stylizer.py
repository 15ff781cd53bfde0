"""The fast stylizer: a style bank (models.style_bank), an engine that runs the networks
(models.engine: OpenVINO on a CPU, TensorFlow with XLA on a GPU) and, on top, what makes a
frame: strength, preserve colour, and regions with frozen statistics.

Contract: frames are RGB uint8 HxWx3 in, RGB uint8 HxWx3 out (same size); internally
float32 RGB in [0, 1], NHWC.

Partial re-stylization (docs/design.md section 3.5):
`stylize_with_stats` stylizes a full frame and returns every instance norm's statistics
(NormStats); `stylize_regions` then re-stylizes boxes of later frames of the same size
with those statistics frozen, equal to what a full frame would give inside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from models.engine import AUTO, OPENVINO, Engine, choose_engine
from models.errors import UserError
from models.kinds import BOTTLENECK, PIXELS, ModelKind
from models.style_bank import StyleBank
from models.styles import StyleSpec

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


class Stylizer:
    """Stylizes frames with one of several styles. Satisfies realtime's
    ControllableStylizer: `style_index`, `strength` and `preserve_color` may change
    between frames, and switching style costs nothing (all representations are computed
    at construction).

    `engine`: "auto" (TensorFlow when it sees a GPU, OpenVINO otherwise), "openvino" or
    "tensorflow"; or an Engine to share. `device`, `jit_compile` and `fixed_shape` steer
    the TensorFlow engine; `threads` caps the CPU threads a frame uses."""

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
        engine: str | Engine = AUTO,
        threads: int | None = None,
    ):
        if isinstance(engine, Engine):
            self.engine = engine
        else:
            self.engine = open_engine(
                engine,
                device=device,
                hub_handle=hub_handle,
                jit_compile=jit_compile,
                fixed_shape=fixed_shape,
                threads=threads,
            )
        self.max_in_flight = self.engine.max_in_flight  # no per-frame state of its own
        self.bank = StyleBank(self.engine, styles)
        self.strength = strength
        self.preserve_color = preserve_color
        self.region_sizes: tuple[int, ...] = REGION_SIZES
        # (height, width, inner sides code) of the region windows run
        self.region_shapes: set[tuple[int, int, str]] = set()

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
        return self.bank.index

    @style_index.setter
    def style_index(self, value: int) -> None:
        self.bank.index = value

    @property
    def style_names(self) -> list[str]:
        return self.bank.names

    @property
    def specs(self) -> list[StyleSpec]:
        return self.bank.specs

    def add_style(self, spec: str) -> int:
        """Add a style while frames are flowing (a browser upload); returns its index."""
        return self.bank.add(spec)

    def reset_content(self) -> None:
        """Forget the content bottleneck (call between unrelated images or on a scene cut)."""
        self.bank.reset_content()

    def describe(self) -> dict[str, Any]:
        """The engine that runs the networks, for reports and --json."""
        return self.engine.describe()

    def summary(self) -> dict[str, Any]:
        """For reports and --json: which engine ran."""
        return {"engine": self.engine.describe()}

    @property
    def traces(self) -> Counter[str]:
        """Per purpose, how often a per-frame function was traced or compiled (tests)."""
        return self.engine.traces

    @property
    def trace_count(self) -> int:
        return self.engine.traces["frame"]

    def _choose(self, content: np.ndarray) -> tuple[ModelKind, np.ndarray, float]:
        """The current style's model, its rep with bottleneck strength applied, and the
        strength."""
        model, rep = self.bank.current()
        w = self.strength
        if w < 1.0 and model.strength_mode == BOTTLENECK:
            rep = (1.0 - w) * self.bank.content_bottleneck(model, content) + w * rep
        return model, np.asarray(rep, np.float32), w

    @staticmethod
    def _blend(model: ModelKind, out: np.ndarray, content: np.ndarray, w: float) -> np.ndarray:
        if w < 1.0 and model.strength_mode == PIXELS:
            return w * out + (1.0 - w) * content
        return out

    # --- frames ---------------------------------------------------------------------------

    def stylize_float(self, content: np.ndarray) -> np.ndarray:
        """[1,H,W,3] float32 RGB in [0,1] -> [1,H,W,3] float32 RGB in [0,1]."""
        model, rep, w = self._choose(content)
        return self._blend(model, self.engine.transform(model, content, rep), content, w)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 HxWx3 -> stylized RGB uint8 HxWx3 of the same size."""
        _check_frame(image)
        rgb = _to_uint8(self.stylize_float(image[None].astype(np.float32) / 255.0)[0])
        return preserve_colors(image, rgb) if self.preserve_color else rgb

    def warm_up(self, with_stats: bool = False) -> None:
        """Prepare what the first frames will call (whole frames, or with `with_stats`
        frames with statistics and regions); a live source calls this before it starts."""
        model, rep = self.bank.current()
        self.engine.warm_up(model, rep, with_stats)

    def close(self) -> None:
        """The job is over: background compiles stop (the stylizer still works)."""
        self.engine.close()

    def wait_compiled(self, timeout: float | None = None) -> None:
        """Wait for background compilations (benchmarks, and tidy shutdowns)."""
        self.engine.wait_compiled(timeout)

    # --- frozen statistics: full frames that record them, regions that reuse them ----------

    def stylize_with_stats_float(self, content: np.ndarray) -> tuple[np.ndarray, NormStats]:
        """As `stylize_float`, and the frame's per-norm statistics (see NormStats). The
        output is float32 [1,H,W,3] in [0,1], strength applied, colour not preserved."""
        model, rep, w = self._choose(content)
        if not model.supports_stats():
            raise UserError(
                "a --hub-handle model cannot re-stylize regions of frames (its weights "
                "are not ours to rebuild with frozen statistics); use the built-in "
                "model (no --hub-handle) or stylize whole frames"
            )
        index, preserve = self.style_index, self.preserve_color
        out, values = self.engine.transform_stats(model, content, rep)
        stats = NormStats(values, model, rep, index, w, preserve, tuple(content.shape[1:3]))
        self.engine.prepare_regions(model, rep, values)
        return self._blend(model, out, content, w), stats

    def stylize_with_stats(self, image: np.ndarray) -> tuple[np.ndarray, NormStats]:
        """RGB uint8 HxWx3 -> (stylized RGB uint8 HxWx3, NormStats): the full frame with
        the current style, strength and preserve_color (the same math as `__call__`, up
        to float rounding: +-1 level at most in uint8), and the per-norm statistics that
        `stylize_regions` needs to re-stylize parts of later frames of the same size. The
        stats record the style index, strength and preserve_color they were made with
        (`stats_are_current` compares them)."""
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
        ) and stats.model is self.bank.current()[0]

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
        model, sw = stats.model, stats.strength
        exact = margin >= EXACT_MARGIN
        trim = self.engine.trim_total(model) if exact else 0
        hp, wp = domain.shape[:2]
        outs = []
        for box in boxes:
            x0, y0, x1, y1 = _check_box(box, w, h)
            wy, wh = region_window(y0, y1, trim or margin, hp, self.region_sizes)
            wx, ww = region_window(x0, x1, trim or margin, wp, self.region_sizes)
            crop = domain[None, wy : wy + wh, wx : wx + ww].astype(np.float32) / 255.0
            sides, oy, ox = None, wy, wx  # untrimmed: the output is the whole window
            if exact:
                sides = (wy > 0, wy + wh < hp, wx > 0, wx + ww < wp)
                oy, ox = wy + trim * sides[0], wx + trim * sides[2]
            code = "none" if sides is None else "".join("1" if s else "0" for s in sides)
            self.region_shapes.add((wh, ww, code))
            out = self.engine.transform_regions(model, crop, stats.rep, stats.values, sides)
            out = out[0, y0 - oy : y1 - oy, x0 - ox : x1 - ox]
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


def open_engine(
    requested: str | None = AUTO,
    *,
    device: str | None = None,
    hub_handle: str | None = None,
    jit_compile: bool | None = None,
    fixed_shape: bool = True,
    threads: int | None = None,
) -> Engine:
    """The engine `choose_engine` picks, ready to load models. `threads` caps the CPU
    threads a frame uses (Ray workers sharing a machine); None: all cores."""
    name = choose_engine(requested, device=device, hub_handle=hub_handle)
    if name == OPENVINO:
        from models.engine_openvino import OpenVINOEngine

        return OpenVINOEngine(threads=threads)
    from models.engine_tensorflow import TensorFlowEngine

    return TensorFlowEngine(
        device=device,
        hub_handle=hub_handle,
        jit_compile=jit_compile,
        fixed_shape=fixed_shape,
        threads=threads,
    )


def preserve_colors(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Stylized luminance with the original's chroma (YCrCb), both RGB uint8."""
    o = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb)
    s = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    o[:, :, 0] = s[:, :, 0]
    return cv2.cvtColor(o, cv2.COLOR_YCrCb2RGB)


def load_stylizer(styles: Sequence[str], **options: Any) -> Stylizer:
    """Build a Stylizer for one or more style specs (see models.styles); `options` are
    Stylizer's keyword arguments (strength, preserve_color, hub_handle, jit_compile,
    fixed_shape, device, engine, threads)."""
    return Stylizer(styles, **options)
