"""Gatys optimization on tiny images with a random-weights VGG16 (real weights only when
already in the cache). 64x64, a few iterations: the point is behaviour, not beauty."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models.errors import UserError

tf = pytest.importorskip("tensorflow")

from models import optimize as opt  # noqa: E402
from models import vgg  # noqa: E402

# Shallow layers keep the random VGG graph (and the tests) small.
TINY = opt.OptimizeSettings(
    content_layers=("block2_conv2",),
    style_layers=("block1_conv1", "block2_conv1", "block3_conv1"),
    style_weight=1e3,
    iterations=8,
    min_iterations=3,
    window=3,
    tol=0.0,  # never converged: runs exactly `iterations` unless told otherwise
)


def _images(h: int = 64, w: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    content = np.stack([xx, yy, 0.5 * (xx + yy)], -1).astype(np.float32)
    content[h // 4 : h // 2, w // 4 : w // 2] = (0.9, 0.2, 0.1)
    style = rng.random((48, 48, 3), dtype=np.float32) ** 2
    return content, style


@pytest.fixture(scope="module")
def extractor():
    return opt.make_extractor(TINY, weights=None, seed=0)


@pytest.fixture(scope="module")
def optimizer(extractor):
    _, style = _images()
    return opt.StyleOptimizer(extractor, style, TINY)


@pytest.mark.slow
def test_lbfgs_loss_falls_and_history_is_kept(optimizer) -> None:
    content, _ = _images()
    r = optimizer.run(content)
    assert r.iterations == TINY.iterations == len(r.history) - 1
    assert r.final_loss < 0.9 * r.initial_loss
    assert r.image.shape == content.shape and r.image.dtype == np.float32
    assert r.image.min() >= 0.0 and r.image.max() <= 1.0
    assert np.abs(r.image - content).mean() > 1e-3  # the picture changed
    assert r.terms["style"] > 0 and r.terms["temporal"] == 0
    assert len(r.parts_history) == len(r.history)
    assert sum(r.parts_history[-1]) == pytest.approx(r.final_loss, rel=1e-4)


@pytest.mark.slow
def test_loss_terms_split_the_optimized_loss(optimizer) -> None:
    """The diagnostic split (per style layer) adds up to the loss the optimizer reports."""
    content, _ = _images()
    rng = np.random.default_rng(3)
    image = np.clip(content + 0.2 * rng.standard_normal(content.shape), 0, 1).astype(np.float32)
    r = optimizer.run(content, init=image, iterations=1)
    t = optimizer.loss_terms(image, content)
    assert set(t) == {"content", *TINY.style_layers, "tv", "total"}
    c, s, tv, _ = r.parts_history[0]
    assert t["content"] == pytest.approx(c, rel=1e-4) and t["tv"] == pytest.approx(tv, rel=1e-4)
    assert sum(t[n] for n in TINY.style_layers) == pytest.approx(s, rel=1e-4)
    assert t["total"] == pytest.approx(r.initial_loss, rel=1e-4)
    assert optimizer.loss_terms(content, content)["content"] == pytest.approx(0, abs=1e-6)


@pytest.mark.slow
def test_warm_start_keeps_iterating(optimizer) -> None:
    """The known failure: from an already optimized image, L-BFGS with scipy's default
    tolerances stops after 1-2 iterations. Ours runs at least min_iterations and the loss
    still falls."""
    content, _ = _images()
    first = optimizer.run(content)
    s = replace(TINY, tol=1e-9, min_iterations=6, window=3)
    warm = opt.StyleOptimizer(optimizer.extractor, optimizer.style, s)
    r = warm.run(content, init=first.image)
    assert r.iterations >= 6
    assert r.initial_loss == pytest.approx(first.final_loss, rel=1e-3)
    assert r.final_loss < r.initial_loss


def test_gradient_matches_finite_difference(optimizer) -> None:
    """Loss and gradient come from one tf.function call; they must agree."""
    content, _ = _images(32, 32)
    optimizer.run(content, iterations=1)  # builds the targets for this size
    args = (
        optimizer._content_targets(content),
        optimizer._style_grams((32, 32)),
        tf.zeros([1, 32, 32, 3]),
        tf.zeros([1, 32, 32, 1]),
        tf.constant([1.0, 1e3, 1e-2, 0.0]),
        tf.constant(1.0),
    )
    rng = np.random.default_rng(3)
    x = np.clip(content + 0.1 * rng.standard_normal(content.shape), 0, 1).astype(np.float32)
    d = rng.standard_normal(content.shape).astype(np.float32)
    _, g, _, _ = optimizer._loss_and_grad(tf.constant(x[None]), *args)
    eps = 1e-2
    lp = float(optimizer._loss_and_grad(tf.constant((x + eps * d)[None]), *args)[2])
    lm = float(optimizer._loss_and_grad(tf.constant((x - eps * d)[None]), *args)[2])
    numeric = (lp - lm) / (2 * eps)
    analytic = float(np.sum(g.numpy()[0] * d))
    assert analytic == pytest.approx(numeric, rel=0.05)


@pytest.mark.slow
def test_no_retrace_across_sizes(extractor) -> None:
    content, style = _images()
    o = opt.StyleOptimizer(extractor, style, replace(TINY, iterations=2))
    o.run(content)
    o.run(content[:48, :40].copy())
    o.run(content, temporal_target=content, temporal_mask=np.ones((64, 64)))
    assert o._loss_and_grad.experimental_get_tracing_count() == 1


@pytest.mark.slow
def test_temporal_term_pulls_masked_pixels_to_the_warped_previous(extractor) -> None:
    content, style = _images()
    target = np.full_like(content, 0.5)
    mask = np.zeros((64, 64), np.float32)
    mask[:, :32] = 1.0
    s = replace(TINY, temporal_weight=1e4, iterations=10)
    r = opt.StyleOptimizer(extractor, style, s).run(
        content, temporal_target=target, temporal_mask=mask
    )
    err = np.abs(r.image - target).mean(axis=2)
    assert err[:, :32].mean() < 0.5 * err[:, 32:].mean()
    assert r.terms["temporal"] > 0


@pytest.mark.slow
def test_adam_loss_falls(extractor) -> None:
    content, style = _images()
    r = opt.StyleOptimizer(extractor, style, replace(TINY, method="adam", iterations=6)).run(
        content
    )
    assert r.iterations == 6
    assert r.final_loss < r.initial_loss


@pytest.mark.slow
def test_early_stop_on_relative_change(extractor) -> None:
    content, style = _images()
    s = replace(TINY, tol=10.0, iterations=50, min_iterations=4, window=2)
    r = opt.StyleOptimizer(extractor, style, s).run(content)
    assert r.iterations == 4
    assert r.stop_reason.startswith("converged")


def test_progress_bar_ends_full_when_the_loss_converges(extractor, capsys) -> None:
    content, style = _images()
    s = replace(TINY, tol=10.0, iterations=50, min_iterations=4, window=2)
    opt.StyleOptimizer(extractor, style, s).run(content, show_progress=True)
    assert re.findall(r"(\d+)/(\d+) \[", capsys.readouterr().err)[-1] == ("4", "4")


def test_progress_callback_sees_every_iteration(optimizer) -> None:
    content, _ = _images()
    seen: list[tuple[int, float]] = []
    r = optimizer.run(content, iterations=3, progress=lambda i, loss: seen.append((i, loss)))
    assert [i for i, _ in seen] == [1, 2, 3]
    assert [loss for _, loss in seen] == r.history[1:]


def test_initial_images() -> None:
    content, _ = _images()
    np.testing.assert_array_equal(opt.initial_image(content, "content"), content)
    a = opt.initial_image(content, "noise", seed=4)
    b = opt.initial_image(content, "noise", seed=4)
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 0.5) < 0.05
    inverted = opt.initial_image(content, "fast", fast=lambda u8: 255 - u8)
    np.testing.assert_allclose(inverted, 1.0 - content, atol=1 / 255 + 1e-6)
    with pytest.raises(UserError, match="--init fast"):
        opt.initial_image(content, "fast")


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"style_weight": -1.0}, "--style-weight"),
        ({"iterations": 0}, "--iterations"),
        ({"content_layers": ()}, "--content-layers"),
        ({"init": "zeros"}, "--init"),
    ],
)
def test_bad_settings_are_user_errors(bad: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        replace(TINY, **bad).validate()


def test_plot_loss_writes_png(tmp_path: Path) -> None:
    from PIL import Image

    out = opt.plot_loss({"cold": [10, 5, 3], "warm": [4, 3, 2.5]}, tmp_path / "loss.png")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 100
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]


@pytest.mark.skipif(not vgg.vgg16_npz_path().is_file(), reason="VGG16 weights not fetched")
def test_real_weights_stylize_a_tiny_image() -> None:
    content, style = _images()
    s = replace(TINY, content_layers=("block2_conv2",), iterations=5)
    o = opt.StyleOptimizer(opt.make_extractor(s), style, s)
    r = o.run(content)
    assert r.final_loss < 0.7 * r.initial_loss


def test_cli_image_optimize_end_to_end(tmp_path: Path, monkeypatch, capsys, extractor) -> None:
    """`image --method optimize` through the real CLI with a random tiny VGG."""
    import json

    from PIL import Image

    import stylize_video

    content, style = _images()
    Image.fromarray((content * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray((style * 255).astype(np.uint8)).save(tmp_path / "paint.png")
    monkeypatch.setattr(opt, "make_extractor", lambda settings: extractor)
    rc = stylize_video.main(
        [
            "image", str(tmp_path / "photo.png"), "--style", str(tmp_path / "paint.png"),
            "-o", str(tmp_path / "out.png"), "--method", "optimize", "--iterations", "3",
            "--content-layers", "block2_conv2",
            "--style-layers", "block1_conv1,block2_conv1,block3_conv1",
            "--size", "48", "--plot", str(tmp_path / "loss.png"), "--json",
        ]
    )  # fmt: skip
    assert rc == 0
    row = json.loads(capsys.readouterr().out)["images"][0]
    assert row["iterations"] == 3 and row["final_loss"] < row["initial_loss"]
    with Image.open(tmp_path / "out.png") as im:
        assert im.size == (48, 48)
    assert (tmp_path / "loss.png").is_file()


def test_cli_optimize_refuses_a_preset(tmp_path: Path, capsys) -> None:
    from PIL import Image

    import stylize_video

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "p.png")
    rc = stylize_video.main(
        ["image", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png"), "--style",
         "preset:3", "--method", "optimize"]
    )  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "needs one style image" in err and "Traceback" not in err
