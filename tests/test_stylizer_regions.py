"""Exact partial re-stylization: per-norm statistics recorded on a full frame and frozen on
crops. Inside a 64 px margin the crop's output equals the full frame's, on both networks,
at every border and corner; bucketed windows bound the shapes XLA compiles."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import boxes_everywhere, textured

from models.errors import UserError

PRESET, MAGENTA = 0, 1  # style indexes of the shared stylizer
NETS = {"presets": PRESET, "magenta": MAGENTA}


@pytest.fixture(scope="module", params=["openvino", "tensorflow"])
def stylizer(request, style_png, magenta_module, preset_module):
    from models.stylizer import load_stylizer

    return load_stylizer(["preset:7", str(style_png)], jit_compile=False, engine=request.param)


def _full(stylizer, frame: np.ndarray):
    return stylizer.stylize_with_stats_float(frame[None].astype(np.float32) / 255.0)


@pytest.mark.slow
@pytest.mark.parametrize("size", [(256, 320), (254, 318)], ids=["256x320", "254x318"])
@pytest.mark.parametrize("net", NETS)
def test_crop_interiors_equal_the_full_frame_at_margin_64(stylizer, net, size):
    stylizer.style_index = NETS[net]
    frame = textured(*size, seed=1)
    full, stats = _full(stylizer, frame)
    boxes = boxes_everywhere(*size)
    stylizer.region_shapes.clear()
    outs = stylizer.stylize_regions_float(frame, boxes, stats, margin=64)
    for box, out in zip(boxes, outs, strict=True):
        x0, y0, x1, y1 = box
        assert out.shape == (y1 - y0, x1 - x0, 3)
        assert np.abs(out - full[0, y0:y1, x0:x1]).max() <= 1e-4, box
    # Meaningful only if most windows are true crops, smaller than the frame both ways.
    domain = (-(-size[0] // 4) * 4, -(-size[1] // 4) * 4)
    crops = [s for s in stylizer.region_shapes if s[0] < domain[0] and s[1] < domain[1]]
    assert len(crops) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("net", NETS)
def test_the_crops_own_statistics_give_a_large_error(stylizer, net):
    """The same window without frozen statistics: what the test above would catch."""
    from models.stylizer import REGION_SIZES, region_window

    stylizer.style_index = NETS[net]
    frame = textured(192, 256, seed=2)
    full, stats = _full(stylizer, frame)
    x0, y0, x1, y1 = 110, 80, 150, 112
    wy, wh = region_window(y0, y1, 64, 192, REGION_SIZES)
    wx, wx_n = region_window(x0, x1, 64, 256, REGION_SIZES)
    crop = frame[None, wy : wy + wh, wx : wx + wx_n].astype(np.float32) / 255.0
    own = stylizer.engine.transform(stats.model, crop, stats.rep)[0]
    own = own[y0 - wy : y1 - wy, x0 - wx : x1 - wx]
    frozen = stylizer.stylize_regions_float(frame, [(x0, y0, x1, y1)], stats)[0]
    assert np.abs(frozen - full[0, y0:y1, x0:x1]).max() <= 1e-4
    assert np.abs(own - full[0, y0:y1, x0:x1]).max() > 0.02


def test_frozen_with_a_frames_own_stats_is_the_cached_transform(magenta_module, preset_module):
    """The in-process network that records statistics is the cached model's math."""
    from models import kinds

    content = textured(64, 96, seed=3)[None].astype(np.float32) / 255.0
    b = np.random.default_rng(0).standard_normal((1, 1, 1, 100)).astype(np.float32)
    w = np.eye(26, dtype=np.float32)[3:4]
    for name, module, rep, channels in (
        ("magenta", magenta_module, b, 694),
        ("presets", preset_module, w, 990),
    ):
        kind = kinds.create(name, module)
        out, stats = kind.transform_stats(content, rep)
        assert stats.shape == (1, channels)  # 2 x the channels of every norm layer
        cached = module.transform(content, rep).numpy()
        np.testing.assert_allclose(out.numpy(), cached, atol=1e-5)
        again = kind.transform_frozen(content, rep, stats).numpy()
        np.testing.assert_allclose(again, cached, atol=1e-5)


