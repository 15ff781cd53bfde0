"""Scale-out on Ray (realtime/segments.py, realtime/jobs/cluster.py): segment planning and
joining without Ray, then whole jobs on a local Ray instance (2 CPUs) and on two simulated
nodes (ray.cluster_utils.Cluster). The stylizer is a cheap deterministic numpy fake; clips
are tiny."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ray_temp_dir
from motion_clips import translating_clip
from video_clips import FF, make_clip, processes_mentioning, read_frames, stream_times

from models.errors import UserError
from models.optimize import OptimizeSettings
from realtime.jobs import settings
from realtime.segments import (
    FrameScan,
    Planner,
    SegmentWork,
    WindowedSource,
    concat_list,
    folder_outputs,
    join_scans,
    plan_segments,
    scan_chunks,
    scan_frames,
    scene_cuts,
)

ROOT = Path(__file__).resolve().parents[1]


# --- fakes (pickled by value into the actors) ----------------------------------------------


class Invert:
    """Factory of a pointwise fake stylizer."""

    def __call__(self):
        return lambda image: 255 - image


class Flicker:
    """Factory of a fake that flickers like a per-frame network (a colour offset that
    changes every frame) but deterministically: the offset is seeded by the frame's
    bytes, so one process and many produce the same frames."""

    def __call__(self):
        def stylize(image: np.ndarray) -> np.ndarray:
            rng = np.random.default_rng(zlib.crc32(image.tobytes()))
            jitter = rng.integers(-40, 41, size=3)
            return np.clip(255 - image.astype(np.int16) + jitter, 0, 255).astype(np.uint8)

        return stylize


class FakeOptimizerFactory:
    """(optimizer, fast) for --method optimize: inverts each keyframe."""

    def __call__(self):
        from models.optimize import OptimizeResult, OptimizeSettings

        class Opt:
            settings = OptimizeSettings(iterations=3)

            def run(self, content, init=None, *, temporal_target=None, temporal_mask=None,
                    progress=None):  # fmt: skip
                return OptimizeResult(
                    image=(1.0 - content).astype(np.float32),
                    history=[2.0, 1.0],
                    iterations=1,
                    evaluations=2,
                    seconds=0.0,
                )

        return Opt(), None


def _register_by_value() -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --- clips ---------------------------------------------------------------------------------


def write_frames(path: Path, frames: list[np.ndarray], fps: int = 30, audio: float = 0) -> Path:
    h, w = frames[0].shape[:2]
    cmd = [FF, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={audio}", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv444p"]
    subprocess.run([*cmd, str(path)], input=np.stack(frames).tobytes(), check=True)
    return path


def cut_clip(path: Path) -> Path:
    """1 s of testsrc2 then 1 s of a different picture (a hard scene cut at frame 30)."""
    a = make_clip(path.with_name("a_" + path.name), fps=30, seconds=1.0)
    frames = list(read_frames(a))
    other = translating_clip(30, 64, 96, seed=5)
    return write_frames(path, frames + other, audio=2.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("clip") / "c.mp4", fps=30, seconds=3.0, audio_seconds=3.0
    )


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    temp = ray_temp_dir()
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error",
                 _temp_dir=str(temp))  # fmt: skip
    _register_by_value()
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


def run(input, output, *, capsys, **kw) -> dict:
    """run_cluster with ClusterOptions' fields given as keyword arguments."""
    from realtime.jobs.cluster import run_cluster

    fields = ("workers", "segment_seconds", "resume", "keep_work")
    kw["cluster"] = settings.ClusterOptions(**{k: kw.pop(k) for k in fields if k in kw})
    capsys.readouterr()
    assert run_cluster(str(input), str(output), as_json=True, **kw) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# --- without Ray ---------------------------------------------------------------------------


