"""stylize-video: turn webcam feeds, video files and streams into moving paintings.

A thin command line: it parses arguments and calls one library function with plain
values. `--help` and `--version` answer before TensorFlow is imported; each command
imports what it needs only when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from models.styles import DEFAULT_PRESET, DEFAULT_STYLE  # no TensorFlow: --help stays fast

__version__ = "0.1.0"

PROG = "stylize-video"


def _style_options(a: argparse.Namespace):  # -> realtime.jobs.settings.StyleOptions
    """The stylizer options every stylizing command passes on, validated."""
    from realtime.jobs.settings import StyleOptions

    return StyleOptions(
        styles=tuple(a.style or [DEFAULT_STYLE]),
        strength=a.strength,
        preserve_color=a.preserve_color,
        hub_handle=a.hub_handle,
        jit_compile=a.jit,
        device=a.device,
        engine=a.engine,
    )


def _add_style_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--style",
        "-s",
        action="append",
        dest="style",
        metavar="SPEC",
        help="style image path, preset:N (0-25) or preset:NAME (list: stylize-video styles), "
        "or a blend 'a.jpg:0.7,b.jpg:0.3'; repeat to give several styles "
        f"(default: {DEFAULT_STYLE}, {DEFAULT_PRESET.name})",
    )
    p.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="0 keeps the content, 1 is full style (Magenta's identity interpolation)",
    )
    p.add_argument(
        "--preserve-color",
        action="store_true",
        help="keep the original colours: stylized luminance with the content's chroma",
    )
    p.add_argument(
        "--hub-handle",
        metavar="URL_OR_PATH",
        help="load a model with the TF Hub Magenta calling convention instead of the "
        "bundled one (e.g. https://tfhub.dev/google/magenta/"
        "arbitrary-image-stylization-v1-256/2)",
    )
    p.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tensorflow engine: compile the per-frame call with XLA (default: on for video "
        "and webcam, where the frame size is fixed, and on any GPU; off for still images)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (a GPU when TensorFlow sees one, else the CPU), cpu, gpu or gpu:N",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "openvino", "tensorflow"),
        default="auto",
        help="what runs the network: openvino (the CPU), tensorflow (a GPU, and --hub-handle "
        "models); auto: tensorflow when it sees a GPU, else openvino (default: auto)",
    )


# Live commands default to the settings bench_temporal.py measured for live use on a
# 2-core CPU; files default to stylizing every frame at full size.
# Measured in benchmarks/bench_live.py: with keyframes stylized in the background, 2 keeps
# the stylizer busy (a new keyframe as soon as the last one lands). Working size 480 px on
# the OpenVINO engine: 28-30 fps shown at 640x480 with 10.6 keyframes a second (320 px:
# 14.8; the full frame: 7.9-8.7, too few to follow fast motion on a busy 2-core machine).
LIVE_TEMPORAL = {"temporal": 0.7, "keyframe_every": 2, "internal_size": 480}


def _add_temporal_args(p: argparse.ArgumentParser, *, live: bool) -> None:
    d = LIVE_TEMPORAL if live else {"temporal": 0.0, "keyframe_every": None, "internal_size": None}
    g = p.add_argument_group("temporal consistency and speed")
    g.add_argument(
        "--temporal",
        type=float,
        default=d["temporal"],
        metavar="S",
        help="0-1: blend each stylized frame with the previous output warped along the optical "
        f"flow where it is reliable (default {d['temporal']}; 0 = off)",
    )
    g.add_argument(
        "--keyframe-every",
        type=int,
        default=d["keyframe_every"],
        metavar="N",
        help="stylize every N-th frame and warp the last one along the flow in between "
        f"(default {d['keyframe_every'] or 1}"
        + (
            "; live: in the background, as soon as the last keyframe is N frames old)"
            if live
            else ")"
        ),
    )
    g.add_argument(
        "--no-adaptive",
        action="store_true",
        help="keyframes only every N frames (default: also on large motion and scene cuts)",
    )
    g.add_argument(
        "--internal-size",
        type=int,
        default=d["internal_size"],
        metavar="PX",
        help="stylize at this long side and upsample edge-aware to the frame size "
        f"(default {d['internal_size'] or 'the frame size'}; 0 = the frame size)",
    )
    g.add_argument(
        "--changed",
        action="store_true",
        help="re-stylize only the regions that changed, exactly, at the frame size, carrying "
        "the rest along the optical flow (--temporal blends inside them; --keyframe-every "
        "and --internal-size do not apply"
        + ("; the stylizer works in the background)" if live else ")"),
    )


def _temporal_options(a: argparse.Namespace):  # -> realtime.jobs.settings.Temporal
    """Validated temporal or change-driven settings; None = every frame stylized as is."""
    from realtime.jobs.settings import temporal_options

    return temporal_options(
        temporal=a.temporal,
        keyframe_every=a.keyframe_every,
        internal_size=a.internal_size,
        no_adaptive=a.no_adaptive,
        changed=a.changed,
        live=a.command != "video",
    )


def _live(a: argparse.Namespace, spec: str, loop: bool = False, outputs: Sequence[str] = ()):
    """What every live command shares (realtime.jobs.settings.LiveOptions), validated."""
    from realtime.jobs.settings import Limits, LiveOptions, LiveSourceOptions

    source = LiveSourceOptions(
        spec=spec, width=a.width, height=a.height, fps=a.fps, size=a.size, loop=loop
    )
    return LiveOptions(
        source=source,
        style=_style_options(a),
        temporal=_temporal_options(a),
        limits=Limits(max_seconds=a.duration, max_frames=a.frames),
        outputs=tuple(outputs),
    )


def _add_optimize_args(p: argparse.ArgumentParser, video: bool) -> None:
    """--method optimize (Gatys et al.'s VGG16 optimization) and its options."""
    p.add_argument(
        "--method",
        choices=["fast", "optimize"],
        default="fast",
        help="fast: the feed-forward stylizer; optimize: VGG16 optimization (Gatys et al.), "
        "much slower, needs a style image and `stylize-video models fetch vgg16` once "
        "(video: --keyframe-every defaults to 8 and --size to 256 with it)",
    )
    g = p.add_argument_group("--method optimize")
    g.add_argument("--iterations", type=int, help="most iterations per image/keyframe (200)")
    g.add_argument("--optimizer", choices=["lbfgs", "adam"], help="default lbfgs (scipy)")
    g.add_argument(
        "--init",
        choices=["content", "noise", "fast"],
        help="start from the content (default), noise, or the fast stylizer's output",
    )
    g.add_argument("--content-weight", type=float, metavar="W", help="default 1")
    g.add_argument("--style-weight", type=float, metavar="W", help="default 1e3")
    g.add_argument("--tv-weight", type=float, metavar="W", help="total variation, default 1e-2")
    g.add_argument(
        "--content-layers",
        metavar="L1,L2",
        help="VGG16 layers for content (default block2_conv2 = relu2_2, Johnson et al.; "
        "the Keras example used block5_conv2)",
    )
    g.add_argument(
        "--style-layers",
        metavar="L1,L2",
        help="VGG16 layers for style (default block1_conv1,...,block5_conv1)",
    )
    g.add_argument("--style-scale", type=float, help="style image size vs content (default 1)")
    g.add_argument(
        "--tol",
        type=float,
        help="stop when the loss falls by less than this per iteration (relative, "
        "averaged over 10 iterations; default 1e-3)",
    )
    g.add_argument("--plot", metavar="OUT.png", help="write the loss curve(s) as a PNG")
    if not video:
        return
    # --keyframe-every and --no-adaptive come from the video command's temporal group.
    g.add_argument("--temporal-weight", type=float, metavar="W", help="Ruder's term, default 200")
    g.add_argument(
        "--fill",
        choices=["fast", "warp"],
        help="pixels no keyframe covers: the plain warp (default) or the fast stylizer",
    )
    g.add_argument("--work-dir", metavar="DIR", help="checkpoint folder (default: OUTPUT.work)")
    g.add_argument("--no-resume", action="store_true", help="ignore checkpoints of an earlier run")
    g.add_argument(
        "--keep-work", action="store_true", help="keep the checkpoint folder after success"
    )


def _optimize_options(a: argparse.Namespace):  # -> realtime.jobs.settings.OptimizeOptions
    """--method optimize's painting, VGG settings and (video) keyframes, validated."""
    from models.errors import UserError
    from models.optimize import make_settings
    from realtime.jobs.settings import OptimizeOptions

    if len(a.style or []) != 1:
        raise UserError("--method optimize takes exactly one --style IMAGE (a painting)")
    video = a.command == "video"
    settings = {
        "iterations": a.iterations,
        "method": a.optimizer,
        "init": a.init,
        "content_weight": a.content_weight,
        "style_weight": a.style_weight,
        "tv_weight": a.tv_weight,
        "temporal_weight": a.temporal_weight if video else None,
        "content_layers": a.content_layers,
        "style_layers": a.style_layers,
        "style_scale": a.style_scale,
        "tol": a.tol,
    }
    return OptimizeOptions(
        style=a.style[0],
        settings=make_settings(settings),
        keyframe_every=a.keyframe_every if video else None,
        adaptive=not a.no_adaptive if video else True,
        fill=a.fill if video else None,
    )


def _run_image(a: argparse.Namespace) -> int:
    if a.method == "optimize":
        from realtime.jobs.image import optimize_images

        opt = _optimize_options(a)
        return optimize_images(
            a.inputs,
            a.output,
            opt.style,
            settings=opt.settings,
            size=a.size,
            plot=a.plot,
            grid=a.grid,
            as_json=a.json,
        )
    from realtime.jobs.image import stylize_images

    return stylize_images(
        inputs=a.inputs,
        output=a.output,
        size=a.size,
        grid=a.grid,
        as_json=a.json,
        style=_style_options(a),
    )


def _add_image(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "image",
        help="stylize image files or folders of images",
        description="Stylize image files or folders of images.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (one input) or folder (several inputs or a folder)",
    )
    _add_style_args(p)
    p.add_argument(
        "--size",
        type=int,
        help="long side of the stylized image in pixels, 16 to 8192 (default: input's)",
    )
    p.add_argument(
        "--grid", action="store_true", help="also write a content | style | result figure"
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    _add_optimize_args(p, video=False)
    p.set_defaults(func=_run_image)


def _run_models(a: argparse.Namespace) -> int:
    from realtime.jobs.models import models_command

    return models_command(a.action, names=a.names, as_json=a.json)


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list, fetch and describe model weights and the cache",
        description="List, fetch (verify and convert) and describe the models and their cache.",
    )
    p.add_argument("action", choices=["list", "fetch", "info"])
    p.add_argument("names", nargs="*", help="model names (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run_models)


def _run_styles(a: argparse.Namespace) -> int:
    from realtime.jobs.styles import contact_sheet, list_styles

    if a.contact_sheet:
        return contact_sheet(a.contact_sheet, size=a.size, device=a.device)
    return list_styles(as_json=a.json)


def _add_styles(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "styles",
        help="list the 26 built-in presets by number and name",
        description="List the built-in presets (use as --style preset:N or preset:NAME); "
        "presets with a warning lose the picture's content or its faces. --contact-sheet "
        "draws every preset on the bundled photo in one labelled image.",
    )
    p.add_argument(
        "--contact-sheet",
        metavar="OUT.png",
        help="write a grid of all presets on the bundled photo to this image",
    )
    p.add_argument(
        "--size", type=int, default=192, help="long side of each tile in pixels (default 192)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, gpu or gpu:N (default: auto)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=_run_styles)


def _run_demo(a: argparse.Namespace) -> int:
    from realtime.jobs.demo import run_demo

    return run_demo(output=a.output)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="stylize the bundled photo and clip with a preset (no camera, no style image)",
    )
    p.add_argument("-o", "--output", default="out", help="output folder (default: ./out)")
    p.set_defaults(func=_run_demo)


def _run_evaluate(a: argparse.Namespace) -> int:
    from realtime.jobs.evaluate import evaluate

    return evaluate(
        a.source,
        a.stylized,
        plot=a.plot,
        as_json=a.json,
        flow=a.flow,
        reference=a.reference,
        style=a.style,
        strength=a.strength,
        start=a.start,
        end=a.end,
    )


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure flicker: warping error of a stylized video against its source's flow",
        description="Warping error (Lai et al. 2018) of STYLIZED against the optical flow of "
        "SOURCE: occluded pixels and motion boundaries are left out, RGB in [0, 1]. Lower is "
        "steadier; compare videos made from the same source. With --reference or --style also "
        "fidelity: each frame against a per-frame stylization of the same frame, per frame the "
        "99th percentile of 16x16 patch errors, reported as mean and 99th percentile over "
        "frames (lower is more faithful; catches smear, pasted blocks and drag).",
    )
    p.add_argument("source", metavar="SOURCE", help="the original video")
    p.add_argument("stylized", metavar="STYLIZED", help="the stylized video made from SOURCE")
    p.add_argument(
        "--start",
        type=float,
        metavar="SEC",
        help="compare from this time of SOURCE (the --start STYLIZED was made with)",
    )
    p.add_argument(
        "--end",
        type=float,
        metavar="SEC",
        help="compare up to this time of SOURCE (the --end STYLIZED was made with)",
    )
    p.add_argument("--plot", metavar="OUT.png", help="write the per-frame curve as a PNG")
    p.add_argument(
        "--flow",
        choices=["medium", "fast", "farneback"],
        default="medium",
        help="optical flow on the source: DIS preset or Farneback (default: medium)",
    )
    p.add_argument("--json", action="store_true", help="print JSON with per-pair values")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument(
        "--reference",
        metavar="REF",
        help="fidelity against REF: a per-frame stylized video of SOURCE at STYLIZED's size",
    )
    ref.add_argument(
        "--style",
        "-s",
        metavar="SPEC",
        help="fidelity against SOURCE stylized here frame by frame with SPEC (style image, "
        "preset:N or a blend) at STYLIZED's size; loads the fast stylizer",
    )
    p.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="style strength of the --style reference, 0 to 1 (default 1)",
    )
    p.set_defaults(func=_run_evaluate)


