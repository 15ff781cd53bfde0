"""The styles a stylizer switches between: parsed specs, each one's representation (the
bottleneck, preset weights or a preprocessed style image, per the model kind), computed
once per style and never per frame, and the content's own bottleneck that strength < 1
interpolates towards.

Style images' representations are cached in memory and on disk by the sha256 of the
file's bytes and the model, so a second start runs no predictor.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from models import cache
from models.atomic import atomic_path
from models.engine import Engine
from models.images import load_image
from models.kinds import STYLE_SIZE, ModelKind
from models.styles import DEFAULT_STYLE, StyleSpec, parse_style

IMAGE_SLOT = "magenta"  # the kind style images go to (a --hub-handle model stands in)
CONTENT_BOTTLENECK_EVERY = 15  # frames between refreshes of the content's own bottleneck

_REP_MEMORY: dict[str, np.ndarray] = {}


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


def _save_npy(path: Path, arr: np.ndarray) -> None:
    try:
        with atomic_path(path) as tmp:
            np.save(tmp, arr)
    except OSError:
        pass  # the disk cache is an optimisation; the style still works without it


class StyleBank:
    """Styles by index; `index` may change between frames (switching costs nothing)."""

    def __init__(self, engine: Engine, styles: Sequence[str]):
        self.engine = engine
        self.specs: list[StyleSpec] = [parse_style(s) for s in (styles or [DEFAULT_STYLE])]
        self.reps: list[tuple[ModelKind, np.ndarray]] = [self._rep_for(s) for s in self.specs]
        self._index = 0
        self._content_rep: np.ndarray | None = None
        self._frames_since_content = 0
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def index(self) -> int:
        return self._index

    @index.setter
    def index(self, value: int) -> None:
        self._index = int(value) % len(self.specs)

    def current(self) -> tuple[ModelKind, np.ndarray]:
        return self.reps[self._index]

    def add(self, spec: str) -> int:
        """Add a style while frames are flowing (a browser upload); returns its index. The
        representation is computed first, so a frame on another thread waits only for
        the append."""
        parsed = parse_style(spec)
        rep = self._rep_for(parsed)
        with self._lock:
            self.specs.append(parsed)
            self.reps.append(rep)
            return len(self.specs) - 1

    def _rep_for(self, spec: StyleSpec) -> tuple[ModelKind, np.ndarray]:
        model = self.engine.load("presets" if spec.is_preset else IMAGE_SLOT)
        rep = model.style_rep(spec, lambda p: self.rep_from_file(model, p))
        return model, np.asarray(rep, np.float32)

    def rep_from_file(self, model: ModelKind, path: Path) -> np.ndarray:
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
        if rep is None or rep.shape != tuple(model.rep_shape):
            rep = self._compute_rep(model, load_image(path)[0])
            _save_npy(disk, rep)
        _REP_MEMORY[key] = rep
        return rep

    def _compute_rep(self, model: ModelKind, rgb: np.ndarray) -> np.ndarray:
        return self.engine.style_rep(model, preprocess_style(rgb))

    def content_bottleneck(self, model: ModelKind, content: np.ndarray) -> np.ndarray:
        """The content's own representation, for strength < 1. It changes slowly along a
        video: refreshed every few frames rather than on every one."""
        if self._content_rep is None or self._frames_since_content >= CONTENT_BOTTLENECK_EVERY:
            rgb = (content[0] * 255.0 + 0.5).astype(np.uint8)
            self._content_rep = self._compute_rep(model, rgb)
            self._frames_since_content = 0
        self._frames_since_content += 1
        return self._content_rep

    def reset_content(self) -> None:
        """Forget the content bottleneck (between unrelated images or on a scene cut)."""
        self._content_rep = None
