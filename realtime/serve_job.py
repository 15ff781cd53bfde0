"""`stylize-video serve`: the live stylized stream in a browser, with controls.

The pipeline (live mode: newest frame only) hands each output to a FrameBroadcaster,
which JPEG-encodes it once for all viewers; an aiohttp server in its own thread serves
the page, the MJPEG stream and a JSON API (see realtime.server). Browser controls go
through LiveControls and reach the stylizer at the next frame boundary.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from realtime.errors import UserError
from realtime.frame import Frame, FrameProcessor
from realtime.live_controls import ControlledProcessor, LiveControls
from realtime.pipeline import Pipeline
from realtime.server import ServerConfig, StreamServer, check_bind
from realtime.sinks.mjpeg import FrameBroadcaster
from realtime.video_job import build_processor, wrap_processor
from realtime.webcam_job import _resize_long_side


class ServeSession:
    """What `on_ready` receives: the server's URL and a way to stop (tests, embedding)."""

    def __init__(self, server: StreamServer, pipeline: Pipeline) -> None:
        self.server = server
        self.pipeline = pipeline

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.pipeline.stop()


def run_serve(
    *,
    source: str | None = "0",
    styles: Sequence[str] = ("preset:7",),
    strength: float = 1.0,
    preserve_color: bool = False,
    hub_handle: str | None = None,
    jit_compile: bool | None = None,
    device: str | None = None,
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
    temporal: Mapping[str, Any] | None = None,
    as_json: bool = False,
    processor: FrameProcessor | None = None,
    on_ready: Callable[[ServeSession], None] | None = None,
) -> int:
    """Serve until Ctrl-C, SIGTERM, the source ends or `max_seconds`/`max_frames`.
    `source`: camera index or device, video file, stream URL or 'testpattern'.
    `processor` replaces the stylizer (tests); a ControllableStylizer gets the style,
    strength and colour controls, anything else only side-by-side."""
    from realtime.sources import open_live_source

    check_bind(host, token)  # before any slow work
    if max_viewers < 1:
        raise UserError(f"--max-viewers {max_viewers}: give 1 or more")
    if not 1 <= quality <= 100:
        raise UserError(f"--quality {quality}: give a JPEG quality from 1 to 100")
    if max_upload_mb <= 0:
        raise UserError(f"--max-upload-mb {max_upload_mb}: give a positive size")
    if size is not None and size < 16:
        raise UserError(f"--size {size}: give a long side of at least 16 pixels")
    if processor is None:
        processor = build_processor(
            styles,
            strength=strength,
            preserve_color=preserve_color,
            hub_handle=hub_handle,
            jit_compile=jit_compile,
            device=device,
        )
    controls = LiveControls(processor)
    process = ControlledProcessor(wrap_processor(processor, temporal), controls)
    src = open_live_source(source, width=width, height=height, fps=fps)
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
        broadcaster = FrameBroadcaster(quality)
        server = StreamServer(broadcaster, controls, config, status=lambda: status)
        server.start()
        peak = [0]
        last = [0.0, time.monotonic()]  # status refresh, console line

        def prepare(image: np.ndarray) -> np.ndarray:
            return _resize_long_side(image, size)

        def output(frame: Frame, out: np.ndarray) -> None:
            view = np.hstack([frame.image, out]) if controls.side_by_side else out
            broadcaster.write(Frame(view, frame.pts, frame.index))
            now = time.monotonic()
            if now - last[0] >= 0.5:  # the server thread reads this dict, never the pipeline
                last[0] = now
                st = pipeline.stats
                status.update(
                    fps=round(st.current_fps, 2),
                    latency_ms=round(st.current_latency_ms, 1),
                    stylize_ms=round(st.stage_ms.get("process", 0.0), 1),
                    frames=st.frames_out,
                    dropped=st.dropped,
                    failed=st.failed,
                    width=view.shape[1],
                    height=view.shape[0],
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

        pipeline = Pipeline(
            src,
            process,
            output,
            live=True,
            max_frames=max_frames,
            max_seconds=max_seconds,
            prepare=prepare,
        )
        shown = server.url + (f"?token={token}" if token else "")
        if not as_json:
            print(f"serving {src.name} at {shown}  (Ctrl-C to stop)", file=sys.stderr, flush=True)
        if on_ready is not None:
            threading.Thread(
                target=on_ready, args=(ServeSession(server, pipeline),), daemon=True
            ).start()
        interrupted = False
        try:
            stats = pipeline.run()
        except KeyboardInterrupt:
            interrupted = True
            stats = pipeline.final_stats
        summary = stats.as_dict()
        summary.update(
            source=src.name,
            url=server.url,
            interrupted=interrupted,
            peak_viewers=peak[0],
            viewers_refused=server.viewers_refused,
            viewers_cut_off=server.viewers_cut_off,
            frames_encoded=broadcaster.encoded,
        )
        if as_json:
            print(json.dumps(summary))
        else:
            print(
                f"{src.name}: {stats.frames_out} frames in {stats.elapsed_s:.1f} s "
                f"({stats.output_fps:.1f} fps); {broadcaster.encoded} JPEG frames for up to "
                f"{peak[0]} viewer(s); capture-to-encode {stats.latency_ms:.0f} ms",
                file=sys.stderr,
            )
        if interrupted:
            raise KeyboardInterrupt
        return 0
    finally:
        if broadcaster is not None:
            broadcaster.close()  # viewers get their last frame and the stream ends
        if server is not None:
            server.stop()
        with contextlib.suppress(Exception):
            src.close()
