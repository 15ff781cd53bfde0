"""Make docs/strip.jpg, the README's before/after picture: the bundled photo and a few
presets, rendered by the real stylizer. Run from the repository root:

    python docs/make_strip.py [--out docs/strip.jpg]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.images import fit_long_side, load_image  # noqa: E402
from models.styles import PRESETS  # noqa: E402
from models.tf_runtime import quiet_tensorflow  # noqa: E402
from realtime.jobs.styles import draw_grid  # noqa: E402
from samples import PORTRAIT  # noqa: E402

SHOWN = ["expressive-oil", "starry-swirl", "stained-glass", "ink-wash", "tapestry"]
TILE = 256  # long side of each picture, pixels
OUT = ROOT / "docs" / "strip.jpg"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help=f"JPEG to write (default {OUT.name})")
    out = ap.parse_args().out.resolve()
    quiet_tensorflow()
    from models.stylizer import load_stylizer  # TensorFlow: not for --help

    presets = [next(p for p in PRESETS if p.name == name) for name in SHOWN]
    photo = fit_long_side(load_image(PORTRAIT)[0], TILE)
    stylizer = load_stylizer([f"preset:{p.number}" for p in presets], fixed_shape=False)
    tiles = [("photo (samples/portrait.jpg)", photo)]
    for i, p in enumerate(presets):
        stylizer.style_index = i
        tiles.append((f"preset:{p.name}", stylizer(photo)))
    from PIL import Image

    Image.fromarray(draw_grid(tiles, columns=len(tiles))).save(out, quality=85, optimize=True)
    print(f"{out}: {out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
