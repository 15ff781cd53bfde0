"""The two engines: OpenVINO (the CPU path) against TensorFlow on both networks, the
engine choice, a CPU run that never imports TensorFlow, and a damaged or stale IR."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, synthetic_photo
from helpers import boxes_everywhere, textured

from models.engine import OPENVINO, TENSORFLOW, choose_engine
from models.errors import UserError


@pytest.fixture(scope="module")
def pair(style_png, magenta_module, preset_module):
    """The same styles on both engines: preset 7, then a style image (Magenta)."""
    from models.stylizer import load_stylizer

    styles = ["preset:7", str(style_png)]
    return (
        load_stylizer(styles, engine=OPENVINO),
        load_stylizer(styles, engine=TENSORFLOW, jit_compile=False),
    )


@pytest.mark.slow
@pytest.mark.parametrize("size", [(96, 128), (130, 198)], ids=["96x128", "130x198"])
@pytest.mark.parametrize("style", [0, 1], ids=["presets", "magenta"])
def test_openvino_equals_tensorflow_on_frames_and_regions(pair, style, size):
    ov, tf = pair
    frame = textured(*size, seed=style)
    content = frame[None].astype(np.float32) / 255.0
    for s in pair:
        s.style_index = style
    np.testing.assert_allclose(ov.stylize_float(content), tf.stylize_float(content), atol=1e-3)
    (ov_full, ov_stats), (tf_full, tf_stats) = (s.stylize_with_stats_float(content) for s in pair)
    np.testing.assert_allclose(ov_full, tf_full, atol=1e-3)
    np.testing.assert_allclose(ov_stats.values, tf_stats.values, rtol=1e-3, atol=1e-3)
    boxes = boxes_everywhere(*size)
    for margin in (64, 32):
        a = ov.stylize_regions_float(frame, boxes, ov_stats, margin)
        b = tf.stylize_regions_float(frame, boxes, tf_stats, margin)
        for box, x, y in zip(boxes, a, b, strict=True):
            assert np.abs(x - y).max() <= 1e-3, (margin, box)


def test_openvino_style_representations_equal_tensorflows(pair):
    ov, tf = pair
    for s in pair:
        s.style_index = 1
    model_ov, rep_ov = ov.bank.current()
    model_tf, rep_tf = tf.bank.current()
    np.testing.assert_allclose(rep_ov, rep_tf, atol=1e-3)
    photo = synthetic_photo(256, 256, seed=4)[None].astype(np.float32) / 255.0
    np.testing.assert_allclose(
        ov.engine.style_rep(model_ov, photo), tf.engine.style_rep(model_tf, photo), atol=1e-3
    )


def test_the_report_says_which_engine_ran(pair):
    ov, tf = pair
    assert ov.describe()["engine"] == "openvino" and ov.describe()["precision"] == "f32"
    assert tf.describe()["engine"] == "tensorflow" and tf.describe()["device"] == "/CPU:0"


def _never(*_):
    raise AssertionError("TensorFlow must not be asked")


@pytest.mark.parametrize(
    ("requested", "kwargs", "present", "tf_sees", "expected"),
    [
        ("auto", {}, False, None, OPENVINO),  # no GPU in sight: TensorFlow is not imported
        ("auto", {}, True, True, TENSORFLOW),
        ("auto", {}, True, False, OPENVINO),  # a driver but no CUDA TensorFlow
        (None, {}, False, None, OPENVINO),
        ("auto", {"device": "cpu"}, True, None, OPENVINO),
        ("auto", {"device": "gpu"}, False, None, TENSORFLOW),
        ("auto", {"hub_handle": "x"}, False, None, TENSORFLOW),
        ("openvino", {}, True, None, OPENVINO),
        ("tensorflow", {}, False, None, TENSORFLOW),
        ("TensorFlow", {"device": "cpu"}, False, None, TENSORFLOW),
    ],
)
def test_engine_choice(requested, kwargs, present, tf_sees, expected):
    got = choose_engine(
        requested,
        gpu_present=lambda: present,
        tf_sees_gpu=(lambda: tf_sees) if tf_sees is not None else _never,
        **kwargs,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("requested", "kwargs", "match"),
    [
        ("onnx", {}, "--engine onnx"),
        ("openvino", {"hub_handle": "x"}, "--hub-handle"),
        ("openvino", {"device": "gpu:0"}, "--device gpu:0"),
    ],
)
def test_engine_choice_refuses_what_cannot_run(requested, kwargs, match):
    with pytest.raises(UserError, match=match):
        choose_engine(requested, gpu_present=lambda: False, tf_sees_gpu=_never, **kwargs)


def test_gpu_presence_is_read_from_the_system(tmp_path):
    from models.engine import gpu_may_be_present

    assert not gpu_may_be_present(str(tmp_path))
    (tmp_path / "proc/driver/nvidia/gpus").mkdir(parents=True)
    assert not gpu_may_be_present(str(tmp_path))  # the driver, but no GPU listed
    (tmp_path / "proc/driver/nvidia/gpus/0000:01:00.0").mkdir()
    assert gpu_may_be_present(str(tmp_path))


@pytest.mark.slow
def test_image_and_video_on_a_cpu_never_import_tensorflow(tmp_path, preset_module):
    """After the first conversion the CPU path runs without TensorFlow (seconds and
    hundreds of megabytes saved on every start)."""
    from models import cache

    cache.ensure_converted("presets", fmt=cache.OPENVINO)
    script = (
        "import sys, stylize_video\n"
        "codes = [stylize_video.main(a) for a in (sys.argv[1:5], sys.argv[5:])]\n"
        "print(codes, 'tensorflow' in sys.modules)\n"
    )
    image = ["image", str(ROOT / "samples/portrait.jpg"), "-o", str(tmp_path / "p.png")]
    video = ["video", str(ROOT / "samples/clip.mp4"), "-o", str(tmp_path / "c.mp4")]
    r = subprocess.run(
        [sys.executable, "-c", script, *image, *video, "--end", "0.3", "--size", "96"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.strip().splitlines()[-1] == "[0, 0] False"
    assert (tmp_path / "p.png").is_file() and (tmp_path / "c.mp4").is_file()


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own, so damaging it leaves the session's alone."""
    monkeypatch.setenv("STYLIZE_VIDEO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.slow
def test_a_damaged_or_stale_ir_is_converted_again_with_a_message(own_cache, capsys):
    from models import cache
    from models.stylizer import load_stylizer

    frame = synthetic_photo(48, 64, seed=1)
    expected = load_stylizer(["preset:3"], engine=OPENVINO)(frame)
    path = cache.model_path("presets", cache.OPENVINO)
    assert "converting the presets network for openvino" in capsys.readouterr().err

    bin_file = path / "frame.bin"
    data = bytearray(bin_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: it still loads, and computes nonsense
    bin_file.write_bytes(bytes(data))
    again = load_stylizer(["preset:3"], engine=OPENVINO)(frame)
    err = capsys.readouterr().err
    assert "is damaged (frame.bin" in err and "converting it again" in err
    assert np.array_equal(again, expected)

    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "format": 0}))  # stale
    load_stylizer(["preset:3"], engine=OPENVINO)
    assert "converting the presets network for openvino" in capsys.readouterr().err
    assert json.loads((path / "manifest.json").read_text())["format"] == manifest["format"]
    assert not [p for p in own_cache.iterdir() if p.name.startswith(".")]  # no temp left


