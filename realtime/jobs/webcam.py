"""`stylize-video webcam`: the live art filter (camera, stream, file or test pattern).

Live mode: the processor always gets the newest frame; a window with a HUD shows the
result and the keys change style, strength and view between frames (see HELP_LINES).
`headless` runs the same loop with no window (optionally recording to a file).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import UserError
from realtime.frame import (
    ControllableStylizer,
    Frame,
    FrameProcessor,
    close_processor,
    processor_summary,
    warm_up_processor,
)
from realtime.jobs.assembly import JobRun, LiveCommand, run_live
from realtime.jobs.settings import Limits, LiveSourceOptions, StyleOptions, Temporal
from realtime.pipeline import Pipeline, PipelineStats
from realtime.sinks.base import Sink
from realtime.sources.base import Source


class LiveController:
    """State the keys change, and what each key does. Works with any FrameProcessor;
    style/strength/colour keys need a ControllableStylizer (style_names, style_index,
    strength, preserve_color) and say so on the HUD otherwise."""

    STRENGTH_STEP = 0.1

    def __init__(
        self,
        stylizer: FrameProcessor,
        *,
        mirror: bool = False,
        snapshot_dir: str | Path = ".",
        window: Any = None,
        record_path: str | Path | None = None,
    ) -> None:
        self.stylizer = stylizer
        self.mirror = mirror
        self.side_by_side = False
        self.show_help = False
        self.snapshot_dir = Path(snapshot_dir)
        self.window = window
        self.writer = None
        self.record_path: Path | None = None
        self.recordings: list[str] = []
        self.snapshots: list[str] = []
        self.message = ""
        self._message_until = 0.0
        self.quit = False
        self.pending_switch: tuple[float, int] | None = None  # (time of key, new index)
        self.switch_latencies_ms: list[float] = []
        self.last_view: np.ndarray | None = None
        self.last_pts = 0.0
        if record_path is not None:
            self.start_recording(Path(record_path))

    # -- helpers --------------------------------------------------------------------
    @property
    def controllable(self) -> bool:
        return isinstance(self.stylizer, ControllableStylizer)

    def say(self, text: str, seconds: float = 2.5) -> None:
        self.message = text
        self._message_until = time.monotonic() + seconds

    def style_label(self) -> str:
        if not self.controllable:
            return "style: fixed"
        names = list(self.stylizer.style_names)
        i = self.stylizer.style_index
        return f"style {i + 1}/{len(names)}: {names[i]}"

    def _stamp(self) -> str:
        return time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"

    # -- keys -----------------------------------------------------------------------
    def handle_key(self, key: int) -> None:
        ch = chr(key) if 0 <= key < 256 else ""
        if key == 27 or ch == "q":
            self.quit = True
        elif ch in ("n", "p"):
            if not self.controllable:
                self.say("this processor has one fixed style")
                return
            n = len(self.stylizer.style_names)
            new = (self.stylizer.style_index + (1 if ch == "n" else -1)) % n
            self.pending_switch = (time.monotonic(), new)
            self.stylizer.style_index = new  # the HUD's style line shows it
        elif ch in ("+", "=", "-", "_"):
            if not self.controllable:
                self.say("strength is fixed for this processor")
                return
            step = self.STRENGTH_STEP if ch in ("+", "=") else -self.STRENGTH_STEP
            self.stylizer.strength = round(min(1.0, max(0.0, self.stylizer.strength + step)), 2)
            self.say(f"strength {self.stylizer.strength:.1f}")
        elif ch == "c":
            if not self.controllable:
                self.say("colour mode is fixed for this processor")
                return
            self.stylizer.preserve_color = not self.stylizer.preserve_color
            self.say("colours: " + ("kept" if self.stylizer.preserve_color else "styled"))
        elif ch == " ":
            self.side_by_side = not self.side_by_side
        elif ch == "m":
            self.mirror = not self.mirror
        elif ch == "s":
            self.snapshot()
        elif ch == "r":
            if self.writer is None:
                self.start_recording()
            else:
                self.stop_recording()
        elif ch == "f":
            if self.window is not None:
                self.window.toggle_fullscreen()
        elif ch == "h":
            self.show_help = not self.show_help

    def snapshot(self) -> str | None:
        if self.last_view is None:
            return None
        import cv2

        from realtime.bgr import rgb_to_bgr

        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.snapshot_dir / f"snapshot-{self._stamp()}.png"
        tmp = path.with_name("." + path.name + ".part.png")
        if not cv2.imwrite(str(tmp), rgb_to_bgr(self.last_view)):
            raise UserError(f"{path}: cannot write the snapshot; check the folder")
        os.replace(tmp, path)
        self.snapshots.append(str(path))
        self.say(f"saved {path}")
        return str(path)

    def start_recording(self, path: Path | None = None) -> None:
        from realtime.sinks.ffmpeg_writer import FfmpegVideoWriter

        path = path or self.snapshot_dir / f"recording-{self._stamp()}.mp4"
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        self.writer = FfmpegVideoWriter(path)  # pts from the capture clock: real timing
        self.record_path = Path(path)
        self.say(f"recording to {path}")

    def stop_recording(self) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        writer.close()
        if writer.written:
            self.recordings.append(str(writer.path))
            self.say(f"saved {writer.path} ({writer.frames} frames)")

    def abort(self) -> None:
        if self.writer is not None:
            self.stop_recording()

    # -- per frame ------------------------------------------------------------------
    def compose(self, frame: Frame, out: np.ndarray) -> np.ndarray:
        if self.side_by_side:
            return np.hstack([frame.image, out])
        return out

    def on_frame(self, frame: Frame, out: np.ndarray, style_used: int | None) -> np.ndarray:
        """Record, remember for snapshots, measure style-switch latency; return the view."""
        if self.writer is not None:
            self.writer.write(Frame(out, frame.pts, frame.index))
        view = self.compose(frame, out)
        self.last_view = view
        self.last_pts = frame.pts
        if self.pending_switch is not None and style_used == self.pending_switch[1]:
            self.switch_latencies_ms.append((time.monotonic() - self.pending_switch[0]) * 1e3)
            self.pending_switch = None
        return view

    def hud_lines(self, stats: PipelineStats) -> list[str]:
        lines = [
            f"{stats.current_fps:4.1f} fps  latency {stats.current_latency_ms:4.0f} ms  "
            f"stylize {stats.current_process_ms:4.0f} ms",
            self.style_label(),
        ]
        if self.controllable:
            colour = "kept" if self.stylizer.preserve_color else "styled"
            lines.append(f"strength {self.stylizer.strength:.1f}  colours {colour}")
        flags = [
            s for s, on in (("mirror", self.mirror), ("side by side", self.side_by_side)) if on
        ]
        if self.writer is not None:
            flags.insert(0, f"REC {self.writer.frames} frames")
        if flags:
            lines.append("  ".join(flags))
        if self.message and time.monotonic() < self._message_until:
            lines.append(self.message)
        lines.append("h: help")
        return lines


class _ShownRate:
    """Frames shown in each whole second of a run, for its worst 10 s window: the rate the
    filter sustains, start-up included (an average hides a slow stretch)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.counts: list[int] = []

    def add(self) -> None:
        i = int(time.monotonic() - self.t0)
        self.counts.extend([0] * (i + 1 - len(self.counts)))
        self.counts[i] += 1

    def worst(self, seconds: int = 10) -> float | None:
        whole = self.counts[:-1]  # the last second is cut short by the end
        if len(whole) < seconds:
            return None
        return float(np.convolve(whole, np.ones(seconds), "valid").min()) / seconds


