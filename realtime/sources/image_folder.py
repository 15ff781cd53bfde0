"""Frames from a folder of images or a printf-style pattern (frame_%05d.png)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from models.errors import UserError
from realtime.bgr import bgr_to_rgb
from realtime.frame import Frame
from realtime.sources.base import Source
from realtime.validate import positive_finite

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
_PRINTF = re.compile(r"%(0?\d*)d")

log = logging.getLogger(__name__)


def is_pattern(spec: str) -> bool:
    return bool(_PRINTF.search(os.path.basename(spec)))


def _natural_key(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def pattern_files(spec: str) -> list[Path]:
    """The files a printf pattern (folder/frame_%05d.png) names, in number order."""
    folder = Path(os.path.dirname(spec) or ".")
    base = os.path.basename(spec)
    m = _PRINTF.search(base)
    width = m.group(1)
    digits = rf"\d{{{int(width)}}}" if width.startswith("0") and width != "0" else r"\d+"
    rx = re.compile(re.escape(base[: m.start()]) + f"({digits})" + re.escape(base[m.end() :]))
    found = sorted(
        ((int(mm.group(1)), folder / n) for n in os.listdir(folder) if (mm := rx.fullmatch(n))),
    )
    return [p for _, p in found]


def list_images(spec: str) -> list[Path]:
    """The frames named by a folder (all images, natural order) or a printf pattern
    (numbers in order; the first number found starts the sequence)."""
    if is_pattern(spec):
        folder = Path(os.path.dirname(spec) or ".")
        if not folder.is_dir():
            raise UserError(f"{spec}: folder {folder} does not exist")
        files = pattern_files(spec)
    else:
        folder = Path(spec)
        files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file()),
            key=lambda p: _natural_key(p.name),
        )
    if not files:
        raise UserError(
            f"{spec}: no images found; give a folder of .png/.jpg frames or a pattern "
            "like frames/%05d.png"
        )
    return files


class ImageFolderSource(Source):
    live = False

    def __init__(self, spec: str, *, fps: float = 25.0) -> None:
        self.spec = spec
        self.name = spec
        self.fps = positive_finite("--fps", fps)
        self.files = list_images(spec)
        self.frame_count = len(self.files)
        self.duration = len(self.files) / self.fps
        self.has_audio = False
        self.resized = 0  # frames of another size than the first, resized to it

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        size: tuple[int, int] | None = None  # (width, height) of the first frame
        for i, path in enumerate(self.files):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise UserError(f"{path}: not a readable image; remove or replace it")
            h, w = bgr.shape[:2]
            if size is None:
                size = (w, h)
            elif (w, h) != size:
                # a video has one frame size: fit the odd one to the first frame's
                if not self.resized:
                    log.warning(
                        "%s is %dx%d, the first frame %dx%d: resizing it (and any other "
                        "frame of another size) to %dx%d",
                        path,
                        w,
                        h,
                        *size,
                        *size,
                    )
                self.resized += 1
                shrink = w * h > size[0] * size[1]
                interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
                bgr = cv2.resize(bgr, size, interpolation=interp)
            yield Frame(image=bgr_to_rgb(bgr), pts=i / self.fps, index=i)

    def close(self) -> None:
        pass
