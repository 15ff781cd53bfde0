"""`stylize-video video --workers N | --ray-address ADDR`: one job spread over Ray actors.

The driver (this process) scans each input once (frame times and scene scores, a cheap
ffmpeg pass at 64 px, in 30 s pieces on a thread beside everything else), plans segments
as the scan goes (realtime/segments.py: at scene cuts, else every `segment_seconds`,
frame-exact, each starting `warmup` frames early), puts each input file's bytes into
Ray's object store once, and hands each segment to the next free actor of a pool as soon
as it is planned. Each
actor loads the stylizer once (its CPU threads capped so N actors do not oversubscribe the
cores), keeps a local copy of each input it was sent, converts its segment with the
single-process job (realtime.jobs.video.convert_video with exact bounds, warm-up frames
and no audio) and returns the encoded bytes: no shared filesystem is needed. The driver
saves each finished segment in OUTPUT.work/ (keyed by a hash of input and settings), and
when a file's segments are all there, joins them by stream copy, muxes the source audio
once and renames the result into place.

`--method optimize`: segments are shots (split only at scene cuts); each actor runs the
offline keyframe engine (realtime/offline.py) over its shot, the keyframe chain in order.

Faults: an actor that dies has its segment put back in the queue for the next free actor
and is replaced; a segment that kills `max_retries` + 1 actors ends the job. Ctrl-C keeps
the finished segments; `resume=True` continues from them. Ray started here is shut down
in `finally`, so no raylet or gcs_server outlives the command.

Ray is an optional extra, imported only here and only when these options are given.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import queue
import shutil
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from models.atomic import private_temp_dir
from models.errors import UserError
from realtime import validate
from realtime.jobs.assembly import progress_bar
from realtime.jobs.settings import (
    ClipOptions,
    ClusterOptions,
    FastJob,
    OptimizeJob,
    OptimizeOptions,
    TemporalOptions,
)
from realtime.pipeline import sigterm_as_interrupt
from realtime.segments import (
    Planner,
    Segment,
    SegmentWork,
    folder_outputs,
    join_segments,
    scan_chunks,
    video_folder_files,
    work_key,
)

EXTRA = "pip install 'stylize-video[cluster]'"
WORKER_PREFIX = "sv-worker-"  # + pid: each actor's copy of its inputs, in the temp folder
# What one actor holds at most (TensorFlow, the stylizer, a segment's frames), measured
# on the 640x360 fast path: --workers is capped by the memory Ray reports.
WORKER_BYTES = 750 * 2**20
ADDRESS_TIMEOUT = 5.0  # seconds to reach --ray-address before telling the user
CONNECT_TIMEOUT = 15.0  # seconds for Ray to join the cluster there (it retries for minutes)
# Frames processed before each seam: the temporal filter's memory of the state it starts
# from decays as temporal^n (0.7^10 = 0.03); bench_cluster.py counts what they cost.
WARMUP_FRAMES = 10


def import_ray():
    """Ray, or a one-line UserError naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise UserError(f"--workers/--ray-address need Ray: {EXTRA}") from None
    return ray


# --- the actor ----------------------------------------------------------------------------


