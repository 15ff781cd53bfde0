"""The Stylizer: style representations once per style, no retrace on size changes,
strength, blends, colour preservation, the disk cache and the --hub-handle path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT, synthetic_photo

from models.errors import UserError


@pytest.fixture(scope="module", params=["openvino", "tensorflow"])
def image_stylizer(request, style_png, magenta_module):
    from models.stylizer import load_stylizer

    return load_stylizer([str(style_png), "preset:7"], jit_compile=False, engine=request.param)


def test_tensorflow_changing_frame_size_does_not_retrace(style_png, magenta_module):
    from models.stylizer import load_stylizer

    s = load_stylizer([str(style_png), "preset:7"], jit_compile=False, engine="tensorflow")
    sizes = [(64, 96), (72, 50), (130, 198), (64, 96)]
    outs = [s(synthetic_photo(h, w)) for h, w in sizes]
    assert [o.shape[:2] for o in outs] == sizes
    assert s.trace_count == 1
    s.style_index = 1  # the preset network has its own function, traced once
    for h, w in sizes:
        s(synthetic_photo(h, w))
    assert s.trace_count == 2


@pytest.mark.slow
def test_openvino_compiles_once_per_shape_and_keeps_a_bounded_set(style_png, magenta_module):
    from models import engine_openvino
    from models.stylizer import load_stylizer

    s = load_stylizer([str(style_png)], engine="openvino")
    sizes = [(64, 96), (72, 50), (130, 198), (64, 96)]
    outs = [s(synthetic_photo(h, w)) for h, w in sizes]
    assert [o.shape[:2] for o in outs] == sizes
    assert s.trace_count == 3  # the repeated size reused its compile
    for i in range(engine_openvino.MAX_SHAPES + 2):
        s(synthetic_photo(32 + 4 * i, 40))
    kept = [k for k in s.engine._compiled if k[1] == "frame"]
    assert len(kept) == engine_openvino.MAX_SHAPES


@pytest.mark.slow
def test_xla_compiles_in_the_background_and_gives_the_same_image(style_png, image_stylizer):
    from models.stylizer import load_stylizer

    xla = load_stylizer([str(style_png)], jit_compile=True, engine="tensorflow")
    assert xla.engine.plan.jit_compile
    frame = synthetic_photo(48, 64, seed=5)
    first = xla(frame)  # served by the plain function while XLA compiles
    xla.wait_compiled()
    assert xla.engine._compiled == {("magenta", (1, 48, 64, 3))}
    compiled = xla(frame)
    image_stylizer.style_index = 0
    reference = image_stylizer(frame).astype(int)
    assert np.abs(first.astype(int) - reference).max() <= 1
    assert np.abs(compiled.astype(int) - reference).max() <= 2
    assert xla.trace_count == 2  # one plain trace, one XLA trace, for every size


def test_style_really_changes_the_image(image_stylizer):
    frame = synthetic_photo(64, 96)
    image_stylizer.style_index = 0
    a = image_stylizer(frame)
    image_stylizer.style_index = 1
    b = image_stylizer(frame)
    assert np.abs(a.astype(int) - frame).mean() > 20
    assert np.abs(a.astype(int) - b).mean() > 10


def test_strength_interpolates_bottlenecks(image_stylizer):
    frame = synthetic_photo(64, 96, seed=3)
    image_stylizer.style_index = 0
    full = image_stylizer(frame).astype(int)
    dists = []
    for w in (0.75, 0.4, 0.0):
        image_stylizer.strength = w
        image_stylizer.reset_content()
        dists.append(np.abs(image_stylizer(frame).astype(int) - full).mean())
    image_stylizer.strength = 1.0
    assert dists[0] < dists[1] < dists[2]  # further from the full style as strength drops
    with pytest.raises(UserError):
        image_stylizer.strength = 1.5


def test_preset_strength_zero_returns_the_content(image_stylizer):
    frame = synthetic_photo(64, 96)
    image_stylizer.style_index = 1
    image_stylizer.strength = 0.0
    try:
        out = image_stylizer(frame)
    finally:
        image_stylizer.strength = 1.0
    assert np.abs(out.astype(int) - frame).max() <= 1


def test_preserve_color_keeps_chroma_and_takes_luma(image_stylizer):
    # Muted colours, so recombined pixels stay inside the RGB gamut and nothing clips.
    frame = (synthetic_photo(64, 96) * 0.4 + 70).astype(np.uint8)
    image_stylizer.style_index = 0
    plain = image_stylizer(frame)
    image_stylizer.preserve_color = True
    try:
        kept = image_stylizer(frame)
    finally:
        image_stylizer.preserve_color = False
    yk, yf, yp = (cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb).astype(int) for x in (kept, frame, plain))
    chroma_kept = np.abs(yk[..., 1:] - yf[..., 1:]).mean()
    chroma_plain = np.abs(yp[..., 1:] - yf[..., 1:]).mean()
    assert chroma_kept < 1.5 < chroma_plain
    assert np.abs(yk[..., 0] - yp[..., 0]).mean() < 1.5


def test_blend_is_the_weighted_sum_of_bottlenecks(style_png, tmp_path, image_stylizer):
    from models.stylizer import load_stylizer

    other = tmp_path / "other.png"
    cv2.imwrite(str(other), synthetic_photo(128, 128, seed=9))
    s = load_stylizer([f"{style_png}:1,{other}:3", str(style_png), str(other)], jit_compile=False)
    blend, a, b = (rep for _, rep in s.bank.reps)
    np.testing.assert_allclose(blend, 0.25 * a + 0.75 * b, atol=1e-6)


def test_style_bottleneck_is_cached_on_disk(style_png, image_stylizer, monkeypatch):
    from models import cache, style_bank, stylizer

    files = list((cache.cache_dir() / "styles").glob("*.npy"))
    assert files, "the style bottleneck was not written to the disk cache"
    style_bank._REP_MEMORY.clear()

    def no_predictor(*a, **k):
        raise AssertionError("the predictor ran although the bottleneck was cached")

    monkeypatch.setattr(style_bank.StyleBank, "_compute_rep", no_predictor)
    s = stylizer.load_stylizer([str(style_png)], jit_compile=False)
    assert s.bank.reps[0][1].shape == (1, 1, 1, 100)


@pytest.mark.slow
def test_second_start_does_no_conversion_and_corrupt_cache_is_rebuilt(magenta_module, monkeypatch):
    from models import cache

    calls = []
    real_export = cache._export
    monkeypatch.setattr(cache, "_export", lambda n, *a: (calls.append(n), real_export(n, *a))[1])
    cache.ensure_converted("presets")
    assert calls == []  # already converted this session: nothing rebuilt

    path = cache.model_path("presets")
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "format": -1}))
    cache.ensure_converted("presets")
    assert calls == ["presets"]

    (path / "saved_model.pb").write_bytes(b"garbage")  # corrupt, manifest still right
    model = cache.load("presets")
    assert calls == ["presets", "presets"]
    assert model.transform(
        np.zeros((1, 32, 32, 3), np.float32), np.eye(26, dtype=np.float32)[:1]
    ).shape == (1, 32, 32, 3)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left


@pytest.mark.slow
def test_hub_handle_with_a_local_savedmodel(style_png, magenta_module, tmp_path):
    """Any model with the Magenta Hub calling convention works; one with only the combined
    call (like tfhub.dev's) gets the preprocessed style tensor cached instead."""
    import tensorflow as tf

    from models import cache
    from models.stylizer import load_stylizer

    ours = load_stylizer([str(style_png)], jit_compile=False)
    frame = synthetic_photo(48, 64, seed=2)
    expected = ours(frame)

    copy = tmp_path / "magenta_copy"
    shutil.copytree(cache.model_path("magenta"), copy)
    via_handle = load_stylizer([str(style_png)], hub_handle=str(copy), jit_compile=False)
    assert via_handle.bank.reps[0][0].kind == "magenta"
    assert np.abs(via_handle(frame).astype(int) - expected).max() <= 1

    class CombinedOnly(tf.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3])] * 2)
        def __call__(self, content, style):
            return [self.inner(content, style)[0]]

    combined_dir = tmp_path / "combined"
    tf.saved_model.save(CombinedOnly(magenta_module), str(combined_dir))
    combined = load_stylizer([str(style_png)], hub_handle=str(combined_dir), jit_compile=False)
    model, rep = combined.bank.reps[0]
    assert model.kind == "combined" and rep.shape == (1, 256, 256, 3)
    assert np.abs(combined(frame).astype(int) - expected).max() <= 2
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), synthetic_photo(64, 64, seed=4))
    with pytest.raises(UserError, match="blended"):
        load_stylizer([f"{style_png}:0.5,{other}:0.5"], hub_handle=str(combined_dir))