def _clip_options(a: argparse.Namespace, size: int | None):
    from realtime.jobs.settings import ClipOptions

    return ClipOptions(start=a.start, end=a.end, size=size, fps=a.fps, crf=a.crf)


def _run_video(a: argparse.Namespace) -> int:
    from models.errors import UserError
    from realtime.jobs.settings import ClusterOptions, FastJob, OptimizeJob

    # every option is checked here, before anything is written or any model loads
    clip = _clip_options(a, a.size or 256 if a.method == "optimize" else a.size)
    if a.method == "optimize":
        job: FastJob | OptimizeJob = OptimizeJob(_optimize_options(a), clip)
    else:
        job = FastJob(_style_options(a), _temporal_options(a), clip)
    cluster = ClusterOptions(
        workers=a.workers,
        ray_address=a.ray_address,
        segment_seconds=a.segment_seconds,
        # optimize resumes by default (as without Ray); the fast path on --resume
        resume=a.resume or (a.method == "optimize" and not a.no_resume),
        keep_work=a.keep_work,
    )
    if a.workers is not None or a.ray_address:
        from realtime.jobs.cluster import run_cluster

        return run_cluster(a.input, a.output, job=job, cluster=cluster, as_json=a.json)
    if a.resume:
        raise UserError("--resume continues a --workers/--ray-address job; give one of those")
    if isinstance(job, OptimizeJob):
        from realtime.jobs.video import optimize_video

        opt = job.optimize
        return optimize_video(
            a.input,
            a.output,
            style=opt.style,
            settings=opt.settings,
            keyframes=opt.keyframes(),
            start=clip.start,
            end=clip.end,
            size=clip.size,
            fps=clip.fps,
            crf=clip.crf,
            work_dir=a.work_dir,
            resume=not a.no_resume,
            keep_work=a.keep_work,
            as_json=a.json,
            plot=a.plot,
            overwrite=a.overwrite,
        )
    from realtime.jobs.video import convert_video

    return convert_video(
        a.input,
        a.output,
        style=job.style,
        clip=clip,
        temporal=job.temporal,
        as_json=a.json,
        overwrite=a.overwrite,
    )


