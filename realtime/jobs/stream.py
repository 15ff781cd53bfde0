"""`stylize-video stream`: push the live stylized stream to RTMP, SRT, UDP or HLS (and/or
a virtual camera).

Live mode: the stylizer always gets the newest frame; the push sink never blocks the
pipeline, and when the receiver goes away it says so and retries with backoff while the
capture keeps running (see realtime.sinks.ffmpeg_push).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from models.errors import UserError
from models.images import fit_long_side
from realtime.frame import Frame, FrameProcessor, processor_summary
from realtime.jobs.assembly import build_stylizer, check_size, quietly, run_job, wrap_processor
from realtime.live_controls import warm_up
from realtime.pipeline import Pipeline
from realtime.sinks.base import Sink
from realtime.sources.base import Source


def _audio_of(src: Source) -> tuple[Any, Any]:
    """(AudioTrack, live pts -> file position) when the source is a video file with audio
    played in real time; (None, None) for cameras, streams and the test pattern."""
    from realtime.sources.playback import PlaybackSource
    from realtime.sources.video_file import VideoFileSource

    if not isinstance(src, PlaybackSource):
        return None, None
    inner = src.inner
    if not isinstance(inner, VideoFileSource) or not inner.has_audio:
        return None, None
    from realtime.sinks.ffmpeg_writer import AudioTrack

    return AudioTrack(inner.path, inner.audio_origin, inner.info.audio_codec), src.media_time


def run_stream(
    *,
    source: str | None = "0",
    to: str | None = None,
    virtual_cam: bool = False,
    style: Mapping[str, Any] | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    size: int | None = None,
    out_fps: float | None = None,
    bitrate_k: int = 2500,
    gop_seconds: float = 1.0,
    hls_list_size: int = 6,
    max_seconds: float | None = None,
    max_frames: int | None = None,
    temporal: Mapping[str, Any] | None = None,
    as_json: bool = False,
    processor: FrameProcessor | None = None,
    retry_delay: float = 1.0,
) -> int:
    """Push until Ctrl-C, SIGTERM, the source ends or `max_seconds`/`max_frames`.
    `to`: rtmp://, srt://, udp:// URL or an HLS playlist path (.m3u8). `processor`
    replaces the stylizer (tests)."""
    from realtime.sinks.ffmpeg_push import FfmpegPushSink, parse_target
    from realtime.sources import open_live_source

    if to is None and not virtual_cam:
        raise UserError("nowhere to send the stream: give --to URL_OR_PATH or --virtual-cam")
    target = parse_target(to) if to is not None else None  # before any slow work
    if virtual_cam:
        from realtime.sinks.virtual_cam import require_pyvirtualcam

        require_pyvirtualcam()
    if bitrate_k < 100:
        raise UserError(f"--bitrate {bitrate_k}: give kbit/s, at least 100 (e.g. 2500)")
    if not 0.1 <= gop_seconds <= 10:
        raise UserError(f"--gop {gop_seconds}: give seconds between keyframes, 0.1 to 10")
    if out_fps is not None and not 1 <= out_fps <= 120:
        raise UserError(f"--out-fps {out_fps}: give 1 to 120")
    check_size(size)
    processor = processor or build_stylizer(**(style or {}))
    src = open_live_source(source, width=width, height=height, fps=fps)
    sinks: list[Sink] = []
    push = None
    try:
        warm_up(processor, src, lambda image: fit_long_side(image, size))
        if target is not None:
            audio, audio_time = _audio_of(src)
            push = FfmpegPushSink(
                target,
                fps=out_fps or src.fps or 30.0,
                audio=audio,
                audio_time=audio_time,
                bitrate_k=bitrate_k,
                gop_seconds=gop_seconds,
                hls_list_size=hls_list_size,
                first_delay=retry_delay,
            )
            sinks.append(push)
        if virtual_cam:
            from realtime.sinks.virtual_cam import VirtualCamSink

            sinks.append(VirtualCamSink(fps=out_fps or src.fps or 30.0))
        last_print = [time.monotonic()]
        pipelines: list[Pipeline] = []

        def on_output(frame: Frame, out: np.ndarray) -> None:
            now = time.monotonic()
            if not as_json and now - last_print[0] >= 10.0:
                last_print[0] = now
                st = pipelines[0].stats
                line = f"{st.frames_out} frames  {st.current_fps:.1f} fps"
                if push is not None:
                    line += f"  pushed {push.frames}  {push.state}"
                print(line, file=sys.stderr)

        where = [target.display] if target is not None else []
        where += ["a virtual camera"] if virtual_cam else []
        if not as_json:
            print(
                f"streaming {src.name} to {' and '.join(where)}  (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
        chain = wrap_processor(processor, temporal)
        run = run_job(  # closing the sinks gives HLS its end tag and final counters
            src,
            chain,
            sinks,
            live=True,
            prepare=lambda image: fit_long_side(image, size),
            on_output=on_output,
            on_start=pipelines.append,
            max_frames=max_frames,
            max_seconds=max_seconds,
        )
        stats = run.stats
        summary = stats.as_dict()
        summary.update(source=src.name, interrupted=run.interrupted, **processor_summary(chain))
        if push is not None:
            summary.update(
                to=push.target.display,
                pushed=push.frames,
                push_dropped=push.dropped,
                reconnects=max(0, push.starts - 1),
                push_failures=push.failures,
                last_error=push.last_error or None,
                audio=push.audio is not None,
            )
        if as_json:
            print(json.dumps(summary))
        else:
            msg = f"{src.name}: {stats.frames_out} frames in {stats.elapsed_s:.1f} s"
            if push is not None:
                msg += (
                    f"; {push.frames} pushed to {push.target.display}"
                    f"{' with audio' if push.audio is not None else ''}, {push.dropped} "
                    f"dropped, {summary['reconnects']} reconnect(s)"
                )
            print(msg, file=sys.stderr)
        if run.interrupted:
            raise KeyboardInterrupt
        return 0
    finally:
        for sink in sinks:
            quietly(sink.close)
        quietly(src.close)
