"""Still-image input and output with the checks a user's files need. No TensorFlow.

Every image comes back as RGB uint8 HxWx3 (EXIF orientation applied, 16-bit scaled to
8-bit, grayscale/CMYK/palette converted) plus its alpha channel when it had one.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from models.atomic import atomic_path
from models.errors import UserError

MAX_PIXELS = 100_000_000  # refuse decompression bombs well before they exhaust memory
MIN_SIDE = 16  # the networks contract by 4 and reflect-pad; smaller is meaningless
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
ALPHA_EXTENSIONS = {".png", ".webp", ".tif", ".tiff"}
# outputs that hold an animation (PNG as APNG)
ANIMATED_EXTENSIONS = {".gif", ".png", ".webp"}


def load_image(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an image file as (RGB uint8 HxWx3, alpha uint8 HxW or None).

    Raises UserError with the file name and the fix for anything a user can get wrong."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise UserError(f"{p} is a folder; give an image file")
    if p.stat().st_size == 0:
        raise UserError(f"{p}: the file is empty; re-export or re-download it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            with Image.open(p) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise UserError(_too_big(p, w, h))
                im.load()
                im = ImageOps.exif_transpose(im)
                rgb, alpha = _to_rgb8(im)
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(_too_big(p, *_declared_size(p))) from None
    except UnidentifiedImageError:
        raise UserError(
            f"{p} is not an image this tool can read; give a JPEG, PNG, WebP, BMP or TIFF file"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError(
            f"{p}: the image is truncated or corrupt ({e}); re-export or re-download it"
        ) from None
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise UserError(
            f"{p} is {rgb.shape[1]}x{rgb.shape[0]} pixels; stylizing needs at least "
            f"{MIN_SIDE}x{MIN_SIDE}, use a larger image"
        )
    return rgb, alpha


def _declared_size(p: Path) -> tuple[int, int]:
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(p) as im:
            return im.size
    finally:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _too_big(p: Path, w: int, h: int) -> str:
    return (
        f"{p} declares {w}x{h} pixels ({w * h / 1e6:.0f} MP), over the "
        f"{MAX_PIXELS // 1_000_000} MP safety limit; downscale it first"
    )


def _to_rgb8(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    alpha = None
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2), None
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        a = np.asarray(im)
        alpha = np.ascontiguousarray(a[:, :, 3])
        return np.ascontiguousarray(a[:, :, :3]), alpha
    arr = np.asarray(im)
    if arr.dtype == np.uint16:  # 16-bit RGB PNG (Pillow >= 10 keeps 16 bits per channel)
        return (arr >> 8).astype(np.uint8)[:, :, :3], None
    return np.asarray(im.convert("RGB")), alpha


def fit_long_side(rgb: np.ndarray, long_side: int | None) -> np.ndarray:
    """Scale so the long side is exactly `long_side` pixels (None or 0: unchanged); area
    interpolation down, cubic up."""
    h, w = rgb.shape[:2]
    if not long_side or max(h, w) == long_side:
        return rgb
    scale = long_side / max(h, w)
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, size, interpolation=interp)


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def save_image(path: str | os.PathLike, rgb: np.ndarray, alpha: np.ndarray | None = None) -> Path:
    """Write atomically: a temporary file in the same folder, renamed when complete."""
    p = Path(path)
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise UserError(f"{p}: unknown image extension '{p.suffix}'; use .png or .jpg")
    im = Image.fromarray(rgb)
    if alpha is not None and p.suffix.lower() in ALPHA_EXTENSIONS:
        im.putalpha(Image.fromarray(alpha))
    try:
        with atomic_path(p) as tmp:
            im.save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    except OSError as e:
        raise UserError(f"cannot write {p}: {e.strerror or e}; choose another -o") from None
    return p


def animation_frames(path: str | os.PathLike) -> int:
    """How many frames an animated GIF, PNG (APNG) or WebP holds: 1 for a still or any
    other format (a multi-page TIFF is pages, not an animation); 0 when unreadable,
    which load_image then reports."""
    try:
        with Image.open(path) as im:
            if im.format not in ("GIF", "PNG", "WEBP"):
                return 1
            return int(getattr(im, "n_frames", 1))  # Pillow sets it on animated files only
    except (OSError, SyntaxError, ValueError):
        return 0


def load_animation(
    path: str | os.PathLike,
) -> tuple[list[tuple[np.ndarray, np.ndarray | None]], list[int], int]:
    """Every frame of an animated GIF/PNG/WebP as (RGB, alpha or None), each frame's
    duration in ms, and the loop count (0: forever). Call load_image first: it checks."""
    frames: list[tuple[np.ndarray, np.ndarray | None]] = []
    durations: list[int] = []
    with Image.open(path) as im:
        loop = int(im.info.get("loop", 0))
        for frame in ImageSequence.Iterator(im):
            durations.append(int(frame.info.get("duration", 100)) or 100)
            frames.append(_to_rgb8(frame.copy()))
    return frames, durations, loop


def save_animation(
    path: str | os.PathLike,
    frames: list[tuple[np.ndarray, np.ndarray | None]],
    durations: list[int],
    loop: int = 0,
) -> Path:
    """Write an animated GIF, PNG (APNG) or WebP atomically; alpha where the format has it
    (GIF's one-bit transparency is left out)."""
    p = Path(path)
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if p.suffix.lower() not in ANIMATED_EXTENSIONS or fmt is None:
        raise UserError(f"{p}: an animation needs a .gif, .png or .webp output")
    ims = []
    for rgb, alpha in frames:
        im = Image.fromarray(rgb)
        if alpha is not None and fmt != "GIF":
            im.putalpha(Image.fromarray(alpha))
        ims.append(im)
    try:
        with atomic_path(p) as tmp:
            ims[0].save(
                tmp,
                format=fmt,
                save_all=True,
                append_images=ims[1:],
                duration=durations,
                loop=loop,
            )
    except OSError as e:
        raise UserError(f"cannot write {p}: {e.strerror or e}; choose another -o") from None
    return p
