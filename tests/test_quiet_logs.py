"""No command prints TensorFlow's C++ log lines or OpenCV's own log unless --verbose is given.

Each case runs the real CLI in a subprocess on the CPU (CUDA hidden), as a user would,
with TF_CPP_MIN_LOG_LEVEL unset so only the tool decides."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from stylize_video import build_parser

# absl's pre-init banner and glog-style lines: "E0000 00:00:1795... cuda_platform.cc:52] ..."
NATIVE_LINE = re.compile(
    r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d:[\d.]+ )", re.MULTILINE
)


def _run(args: list[str], cache: str | None = None) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "STYLIZE_VIDEO_DEBUG", "OPENCV_LOG_LEVEL")
    }
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    env["PYTHONPATH"] = str(ROOT)
    if cache:
        env["STYLIZE_VIDEO_CACHE"] = cache
    return subprocess.run(
        [sys.executable, str(ROOT / "stylize_video.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tiny_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quiet") / "tiny.png"
    rgb = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


@pytest.mark.slow
def test_image_with_a_preset_prints_no_native_lines(tiny_png: Path, tmp_path: Path):
    out = _run(["image", str(tiny_png), "--style", "preset:3", "-o", str(tmp_path / "o.png")])
    assert out.returncode == 0, out.stderr
    assert not NATIVE_LINE.search(out.stderr), out.stderr
    assert (tmp_path / "o.png").is_file()


@pytest.mark.slow
def test_models_fetch_into_an_empty_cache_prints_no_native_lines(tmp_path: Path):
    # models.cache imports TensorFlow itself (not through models.tf_runtime): the import
    # hook must still catch the first import.
    out = _run(["models", "fetch", "presets"], cache=str(tmp_path / "cache"))
    assert out.returncode == 0, out.stderr
    assert not NATIVE_LINE.search(out.stderr), out.stderr
    assert "presets: ready" in out.stdout


@pytest.mark.slow
def test_verbose_lets_the_native_lines_through(tiny_png: Path, tmp_path: Path):
    # The CPU engine never imports TensorFlow; the TensorFlow engine must still be heard.
    argv = ["--verbose", "image", str(tiny_png), "-s", "preset:3", "-o", str(tmp_path / "o.png")]
    out = _run([*argv, "--engine", "tensorflow"])
    assert out.returncode == 0, out.stderr
    assert NATIVE_LINE.search(out.stderr), out.stderr


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["models", "list"], False),
        (["--verbose", "models", "list"], True),
        (["models", "list", "--verbose"], True),
        (["-v", "image", "a.png", "-o", "b.png"], True),
    ],
)
def test_verbose_is_a_global_flag_before_or_after_the_command(argv: list[str], want: bool):
    assert build_parser().parse_args(argv).verbose is want


@pytest.mark.slow
def test_the_hook_catches_tensorflow_imported_by_keras():
    # --method optimize reaches TensorFlow through `import keras` (models/vgg.py)
    code = (
        "from models.tf_runtime import quiet_tensorflow\n"
        "quiet_tensorflow()\n"
        "import keras\n"
        "import tensorflow as tf\n"
        "print(len(tf.config.list_physical_devices('GPU')))\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "STYLIZE_VIDEO_DEBUG")
    }
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert not NATIVE_LINE.search(out.stderr), out.stderr


@pytest.mark.slow
def test_a_missing_camera_is_one_line_without_opencvs_own_log(tmp_path: Path):
    # OpenCV printed 13 [ WARN ]/[ERROR] lines probing its backends before our error
    out = _run(["webcam", "--source", "99", "--headless", "-o", str(tmp_path / "w.mp4")])
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "camera 99" in lines[0], out.stderr
