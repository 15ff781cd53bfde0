"""The HTTP side of `stylize-video serve` (aiohttp, in its own thread and event loop).

Routes: `/` the page, `/stream.mjpg` the live MJPEG stream, `/api/status`,
`/api/snapshot`, `/api/styles` (GET list, POST upload), `/api/styles/{i}/thumbnail`,
`/api/controls` (POST JSON).

Safety, by default:
- binds 127.0.0.1; any other address needs a token (`check_bind`), sent as
  `Authorization: Bearer T`, `X-Token: T` or `?token=T` (what the page's <img> uses);
  without it every route answers 401. On loopback without a token, requests whose Host
  is not a loopback name are refused (DNS rebinding) and so are cross-site POSTs.
- uploads: body capped (413), sniffed and only JPEG/PNG/WebP/BMP accepted (415),
  declared pixel count capped before decoding (413), then decoded with the project's
  checks (models.images.load_image).
- at most `max_viewers` MJPEG viewers (503 beyond). A viewer that stops reading skips
  frames (see realtime.sinks.mjpeg) and is cut off after `stall_timeout` seconds of a
  blocked write; what is buffered for it is bounded by one frame plus aiohttp's 64 KiB
  write buffer plus the kernel's socket buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import io
import ipaddress
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from aiohttp import BodyPartReader, web

from models.atomic import private_temp_dir
from models.errors import UserError
from realtime.live_controls import LiveControls, NotControllable
from realtime.sinks.mjpeg import FrameBroadcaster, encode_jpeg, encode_png

log = logging.getLogger(__name__)

BOUNDARY = "frame"
UPLOADS_PREFIX = "stylize-video-uploads-"  # + pid: a later server removes a killed one's
UPLOAD_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp"}
STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token (UserError with the fix)."""
    if token is not None and len(token) < 8:
        raise UserError("--token: use at least 8 characters (e.g. from `openssl rand -hex 16`)")
    if token is not None and not token.isascii():
        raise UserError("--token: use ASCII characters only")
    if not is_loopback(host) and token is None:
        raise UserError(
            f"--host {host} makes the stream reachable from other machines; add --token SECRET "
            "(viewers then open http://HOST:PORT/?token=SECRET), or keep --host 127.0.0.1"
        )


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080  # 0 picks a free port (tests)
    token: str | None = None
    max_viewers: int = 16
    max_upload_bytes: int = 10 * 1024 * 1024
    max_upload_pixels: int = 40_000_000
    stall_timeout: float = 20.0  # seconds one write may block before the viewer is cut off


