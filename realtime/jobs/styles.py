"""`stylize-video styles`: the 26 built-in presets by number and name, and a contact
sheet that shows each on the bundled photo. Listing never imports TensorFlow."""

from __future__ import annotations

import json
import math

import numpy as np

from models.styles import DEFAULT_PRESET, PRESETS, Preset

SHEET_COLUMNS = 6
LABEL_HEIGHT = 18


def list_styles(as_json: bool = False) -> int:
    if as_json:
        print(json.dumps([p.__dict__ for p in PRESETS], indent=2))
        return 0
    width = max(len(p.name) for p in PRESETS)
    for p in PRESETS:
        print(
            f"{p.number:>2}  {p.name:<{width}}  {p.look}"
            + (" (the default)" * (p is DEFAULT_PRESET))
        )
        if p.warning:  # on its own line, under the description, so it is not missed
            print(f"{'':>{width + 6}}warning: {p.warning}")
    print(f"use: --style preset:{DEFAULT_PRESET.number} or --style preset:{DEFAULT_PRESET.name}")
    return 0


def sheet_layout(tiles: int, columns: int = SHEET_COLUMNS) -> tuple[int, int]:
    """(rows, columns) of a contact sheet with `tiles` pictures (the photo plus presets)."""
    return math.ceil(tiles / columns), columns


def draw_grid(tiles: list[tuple[str, np.ndarray]], columns: int = SHEET_COLUMNS) -> np.ndarray:
    """Same-size RGB uint8 pictures in a grid, each under its label; RGB uint8 out."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = tiles[0][1].shape[:2]
    rows, cols = sheet_layout(len(tiles), columns)
    cell_h = h + LABEL_HEIGHT
    sheet = Image.new("RGB", (cols * w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    for k, (label, rgb) in enumerate(tiles):
        x, y = (k % cols) * w, (k // cols) * cell_h
        draw.text((x + 3, y + 2), label, fill="black", font=font)
        sheet.paste(Image.fromarray(rgb), (x, y + LABEL_HEIGHT))
    return np.asarray(sheet)


def _label(p: Preset) -> str:
    return f"{p.number} {p.name}" + (" (!)" if p.warning else "")


def contact_sheet(output: str, size: int = 192, device: str | None = None) -> int:
    """Draw every preset on the bundled photo in a labelled grid (PNG or JPEG, written
    atomically). `size` is each tile's long side in pixels."""
    from models.errors import UserError
    from models.images import fit_long_side, load_image, save_image
    from models.stylizer import load_stylizer
    from samples import PORTRAIT

    if not 32 <= size <= 1024:
        raise UserError(f"--size {size}: give a tile size from 32 to 1024 pixels")
    photo = fit_long_side(load_image(PORTRAIT)[0], size)
    stylizer = load_stylizer(
        [f"preset:{p.number}" for p in PRESETS], fixed_shape=False, device=device
    )
    results = []
    for p in PRESETS:
        stylizer.style_index = p.number
        results.append((_label(p), stylizer(photo)))
    out = save_image(output, draw_grid([("photo", photo), *results]))
    print(f"{out}: {len(PRESETS)} presets on {PORTRAIT.name}; (!) marks a warning in 'styles'")
    return 0