class Worker:
    """One Ray actor (this class is wrapped by ray.remote in `_actor_class`). Builds its
    stylizer (or VGG optimizer) once and converts segments with it."""

    def __init__(self, job: FastJob | OptimizeJob, threads: int, factory=None):
        t0 = time.monotonic()
        self.job = job
        self.task = ""
        self.current = 0
        self._inputs: dict[str, str] = {}
        # named for this process: a later worker on the node removes it if this one is killed
        self._tmp = str(private_temp_dir(WORKER_PREFIX))
        if factory is None and threads and isinstance(job, OptimizeJob):
            # VGG runs on TensorFlow: set its threads before it runs anything in this
            # process, so N workers share the cores (the stylizer takes `threads` itself)
            from models.tf_runtime import import_tensorflow

            tf = import_tensorflow()
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(max(1, threads))
        self.processor: Any = None
        self.optimizer: Any = None
        self.fast: Any = None
        if isinstance(job, OptimizeJob):
            self._load_optimizer(job.optimize, factory)
        elif factory is not None:
            self.processor = factory()
        else:
            from realtime.jobs.assembly import build_stylizer

            self.processor = build_stylizer(job.style, threads=threads or None)
        self.load_seconds = time.monotonic() - t0

    def _load_optimizer(self, opt: OptimizeOptions, factory) -> None:
        if factory is not None:
            self.optimizer, self.fast = factory()
            return
        from models.images import load_image
        from models.optimize import StyleOptimizer, make_extractor

        settings, style = opt.settings, opt.style  # run_cluster resolved the painting's path
        self.optimizer = StyleOptimizer(make_extractor(settings), load_image(style)[0], settings)
        if settings.init == "fast" or opt.fill == "fast":
            from models.stylizer import load_stylizer

            self.fast = load_stylizer([style], fixed_shape=True)

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "node": ray.get_runtime_context().get_node_id()[:8],
            "pid": os.getpid(),
            "load_seconds": round(self.load_seconds, 3),
            "tmp": self._tmp,
        }

    def progress(self) -> tuple[str, int]:
        """(the current task's id, frames it has written so far)"""
        return self.task, self.current

    def _local(self, digest: str, suffix: str, refs: list) -> str:
        """The input as a file on this node: fetched from the object store once."""
        path = self._inputs.get(digest)
        if path is None:
            import ray

            path = os.path.join(self._tmp, digest[:16] + suffix)
            with open(path + ".part", "wb") as f:
                f.write(ray.get(refs[0]))
            os.replace(path + ".part", path)
            self._inputs[digest] = path
        return path

    def convert(self, task: dict[str, Any], refs: list) -> dict[str, Any]:
        """Convert one segment; returns its encoded bytes and figures."""
        path = self._local(task["digest"], task["suffix"], refs)
        kill = task.get("kill_marker")
        if kill and not os.path.exists(kill):  # tests: die once, as a crashed node would
            Path(kill).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        seg = task["segment"]
        t0 = time.monotonic()
        self.task, self.current = task["id"], 0
        out = os.path.join(self._tmp, f"seg_{task['file']}_{seg['index']}.mp4")
        try:

            def on_frame() -> None:
                self.current += 1

            job = self.job
            clip = replace(job.clip, start=seg["start"], end=seg["end"])
            if isinstance(job, OptimizeJob):
                frames = self._optimize(job.optimize, clip, path, out, on_frame)
            else:
                from realtime.jobs.video import convert_video

                with contextlib.redirect_stdout(io.StringIO()):  # its JSON summary
                    convert_video(
                        path,
                        out,
                        processor=self.processor,
                        clip=clip,
                        temporal=job.temporal,
                        warmup_frames=seg["warmup"],
                        exact_bounds=True,
                        audio=False,
                        on_frame=on_frame,
                        as_json=True,
                        progress=False,
                    )
                frames = self.current
            data = Path(out).read_bytes()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out)
        return {"data": data, "frames": frames, "seconds": time.monotonic() - t0}

    def _optimize(self, opt: OptimizeOptions, clip: ClipOptions, path: str, out: str, on_frame):
        from realtime.offline import OfflineStylizer
        from realtime.segments import WindowedSource
        from realtime.sinks.ffmpeg_writer import FfmpegVideoWriter

        source = WindowedSource(path, start=clip.start, end=clip.end, size=clip.size)
        with source:
            sink = FfmpegVideoWriter(out, fps=source.fps, crf=clip.crf)
            engine = OfflineStylizer(self.optimizer, opt.keyframes(), fast=self.fast)

            def emit(frame) -> None:
                if not sink.frames:
                    sink.time_base = source.time_base
                sink.write(frame)
                on_frame()

            with sink:
                engine.run(iter(source), emit)
        return sink.frames

    def close(self) -> None:
        import shutil

        shutil.rmtree(self._tmp, ignore_errors=True)


