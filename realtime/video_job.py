"""`stylize-video video`: convert a video file (or frame folder/pattern) to a stylized one.

Decode (ffmpeg), stylize and encode (ffmpeg) overlap; no frame is dropped; the source's
audio is carried over in sync; an interrupt leaves a playable file of what was done.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from realtime.errors import UserError
from realtime.frame import Frame, FrameProcessor
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
) -> int:
    """Stylize `input` (video file/URL, image folder or pattern) into `output` (.mp4,
    .mov, .m4v, .mkv, a folder or a pattern). `processor` replaces the stylizer (tests).
    Returns 0; raises UserError for bad input and KeyboardInterrupt after finalizing an
    interrupted output."""
    from realtime.sources import open_file_source

    if Path(input).exists() and Path(output).exists() and same_file(input, output):
        raise UserError(f"{output}: is the input; choose another output name")
    source = open_file_source(input, start=start, end=end, size=size, fps=fps)
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
            if not getattr(sink, "frames", 0) and hasattr(sink, "time_base"):
                sink.time_base = getattr(source, "time_base", None)
            sink.write(Frame(image=out, pts=frame.pts, index=frame.index))
            if bar is not None:
                bar.update(1)

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
