"""Where the stylizer runs and how it is compiled. The decision is plain logic over the
device list so it can be tested on a machine without a GPU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.errors import UserError


@dataclass(frozen=True)
class DevicePlan:
    device: str  # a TensorFlow device string, "/GPU:0" or "/CPU:0"
    jit_compile: bool
    mixed_precision: bool


def plan_device(
    gpus: Sequence[str],
    *,
    requested: str | None = None,
    jit_compile: bool | None = None,
    fixed_shape: bool = True,
    mixed_precision: bool | None = None,
) -> DevicePlan:
    """Choose device, XLA and precision.

    `gpus`: names of the physical GPUs TensorFlow sees. `requested`: "cpu", "gpu", "gpu:N"
    or None (GPU when there is one). XLA by default: always on a GPU; on a CPU only for a
    fixed frame shape (video, webcam), since each new shape costs seconds to compile.
    Mixed precision (float16 compute via grappler's auto_mixed_precision) by default only on
    a GPU: on these CPUs float16 and bfloat16 were slower (docs/design.md section 3.3)."""
    req = (requested or "auto").lower()
    if req in ("auto", "gpu") or req.startswith("gpu:"):
        index = int(req.split(":")[1]) if ":" in req else 0
        if gpus and index < len(gpus):
            device = f"/GPU:{index}"
        elif req == "auto":
            device = "/CPU:0"
        else:
            raise UserError(
                f"--device {requested}: TensorFlow sees {len(gpus)} GPU(s); "
                "use --device cpu or check the CUDA install (nvidia-smi)"
            )
    elif req == "cpu":
        device = "/CPU:0"
    else:
        raise UserError(f"--device {requested}: use auto, cpu, gpu or gpu:N")
    gpu = "GPU" in device
    jit = jit_compile if jit_compile is not None else (gpu or fixed_shape)
    mixed = mixed_precision if mixed_precision is not None else gpu
    return DevicePlan(device, jit, mixed)


def visible_gpus() -> list[str]:
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]