# Three region windows of a 256x320 frame on the preset network: 192x192 with every side
# inner, and 128x128 at two opposite corners (top-left and bottom-right sides inner).
CORNER_AND_CENTRE = [(140, 110, 180, 146), (0, 0, 40, 32), (280, 224, 320, 256)]


def _regions_stylizer(seed: int):
    from models.stylizer import load_stylizer

    s = load_stylizer(["preset:7"], engine=OPENVINO)
    frame = textured(256, 320, seed=seed)
    _, stats = s.stylize_with_stats(frame)
    s.wait_compiled()
    return s, lambda: s.stylize_regions_float(frame, CORNER_AND_CENTRE, stats)


def _compile_every_variant(s, regions) -> None:
    """Call until each variant has its static compile: one compiles at a time, and each
    call may start the next."""
    for _ in CORNER_AND_CENTRE:
        s.wait_compiled()
        regions()
    s.wait_compiled()


@pytest.mark.slow
def test_openvino_static_region_variants_compile_once_in_the_background(preset_module):
    s, regions = _regions_stylizer(seed=3)
    s.engine.region_compile_px = 0  # every variant earns its compile on its first window
    first = regions()
    # No window waited for its variant's compile: the dynamic compile served all three.
    assert s.engine.region_windows == {"dynamic": 3}
    assert {code for *_, code in s.region_shapes} == {"1111", "0101", "1010"}
    _compile_every_variant(s, regions)
    s.engine.region_windows.clear()
    again = regions()
    assert s.engine.region_windows == {"static": 3}
    assert s.traces["regions static"] == 3  # once per variant, however often it ran
    assert s.traces["regions"] == 1
    windows = s.describe()["region_windows"]  # what --json reports
    assert windows == {"static": 3, "dynamic": 0, "variants_compiled": 3}
    for a, b in zip(first, again, strict=True):
        np.testing.assert_allclose(b, a, atol=1e-5)


@pytest.mark.slow
def test_openvino_region_variants_earn_their_compile_and_stay_bounded(preset_module, monkeypatch):
    from models import engine_openvino

    monkeypatch.setattr(engine_openvino, "MAX_REGION_VARIANTS", 2)
    s, regions = _regions_stylizer(seed=4)
    regions()
    regions()
    s.wait_compiled()
    # Six small windows are far from the pixels a compile costs: none started.
    assert "regions static" not in s.traces
    assert s.engine.region_windows == {"dynamic": 6}
    s.engine.region_compile_px = 0
    _compile_every_variant(s, regions)
    assert s.traces["regions static"] == 3
    s.engine.region_windows.clear()
    regions()
    # Two variants kept: the least recently used one went, and runs dynamic again.
    assert s.engine.region_windows == {"static": 2, "dynamic": 1}
    s.close()  # that window started its compile again: leave nothing running