def _add_video(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video",
        help="stylize a video file (audio kept) or a folder/pattern of frames",
        description="Stylize a video file into H.264 (yuv420p) at the source's frame rate and "
        "timing, with its audio. Ctrl-C leaves a playable file of the frames done so far. "
        "INPUT and OUTPUT may also be a folder of images or a pattern like frames/%%05d.png.",
    )
    p.add_argument("input", metavar="INPUT", help="video file or URL, image folder or pattern")
    p.add_argument(
        "-o", "--output", required=True, help="OUT.mp4/.mov/.m4v/.mkv, a folder or a pattern"
    )
    _add_style_args(p)
    p.add_argument("--start", type=float, metavar="SEC", help="start at this time (seconds)")
    p.add_argument("--end", type=float, metavar="SEC", help="stop at this time (seconds)")
    p.add_argument(
        "--size",
        type=int,
        metavar="PX",
        help="long side of the output, 16 to 8192 (default: input's)",
    )
    p.add_argument("--fps", type=float, help="frame rate of image-folder input (default 25)")
    p.add_argument("--crf", type=int, default=18, help="x264 quality, lower is better (default 18)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="a frame-folder OUTPUT that holds an earlier run's frames: remove them first "
        "(without it such a folder is refused)",
    )
    _add_temporal_args(p, live=False)
    _add_optimize_args(p, video=True)
    g = p.add_argument_group(
        "scale out on Ray (pip install 'stylize-video[cluster]')",
        "Segments of the video (or the files of a folder of videos, into an output folder) "
        "are converted by Ray workers and joined without re-encoding.",
    )
    g.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="start Ray on this machine with N workers (cores are shared between them)",
    )
    g.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join a running Ray cluster (host:port, ray://host:port, or 'auto' for "
        "RAY_ADDRESS or a local cluster); --workers then caps the workers (default: its CPUs)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted job from the segments kept in OUTPUT.work/",
    )
    g.add_argument(
        "--segment-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="cut segments at scene cuts and at most every S seconds (default 10)",
    )
    p.set_defaults(func=_run_video)


