"""The `image` command: stylize image files and folders of images."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.atomic import atomic_path, outputs_in_folder
from models.errors import UserError
from models.images import (
    ANIMATED_EXTENSIONS,
    IMAGE_EXTENSIONS,
    animation_frames,
    fit_long_side,
    is_image_file,
    load_animation,
    load_image,
    save_animation,
    save_image,
)
from models.styles import style_image_path
from realtime import validate
from realtime.jobs.settings import StyleOptions


def collect_inputs(inputs: Sequence[str]) -> tuple[list[Path], list[Path]]:
    """Expand folders (not recursively) into their image files. Returns (images, skipped
    non-image files)."""
    images: list[Path] = []
    skipped: list[Path] = []
    for raw in inputs:
        validate.refuse_stdin(raw)
        p = Path(raw)
        if p.is_dir():
            entries = sorted(e for e in p.iterdir() if not e.name.startswith("."))
            found = [e for e in entries if is_image_file(e)]
            skipped += [e for e in entries if e.is_file() and not is_image_file(e)]
            if not found:
                raise UserError(
                    f"{p}: no image files in this folder (looked for "
                    f"{', '.join(sorted(IMAGE_EXTENSIONS))})"
                )
            images += found
        elif not p.exists():
            raise UserError(f"{p}: no such file or folder; check the path")
        else:
            images.append(p)
    return images, skipped


def output_paths(images: list[Path], output: str) -> list[Path]:
    """One input and an output with an image extension: that file. Otherwise `output` is a
    folder and each result is named after its input, as PNG. Any other extension is
    refused (out.pdf became a folder of PNGs)."""
    validate.refuse_stdout(output, "out.png")
    out = Path(output)
    if out.suffix and out.suffix.lower() not in IMAGE_EXTENSIONS and not out.is_dir():
        raise UserError(
            f"-o {out}: {out.suffix} is not an image format; give "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))} or a folder name without an extension"
        )
    if len(images) == 1 and out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir():
        if out.resolve() == images[0].resolve():
            raise UserError(
                f"-o {out} would overwrite the input {images[0]}; choose another output"
            )
        return [out]
    if out.exists() and not out.is_dir():
        raise UserError(
            f"-o {out}: several images need an output folder, and this is a file; "
            "give a folder name"
        )
    return outputs_in_folder(images, out, ".png")


def write_grid(
    path: Path, content: np.ndarray, style: np.ndarray | None, result: np.ndarray, style_name: str
) -> Path:
    """content | style | result side by side with titles, like the Magenta notebook's
    visualize()."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("Content", content)]
    panels += [(f"Style: {style_name}", style)] if style is not None else []
    panels += [("Stylized", result)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5.4))
    for ax, (title, img) in zip(axes, panels, strict=True):
        ax.imshow(img)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return path


def stylize_images(
    inputs: Sequence[str],
    output: str,
    style: StyleOptions | None = None,
    *,
    size: int | None = None,
    grid: bool = False,
    as_json: bool = False,
) -> int:
    """Stylize each input image with the style (blends allowed) and write results.
    Returns the exit code."""
    from models.styles import parse_style

    style = style or StyleOptions()
    validate.long_side("--size", size)
    if len(style.styles) > 1:
        raise UserError("image takes one --style (blend several with a,b: 'a.jpg:0.5,b.jpg:0.5')")
    spec = parse_style(style.styles[0])
    images, skipped = collect_inputs(inputs)
    targets = output_paths(images, output)
    # Validate every input before loading TensorFlow, so a bad file fails fast.
    loaded = [load_image(p) for p in images]
    shapes = [(str(p), *rgb.shape[:2]) for p, (rgb, _) in zip(images, loaded, strict=True)]
    validate.check_fits_in_memory(shapes, size)
    for dst in targets:
        validate.prepare_output_folder(dst)

    from models.stylizer import load_stylizer

    stylizer = load_stylizer([spec.text], **style.stylizer_options(), fixed_shape=False)
    style_preview = None
    if grid and not spec.is_preset:
        style_preview = load_image(spec.items[0].source)[0]
    results = []
    for src, dst, (rgb, alpha) in zip(images, targets, loaded, strict=True):
        content = fit_long_side(rgb, size)
        entry, result = _stylize_one(stylizer, src, dst, content, alpha, size)
        entry["style"] = spec.name
        if grid:
            g = write_grid(
                dst.with_name(f"{dst.stem}_grid.png"),
                content,
                style_preview,
                result,
                spec.name,
            )
            entry["grid"] = str(g)
        results.append(entry)
        if not as_json:
            what = f"{entry['frames']} frames, " if "frames" in entry else ""
            print(
                f"{src} -> {dst} ({entry['width']}x{entry['height']}, {what}{entry['ms']:.0f} ms)"
            )
    if skipped and not as_json:
        print(
            f"skipped {len(skipped)} non-image file(s): {', '.join(p.name for p in skipped)}",
            file=sys.stderr,
        )
    if as_json:
        engine = stylizer.describe()
        summary = {"style": spec.name, "device": engine["device"], "engine": engine}
        print(
            json.dumps(
                summary | {"images": results, "skipped": [str(p) for p in skipped]}, indent=2
            )
        )
    return 0


