"""`serve`: the HTTP server, the shared MJPEG broadcaster and the controls, with real HTTP
clients on loopback and a fake stylizer (no TensorFlow)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import struct
import threading
import urllib.error
import urllib.request
import zlib

import aiohttp
import numpy as np
import pytest
from live_fakes import TintStylizer, invert
from PIL import Image

from models.errors import UserError
from realtime.frame import Frame
from realtime.jobs.settings import Limits, LiveOptions, LiveSourceOptions, ServeOptions
from realtime.live_controls import ControlledProcessor, LiveControls
from realtime.server import ServerConfig, StreamServer, check_bind, is_loopback
from realtime.sinks.mjpeg import FrameBroadcaster

TOKEN = "s3cret-token-123"


def noise_frame(i: int, h: int = 48, w: int = 64, seed: int = 0) -> Frame:
    img = np.random.default_rng(seed + i).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Frame(img, i / 30, i)


class Served:
    """A broadcaster + controls + server on a free loopback port."""

    def __init__(self, processor=None, **config) -> None:
        self.stylizer = processor if processor is not None else TintStylizer()
        self.bc = FrameBroadcaster(quality=80)
        self.controls = LiveControls(self.stylizer)
        self.server = StreamServer(
            self.bc,
            self.controls,
            ServerConfig(port=0, **config),
            status=lambda: {"fps": 12.5, "latency_ms": 40.0},
        )
        self.server.start()
        self.url = self.server.url.rstrip("/")
        self.port = self.server.port

    def close(self) -> None:
        self.bc.close()
        self.server.stop()


@pytest.fixture
def served():
    made: list[Served] = []

    def make(processor=None, **config) -> Served:
        s = Served(processor, **config)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def run(coro):
    return asyncio.run(coro)


async def read_part(content: aiohttp.StreamReader) -> bytes:
    """One JPEG from an MJPEG response (the server ends each part with the boundary)."""
    length = None
    while True:
        line = (await content.readline()).strip()
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        elif not line and length is not None:
            break
        elif line == b"" and content.at_eof():
            raise EOFError("stream ended")
    data = await content.readexactly(length)
    await content.readline()  # the CRLF after the data
    return data


async def open_stream(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    resp = await session.get(url + "/stream.mjpg")
    if resp.status == 200:
        assert (await resp.content.readline()).strip() == b"--frame"
    return resp


def png_bytes(h: int = 40, w: int = 40, color=(200, 50, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def png_header_only(w: int, h: int) -> bytes:
    """A PNG that declares w x h pixels but carries almost no data (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


async def await_until(pred, what: str, tries: int = 400) -> None:
    """wait_until for coroutines: lets the client's own loop run meanwhile."""
    for _ in range(tries):
        if pred():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never happened: {what}")


def wait_until(pred, what: str, tries: int = 400) -> None:
    """Poll an event (not a duration): fail with `what` if it never happens."""
    ev = threading.Event()
    for _ in range(tries):
        if pred():
            return
        ev.wait(0.025)
    raise AssertionError(f"never happened: {what}")


# -- binding and tokens -----------------------------------------------------------------


def test_binding_beyond_loopback_needs_a_token():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(UserError, match="--token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(UserError, match="8 characters"):
        check_bind("0.0.0.0", "short")
    with pytest.raises(UserError, match="--token"):
        StreamServer(FrameBroadcaster(), LiveControls(invert), ServerConfig(host="0.0.0.0"))


def test_token_is_required_by_every_route_and_accepted_three_ways(served):
    s = served(token=TOKEN)
    s.bc.write(noise_frame(0))

    async def go():
        async with aiohttp.ClientSession() as c:
            for path in ("/", "/api/status", "/api/snapshot", "/stream.mjpg", "/api/styles"):
                r = await c.get(s.url + path)
                assert r.status == 401, path
                assert "token" in (await r.json())["error"]
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
            r = await c.get(s.url + "/api/status", params={"token": "wrong-token-123"})
            assert r.status == 401
            r = await c.post(s.url + "/api/controls", json={"strength": 0.5})
            assert r.status == 401
            ok = [
                await c.get(s.url + "/api/status", params={"token": TOKEN}),
                await c.get(s.url + "/api/status", headers={"Authorization": f"Bearer {TOKEN}"}),
                await c.get(s.url + "/api/status", headers={"X-Token": TOKEN}),
            ]
            assert [r.status for r in ok] == [200, 200, 200]
            r = await c.get(s.url + "/", params={"token": TOKEN})
            assert r.status == 200 and r.headers["Referrer-Policy"] == "no-referrer"

    run(go())
    assert s.controls.strength == 1.0  # the refused POST changed nothing


def test_loopback_server_refuses_foreign_host_and_cross_site_posts(served):
    s = served()

    async def go():
        async with aiohttp.ClientSession() as c:
            r = await c.get(s.url + "/api/status", headers={"Host": "evil.example:8080"})
            assert r.status == 403  # DNS rebinding
            r = await c.get(s.url + "/api/status", headers={"Host": f"localhost:{s.port}"})
            assert r.status == 200
            r = await c.post(
                s.url + "/api/controls",
                json={"strength": 0.2},
                headers={"Origin": "http://evil.example"},
            )
            assert r.status == 403
            r = await c.post(
                s.url + "/api/controls",
                json={"strength": 0.2},
                headers={"Origin": s.url, "Sec-Fetch-Site": "same-origin"},
            )
            assert r.status == 200

    run(go())
    assert s.controls.strength == 0.2


# -- the stream ---------------------------------------------------------------------------


def test_concurrent_viewers_share_one_jpeg_encoding_per_frame(served):
    s = served()
    n_frames, n_viewers = 12, 4

    async def go():
        async with aiohttp.ClientSession() as c:
            resps = [await open_stream(c, s.url) for _ in range(n_viewers)]
            await await_until(lambda: len(s.server.viewers) == n_viewers, "viewers registered")
            got = [[] for _ in resps]
            for i in range(n_frames):
                frame = noise_frame(i)
                s.bc.write(frame)
                parts = await asyncio.gather(*(read_part(r.content) for r in resps))
                for g, p in zip(got, parts, strict=True):
                    g.append(p)
            for r in resps:
                r.close()
            return got

    got = run(go())
    assert s.bc.encoded == n_frames  # once per frame, not once per viewer
    for g in got:
        assert len(g) == n_frames
        assert g == got[0]  # the very same bytes for everyone
    img = np.asarray(Image.open(io.BytesIO(got[0][-1])))
    assert img.shape == (48, 64, 3)


def test_stalled_viewer_skips_frames_without_slowing_a_fast_one(served):
    """A client that never reads must not hold frames back from others, and what the
    server keeps for it stays bounded. Lock-step: frame i+1 is only written after the
    fast viewer received frame i, so if the stalled viewer blocked the broadcast the
    fast one would miss frames (counts, not timings)."""
    s = served(stall_timeout=3600)  # keep the stalled one connected the whole test
    n_frames = 120

    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", s.port))
    stalled.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n\r\n".encode())
    try:
        wait_until(lambda: len(s.server.viewers) == 1, "stalled viewer registered")

        async def go():
            async with aiohttp.ClientSession() as c:
                fast = await open_stream(c, s.url)
                await await_until(lambda: len(s.server.viewers) == 2, "fast viewer registered")
                n = 0
                for i in range(n_frames):
                    s.bc.write(noise_frame(i, 240, 320))  # ~100 KB of noise each
                    await read_part(fast.content)
                    n += 1
                status = await (await c.get(s.url + "/api/status")).json()
                fast.close()
                return n, status

        received, status = run(go())
    finally:
        stalled.close()
    assert received == n_frames
    viewers = sorted(status["viewers"], key=lambda v: v["id"])
    slow, fast = viewers
    assert fast["sent"] == n_frames and fast["skipped"] == 0
    # ~12 MB went by; the stalled viewer got what the socket buffers hold, then skipped
    assert slow["skipped"] > n_frames // 2
    assert slow["sent"] + slow["skipped"] <= n_frames
    assert slow["bytes"] < 8 * 1024 * 1024  # bounded by the socket buffers + one frame


@pytest.mark.slow
def test_stalled_viewer_is_cut_off_and_frees_its_slot(served):
    s = served(stall_timeout=0.3, max_viewers=1)
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", s.port))
    stalled.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n\r\n".encode())
    try:
        wait_until(lambda: len(s.server.viewers) == 1, "stalled viewer registered")
        i = 0

        def feed_until_cut() -> bool:
            nonlocal i
            s.bc.write(noise_frame(i, 240, 320))
            i += 1
            return s.server.viewers_cut_off == 1

        wait_until(feed_until_cut, "the stalled viewer was cut off")
        wait_until(lambda: not s.server.viewers, "its slot was freed")
    finally:
        stalled.close()


def test_viewer_cap_answers_503_and_frees_slots(served):
    s = served(max_viewers=2)
    s.bc.write(noise_frame(0))

    async def go():
        async with aiohttp.ClientSession() as c:
            a = await open_stream(c, s.url)
            b = await open_stream(c, s.url)
            assert (a.status, b.status) == (200, 200)
            third = await c.get(s.url + "/stream.mjpg")
            assert third.status == 503
            assert third.headers["Retry-After"] == "5"
            assert "limit" in (await third.json())["error"]
            # other routes are not capped
            assert (await c.get(s.url + "/api/status")).status == 200
            a.close()
            await await_until(lambda: len(s.server.viewers) == 1, "a viewer left")
            again = await open_stream(c, s.url)
            assert again.status == 200
            assert len(await read_part(again.content)) > 0
            again.close()
            b.close()

    run(go())
    assert s.server.viewers_refused == 1


# -- status, snapshot, controls -----------------------------------------------------------


def test_status_snapshot_and_controls(served):
    s = served()

    async def go():
        async with aiohttp.ClientSession() as c:
            r = await c.get(s.url + "/api/snapshot")
            assert r.status == 503  # no frame yet
            frame = noise_frame(3)
            s.bc.write(frame)
            r = await c.get(s.url + "/api/snapshot")
            assert r.status == 200 and r.content_type == "image/png"
            png = np.asarray(Image.open(io.BytesIO(await r.read())))
            np.testing.assert_array_equal(png, frame.image)  # lossless: the frame itself
            r = await c.get(s.url + "/api/snapshot", params={"format": "jpeg"})
            assert r.content_type == "image/jpeg"
            assert (await c.get(s.url + "/api/snapshot", params={"format": "gif"})).status == 400

            st = await (await c.get(s.url + "/api/status")).json()
            assert st["fps"] == 12.5 and st["latency_ms"] == 40.0
            assert (st["clients"], st["style"], st["style_index"]) == (0, "tint0", 0)

            r = await c.post(
                s.url + "/api/controls",
                json={"style": 2, "strength": 0.5, "preserve_color": True, "side_by_side": True},
            )
            assert r.status == 200
            state = await r.json()
            assert (state["style"], state["strength"], state["preserve_color"]) == (
                "tint2",
                0.5,
                True,
            )
            bad = [
                {"style": 3},
                {"style": -1},
                {"strength": 1.5},
                {"strength": "high"},
                {"preserve_color": "yes"},
                {"volume": 3},
            ]
            for body in bad:
                r = await c.post(s.url + "/api/controls", json=body)
                assert r.status == 400, body
                assert "error" in await r.json()
            r = await c.post(
                s.url + "/api/controls", data=b"not json", headers={"Content-Type": "text/plain"}
            )
            assert r.status == 400
            styles = await (await c.get(s.url + "/api/styles")).json()
            assert [x["name"] for x in styles["styles"]] == ["tint0", "tint1", "tint2"]

    run(go())
    # nothing reaches the stylizer until the next frame boundary, then all of it does
    assert (s.stylizer.style_index, s.stylizer.strength) == (0, 1.0)
    proc = ControlledProcessor(s.stylizer, s.controls)
    proc(noise_frame(0).image)
    assert (s.stylizer.style_index, s.stylizer.strength, s.stylizer.preserve_color) == (
        2,
        0.5,
        True,
    )
    assert s.controls.side_by_side


def test_thumbnails_are_rendered_one_per_frame_without_touching_the_output(served):
    s = served()
    proc = ControlledProcessor(s.stylizer, s.controls)
    s.controls.update(style=1, strength=0.4)
    image = noise_frame(0).image
    expected = TintStylizer()
    expected.style_index, expected.strength = 1, 0.4
    for k in range(3):
        out = proc(image)
        np.testing.assert_array_equal(out, expected(image))  # the chosen style, every frame
        assert sum(x["thumbnail"] for x in s.controls.styles()) == k + 1
    assert (s.stylizer.style_index, s.stylizer.strength) == (1, 0.4)  # restored
    thumb = np.asarray(Image.open(io.BytesIO(s.controls.thumbnail(2))))
    assert thumb.shape == (128, 128, 3)
    assert thumb[..., 2].mean() > thumb[..., 0].mean() + 60  # style 2 is the blue tint

    async def go():
        async with aiohttp.ClientSession() as c:
            r = await c.get(s.url + "/api/styles/2/thumbnail")
            assert r.status == 200 and r.content_type == "image/jpeg"
            assert (await c.get(s.url + "/api/styles/9/thumbnail")).status == 404

    run(go())


def test_fixed_processor_offers_side_by_side_only(served):
    s = served(processor=invert)

    async def go():
        async with aiohttp.ClientSession() as c:
            r = await c.post(s.url + "/api/controls", json={"strength": 0.5})
            assert r.status == 409
            r = await c.post(s.url + "/api/controls", json={"side_by_side": True})
            assert r.status == 200 and (await r.json())["side_by_side"]
            form = aiohttp.FormData()
            form.add_field("file", png_bytes(), filename="a.png", content_type="image/png")
            r = await c.post(s.url + "/api/styles", data=form)
            assert r.status == 409

    run(go())


# -- uploads ------------------------------------------------------------------------------


def upload(s: Served, data: bytes, *, filename="style.png", ctype="image/png", raw=False):
    async def go():
        async with aiohttp.ClientSession() as c:
            if raw:
                r = await c.post(s.url + "/api/styles", data=data, headers={"Content-Type": ctype})
            else:
                form = aiohttp.FormData()
                form.add_field("file", data, filename=filename, content_type=ctype)
                r = await c.post(s.url + "/api/styles", data=form)
            return r.status, await r.json()

    return run(go())


def test_upload_adds_a_style_with_its_thumbnail(served):
    s = served()
    status, body = upload(s, png_bytes(64, 80, (10, 200, 30)), filename="My Painting!.png")
    assert status == 200, body
    assert body["index"] == 3 and body["name"] == "My_Painting"
    assert s.stylizer.style_names[3] == body["name"]
    thumb = np.asarray(Image.open(io.BytesIO(s.controls.thumbnail(3))))
    assert thumb.shape == (128, 128, 3) and thumb[..., 1].mean() > 150  # the painting
    status, body = upload(s, png_bytes(32, 32), ctype="image/png", raw=True)
    assert status == 200 and body["index"] == 4


def test_upload_limits_answer_413_415_400(served):
    s = served(max_upload_bytes=100_000, max_upload_pixels=1_000_000)
    big_noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(big_noise).save(buf, "PNG")  # ~270 KB
    assert len(buf.getvalue()) > 100_000
    assert upload(s, buf.getvalue())[0] == 413
    assert upload(s, buf.getvalue(), raw=True)[0] == 413
    status, body = upload(s, png_header_only(1200, 1000))  # 1.2 MP declared, tiny file
    assert status == 413 and "MP" in body["error"]
    status, body = upload(s, png_header_only(30000, 30000))  # Pillow's bomb limit
    assert status == 413
    assert upload(s, b"hello, not an image" * 10, ctype="image/png")[0] == 415
    assert upload(s, png_bytes(), ctype="text/plain")[0] == 415
    assert upload(s, png_bytes(), ctype="text/plain", raw=True)[0] == 415
    gif = io.BytesIO()
    Image.new("RGB", (40, 40)).save(gif, "GIF")
    status, body = upload(s, gif.getvalue(), filename="a.gif", ctype="image/gif")
    assert status == 415 and "GIF" in body["error"]
    jpeg = io.BytesIO()
    Image.fromarray(big_noise[:100, :100]).save(jpeg, "JPEG")
    status, body = upload(s, jpeg.getvalue()[:1500], filename="cut.jpg", ctype="image/jpeg")
    assert status == 400 and "cut.jpg" in body["error"]
    status, body = upload(s, png_bytes(8, 8))
    assert status == 400 and "16x16" in body["error"]
    assert len(s.stylizer.style_names) == 3  # nothing was added
    assert not list(s.server._upload_dir.iterdir())  # refused files are not kept


# -- lifecycle ----------------------------------------------------------------------------


def test_port_in_use_is_a_user_error():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        bc = FrameBroadcaster()
        server = StreamServer(bc, LiveControls(invert), ServerConfig(port=taken.getsockname()[1]))
        with pytest.raises(UserError, match="--port"):
            server.start()
        bc.close()
    finally:
        taken.close()


def test_stop_ends_streams_and_leaves_no_threads():
    before = {t.name for t in threading.enumerate()}
    s = Served()
    s.bc.write(noise_frame(0))

    async def go():
        async with aiohttp.ClientSession() as c:
            r = await open_stream(c, s.url)
            await read_part(r.content)
            await await_until(lambda: len(s.server.viewers) == 1, "viewer registered")
            await asyncio.get_running_loop().run_in_executor(None, s.close)
            with pytest.raises((EOFError, aiohttp.ClientError, asyncio.IncompleteReadError)):
                for _ in range(3):
                    await read_part(r.content)

    run(go())
    left = {t.name for t in threading.enumerate()} - before
    assert not left & {"http-server", "mjpeg-encoder"}, left
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(s.url + "/api/status", timeout=5)


@pytest.mark.slow
def test_run_serve_end_to_end_with_side_by_side(tmp_path):
    from realtime.jobs.serve import run_serve

    results: dict = {}

    def client(session) -> None:
        try:
            base = session.url.rstrip("/")
            page = urllib.request.urlopen(base + "/").read().decode()
            assert "static/app.js" in page
            js = urllib.request.urlopen(base + "/static/app.js")
            assert js.headers["Content-Type"].startswith("text/javascript")

            def status():
                return json.loads(urllib.request.urlopen(base + "/api/status").read())

            wait_until(lambda: status()["frames"] > 0, "frames flowed")
            req = urllib.request.Request(
                base + "/api/controls",
                data=json.dumps({"side_by_side": True, "style": 1}).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(req)
            frames_then = status()["frames"]
            wait_until(lambda: status()["frames"] > frames_then + 2, "frames after the switch")
            snap = urllib.request.urlopen(base + "/api/snapshot").read()
            results["snapshot"] = np.asarray(Image.open(io.BytesIO(snap)))
            results["status"] = status()
        except BaseException as e:
            results["error"] = e
        finally:
            session.stop()

    rc = run_serve(
        LiveOptions(
            LiveSourceOptions("testpattern", width=80, height=60, fps=30),
            limits=Limits(max_seconds=60),
        ),
        processor=TintStylizer(),
        server=ServeOptions(port=0),
        on_ready=client,
        as_json=True,
    )
    assert rc == 0
    assert "error" not in results, results.get("error")
    snap = results["snapshot"]
    assert snap.shape == (60, 160, 3)  # source | stylized
    left, right = snap[:, :80].astype(int), snap[:, 80:].astype(int)
    assert right[..., 1].mean() > left[..., 1].mean() + 50  # style 1: the green tint
    st = results["status"]
    assert (st["style"], st["side_by_side"], st["width"], st["height"]) == ("tint1", True, 160, 60)


@pytest.mark.slow
def test_run_serve_starts_a_file_over_when_it_ends(tmp_path, capsys):
    from video_clips import make_clip

    from realtime.jobs.serve import run_serve

    clip = make_clip(tmp_path / "short.mp4", size=(64, 48), fps=20, seconds=0.5)
    rc = run_serve(
        LiveOptions(LiveSourceOptions(str(clip), loop=True), limits=Limits(max_frames=25)),
        processor=TintStylizer(),
        server=ServeOptions(port=0),
        as_json=True,
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["passes"] >= 3 and summary["frames_total"] == 25  # 10 frames a pass
    rc = run_serve(
        LiveOptions(LiveSourceOptions(str(clip))),
        processor=TintStylizer(),
        server=ServeOptions(port=0),
        as_json=True,
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["passes"] == 1 and 0 < summary["frames_total"] <= 10


def test_warm_up_compiles_each_model_kind_at_the_delivered_size():
    from types import SimpleNamespace

    from models.styles import parse_style
    from realtime.live_controls import warm_up

    calls = []

    class Recorder(TintStylizer):
        def __call__(self, image):
            calls.append((self.style_index, image.shape))
            return image

    st = Recorder()
    st.specs = [parse_style("preset:1"), parse_style("preset:2"), parse_style("preset:3")]
    st.specs[1] = SimpleNamespace(is_preset=False)  # an image style: the other network
    st.style_index = 2
    source = SimpleNamespace(width=640, height=360)
    warm_up(st, st, source, lambda im: im[::2, ::2])
    assert calls == [(0, (180, 320, 3)), (1, (180, 320, 3))]
    assert st.style_index == 2  # as the user chose
    calls.clear()
    warm_up(
        st, st, SimpleNamespace(width=None, height=None), None
    )  # a camera before its first frame: nothing to do
    assert calls == []


def test_a_new_viewer_starts_at_the_newest_frame_not_an_old_jpeg(served):
    s = served()

    async def go():
        async with aiohttp.ClientSession() as c:
            r = await open_stream(c, s.url)
            s.bc.write(Frame(np.full((48, 64, 3), (250, 0, 0), np.uint8), 0.0, 0))
            await read_part(r.content)
            r.close()
            await await_until(lambda: not s.server.viewers, "the viewer left")
            # written while nobody watches, so not encoded yet
            s.bc.write(Frame(np.full((48, 64, 3), (0, 0, 250), np.uint8), 0.1, 1))
            r = await open_stream(c, s.url)
            img = np.asarray(Image.open(io.BytesIO(await read_part(r.content))))
            r.close()
            return img

    got = run(go())
    assert got[..., 2].mean() > 200 and got[..., 0].mean() < 50  # the blue one, not red


def test_the_served_processor_passes_on_its_inner_figures(served):
    # serve --json and the status page report --changed's share and refreshes
    from realtime.frame import processor_summary

    class Counting:
        def __call__(self, image):
            return image

        def summary(self):
            return {"changed_share": 0.25, "refreshes": 2}

    s = served()
    assert processor_summary(ControlledProcessor(Counting(), s.controls)) == {
        "changed_share": 0.25,
        "refreshes": 2,
    }
    assert processor_summary(ControlledProcessor(invert, s.controls)) == {}
