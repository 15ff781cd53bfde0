"""Bundled sample inputs (made by samples/make_samples.py from material a dependency ships)."""

from pathlib import Path

SAMPLES = Path(__file__).resolve().parent
PORTRAIT = SAMPLES / "portrait.jpg"
CLIP = SAMPLES / "clip.mp4"
