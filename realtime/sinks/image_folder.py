"""Write frames as numbered images into a folder or through a printf-style pattern."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from models.errors import UserError
from realtime.bgr import rgb_to_bgr
from realtime.frame import Frame
from realtime.sources.image_folder import IMAGE_EXTS, is_pattern


class ImageFolderSink:
    """`spec` is a folder (frames become frame_000000.png ...) or a pattern such as
    out/%05d.jpg (numbered from 0). Each image is written to a temp name and renamed,
    so a folder never holds a half-written frame."""

    def __init__(self, spec: str | Path) -> None:
        spec = str(spec)
        if is_pattern(spec):
            self.pattern = spec
            folder = Path(os.path.dirname(spec) or ".")
            ext = Path(spec).suffix.lower()
            if ext not in IMAGE_EXTS:
                raise UserError(f"{spec}: pattern must end in an image type (.png, .jpg)")
        else:
            folder = Path(spec)
            self.pattern = str(folder / "frame_%06d.png")
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder}: exists and is not a folder; choose another output")
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.frames = 0
        self._shape: tuple[int, ...] | None = None

    def write(self, frame: Frame) -> None:
        image = frame.image
        if self._shape is None:
            self._shape = image.shape
        elif image.shape != self._shape or image.dtype != np.uint8:
            raise ValueError(
                f"frame {frame.index} is {image.dtype} {image.shape}, the first was {self._shape}"
            )
        import cv2

        path = Path(self.pattern % self.frames)
        ok, buf = cv2.imencode(path.suffix, rgb_to_bgr(image))
        if not ok:
            raise RuntimeError(f"{path}: OpenCV could not encode the frame")
        tmp = path.with_name(f".{path.name}.part")
        try:
            tmp.write_bytes(buf.tobytes())
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.frames += 1

    def close(self) -> None:
        pass

    def __enter__(self) -> ImageFolderSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
