"""The settings a command passes whole to its job: small frozen dataclasses, built and
validated once by the command line before anything slow runs.

Each check raises models.errors.UserError with one line naming the option and the fix
(exit 2). A dataclass cannot hold a key its receiver does not know, so a typo fails at
once, not deep in a Ray worker. No TensorFlow, no OpenCV: the CLI imports this module
before any model loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from models.errors import UserError
from models.optimize import OptimizeSettings
from models.styles import DEFAULT_STYLE
from realtime import validate

# A frame folder's rate the video containers hold with exact timing: measured with the
# bundled ffmpeg, below 0.5 fps and above 240 fps the durations and rates came out wrong.
MIN_FOLDER_FPS = 0.5
MAX_FOLDER_FPS = 240.0
MAX_CRF = 51  # x264's scale


def _number(option: str, value: float, low: float, high: float, fix: str) -> None:
    """`low <= value <= high`, else one line naming the option (NaN fails too)."""
    if not (math.isfinite(value) and low <= value <= high):
        raise UserError(f"{option} {value}: {fix}")


def _at_least(option: str, value: int | None, low: int, what: str = "") -> None:
    if value is not None and value < low:
        raise UserError(f"{option} {value}: give {low} or more{what}")


@dataclass(frozen=True)
class StyleOptions:
    """What the stylizer is built with (models.stylizer.load_stylizer's arguments)."""

    styles: tuple[str, ...] = (DEFAULT_STYLE,)
    strength: float = 1.0
    preserve_color: bool = False
    hub_handle: str | None = None
    jit_compile: bool | None = None  # None: decided by the job (XLA pays on long runs)
    device: str = "auto"
    engine: str = "auto"  # models.stylizer's: auto, openvino (CPU) or tensorflow

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(self.styles))
        _number("--strength", self.strength, 0.0, 1.0, "give 0 (the content) to 1 (full style)")

    def stylizer_options(self) -> dict[str, Any]:
        """load_stylizer's keyword arguments besides the styles."""
        return {
            "strength": self.strength,
            "preserve_color": self.preserve_color,
            "hub_handle": self.hub_handle,
            "jit_compile": self.jit_compile,
            "device": self.device,
            "engine": self.engine,
        }


def _check_temporal(value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise UserError(f"--temporal {value}: give 0 (off) up to below 1, e.g. --temporal 0.7")


@dataclass(frozen=True)
class TemporalOptions:
    """Flicker reduction and keyframes (realtime.temporal.make_temporal_processor).
    `background`: stylize due keyframes on a worker thread (live sources)."""

    temporal: float = 0.0
    keyframe_every: int = 1
    adaptive: bool = False
    internal_size: int | None = None
    background: bool = False

    def __post_init__(self) -> None:
        _check_temporal(self.temporal)
        _at_least("--keyframe-every", self.keyframe_every, 1)
        if self.internal_size is not None:
            validate.long_side("--internal-size", self.internal_size)

    def processor_options(self) -> dict[str, Any]:
        options = {
            "temporal": self.temporal,
            "keyframe_every": self.keyframe_every,
            "adaptive": self.adaptive,
            "internal_size": self.internal_size,
        }
        return options | ({"background": True} if self.background else {})


@dataclass(frozen=True)
class ChangeOptions:
    """--changed: re-stylize only what changed (realtime.regions.ChangeDrivenProcessor)."""

    temporal: float = 0.7
    background: bool = False

    def __post_init__(self) -> None:
        _check_temporal(self.temporal)

    def processor_options(self) -> dict[str, Any]:
        return {"temporal": self.temporal, "background": self.background}


Temporal = TemporalOptions | ChangeOptions | None


def temporal_options(
    *,
    temporal: float,
    keyframe_every: int | None,
    internal_size: int | None,
    no_adaptive: bool = False,
    changed: bool = False,
    live: bool = False,
) -> Temporal:
    """The temporal settings the options ask for; None = every frame stylized as is.
    Live commands stylize due keyframes in the background (frames keep coming); files
    keep every decision in frame order. `internal_size` 0 means the frame size."""
    _check_temporal(temporal)
    _at_least("--keyframe-every", keyframe_every, 1)
    if internal_size is not None and internal_size < 0:
        raise UserError(f"--internal-size {internal_size}: give a long side in pixels, or 0")
    if changed:  # every frame at the frame size: --keyframe-every/--internal-size do not apply
        return ChangeOptions(temporal=temporal, background=live)
    every = keyframe_every or 1
    internal = internal_size or None
    if not temporal and every == 1 and internal is None:
        return None
    return TemporalOptions(
        temporal=temporal,
        keyframe_every=every,
        adaptive=every > 1 and not no_adaptive,
        internal_size=internal,
        background=live and every > 1,
    )


@dataclass(frozen=True)
class Limits:
    """When a run stops by itself (None: when the source ends, or never)."""

    max_seconds: float | None = None
    max_frames: int | None = None

    def __post_init__(self) -> None:
        validate.positive_finite("--duration", self.max_seconds, "10")
        _at_least("--frames", self.max_frames, 1)


@dataclass(frozen=True)
class LiveSourceOptions:
    """A live command's source: camera index or device, file, URL or a test pattern;
    what to ask the camera for; the long side frames are stylized at; whether a file
    starts over when it ends."""

    spec: str = "0"
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    size: int | None = None
    loop: bool = False

    def __post_init__(self) -> None:
        _at_least("--width", self.width, 1, " pixels")
        _at_least("--height", self.height, 1, " pixels")
        validate.positive_finite("--fps", self.fps, "30")
        validate.long_side("--size", self.size)


@dataclass(frozen=True)
class LiveOptions:
    """What every live command shares: where frames come from, how they are stylized,
    when the run stops, and more outputs (realtime.sinks.open_sink specs)."""

    source: LiveSourceOptions = field(default_factory=LiveSourceOptions)
    style: StyleOptions = field(default_factory=StyleOptions)
    temporal: Temporal = None
    limits: Limits = field(default_factory=Limits)
    outputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "outputs", tuple(self.outputs))


