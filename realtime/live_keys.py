"""The webcam window's keys and what they change: style, strength, colours, side by
side, mirror, snapshots and r-key recordings (`LiveController`); the rate of frames shown
(`ShownRate`); which style each output was made in (`StyleTracking`). No window here:
realtime.sinks.window draws and reads the keys."""

from __future__ import annotations

import os
import time
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
from realtime.pipeline import PipelineStats


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


class ShownRate:
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


class StyleTracking:
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
