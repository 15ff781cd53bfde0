"""The one job assembly: source -> processor chain -> sinks, run and torn down.

Every command that moves frames (video, webcam, serve, stream, the offline video path)
builds its parts and hands them to `run_job`; what differs between commands is only which
source, which processor chain, which sinks, and what they report. A new sink is a
`realtime.sinks.base.Sink` in the list; a new command is a parser, a few parts and a call.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from models.errors import UserError
from models.styles import DEFAULT_STYLE
from realtime.frame import Frame, FrameProcessor, warm_up_processor
from realtime.pipeline import Pipeline, PipelineStats, sigterm_as_interrupt
from realtime.sinks.base import Sink
from realtime.sources.base import Source

MIN_SIZE = 16  # the smallest long side any command stylizes at


@runtime_checkable
class StreamProcessor(Protocol):
    """A processor that needs frames ahead of the one it outputs (the offline VGG engine:
    a frame between two keyframes waits for the later one). It consumes the frames and
    emits its outputs in order."""

    def run(self, frames: Any, emit: Callable[[Frame], None]) -> Any: ...


def check_size(size: int | None) -> None:
    if size is not None and size < MIN_SIZE:
        raise UserError(f"--size {size}: give a long side of at least {MIN_SIZE} pixels")


def build_stylizer(styles: Sequence[str] = (DEFAULT_STYLE,), **options: Any) -> FrameProcessor:
    """The real stylizer (loads a network; only the command path calls this). `options`
    are models.stylizer.Stylizer's (strength, preserve_color, hub_handle, jit_compile,
    device, engine, threads)."""
    from models.stylizer import load_stylizer

    return load_stylizer(list(styles), **options)


def wrap_processor(
    processor: FrameProcessor, temporal: Mapping[str, Any] | None = None
) -> FrameProcessor:
    """The one place a per-frame stylizer is wrapped before it meets the frames:
    `temporal` holds realtime.temporal.make_temporal_processor's keyword arguments
    (temporal, keyframe_every, adaptive, internal_size, ...), or `changed: True` and
    realtime.regions.ChangeDrivenProcessor's; None or {} leaves it as is."""
    if not temporal:
        return processor
    if temporal.get("changed"):
        from realtime.regions import ChangeDrivenProcessor

        return ChangeDrivenProcessor(
            processor, **{k: v for k, v in temporal.items() if k != "changed"}
        )
    from realtime.temporal import make_temporal_processor

    return make_temporal_processor(processor, **temporal)


def progress_bar(total: int | None, unit: str, output: str, *, quiet: bool) -> Any:
    """One tqdm bar on stderr for a conversion (None when quiet)."""
    if quiet:
        return None
    from pathlib import Path

    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread left behind
    return tqdm(total=total, unit=unit, desc=Path(output).name, file=sys.stderr, dynamic_ncols=True)


@dataclass
class JobRun:
    """What `run_job` hands back for the command's report."""

    stats: PipelineStats
    interrupted: bool
    seconds: float
    result: Any = None  # a StreamProcessor's own result
    first_frame_s: float | None = None  # from the start (warm-up included) to the first output


def run_job(
    source: Source,
    processor: FrameProcessor | StreamProcessor,
    sinks: Sequence[Sink],
    *,
    live: bool | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    view: Callable[[Frame, np.ndarray], np.ndarray] | None = None,
    keep: Callable[[Frame], bool] | None = None,
    on_output: Callable[[Frame, np.ndarray], bool | None] | None = None,
    on_idle: Callable[[], bool | None] | None = None,
    on_start: Callable[[Pipeline], None] | None = None,
    max_frames: int | None = None,
    max_seconds: float | None = None,
) -> JobRun:
    """Run `source` through `processor` into every sink until the source ends, a limit is
    reached, `on_output`/`on_idle` return False, or Ctrl-C/SIGTERM.

    Per frame: `view(frame, out)` (default: `out`) goes to each sink, then
    `on_output(frame, out)` runs (progress, keys, status); a frame for which `keep(frame)`
    is False is processed but goes nowhere (a segment's warm-up frames). Sinks get the source's time
    base before the first frame. On the way out, every sink is closed (a finished file,
    also after an interrupt) or aborted (an error: no half output), then the source and
    the processor. An interrupt comes back as `JobRun.interrupted` after that, for the
    command to report and re-raise; errors propagate."""
    opened = False
    first_frame_s = None

    def deliver(frame: Frame, out: np.ndarray) -> bool | None:
        nonlocal opened, first_frame_s
        if keep is not None and not keep(frame):
            return None
        if not opened:
            first_frame_s = round(time.monotonic() - t0, 3)
            for sink in sinks:
                sink.open(source.time_base)
            opened = True
        shown = view(frame, out) if view is not None else out
        for sink in sinks:
            sink.write(Frame(shown, frame.pts, frame.index))
        return on_output(frame, out) if on_output is not None else None

    t0 = time.monotonic()
    interrupted = False
    result = None
    pipeline: Pipeline | None = None
    try:
        try:
            if isinstance(processor, StreamProcessor):  # it drives its own loop
                with sigterm_as_interrupt():
                    result = processor.run(iter(source), lambda f: deliver(f, f.image))
            else:
                if live:
                    warm_up_processor(processor)  # before the source starts delivering
                pipeline = Pipeline(
                    source,
                    processor,
                    deliver,
                    live=live,
                    max_frames=max_frames,
                    max_seconds=max_seconds,
                    prepare=prepare,
                    on_idle=on_idle,
                )
                if on_start is not None:
                    on_start(pipeline)
                pipeline.run()
        except KeyboardInterrupt:
            interrupted = True
    except BaseException:
        for sink in sinks:
            quietly(sink.abort)
        raise
    finally:
        quietly(source.close)  # the pipeline closed it already; a stream run did not
    if interrupted and not source.live:  # Ctrl-C is how a live recording ends: it is complete
        for sink in sinks:
            sink.interrupted = True
    _close_all(sinks)
    stats = pipeline.final_stats if pipeline is not None else _stream_stats(sinks, t0)
    return JobRun(stats, interrupted, time.monotonic() - t0, result, first_frame_s)


def _close_all(sinks: Sequence[Sink]) -> None:
    """Close every sink even if one fails; the first failure is raised after."""
    error: BaseException | None = None
    for sink in sinks:
        try:
            sink.close()
        except BaseException as e:
            error = error or e
    if error is not None:
        raise error


def quietly(fn: Callable[[], Any]) -> None:
    """Teardown that must not hide the error being reported: a failure here is logged."""
    try:
        fn()
    except Exception:
        logging.getLogger(__name__).warning("error during shutdown", exc_info=True)


def _stream_stats(sinks: Sequence[Sink], t0: float) -> PipelineStats:
    elapsed = max(1e-9, time.monotonic() - t0)
    frames = sinks[0].frames if sinks else 0
    return PipelineStats(frames_out=frames, elapsed_s=elapsed, output_fps=frames / elapsed)
