"""Checks of the user's numbers and output paths that every command shares. Each raises
models.errors.UserError with one line naming the option and the fix. No TensorFlow."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from models.errors import UserError

# The largest --size (long side, pixels) any command stylizes at; documented in --help.
MAX_LONG_SIDE = 8192
MIN_LONG_SIDE = 16
# Peak memory of one stylized frame, measured (image --style preset:N, CPU): about
# 330 bytes per pixel of the frame on top of about 0.75 GB for TensorFlow and the model.
BYTES_PER_PIXEL = 350
BASE_BYTES = 1 << 30


def positive_finite(option: str, value: float | None, example: str = "25") -> float | None:
    """`value` unless it is zero, negative, infinite or NaN (None passes: the default)."""
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"{option} {value}: give a positive number, e.g. {option} {example}")
    return float(value)


def finite_time(option: str, value: float | None) -> float | None:
    """A time in seconds: `value` unless it is infinite or NaN (None passes)."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise UserError(f"{option} {value}: give a time in seconds, e.g. {option} 5")
    return float(value)


def long_side(option: str, value: int | None) -> int | None:
    """A long side in pixels within [MIN_LONG_SIDE, MAX_LONG_SIDE] (None passes)."""
    if value is None:
        return None
    if value < MIN_LONG_SIDE or value > MAX_LONG_SIDE:
        raise UserError(
            f"{option} {value}: give the long side in pixels, from {MIN_LONG_SIDE} to "
            f"{MAX_LONG_SIDE}"
        )
    return value


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None when it cannot be told."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def scaled_size(height: int, width: int, size: int | None) -> tuple[int, int]:
    """(height, width) once the long side is `size` (None: unchanged)."""
    if not size:
        return height, width
    scale = size / max(height, width)
    return max(2, round(height * scale)), max(2, round(width * scale))


def check_fits_in_memory(
    shapes: Iterable[tuple[str, int, int]], size: int | None, option: str = "--size"
) -> None:
    """Refuse, before any model loads, an image that would need more memory to stylize
    than this machine has. `shapes`: (name, height, width) of each input."""
    ram = physical_memory()
    if not ram:
        return
    for name, h, w in shapes:
        sh, sw = scaled_size(h, w, size)
        need = BASE_BYTES + BYTES_PER_PIXEL * sh * sw
        if need <= ram:
            continue
        # the long side that would fit, rounded down to a multiple of 64
        fits = math.sqrt((ram - BASE_BYTES) / BYTES_PER_PIXEL * max(sh, sw) / min(sh, sw))
        fits = max(MIN_LONG_SIDE, min(MAX_LONG_SIDE, int(fits) // 64 * 64))
        raise UserError(
            f"{name}: stylizing at {sw}x{sh} needs about {need / 2**30:.0f} GB of memory and "
            f"this machine has {ram / 2**30:.0f} GB; give {option} {fits} or less"
        )


def prepare_output_folder(path: str | os.PathLike) -> None:
    """Create the folder an output file goes into when it does not exist yet, and say so
    on stderr (every command does the same). UserError when it cannot be made."""
    folder = Path(path).parent
    if str(folder) in ("", ".") or folder.is_dir():
        return
    if folder.exists():
        raise UserError(f"cannot write {path}: {folder} is not a folder; choose another -o")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"{path}: cannot create the folder {folder} ({e.strerror or e}); choose another output"
        ) from None
    print(f"created folder {folder} for {Path(path).name}", file=sys.stderr)


# Names that mean a pipe, not a file: every output is written to a temporary file and
# renamed (a pipe cannot be), and sources probe and seek their input.
_STDIN = {"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "pipe:", "pipe:0"}
_STDOUT = {"-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "pipe:", "pipe:1"}


def refuse_stdin(path: str | os.PathLike) -> None:
    """One line for `-` or /dev/stdin as an input (it was read as a missing or empty
    file)."""
    if str(path) in _STDIN:
        raise UserError(
            f"input {path}: standard input is not supported; save it to a file first and "
            "give that file"
        )


def refuse_stdout(path: str | os.PathLike, example: str = "out.mkv") -> None:
    """One line for `-o -` or /dev/stdout (it became a folder named '-', without audio)."""
    if str(path) in _STDOUT:
        raise UserError(
            f"-o {path}: writing to standard output is not supported; give a file "
            f"(e.g. -o {example}) and read that"
        )


def refuse_still_image(path: str | os.PathLike) -> None:
    """A photo given to `video` made a one-frame video: point to `image` instead. GIFs
    stay (ffmpeg reads them as video)."""
    from models.images import IMAGE_EXTENSIONS

    p = Path(path)
    if p.suffix.lower() in IMAGE_EXTENSIONS - {".gif"} and p.is_file():
        raise UserError(
            f"{path} is a still image; stylize it with: stylize-video image {path} -o OUT.png"
        )