def _actor_class(ray, cpus: float):
    return ray.remote(num_cpus=cpus, max_restarts=0, max_concurrency=2)(Worker)


# --- the driver ---------------------------------------------------------------------------


@dataclass
class _File:
    input: Path
    output: Path
    planner: Planner
    work: SegmentWork
    digest: str
    kept: set[int] = field(default_factory=set)  # segments found in the work folder
    segments: list[Segment] = field(default_factory=list)  # planned so far, in order
    planned: bool = False  # the scan is complete
    ref: Any = None
    done: set[int] = field(default_factory=set)
    joined: bool = False
    resumed: int = 0
    fresh: bool = False  # its work folder was made by this run
    join_seconds: float = 0.0


@dataclass
class _Slot:
    index: int
    actor: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    frames: int = 0
    busy_seconds: float = 0.0
    segments: int = 0
    retries: int = 0  # segments that died on this worker
    restarts: int = 0
    seen: int = 0  # frames of the current task already shown on the bar
    task: str = ""  # id of the current task
    info_ref: Any = None  # the current actor's info() (its node and temp folder)


def _inputs(input: str, output: str) -> list[tuple[Path, Path]]:
    validate.refuse_stdin(input)
    validate.refuse_stdout(output)
    validate.refuse_still_image(input)
    p = Path(input)
    if p.is_dir():
        videos = video_folder_files(p)
        if not videos:
            raise UserError(
                f"{input}: --workers takes a video file or a folder of video files; this "
                "folder has none (a folder of images is converted by one process)"
            )
        targets = folder_outputs(videos, output)
        Path(output).mkdir(parents=True, exist_ok=True)
        return list(zip(videos, targets, strict=True))
    if "%" in p.name:
        raise UserError(f"{input}: --workers takes video files, not a frame pattern")
    if not p.is_file():
        raise UserError(f"{input}: no such file; check the path (--workers needs a local file)")
    from realtime.sinks.ffmpeg_writer import check_video_output

    check_video_output(output)
    if Path(output).exists() and os.path.samefile(p, output):
        raise UserError(f"{output}: is the input; choose another output name")
    return [(p, Path(output))]


def check_address(address: str) -> None:
    """Refuse a `--ray-address` nothing answers at, in one line: Ray itself would retry it
    for minutes. "auto" (or an unset RAY_ADDRESS) is left to Ray, which finds a local
    cluster or says there is none."""
    target = os.environ.get("RAY_ADDRESS", "") if address == "auto" else address
    if not target or target in ("auto", "local"):
        return
    host, sep, port = target.split("://", 1)[-1].rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--ray-address {address}: give host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=ADDRESS_TIMEOUT):
            pass
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e)).lower()
        raise UserError(
            f"--ray-address {address}: nothing answers at {host}:{port} ({why}); start the "
            "cluster (ray start --head) or check the address"
        ) from None


def _join(ray, address: str, options: dict[str, Any]) -> None:
    """ray.init(address) bounded by CONNECT_TIMEOUT: something that answers at the address
    but is not a Ray head (or refuses this machine) keeps Ray retrying for minutes,
    printing a C++ warning every few seconds (kept off the terminal while it tries)."""
    done = threading.Event()
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            ray.init(address=address, **options)
        except BaseException as e:
            failure.append(e)
        finally:
            done.set()

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        threading.Thread(target=connect, name="ray-connect", daemon=True).start()
        answered = done.wait(CONNECT_TIMEOUT)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    if not answered:
        raise UserError(
            f"--ray-address {address}: no Ray cluster answered within {CONNECT_TIMEOUT:.0f} s "
            "(something else listens there, or the cluster refuses this machine); check the "
            "address"
        )
    if failure:
        raise failure[0]


@dataclass
class _Ray:
    """What `_connect` set up: the workers to start, the CPUs each takes, and whether
    (and where) Ray was started here."""

    workers: int
    cpus: int
    started: bool = False
    local: bool = False  # started on this machine: its session files are removed after it


