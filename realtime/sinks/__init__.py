"""Sinks: each a realtime.sinks.base.Sink (write/close/abort, a context manager)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.errors import UserError
from realtime.sinks.base import Sink
from realtime.sources.base import Source


def open_file_sink(output: str, source: Source, *, crf: int = 18, overwrite: bool = False) -> Sink:
    """The sink a file conversion writes to, by `output`'s form: a video file (H.264 with
    the source's audio and timing), or a folder or pattern of images (`overwrite`: replace
    the frames an earlier run left there, else such a folder is refused)."""
    from realtime.sinks.ffmpeg_writer import MUXERS, AudioTrack, FfmpegVideoWriter
    from realtime.validate import refuse_stdout

    refuse_stdout(output)
    from realtime.sinks.image_folder import ImageFolderSink
    from realtime.sources.image_folder import IMAGE_EXTS, is_pattern
    from realtime.sources.video_file import VideoFileSource

    suffix = Path(output).suffix.lower()
    if suffix in MUXERS:
        if not isinstance(source, VideoFileSource):  # frames: the rate the user gave
            return FfmpegVideoWriter(output, fps=source.fps, crf=crf)
        audio = None
        if source.has_audio:
            audio = AudioTrack(source.path, source.audio_origin, source.info.audio_codec)
        fps = None if source.info.is_vfr else source.fps
        return FfmpegVideoWriter(output, fps=fps, audio=audio, crf=crf)
    if is_pattern(output) or not suffix:
        return ImageFolderSink(output, overwrite=overwrite)
    if suffix in IMAGE_EXTS:
        raise UserError(
            f"{output}: one image cannot hold a video; give a pattern like out/%05d{suffix} "
            "or a folder"
        )
    return FfmpegVideoWriter(output)  # raises the unsupported-type UserError


VIRTUAL_CAM = "virtualcam"
WINDOW = "window"


def check_sink(spec: str) -> None:
    """Refuse a live output that cannot work (UserError with the fix), before any slow
    work: a push URL or playlist is parsed, pyvirtualcam and a display looked for, a
    recording's folder checked."""
    from realtime.sinks.ffmpeg_push import parse_target

    if spec == VIRTUAL_CAM:
        from realtime.sinks.virtual_cam import require_pyvirtualcam

        require_pyvirtualcam()
    elif spec == WINDOW:
        from realtime.sinks.window import require_display

        require_display()
    elif _is_recording(spec):
        from realtime.sinks.ffmpeg_writer import check_video_output

        check_video_output(spec)
    else:
        parse_target(spec)  # refuses anything else with the fix


def open_sink(
    spec: str,
    source: Source,
    *,
    fps: float | None = None,
    **push: Any,
) -> Sink:
    """A live output by `spec`, for every live command alike: 'window', 'virtualcam', a
    push target (rtmp://, srt://, udp:// or an HLS playlist .m3u8, with the source file's
    audio) or a video file that records the stream with its real timing. `fps`: the
    output rate (default: the source's); `push`: FfmpegPushSink's tuning (bitrate_k,
    gop_seconds, hls_list_size, first_delay)."""
    from realtime.sinks.ffmpeg_push import FfmpegPushSink, parse_target

    rate = fps or source.fps or 30.0
    if spec == VIRTUAL_CAM:
        from realtime.sinks.virtual_cam import VirtualCamSink

        return VirtualCamSink(fps=rate)
    if spec == WINDOW:
        from realtime.sinks.window import WindowSink

        return WindowSink(f"stylize-video: {source.name}")
    if not _is_recording(spec):
        audio, audio_time = _audio_of(source)
        target = parse_target(spec)
        return FfmpegPushSink(target, fps=rate, audio=audio, audio_time=audio_time, **push)
    from realtime.sinks.ffmpeg_writer import FfmpegVideoWriter

    return FfmpegVideoWriter(spec)  # pts from the capture clock: real timing


def _is_recording(spec: str) -> bool:
    from realtime.sinks.ffmpeg_push import is_push_target
    from realtime.sinks.ffmpeg_writer import MUXERS

    return not is_push_target(spec) and Path(spec).suffix.lower() in MUXERS


def _audio_of(src: Source) -> tuple[object, object]:
    """(AudioTrack, live pts -> file position) when the source is a video file with audio
    played in real time; (None, None) for cameras, streams and the test pattern."""
    from realtime.sinks.ffmpeg_writer import AudioTrack
    from realtime.sources.playback import PlaybackSource
    from realtime.sources.video_file import VideoFileSource

    if not isinstance(src, PlaybackSource):
        return None, None
    inner = src.inner
    if not isinstance(inner, VideoFileSource) or not inner.has_audio:
        return None, None
    return AudioTrack(inner.path, inner.audio_origin, inner.info.audio_codec), src.media_time
