"""Pipeline: file mode never drops, live mode keeps latency bounded by dropping stale
frames, error policies, and clean stops (output says stop, Ctrl-C, SIGTERM) with no
thread left behind."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from helpers import ListSource

from realtime.pipeline import Channel, Pipeline
from realtime.sources.test_pattern import TestPatternSource


def slow(ms: float):
    def proc(img: np.ndarray) -> np.ndarray:
        time.sleep(ms / 1000)
        return 255 - img

    return proc


@pytest.fixture
def no_leaks():
    before = set(threading.enumerate())
    yield
    assert set(threading.enumerate()) <= before


def test_file_mode_never_drops_and_keeps_order(no_leaks):
    got = []
    src = ListSource(40)
    stats = Pipeline(src, slow(2), lambda f, out: got.append((f.index, int(out[0, 0, 0])))).run()
    assert got == [(i, 255 - i) for i in range(40)]
    assert stats.frames_in == stats.frames_out == 40 and stats.dropped == 0
    assert src.closed


def test_file_mode_with_slow_output_still_complete(no_leaks):
    got = []

    def out(f, img):
        time.sleep(0.003)
        got.append(f.index)

    Pipeline(ListSource(30), slow(0), out, queue_size=2).run()
    assert got == list(range(30))


@pytest.mark.slow
def test_live_mode_drops_stale_frames_and_bounds_latency(no_leaks):
    src = TestPatternSource(32, 24, fps=200, frames=120)  # a camera far faster than us
    shown = []
    stats = Pipeline(src, slow(25), lambda f, out: shown.append(f.index)).run()
    assert stats.dropped > 50
    assert shown == sorted(shown) and len(shown) < 60
    # each shown frame was fresh: waited at most about one processing time, not a queue
    assert stats.latency_ms < 90  # a 4-deep queue would give > 100 ms
    assert stats.stage_ms["process"] >= 24


def test_abort_policy_reraises(no_leaks):
    def bad(img):
        if img[0, 0, 0] == 5:
            raise ValueError("frame 5 is bad")
        return img

    got = []
    with pytest.raises(ValueError, match="frame 5"):
        Pipeline(ListSource(20), bad, lambda f, o: got.append(f.index)).run()
    assert got == list(range(5))


@pytest.mark.parametrize("policy, expected", [("skip", [0, 1, 2, 4]), ("passthrough", None)])
def test_skip_and_passthrough_policies(no_leaks, policy, expected):
    def bad(img):
        if img[0, 0, 0] == 3:
            raise RuntimeError("oops")
        return 255 - img

    got = []
    stats = Pipeline(
        ListSource(5), bad, lambda f, o: got.append((f.index, int(o[0, 0, 0]))), on_error=policy
    ).run()
    assert stats.failed == 1
    if policy == "skip":
        assert [i for i, _ in got] == expected
    else:  # the unprocessed frame keeps the file's length
        assert got == [(0, 255), (1, 254), (2, 253), (3, 3), (4, 251)]


def test_processor_changing_the_size_is_an_error(no_leaks):
    with pytest.raises(ValueError, match="changed the frame size"):
        Pipeline(ListSource(3), lambda img: img[:4], lambda f, o: None).run()


def test_output_returning_false_stops_everything(no_leaks):
    src = TestPatternSource(32, 24, fps=60)  # endless
    n = []

    def out(f, o):
        n.append(f.index)
        return len(n) < 5

    stats = Pipeline(src, slow(1), out).run()
    assert len(n) == 5 and stats.stopped_by_user


def test_ctrl_c_in_output_cleans_up(no_leaks):
    src = ListSource(10_000)
    p = Pipeline(src, slow(0), lambda f, o: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        p.run()
    assert p.final_stats.interrupted and src.closed


def test_sigterm_stops_like_ctrl_c(no_leaks):
    src = TestPatternSource(32, 24, fps=60)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    old = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(KeyboardInterrupt):
            Pipeline(src, slow(5), lambda f, o: None).run()
    finally:
        timer.join()
    assert signal.getsignal(signal.SIGTERM) == old  # handler restored


def test_max_frames_and_prepare_hook(no_leaks):
    got = []
    Pipeline(
        ListSource(50),
        lambda img: img,
        lambda f, o: got.append(o.shape),
        max_frames=7,
        prepare=lambda img: img[:, ::-1][:4],
    ).run()
    assert got == [(4, 8, 3)] * 7


def test_channel_bounded_in_both_modes():
    wait = Channel(2, drop_oldest=False)
    assert wait.put(1) and wait.put(2)
    t = threading.Thread(target=wait.put, args=(3,))
    t.start()
    time.sleep(0.05)
    assert t.is_alive()  # a full file queue makes the producer wait
    assert wait.get() == (True, 1)
    t.join(1)
    live = Channel(1, drop_oldest=True)
    for i in range(5):
        live.put(i)
    assert live.get() == (True, 4) and live.dropped == 4


def test_a_live_run_waits_for_the_processors_background_work(no_leaks):
    """Background keyframes (realtime.temporal) run on a worker the pipeline does not own:
    it closes the processor, so no such thread outlives the run."""
    from realtime.temporal import make_temporal_processor

    def stylize(img: np.ndarray) -> np.ndarray:
        time.sleep(0.05)  # a keyframe still running when the run ends
        return 255 - img

    process = make_temporal_processor(stylize, keyframe_every=2, background=True)
    with TestPatternSource(64, 48, 100.0) as src:
        stats = Pipeline(src, process, lambda f, out: None, live=True, max_frames=30).run()
    assert stats.frames_out > 0 and process.keyframes >= 1


def test_file_mode_with_two_workers_overlaps_frames_and_keeps_order(no_leaks):
    both_in = threading.Barrier(2, timeout=5)  # breaks unless two calls overlap
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.01, 40)

    def proc(img: np.ndarray) -> np.ndarray:
        both_in.wait()
        time.sleep(delays[int(img[0, 0, 0])])  # frames finish out of order
        return 255 - img

    proc.max_in_flight = 2  # it declares that it keeps no state between frames
    got = []
    stats = Pipeline(
        ListSource(40), proc, lambda f, out: got.append((f.index, int(out[0, 0, 0])))
    ).run()
    assert got == [(i, 255 - i) for i in range(40)]
    assert stats.frames_out == 40 and stats.failed == 0


def test_live_mode_ignores_max_in_flight():
    proc = slow(1)
    proc.max_in_flight = 4
    with TestPatternSource(16, 16, 100.0) as src:
        assert Pipeline(src, proc, lambda f, out: None).workers == 1


def test_a_processor_that_declares_nothing_gets_one_frame_at_a_time():
    assert Pipeline(ListSource(3), lambda img: img, lambda f, out: None).workers == 1
