"""A moving synthetic scene, so the live filter runs with no camera (and on CI).

What a camera could have filmed: the bundled photo (samples/portrait.jpg) framed on a
textured wall beside a shelf of textured boxes, under a slow pan and zoom; in front of it a
card cut from the photo drifting and turning, a striped ball rolling, and a skin-toned hand
(palm, four fingers and a thumb, shaded and textured) sweeping across with its fingers
waving. Every surface has texture, so optical flow can follow it (the old drifting colour
gradient was flat: flow found nothing to track and no camera produces it). The frame number
sits bottom left like a camera's timestamp (the HUD is top left).

Frames are a pure function of the time ``index / fps``, so runs are reproducible. Textures
are built once per frame size (about 0.4 s at 640x480); a frame is one warpAffine of the
canvas plus small warps of the sprites into their bounding boxes: 2.9 ms at 640x480 on a
quiet core (1 ms of it the background), so a live benchmark's "camera" takes little from
the stylizer.

Paced (default) the source behaves like a camera: a thread renders at `fps` on the
monotonic clock and keeps only the newest frame. Unpaced it yields `frames` frames as fast
as they are asked for, with pts = index / fps, like a file."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.frame import Frame
from realtime.sources.live import LiveSource

_SKIN = np.array([222, 170, 138], np.float32)  # RGB


def _noise(h: int, w: int, rng: np.random.Generator, scales: tuple = (32, 8, 2)) -> np.ndarray:
    """Smooth multi-scale noise in about [-1, 1], float32 HxW."""
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    for cell in scales:
        small = rng.standard_normal((max(2, h // cell + 2), max(2, w // cell + 2)))
        out += amp * cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= 0.6
    return out / 2.0


def _sprite(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA uint8 with premultiplied colour: what the compositor warps (uint8 warps and
    saturating adds cost a third of float ones)."""
    a = mask.astype(np.float32)[..., None]
    return np.clip(np.dstack([rgb.astype(np.float32) * a, a * 255]) + 0.5, 0, 255).astype(np.uint8)


def _shaded(
    mask: np.ndarray, base: np.ndarray, rng: np.random.Generator, grain: float
) -> np.ndarray:
    """A rounded-looking body: darker towards its outline (distance transform), with a
    fine multiplicative texture so flow has something to hold on to."""
    m8 = mask.astype(np.uint8)
    dist = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    r = max(1.0, float(dist.max()))
    shade = 0.62 + 0.38 * np.sqrt(np.clip(dist / r, 0, 1))
    tex = 1 + grain * _noise(*mask.shape, rng, scales=(6, 2))
    rgb = base[None, None, :] * (shade * tex)[..., None]
    return np.clip(rgb, 0, 255)


