"""`stylize-video webcam`: the live art filter (camera, stream, file or test pattern).

Live mode: the processor always gets the newest frame; a window with a HUD shows the
result and the keys change style, strength and view between frames (see HELP_LINES).
`headless` runs the same loop with no window (optionally recording to a file).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from realtime.frame import (
    Frame,
    FrameProcessor,
    processor_summary,
)
from realtime.jobs.assembly import JobRun, LiveCommand, run_live
from realtime.jobs.settings import LiveOptions
from realtime.live_keys import LiveController, ShownRate, StyleTracking
from realtime.pipeline import Pipeline, PipelineStats
from realtime.sinks.base import Sink
from realtime.sources.base import Source


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
        self.shown = ShownRate()

    def wrap(self, stylizer: FrameProcessor, chain: FrameProcessor) -> FrameProcessor:
        self.stylizer = stylizer
        self.tracking = StyleTracking(chain, stylizer)
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
    live: LiveOptions | None = None,
    *,
    mirror: bool = False,
    headless: bool = False,
    fullscreen: bool = False,
    record: str | None = None,
    snapshot_dir: str = ".",
    as_json: bool = False,
    processor: FrameProcessor | None = None,
) -> int:
    """Run the live filter until q/Esc, the window closes, Ctrl-C, SIGTERM, the source ends
    or a limit. `processor` replaces the stylizer (tests)."""
    if not headless:
        from realtime.sinks.window import require_display

        require_display()  # before any slow work, and before cv2 could abort the process
    if record is not None:
        from realtime.sinks.ffmpeg_writer import check_video_output

        check_video_output(record)
    command = _Webcam(headless, fullscreen, mirror, snapshot_dir)
    command.record = record
    return run_live(command, live or LiveOptions(), processor=processor, as_json=as_json)


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