@dataclass
class _Viewer:
    id: int
    peer: str
    since: float = field(default_factory=time.monotonic)
    sent: int = 0
    skipped: int = 0  # frames that came and went while this viewer was still busy
    bytes: int = 0
    current: int = 0  # seq of the frame being sent (or last sent)

    def skipped_now(self, latest_seq: int) -> int:
        """Skipped so far, counting frames that passed while a write is blocked."""
        return self.skipped + max(0, latest_seq - self.current)


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class StreamServer:
    """Serves the broadcaster's frames and the controls. `start()` returns once the
    socket is bound (UserError if it cannot be); `stop()` closes every connection."""

    def __init__(
        self,
        broadcaster: FrameBroadcaster,
        controls: LiveControls,
        config: ServerConfig | None = None,
        *,
        status: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.bc = broadcaster
        self.controls = controls
        self.config = config or ServerConfig()
        check_bind(self.config.host, self.config.token)
        self._status = status or dict
        self.viewers: dict[int, _Viewer] = {}
        self.viewers_refused = 0
        self.viewers_cut_off = 0
        self._next_id = 0
        self._transports: dict[int, asyncio.BaseTransport] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._upload_lock: asyncio.Lock | None = None
        self._upload_dir = private_temp_dir(UPLOADS_PREFIX)  # sweeps a killed run's
        self.port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self.bc.attach(loop)
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup())
            except BaseException as e:
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="http-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            shutil.rmtree(self._upload_dir, ignore_errors=True)
            e = failure[0]
            if isinstance(e, OSError):
                raise UserError(
                    f"cannot listen on {self.config.host}:{self.config.port} ({e.strerror}); "
                    "choose another --port or --host"
                ) from None
            raise e

    async def _setup(self) -> None:
        self._upload_lock = asyncio.Lock()
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/stream.mjpg", self._stream)
        app.router.add_get("/api/status", self._api_status)
        app.router.add_get("/api/snapshot", self._snapshot)
        app.router.add_get("/api/styles", self._styles)
        app.router.add_post("/api/styles", self._upload)
        app.router.add_get("/api/styles/{index}/thumbnail", self._thumbnail)
        app.router.add_post("/api/controls", self._controls)
        # handler_cancellation: a viewer that disconnects while no frame comes (a paused
        # source) still frees its slot at once
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=2.0, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        """Close every connection and the listening socket; join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._thread = None
        try:
            fut = asyncio.run_coroutine_threadsafe(self._cleanup(), loop)
            with contextlib.suppress(Exception):
                fut.result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:
            pass  # the loop is already closed
        thread.join()
        shutil.rmtree(self._upload_dir, ignore_errors=True)

    async def _cleanup(self) -> None:
        for tr in list(self._transports.values()):
            tr.abort()  # a stalled viewer would otherwise hold shutdown for its timeout
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> StreamServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- guard -------------------------------------------------------------------------
    def _token_ok(self, request: web.Request) -> bool:
        want = self.config.token
        if want is None:
            return True
        auth = request.headers.get("Authorization", "")
        given = (
            auth[7:].strip()
            if auth.lower().startswith("bearer ")
            else request.headers.get("X-Token") or request.query.get("token") or ""
        )
        return hmac.compare_digest(given.encode("utf-8", "replace"), want.encode())

    @web.middleware
    async def _guard(self, request: web.Request, handler) -> web.StreamResponse:
        if not self._token_ok(request):
            return _error(
                401,
                "a token is needed: open /?token=SECRET or send 'Authorization: Bearer SECRET'",
                **{"WWW-Authenticate": 'Bearer realm="stylize-video"'},
            )
        if self.config.token is None:
            try:
                host = urlsplit("//" + (request.host or "")).hostname or ""
            except ValueError:
                host = ""
            if not is_loopback(host):
                return _error(403, f"Host '{request.host}' is not this machine's loopback name")
            if request.method == "POST" and not _same_origin(request):
                return _error(403, "cross-site requests are refused")
        try:
            resp = await handler(request)
        except web.HTTPException as e:
            if e.status >= 400 and e.content_type != "application/json":
                return _error(e.status, e.reason)
            raise
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")  # the token may be in URLs
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    # -- page --------------------------------------------------------------------------
    async def _page(self, request: web.Request) -> web.Response:
        resp = self._static_file("index.html")
        if self.config.token is not None:
            # the page's own script and stylesheet need the token too (it is valid: the
            # guard let this request through)
            q = "?token=" + quote(self.config.token, safe="")
            body = resp.body.decode()
            for name in ("static/app.js", "static/style.css"):
                body = body.replace(f'"{name}"', f'"{name}{html.escape(q)}"')
            resp.body = body.encode()
        return resp

    async def _static(self, request: web.Request) -> web.Response:
        return self._static_file(request.match_info["name"])

    def _static_file(self, name: str) -> web.Response:
        if name not in STATIC:
            return _error(404, f"no such file: {name}")
        data = resources.files("realtime.web").joinpath(name).read_bytes()
        return web.Response(
            body=data,
            content_type=STATIC[name],
            charset="utf-8",
            headers={
                "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            },
        )

    # -- stream ------------------------------------------------------------------------
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if len(self.viewers) >= self.config.max_viewers:
            self.viewers_refused += 1
            return _error(
                503,
                f"the viewer limit ({self.config.max_viewers}) is reached; try again later",
                **{"Retry-After": "5"},
            )
        self._next_id += 1
        viewer = _Viewer(self._next_id, str(request.remote))
        self.viewers[viewer.id] = viewer
        if request.transport is not None:
            self._transports[viewer.id] = request.transport
        self.bc.watch()
        resp = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            }
        )
        try:
            await resp.prepare(request)
            # Each part ends with the next boundary: browsers show a part when they see
            # the boundary after it, so sending it late would delay every frame by one.
            await resp.write(f"--{BOUNDARY}\r\n".encode())
            # start at the newest frame written, not at a JPEG left from earlier viewers
            last = max(0, self.bc.frames - 1)
            first = True
            while True:
                frame = await self.bc.next_frame(last)
                if frame is None:
                    break
                if not first:
                    viewer.skipped += frame.seq - last - 1
                first = False
                last = viewer.current = frame.seq
                head = f"Content-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n\r\n"
                part = head.encode() + frame.jpeg + f"\r\n--{BOUNDARY}\r\n".encode()
                try:
                    await asyncio.wait_for(resp.write(part), self.config.stall_timeout)
                except TimeoutError:
                    self.viewers_cut_off += 1
                    log.info("viewer %s stopped reading; cut off", viewer.peer)
                    if request.transport is not None:
                        request.transport.abort()
                    break
                viewer.sent += 1
                viewer.bytes += len(part)
        except ConnectionError:
            pass  # the viewer left
        finally:
            self.viewers.pop(viewer.id, None)
            self._transports.pop(viewer.id, None)
            self.bc.unwatch()
        return resp

    # -- api ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        latest = self.bc.latest
        out: dict[str, Any] = {"fps": 0.0, "latency_ms": 0.0, "stylize_ms": 0.0, "frames": 0}
        out.update(self._status())
        out.update(self.controls.state())
        out.update(
            clients=len(self.viewers),
            max_clients=self.config.max_viewers,
            clients_refused=self.viewers_refused,
            clients_cut_off=self.viewers_cut_off,
            viewers=[
                {
                    "id": v.id,
                    "sent": v.sent,
                    "skipped": v.skipped_now(latest.seq if latest else 0),
                    "bytes": v.bytes,
                }
                for v in list(self.viewers.values())
            ],
            frames_encoded=self.bc.encoded,
            jpeg_bytes=len(latest.jpeg) if latest else 0,
            encode_ms=round(self.bc.encode_ms, 2),
        )
        return out

    async def _api_status(self, request: web.Request) -> web.Response:
        return web.json_response(self.status())

    async def _snapshot(self, request: web.Request) -> web.Response:
        fmt = request.query.get("format", "png").lower()
        if fmt not in ("png", "jpeg", "jpg"):
            return _error(400, f"format '{fmt}': use png or jpeg")
        image = self.bc.latest_image()
        if image is None:
            return _error(503, "no frame yet; try again in a moment", **{"Retry-After": "1"})
        loop = asyncio.get_running_loop()
        if fmt == "png":
            data, ctype, ext = (
                await loop.run_in_executor(None, encode_png, image),
                "image/png",
                "png",
            )
        else:
            data = await loop.run_in_executor(None, encode_jpeg, image, 92)
            ctype, ext = "image/jpeg", "jpg"
        name = time.strftime(f"snapshot-%Y%m%d-%H%M%S.{ext}")
        return web.Response(
            body=data,
            content_type=ctype,
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )

    async def _styles(self, request: web.Request) -> web.Response:
        return web.json_response({"styles": self.controls.styles(), **self.controls.state()})

    async def _thumbnail(self, request: web.Request) -> web.Response:
        try:
            index = int(request.match_info["index"])
        except ValueError:
            return _error(400, "style index must be a number")
        data = self.controls.thumbnail(index)
        if data is None:
            return _error(404, f"no thumbnail for style {index} yet")
        return web.Response(body=data, content_type="image/jpeg")

    async def _controls(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, 'send a JSON object, e.g. {"strength": 0.5}')
        if not isinstance(body, dict):
            return _error(400, 'send a JSON object, e.g. {"strength": 0.5}')
        known = {"style", "strength", "preserve_color", "side_by_side"}
        unknown = set(body) - known
        if unknown:
            return _error(400, f"unknown control(s) {sorted(unknown)}; known: {sorted(known)}")
        for key in ("preserve_color", "side_by_side"):
            if key in body and not isinstance(body[key], bool):
                return _error(400, f"{key} must be true or false")
        for key in ("style", "strength"):
            v = body.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                return _error(400, f"{key} must be a number")
        try:
            state = self.controls.update(**body)
        except ValueError as e:
            return _error(400, str(e))
        except NotControllable as e:
            return _error(409, str(e))
        return web.json_response(state)

    # -- upload ------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        limit = self.config.max_upload_bytes
        mb = f"{limit / 1e6:.0f} MB"
        if request.content_length is not None and request.content_length > limit + 4096:
            return _error(413, f"the upload is larger than {mb}; send a smaller image")
        ctype = request.content_type
        name = "upload"
        if ctype.startswith("multipart/"):
            reader = await request.multipart()
            part = None
            while True:
                p = await reader.next()
                if p is None:
                    break
                if isinstance(p, BodyPartReader) and p.filename:  # a file, not a nested form
                    part = p
                    break
                await p.release()
            if part is None:
                return _error(400, "no file in the form; send the image as field 'file'")
            name = part.filename or name
            pctype = part.headers.get("Content-Type", "application/octet-stream")
            if not (pctype.startswith("image/") or pctype == "application/octet-stream"):
                return _error(415, f"{name}: '{pctype}' is not an image; send JPEG, PNG or WebP")
            read = part.read_chunk
        elif ctype.startswith("image/"):
            read = request.content.read
        else:
            return _error(415, f"'{ctype}' is not an image; send JPEG, PNG or WebP")
        data = bytearray()
        while True:
            chunk = await read(64 * 1024)
            if not chunk:
                break
            data += chunk
            if len(data) > limit:
                return _error(413, f"{name}: larger than {mb}; send a smaller image")
        if not data:
            return _error(400, f"{name}: the file is empty")
        assert self._upload_lock is not None
        loop = asyncio.get_running_loop()
        async with self._upload_lock:  # one style network run at a time
            try:
                index = await loop.run_in_executor(None, self._add_upload, bytes(data), name)
            except _Refused as e:
                return _error(e.status, str(e))
        return web.json_response(
            {"index": index, "name": self.controls.style_names[index], **self.controls.state()}
        )

    def _add_upload(self, data: bytes, name: str) -> int:
        """Check, store and add an uploaded style image (runs in a worker thread)."""
        from PIL import Image, UnidentifiedImageError

        from models.images import MAX_PIXELS, load_image

        stem = re.sub(r"[^\w-]+", "_", Path(unquote(name)).stem)[:40].strip("_") or "upload"
        try:
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            with Image.open(io.BytesIO(data)) as im:  # reads the header only
                fmt, (w, h) = im.format, im.size
        except Image.DecompressionBombError:
            raise _Refused(413, f"{name}: too many pixels (decompression bomb?)") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise _Refused(415, f"{name}: not an image; send JPEG, PNG, WebP or BMP") from None
        if fmt not in UPLOAD_FORMATS:
            raise _Refused(415, f"{name}: {fmt} images are not taken; send JPEG, PNG or WebP")
        if w * h > self.config.max_upload_pixels:
            raise _Refused(
                413,
                f"{name}: {w}x{h} is over the {self.config.max_upload_pixels / 1e6:.0f} MP limit; "
                "send a smaller image",
            )
        # a folder per upload keeps the file's own name (it becomes the style's name)
        folder = self._upload_dir / hashlib.sha256(data).hexdigest()[:16]
        folder.mkdir(exist_ok=True)
        path = folder / f"{stem}{UPLOAD_FORMATS[fmt]}"
        path.write_bytes(data)
        try:
            load_image(path)  # the full decode, with the project's checks
            return self.controls.add_style(path)
        except UserError as e:
            shutil.rmtree(folder, ignore_errors=True)
            msg = str(e).replace(str(path), name)
            raise _Refused(413 if "limit" in msg else 400, msg) from None
        except NotControllable as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise _Refused(409, str(e)) from None
        except OverflowError as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise _Refused(409, f"{e}; restart the server to start over") from None


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _same_origin(request: web.Request) -> bool:
    """False for a browser request made by another site (a form posting to localhost)."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host