def _capsule(length: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """A finger: a rounded bar pointing up, with knuckle creases; returns the RGBA sprite
    and its pivot (the middle of its base) in sprite pixels."""
    pad = 2
    h, w = length + 2 * pad, width + 2 * pad
    mask = np.zeros((h, w), np.uint8)
    r = max(1, width // 2)
    cv2.rectangle(mask, (pad, pad + r), (pad + width - 1, h - pad - 1), 1, -1)
    cv2.circle(mask, (w // 2, pad + r), r, 1, -1, lineType=cv2.LINE_8)
    rgb = _shaded(mask, _SKIN, rng, 0.10)
    for f in (0.33, 0.62):  # knuckle creases
        y = int(pad + r + f * (length - r))
        cv2.line(rgb, (pad + 1, y), (pad + width - 2, y), (150, 100, 80), max(1, width // 8))
    nail = (w // 2, pad + r)  # a paler nail at the tip
    cv2.ellipse(rgb, nail, (max(1, r // 2), max(1, r * 2 // 3)), 0, 0, 360, (236, 200, 186), -1)
    rgb *= mask[..., None]
    return _sprite(rgb, mask), (w / 2.0, h - pad - 1.0)


def _affine(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    """3x3: rotate by `angle` (radians, clockwise on screen) and scale about the origin,
    then translate."""
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty], [0, 0, 1]], np.float64)


def _translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)


@dataclass
class _Layer:
    sprite: np.ndarray  # RGBA premultiplied uint8
    matrix: np.ndarray  # 3x3 sprite -> frame
    name: str


class PatternScene:
    """The scene for one frame size: textures built once, ``render(t)`` per frame.

    ``camera(t)`` is the 2x3 affine from canvas (the wall with the photo) to frame pixels,
    so tests know the background's true motion; ``render(t, masks=True)`` also returns the
    boolean masks of the moving things ("hand", "objects")."""

    def __init__(self, width: int, height: int) -> None:
        from PIL import Image

        from samples import PORTRAIT

        self.width, self.height = int(width), int(height)
        w, h = self.width, self.height
        rng = np.random.default_rng(20261129)
        # canvas: room for the pan (+-8 % of the width) and the zoom out (0.9x)
        self.cw, self.ch = max(8, round(1.6 * w)), max(8, round(1.6 * h))
        cw, ch = self.cw, self.ch
        wall = np.empty((ch, cw, 3), np.float32)
        n = _noise(ch, cw, rng, scales=(max(2, ch // 6), max(2, ch // 40), 2))
        grain = _noise(ch, cw, rng, scales=(3, 1))
        for c, base in enumerate((196, 184, 160)):  # warm plaster with a fine grain
            wall[..., c] = base * (1 + 0.12 * n + 0.09 * grain)
        # a shelf of boxes on the right: stripes, checks and speckle, each its own colour
        x0 = int(0.66 * cw)
        shelf_y = int(0.62 * ch)
        cv2.rectangle(wall, (x0 - 4, shelf_y), (cw, shelf_y + max(2, ch // 40)), (90, 60, 40), -1)
        x = x0
        while x < cw:
            bw = int(rng.integers(max(3, cw // 40), max(4, cw // 14)))
            bh = int(rng.integers(max(3, ch // 8), max(4, ch // 3)))
            col = rng.uniform(40, 230, 3).astype(np.float32)
            yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
            kind = int(rng.integers(0, 3))
            period = float(rng.uniform(3, 9)) * max(1.0, h / 240)
            if kind == 0:
                pat = 0.75 + 0.25 * np.sign(np.sin(yy * 2 * np.pi / period))
            elif kind == 1:
                pat = 0.7 + 0.3 * ((xx // period + yy // period) % 2)
            else:
                pat = 0.8 + 0.2 * _noise(bh, bw, rng, scales=(2, 1))
            box = col[None, None, :] * pat[..., None]
            top = max(0, shelf_y - bh)
            wall[top:shelf_y, x : x + bw] = box[: shelf_y - top, : cw - x]
            x += bw + int(rng.integers(1, 4))
        # the photo in a dark wooden frame, left of centre
        photo = np.asarray(Image.open(PORTRAIT).convert("RGB"))
        ph = max(4, int(0.62 * ch))
        pw = max(4, round(ph * photo.shape[1] / photo.shape[0]))
        photo = cv2.resize(photo, (pw, ph), interpolation=cv2.INTER_AREA)
        px, py = int(0.18 * cw), int(0.17 * ch)
        border = max(2, ch // 50)
        frame_col = np.array([70, 45, 30], np.float32)
        wood = (
            frame_col
            * (1 + 0.25 * _noise(ph + 2 * border, pw + 2 * border, rng, (8, 2)))[..., None]
        )
        y1, x1 = min(ch, py + ph + border), min(cw, px + pw + border)
        wall[py - border : y1, px - border : x1] = wood[: y1 - py + border, : x1 - px + border]
        wall[py : min(ch, py + ph), px : min(cw, px + pw)] = photo[: ch - py, : cw - px]
        self.canvas = np.clip(wall, 0, 255).astype(np.uint8)

        # a card cut from the photo (the face), with a white margin
        size = max(4, int(0.26 * h))
        face = photo[int(0.12 * ph) : int(0.55 * ph), int(0.2 * pw) : int(0.8 * pw)]
        face = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
        m = max(1, size // 14)
        card = np.full((size + 2 * m, size + 2 * m, 3), 240, np.float32)
        card[m:-m, m:-m] = face
        self.card = _sprite(card, np.ones(card.shape[:2], np.float32))
        # a ball: coloured segments and speckle, shaded like a sphere
        d = max(4, int(0.2 * h)) | 1
        yy, xx = np.mgrid[0:d, 0:d].astype(np.float32) - d // 2
        inside = (xx**2 + yy**2 <= (d // 2) ** 2).astype(np.uint8)
        seg = ((np.arctan2(yy, xx) / (2 * np.pi) * 6) % 6).astype(int)
        colours = np.array(
            [[220, 40, 40], [250, 210, 40], [40, 120, 220], [240, 240, 240], [40, 170, 80],
             [250, 130, 30]], np.float32)  # fmt: skip
        ball = colours[seg] * (1 + 0.12 * _noise(d, d, rng, scales=(3, 1)))[..., None]
        ball = _shaded(inside, np.ones(3, np.float32), rng, 0.0) * ball
        self.ball = _sprite(np.clip(ball, 0, 255) * inside[..., None], inside)
        self.ball_radius = d / 2
        # the hand: palm, four fingers, thumb (sizes in units of its height)
        s = max(8.0, 0.5 * h)
        self.hand_size = s
        # the palm: a rounded trapezoid, wider at the knuckles, with a heel at the bottom
        pw_, ph_ = int(0.44 * s), int(0.46 * s)
        pad = max(2, int(0.04 * s))
        palm_mask = np.zeros((ph_ + 2 * pad, pw_ + 2 * pad), np.uint8)
        poly = (
            np.array([[0, 0], [pw_, 0], [int(0.9 * pw_), ph_], [int(0.12 * pw_), ph_]], np.int32)
            + pad
        )
        cv2.fillPoly(palm_mask, [poly], 1)
        k = 2 * max(1, int(0.05 * s)) + 1  # round the corners: blur the polygon, threshold
        palm_mask = (cv2.GaussianBlur(palm_mask.astype(np.float32), (k, k), 0) > 0.5).astype(
            np.uint8
        )
        palm = _shaded(palm_mask, _SKIN, rng, 0.07)
        for x0, y0, x1, y1 in (
            (0.1, 0.3, 0.85, 0.22),
            (0.15, 0.5, 0.7, 0.38),
            (0.3, 0.95, 0.5, 0.45),
        ):
            pts = np.array(
                [[x0 * pw_, y0 * ph_], [(x0 + x1) / 2 * pw_, (y0 + y1) / 2 * ph_ + 0.04 * ph_],
                 [x1 * pw_, y1 * ph_]], np.int32) + pad  # fmt: skip
            cv2.polylines(palm, [pts], False, (165, 115, 95), max(1, int(s / 140)), cv2.LINE_AA)
        palm *= palm_mask[..., None]
        self.palm = _sprite(palm, palm_mask)
        self.palm_pivot = (pad + pw_ / 2, pad + ph_ * 0.45)  # palm centre, fingers hang off it
        # the forearm hangs from the heel of the palm (out of the frame's bottom)
        aw, al = max(3, int(0.3 * s)), max(4, int(0.8 * s))
        arm_mask = np.zeros((al, aw + 4), np.uint8)
        cv2.rectangle(arm_mask, (2, 0), (aw + 1, al - 1), 1, -1)
        self.arm = _sprite(_shaded(arm_mask, _SKIN * 0.97, rng, 0.07), arm_mask)
        self.arm_pivot = ((aw + 4) / 2, 0.0)  # top middle: tucked under the palm's heel
        self.fingers = []
        fw = max(2, int(0.095 * s))
        # (base x, base y relative to the palm centre, length, rest angle) in units of s;
        # the bases sit inside the palm, so a bending finger leaves no gap
        for bx, by, ln, rest in (
            (-0.160, -0.15, 0.34, -0.10),
            (-0.055, -0.16, 0.39, -0.03),
            (0.055, -0.16, 0.37, 0.03),
            (0.155, -0.14, 0.30, 0.10),
            (-0.150, 0.06, 0.30, -1.0),  # thumb
        ):
            sprite, pivot = _capsule(max(3, int(ln * s)), fw if rest > -0.5 else fw + 1, rng)
            self.fingers.append((sprite, pivot, bx * s, by * s, rest))

    # --- motion -------------------------------------------------------------------------

    def camera(self, t: float) -> np.ndarray:
        """2x3 affine canvas -> frame at time t: a slow pan (up to about 1.3 px per frame
        at 30 fps and 640x480) and a zoom breathing between 0.9x and 1.1x; the canvas is
        large enough that the view never leaves it."""
        w, h = self.width, self.height
        zoom = 1.0 + 0.1 * math.sin(2 * math.pi * t / 17.0)
        k = zoom * 1.0 / 1.2  # 1.2 canvas pixels per frame pixel at zoom 1
        cx = self.cw / 2 + 0.12 * w * math.sin(2 * math.pi * t / 10.0)
        cy = self.ch / 2 + 0.07 * h * math.sin(2 * math.pi * t / 13.0 + 1.0)
        return np.array([[k, 0, w / 2 - k * cx], [0, k, h / 2 - k * cy]], np.float64)

    def _layers(self, t: float) -> list[_Layer]:
        w, h = self.width, self.height
        layers = []
        # the card drifts on an ellipse in the upper right, turning slowly
        cs = self.card.shape
        ang = 0.35 * math.sin(2 * math.pi * t / 9.0)
        cx = w * (0.72 + 0.12 * math.cos(2 * math.pi * t / 15.0))
        cy = h * (0.32 + 0.10 * math.sin(2 * math.pi * t / 15.0))
        m = _affine(1.0, ang, cx, cy) @ _translate(-cs[1] / 2, -cs[0] / 2)
        layers.append(_Layer(self.card, m, "objects"))
        # the ball rolls back and forth along the bottom: turning by distance / radius
        span = w * 0.7
        u = (t * 0.09 * w) % (2 * span)
        bx = w * 0.15 + (u if u < span else 2 * span - u)
        roll = (t * 0.09 * w) / self.ball_radius * (1 if u < span else -1)
        by = h * 0.85 - abs(math.sin(2 * math.pi * t / 1.7)) * 0.05 * h
        d = self.ball.shape[0]
        m = _affine(1.0, roll, bx, by) @ _translate(-d / 2, -d / 2)
        layers.append(_Layer(self.ball, m, "objects"))
        # the hand sweeps across (triangle wave over 12 s) with a bob and a slight turn
        period = 12.0
        f = (t / period) % 1.0
        tri = 2 * f if f < 0.5 else 2 - 2 * f
        hx = w * (0.12 + 0.76 * tri)
        hy = h * (0.62 + 0.06 * math.sin(2 * math.pi * t / 2.3))
        hand = _affine(1.0, 0.15 * math.sin(2 * math.pi * t / 4.1), hx, hy)
        for i, (sprite, (px, py), fx, fy, rest) in enumerate(self.fingers):
            wave = 0.22 * math.sin(2 * math.pi * t / 1.3 + 0.9 * i)
            if i == 4:
                wave *= 0.5
            m = hand @ _affine(1.0, rest + wave, fx, fy) @ _translate(-px, -py)
            layers.append(_Layer(sprite, m, "hand"))
        px, py = self.arm_pivot
        arm = hand @ _affine(1.0, 0.1, 0.0, 0.15 * self.hand_size)
        layers.insert(len(layers) - 5, _Layer(self.arm, arm @ _translate(-px, -py), "hand"))
        px, py = self.palm_pivot
        layers.append(_Layer(self.palm, hand @ _translate(-px, -py), "hand"))
        return layers

    # --- drawing ------------------------------------------------------------------------

    def render(
        self, t: float, masks: bool = False
    ) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
        """RGB uint8 frame at time t (and the moving things' masks when ``masks``)."""
        w, h = self.width, self.height
        img = cv2.warpAffine(
            self.canvas,
            self.camera(t),
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        found = {"hand": np.zeros((h, w), bool), "objects": np.zeros((h, w), bool)}
        for layer in self._layers(t):
            self._paste(img, layer, found[layer.name] if masks else None)
        return (img, found) if masks else img

    def _paste(self, img: np.ndarray, layer: _Layer, mask: np.ndarray | None) -> None:
        # Warp the sprite only into its bounding box: a hand finger costs a few hundred
        # pixels, not a full frame.
        sh, sw = layer.sprite.shape[:2]
        corners = layer.matrix[:2] @ np.array([[0, sw, 0, sw], [0, 0, sh, sh], [1, 1, 1, 1]])
        x0 = max(0, math.floor(corners[0].min()) - 1)
        y0 = max(0, math.floor(corners[1].min()) - 1)
        x1 = min(self.width, math.ceil(corners[0].max()) + 2)
        y1 = min(self.height, math.ceil(corners[1].max()) + 2)
        if x1 <= x0 or y1 <= y0:
            return
        m = (_translate(-x0, -y0) @ layer.matrix)[:2]
        warped = cv2.warpAffine(
            layer.sprite, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0
        )
        a = warped[..., 3]
        roi = img[y0:y1, x0:x1]
        keep = cv2.merge([255 - a] * 3)
        roi[:] = cv2.add(cv2.multiply(roi, keep, scale=1 / 255), warped[..., :3])
        if mask is not None:
            mask[y0:y1, x0:x1] |= a > 127


@functools.lru_cache(maxsize=4)
def pattern_scene(width: int, height: int) -> PatternScene:
    """The scene for a frame size, built once (textures cost ~0.1 s, frames a few ms)."""
    return PatternScene(width, height)


def render_pattern(index: int, width: int, height: int, fps: float) -> np.ndarray:
    """Frame `index` of the scene (see the module doc) at time index / fps, with the frame
    number bottom left."""
    img = pattern_scene(width, height).render(index / fps)
    scale = max(0.3, height / 480)
    cv2.putText(
        img,
        f"{index:06d}",
        (8, height - 8),  # bottom left: the HUD sits top left
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        max(1, int(2 * scale)),
        cv2.LINE_AA,
    )
    return img


class TestPatternSource(LiveSource):
    __test__ = False  # not a pytest class

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        *,
        frames: int | None = None,
        paced: bool = True,
    ) -> None:
        super().__init__()
        self.name = "testpattern"
        self.width, self.height, self.fps = width, height, float(fps)
        self.frames = frames
        self.paced = paced
        self.live = paced
        if not paced:
            self.pts_clock = None
        self._next = 0
        self._t0: float | None = None

    def _grab(self) -> np.ndarray | None:
        if self.frames is not None and self._next >= self.frames:
            return None
        if self._t0 is None:
            pattern_scene(self.width, self.height)  # textures before the clock starts
            self._t0 = time.monotonic()
        due = self._t0 + self._next / self.fps
        delay = due - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            return None
        img = render_pattern(self._next, self.width, self.height, self.fps)
        self._next += 1
        return img

    def __iter__(self) -> Iterator[Frame]:
        if self.paced:
            yield from super().__iter__()
            return
        i = 0
        while (self.frames is None or i < self.frames) and not self._stop.is_set():
            yield Frame(render_pattern(i, self.width, self.height, self.fps), i / self.fps, i)
            i += 1