def _run_webcam(a: argparse.Namespace) -> int:
    from realtime.jobs.webcam import run_webcam

    spec = a.source if a.source is not None else a.camera
    return run_webcam(
        _live(a, spec, outputs=_outputs(a)),
        mirror=a.mirror,
        headless=a.headless,
        fullscreen=a.fullscreen,
        record=a.output,
        snapshot_dir=a.snapshot_dir,
        as_json=a.json,
    )


def _add_webcam(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "webcam",
        help="live art filter: camera (or stream, file, test pattern) in a window",
        description="Live style transfer in a window with a HUD. Keys: n/p style, +/- "
        "strength, c preserve colour, space side by side, m mirror, s snapshot, r record, "
        "f fullscreen, h help, q/Esc quit.",
    )
    p.add_argument("--camera", default="0", help="camera index or device path (default 0)")
    p.add_argument(
        "--source",
        metavar="SRC",
        help="use a video file, image folder, stream URL or 'testpattern' instead of a camera "
        "('testpattern:still': a still camera, a van drives in, the exposure steps)",
    )
    _add_style_args(p)
    _add_capture_args(p)
    p.add_argument("--mirror", action="store_true", help="start mirrored (selfie view)")
    p.add_argument("--headless", action="store_true", help="no window (print stats; -o records)")
    p.add_argument("--fullscreen", action="store_true", help="start fullscreen")
    p.add_argument("-o", "--output", metavar="OUT.mp4", help="record the stylized stream")
    p.add_argument("--snapshot-dir", default=".", help="folder for snapshots and r-key recordings")
    _add_live_run_args(p, outputs=True)
    p.set_defaults(func=_run_webcam)


