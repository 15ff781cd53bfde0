"""The OpenVINO engine: the CPU path. No TensorFlow once the model cache holds the IR.

Each kind's networks are read from the cache's IR files (`models.kinds.export_ir`) and
compiled for the CPU in float32, once per input shape: a static shape runs 20-37% faster
than a dynamic one and compiles in about 0.25 s, so the last few frame shapes are kept
compiled.

Region windows (`--changed`) come in many shapes and sets of trimmed sides (a 4 s clip
uses 50-70). One dynamic-shape compile of the region network serves any of them at once.
A static compile per variant (shape and sides; the sides input replaced by a constant, as
a static reshape with the sides as an input trips OpenVINO's shape inference) runs a
window in 15-65% less time but costs 0.1-0.37 s, what 20-90 windows save: compiling every
variant on first sight cost 35-80% more CPU on real clips (BENCHMARKS.md, "Region windows
on static compiles"). So a variant is compiled in the background, one at a time, only
once the dynamic compile has served it REGION_COMPILE_PX window pixels; until then, and
while it compiles, the dynamic compile serves it. The last MAX_REGION_VARIANTS variants
(at most MAX_REGION_PX of windows) are kept, apart from the frame shapes.

Precision is float32 by default. OpenVINO's own default on CPUs with bfloat16 units is
bfloat16, which differs from the float network by up to 0.04 per pixel: an output we did
not test, so it is opt-in (`precision="bf16"`).
"""

from __future__ import annotations

import collections
import logging
import queue
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from models import cache, kinds
from models.atomic import sha256_file
from models.engine import OPENVINO, Engine, Sides
from models.errors import UserError
from models.kinds import IR_FRAME, IR_PREDICT, IR_REGIONS, IR_STATS, ModelKind

MAX_SHAPES = 8  # compiled static shapes kept per network and purpose
# Static region compiles kept (shape and sides), all kinds together, and their window
# pixels: each holds 10-15 MB plus 0.4-0.5 KB per pixel (a 256x320 window 53 MB), so
# 1.5 Mpx is about 1 GB at most.
MAX_REGION_VARIANTS = 32
MAX_REGION_PX = 1_500_000
# Window pixels one region variant is served on the dynamic compile before its static
# compile starts ("ski rental"): a static window saves 0.08-0.17 us a pixel, so by then
# the dynamic compile has lost about what a compile costs (0.3 s; 0.1 s from OpenVINO's
# cache). Most variants of a short clip are used a few times and never pay for one.
REGION_COMPILE_PX = 2_000_000
SIDES_INPUT = 3  # the region network's inputs: content, rep, stats, sides
# OpenVINO's own cache of compiled networks (one blob per network and shape, about 1-4 MB):
# a compile found there takes 0.09 s instead of 0.23, a third of a photo's time. The
# oldest blobs beyond this many are removed when an engine starts (region variants add
# up to MAX_REGION_VARIANTS).
MAX_BLOBS = 128
PRECISIONS = {"f32": "f32", "bf16": "bf16"}
REGIONS_STATIC = "regions static"  # the traces key of static region variants

log = logging.getLogger(__name__)


class _Compiled:
    """A compiled model and a pool of its infer requests: one request serves one frame at
    a time, so frames in flight on several threads each take their own."""

    def __init__(self, compiled: Any):
        self.compiled = compiled
        self._outputs = len(compiled.outputs)
        self._idle: queue.SimpleQueue = queue.SimpleQueue()

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            # Outputs are copied out of the request (share_outputs defaults to False),
            # so the request can go back to the pool at once.
            result = request.infer(list(inputs))
            return [result[i] for i in range(self._outputs)]
        finally:
            self._idle.put(request)


class _Networks:
    """One kind's IR in the cache: what the manifest says, and each network read (and its
    files checked against the manifest's sha256) when it is first needed: a photo needs
    one of the three, and never the 9 MB style predictor of a preset."""

    def __init__(self, slot: str, core: Any):
        self.slot = slot
        self.path = cache.ensure_converted(slot, fmt=cache.OPENVINO)
        self.manifest = cache.read_manifest(slot, cache.OPENVINO) or {}
        self._core = core
        self._read: dict[str, Any] = {}
        self._lock = threading.Lock()

    def has(self, name: str) -> bool:
        return f"{name}.xml" in self.manifest.get("files", {})

    def model(self, name: str) -> Any:
        with self._lock:
            if name not in self._read:
                self._verify(name)
                self._read[name] = self._core.read_model(self.path / f"{name}.xml")
            return self._read[name]

    def _verify(self, name: str) -> None:
        """Convert the kind again (with a message) if `name`'s files do not match the
        sha256 the manifest recorded when they were written."""
        files = (f"{name}.xml", f"{name}.bin")
        bad = _damaged_files(self.path, self.manifest, files)
        if not bad:
            return
        print(
            f"the OpenVINO model {self.path} is damaged ({', '.join(bad)} does not match its "
            "manifest); converting it again",
            file=sys.stderr,
        )
        self.path = cache.ensure_converted(self.slot, fmt=cache.OPENVINO, force=True)
        self.manifest = cache.read_manifest(self.slot, cache.OPENVINO) or {}
        if _damaged_files(self.path, self.manifest, files):
            raise UserError(
                f"the model cache {self.path.parent} gives damaged files right after "
                "converting; check the disk, or set STYLIZE_VIDEO_CACHE to another folder"
            )


