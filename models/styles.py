"""Style specs: what `--style` accepts. No TensorFlow here.

    SPEC  := ITEM ("," ITEM)*          a weighted blend of one kind of style
    ITEM  := (PATH | "preset:" N) [":" WEIGHT]

`starry.jpg`, `preset:7`, `a.jpg:0.7,b.jpg:0.3`, `preset:3:1,preset:9:2`. Weights are
normalised to sum to 1. Presets (the 26-style network) and style images (the arbitrary
network) are different models, so one blend cannot mix them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from models.errors import UserError

NUM_PRESETS = 26
DEFAULT_STYLE = "preset:7"
_PRESET = re.compile(r"^preset:(?P<n>[^:]*)(?::(?P<w>.*))?$")


@dataclass(frozen=True)
class StyleItem:
    source: str  # a file path, or "preset:N"
    weight: float

    @property
    def preset(self) -> int | None:
        return int(self.source.split(":")[1]) if self.source.startswith("preset:") else None


@dataclass(frozen=True)
class StyleSpec:
    text: str
    items: tuple[StyleItem, ...]

    @property
    def is_preset(self) -> bool:
        return self.items[0].preset is not None

    @property
    def name(self) -> str:
        def short(i: StyleItem) -> str:
            return i.source if i.preset is not None else Path(i.source).stem

        if len(self.items) == 1:
            return short(self.items[0])
        return " + ".join(f"{short(i)}:{i.weight:.2g}" for i in self.items)


def _weight(text: str, spec: str) -> float:
    try:
        w = float(text)
    except ValueError:
        raise UserError(
            f"style '{spec}': weight '{text}' is not a number; write e.g. a.jpg:0.7,b.jpg:0.3"
        ) from None
    if not math.isfinite(w) or w < 0:
        raise UserError(f"style '{spec}': weight {text} must be a number >= 0")
    return w


def _item(part: str, spec: str) -> StyleItem:
    m = _PRESET.match(part)
    if m:
        n = m["n"]
        if not n.isdigit() or int(n) >= NUM_PRESETS:
            raise UserError(
                f"style '{spec}': unknown preset '{n}'; presets are preset:0 to "
                f"preset:{NUM_PRESETS - 1}"
            )
        return StyleItem(f"preset:{int(n)}", _weight(m["w"], spec) if m["w"] else 1.0)
    if Path(part).exists():
        return StyleItem(part, 1.0)
    path, sep, w = part.rpartition(":")
    if sep and path and Path(path).exists():
        return StyleItem(path, _weight(w, spec))
    raise UserError(
        f"style image '{path if sep and path else part}' does not exist; give an image "
        f"file, preset:N (0-{NUM_PRESETS - 1}), or a blend like a.jpg:0.7,b.jpg:0.3"
    )


def parse_style(spec: str) -> StyleSpec:
    """Parse one --style value; raises UserError naming the problem and the fix."""
    parts = [p.strip() for p in spec.split(",")]
    if not spec.strip() or any(not p for p in parts):
        raise UserError(
            f"style '{spec}' is empty or has an empty blend part; write e.g. "
            "starry.jpg, preset:7 or a.jpg:0.7,b.jpg:0.3"
        )
    items = [_item(p, spec) for p in parts]
    if len({i.preset is not None for i in items}) > 1:
        raise UserError(
            f"style '{spec}' mixes presets and style images; they are different networks, "
            "blend presets with presets or images with images"
        )
    total = sum(i.weight for i in items)
    if total <= 0:
        raise UserError(f"style '{spec}': the weights are all zero; give at least one > 0")
    merged: dict[str, float] = {}
    for i in items:
        merged[i.source] = merged.get(i.source, 0.0) + i.weight / total
    return StyleSpec(spec, tuple(StyleItem(s, w) for s, w in merged.items()))


def style_image_path(style: str) -> str:
    """The one style image file --method optimize needs; a UserError for presets, blends
    and missing files."""
    spec = parse_style(style)
    if spec.is_preset or len(spec.items) != 1 or spec.items[0].preset is not None:
        raise UserError(
            f"--style {style}: --method optimize needs one style image file (a painting), "
            "not a preset or a blend"
        )
    path = spec.items[0].source
    if not Path(path).is_file():
        raise UserError(f"--style {path}: no such file; check the path")
    return path