def test_restructured_network_records_the_plain_networks_statistics():
    """Stats come from the same math on the fast path (space-to-depth, subpixel)."""
    import tensorflow as tf

    from models import onnx_weights as ow
    from models.networks import Transformer

    weights = ow.read_magenta_transformer()
    fast, plain = Transformer(weights, fast=True), Transformer(weights, fast=False)
    content = tf.constant(textured(48, 64, seed=4)[None].astype(np.float32) / 255.0)
    params = fast.norm_params(tf.constant(np.random.default_rng(1).random((1, 100), np.float32)))
    (out_f, st_f), (out_p, st_p) = (
        fast.with_stats(content, params),
        plain.with_stats(content, params),
    )
    np.testing.assert_allclose(st_f.numpy(), st_p.numpy(), atol=1e-4)
    np.testing.assert_allclose(out_f.numpy(), out_p.numpy(), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("net", NETS)
def test_smaller_margins_run_untrimmed_and_stay_close(stylizer, net):
    stylizer.style_index = NETS[net]
    frame = textured(256, 320, seed=9)
    full, stats = _full(stylizer, frame)
    box = (140, 110, 180, 146)
    stylizer.region_shapes.clear()
    out = stylizer.stylize_regions_float(frame, [box], stats, margin=48)[0]
    assert [code for *_, code in stylizer.region_shapes] == ["none"]
    assert np.abs(out - full[0, 110:146, 140:180]).max() <= 0.05


def test_bucketed_windows_bound_the_shapes_and_never_retrace(stylizer):
    stylizer.style_index = PRESET
    frame = textured(320, 384, seed=5)
    _, stats = _full(stylizer, frame)
    stylizer.region_shapes.clear()
    traced = stylizer.traces["regions"]
    from models.stylizer import REGION_SIZES

    sizes = [(10, 10), (13, 17), (20, 25), (31, 29), (40, 44), (50, 52), (7, 51), (49, 9)]
    boxes = [(152, 140, 152 + bw, 140 + bh) for bw, bh in sizes]
    outs = stylizer.stylize_regions(frame, boxes, stats)
    assert [o.shape[:2] for o in outs] == [(bh, bw) for bw, bh in sizes]
    # 8 box sizes (8 window shapes unbucketed), at most 3 heights x 2 widths to compile.
    assert len(stylizer.region_shapes) <= 6
    assert all(h in REGION_SIZES and w in REGION_SIZES for h, w, _ in stylizer.region_shapes)
    assert stylizer.traces["regions"] - traced <= 1  # traced once ever, whatever the shape


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["openvino", "tensorflow"])
def test_statistics_trace_the_region_function_once_for_every_set_of_sides(preset_module, engine):
    from models.stylizer import load_stylizer

    s = load_stylizer(["preset:7"], jit_compile=False, engine=engine)
    frame = textured(256, 320, seed=8)
    _, stats = s.stylize_with_stats(frame)
    s.wait_compiled()  # traced in the background, before any region is asked for
    assert s.traces["regions"] == 1
    boxes = boxes_everywhere(256, 320)
    s.stylize_regions(frame, boxes, stats)
    assert len({code for _, _, code in s.region_shapes}) >= 6  # many sets of inner sides
    assert s.traces["regions"] == 1


@pytest.mark.slow
def test_openvino_warm_up_compiles_the_region_network_frames_compile_per_shape(preset_module):
    from models.stylizer import load_stylizer

    s = load_stylizer(["preset:7"], engine="openvino")
    s.warm_up()
    assert dict(s.traces) == {}  # a frame shape is compiled when it is first seen
    s.warm_up(with_stats=True)
    assert dict(s.traces) == {"regions": 1}
    frame = textured(128, 160, seed=9)
    s(frame)
    s(frame)
    _, stats = s.stylize_with_stats(frame)
    s.stylize_regions(frame, [(0, 0, 40, 40), (60, 50, 100, 90)], stats)
    s(textured(96, 160, seed=9))
    assert dict(s.traces) == {"frame": 2, "stats": 1, "regions": 1}


@pytest.mark.slow
def test_warm_up_traces_what_the_first_frames_call(preset_module):
    from models.stylizer import load_stylizer

    s = load_stylizer(["preset:7"], jit_compile=False, engine="tensorflow")
    s.warm_up()
    assert dict(s.traces) == {"frame": 1}
    s.warm_up(with_stats=True)
    assert dict(s.traces) == {"frame": 1, "stats": 1, "regions": 1}
    frame = textured(128, 160, seed=9)
    s(frame)
    _, stats = s.stylize_with_stats(frame)
    s.stylize_regions(frame, [(0, 0, 40, 40), (60, 50, 100, 90)], stats)
    s.wait_compiled()
    assert dict(s.traces) == {"frame": 1, "stats": 1, "regions": 1}

    from models.stylizer import REGION_SIZES, region_window

    r = np.random.default_rng(6)
    for _ in range(2000):
        limit = int(r.integers(16, 300)) * 4
        lo = int(r.integers(0, limit - 1))
        hi = int(r.integers(lo + 1, limit + 1))
        margin = int(r.choice([0, 16, 48, 64]))
        start, n = region_window(lo, hi, margin, limit, REGION_SIZES)
        assert start % 4 == 0 and n % 4 == 0 and start >= 0 and start + n <= limit
        assert start <= max(0, lo - margin) and start + n >= min(limit, hi + margin)
        assert n in REGION_SIZES or n == limit or n % 256 == 0


