"""stylize-video: turn webcam feeds, video files and streams into moving paintings.

A thin command line: it parses arguments and calls one library function with plain
values. `--help` and `--version` answer before TensorFlow is imported; each command
imports what it needs only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

__version__ = "0.1.0"

PROG = "stylize-video"


def _add_style_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--style",
        "-s",
        action="append",
        dest="style",
        metavar="SPEC",
        help="style image path, preset:N (0-25), or a blend 'a.jpg:0.7,preset:3:0.3'; "
        "repeat to give several styles (default: preset:7)",
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
    p.add_argument("--jit", action="store_true", help="compile the per-frame call with XLA")


def _run_image(a: argparse.Namespace) -> int:
    from models.image_job import stylize_images

    return stylize_images(
        inputs=a.inputs,
        output=a.output,
        styles=a.style or ["preset:7"],
        strength=a.strength,
        preserve_color=a.preserve_color,
        size=a.size,
        grid=a.grid,
        as_json=a.json,
        hub_handle=a.hub_handle,
        jit_compile=a.jit,
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
        "--size", type=int, help="long side of the stylized image in pixels (default: input's)"
    )
    p.add_argument(
        "--grid", action="store_true", help="also write a content | style | result figure"
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(func=_run_image)


def _run_models(a: argparse.Namespace) -> int:
    from models.manage import models_command

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


def _run_demo(a: argparse.Namespace) -> int:
    from models.image_job import run_demo

    return run_demo(output=a.output)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="stylize the bundled sample with a built-in preset (no camera, no style image)",
    )
    p.add_argument("-o", "--output", default="out", help="output folder (default: ./out)")
    p.set_defaults(func=_run_demo)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_demo, _add_image, _add_models]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Neural style transfer for webcams, video files and streams.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from realtime.errors import UserError

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
