"""The model cache: networks converted once from the pinned ONNX weights into SavedModels
in TF Hub's format, loaded with `tensorflow_hub.load`.

Layout: `$STYLIZE_VIDEO_CACHE` (else `$XDG_CACHE_HOME/stylize-video`, else
`~/.cache/stylize-video`) holds one folder per model with a `manifest.json` naming the
sha256 of each source and the format version. A folder is built under a temporary name and
renamed when complete; one whose manifest is missing, stale or unreadable is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
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


def model_path(name: str) -> Path:
    return cache_dir() / f"{name}-v{FORMAT}"


def _expected_manifest(name: str) -> dict[str, Any]:
    sources = MODELS[name][0]
    return {"format": FORMAT, "sources": {s: SOURCES[s][1] for s in sources}}


def is_converted(name: str) -> bool:
    path = model_path(name)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest == _expected_manifest(name) and (path / "saved_model.pb").is_file()


def _export(name: str, dest: Path) -> None:
    for s in MODELS[name][0]:
        source_path(s)  # sha256 check before parsing
    cached_kinds()[name].export(dest)


def ensure_converted(name: str, *, force: bool = False) -> Path:
    """Convert `name` into the cache unless a complete, current copy is there."""
    if name not in MODELS:
        raise UserError(f"unknown model '{name}'; known: {', '.join(MODELS)}")
    path = model_path(name)
    if not force and is_converted(name):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as e:
        raise UserError(
            f"cannot write the model cache {path.parent}: {e.strerror}; "
            "set STYLIZE_VIDEO_CACHE to a writable folder"
        ) from None
    try:
        _export(name, tmp)
        (tmp / "manifest.json").write_text(json.dumps(_expected_manifest(name), indent=2))
        if path.exists():  # stale or partial: move aside, then swap in the new one
            trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, trash / "m")
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


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
