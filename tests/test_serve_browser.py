"""The `serve` page in a real browser: headless Chromium (Debian's `chromium` package)
loads it, and the screenshot must show the stylized stream. Skips without Chromium."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from live_fakes import TintStylizer
from PIL import Image

from realtime.jobs.settings import Limits, LiveOptions, LiveSourceOptions, ServeOptions

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


def screenshot(url: str, out: Path, profile: Path) -> None:
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",  # root in a container
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1100,700",
            f"--screenshot={out}",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )


def blue_share(path: Path) -> float:
    """Fraction of the screenshot that is the blue tint of style 2 (the page itself has
    no such colour: a dark background, grey panel, yellow accents)."""
    px = np.asarray(Image.open(path).convert("RGB")).astype(int)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    return float(np.mean((b > 140) & (b > r + 60) & (b > g + 60)))


def test_page_in_headless_chromium_shows_the_stylized_stream(tmp_path):
    from realtime.jobs.serve import run_serve

    stylizer = TintStylizer()
    stylizer.style_index = 2  # blue
    token = "browser-token-42"
    shot = tmp_path / "page.png"
    results: dict = {}

    def browse(session) -> None:
        try:
            # wait for frames (an event, polled), then load the page as a user would
            ev = threading.Event()
            while session.server.bc.frames < 3 and not ev.wait(0.05):
                pass
            url = f"{session.url}?token={token}"
            screenshot(url, shot, tmp_path / "profile")
            results["share"] = blue_share(shot)
            if results["share"] < 0.05:  # the first paint can precede the first frame
                screenshot(url, shot, tmp_path / "profile")
                results["share"] = blue_share(shot)
            results["status"] = session.server.status()
        except BaseException as e:
            results["error"] = e
        finally:
            session.stop()

    run_serve(
        LiveOptions(
            LiveSourceOptions("testpattern", width=320, height=240, fps=20),
            limits=Limits(max_seconds=180),
        ),
        processor=stylizer,
        server=ServeOptions(port=0, token=token),
        on_ready=browse,
        as_json=True,
    )
    assert "error" not in results, results.get("error")
    # the stream <img> fills most of the left side: a large blue area, the stylized frame
    assert results["share"] > 0.15, f"stylized frame not visible in {shot}"
    # JPEG frames are encoded only while someone watches: the browser opened the stream
    assert results["status"]["frames_encoded"] > 0
