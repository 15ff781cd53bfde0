"""The one job assembly: source -> processor chain -> sinks, run and torn down.

Every command that moves frames (video, webcam, serve, stream, the offline video path)
builds its parts and hands them to `run_job`; what differs between commands is only which
source, which processor chain, which sinks, and what they report. A new sink is a
`realtime.sinks.base.Sink` in the list; a new command is a parser, a few parts and a call.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from models.errors import UserError
from models.images import fit_long_side
from models.progress import progress_bar as models_progress_bar
from realtime.frame import Frame, FrameProcessor, processor_summary
from realtime.jobs.settings import (
    ChangeOptions,
    Limits,
    LiveOptions,
    PushOptions,
    StyleOptions,
    Temporal,
)
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


def build_stylizer(style: StyleOptions | None = None, **extra: Any) -> FrameProcessor:
    """The real stylizer (loads a network; only the command path calls this). `extra`:
    more of models.stylizer.load_stylizer's keyword arguments (fixed_shape, threads)."""
    from models.stylizer import load_stylizer

    style = style or StyleOptions()
    return load_stylizer(list(style.styles), **style.stylizer_options(), **extra)


def wrap_processor(processor: FrameProcessor, temporal: Temporal = None) -> FrameProcessor:
    """The one place a per-frame stylizer is wrapped before it meets the frames: the
    temporal filter (realtime.temporal) or the change-driven one (realtime.regions); None
    leaves it as is."""
    if temporal is None:
        return processor
    if isinstance(temporal, ChangeOptions):
        from realtime.regions import ChangeDrivenProcessor

        return ChangeDrivenProcessor(processor, **temporal.processor_options())
    from realtime.temporal import make_temporal_processor

    return make_temporal_processor(processor, **temporal.processor_options())


def progress_bar(total: int | None, unit: str, output: str, *, quiet: bool) -> Any:
    """One tqdm bar on stderr for a conversion, named after its output (None when quiet)."""
    return models_progress_bar(total, unit, Path(output).name, quiet=quiet)


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
    started: float | None = None,
) -> JobRun:
    """Run `source` through `processor` into every sink until the source ends, a limit is
    reached, `on_output`/`on_idle` return False, or Ctrl-C/SIGTERM.

    Per frame: `view(frame, out)` (default: `out`) goes to each sink, then
    `on_output(frame, out)` runs (progress, keys, status); a frame for which `keep(frame)`
    is False is processed but goes nowhere (a segment's warm-up frames). Sinks get the source's time
    base before the first frame. On the way out, every sink is closed (a finished file,
    also after an interrupt) or aborted (an error: no half output), then the source and
    the processor. An interrupt comes back as `JobRun.interrupted` after that, for the
    command to report and re-raise; errors propagate. `started`: the time.monotonic()
    the start-up began (a live job's warm-up), for `JobRun.first_frame_s`."""
    opened = False
    first_frame_s = None

    def deliver(frame: Frame, out: np.ndarray) -> bool | None:
        nonlocal opened, first_frame_s
        if keep is not None and not keep(frame):
            return None
        if not opened:
            first_frame_s = round(time.monotonic() - (started or t0), 3)
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
    # Ctrl-C is how a live recording ends: it is complete
    _close_all(sinks, interrupted=interrupted and not source.live)
    stats = pipeline.final_stats if pipeline is not None else _stream_stats(sinks, t0)
    return JobRun(stats, interrupted, time.monotonic() - t0, result, first_frame_s)


def _close_all(sinks: Sequence[Sink], *, interrupted: bool = False) -> None:
    """Close every sink even if one fails; the first failure is raised after. An
    `interrupted` file sink never replaces an output that was there before the run."""
    error: BaseException | None = None
    for sink in sinks:
        sink.interrupted = sink.interrupted or interrupted
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


