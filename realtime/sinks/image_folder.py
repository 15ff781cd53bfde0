"""Write frames as numbered images into a folder or through a printf-style pattern."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from models.errors import UserError
from realtime.bgr import rgb_to_bgr
from realtime.frame import Frame
from realtime.sinks.base import Sink
from realtime.sources.image_folder import IMAGE_EXTS, is_pattern


class ImageFolderSink(Sink):
    """`spec` is a folder (frames become frame_000000.png ...) or a pattern such as
    out/%05d.jpg (numbered from 0). Each image is written to a temp name and renamed,
    so a folder never holds a half-written frame."""

    def __init__(self, spec: str | Path) -> None:
        super().__init__()
        spec = str(spec)
        self.name = spec
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

    def write(self, frame: Frame) -> None:
        self.check_frame(frame)
        image = frame.image
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