def _connect(
    ray, workers: int | None, address: str | None, most: int, log: Callable[[str], None]
) -> _Ray:
    """Start or join Ray, and decide the workers: `workers` (default: one per CPU of a
    cluster, 1 here), capped by the CPUs and memory Ray reports and by `most` (the
    segments there will be); the user is told when the cap lowers the number asked."""
    if workers is not None and workers < 1:
        raise UserError(f"--workers {workers}: give 1 or more")
    # Ray's start-up notices (token authentication, ...) are noise to a user
    quiet = {"log_to_driver": False, "logging_level": "error"}
    why: list[str] = []
    if not ray.is_initialized() and not address:
        # local: N workers share this machine's cores (intra-op threads = cores / N)
        cores = os.cpu_count() or 1
        n = min(workers or 1, cores, most)
        if workers and cores < workers:
            why.append(f"this machine has {cores} CPUs")
        cpus = max(1, cores // n)
        try:
            ray.init(num_cpus=n * cpus, include_dashboard=False, **quiet)
        except SystemExit as e:  # SIGTERM while starting: Ray's own handler exits 15
            if e.code != signal.SIGTERM:
                raise
            ray.shutdown()
            _remove_sessions()
            raise KeyboardInterrupt from None
        got = _Ray(n, cpus, started=True, local=True)
    else:
        got = _Ray(0, 1)  # a cluster (or a caller's Ray: tests, notebooks): one CPU each
        if not ray.is_initialized():
            try:
                _join(ray, address, quiet)
            except ConnectionError:
                raise UserError(
                    f"--ray-address {address}: no running Ray cluster found; start one with "
                    "`ray start --head` or give its host:port"
                ) from None
            got.started = True
        got.workers = min(workers or max(1, int(ray.cluster_resources().get("CPU", 1))), most)
    resources = ray.cluster_resources()
    cpus = int(resources.get("CPU", 1)) // got.cpus
    if got.workers > cpus and not got.local:  # each worker holds its CPUs
        why.append(f"the cluster has {cpus} CPUs free for them")
    memory = resources.get("memory")
    fit = int(memory // WORKER_BYTES) if memory else got.workers
    if got.workers > fit:
        why.append(f"Ray has {memory / 2**30:.1f} GB of memory for them")
    n = max(1, min(got.workers, cpus, fit))
    if why and workers and n < workers:
        log(f"--workers {workers}: {' and '.join(why)}; using {n}")
    got.workers = n
    return got


def run_cluster(
    input: str,
    output: str,
    *,
    job: FastJob | OptimizeJob | None = None,
    cluster: ClusterOptions | None = None,
    warmup_frames: int | None = None,
    max_retries: int = 2,
    as_json: bool = False,
    progress: bool = True,
    factory: Callable[[], Any] | None = None,
    kill_marker: dict[int, str] | None = None,
) -> int:
    """Convert `input` (a video file, or a folder of video files into the folder
    `output`) on Ray actors, each running `job` on its segments. `factory` builds the
    processor in each actor instead of the stylizer (for an OptimizeJob: an (optimizer,
    fast) pair) and `kill_marker` {segment: path} makes the actor that first takes that
    segment die (tests). Returns 0."""
    ray = import_ray()
    job, cluster = job or FastJob(), cluster or ClusterOptions()
    if cluster.ray_address and not ray.is_initialized():
        check_address(cluster.ray_address)  # before anything is made
    made_output = not Path(output).exists()
    pairs = _inputs(input, output)
    log = (lambda msg: None) if as_json else (lambda msg: print(msg, file=sys.stderr))
    if isinstance(job, OptimizeJob):
        from models.styles import style_image_path

        painting = style_image_path(job.optimize.style)
        job = replace(job, optimize=replace(job.optimize, style=painting))
    files, estimate, most = _plan_files(pairs, job, cluster, warmup_frames, log)
    run = _Run(ray, job, files, log, max_retries, factory, kill_marker)
    t0 = time.monotonic()
    interrupted = finished = False
    # The scan runs beside everything else: segments go out as soon as they are planned.
    stop_scan = threading.Event()
    scanner = threading.Thread(
        target=_scan_files, args=(files, run.scans, stop_scan), name="cluster-scan", daemon=True
    )
    scanner.start()
    try:
        run.term.enter_context(sigterm_as_interrupt())  # also while Ray starts or joins
        # more workers than segments would only idle (shots are not known before the scan)
        run.ray_info = _connect(ray, cluster.workers, cluster.ray_address, most, log)
        # ray.init put its C++ handler in (a stack dump and exit 1): end like Ctrl-C again
        run.term.enter_context(sigterm_as_interrupt())
        run.bar = progress_bar(
            round(estimate) or None, "frame", output, quiet=as_json or not progress
        )
        run.start_workers(estimate)
        run.timing["startup"] = time.monotonic() - t0  # Ray up, actors started, models loaded
        run.convert_all()
        run.close_bar()
        for f in files:
            if not cluster.keep_work:
                f.work.remove()
        finished = True
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        stop_scan.set()
        scanner.join(timeout=30)
        run.close(finished)
        empty = made_output and Path(output).is_dir() and not any(Path(output).iterdir())
        if not finished and empty:  # nothing left behind by a run that did nothing
            Path(output).rmdir()
        if finished or interrupted:
            wall = time.monotonic() - t0
            _report(files, run.slots, wall, run.timing, as_json, interrupted, len(run.slots))
    return 0


def _plan_files(
    pairs: list[tuple[Path, Path]],
    job: FastJob | OptimizeJob,
    cluster: ClusterOptions,
    warmup_frames: int | None,
    log: Callable[[str], None],
) -> tuple[list[_File], float, int]:
    """A planner and a work folder per (input, output); the frames all hold, estimated;
    the segments there will be at least (the clock alone cuts them; scene cuts add more;
    shots are not known before the scan)."""
    if isinstance(job, OptimizeJob):
        plan: dict[str, Any] = {"seconds": None}  # shots: split only at scene cuts
    else:
        temporal = job.temporal
        if warmup_frames is None:
            warmup_frames = WARMUP_FRAMES if temporal is not None else 0
        align = temporal.keyframe_every if isinstance(temporal, TemporalOptions) else 1
        plan = {"seconds": cluster.segment_seconds, "warmup": warmup_frames, "align": align}
    settings = json.loads(json.dumps({"job": asdict(job), "plan": plan}, default=str))
    start, end = job.clip.start, job.clip.end
    files: list[_File] = []
    estimate = 0.0  # frames, for the progress bar until the scans end
    most = 0
    for src, dst in pairs:
        key = work_key(src, settings)
        fresh = not Path(f"{dst}.work").exists()
        work = SegmentWork(Path(f"{dst}.work"), key, resume=cluster.resume, log=log)
        planner = Planner(start=start, end=end, **plan)
        files.append(_File(src, dst, planner, work, key[:32], kept=work.done(), fresh=fresh))
        seconds, frames = _estimate(src, start, end)
        estimate += frames
        most += max(1, math.ceil(seconds / cluster.segment_seconds))
    return files, estimate, (1 << 30 if isinstance(job, OptimizeJob) else most)


class _Run:
    """The driver's state while segments go out to the actors and come back."""

    def __init__(self, ray, job, files, log, max_retries, factory, kill_marker) -> None:
        self.ray, self.job, self.files, self.log = ray, job, files, log
        self.max_retries, self.factory, self.kill_marker = max_retries, factory, kill_marker
        self.bar: Any = None
        self.ray_info = _Ray(0, 1)
        self.term = contextlib.ExitStack()
        self.scans: queue.Queue = queue.Queue(maxsize=64)
        self.slots: list[_Slot] = []
        self.timing: dict[str, float] = {"startup": 0.0}
        self.todo: deque[tuple[int, Segment]] = deque()
        self.attempts: dict[tuple[int, int], int] = {}
        self.running: dict[Any, tuple[_Slot, int, Segment, float]] = {}
        self.actor_class: Any = None

    def new_actor(self) -> Any:
        return self.actor_class.options(scheduling_strategy="SPREAD").remote(
            self.job, self.ray_info.cpus, self.factory
        )

    def start_workers(self, estimate: float) -> None:
        """Start the actors (each loads its model), replacing one that dies meanwhile."""
        ray, job, n_workers = self.ray, self.job, self.ray_info.workers
        if isinstance(job, FastJob) and job.style.jit_compile is None:
            from realtime.jobs.video import XLA_MIN_FRAMES

            if estimate / max(1, n_workers) < XLA_MIN_FRAMES:
                # each worker's share ends before XLA's compile pays back
                self.job = replace(job, style=replace(job.style, jit_compile=False))
        self.actor_class = _actor_class(ray, self.ray_info.cpus)
        self.slots = [_Slot(i, self.new_actor()) for i in range(n_workers)]
        for s in self.slots:
            for attempt in range(self.max_retries + 1):
                try:
                    s.info_ref = s.actor.info.remote()
                    s.info = ray.get(s.info_ref)
                    break
                except ray.exceptions.RayActorError:
                    # died while loading (e.g. Ray's out-of-memory killer): start another
                    if attempt == self.max_retries:
                        raise
                    self.log(f"worker {s.index} died while starting; starting another")
                    s.actor = self.new_actor()
                    s.restarts += 1

    def convert_all(self) -> None:
        """Send each planned segment to the next free actor until every one is done."""
        free = deque(self.slots)
        scanning = True
        while scanning or self.todo or self.running:
            scanning = _take_scans(self.scans, self.files, self.todo, self.bar, scanning)
            while free and self.todo:
                self._send(free.popleft(), *self.todo.popleft())
            if not self.running:
                time.sleep(0.05)  # the scan has not planned the next segment yet
                continue
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=0.5)
            _poll_progress(self.ray, self.running, self.bar)
            for ref in ready:
                slot, fi, seg, _ = self.running.pop(ref)
                self._receive(ref, slot, fi, seg)
                free.append(slot)
        for f in self.files:
            _maybe_join(f)

    def _send(self, slot: _Slot, fi: int, seg: Segment) -> None:
        f = self.files[fi]
        if f.ref is None:
            f.ref = self.ray.put(f.input.read_bytes())  # once per file
        slot.task, slot.seen = f"{fi}:{seg.index}:{time.monotonic()}", 0
        task = {
            "id": slot.task,
            "file": fi,
            "digest": f.digest,
            "suffix": f.input.suffix,
            "segment": seg.as_dict(),
        }
        if self.kill_marker and seg.index in self.kill_marker:
            task["kill_marker"] = self.kill_marker[seg.index]
        ref = slot.actor.convert.remote(task, [f.ref])
        self.running[ref] = (slot, fi, seg, time.monotonic())

    def _receive(self, ref: Any, slot: _Slot, fi: int, seg: Segment) -> None:
        """Keep a finished segment, or put it back for another actor if its actor died."""
        ray, f, bar = self.ray, self.files[fi], self.bar
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError:
            key = (fi, seg.index)
            self.attempts[key] = self.attempts.get(key, 0) + 1
            slot.retries += 1
            if bar is not None:
                bar.update(-slot.seen)
            if self.attempts[key] > self.max_retries:
                raise RuntimeError(
                    f"{f.input}: segment {seg.index} killed {self.attempts[key]} workers"
                ) from None
            self.log(f"worker {slot.index} died on segment {seg.index}; retrying it")
            self.todo.appendleft((fi, seg))
            with contextlib.suppress(Exception):
                ray.kill(slot.actor)
            _remove_dead_worker_files(ray, slot)
            slot.actor, slot.seen = self.new_actor(), 0
            slot.info_ref = slot.actor.info.remote()
            slot.restarts += 1
            return
        except ray.exceptions.RayTaskError as e:
            cause = e.cause if isinstance(e.cause, BaseException) else None
            raise (cause or e) from None
        f.work.save(seg.index, result["data"])
        f.done.add(seg.index)
        slot.frames += result["frames"]
        slot.segments += 1
        slot.busy_seconds += result["seconds"]
        if bar is not None:
            bar.update(result["frames"] - slot.seen)
        slot.seen = 0
        _maybe_join(f)

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self, finished: bool) -> None:
        """Stop the actors and a Ray started here (its session folder too); a run that
        did nothing removes the work folders it made."""
        self.close_bar()
        for s in self.slots:
            with contextlib.suppress(Exception):
                self.ray.get(s.actor.close.remote(), timeout=10)
            with contextlib.suppress(Exception):
                self.ray.kill(s.actor)
        if self.ray_info.started:
            self.ray.shutdown()
        if self.ray_info.local:
            _remove_sessions()
        self.term.close()
        if not finished:
            for f in self.files:
                if f.fresh and not f.work.count_done():
                    f.work.remove()