class _StyleTracking:
    """Wraps the processor to remember which style each output was made with, so the
    switch latency counts until the first frame in the new style is shown."""

    def __init__(self, processor: FrameProcessor, stylizer: FrameProcessor) -> None:
        self.processor = processor
        self.stylizer = stylizer if isinstance(stylizer, ControllableStylizer) else None
        self.used: dict[int, int] = {}

    def __call__(self, image: np.ndarray) -> np.ndarray:
        idx = self.stylizer.style_index if self.stylizer is not None else None
        out = self.processor(image)
        if idx is not None:
            if len(self.used) > 32:
                self.used.clear()
            self.used[id(out)] = idx
        return out

    def pop(self, out: np.ndarray) -> int | None:
        return self.used.pop(id(out), None)

    def warm_up(self) -> None:
        warm_up_processor(self.processor)

    def close(self) -> None:
        close_processor(self.processor)

    def summary(self) -> dict:
        return {"keyframes": None, **processor_summary(self.processor)}


class _Webcam(LiveCommand):
    """The window with its HUD and keys (or headless), recordings and snapshots."""

    console_every = 2.0

    def __init__(self, headless: bool, fullscreen: bool, mirror: bool, snapshot_dir: str):
        self.headless, self.fullscreen = headless, fullscreen
        self.mirror, self.snapshot_dir = mirror, snapshot_dir
        self.record: str | None = None
        self.window: Any = None
        self.controller: LiveController | None = None
        self.pipeline: Pipeline | None = None
        self.shown = _ShownRate()

    def wrap(self, stylizer: FrameProcessor, chain: FrameProcessor) -> FrameProcessor:
        self.stylizer = stylizer
        self.tracking = _StyleTracking(chain, stylizer)
        return self.tracking

    def sinks(self, source: Source) -> list[Sink]:
        if not self.headless:
            from realtime.sinks.window import WindowSink

            self.window = WindowSink(f"stylize-video: {source.name}", fullscreen=self.fullscreen)
        self.controller = LiveController(
            self.stylizer,
            mirror=self.mirror,
            snapshot_dir=self.snapshot_dir,
            window=self.window,
            record_path=self.record,
        )
        return [self.window] if self.window is not None else []

    def prepare(self, image: np.ndarray) -> np.ndarray:
        mirror = self.controller.mirror if self.controller is not None else self.mirror
        return np.ascontiguousarray(image[:, ::-1]) if mirror else image

    def view(self, frame: Frame, out: np.ndarray) -> np.ndarray:
        self.shown.add()
        if self.window is not None and self.pipeline is not None:
            from realtime.sinks.window import HELP_LINES

            self.window.hud = self.controller.hud_lines(self.pipeline.stats)
            changed = processor_summary(self.tracking.processor).get("changed_now")
            if changed is not None:
                self.window.hud.insert(1, f"changed {changed:4.0%} of the frame")
            self.window.overlay = list(HELP_LINES) if self.controller.show_help else []
        return self.controller.on_frame(frame, out, self.tracking.pop(out))

    def on_start(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def on_idle(self) -> bool:
        if self.window is None:
            return True
        key = self.window.poll_key(1)
        if key is not None:
            self.controller.handle_key(key)
        return not self.controller.quit and self.window.is_open()

    def on_output(self, frame: Frame, out: np.ndarray, stats: PipelineStats) -> bool:
        return self.on_idle()

    def console_line(self, stats: PipelineStats) -> str:
        return "" if self.window is not None else super().console_line(stats)

    def summary(self, source: Source, run: JobRun) -> dict[str, Any]:
        controller = self.controller
        controller.stop_recording()
        lat = controller.switch_latencies_ms
        return {
            "recordings": controller.recordings,
            "snapshots": controller.snapshots,
            "style_switch_ms": round(sum(lat) / len(lat), 1) if lat else None,
            "worst_10s_fps": self.shown.worst(10),
        }

    def report(self, source: Source, run: JobRun, summary: Mapping[str, Any]) -> str:
        return _report_text(source, run.stats, summary, self.controller)

    def close(self) -> None:
        if self.controller is not None:
            self.controller.abort()  # finalizes an open recording
        if self.window is not None:
            self.window.close()


def run_webcam(
    *,
    source: LiveSourceOptions | None = None,
    style: StyleOptions | None = None,
    temporal: Temporal = None,
    limits: Limits | None = None,
    mirror: bool = False,
    headless: bool = False,
    fullscreen: bool = False,
    record: str | None = None,
    snapshot_dir: str = ".",
    outputs: Sequence[str] = (),
    as_json: bool = False,
    processor: FrameProcessor | None = None,
) -> int:
    """Run the live filter until q/Esc, the window closes, Ctrl-C, SIGTERM, the source ends
    or a limit. `source` is a camera, file, URL, image folder or 'testpattern'; `outputs`
    more sinks (realtime.sinks.open_sink). `processor` replaces the stylizer (tests)."""
    if not headless:
        from realtime.sinks.window import require_display

        require_display()  # before any slow work, and before cv2 could abort the process
    if record is not None:
        from realtime.sinks.ffmpeg_writer import check_video_output

        check_video_output(record)
    command = _Webcam(headless, fullscreen, mirror, snapshot_dir)
    command.record = record
    return run_live(
        command,
        source or LiveSourceOptions(),
        style=style,
        temporal=temporal,
        limits=limits,
        outputs=outputs,
        processor=processor,
        as_json=as_json,
    )


def _report_text(
    source: Source, stats: PipelineStats, summary: Mapping[str, Any], controller: LiveController
) -> str:
    """`summary` holds the processor's figures (keyframes: frames the stylizer ran on,
    None when it runs on every one; changed_share: its work as a share of full frames),
    first_frame_s (start-up: warm-up to the first frame shown)."""
    keyframes = summary.get("keyframes")
    lines = [
        f"{source.name}: {stats.frames_out} frames shown in {stats.elapsed_s:.1f} s "
        f"({stats.output_fps:.1f} fps out, {stats.input_fps:.1f} fps in, {stats.dropped} "
        f"stale frames dropped); processing {stats.stage_ms.get('process', 0):.0f} ms/frame; "
        f"capture-to-display {stats.latency_ms:.0f} ms (p95 {stats.latency_p95_ms:.0f})"
        + (
            f"; first frame {summary['first_frame_s']:.1f} s after start"
            if summary.get("first_frame_s") is not None
            else ""
        )
        + (f"; {keyframes} keyframes stylized" if keyframes is not None else "")
        + (
            f"; {summary['changed_share']:.0%} of the frame re-stylized on average"
            if "changed_share" in summary
            else ""
        )
    ]
    if summary.get("style_switch_ms") is not None:
        lines.append(f"style switch: {summary['style_switch_ms']} ms key-to-screen")
    lines += [f"recorded {p}" for p in controller.recordings]
    return "\n".join(lines)