def _blob_cache(core: Any) -> None:
    """Point OpenVINO's compiled-network cache into the model cache, trimmed to the newest
    MAX_BLOBS; a cache that cannot be written is only a slower start."""
    folder = cache.cache_dir() / "openvino-compiled"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        blobs = sorted(folder.glob("*.blob"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in blobs[MAX_BLOBS:]:
            old.unlink(missing_ok=True)
    except OSError:
        return
    core.set_property({"CACHE_DIR": str(folder)})


def _damaged_files(path: Path, manifest: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """Which of `names` in `path` are missing or differ from the manifest's sha256."""
    recorded = manifest.get("files") or {}
    bad = []
    for name in names:
        try:
            if name not in recorded or sha256_file(path / name) != recorded[name]:
                bad.append(name)
        except OSError:
            bad.append(name)
    return bad


class OpenVINOEngine(Engine):
    name = OPENVINO

    def __init__(self, *, threads: int | None = None, precision: str = "f32"):
        super().__init__()
        import openvino as ov

        if precision not in PRECISIONS:
            raise UserError(f"--precision {precision}: use {', '.join(PRECISIONS)}")
        self._ov = ov
        # pybind11 looks numpy's C API up once per process, under a lock it takes with the
        # GIL held: two threads whose first calls into OpenVINO's tensors come at once
        # deadlock (a conversion's first two frames in flight hung; 5 of 30 fresh processes
        # with two threads). Make that first call here, on one thread.
        _ = ov.Tensor(np.zeros(1, np.float32)).data
        self._core = ov.Core()
        _blob_cache(self._core)
        self.precision = precision
        self._config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": PRECISIONS[precision],
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        self._networks: dict[str, _Networks] = {}
        self._models: dict[str, ModelKind] = {}
        self._compiled: collections.OrderedDict[tuple, _Compiled] = collections.OrderedDict()
        self._compiling: dict[tuple, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._regions_prepared: set[str] = set()  # kinds whose region compile has started
        # Static region variants by (kind, crop shape, sides flags), least recently used
        # first; the window pixels each variant was served on the dynamic compile; the one
        # background compile of a variant.
        self._regions: collections.OrderedDict[tuple, _Compiled] = collections.OrderedDict()
        self._region_px: collections.Counter[tuple] = collections.Counter()
        self._region_failed: set[tuple] = set()
        self._region_thread: threading.Thread | None = None
        self.region_compile_px = REGION_COMPILE_PX
        # Region windows served by a "static" variant or the "dynamic" compile; tests and
        # benchmarks read it.
        self.region_windows: collections.Counter[str] = collections.Counter()
        self._closed = False
        self._lock = threading.Lock()

    def load(self, slot: str) -> ModelKind:
        with self._lock:
            if slot not in self._models:
                self._networks[slot] = _Networks(slot, self._core)
                self._models[slot] = kinds.create(slot, self._networks[slot])
            return self._models[slot]

    def describe(self) -> dict[str, Any]:
        info = {
            "engine": self.name,
            "version": self._ov.get_version().split("-")[0],
            "device": "CPU",
            "precision": self.precision,
        }
        if self.region_windows:  # --changed: how its windows ran
            info["region_windows"] = {
                "static": self.region_windows["static"],
                "dynamic": self.region_windows["dynamic"],
                "variants_compiled": self.traces[REGIONS_STATIC],
            }
        return info

    def trim_total(self, model: ModelKind) -> int:
        return int(self._networks[model.kind].manifest["trim_total"])

    # --- compiling --------------------------------------------------------------------------

    def _get(self, model: ModelKind, purpose: str, shape: tuple[int, ...] | None) -> _Compiled:
        """The network for `purpose` compiled for content of `shape` (None: any shape).
        One thread compiles a given key; others asking for it meanwhile wait for it."""
        key = (model.kind, purpose, shape)
        while True:
            with self._lock:
                if key in self._compiled:
                    self._compiled.move_to_end(key)
                    return self._compiled[key]
                waiting = self._compiling.get(key)
                if waiting is None:
                    self._compiling[key] = threading.Event()
                    break
            waiting.wait()
        try:
            ir = self._networks[model.kind].model(purpose).clone()
            if shape is not None:
                ir.reshape({0: list(shape)})
            compiled = _Compiled(self._core.compile_model(ir, "CPU", self._config))
            with self._lock:
                self.traces[purpose] += 1
                self._compiled[key] = compiled
                same = [k for k in self._compiled if k[:2] == key[:2]]
                for old in same[:-MAX_SHAPES]:
                    del self._compiled[old]
            return compiled
        finally:
            with self._lock:
                self._compiling.pop(key).set()

    def _background(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name="openvino-compile", daemon=True)
        self._threads.append(t)
        t.start()

    def wait_compiled(self, timeout: float | None = None) -> None:
        for t in [*self._threads, self._region_thread]:
            if t is not None:
                t.join(timeout)

    def close(self) -> None:
        """No new region variant is compiled (the engine still works); wait for what runs."""
        self._closed = True
        self.wait_compiled()

    def _region_variant(self, model: ModelKind, key: tuple) -> _Compiled | None:
        """The static compile of region variant `key` if there is one; if not, count the
        window's pixels towards it and start its compile once it has earned one (and no
        other variant is compiling): the caller serves this window on the dynamic compile."""
        with self._lock:
            if key in self._regions:
                self._regions.move_to_end(key)
                self.region_windows["static"] += 1
                return self._regions[key]
            self.region_windows["dynamic"] += 1
            shape = key[1]
            self._region_px[key] += shape[1] * shape[2]
            busy = self._region_thread is not None and self._region_thread.is_alive()
            if (
                busy
                or self._closed
                or key in self._region_failed
                or self._region_px[key] < self.region_compile_px
            ):
                return None
            self._region_thread = threading.Thread(
                target=self._compile_region,
                args=(model, key),
                name="openvino-compile-region",
                # Not a daemon: a process that exits under a running compile aborts in
                # OpenVINO's teardown ("terminate called"); exit waits for it instead.
            )
            self._region_thread.start()
        return None

    def _compile_region(self, model: ModelKind, key: tuple) -> None:
        _, shape, flags = key
        try:
            compiled = _Compiled(
                self._core.compile_model(
                    self._static_regions(model, shape, flags), "CPU", self._config
                )
            )
        except Exception as e:  # the dynamic compile keeps serving it, as before
            log.warning("no static compile of region window %s sides %s: %s", shape, flags, e)
            with self._lock:
                self._region_failed.add(key)
            return
        with self._lock:
            self.traces[REGIONS_STATIC] += 1
            self._regions[key] = compiled
            del self._region_px[key]
            while len(self._regions) > 1 and (
                len(self._regions) > MAX_REGION_VARIANTS
                or sum(k[1][1] * k[1][2] for k in self._regions) > MAX_REGION_PX
            ):
                self._regions.popitem(last=False)

    def _static_regions(self, model: ModelKind, shape: tuple[int, ...], flags: tuple) -> Any:
        """The region IR for one crop shape, its sides input replaced by the constant
        `flags`: with the trims known, OpenVINO infers every shape statically."""
        from openvino import opset13

        ir = self._networks[model.kind].model(IR_REGIONS).clone()
        sides = ir.get_parameters()[SIDES_INPUT]
        if sides.get_partial_shape() != self._ov.PartialShape([4]):
            raise ValueError(f"input {SIDES_INPUT} of the region network is not the sides")
        const = opset13.constant(np.array(flags, np.int32))
        for target in list(sides.output(0).get_target_inputs()):
            target.replace_source_output(const.output(0))
        ir.remove_parameter(sides)
        ir.reshape({0: list(shape)})
        return ir

    # --- running ----------------------------------------------------------------------------

    def style_rep(self, model: ModelKind, style: np.ndarray) -> np.ndarray:
        if not self._networks[model.kind].has(IR_PREDICT):
            raise UserError(f"model kind '{model.kind}' takes no style images")
        out = self._get(model, IR_PREDICT, None)(np.ascontiguousarray(style, np.float32))[0]
        return out.reshape(model.rep_shape)

    def transform(self, model: ModelKind, content: np.ndarray, rep: np.ndarray) -> np.ndarray:
        return self._get(model, IR_FRAME, content.shape)(content, rep)[0]

    def transform_stats(
        self, model: ModelKind, content: np.ndarray, rep: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        out, stats = self._get(model, IR_STATS, content.shape)(content, rep)
        return out, stats

    def transform_regions(
        self,
        model: ModelKind,
        crop: np.ndarray,
        rep: np.ndarray,
        stats: np.ndarray,
        sides: Sides,
    ) -> np.ndarray:
        # Untrimmed is the trimmed network with no side trimmed: the same values.
        flags = tuple(int(bool(s)) for s in (sides or (False,) * 4))
        static = self._region_variant(model, (model.kind, crop.shape, flags))
        if static is not None:
            return static(crop, rep, stats)[0]
        dynamic = self._get(model, IR_REGIONS, None)
        return dynamic(crop, rep, stats, np.array(flags, np.int32))[0]

    def prepare_regions(self, model: ModelKind, rep: np.ndarray, stats: np.ndarray) -> None:
        with self._lock:  # once per kind: every full frame of --changed records stats
            if model.kind in self._regions_prepared:
                return
            self._regions_prepared.add(model.kind)
        self._background(self._get, model, IR_REGIONS, None)

    def warm_up(self, model: ModelKind, rep: np.ndarray, with_stats: bool) -> None:
        """Frame shapes are compiled when they are first seen (0.25 s); what can be done
        before is the region network, which takes any shape."""
        if with_stats and model.supports_stats():
            self._get(model, IR_REGIONS, None)