def _estimate(src: Path, start: float | None, end: float | None) -> tuple[float, float]:
    """(seconds, frames) of `src` between start and end, at its own frame rate."""
    from realtime.ffmpeg import probe

    info = probe(src)
    duration = info.duration or 0.0
    if end is not None:
        duration = min(duration, end)
    seconds = max(0.0, duration - (start or 0.0))
    return seconds, seconds * (info.fps or 25.0)


def _remove_sessions() -> None:
    """Remove the session folders (logs, sockets: megabytes each, Ray keeps every one) of
    the local Ray this process started and shut down: Ray names them after the starting
    process, `session_<time>_<pid>`. Also `session_latest` if it pointed to one, and
    Ray's folder if that leaves it empty."""
    root = Path(os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp") / "ray"
    mine = {p.name for p in root.glob(f"session_*_{os.getpid()}")}
    for name in mine:
        shutil.rmtree(root / name, ignore_errors=True)
    latest = root / "session_latest"
    with contextlib.suppress(OSError):
        if latest.is_symlink() and Path(os.readlink(latest)).name in mine:
            latest.unlink()
    with contextlib.suppress(OSError):
        root.rmdir()  # only when empty


def _remove_dead_worker_files(ray, slot: _Slot) -> None:
    """A killed worker cannot remove its copy of the inputs: on this node, do it now (on
    another, the next worker started there sweeps it)."""
    with contextlib.suppress(Exception):
        info = ray.get(slot.info_ref, timeout=2)
        if info.get("tmp") and info.get("node") == ray.get_runtime_context().get_node_id()[:8]:
            shutil.rmtree(info["tmp"], ignore_errors=True)


def _scan_files(files: list[_File], out: queue.Queue, stop: threading.Event) -> None:
    """The scan thread: (file index, piece) for each scanned piece, (file index, None) at
    a file's end, (-1, None) at the end of all, or (-1, error)."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for fi, f in enumerate(files):
            end = f.planner.end
            for part in scan_chunks(f.input):
                if not put((fi, part)):
                    return
                if end is not None and part.frames and part.pts[-1] >= end:
                    break  # past --end
            if not put((fi, None)):
                return
        put((-1, None))
    except BaseException as e:
        put((-1, e))


def _take_scans(scans: queue.Queue, files: list[_File], todo: deque, bar, scanning: bool) -> bool:
    """Plan what the scan thread has found; queue new segments (or count kept ones).
    Returns whether the scan is still running."""
    while scanning:
        try:
            fi, part = scans.get_nowait()
        except queue.Empty:
            break
        if fi < 0:
            if part is not None:
                raise part
            scanning = False
            if bar is not None:  # now exact
                bar.total = sum(s.frames for f in files for s in f.segments)
                bar.refresh()
            break
        f = files[fi]
        new = f.planner.add(part) if part is not None else f.planner.finish(f.input)
        for seg in new:
            f.segments.append(seg)
            if seg.index in f.kept:
                f.done.add(seg.index)
                f.resumed += 1
                if bar is not None:
                    bar.update(seg.frames)
            else:
                todo.append((fi, seg))
        if part is None:
            f.planned = True
            _maybe_join(f)
    return scanning


def _poll_progress(ray, running: dict, bar) -> None:
    """Move the bar by the frames each busy actor has written of its current segment."""
    if bar is None or not running:
        return
    asked = {slot.actor.progress.remote(): slot for slot, *_ in running.values()}
    with contextlib.suppress(Exception):
        ready, _ = ray.wait(list(asked), num_returns=len(asked), timeout=0.2)
        for ref in ready:
            slot = asked[ref]
            with contextlib.suppress(Exception):
                task, count = ray.get(ref)
                if task == slot.task and count > slot.seen:
                    bar.update(count - slot.seen)
                    slot.seen = count


def _maybe_join(f: _File) -> None:
    """Join a file whose segments are all done (once)."""
    if f.joined or not f.planned or len(f.done) < len(f.segments):
        return
    from realtime.ffmpeg import probe

    parts = [f.work.segment_path(s.index) for s in f.segments]
    first, last = f.segments[0], f.segments[-1]
    pts = f.planner.scan.pts
    step = f.planner.scan.step()
    duration = float(pts[last.stop - 1] - pts[first.first]) + step
    # each part lasts until the next one's first frame (exact with uneven frame times)
    durations = [float(pts[s.stop] - pts[s.first]) for s in f.segments[:-1]]
    durations.append(float(pts[last.stop - 1] - pts[last.first]) + step)
    t0 = time.monotonic()
    info = probe(f.input)
    join_segments(
        parts,
        f.output,
        duration=duration,
        audio_path=str(f.input) if info.has_audio else None,
        audio_start=float(pts[first.first]) if first.first > 0 else 0.0,
        audio_codec=info.audio_codec,
        durations=durations,
    )
    f.joined = True
    f.join_seconds = time.monotonic() - t0


def _report(files, slots, wall, timing, as_json: bool, interrupted: bool, n_workers: int) -> None:
    frames = sum(s.frames for s in slots)
    summary = {
        "outputs": [str(f.output) for f in files if f.joined],
        "frames": sum(s.frames for f in files for s in f.segments),
        "converted_frames": frames,
        "segments": sum(len(f.segments) for f in files),
        "resumed_segments": sum(f.resumed for f in files),
        "seconds": round(wall, 3),
        "startup_seconds": round(timing["startup"], 3),
        "join_seconds": round(sum(f.join_seconds for f in files), 3),
        "warmup_frames": sum(s.warmup for f in files for s in f.segments),
        "fps": round(frames / wall, 2) if wall > 0 else 0.0,
        "interrupted": interrupted,
        "workers": [
            {
                "worker": s.index,
                "node": s.info.get("node"),
                "frames": s.frames,
                "segments": s.segments,
                "fps": round(s.frames / s.busy_seconds, 2) if s.busy_seconds else 0.0,
                "retries": s.retries,
                "restarts": s.restarts,
                "load_seconds": s.info.get("load_seconds"),
            }
            for s in slots
        ],
    }
    if as_json:
        print(json.dumps(summary))
        return
    if interrupted:
        kept = sum(len(f.done) for f in files)
        if not kept:
            print("interrupted before any segment was finished", file=sys.stderr)
            return
        where = ", ".join(str(f.work.path) for f in files if f.done)
        print(
            f"interrupted: {kept} finished segments kept in {where}; rerun with --resume",
            file=sys.stderr,
        )
        return
    for f in files:
        print(f"wrote {f.output}: {sum(s.frames for s in f.segments)} frames", file=sys.stderr)
    print(
        f"{frames} frames on {n_workers} worker{'s' if n_workers != 1 else ''} in {wall:.1f} s "
        f"({summary['fps']:.2f} fps; start-up {timing['startup']:.1f} s)",
        file=sys.stderr,
    )
