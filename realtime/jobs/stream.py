"""`stylize-video stream`: push the live stylized stream to RTMP, SRT, UDP or HLS (and/or
a virtual camera).

Live mode: the stylizer always gets the newest frame; the push sink never blocks the
pipeline, and when the receiver goes away it says so and retries with backoff while the
capture keeps running (see realtime.sinks.ffmpeg_push).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from models.errors import UserError
from realtime.frame import FrameProcessor
from realtime.jobs.assembly import JobRun, LiveCommand, run_live
from realtime.jobs.settings import LiveOptions, PushOptions
from realtime.pipeline import PipelineStats
from realtime.sinks import VIRTUAL_CAM
from realtime.sinks.base import Sink
from realtime.sinks.ffmpeg_push import FfmpegPushSink
from realtime.sources.base import Source


class _Stream(LiveCommand):
    def __init__(self, virtual_cam: bool) -> None:
        self.virtual_cam = virtual_cam
        self.push: FfmpegPushSink | None = None

    def announce(self, source: Source, sinks: Sequence[Sink]) -> str:
        self.push = next((s for s in sinks if isinstance(s, FfmpegPushSink)), None)
        where = [self.push.target.display] if self.push is not None else []
        where += ["a virtual camera"] if self.virtual_cam else []
        return f"streaming {source.name} to {' and '.join(where)}  (Ctrl-C to stop)"

    def console_line(self, stats: PipelineStats) -> str:
        line = f"{stats.frames_out} frames  {stats.current_fps:.1f} fps"
        if self.push is not None:
            line += f"  pushed {self.push.frames}  {self.push.state}"
        return line

    def summary(self, source: Source, run: JobRun) -> dict[str, Any]:
        push = self.push
        if push is None:
            return {}
        return {
            "to": push.target.display,
            "pushed": push.frames,
            "push_dropped": push.dropped,
            "reconnects": max(0, push.starts - 1),
            "push_failures": push.failures,
            "last_error": push.last_error or None,
            "audio": push.audio is not None,
        }

    def report(self, source: Source, run: JobRun, summary: Mapping[str, Any]) -> str:
        msg = super().report(source, run, summary)
        push = self.push
        if push is not None:
            msg += (
                f"; {push.frames} pushed to {push.target.display}"
                f"{' with audio' if push.audio is not None else ''}, {push.dropped} "
                f"dropped, {summary['reconnects']} reconnect(s)"
            )
        return msg


def run_stream(
    live: LiveOptions | None = None,
    *,
    to: str | None = None,
    virtual_cam: bool = False,
    push: PushOptions | None = None,
    as_json: bool = False,
    processor: FrameProcessor | None = None,
    retry_delay: float = 1.0,
) -> int:
    """Push until Ctrl-C, SIGTERM, the source ends or a limit. `to`: rtmp://, srt://,
    udp:// URL or an HLS playlist path (.m3u8). `processor` replaces the stylizer
    (tests)."""
    if to is None and not virtual_cam:
        raise UserError("nowhere to send the stream: give --to URL_OR_PATH or --virtual-cam")
    live = live or LiveOptions()
    outputs = live.outputs + ((to,) if to else ()) + ((VIRTUAL_CAM,) if virtual_cam else ())
    return run_live(
        _Stream(virtual_cam),
        replace(live, outputs=outputs),
        push=push,
        processor=processor,
        as_json=as_json,
        retry_delay=retry_delay,
    )