def _add_live_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source",
        default="0",
        metavar="SRC",
        help="camera index or device (default 0), video file, stream URL, 'testpattern' or "
        "'testpattern:still' (a still camera, a van drives in, the exposure steps)",
    )
    _add_capture_args(p)


def _add_capture_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--width", type=int, help="requested capture width")
    p.add_argument("--height", type=int, help="requested capture height")
    p.add_argument("--fps", type=float, help="requested capture frame rate")
    p.add_argument("--size", type=int, metavar="PX", help="long side frames are stylized at")


def _add_live_run_args(p: argparse.ArgumentParser, outputs: bool = False) -> None:
    """When a live run stops, --json, (more outputs) and the temporal group."""
    p.add_argument("--duration", type=float, metavar="SEC", help="stop after this many seconds")
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    if outputs:
        p.add_argument(
            "--to",
            action="append",
            metavar="URL_OR_PATH",
            help="also push to rtmp://, srt://, udp:// or OUT.m3u8 (HLS), or record to "
            "OUT.mp4/.mkv with the capture's timing; repeat for several",
        )
        p.add_argument(
            "--virtual-cam",
            action="store_true",
            help="also send to a virtual camera (pip install 'stylize-video[virtualcam]')",
        )
    _add_temporal_args(p, live=True)


def _outputs(a: argparse.Namespace) -> list[str]:
    """The extra live outputs (realtime.sinks.open_sink specs) --to and --virtual-cam ask for."""
    return [*(a.to or []), *(["virtualcam"] if a.virtual_cam else [])]


