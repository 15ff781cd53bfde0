"""Write frames as numbered images into a folder or through a printf-style pattern."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

from models.errors import UserError
from realtime.bgr import rgb_to_bgr
from realtime.frame import Frame
from realtime.sinks.base import Sink
from realtime.sources.image_folder import IMAGE_EXTS, is_pattern, pattern_files

FOLDER_PATTERN = "frame_%06d.png"  # the names frames get in a folder output


class ImageFolderSink(Sink):
    """`spec` is a folder (frames become frame_000000.png ...) or a pattern such as
    out/%05d.jpg (numbered from 0). Each image is written to a temp name and renamed,
    so a folder never holds a half-written frame.

    A folder that already holds frames by these names (an earlier run's) is refused
    unless `overwrite`: then those frames, and only those, are removed before the first
    new one is written, so the folder never mixes two runs."""

    def __init__(self, spec: str | Path, *, overwrite: bool = False) -> None:
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
            self.pattern = str(folder / FOLDER_PATTERN)
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder}: exists and is not a folder; choose another output")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _write_error(folder, e) from None
        self.folder = folder
        self._old = pattern_files(self.pattern) if folder.is_dir() else []
        if self._old and not overwrite:
            raise UserError(
                f"{spec}: holds {len(self._old)} frames of an earlier run; add --overwrite "
                "to replace them, or choose another output"
            )
        self.replaced = 0  # old frames removed before the first new one

    def write(self, frame: Frame) -> None:
        if self.check_frame(frame) and self._old:
            for old in self._old:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
            self.replaced, self._old = len(self._old), []
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
        except OSError as e:
            raise _write_error(path, e) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.frames += 1

    def summary(self) -> dict[str, Any]:
        return {"frames": self.frames, "replaced_frames": self.replaced}


def _write_error(path: Path, e: OSError) -> UserError:
    """A disk that cannot take the frames (full, read-only, no permission): the user's
    to fix, in one line."""
    why = (e.strerror or str(e)).lower()
    full = e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    fix = "free some space or choose another -o" if full else "choose another -o"
    return UserError(f"cannot write {path}: {why}; {fix}")
