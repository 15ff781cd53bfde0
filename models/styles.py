"""Style specs: what `--style` accepts. No TensorFlow here.

    SPEC  := ITEM ("," ITEM)*          a weighted blend of one kind of style
    ITEM  := (PATH | "preset:" (N | NAME)) [":" WEIGHT]

`starry.jpg`, `preset:7`, `preset:primary-pop`, `a.jpg:0.7,b.jpg:0.3`,
`preset:3:1,preset:ink-wash:2`. Weights are normalised to sum to 1. Presets (the
26-style network) and style images (the arbitrary network) are different models, so one
blend cannot mix them.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path

from models.errors import UserError


@dataclass(frozen=True)
class Preset:
    number: int
    name: str  # lowercase, shell-safe, no colon: usable as preset:NAME
    look: str  # what it looks like, in a few words
    warning: str = ""  # set when the preset loses the picture's content or faces


# Named and described after looking at each on a portrait, a person in a room and a
# street (stylize-video styles --contact-sheet). The order is the network's: preset:N is
# PRESETS[N]. The default keeps faces and fine detail best.
_LOST = "content lost, the picture turns into pattern"
PRESETS: tuple[Preset, ...] = tuple(
    Preset(i, *row)
    for i, row in enumerate(
        [
            ("pastel-wash", "soft pastel strokes, pale blue and orange; faces turn flat yellow"),
            ("bold-outline", "thick black outlines, flat yellow", "faces lose their features"),
            ("charcoal", "black strokes on pale blue-white; faces wash out"),
            ("confetti-swirl", "dense red, blue and yellow brush swirls", _LOST),
            ("fauve-red", "warm reds and yellows on pale blue"),
            ("expressive-oil", "loose oil strokes, orange, red and blue; keeps faces"),
            ("blue-lace", "blue lace with round holes", "heavy pattern, faces hard to read"),
            ("primary-pop", "flat yellow, red and blue", "faces and hair become yellow blobs"),
            ("pink-pencil", "pink and teal pencil lines on white; faces turn flat yellow"),
            ("teal-mosaic", "teal mosaic with red patches", "heavy pattern, faces become patches"),
            ("sepia-oil", "dark brown oil painting; keeps faces"),
            ("ochre-etching", "ochre ink etching; keeps faces"),
            ("lilac-haze", "soft blurred lilac and gold"),
            ("green-fauve", "acid green and red, expressionist; green faces"),
            ("ice-wash", "pale blue watercolour wash"),
            ("stained-glass", "pastel stained glass with dark leading"),
            ("blue-hatching", "blue and orange cross-hatching; faces become olive smudges"),
            ("red-blocks", "red and orange rectangles", _LOST),
            ("sepia-woodcut", "sepia woodcut stripes"),
            ("starry-swirl", "swirling deep blue and yellow strokes"),
            ("red-ember", "glowing reds and oranges"),
            ("paper-cutout", "flat cut-paper shapes"),
            ("ink-wash", "black ink lines over a blue wash"),
            ("muted-photo", "soft and dark, blacks go green", "faces wash out white"),
            ("cream-lattice", "blue lattice on cream"),
            ("tapestry", "woven tapestry, blue and gold; busy texture over faces"),
        ]
    )
)
NUM_PRESETS = len(PRESETS)
_BY_NAME = {p.name: p for p in PRESETS}
# the one that keeps faces and fine detail best on a portrait, a room and a street
DEFAULT_PRESET = _BY_NAME["expressive-oil"]
DEFAULT_STYLE = f"preset:{DEFAULT_PRESET.number}"
_PRESET = re.compile(r"^preset:(?P<n>[^:]*)(?::(?P<w>.*))?$")


@dataclass(frozen=True)
class StyleItem:
    source: str  # a file path, or "preset:N"
    weight: float

    @property
    def preset(self) -> int | None:
        return int(self.source.split(":")[1]) if self.source.startswith("preset:") else None

    @property
    def label(self) -> str:
        """What a person reads: `preset:7 primary-pop`, or the image file's stem."""
        n = self.preset
        return f"preset:{n} {PRESETS[n].name}" if n is not None else Path(self.source).stem


@dataclass(frozen=True)
class StyleSpec:
    text: str
    items: tuple[StyleItem, ...]

    @property
    def is_preset(self) -> bool:
        return self.items[0].preset is not None

    @property
    def name(self) -> str:
        """The label the HUD, the web page and --json show."""
        if len(self.items) == 1:
            return self.items[0].label
        return " + ".join(f"{i.label}:{i.weight:.2g}" for i in self.items)


def preset_number(text: str) -> int:
    """`7` or `primary-pop` -> 7; a UserError for anything else."""
    text = text.strip()
    if text.isdigit() and int(text) < NUM_PRESETS:
        return int(text)
    if text.lower() in _BY_NAME:
        return _BY_NAME[text.lower()].number
    near = _near_preset(text)
    if near:
        raise UserError(
            f"unknown preset '{text}'; did you mean preset:{near}? (list: stylize-video styles)"
        )
    raise UserError(
        f"unknown preset '{text}'; presets are preset:0 to preset:{NUM_PRESETS - 1} or "
        "a name like preset:ink-wash (list them: stylize-video styles)"
    )


def _near_preset(text: str) -> str | None:
    """The preset name a typo most likely meant, if one is close enough."""
    near = difflib.get_close_matches(text.strip().lower(), list(_BY_NAME), n=1, cutoff=0.75)
    return near[0] if near else None


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
        try:
            n = preset_number(m["n"])
        except UserError as e:
            raise UserError(f"style '{spec}': {e}") from None
        return StyleItem(f"preset:{n}", _weight(m["w"], spec) if m["w"] else 1.0)
    if Path(part).exists():
        return StyleItem(part, 1.0)
    path, sep, w = part.rpartition(":")
    if sep and path and Path(path).exists():
        return StyleItem(path, _weight(w, spec))
    missing = path if sep and path else part
    near = _near_preset(Path(missing).stem) if not Path(missing).suffix else None
    if near:
        raise UserError(f"style image '{missing}' does not exist; did you mean preset:{near}?")
    raise UserError(
        f"style image '{missing}' does not exist; give an image "
        f"file, preset:N (0-{NUM_PRESETS - 1}) or preset:NAME (see: stylize-video styles), "
        "or a blend like a.jpg:0.7,b.jpg:0.3"
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
