"""The model cache: networks converted once from the pinned ONNX weights, in two formats:
SavedModels in TF Hub's format (the TensorFlow engine, loaded with `tensorflow_hub.load`)
and OpenVINO IR (the CPU engine; after the conversion it needs no TensorFlow).

Layout: `$STYLIZE_VIDEO_CACHE` (else `$XDG_CACHE_HOME/stylize-video`, else
`~/.cache/stylize-video`) holds one folder per model and format with a `manifest.json`
naming the sha256 of each source and the format version. A folder is built under a
temporary name and renamed when complete; one whose manifest is missing, stale or
unreadable is rebuilt.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import UserError
from models.kinds import cached_kinds
from models.onnx_weights import SOURCES, source_path


@dataclass(frozen=True)
class Entry:
    """A model's row in `stylize-video models list|fetch|info`."""

    name: str
    description: str
    path: Callable[[], Path]
    ready: Callable[[], bool]
    fetch: Callable[[], Path]
    sources: Callable[[], list[dict]]


FORMAT = 2  # bump when the exported graph changes, so old caches are rebuilt
SAVEDMODEL, OPENVINO = "savedmodel", "openvino"
# format -> (version: bump when that conversion changes; a file every complete copy has)
FORMATS: dict[str, tuple[int, str]] = {
    SAVEDMODEL: (FORMAT, "saved_model.pb"),
    OPENVINO: (1, "frame.xml"),
}

# name -> (sources it is converted from, what it is): the cached kinds of the registry.
MODELS: dict[str, tuple[tuple[str, ...], str]] = {
    name: (kind.sources, kind.description) for name, kind in cached_kinds().items()
}


def cache_dir() -> Path:
    env = os.environ.get("STYLIZE_VIDEO_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stylize-video"


def model_path(name: str, fmt: str = SAVEDMODEL) -> Path:
    version = FORMATS[fmt][0]
    return cache_dir() / (f"{name}-v{version}" if fmt == SAVEDMODEL else f"{name}-{fmt}-v{version}")


def _expected_manifest(name: str, fmt: str = SAVEDMODEL) -> dict[str, Any]:
    sources = MODELS[name][0]
    return {"format": FORMATS[fmt][0], "sources": {s: SOURCES[s][1] for s in sources}}


def read_manifest(name: str, fmt: str = SAVEDMODEL) -> dict[str, Any] | None:
    """The manifest of a complete, current copy, or None."""
    path = model_path(name, fmt)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    expected = _expected_manifest(name, fmt)
    if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expected.items()):
        return None
    return manifest if (path / FORMATS[fmt][1]).is_file() else None


def is_converted(name: str, fmt: str = SAVEDMODEL) -> bool:
    return read_manifest(name, fmt) is not None


def _export(name: str, dest: Path, fmt: str = SAVEDMODEL) -> dict[str, Any]:
    """Convert `name` into `dest`; returns what the manifest records beside the sources."""
    for s in MODELS[name][0]:
        source_path(s)  # sha256 check before parsing
    kind = cached_kinds()[name]
    if fmt == OPENVINO:
        return kind.export_openvino(dest)
    kind.export(dest)
    return {}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _conversion_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache folder across processes, so a second process
    waits for the first one's conversion instead of racing it on the rename. The folder
    itself is locked, so no lock file is left behind. Without fcntl (Windows) there is no
    lock; ensure_converted then tolerates losing the race."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"waiting for another stylize-video to finish converting into {folder}",
                file=sys.stderr,
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = (path / "manifest.json").stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def ensure_converted(name: str, *, force: bool = False, fmt: str = SAVEDMODEL) -> Path:
    """Convert `name` into the cache in format `fmt` unless a complete, current copy is
    there. Safe when several processes do it at once: one converts, the others wait and
    use its folder."""
    if name not in MODELS:
        raise UserError(f"unknown model '{name}'; known: {', '.join(MODELS)}")
    path = model_path(name, fmt)
    if not force and is_converted(name, fmt):
        return path
    seen = _identity(path)  # with force: the copy that failed to load
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _conversion_lock(path.parent):
            if is_converted(name, fmt) and (not force or _identity(path) != seen):
                return path  # another process converted it while we waited
            if not force:
                print(
                    f"converting the {name} network for {fmt} into {path.parent} "
                    "(once; a few seconds)",
                    file=sys.stderr,
                )
            _convert(name, path, fmt)
    except OSError as e:
        raise UserError(
            f"cannot write the model cache {path.parent}: {e.strerror}; "
            "set STYLIZE_VIDEO_CACHE to a writable folder"
        ) from None
    return path


def _convert(name: str, path: Path, fmt: str = SAVEDMODEL) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        manifest = {**_export(name, tmp, fmt), **_expected_manifest(name, fmt)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        # mkdtemp makes 0700; the folder gets the mode of any other folder the user makes,
        # like the files inside it and the VGG16 file
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():  # stale or partial: move aside, then swap in the new one
            trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            # (someone without the lock, no fcntl, may have moved it first)
            with contextlib.suppress(FileNotFoundError):
                os.replace(path, trash / "m")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, path)
        except OSError as e:
            # Lost the race to a process that could not lock: its copy is as good as ours.
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not is_converted(name, fmt):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load(name: str, *, loader: Callable[[str], Any] | None = None) -> Any:
    """Load a converted model with tensorflow_hub.load, converting it first if needed; a
    cache that fails to load is rebuilt once."""
    if loader is None:
        import tensorflow_hub as hub

        loader = hub.load
    path = ensure_converted(name)
    try:
        return loader(str(path))
    except Exception:  # a corrupt cache is not the user's fault: rebuild it once
        return loader(str(ensure_converted(name, force=True)))
