"""`stylize-video serve`: the live stylized stream in a browser, with controls.

The pipeline (live mode: newest frame only) hands each output to a FrameBroadcaster,
which JPEG-encodes it once for all viewers; an aiohttp server in its own thread serves
the page, the MJPEG stream and a JSON API (see realtime.server). Browser controls go
through LiveControls and reach the stylizer at the next frame boundary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from realtime.frame import Frame, FrameProcessor, processor_summary
from realtime.jobs.assembly import JobRun, LiveCommand, run_live
from realtime.jobs.settings import LiveOptions, ServeOptions
from realtime.live_controls import ControlledProcessor, LiveControls
from realtime.pipeline import Pipeline, PipelineStats
from realtime.server import ServerConfig, StreamServer, check_bind
from realtime.sinks.base import Sink
from realtime.sinks.mjpeg import FrameBroadcaster
from realtime.sources.base import Source
from realtime.sources.playback import PlaybackSource


class ServeSession:
    """What `on_ready` receives: the server's URL and a way to stop (tests, embedding)."""

    def __init__(self, server: StreamServer) -> None:
        self.server = server
        self.stopped = False
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.server.url

    def _attach(self, pipeline: Pipeline) -> None:
        with self._lock:
            self._pipeline = pipeline
            if self.stopped:
                pipeline.stop()

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            if self._pipeline is not None:
                self._pipeline.stop()


class _Serve(LiveCommand):
    """The browser page: the broadcaster sink, the web server and its controls."""

    def __init__(self, server: ServeOptions, on_ready: Callable[[ServeSession], None] | None):
        self.options = server
        self.on_ready = on_ready
        self.controls: LiveControls | None = None
        self.broadcaster: FrameBroadcaster | None = None
        self.server: StreamServer | None = None
        self.session: ServeSession | None = None
        self.status: dict[str, Any] = {}
        self.peak = 0
        self.last_status = 0.0

    def wrap(self, stylizer: FrameProcessor, chain: FrameProcessor) -> FrameProcessor:
        self.controls = LiveControls(stylizer)
        self.process = ControlledProcessor(chain, self.controls)
        return self.process

    def sinks(self, source: Source) -> list[Sink]:
        o = self.options
        config = ServerConfig(
            host=o.host,
            port=o.port,
            token=o.token,
            max_viewers=o.max_viewers,
            max_upload_bytes=int(o.max_upload_mb * 1024 * 1024),
            stall_timeout=o.stall_timeout,
        )
        self.status["source"] = source.name
        self.broadcaster = FrameBroadcaster(o.quality)
        self.server = StreamServer(self.broadcaster, self.controls, config, status=self.status_now)
        self.server.start()
        self.session = ServeSession(self.server)
        return [self.broadcaster]  # closed at the end: viewers get their last frame

    def status_now(self) -> dict[str, Any]:
        return self.status

    def view(self, frame: Frame, out: np.ndarray) -> np.ndarray:
        return np.hstack([frame.image, out]) if self.controls.side_by_side else out

    def on_output(self, frame: Frame, out: np.ndarray, st: PipelineStats) -> None:
        now = time.monotonic()
        if now - self.last_status >= 0.5:  # the server thread reads this dict
            self.last_status = now
            self.status.update(
                fps=round(st.current_fps, 2),
                latency_ms=round(st.current_latency_ms, 1),
                stylize_ms=round(st.stage_ms.get("process", 0.0), 1),
                frames=st.frames_out,
                dropped=st.dropped,
                failed=st.failed,
                width=out.shape[1] * (2 if self.controls.side_by_side else 1),
                height=out.shape[0],
                **processor_summary(self.process.inner),
            )
        self.peak = max(self.peak, len(self.server.viewers))

    def console_line(self, stats: PipelineStats) -> str:
        return f"{super().console_line(stats)}  {len(self.server.viewers)} viewer(s)"

    def on_start(self, pipeline: Pipeline) -> None:
        self.session._attach(pipeline)
        if self.on_ready is not None:
            threading.Thread(target=self.on_ready, args=(self.session,), daemon=True).start()

    def announce(self, source: Source, sinks: Sequence[Sink]) -> str:
        token = self.options.token
        shown = self.server.url + (f"?token={token}" if token else "")
        return f"serving {source.name} at {shown}  (Ctrl-C to stop)"

    def summary(self, source: Source, run: JobRun) -> dict[str, Any]:
        return {
            "url": self.server.url,
            "frames_total": run.stats.frames_out,
            "passes": source.passes if isinstance(source, PlaybackSource) else 1,
            "peak_viewers": self.peak,
            "viewers_refused": self.server.viewers_refused,
            "viewers_cut_off": self.server.viewers_cut_off,
            "frames_encoded": self.broadcaster.encoded,
        }

    def report(self, source: Source, run: JobRun, summary: Mapping[str, Any]) -> str:
        passes = summary.get("passes", 1)
        return (
            f"{source.name}: {run.stats.frames_out} frames in {run.seconds:.1f} s"
            f"{f' ({passes} passes)' if passes > 1 else ''}; {self.broadcaster.encoded} JPEG "
            f"frames for up to {self.peak} viewer(s); capture-to-encode "
            f"{run.stats.latency_ms:.0f} ms"
        )

    def close(self) -> None:
        if self.broadcaster is not None:
            self.broadcaster.close()
        if self.server is not None:
            self.server.stop()


def run_serve(
    live: LiveOptions | None = None,
    *,
    server: ServeOptions | None = None,
    as_json: bool = False,
    processor: FrameProcessor | None = None,
    on_ready: Callable[[ServeSession], None] | None = None,
) -> int:
    """Serve until Ctrl-C, SIGTERM, the source ends or a limit; a file source starts over
    when it ends when its `loop` is set. `processor` replaces the stylizer (tests); a
    ControllableStylizer gets the style, strength and colour controls, anything else
    only side-by-side."""
    server = server or ServeOptions()
    check_bind(server.host, server.token)  # before any slow work
    command = _Serve(server, on_ready)
    return run_live(command, live or LiveOptions(), processor=processor, as_json=as_json)
