"""Regenerate the bundled samples from material a dependency ships (no download):

- portrait.jpg: matplotlib's sample photo of Grace Hopper (public domain, US Navy).
- clip.mp4: 4 s, 24 fps, 480x360 H.264 + AAC: a slow pan and zoom over that photo with a
  440 Hz tone, so the video path (motion, audio) has a default input.

Run: python samples/make_samples.py
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from matplotlib import cbook
from PIL import Image

HERE = Path(__file__).resolve().parent
W, H, FPS, SECONDS = 480, 360, 24, 4


def main() -> None:
    argparse.ArgumentParser(
        description="Regenerate samples/portrait.jpg and samples/clip.mp4 (overwrites both)."
    ).parse_args()
    src = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    Image.fromarray(src).save(HERE / "portrait.jpg", quality=92)

    n = FPS * SECONDS
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={SECONDS}",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "23", "-preset", "slow",
        "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart",
        str(HERE / "clip.mp4"),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    sh, sw = src.shape[:2]
    for i in range(n):
        t = i / (n - 1)
        zoom = 1.0 + 0.35 * t  # crop shrinks: a slow push-in while panning down-right
        cw, ch = sw / zoom, sw / zoom * H / W
        x0, y0 = (sw - cw) * t, (sh - ch) * (0.2 + 0.5 * t)
        m = np.array([[W / cw, 0, -x0 * W / cw], [0, H / ch, -y0 * H / ch]], np.float32)
        proc.stdin.write(cv2.warpAffine(src, m, (W, H), flags=cv2.INTER_AREA).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("ffmpeg failed")


if __name__ == "__main__":
    main()
