"""`stylize-video demo`: the main job on the bundled samples, with a built-in preset, so it
needs no webcam, no style image and no network."""

from __future__ import annotations

from pathlib import Path

from models.styles import DEFAULT_PRESET, DEFAULT_STYLE

DEMO_PRESET = DEFAULT_PRESET
DEMO_STYLE = DEFAULT_STYLE


def run_demo(output: str = "out") -> int:
    from realtime.jobs.image import stylize_images
    from realtime.jobs.video import convert_video
    from samples import CLIP, PORTRAIT

    out = Path(output)
    print(
        f"demo: preset {DEMO_PRESET.number}, {DEMO_PRESET.name} ({DEMO_PRESET.look}); "
        "see all presets: stylize-video styles"
    )
    stylize_images([str(PORTRAIT)], str(out / "portrait.png"), [DEMO_STYLE], grid=True)
    convert_video(str(CLIP), str(out / "clip.mp4"), style={"styles": [DEMO_STYLE]})
    print(f"demo: open {out / 'portrait_grid.png'} and play {out / 'clip.mp4'}")
    return 0