def _stylize_one(
    stylizer, src: Path, dst: Path, content: np.ndarray, alpha, size: int | None
) -> tuple[dict[str, Any], np.ndarray]:
    """Stylize and save one input (every frame of an animation when `dst` holds them);
    (its report entry, the first stylized frame)."""
    if alpha is not None and content.shape[:2] != alpha.shape:
        alpha = cv2.resize(alpha, content.shape[1::-1], interpolation=cv2.INTER_AREA)
    stylizer.reset_content()
    t0 = time.perf_counter()
    result = stylizer(content)
    frames = animation_frames(src)
    if frames > 1 and dst.suffix.lower() in ANIMATED_EXTENSIONS:
        frames = _stylize_animation(stylizer, src, dst, size, result, alpha)
    else:
        if frames > 1:
            print(
                f"{src}: animated ({frames} frames), but {dst.suffix} holds one "
                "picture: stylized the first frame only (give -o NAME.gif, .png or "
                ".webp for all of them)",
                file=sys.stderr,
            )
            frames = 1
        save_image(dst, result, alpha)
    entry: dict[str, Any] = {
        "input": str(src),
        "output": str(dst),
        "width": int(result.shape[1]),
        "height": int(result.shape[0]),
        "ms": round((time.perf_counter() - t0) * 1000, 1),
    }
    if frames > 1:
        entry["frames"] = frames
    return entry, result


def _stylize_animation(
    stylizer, src: Path, dst: Path, size: int | None, first: np.ndarray, alpha
) -> int:
    """Stylize every frame of an animated input into an animated `dst`, keeping each
    frame's duration and the loop count; `first` is frame 0 already stylized. Returns
    the number of frames."""
    frames, durations, loop = load_animation(src)
    out = [(first, alpha)]
    for rgb, a in frames[1:]:
        content = fit_long_side(rgb, size)
        if a is not None and content.shape[:2] != a.shape:
            a = cv2.resize(a, content.shape[1::-1], interpolation=cv2.INTER_AREA)
        stylizer.reset_content()
        out.append((stylizer(content), a))
    save_animation(dst, out, durations, loop)
    return len(out)


DEFAULT_IMAGE_SIZE = 512  # long side when --size is not given: VGG optimization is slow


def optimize_images(
    inputs: Sequence[str],
    output: str,
    style: str,
    *,
    settings: Mapping[str, Any] | None = None,  # models.optimize.OptimizeSettings fields
    size: int | None = None,
    plot: str | None = None,
    grid: bool = False,
    as_json: bool = False,
    progress: bool = True,
) -> int:
    """`stylize-video image ... --method optimize`: Gatys optimization of each input
    against one style image; writes the results (and the loss curve with `plot`)."""
    from models.optimize import (
        StyleOptimizer,
        cv2_resize,
        initial_image,
        make_extractor,
        make_settings,
        plot_loss,
    )

    settings = make_settings(settings)
    validate.long_side("--size", size)
    style_path = style_image_path(style)
    images, _ = collect_inputs(inputs)
    targets = output_paths(images, output)
    loaded = [load_image(p) for p in images]  # every input checked before TF loads
    style_rgb = load_image(style_path)[0]
    for dst in targets:
        validate.prepare_output_folder(dst)
    for p in images:
        if (n := animation_frames(p)) > 1:
            print(f"{p}: animated ({n} frames); optimizing its first frame only", file=sys.stderr)

    fast = None
    if settings.init == "fast":
        from models.stylizer import load_stylizer

        fast = load_stylizer([style_path], fixed_shape=False)
    optimizer = StyleOptimizer(make_extractor(settings), style_rgb, settings)
    histories: dict[str, list[float]] = {}
    rows = []
    for src, dst, (rgb, alpha) in zip(images, targets, loaded, strict=True):
        long_side = size or min(max(rgb.shape[:2]), DEFAULT_IMAGE_SIZE)
        if size is None and max(rgb.shape[:2]) > long_side and not as_json:
            print(
                f"{src}: optimizing at {long_side} px long side (give --size to change)",
                file=sys.stderr,
            )
        content = fit_long_side(rgb, long_side)
        if alpha is not None and alpha.shape != content.shape[:2]:
            alpha = cv2_resize(alpha, content.shape[1], content.shape[0])
        init = initial_image(content, settings.init, fast=fast, seed=settings.seed)
        r = optimizer.run(content, init, show_progress=progress and not as_json, desc=src.name)
        result = (r.image * 255 + 0.5).astype(np.uint8)
        save_image(dst, result, alpha)
        histories[src.name] = r.history
        row = _optimized_row(src, dst, result, r)
        if grid:
            g = dst.with_name(f"{dst.stem}_grid.png")
            write_grid(g, content, style_rgb, result, Path(style_path).stem)
            row["grid"] = str(g)
        rows.append(row)
        if not as_json:
            print(
                f"{src} -> {dst} ({row['width']}x{row['height']}, {r.iterations} iterations "
                f"in {r.seconds:.1f} s, loss {r.initial_loss:.4g} -> {r.final_loss:.4g}, "
                f"{r.stop_reason})"
            )
    if plot:
        plot_loss(histories, plot)
    if as_json:
        print(json.dumps({"style": style_path, "method": "optimize", "images": rows}, indent=2))
    return 0


def _optimized_row(src: Path, dst: Path, result: np.ndarray, r: Any) -> dict[str, Any]:
    """The report of one optimized image (`r`: models.optimize.OptimizeResult)."""
    return {
        "input": str(src),
        "output": str(dst),
        "width": int(result.shape[1]),
        "height": int(result.shape[0]),
        "iterations": r.iterations,
        "evaluations": r.evaluations,
        "seconds": round(r.seconds, 2),
        "s_per_iteration": round(r.seconds / max(r.iterations, 1), 3),
        "initial_loss": r.initial_loss,
        "final_loss": r.final_loss,
        "terms": r.terms,
        "stop_reason": r.stop_reason,
    }