def _run_serve(a: argparse.Namespace) -> int:
    from realtime.jobs.serve import run_serve
    from realtime.jobs.settings import ServeOptions

    # the options are named as the settings' fields
    fields = ("host", "port", "token", "max_viewers", "max_upload_mb", "quality")
    server = ServeOptions(**{name: vars(a)[name] for name in fields})
    live = _live(a, a.source, loop=a.loop, outputs=_outputs(a))
    return run_serve(live, server=server, as_json=a.json)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="live stylized stream in the browser (MJPEG) with style/strength controls",
        description="Serve the live stylized stream to browsers: a page with the stream and "
        "controls (styles with thumbnails, style upload, strength, keep colours, side by "
        "side), /stream.mjpg, /api/status (JSON) and /api/snapshot. Listens on 127.0.0.1 "
        "unless --host says otherwise; any other address needs --token.",
    )
    _add_live_source_args(p)
    _add_style_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument(
        "--token",
        default=os.environ.get("STYLIZE_VIDEO_TOKEN"),
        help="secret every request must carry (?token=, 'Authorization: Bearer' or X-Token); "
        "required off loopback (default: $STYLIZE_VIDEO_TOKEN)",
    )
    p.add_argument("--max-viewers", type=int, default=16, help="concurrent viewers (default 16)")
    p.add_argument(
        "--max-upload-mb", type=float, default=10.0, help="largest style upload (default 10 MB)"
    )
    p.add_argument("--quality", type=int, default=80, help="JPEG quality 1-100 (default 80)")
    p.add_argument(
        "--loop",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start a video file over when it ends (default: on)",
    )
    _add_live_run_args(p, outputs=True)
    p.set_defaults(func=_run_serve)


def _run_stream(a: argparse.Namespace) -> int:
    from realtime.jobs.settings import PushOptions
    from realtime.jobs.stream import run_stream

    push = PushOptions(
        bitrate_k=a.bitrate, gop_seconds=a.gop, out_fps=a.out_fps, hls_list_size=a.hls_list_size
    )
    live = _live(a, a.source)
    return run_stream(live, to=a.to, virtual_cam=a.virtual_cam, push=push, as_json=a.json)


def _add_stream(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stream",
        help="push the live stylized stream to RTMP/SRT/UDP/HLS or a virtual camera",
        description="Push the live stylized stream with the bundled ffmpeg: H.264 "
        "(veryfast, zerolatency, a keyframe every --gop s) plus the source file's audio. "
        "--to takes rtmp://HOST/APP/KEY, srt://HOST:PORT, udp://HOST:PORT or a playlist "
        "path ending in .m3u8 (HLS segments go next to it). If the receiver goes away the "
        "push is retried with backoff; the capture keeps running.",
    )
    _add_live_source_args(p)
    _add_style_args(p)
    p.add_argument("--to", metavar="URL_OR_PATH", help="rtmp://, srt://, udp:// or OUT.m3u8")
    p.add_argument(
        "--virtual-cam",
        action="store_true",
        help="also (or only) send to a virtual camera; needs the optional pyvirtualcam "
        "package: pip install 'stylize-video[virtualcam]'",
    )
    p.add_argument("--bitrate", type=int, default=2500, help="video kbit/s (default 2500)")
    p.add_argument("--gop", type=float, default=1.0, help="seconds between keyframes (default 1)")
    p.add_argument("--out-fps", type=float, help="output frame rate (default: the source's)")
    p.add_argument(
        "--hls-list-size",
        type=int,
        default=6,
        help="segments kept in an HLS playlist; 0 keeps all (default 6)",
    )
    _add_live_run_args(p)
    p.set_defaults(func=_run_stream)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_demo,
    _add_image,
    _add_models,
    _add_styles,
    _add_evaluate,
    _add_video,
    _add_webcam,
    _add_serve,
    _add_stream,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Neural style transfer for webcams, video files and streams.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_verbose(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    for p in sub.choices.values():
        # SUPPRESS: a subcommand's default must not undo a --verbose given before it
        _add_verbose(p, default=argparse.SUPPRESS)
    return parser


def _add_verbose(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        default=default,
        help="show TensorFlow's and OpenCV's own log lines (CUDA probing, oneDNN notes, "
        "camera probing, warnings)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) is noise to a user;
    # set up before any command can import TensorFlow (tf_runtime itself does not).
    from models.tf_runtime import quiet_opencv, quiet_tensorflow

    quiet_tensorflow(verbose_logs=args.verbose)
    quiet_opencv(verbose_logs=args.verbose)
    from models.errors import UserError

    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
