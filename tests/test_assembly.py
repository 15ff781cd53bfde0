"""The one job assembly (realtime.jobs.assembly.run_job): what reaches the sinks, and how
sinks, source and processor are torn down on success, interrupt and error."""

from __future__ import annotations

import json
import os
import signal
import time
from fractions import Fraction

import numpy as np
import pytest
from helpers import ListSource

from realtime.frame import Frame
from realtime.jobs.assembly import run_job
from realtime.sinks.base import Sink


class RecordingSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.name = "recording"
        self.events: list[str] = []
        self.pixels: list[int] = []
        self.time_base: Fraction | None = None

    def open(self, time_base: Fraction | None) -> None:
        self.events.append("open")
        self.time_base = time_base

    def write(self, frame: Frame) -> None:
        self.check_frame(frame)
        self.pixels.append(int(frame.image[0, 0, 0]))
        self.frames += 1

    def close(self) -> None:
        self.events.append("close")

    def abort(self) -> None:
        self.events.append("abort")


class TimedSource(ListSource):
    time_base = Fraction(1, 25)


def test_every_sink_gets_the_view_of_every_frame_after_open_and_is_closed() -> None:
    src = TimedSource(6)
    a, b = RecordingSink(), RecordingSink()
    seen = []
    run = run_job(
        src,
        lambda img: 255 - img,
        [a, b],
        view=lambda frame, out: out // 5,
        on_output=lambda frame, out: seen.append(int(out[0, 0, 0])),
    )
    assert not run.interrupted and run.stats.frames_out == 6
    assert seen == [255 - i for i in range(6)]  # on_output sees the processor's output
    for sink in (a, b):
        assert sink.pixels == [(255 - i) // 5 for i in range(6)]
        assert sink.events == ["open", "close"] and sink.time_base == Fraction(1, 25)
    assert src.closed


def test_a_processor_error_aborts_every_sink_and_closes_the_source() -> None:
    def fail_on_third(img: np.ndarray) -> np.ndarray:
        if img[0, 0, 0] == 2:
            raise RuntimeError("boom")
        return img

    src, sink = ListSource(10), RecordingSink()
    with pytest.raises(RuntimeError, match="boom"):
        run_job(src, fail_on_third, [sink])
    assert sink.events == ["open", "abort"] and sink.pixels == [0, 1]
    assert src.closed


def test_an_interrupt_keeps_the_output_and_comes_back_as_a_flag() -> None:
    def interrupt_at_fourth(img: np.ndarray) -> np.ndarray:
        if img[0, 0, 0] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
        return img

    sink = RecordingSink()
    run = run_job(ListSource(50), interrupt_at_fourth, [sink])
    assert run.interrupted
    assert sink.events == ["open", "close"]  # closed, not aborted: the work is kept
    assert 4 <= len(sink.pixels) < 50 and sink.pixels == list(range(len(sink.pixels)))


def test_a_stream_processor_drives_its_own_loop_through_the_same_sinks() -> None:
    class EveryOther:
        def run(self, frames, emit) -> int:
            n = 0
            for frame in frames:
                if frame.index % 2 == 0:
                    emit(frame)
                    n += 1
            return n

    sink = RecordingSink()
    run = run_job(TimedSource(7), EveryOther(), [sink])
    assert run.result == 4 and sink.pixels == [0, 2, 4, 6]
    assert sink.events == ["open", "close"] and run.stats.frames_out == 4


def test_a_sink_refuses_a_frame_of_another_size() -> None:
    sink = RecordingSink()
    sink.write(Frame(np.zeros((8, 8, 3), np.uint8), 0.0, 0))
    with pytest.raises(ValueError, match="recording: frame 1 is"):
        sink.write(Frame(np.zeros((8, 9, 3), np.uint8), 0.04, 1))
    with pytest.raises(ValueError, match="expected RGB uint8"):
        sink.write(Frame(np.zeros((8, 8, 3), np.float32), 0.08, 2))


class WarmingProcessor:
    def __init__(self) -> None:
        self.events: list[str] = []

    def warm_up(self) -> None:
        time.sleep(0.05)
        self.events.append("warm_up")

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.events.append("frame")
        return image


def test_a_live_job_warms_the_processor_up_before_the_first_frame(capsys) -> None:
    from realtime.jobs.assembly import LiveCommand, run_live
    from realtime.jobs.settings import Limits, LiveOptions, LiveSourceOptions

    proc = WarmingProcessor()
    source = LiveSourceOptions("testpattern", width=32, height=24, fps=30)
    live = LiveOptions(source, limits=Limits(max_frames=3))
    run_live(LiveCommand(), live, processor=proc, as_json=True)
    assert proc.events[0] == "warm_up" and proc.events.count("warm_up") == 1
    # start-up is reported from the job's start, warm-up included
    assert json.loads(capsys.readouterr().out)["first_frame_s"] >= 0.05


def test_a_file_job_does_not_warm_up() -> None:
    proc = WarmingProcessor()
    run_job(TimedSource(3), proc, [RecordingSink()], live=False)
    assert "warm_up" not in proc.events
