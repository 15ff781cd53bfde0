"""Shared fixtures. TensorFlow costs seconds to import and each model seconds to build, so
models are loaded once per session and shared; test frames are small."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


# Every temp file and folder of the session (Ray's included: it follows TMPDIR) goes
# into one folder, checked for the tool's leftovers and removed at the end.
SUITE_TMP = Path(tempfile.mkdtemp(prefix="svt-"))  # short: Ray's AF_UNIX paths <= 107 bytes
# what a run must not leave in the temp folder: Ray's session files, a worker's copy of
# its inputs, a server's uploads, the Ray folder a command starts
LEFTOVERS = ("ray/session_*", "sv-ray-*", "sv-worker-*", "stylize-video-uploads-*")


def pytest_configure(config: pytest.Config) -> None:
    os.environ["TMPDIR"] = str(SUITE_TMP)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    # One model cache per test session (subprocesses inherit it). Set
    # STYLIZE_VIDEO_TEST_CACHE to reuse a converted cache across local runs.
    cache = os.environ.get("STYLIZE_VIDEO_TEST_CACHE") or tempfile.mkdtemp(prefix="sv-cache-")
    os.environ["STYLIZE_VIDEO_CACHE"] = cache
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for pat in LEFTOVERS for p in folder.glob(pat))


@pytest.fixture(scope="session", autouse=True)
def no_leftovers() -> Iterator[None]:
    """The suite leaves nothing in the temp folder: no Ray session, no worker's or
    server's temp folder (checked after every other fixture has been torn down)."""
    yield
    left = leftovers(SUITE_TMP)
    shutil.rmtree(SUITE_TMP, ignore_errors=True)
    assert not left, f"the tests left these in the temp folder: {left}"


def ray_temp_dir() -> Path:
    """A folder for a Ray the tests start (Ray leaves its session files behind); the
    test removes it after ray.shutdown()."""
    return Path(tempfile.mkdtemp(prefix="sv-ray-"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: real photos, paintings and clips. Tests using it skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def synthetic_photo(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth, structured RGB uint8 image (gradients, a disc and stripes), seeded."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin(x / 5.0)], axis=2)
    cy, cx = r.uniform(0.3, 0.7) * h, r.uniform(0.3, 0.7) * w
    disc = ((y - cy) ** 2 + (x - cx) ** 2) < (min(h, w) / 4) ** 2
    img[disc] = r.uniform(0, 1, 3)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def style_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic 'painting': coloured diagonal strokes."""
    from PIL import Image

    y, x = np.mgrid[0:128, 0:128].astype(np.float32)
    img = np.stack(
        [0.5 + 0.5 * np.sin((x + y) / 4), 0.5 + 0.5 * np.cos((x - y) / 7), (x * y) % 64 / 64],
        axis=2,
    )
    path = tmp_path_factory.mktemp("style") / "strokes.png"
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="session")
def magenta_module():
    """The cached Hub-format SavedModel, converted once per session."""
    from models import cache

    return cache.load("magenta")


@pytest.fixture(scope="session")
def preset_module():
    from models import cache

    return cache.load("presets")


@pytest.fixture
def fake_cv2_capture(monkeypatch):
    import cv2
    from helpers import FakeCapture

    FakeCapture.instances = []
    FakeCapture.opened = True
    FakeCapture.fail_after = None
    FakeCapture.max_open = None
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    return FakeCapture