def test_without_ray_the_options_name_the_extra(monkeypatch, capsys, clip, tmp_path) -> None:
    real_import = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    import stylize_video

    for opt in (["--workers", "2"], ["--ray-address", "auto"]):
        assert stylize_video.main(["video", str(clip), "-o", str(tmp_path / "o.mp4"), *opt]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "pip install 'stylize-video[cluster]'" in err[0]
    assert not (tmp_path / "o.mp4").exists()


def test_resume_alone_and_image_folders_are_refused(capsys, clip, tmp_path) -> None:
    import stylize_video

    assert stylize_video.main(["video", str(clip), "-o", str(tmp_path / "o.mp4"), "--resume"]) == 2
    assert "--workers" in capsys.readouterr().err
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0001.png").write_bytes(b"")
    from realtime.jobs.cluster import _inputs

    with pytest.raises(UserError, match="folder of video files"):
        _inputs(str(frames), str(tmp_path / "out"))


def test_an_address_nothing_answers_at_is_one_line_and_leaves_nothing(capsys, clip, tmp_path):
    import socket

    import stylize_video

    with socket.socket() as s:  # a port nothing listens on (bound, then closed)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "o.mp4"
    code = stylize_video.main(["video", str(clip), "-o", str(out), "--ray-address",
                               f"127.0.0.1:{port}"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"--ray-address 127.0.0.1:{port}: nothing answers" in err[0]
    assert list(tmp_path.iterdir()) == []  # no OUT.work/
    assert stylize_video.main(["video", str(clip), "-o", str(out), "--ray-address", "x:1:y"]) == 2
    assert "give host:port" in capsys.readouterr().err


@pytest.mark.slow
def test_an_address_where_something_else_listens_gives_up_in_one_line(clip, tmp_path):
    """A port that accepts connections but is no Ray head: Ray would retry for minutes."""
    import socket

    script = textwrap.dedent(
        """
        import sys
        import realtime.jobs.cluster as cluster
        cluster.CONNECT_TIMEOUT = 2.0
        import stylize_video
        sys.exit(stylize_video.main(sys.argv[1:]))
        """
    )
    out = tmp_path / "o.mp4"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        r = subprocess.run(
            [sys.executable, "-c", script, "video", str(clip), "-o", str(out), "--ray-address",
             address],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert f"--ray-address {address}: no Ray cluster answered within 2 s" in lines[0]
    assert list(tmp_path.iterdir()) == []


class _FakeRay:
    """What _connect asks of a running Ray (a caller's): its CPUs and memory."""

    def __init__(self, cpus: float, memory: float) -> None:
        self.resources = {"CPU": cpus, "memory": memory}

    def is_initialized(self) -> bool:
        return True

    def cluster_resources(self) -> dict[str, float]:
        return self.resources


def test_workers_are_capped_by_the_cluster_s_cpus_and_memory() -> None:
    from realtime.jobs.cluster import WORKER_BYTES, _connect

    said: list[str] = []
    got = _connect(_FakeRay(16, 2.5 * WORKER_BYTES), 8, None, 100, said.append)
    assert got.workers == 2 and len(said) == 1
    assert said[0].startswith("--workers 8:") and "memory" in said[0] and said[0].endswith("2")
    said.clear()
    got = _connect(_FakeRay(3, 64 * WORKER_BYTES), 8, None, 100, said.append)
    assert got.workers == 3 and "3 CPUs" in said[0]
    # by default one per CPU, and never more than there are segments
    assert _connect(_FakeRay(6, 64 * WORKER_BYTES), None, None, 4, said.append).workers == 4


def _scan(times: list[float], cuts: tuple[int, ...] = ()) -> FrameScan:
    scene = np.zeros(len(times))
    scene[list(cuts)] = 0.6
    return FrameScan(np.asarray(times, np.float64), scene, None)


def test_plan_cuts_at_scene_cuts_and_by_the_clock() -> None:
    scan = _scan([i / 10 for i in range(100)], cuts=(33,))  # 10 s at 10 fps
    segs = plan_segments(scan, seconds=2.0, warmup=5)
    starts = [s.first for s in segs]
    assert starts == [0, 20, 33, 53, 73, 93]  # the clock restarts at the cut
    assert [s.cut for s in segs] == [False, False, True, False, False, False]
    assert segs[0].warmup == 0 and all(s.warmup == 5 for s in segs[1:])
    # every frame in exactly one segment; bounds halfway between frame times
    assert sum(s.frames for s in segs) == 100 and segs[-1].stop == 100
    assert segs[1].start == pytest.approx(1.95) and segs[0].end == pytest.approx(1.95)
    # a clock cut that would leave a stub before a scene cut is skipped
    segs = plan_segments(_scan([i / 10 for i in range(100)], cuts=(41,)), seconds=2.0)
    assert [s.first for s in segs] == [0, 20, 41, 61, 81]
    # shots only, keyframe-aligned clock cuts, a --start/--end range
    assert [s.first for s in plan_segments(scan, seconds=None)] == [0, 33]
    assert [s.first for s in plan_segments(scan, seconds=2.0, align=8)] == [0, 24, 33, 57, 81]
    sub = plan_segments(scan, seconds=2.0, warmup=5, first=10, stop=40)
    assert [(s.first, s.stop, s.warmup) for s in sub] == [(10, 33, 0), (33, 40, 5)]


def test_scan_finds_frame_times_and_the_cut(tmp_path) -> None:
    scan = scan_frames(cut_clip(tmp_path / "cut.mp4"))
    assert scan.frames == 60
    assert np.allclose(np.diff(scan.pts), 1 / 30, atol=1e-6)
    assert scene_cuts(scan) == [30]


def test_scan_in_pieces_plans_as_the_whole(tmp_path) -> None:
    """Converting starts while the scan goes on: pieces scanned from a little earlier
    give every frame once with its true scene score, and the segments planned piece by
    piece are the ones planned on the whole scan."""
    src = cut_clip(tmp_path / "cut.mp4")
    whole = scan_frames(src)
    parts = list(scan_chunks(src, chunk_seconds=0.4))
    assert len(parts) == 5
    joined = join_scans(parts)
    assert np.allclose(joined.pts, whole.pts, atol=1e-6) and scene_cuts(joined) == [30]
    planner = Planner(seconds=0.5, warmup=3)
    segs, early = [], 0
    for i, p in enumerate(parts):
        new = planner.add(p)
        early += len(new) if i < len(parts) - 1 else 0
        segs += new
    segs += planner.finish()
    key = [(x.first, x.stop, x.warmup, x.cut) for x in segs]
    assert key == [(x.first, x.stop, x.warmup, x.cut) for x in plan_segments(whole, seconds=0.5,
                                                                             warmup=3)]  # fmt: skip
    assert early >= 2  # segments were handed out before the scan ended


def test_window_is_frame_exact_with_warmup(clip) -> None:
    scan = scan_frames(clip)
    seg = plan_segments(scan, seconds=1.0, warmup=4)[1]
    whole = read_frames(clip)
    with WindowedSource(str(clip), start=seg.start, end=seg.end, warmup=4) as src:
        frames = list(src)
    warm = [f for f in frames if WindowedSource.is_warmup(f)]
    kept = [f for f in frames if not WindowedSource.is_warmup(f)]
    assert len(warm) == 4 and len(kept) == seg.frames == 30
    got = np.stack([f.image for f in warm + kept])
    assert np.array_equal(got, whole[seg.first - 4 : seg.stop])


def test_work_folder_keeps_or_drops_segments(tmp_path) -> None:
    w = SegmentWork(tmp_path / "o.mp4.work", "k1", resume=False, log=lambda m: None)
    w.save(3, b"abc")
    assert SegmentWork(w.path, "k1", resume=True, log=lambda m: None).done() == {3}
    assert SegmentWork(w.path, "k1", resume=False, log=lambda m: None).done() == set()
    w.save(1, b"x")
    assert SegmentWork(w.path, "k2", resume=True, log=lambda m: None).done() == set()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "f").write_text("x")
    with pytest.raises(UserError, match="not a stylize-video work folder"):
        SegmentWork(tmp_path / "junk", "k", resume=True)


def test_concat_list_and_folder_names(tmp_path) -> None:
    text = concat_list([tmp_path / "it's.mp4"])
    assert "file '" in text and "it'\\''s.mp4'" in text
    outs = folder_outputs([tmp_path / "a.mp4", tmp_path / "a.mov", tmp_path / "b.mkv"], "out")
    assert [p.name for p in outs] == ["a_mp4.mp4", "a_mov.mp4", "b.mp4"]
    (tmp_path / "file.mp4").write_bytes(b"")
    with pytest.raises(UserError, match="output folder"):
        folder_outputs([tmp_path / "a.mp4"], tmp_path / "file.mp4")


# --- jobs on local Ray -----------------------------------------------------------------------


@pytest.mark.slow
def test_segmented_job_equals_the_single_process_one(local_ray, clip, tmp_path, capsys) -> None:
    from realtime.jobs.video import convert_video

    out = tmp_path / "out.mp4"
    summary = run(clip, out, capsys=capsys, factory=Invert(), segment_seconds=1.0)
    assert summary["segments"] == 3 and summary["frames"] == 90
    assert sum(w["frames"] for w in summary["workers"]) == 90
    assert len(summary["workers"]) == 2 and all(w["fps"] > 0 for w in summary["workers"])
    src_v, out_v = stream_times(clip), stream_times(out)
    assert out_v.count == src_v.count == 90
    assert out_v.duration == pytest.approx(src_v.duration, abs=1e-6)
    assert stream_times(out, "a").duration == pytest.approx(
        stream_times(clip, "a").duration, abs=0.05
    )
    assert not out.with_name("out.mp4.work").exists()  # removed after success
    single = tmp_path / "single.mp4"
    convert_video(str(clip), str(single), processor=Invert()(), progress=False, as_json=True)
    a, b = read_frames(out).astype(np.int16), read_frames(single).astype(np.int16)
    ideal = 255 - read_frames(clip).astype(np.int16)
    assert a.shape == b.shape == ideal.shape
    # within encoder tolerance: as close to the ideal frames as the single-process file
    err_a, err_b = np.abs(a - ideal).mean(), np.abs(b - ideal).mean()
    assert err_a <= 1.1 * err_b + 0.2
    # and frame for frame: each is nearer its own single-process frame than a neighbour
    same = np.abs(a - b).mean(axis=(1, 2, 3))
    shifted = np.abs(a[1:] - b[:-1]).mean(axis=(1, 2, 3))
    assert np.all(same[1:] < shifted)


def _seam_ratio(src: Path, out: Path, seams: list[int]) -> float:
    from realtime.metrics import warping_errors

    errors = np.asarray(warping_errors(read_frames(src), read_frames(out)))
    straddle = [errors[s - 1] for s in seams]  # pair (s-1, s)
    inside = np.delete(errors, [s - 1 for s in seams])
    return float(np.mean(straddle) / np.mean(inside))


@pytest.mark.slow
def test_seams_hold_the_temporal_filter(local_ray, tmp_path, capsys) -> None:
    src = write_frames(tmp_path / "pan.mp4", translating_clip(60, 64, 96, dx=2, dy=1))
    job = settings.FastJob(temporal=settings.TemporalOptions(temporal=0.7))
    out = tmp_path / "out.mp4"
    s = run(src, out, capsys=capsys, factory=Flicker(), job=job, segment_seconds=0.5)
    assert s["segments"] == 4
    seams = [15, 30, 45]
    assert _seam_ratio(src, out, seams) <= 1.2
    # without the warm-up frames the seams show (what the bound above guards against)
    cold = tmp_path / "cold.mp4"
    run(src, cold, capsys=capsys, factory=Flicker(), job=job, segment_seconds=0.5,
        warmup_frames=0)  # fmt: skip
    assert _seam_ratio(src, cold, seams) > 1.5


@pytest.mark.slow
def test_a_killed_worker_s_segment_is_retried(local_ray, clip, tmp_path, capsys) -> None:
    marker = tmp_path / "killed"
    out = tmp_path / "out.mp4"
    s = run(clip, out, capsys=capsys, factory=Invert(), segment_seconds=1.0,
            kill_marker={1: str(marker)})  # fmt: skip
    assert marker.exists()  # a worker did die
    assert sum(w["retries"] for w in s["workers"]) == 1
    assert stream_times(out).count == 90 and s["converted_frames"] == 90
    # the killed worker's copy of its input is gone with the others'
    assert not list(Path(tempfile.gettempdir()).glob("sv-worker-*"))


@pytest.mark.slow
def test_workers_follow_the_real_frame_rate_and_the_cluster(local_ray, tmp_path, capsys):
    """A 12.5 fps clip in two segments gets two workers (not one, as at an assumed
    30 fps); asking for more workers than the CPUs Ray has gets as many as it has."""
    src = make_clip(tmp_path / "slow.mp4", fps=12.5, seconds=4.0)
    s = run(src, tmp_path / "a.mp4", capsys=capsys, factory=Invert(), segment_seconds=2.0)
    assert s["segments"] == 2 and [w["segments"] for w in s["workers"]] == [1, 1]
    s = run(src, tmp_path / "b.mp4", capsys=capsys, factory=Invert(), segment_seconds=1.0,
            workers=5)  # fmt: skip
    assert len(s["workers"]) == 2 and s["frames"] == 50


@pytest.mark.slow
def test_resume_after_an_interrupt(local_ray, clip, tmp_path, capsys, monkeypatch) -> None:
    from realtime import segments

    out = tmp_path / "out.mp4"
    real_save = segments.SegmentWork.save

    def save_then_interrupt(self, index, data):
        real_save(self, index, data)
        raise KeyboardInterrupt

    monkeypatch.setattr(segments.SegmentWork, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(clip, out, capsys=capsys, factory=Invert(), segment_seconds=1.0)
    monkeypatch.undo()
    assert not out.exists()  # only a complete file appears
    assert len(list(Path(f"{out}.work").glob("seg_*.mp4"))) == 1
    s = run(clip, out, capsys=capsys, factory=Invert(), segment_seconds=1.0, resume=True)
    assert s["resumed_segments"] == 1 and s["converted_frames"] == 60
    assert stream_times(out).count == 90
    # without --resume the kept segments are not used
    monkeypatch.setattr(segments.SegmentWork, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(clip, tmp_path / "o2.mp4", capsys=capsys, factory=Invert(), segment_seconds=1.0)
    monkeypatch.undo()
    s = run(clip, tmp_path / "o2.mp4", capsys=capsys, factory=Invert(), segment_seconds=1.0)
    assert s["resumed_segments"] == 0 and s["converted_frames"] == 90


@pytest.mark.slow
def test_uneven_frame_times_survive_the_join(local_ray, tmp_path, capsys) -> None:
    """A variable-frame-rate clip (a 0.5 s pause after frame 10): each part is placed
    at its first frame's time, not after the previous part's guessed last interval."""
    src = make_clip(tmp_path / "vfr.mp4", fps=30, seconds=1.5, vfr_gap=0.5)
    out = tmp_path / "out.mp4"
    s = run(src, out, capsys=capsys, factory=Invert(), segment_seconds=0.3)
    assert s["segments"] >= 4
    a, b = stream_times(src), stream_times(out)
    assert a.count == b.count
    assert np.allclose(np.asarray(a.pts) - a.pts[0], np.asarray(b.pts) - b.pts[0], atol=2e-3)


@pytest.mark.slow
def test_folder_of_videos_gives_a_folder(local_ray, clip, tmp_path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "one.mp4", fps=25, seconds=1.0)
    make_clip(folder / "two.mov", fps=30, seconds=2.0, audio_seconds=2.0)
    (folder / "notes.txt").write_text("not a video")
    make_clip(folder / "three.mp4", fps=30, seconds=0.5)
    s = run(folder, tmp_path / "out", capsys=capsys, factory=Invert(), segment_seconds=10.0,
            workers=2)  # fmt: skip
    assert sorted(Path(p).name for p in s["outputs"]) == ["one.mp4", "three.mp4", "two.mp4"]
    # one segment a file, and every worker has some (3 short clips once ran on 1 worker)
    assert s["segments"] == 3 and all(w["segments"] for w in s["workers"])
    assert len(s["workers"]) == 2
    assert stream_times(tmp_path / "out" / "one.mp4").count == 25
    assert stream_times(tmp_path / "out" / "two.mp4").count == 60
    assert stream_times(tmp_path / "out" / "two.mp4", "a") is not None
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left


@pytest.mark.slow
def test_optimize_spreads_shots(local_ray, tmp_path, capsys, style_png) -> None:
    src = cut_clip(tmp_path / "cut.mp4")
    out = tmp_path / "out.mp4"
    opt = settings.OptimizeOptions(str(style_png), OptimizeSettings(), keyframe_every=4)
    s = run(src, out, capsys=capsys, job=settings.OptimizeJob(opt, settings.ClipOptions()),
            factory=FakeOptimizerFactory())  # fmt: skip
    assert s["segments"] == 2  # two shots, each a warm-start chain
    assert {w["frames"] for w in s["workers"]} == {30}
    # the same chains as one process makes (its engine starts a new chain at the cut)
    from realtime.jobs.video import optimize_video

    single = tmp_path / "single.mp4"
    opt, _ = FakeOptimizerFactory()()
    optimize_video(str(src), str(single), style=str(style_png), keyframes={"every": 4},
                   size=None, optimizer=opt, as_json=True, progress=False)  # fmt: skip
    a, b = read_frames(out).astype(np.int16), read_frames(single).astype(np.int16)
    assert a.shape == b.shape and np.abs(a - b).mean() < 3  # x264 noise only


@pytest.mark.slow
def test_cli_run_leaves_no_ray_process(tmp_path) -> None:
    """The command starts Ray itself; after it ends (finished, interrupted by Ctrl-C, or by
    SIGTERM like Ctrl-C: exit 130, segments kept, no Ray stack dump) no raylet or
    gcs_server remains, and none of Ray's files. Ray's files go under a temp dir of this
    test (RAY_TMPDIR) to find them."""
    pytest.importorskip("ray")
    clip = make_clip(tmp_path / "c.mp4", fps=30, seconds=2.0)
    ray_tmp = ray_temp_dir()
    script = textwrap.dedent(
        f"""
        import functools, sys, time
        import realtime.jobs.cluster as cluster
        from realtime.jobs.settings import ClusterOptions

        class Slow:
            def __init__(self, delay):
                self.delay = delay

            def __call__(self):
                def f(image):
                    time.sleep(self.delay)
                    return 255 - image
                return f

        if sys.argv[1] == "cli":  # the real command line, with the slow fake in each worker
            cluster.run_cluster = functools.partial(cluster.run_cluster, factory=Slow(0.1))
            import stylize_video
            sys.exit(stylize_video.main(["video", {str(clip)!r}, "-o", sys.argv[2],
                                         "--workers", "2", "--segment-seconds", "0.5"]))
        cluster.run_cluster({str(clip)!r}, sys.argv[2],
                            cluster=ClusterOptions(workers=2, segment_seconds=0.5),
                            factory=Slow(float(sys.argv[1])), progress=False)
        """
    )
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "PYTHONPATH": str(ROOT)}

    def interrupted(out: Path, how: str, sig: int) -> tuple[int, str]:
        p = subprocess.Popen([sys.executable, "-c", script, how, str(out)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not list(Path(f"{out}.work").glob("seg_*.mp4")):
            time.sleep(0.2)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert not out.exists()
        assert list(Path(f"{out}.work").glob("seg_*.mp4"))
        return p.returncode, err

    try:
        r = subprocess.run([sys.executable, "-c", script, "0", str(tmp_path / "done.mp4")],
                           env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        assert stream_times(tmp_path / "done.mp4").count == 60
        assert not processes_mentioning(str(ray_tmp))
        assert list(ray_tmp.iterdir()) == []  # Ray ran there and its files are gone
        # interrupted part-way: finished segments are kept, nothing else survives
        rc, _ = interrupted(tmp_path / "cut.mp4", "0.1", signal.SIGINT)
        assert rc != 0
        rc, err = interrupted(tmp_path / "term.mp4", "cli", signal.SIGTERM)
        assert rc == 130, err
        lines = [ln for ln in err.replace("\r", "\n").splitlines() if "frame/s" not in ln]
        assert "SIGTERM" not in err and "***" not in err, err
        assert any("kept in" in ln and "rerun with --resume" in ln for ln in lines), err
        time.sleep(1)
        assert not processes_mentioning(str(ray_tmp))
        assert list(ray_tmp.iterdir()) == []
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.slow
def test_two_nodes(clip, tmp_path, capsys, monkeypatch) -> None:
    """Two simulated nodes (ray.cluster_utils.Cluster): workers spread over both; the
    input goes to each through the object store. Runs last: it replaces the local Ray."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    ray.shutdown()
    temp = ray_temp_dir()
    monkeypatch.setenv("RAY_TMPDIR", str(temp))  # the cluster's files, removed after it
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    try:
        cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False, logging_level="error")
        _register_by_value()
        out = tmp_path / "out.mp4"
        s = run(clip, out, capsys=capsys, factory=Invert(), segment_seconds=1.0, workers=2)
        assert len({w["node"] for w in s["workers"]}) == 2
        assert stream_times(out).count == 90
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