class LiveCommand:
    """What one live command (webcam, serve, stream) adds to `run_live`: its sinks, its
    controls and its report. Every hook has a default that does nothing."""

    console_every = 10.0  # seconds between the console's progress lines

    def wrap(self, stylizer: FrameProcessor, chain: FrameProcessor) -> FrameProcessor:
        """The processor the pipeline runs, around the stylizer's chain (controls)."""
        return chain

    def sinks(self, source: Source) -> list[Sink]:
        """The command's own sinks, made once the source is open and warmed up."""
        return []

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Each captured frame, already at the working size (mirror it, ...)."""
        return image

    def view(self, frame: Frame, out: np.ndarray) -> np.ndarray:
        """What the sinks get for a frame and its output."""
        return out

    def on_output(self, frame: Frame, out: np.ndarray, stats: PipelineStats) -> bool | None:
        """After the sinks got a frame; False stops the run."""
        return None

    def on_idle(self) -> bool | None:
        """While no frame is ready (a window's keys); False stops the run."""
        return None

    def on_start(self, pipeline: Pipeline) -> None:
        """The pipeline is about to run (to stop it from elsewhere)."""

    def console_line(self, stats: PipelineStats) -> str:
        """The progress line printed every `console_every` seconds (not with --json; an
        empty one is not printed)."""
        return (
            f"{stats.frames_out} frames  {stats.current_fps:.1f} fps  latency "
            f"{stats.current_latency_ms:.0f} ms  dropped {stats.dropped}"
        )

    def announce(self, source: Source, sinks: Sequence[Sink]) -> str | None:
        """The line printed before the run, if any."""
        return None

    def summary(self, source: Source, run: JobRun) -> dict[str, Any]:
        """The command's own figures for the report."""
        return {}

    def report(self, source: Source, run: JobRun, summary: Mapping[str, Any]) -> str:
        """The report's lines for a person (JSON prints `summary` instead)."""
        stats = run.stats
        return f"{source.name}: {stats.frames_out} frames in {stats.elapsed_s:.1f} s"

    def close(self) -> None:
        """Release what the command opened itself (a server, a recording)."""


def run_live(
    command: LiveCommand,
    live: LiveOptions,
    *,
    as_json: bool = False,
    processor: FrameProcessor | None = None,
    push: PushOptions | None = None,
    retry_delay: float = 1.0,
) -> int:
    """Run a live command: check the outputs, build the stylizer (`processor` replaces
    it: tests), open the source, warm up, run until Ctrl-C, SIGTERM, the source ends, a
    limit or a hook says stop, report (JSON with `as_json`) and tear down on every path.
    `push` tunes push outputs. Returns 0; an interrupt is re-raised after the report."""
    from realtime.live_controls import warm_up
    from realtime.sinks import check_sink, open_sink
    from realtime.sources import open_live_source

    for spec in live.outputs:
        check_sink(spec)  # before any slow work
    source, push = live.source, push or PushOptions()
    stylizer = processor or build_stylizer(live.style)
    chain = command.wrap(stylizer, wrap_processor(stylizer, live.temporal))
    src = open_live_source(
        source.spec, width=source.width, height=source.height, fps=source.fps, loop=source.loop
    )

    def prepare(image: np.ndarray) -> np.ndarray:
        return command.prepare(fit_long_side(image, source.size))

    started = time.monotonic()
    try:
        warm_up(stylizer, chain, src, prepare)  # before the source delivers frames
        sinks = command.sinks(src)
        tuning = push.sink_options() | {"first_delay": retry_delay}
        sinks += [open_sink(spec, src, fps=push.out_fps, **tuning) for spec in live.outputs]
        line = command.announce(src, sinks)
        if line and not as_json:
            print(line, file=sys.stderr, flush=True)
        run = _run_live_job(command, src, chain, sinks, prepare, live.limits, as_json, started)
        summary = run.stats.as_dict()
        summary.update(source=src.name, interrupted=run.interrupted)
        summary.update(first_frame_s=run.first_frame_s, **processor_summary(chain))
        summary.update(command.summary(src, run))
        if as_json:
            print(json.dumps(summary))
        else:
            print(command.report(src, run, summary), file=sys.stderr)
        if run.interrupted:
            raise KeyboardInterrupt
        return 0
    finally:
        quietly(command.close)
        quietly(src.close)


def _run_live_job(
    command, src, chain, sinks, prepare, limits: Limits, as_json: bool, started: float
) -> JobRun:
    pipelines: list[Pipeline] = []
    last_print = [time.monotonic()]

    def on_output(frame: Frame, out: np.ndarray) -> bool | None:
        stats = pipelines[0].stats
        now = time.monotonic()
        if not as_json and now - last_print[0] >= command.console_every:
            last_print[0] = now
            line = command.console_line(stats)
            if line:
                print(line, file=sys.stderr)
        return command.on_output(frame, out, stats)

    def on_start(pipeline: Pipeline) -> None:
        pipelines.append(pipeline)
        command.on_start(pipeline)

    return run_job(  # closing the sinks finishes a recording, ends an HLS playlist
        src,
        chain,
        sinks,
        live=True,
        prepare=prepare,
        view=command.view,
        on_output=on_output,
        on_idle=command.on_idle,
        on_start=on_start,
        max_frames=limits.max_frames,
        max_seconds=limits.max_seconds,
        started=started,
    )
