"""Engines: where the networks run. The networks are defined once (models.networks, in
TensorFlow); an engine runs them:

- `openvino` (the CPU engine): the networks converted once into OpenVINO IR in the model
  cache, compiled per frame shape (a quarter of a second each). After the conversion it
  never imports TensorFlow: a process starts in a fraction of TensorFlow's time and memory.
- `tensorflow` (the GPU engine): `tf.function` with XLA, on a GPU when TensorFlow sees one.
  It also runs `--hub-handle` models, whose weights are not ours to convert.

`auto` takes TensorFlow when TensorFlow sees a GPU, OpenVINO otherwise. Whether a GPU is
there is first asked of the operating system (NVIDIA's device nodes, WSL's GPU bridge), so
a machine without one never imports TensorFlow just to learn that.

Contract for every engine: frames float32 RGB in [0, 1], NHWC, [1,H,W,3] in and out; a
model's representation (`rep`) has its kind's `rep_shape`; region statistics are float32
[1, 2*sum(C)] (all means, then all variances) as the stats function returns them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.errors import UserError
from models.kinds import ModelKind

AUTO, OPENVINO, TENSORFLOW = "auto", "openvino", "tensorflow"
ENGINES = (AUTO, OPENVINO, TENSORFLOW)
# Sides of a region window inside the frame (top, bottom, left, right); None: untrimmed.
Sides = tuple[bool, bool, bool, bool] | None


class Engine(ABC):
    """Runs the model kinds' networks. Thread-safe: two frames may be in flight."""

    name: ClassVar[str]
    max_in_flight: ClassVar[int] = 2

    def __init__(self) -> None:
        # Per purpose ("frame", "stats", "regions"): how often a function was prepared
        # (a TensorFlow trace, an OpenVINO compile). Tests read it.
        self.traces: Counter[str] = Counter()

    @abstractmethod
    def load(self, slot: str) -> ModelKind:
        """The model kind for `slot` ("magenta", "presets"), loaded once."""

    @abstractmethod
    def style_rep(self, model: ModelKind, style: np.ndarray) -> np.ndarray:
        """[1,256,256,3] preprocessed style image -> the kind's representation."""

    @abstractmethod
    def transform(self, model: ModelKind, content: np.ndarray, rep: np.ndarray) -> np.ndarray:
        """A whole frame, [1,H,W,3] float32 in [0, 1] -> the same, stylized."""

    @abstractmethod
    def transform_stats(
        self, model: ModelKind, content: np.ndarray, rep: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """A whole frame and every instance norm's statistics on it."""

    @abstractmethod
    def transform_regions(
        self,
        model: ModelKind,
        crop: np.ndarray,
        rep: np.ndarray,
        stats: np.ndarray,
        sides: Sides,
    ) -> np.ndarray:
        """A crop with the frame's statistics frozen; with `sides`, each layer trims what
        its padding spoiled next to those sides (the output is `trim_total` px smaller on
        each), and the crop's height and width are multiples of 4."""

    @abstractmethod
    def trim_total(self, model: ModelKind) -> int:
        """The network's halo in input px: margins this wide make regions exact."""

    def prepare_regions(self, model: ModelKind, rep: np.ndarray, stats: np.ndarray) -> None:
        """Statistics were recorded and regions will follow: prepare their function now
        (in the background), not on the first changed frame."""
        return None  # nothing to do unless an engine says otherwise

    def warm_up(self, model: ModelKind, rep: np.ndarray, with_stats: bool) -> None:
        """Prepare what the first frames will call, before a live source starts."""
        return None  # nothing to do unless an engine says otherwise

    def describe(self) -> dict[str, Any]:
        """What ran, for reports and `--json`: at least {"engine": name}."""
        return {"engine": self.name}

    def close(self) -> None:
        """The job is over: stop background work (the engine still works)."""
        return None  # nothing to do unless an engine says otherwise

    def wait_compiled(self, timeout: float | None = None) -> None:
        """Wait for background compilations (benchmarks, tidy shutdowns)."""
        return None  # nothing to do unless an engine says otherwise


def gpu_may_be_present(root: str = "/") -> bool:
    """Whether the operating system shows a GPU TensorFlow could use (NVIDIA's device
    nodes or driver entries, WSL2's GPU bridge), without importing TensorFlow."""
    r = Path(root)
    nvidia = r / "proc" / "driver" / "nvidia" / "gpus"
    try:
        if nvidia.is_dir() and any(nvidia.iterdir()):
            return True
    except OSError:
        pass
    return (r / "dev" / "nvidia0").exists() or (r / "dev" / "dxg").exists()


def tensorflow_sees_gpu() -> bool:
    from models.device import visible_gpus

    return bool(visible_gpus())


def choose_engine(
    requested: str | None,
    *,
    device: str | None = None,
    hub_handle: str | None = None,
    gpu_present: Callable[[], bool] = gpu_may_be_present,
    tf_sees_gpu: Callable[[], bool] = tensorflow_sees_gpu,
) -> str:
    """The engine to run: `requested` unless it is auto (or None). auto: TensorFlow for a
    --hub-handle model, for --device gpu, and when TensorFlow sees a GPU (asked only when
    the system shows one); OpenVINO otherwise."""
    req = (requested or AUTO).lower()
    if req not in ENGINES:
        raise UserError(f"--engine {requested}: use {', '.join(ENGINES)}")
    dev = (device or AUTO).lower()
    if req == OPENVINO:
        if hub_handle:
            raise UserError(
                f"--hub-handle {hub_handle}: --hub-handle models run on TensorFlow; "
                "use --engine auto or --engine tensorflow"
            )
        if dev.startswith("gpu"):
            raise UserError(
                f"--device {device}: the openvino engine runs on the CPU; "
                "use --engine tensorflow (or auto) for a GPU"
            )
        return OPENVINO
    if req == TENSORFLOW or hub_handle or dev.startswith("gpu"):
        return TENSORFLOW
    if dev == "cpu":
        return OPENVINO
    return TENSORFLOW if gpu_present() and tf_sees_gpu() else OPENVINO