def test_bad_hub_handle_is_a_user_error(tmp_path):
    from models.stylizer import load_stylizer

    with pytest.raises(UserError, match="--hub-handle"):
        load_stylizer(["preset:1"], hub_handle=str(tmp_path / "nothing-here"))


@pytest.mark.parametrize(
    ("gpus", "kwargs", "device", "jit", "mixed"),
    [
        ([], {}, "/CPU:0", True, False),
        ([], {"fixed_shape": False}, "/CPU:0", False, False),
        (["/physical_device:GPU:0"], {"fixed_shape": False}, "/GPU:0", True, True),
        (["g0", "g1"], {"requested": "gpu:1"}, "/GPU:1", True, True),
        (["g0"], {"requested": "cpu"}, "/CPU:0", True, False),
        (["g0"], {"jit_compile": False, "mixed_precision": False}, "/GPU:0", False, False),
    ],
)
def test_device_plan(gpus, kwargs, device, jit, mixed):
    from models.device import plan_device

    plan = plan_device(gpus, **kwargs)
    assert (plan.device, plan.jit_compile, plan.mixed_precision) == (device, jit, mixed)


@pytest.mark.parametrize("requested", ["gpu", "gpu:2", "tpu"])
def test_device_plan_refuses_what_is_not_there(requested):
    from models.device import plan_device

    with pytest.raises(UserError, match="--device"):
        plan_device(["g0"] if requested == "gpu:2" else [], requested=requested)


@pytest.mark.slow
def test_exit_during_a_background_xla_compile_is_clean(preset_module):
    """A process that ends while XLA still compiles must exit 0, not die in TensorFlow's
    teardown (it did: SIGSEGV, exit 139, with the compile thread a daemon)."""
    code = (
        "import numpy as np; from models.stylizer import load_stylizer;"
        "s = load_stylizer(['preset:7'], jit_compile=True, engine='tensorflow');"
        "s(np.zeros((240, 320, 3), np.uint8)); print('served')"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-800:]
    assert r.stdout.strip().endswith("served")
