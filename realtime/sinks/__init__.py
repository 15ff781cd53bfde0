"""Sinks: each a realtime.sinks.base.Sink (write/close/abort, a context manager)."""

from __future__ import annotations

from pathlib import Path

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
