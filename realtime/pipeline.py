"""Capture → process → output, concurrently, with bounded hand-offs.

Three stages: a capture thread pulls Frames from the source, a process thread calls the
FrameProcessor (TensorFlow releases the GIL, so this overlaps with the others), and the
calling thread runs the output (OpenCV windows must live on the main thread).

- Live mode (cameras, streams): each hand-off holds one item and a newer frame replaces
  an older one (counted as dropped), so the processor always gets the freshest frame
  and capture-to-display latency stays about one processing time.
- File mode: hand-offs are bounded queues whose producers wait; no frame is ever dropped.

A frame whose processing raises follows `on_error`: "abort" (default for files) stops
and re-raises, "skip" (default live) counts it and goes on, "passthrough" counts it and
outputs the unprocessed frame so a file keeps its length and audio sync.

The pipeline never imports TensorFlow; it stops on the output's request (return False),
on Ctrl-C and on SIGTERM (noted by a handler while it runs, acted on between frames, then
raised as KeyboardInterrupt), and joins its threads and closes the source before
returning or raising.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np

from realtime.frame import (
    Frame,
    FrameProcessor,
    close_processor,
    frames_in_flight,
    processor_stages,
)
from realtime.sources.base import Source


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the job like Ctrl-C: the output keeps what was done."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:  # None: a handler set outside Python (Ray's); it is not needed after the job
        signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)


OnError = Literal["abort", "skip", "passthrough"]
Output = Callable[[Frame, np.ndarray], "bool | None"]


END = object()  # what a Channel yields after the last item


class Channel:
    """A bounded hand-off between two threads. `drop_oldest` makes `put` replace the
    oldest item instead of waiting (live mode)."""

    def __init__(self, maxsize: int, drop_oldest: bool) -> None:
        self.maxsize = max(1, maxsize)
        self.drop_oldest = drop_oldest
        self.dropped = 0
        self._items: deque = deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: Any) -> bool:
        """False if the channel was closed (the consumer is gone)."""
        with self._cond:
            while len(self._items) >= self.maxsize and not self._closed:
                if self.drop_oldest:
                    self._items.popleft()
                    self.dropped += 1
                    break
                self._cond.wait(0.1)
            if self._closed:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float = 0.1) -> tuple[bool, Any]:
        """(True, item), or (False, None) when closed and empty or on timeout."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return True, item
            return False, None

    def end(self) -> None:
        """Mark the end of the stream. In drop-oldest mode the marker goes in past the
        limit, so no later put can drop it (nothing follows it anyway); otherwise it waits
        for room like any item."""
        if not self.drop_oldest:
            self.put(END)
            return
        with self._cond:
            self._items.append(END)
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass
class PipelineStats:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    input_fps: float = 0.0
    output_fps: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0  # capture to output done, mean
    latency_p95_ms: float = 0.0
    current_fps: float = 0.0  # over the last second or so (for the HUD)
    current_latency_ms: float = 0.0
    current_process_ms: float = 0.0  # mean of the last 30 frames (the HUD's figure)
    interrupted: bool = False
    stopped_by_user: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


class _Meter:
    """Running mean plus a bounded window (memory does not grow with clip length)."""

    def __init__(self, window: int = 600) -> None:
        self.n = 0
        self.total = 0.0
        self.recent: deque[float] = deque(maxlen=window)

    def add(self, v: float) -> None:
        self.n += 1
        self.total += v
        self.recent.append(v)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def recent_mean(self, n: int) -> float:
        last = list(self.recent)[-n:]
        return sum(last) / len(last) if last else 0.0

    def p95(self) -> float:
        return float(np.percentile(list(self.recent), 95)) if self.recent else 0.0


def _second_stage(second: Callable, image: np.ndarray, first: Future) -> Any:
    return second(image, first.result())


