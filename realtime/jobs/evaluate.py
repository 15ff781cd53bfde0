"""`stylize-video evaluate SOURCE STYLIZED`: the warping error of a stylized video against
the optical flow of its source (DIS flow, occlusion and motion-boundary mask of
docs/design.md section 4), with a per-frame curve as a PNG and a JSON summary.

With ``--reference REF`` (a per-frame stylization of SOURCE at STYLIZED's size) or
``--style SPEC`` (SOURCE is stylized here frame by frame with the fast stylizer) it also
reports fidelity: per frame the 99th percentile of the 16x16 patch errors against that
reference, then their mean and 99th percentile over the frames (realtime.metrics.Fidelity).
Warping error alone rewards smear; fidelity catches pasted blocks, dissolved detail and
drag."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.errors import UserError
from models.progress import progress_bar
from realtime.metrics import Fidelity, WarpingError


def _open(path: str, size: int | None = None, start: float | None = None, end: float | None = None):
    # The project's ffmpeg-based reader: every frame, any pixel format, autorotated.
    from realtime.sources.video_file import VideoFileSource
    from realtime.validate import refuse_stdin

    refuse_stdin(path)
    return VideoFileSource(path, size=size, start=start, end=end)


def _trimmed(path: str, start: float | None, end: float | None) -> str:
    if start is None and end is None:
        return path
    return f"{path} from {start or 0:g} s" + (f" to {end:g} s" if end is not None else "")


def _length_warning(stylized: str, sty_frames: int, source: str, src_frames: int) -> str:
    """The loud line for two clips of different lengths: frame t of one is then not frame
    t of the other (a trimmed output compared with its source's start measures nothing)."""
    return (
        f"{stylized} has {sty_frames} frames but {source} has {src_frames}: they are "
        f"compared frame by frame from their first frames, which is only right when "
        f"{Path(stylized).name} starts where the source does; if it was made with "
        "--start/--end, give evaluate the same --start/--end"
    )


def _differ(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and abs(a - b) > max(1, 0.02 * max(a, b))


def _images(source) -> Iterator[np.ndarray]:
    for frame in source:
        yield frame.image


def _check_plot_path(plot: str) -> None:
    p = Path(plot)
    if p.suffix.lower() != ".png":
        raise UserError(f"--plot {plot}: the curve is written as PNG; give a name ending in .png")
    if not p.parent.resolve().is_dir():
        raise UserError(f"--plot {plot}: folder {p.parent} does not exist; create it first")


def write_plot(
    path: str,
    errors: list[float],
    mean: float,
    title: str,
    reliable: list[float] | None = None,
    fidelity: Fidelity | None = None,
) -> None:
    """Per-pair warping error curve as a PNG (and below it the per-frame fidelity when
    given), written to a temp file and renamed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6 if fidelity is None else 6.4), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot() if fidelity is None else fig.add_subplot(2, 1, 1)
    x = np.arange(1, len(errors) + 1)
    ax.plot(x, errors, lw=1.2, color="tab:blue", label="warping error (pair t-1, t)")
    ax.axhline(mean, color="tab:red", ls="--", lw=1, label=f"mean {mean:.5f}")
    for t in x[~np.isfinite(np.asarray(errors, dtype=np.float64))]:
        ax.axvline(t, color="0.75", ls=":", lw=1)  # scene cut, left out of the mean
    ax.set_xlabel("frame t")
    ax.set_ylabel("E_warp (RGB in [0, 1])")
    ax.set_xlim(0, max(len(errors), 1) + 1)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if reliable is not None:
        ax2 = ax.twinx()
        ax2.plot(x, reliable, lw=0.8, color="0.6", label="reliable pixels")
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("reliable fraction", color="0.45")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=9)
    if fidelity is not None:
        values = fidelity.per_frame.get("", [])
        fx = fig.add_subplot(2, 1, 2, sharex=ax)
        fx.plot(
            np.arange(len(values)),
            values,
            lw=1.2,
            color="tab:green",
            label="fidelity: 99th percentile of 16x16 patch errors",
        )
        fx.axhline(
            fidelity.mean(), color="tab:red", ls="--", lw=1, label=f"mean {fidelity.mean():.4f}"
        )
        fx.axhline(
            fidelity.p99(),
            color="tab:purple",
            ls=":",
            lw=1,
            label=f"p99 over frames {fidelity.p99():.4f}",
        )
        fx.set_xlabel("frame t")
        fx.set_ylabel("patch error (RGB in [0, 1])")
        fx.set_ylim(bottom=0)
        fx.grid(alpha=0.3)
        fx.legend(loc="upper left", fontsize=8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".evaluate-", suffix=".png", dir=folder)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _per_frame_stylizer(style: str, strength: float):
    # TensorFlow is imported only here: plain warping error and --reference never need it.
    from models.stylizer import load_stylizer

    return load_stylizer([style], strength=strength, fixed_shape=True)


def evaluate(
    source: str,
    stylized: str,
    plot: str | None = None,
    as_json: bool = False,
    flow: str = "medium",
    reference: str | None = None,
    style: str | None = None,
    strength: float = 1.0,
    start: float | None = None,
    end: float | None = None,
) -> int:
    """Print the warping error of ``stylized`` (a video) against ``source`` (the video it
    was made from); write the per-frame curve to ``plot`` (PNG) when given. The source is
    scaled to the stylized video's size for the flow.

    Fidelity is added against ``reference`` (a per-frame stylized video of the same source
    at the same size) or, with ``style`` (a style spec) and ``strength``, against each
    source frame stylized here at the stylized video's size. `start`/`end` (seconds) trim
    the source as `video --start/--end` did when it made ``stylized``; clips of different
    lengths are compared from their first frames with a warning on stderr and in the
    report. Returns the exit code."""
    if plot:
        _check_plot_path(plot)
    if reference and style:
        raise UserError("--reference and --style both give the fidelity reference; give one")
    if strength != 1.0 and not style:
        raise UserError(f"--strength {strength}: only used with --style; add --style SPEC")
    m = _measure(source, stylized, flow, reference, style, strength, start, end, as_json)
    if m.frames < 2:
        raise UserError(f"{stylized}: needs at least 2 frames to measure flicker, found {m.frames}")
    if m.sty_left or m.src_left:
        longer = stylized if m.sty_left else m.source_label
        m.note = f"{longer} has more frames; only the first {m.frames} of each were compared"
        sty_n = m.sty_count if m.sty_left else m.frames
        src_n = m.src_count if m.src_left else m.frames
        m.warning = _length_warning(
            stylized, sty_n or m.frames + 1, m.source_label, src_n or m.frames + 1
        )
        if not m.warned:  # the headers agreed: say it now, as loudly
            print(f"stylize-video: warning: {m.warning}", file=sys.stderr)
    if plot:
        title = (
            f"{Path(stylized).name} vs flow of {Path(source).name} ({m.w}x{m.h}, {_label(flow)})"
        )
        meter = m.meter
        errors = meter.per_pair.get("", [])
        write_plot(plot, errors, meter.mean(), title, meter.reliable_fraction, m.fidelity)
    if as_json:
        label = reference or f"--style {style} --strength {strength:g}"
        print(json.dumps(_json_summary(m, source, stylized, flow, start, end, plot, label)))
        return 0
    against = reference or f"{source} stylized frame by frame ({style}, strength {strength:g})"
    _print_report(m, flow, plot, against)
    return 0


@dataclass
class _Measured:
    """What one pass over the clips found."""

    meter: WarpingError
    fidelity: Fidelity | None
    w: int
    h: int
    source_label: str
    frames: int = 0
    sty_count: int | None = None
    src_count: int | None = None
    warned: bool = False  # the headers' frame counts differed: said before the pass
    sty_left: bool = False  # the stylized clip had frames left after the source ended
    src_left: bool = False
    ref_note: str | None = None
    note: str | None = None
    warning: str | None = None


def _measure(source, stylized, flow, reference, style, strength, start, end, quiet) -> _Measured:
    """Read the clips side by side (the source at the stylized clip's size) into the
    warping-error meter and, with `reference` or `style`, the fidelity meter."""
    with _open(stylized) as sty_src:
        w, h = sty_src.width, sty_src.height
        with _open(source, size=max(w, h), start=start, end=end) as src_src:
            m = _Measured(WarpingError(flow), None, w, h, _trimmed(source, start, end))
            m.sty_count, m.src_count = sty_src.frame_count, src_src.frame_count
            m.warned = _differ(m.sty_count, m.src_count)
            if m.warned:
                early = _length_warning(stylized, m.sty_count, m.source_label, m.src_count)
                print(f"stylize-video: warning: {early}", file=sys.stderr)
            if abs(src_src.width / src_src.height - w / h) > 0.02 * (w / h):
                raise UserError(
                    f"{stylized}: its frames are {w}x{h} but {source} has another aspect "
                    f"ratio ({src_src.width}x{src_src.height}); give the stylized version "
                    "of this source"
                )
            ref_src = _open(reference) if reference else None
            try:
                if ref_src is not None and (ref_src.width, ref_src.height) != (w, h):
                    raise UserError(
                        f"--reference {reference}: its frames are {ref_src.width}x"
                        f"{ref_src.height} but {stylized} is {w}x{h}; give a per-frame "
                        "stylization at the same size"
                    )
                if reference or style:
                    m.fidelity = Fidelity()
                stylize = _per_frame_stylizer(style, strength) if style else None
                _pass(m, sty_src, src_src, ref_src, reference, stylize, quiet)
            finally:
                if ref_src is not None:
                    ref_src.close()
    return m


def _pass(m: _Measured, sty_src, src_src, ref_src, reference, stylize, quiet: bool) -> None:
    sty_it, src_it = _images(sty_src), _images(src_src)
    ref_it = _images(ref_src) if ref_src is not None else None
    progress = progress_bar(sty_src.frame_count, "frame", "evaluate", quiet=quiet, leave=False)
    for out in sty_it:
        img = next(src_it, None)
        if img is None:
            m.sty_left = True
            break
        if ref_it is not None:
            ref = next(ref_it, None)
            if ref is None:
                m.ref_note = f"{reference} ends first; fidelity covers {m.frames} frames"
                ref_it = None
            else:
                m.fidelity.add(out, ref)
        elif stylize is not None:
            m.fidelity.add(out, stylize(_fit(img, m.w, m.h)))
        m.meter.add(img, out)
        m.frames += 1
        if progress is not None:
            progress.update(1)
    else:
        m.src_left = next(src_it, None) is not None
    if progress is not None:
        progress.close()


def _json_summary(m: _Measured, source, stylized, flow, start, end, plot, label) -> dict:
    meter, fidelity = m.meter, m.fidelity
    errors = meter.per_pair.get("", [])
    finite = [e for e in errors if math.isfinite(e)]
    summary = {
        "source": source,
        "stylized": stylized,
        "size": [m.w, m.h],
        "flow": flow,
        "frames": m.frames,
        "pairs": len(errors),
        "warping_error": _num(meter.mean()),
        "median": _num(float(np.median(finite))) if finite else None,
        "max": _num(max(finite)) if finite else None,
        "per_pair": [_num(e) for e in errors],
        "start": start,
        "end": end,
        "scene_cuts": meter.cuts,
        "unreliable_pairs": meter.unreliable,
        "reliable_fraction": [round(r, 4) for r in meter.reliable_fraction],
        "plot": plot,
        "note": m.note,
        "warning": m.warning,
    }
    if fidelity is not None:
        summary["fidelity"] = {
            "reference": label,
            "patch": fidelity.patch,
            "percentile": fidelity.percentile,
            "frames": len(fidelity.per_frame.get("", [])),
            "mean": _num(fidelity.mean()),
            "p99": _num(fidelity.p99()),
            "per_frame": [_num(v) for v in fidelity.per_frame.get("", [])],
            "note": m.ref_note,
        }
    return summary


def _print_report(m: _Measured, flow: str, plot: str | None, against: str) -> None:
    meter, fidelity = m.meter, m.fidelity
    errors = meter.per_pair.get("", [])
    finite = [e for e in errors if math.isfinite(e)]
    print(f"warping error {meter.mean():.6f}  (mean over {len(finite)} frame pairs, RGB in [0, 1])")
    if finite:
        worst = int(np.nanargmax(np.asarray(errors, dtype=np.float64)))
        print(
            f"  median {np.median(finite):.6f}, max {max(finite):.6f} at frames "
            f"{worst}-{worst + 1}; reliable pixels {np.mean(meter.reliable_fraction):.1%} "
            f"(flow: {_label(flow)} on the source at {m.w}x{m.h})"
        )
    if meter.cuts:
        print(f"  left out as scene cuts: the pairs ending at frame {_frames(meter.cuts)}")
    if meter.unreliable:
        print(
            f"  left out, under {meter.min_reliable:.0%} of their pixels reliable: the pairs "
            f"ending at frame {_frames(meter.unreliable)}"
        )
    if m.warning:
        print(f"  WARNING: {m.warning}")
    elif m.note:
        print(f"  note: {m.note}")
    if fidelity is not None:
        print(
            f"fidelity {fidelity.mean():.4f} mean, {fidelity.p99():.4f} p99 over "
            f"{len(fidelity.per_frame.get('', []))} frames  (per frame the 99th percentile of "
            f"16x16 patch errors against {against}, RGB in [0, 1]; lower is more faithful)"
        )
        if m.ref_note:
            print(f"  note: {m.ref_note}")
    if plot:
        print(f"  curve: {plot}")


def _fit(img: np.ndarray, w: int, h: int) -> np.ndarray:
    # The source is read at the stylized video's long side; rounding may leave it a pixel
    # off the stylized size, and the reference must match it exactly.
    if img.shape[:2] == (h, w):
        return img
    import cv2

    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def _frames(indices: list[int]) -> str:
    return ", ".join(map(str, indices))


def _label(flow: str) -> str:
    return "Farneback" if flow == "farneback" else f"DIS {flow}"


def _num(x: float) -> float | None:
    return round(x, 8) if math.isfinite(x) else None