@dataclass(frozen=True)
class ClipOptions:
    """Which part of a file, at which size and rate, encoded how (video command)."""

    start: float | None = None
    end: float | None = None
    size: int | None = None
    fps: float | None = None  # a frame folder's rate
    crf: int = 18

    def __post_init__(self) -> None:
        validate.finite_time("--start", self.start)
        validate.finite_time("--end", self.end)
        validate.long_side("--size", self.size)
        if self.fps is not None:
            _number(
                "--fps",
                self.fps,
                MIN_FOLDER_FPS,
                MAX_FOLDER_FPS,
                f"give a frame rate from {MIN_FOLDER_FPS:g} to {MAX_FOLDER_FPS:g}, e.g. --fps 25",
            )
        if not 0 <= self.crf <= MAX_CRF:
            raise UserError(
                f"--crf {self.crf}: give x264's quality from 0 to {MAX_CRF} (lower is better; "
                "18 looks lossless)"
            )


@dataclass(frozen=True)
class ClusterOptions:
    """--workers/--ray-address: how a video job is spread over Ray."""

    workers: int | None = None
    ray_address: str | None = None
    segment_seconds: float = 10.0
    resume: bool = False
    keep_work: bool = False

    def __post_init__(self) -> None:
        _at_least("--workers", self.workers, 1)
        validate.positive_finite("--segment-seconds", self.segment_seconds, "10")


@dataclass(frozen=True)
class ServeOptions:
    """The serve command's web server."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    max_viewers: int = 16
    max_upload_mb: float = 10.0
    quality: int = 80
    stall_timeout: float = 20.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port {self.port}: give a port from 1 to 65535 (0: any free one)")
        _at_least("--max-viewers", self.max_viewers, 1)
        validate.positive_finite("--max-upload-mb", self.max_upload_mb, "10")
        if not 1 <= self.quality <= 100:
            raise UserError(f"--quality {self.quality}: give a JPEG quality from 1 to 100")


@dataclass(frozen=True)
class PushOptions:
    """How the stream command encodes what it pushes (rtmp, srt, udp, HLS)."""

    bitrate_k: int = 2500
    gop_seconds: float = 1.0
    out_fps: float | None = None
    hls_list_size: int = 6

    def __post_init__(self) -> None:
        if self.bitrate_k < 100:
            raise UserError(f"--bitrate {self.bitrate_k}: give kbit/s, at least 100 (e.g. 2500)")
        _number("--gop", self.gop_seconds, 0.1, 10, "give seconds between keyframes, 0.1 to 10")
        if self.out_fps is not None:
            _number("--out-fps", self.out_fps, 1, 120, "give 1 to 120")
        _at_least("--hls-list-size", self.hls_list_size, 0)

    def sink_options(self) -> dict[str, Any]:
        """realtime.sinks.open_sink's tuning of a push."""
        return {
            "bitrate_k": self.bitrate_k,
            "gop_seconds": self.gop_seconds,
            "hls_list_size": self.hls_list_size,
        }


@dataclass(frozen=True)
class OptimizeOptions:
    """--method optimize: the painting, the VGG optimization's settings and, for videos,
    the keyframes (realtime.offline.KeyframeSettings' fields; None = its default)."""

    style: str
    settings: OptimizeSettings
    keyframe_every: int | None = None
    adaptive: bool = True
    fill: str | None = None

    def __post_init__(self) -> None:
        _at_least("--keyframe-every", self.keyframe_every, 1)

    def keyframes(self) -> Any:
        """realtime.offline.KeyframeSettings (imported here: it needs OpenCV)."""
        from realtime.offline import KeyframeSettings

        given = {"every": self.keyframe_every, "adaptive": self.adaptive, "fill": self.fill}
        return KeyframeSettings(**{k: v for k, v in given.items() if v is not None})


@dataclass(frozen=True)
class FastJob:
    """A video conversion with the fast stylizer, whole (what each Ray worker runs)."""

    style: StyleOptions = StyleOptions()
    temporal: Temporal = None
    clip: ClipOptions = ClipOptions()


@dataclass(frozen=True)
class OptimizeJob:
    """A video conversion by VGG optimization per keyframe, whole."""

    optimize: OptimizeOptions
    clip: ClipOptions = ClipOptions(size=256)