class Pipeline:
    def __init__(
        self,
        source: Source,
        process: FrameProcessor,
        output: Output,
        *,
        live: bool | None = None,
        queue_size: int = 2,
        on_error: OnError | None = None,
        max_frames: int | None = None,
        max_seconds: float | None = None,
        prepare: Callable[[np.ndarray], np.ndarray] | None = None,
        on_idle: Callable[[], bool | None] | None = None,
    ) -> None:
        self.source = source
        self.process = process
        self.output = output
        self.live = source.live if live is None else live
        self.on_error: OnError = on_error or ("skip" if self.live else "abort")
        self.max_frames = max_frames
        self.max_seconds = max_seconds
        self.prepare = prepare  # runs on the capture thread (resize, mirror)
        self.on_idle = on_idle  # runs on the calling thread while no frame is ready
        # Frames in flight at once in file mode, as many as the processor allows (the plain
        # stylizer keeps no state between frames: on 2 cores two TensorFlow calls side by
        # side beat one call's own threads). Output order holds.
        self.workers = 1 if self.live else frames_in_flight(process)
        # A staged processor overlaps its first stage only; the second runs here, in order.
        self._stages = processor_stages(process) if self.workers > 1 else None
        depth = 1 if self.live else queue_size
        self._in = Channel(depth, drop_oldest=self.live)
        self._out = Channel(depth, drop_oldest=self.live)
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._frames_in = 0
        self._failed = 0
        self._frames_out = 0
        self._m = {k: _Meter() for k in ("capture", "process", "output")}
        self._lat = _Meter()
        self._out_times: deque[float] = deque(maxlen=240)
        self._t0 = 0.0
        self._shape: tuple[int, ...] | None = None

    # -- worker threads -------------------------------------------------------------
    def _capture_time(self, frame: Frame) -> float:
        clock = self.source.pts_clock
        return clock + frame.pts if clock is not None else time.monotonic()

    def _capture(self) -> None:
        try:
            it = iter(self.source)
            while not self._stop.is_set():
                t = time.monotonic()
                frame = next(it, None)
                if frame is None:
                    break
                if self.prepare is not None:
                    frame = Frame(self.prepare(frame.image), frame.pts, frame.index)
                self._m["capture"].add((time.monotonic() - t) * 1e3)
                self._frames_in += 1
                if not self._in.put((frame, self._capture_time(frame))):
                    return
                if self.max_frames is not None and self._frames_in >= self.max_frames:
                    break
        except BaseException as e:
            self._errors.append(e)
        finally:
            self._in.end()

    def _check(self, frame: Frame, out: np.ndarray) -> None:
        if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 3:
            raise TypeError(f"processor returned {type(out).__name__}, expected RGB uint8")
        if out.shape != frame.image.shape:
            raise ValueError(f"processor changed the frame size {frame.image.shape} -> {out.shape}")

    def _process(self) -> None:
        pool = ThreadPoolExecutor(self.workers, "pipeline-worker") if self.workers > 1 else None
        pending: deque[tuple[Frame, float, float, Callable[[], Any]]] = deque()
        try:
            while not self._stop.is_set():
                ok, item = self._in.get()
                if not ok:
                    if self._in.closed:
                        break
                    continue
                if item is END:
                    break
                frame, t_cap = item
                t = time.monotonic()
                if pool is None:
                    if not self._emit(frame, t_cap, t, partial(self.process, frame.image)):
                        return
                    continue
                if self._stages is None:
                    result = pool.submit(self.process, frame.image).result
                else:
                    first, second = self._stages
                    result = partial(
                        _second_stage, second, frame.image, pool.submit(first, frame.image)
                    )
                pending.append((frame, t_cap, t, result))
                if len(pending) >= self.workers and not self._emit(*pending.popleft()):
                    return
            while pending:  # the source ended or stopped: what is in flight still counts
                if not self._emit(*pending.popleft()):
                    return
        except BaseException as e:
            self._errors.append(e)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            self._out.end()

    def _emit(self, frame: Frame, t_cap: float, t: float, result: Callable[[], Any]) -> bool:
        """Hand one processed frame on, applying the error policy; False if the output
        side is gone."""
        try:
            out = result()
            self._check(frame, out)
        except Exception:
            if self.on_error == "abort":
                raise
            self._failed += 1
            if self.on_error == "skip":
                return True
            out = frame.image
        self._m["process"].add((time.monotonic() - t) * 1e3)
        return self._out.put((frame, out, t_cap))

    # -- main -----------------------------------------------------------------------
    @property
    def stats(self) -> PipelineStats:
        elapsed = max(1e-9, (time.monotonic() - self._t0) if self._t0 else 0.0)
        times = list(self._out_times)
        cur_fps = 0.0
        recent = [t for t in times if t >= times[-1] - 2.0] if times else []
        if len(recent) >= 2:
            cur_fps = (len(recent) - 1) / max(1e-9, recent[-1] - recent[0])
        dropped = self._in.dropped + self._out.dropped + self.source.dropped
        return PipelineStats(
            frames_in=self._frames_in,
            frames_out=self._frames_out,
            dropped=dropped,
            failed=self._failed,
            elapsed_s=elapsed,
            input_fps=self._frames_in / elapsed,
            output_fps=self._frames_out / elapsed,
            stage_ms={k: m.mean for k, m in self._m.items()},
            latency_ms=self._lat.mean,
            latency_p95_ms=self._lat.p95(),
            current_fps=cur_fps,
            current_latency_ms=self._lat.recent[-1] if self._lat.recent else 0.0,
            current_process_ms=self._m["process"].recent_mean(30),
        )

    def stop(self) -> None:
        self._stop.set()

    def _deliver(self, item) -> bool | None:
        frame, out, t_cap = item
        t = time.monotonic()
        keep_going = self.output(frame, out)
        done = time.monotonic()
        self._m["output"].add((done - t) * 1e3)
        self._lat.add((done - t_cap) * 1e3)
        self._out_times.append(done)
        self._frames_out += 1
        return keep_going

    def _on_signal(self, signum, frame) -> None:
        # Only note it: the output loop stops at a frame boundary, so a signal never
        # cuts a frame in half on its way into a file. A second signal does not wait.
        if self._signalled:
            raise KeyboardInterrupt(f"signal {signum}")
        self._signalled = True
        self._stop.set()

    def _finish_processed(self) -> None:
        """After an interrupt in file mode: let the frame being stylized finish and output
        every processed frame, so the file holds all the work done."""
        self._in.close()  # capture stops; the process thread ends after its frame
        while True:
            finished = not self._threads[1].is_alive()
            ok, item = self._out.get()
            if not ok:
                if finished:  # it had exited before this empty look: nothing can follow
                    return
                continue
            if item is END:
                return
            self._deliver(item)

    def run(self) -> PipelineStats:
        """Run until the source ends, the output returns False, `max_frames`/`max_seconds`
        is reached, or an interrupt. Ctrl-C and SIGTERM (caught while this runs on the main
        thread) end with KeyboardInterrupt after cleanup, `final_stats.interrupted` set;
        in file mode every frame already stylized is output first."""
        self._t0 = time.monotonic()
        self._signalled = False
        old_handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
        self._threads = [
            threading.Thread(target=self._capture, name="pipeline-capture", daemon=True),
            threading.Thread(target=self._process, name="pipeline-process", daemon=True),
        ]
        for t in self._threads:
            t.start()
        user_stop = False
        interrupted = False
        try:
            while not self._stop.is_set():
                if self.max_seconds is not None and time.monotonic() - self._t0 > self.max_seconds:
                    break
                ok, item = self._out.get()
                if not ok:
                    if self._errors:
                        break
                    if self.on_idle is not None and self.on_idle() is False:
                        user_stop = True
                        break
                    continue
                if item is END:
                    break
                if self._deliver(item) is False:
                    user_stop = True
                    break
            if self._signalled:
                interrupted = True
                if not self.live and not self._errors:
                    self._finish_processed()
                raise KeyboardInterrupt("interrupted")
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            self._shutdown()
            for sig, old in old_handlers.items():
                signal.signal(sig, old)
            self.final_stats = self.stats
            self.final_stats.interrupted = interrupted
            self.final_stats.stopped_by_user = user_stop
        if self._errors:
            raise self._errors[0]
        return self.final_stats

    def _shutdown(self) -> None:
        self._stop.set()
        self._in.close()
        self._out.close()
        try:
            self.source.close()  # unblocks a capture thread waiting on the source
        finally:
            for t in self._threads:
                t.join()
            close_processor(self.process)
