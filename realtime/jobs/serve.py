"""`stylize-video serve`: the live stylized stream in a browser, with controls.

The pipeline (live mode: newest frame only) hands each output to a FrameBroadcaster,
which JPEG-encodes it once for all viewers; an aiohttp server in its own thread serves
the page, the MJPEG stream and a JSON API (see realtime.server). Browser controls go
through LiveControls and reach the stylizer at the next frame boundary.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from models.errors import UserError
from models.images import fit_long_side
from realtime.frame import Frame, FrameProcessor, processor_summary
from realtime.jobs.assembly import build_stylizer, check_size, quietly, run_job, wrap_processor
from realtime.live_controls import ControlledProcessor, LiveControls, warm_up
from realtime.pipeline import Pipeline
from realtime.server import ServerConfig, StreamServer, check_bind
from realtime.sinks.mjpeg import FrameBroadcaster


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


def run_serve(
    *,
    source: str | None = "0",
    style: Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    max_viewers: int = 16,
    max_upload_mb: float = 10.0,
    quality: int = 80,
    stall_timeout: float = 20.0,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    size: int | None = None,
    max_seconds: float | None = None,
    max_frames: int | None = None,
    loop: bool = True,
    temporal: Mapping[str, Any] | None = None,
    as_json: bool = False,
    processor: FrameProcessor | None = None,
    on_ready: Callable[[ServeSession], None] | None = None,
) -> int:
    """Serve until Ctrl-C, SIGTERM, the source ends or `max_seconds`/`max_frames`.
    `source`: camera index or device, video file, stream URL or 'testpattern'; a file
    starts over when it ends unless `loop` is False.
    `processor` replaces the stylizer (tests); a ControllableStylizer gets the style,
    strength and colour controls, anything else only side-by-side."""
    from realtime.sources import open_live_source
    from realtime.sources.playback import PlaybackSource

    check_bind(host, token)  # before any slow work
    if max_viewers < 1:
        raise UserError(f"--max-viewers {max_viewers}: give 1 or more")
    if not 1 <= quality <= 100:
        raise UserError(f"--quality {quality}: give a JPEG quality from 1 to 100")
    if max_upload_mb <= 0:
        raise UserError(f"--max-upload-mb {max_upload_mb}: give a positive size")
    check_size(size)
    processor = processor or build_stylizer(**(style or {}))
    controls = LiveControls(processor)
    process = ControlledProcessor(wrap_processor(processor, temporal), controls)
    # a file played as a live source ends; the page should not, so it starts over
    src = open_live_source(source, width=width, height=height, fps=fps, loop=loop)
    config = ServerConfig(
        host=host,
        port=port,
        token=token,
        max_viewers=max_viewers,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        stall_timeout=stall_timeout,
    )
    status: dict[str, Any] = {"source": src.name}
    broadcaster: FrameBroadcaster | None = None
    server: StreamServer | None = None
    try:
        warm_up(processor, src, lambda image: fit_long_side(image, size))
        broadcaster = FrameBroadcaster(quality)
        server = StreamServer(broadcaster, controls, config, status=lambda: status)
        server.start()
        session = ServeSession(server)
        peak = [0]
        last = [0.0, time.monotonic()]  # status refresh, console line
        pipelines: list[Pipeline] = []

        def view(frame: Frame, out: np.ndarray) -> np.ndarray:
            return np.hstack([frame.image, out]) if controls.side_by_side else out

        def on_output(frame: Frame, out: np.ndarray) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5:  # the server thread reads this dict, never the pipeline
                last[0] = now
                st = pipelines[0].stats
                status.update(
                    fps=round(st.current_fps, 2),
                    latency_ms=round(st.current_latency_ms, 1),
                    stylize_ms=round(st.stage_ms.get("process", 0.0), 1),
                    frames=st.frames_out,
                    dropped=st.dropped,
                    failed=st.failed,
                    width=out.shape[1] * (2 if controls.side_by_side else 1),
                    height=out.shape[0],
                    **processor_summary(process.inner),
                )
            peak[0] = max(peak[0], len(server.viewers))
            if not as_json and now - last[1] >= 10.0:
                last[1] = now
                print(
                    f"{status.get('frames', 0)} frames  {status.get('fps', 0):.1f} fps  "
                    f"latency {status.get('latency_ms', 0):.0f} ms  "
                    f"{len(server.viewers)} viewer(s)",
                    file=sys.stderr,
                )

        def on_start(pipeline: Pipeline) -> None:
            pipelines.append(pipeline)
            session._attach(pipeline)
            if on_ready is not None:
                threading.Thread(target=on_ready, args=(session,), daemon=True).start()

        shown = server.url + (f"?token={token}" if token else "")
        if not as_json:
            print(f"serving {src.name} at {shown}  (Ctrl-C to stop)", file=sys.stderr, flush=True)
        run = run_job(
            src,
            process,
            [broadcaster],  # closed at the end: viewers get their last frame, the stream ends
            live=True,
            view=view,
            on_output=on_output,
            on_start=on_start,
            max_frames=max_frames,
            max_seconds=max_seconds,
        )
        stats = run.stats
        passes = src.passes if isinstance(src, PlaybackSource) else 1
        summary = stats.as_dict()
        summary.update(
            source=src.name,
            url=server.url,
            interrupted=run.interrupted,
            frames_total=stats.frames_out,
            passes=passes,
            peak_viewers=peak[0],
            viewers_refused=server.viewers_refused,
            viewers_cut_off=server.viewers_cut_off,
            frames_encoded=broadcaster.encoded,
        )
        if as_json:
            print(json.dumps(summary))
        else:
            print(
                f"{src.name}: {stats.frames_out} frames in {run.seconds:.1f} s"
                f"{f' ({passes} passes)' if passes > 1 else ''}; {broadcaster.encoded} JPEG "
                f"frames for up to {peak[0]} viewer(s); capture-to-encode "
                f"{stats.latency_ms:.0f} ms",
                file=sys.stderr,
            )
        if run.interrupted:
            raise KeyboardInterrupt
        return 0
    finally:
        if broadcaster is not None:
            broadcaster.close()
        if server is not None:
            server.stop()
        quietly(src.close)