@pytest.mark.parametrize("net", NETS)
def test_strength_and_preserve_color_apply_to_regions_as_to_frames(stylizer, net):
    stylizer.style_index = NETS[net]
    frame = (textured(192, 256, seed=7) * 0.5 + 60).astype(np.uint8)
    stylizer.strength, stylizer.preserve_color = 0.5, True
    stylizer.reset_content()
    try:
        full, stats = stylizer.stylize_with_stats(frame)
        assert np.abs(full.astype(int) - stylizer(frame)).max() <= 1  # as a plain frame
        stylizer.strength = 0.8  # regions keep the look the stats were made with
        assert not stylizer.stats_are_current(stats)
        boxes = boxes_everywhere(192, 256)[:9]
        outs = stylizer.stylize_regions(frame, boxes, stats)
        for (x0, y0, x1, y1), out in zip(boxes, outs, strict=True):
            assert np.abs(out.astype(int) - full[y0:y1, x0:x1]).max() <= 1
    finally:
        stylizer.strength, stylizer.preserve_color = 1.0, False
        stylizer.reset_content()
    assert not stylizer.stats_are_current(stats)
    _, fresh = stylizer.stylize_with_stats(frame)
    assert stylizer.stats_are_current(fresh)


def test_regions_refuse_a_different_frame_size_or_a_box_outside(stylizer):
    stylizer.style_index = PRESET
    frame = textured(64, 96)
    _, stats = stylizer.stylize_with_stats(frame)
    with pytest.raises(ValueError, match="stats"):
        stylizer.stylize_regions(textured(64, 100), [(0, 0, 8, 8)], stats)
    with pytest.raises(ValueError, match="box"):
        stylizer.stylize_regions(frame, [(90, 0, 100, 8)], stats)


def test_a_combined_only_model_cannot_give_statistics(stylizer):
    from models import kinds

    combined = kinds.create("combined", lambda c, s: [c])
    assert not combined.supports_stats()
    saved = stylizer.bank.reps[MAGENTA]
    stylizer.bank.reps[MAGENTA] = (combined, np.zeros((1, 256, 256, 3), np.float32))
    stylizer.style_index = MAGENTA
    try:
        with pytest.raises(UserError, match="hub-handle"):
            stylizer.stylize_with_stats(textured(64, 64))
    finally:
        stylizer.bank.reps[MAGENTA] = saved


@pytest.mark.slow
def test_xla_regions_equal_the_xla_full_frame(preset_module):
    from models.stylizer import load_stylizer

    s = load_stylizer(["preset:7"], jit_compile=True, engine="tensorflow")
    s.engine.region_xla_uses = 3
    frame = textured(128, 224, seed=8)
    content = frame[None].astype(np.float32) / 255.0
    box = (90, 40, 130, 80)
    s.stylize_with_stats_float(content)
    s.wait_compiled()
    full, stats = s.stylize_with_stats_float(content)  # now the XLA function
    for _ in range(s.engine.region_xla_uses - 1):  # a shape in rare use is not worth a compile
        s.stylize_regions_float(frame, [box], stats)
    s.wait_compiled()
    assert {k[1].split(":")[0] for k in s.engine._compiled} == {"stats"}
    s.stylize_regions_float(frame, [box], stats)  # in steady use now
    s.wait_compiled()
    assert {k[1].split(":")[0] for k in s.engine._compiled} == {"stats", "regions"}
    # A true crop of the 128x224 frame: rows whole, columns 20..212 (both sides inner).
    assert s.region_shapes == {(128, 192, "0011")}
    out = s.stylize_regions_float(frame, [box], stats)[0]
    x0, y0, x1, y1 = box
    assert np.abs(out - full[0, y0:y1, x0:x1]).max() <= 1e-4


def test_a_closed_stylizer_starts_no_xla_compile_and_still_stylizes(preset_module):
    from models.stylizer import load_stylizer

    s = load_stylizer(["preset:7"], jit_compile=True, engine="tensorflow")
    s.close()  # the job is over: what is asked now must not hold up the exit
    frame = textured(32, 48, seed=2)
    out = s(frame)
    s.wait_compiled()
    assert out.shape == frame.shape and s.engine._compiled == set()
