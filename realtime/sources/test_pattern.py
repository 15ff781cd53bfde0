"""A moving synthetic scene, so the live filter runs with no camera (and on CI).

What a camera could have filmed: the bundled photo (samples/portrait.jpg) framed on a
textured wall beside a shelf of textured boxes, under a slow pan and zoom; in front of it a
card cut from the photo drifting and turning, a striped ball rolling, and a skin-toned hand
(palm, four fingers and a thumb, shaded and textured) sweeping across with its fingers
waving. Every surface has texture, so optical flow can follow it (the old drifting colour
gradient was flat: flow found nothing to track and no camera produces it). The frame number
sits bottom left like a camera's timestamp (the HUD is top left).

A second scene, "still" (``StillScene``, ``--source testpattern:still``), films the same
room with a camera that does not move: a teal van drives in and parks, then the exposure
steps and the white balance shifts, at the times the module's constants give (VAN_ENTERS_AT
and on): what leaves `--changed`'s frozen statistics stale. ``write_clip`` writes a scene
as a video file.

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
from fractions import Fraction
from pathlib import Path

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

    mask_names: tuple[str, ...] = ("hand", "objects")

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
        return layers + self._hand_layers(hand, t)

    def _hand_layers(self, hand: np.ndarray, t: float) -> list[_Layer]:
        """Arm, fingers (waving) and palm, back to front, placed by `hand` (3x3, the palm
        centre's frame position and turn)."""
        px, py = self.arm_pivot
        arm = hand @ _affine(1.0, 0.1, 0.0, 0.15 * self.hand_size)
        layers = [_Layer(self.arm, arm @ _translate(-px, -py), "hand")]
        for i, (sprite, (px, py), fx, fy, rest) in enumerate(self.fingers):
            wave = 0.22 * math.sin(2 * math.pi * t / 1.3 + 0.9 * i)
            if i == 4:
                wave *= 0.5
            m = hand @ _affine(1.0, rest + wave, fx, fy) @ _translate(-px, -py)
            layers.append(_Layer(sprite, m, "hand"))
        px, py = self.palm_pivot
        layers.append(_Layer(self.palm, hand @ _translate(-px, -py), "hand"))
        return layers

    # --- drawing ------------------------------------------------------------------------

    def render(
        self, t: float, masks: bool = False
    ) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
        """RGB uint8 frame at time t (and the moving things' masks when ``masks``)."""
        img = self._backdrop(t)
        found = {name: np.zeros((self.height, self.width), bool) for name in self.mask_names}
        for layer in self._layers(t):
            self._paste(img, layer, found[layer.name] if masks else None)
        img = self._develop(img, t)
        return (img, found) if masks else img

    def _backdrop(self, t: float) -> np.ndarray:
        """The canvas as the camera sees it at time t (a new array: layers go on it)."""
        return cv2.warpAffine(
            self.canvas,
            self.camera(t),
            (self.width, self.height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )

    def _develop(self, img: np.ndarray, t: float) -> np.ndarray:
        """What the camera does to the composed image (nothing here)."""
        return img

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


# The still scene's events (seconds; see StillScene).
VAN_ENTERS_AT = 2.0  # the van's nose crosses the left edge
VAN_ENTRY_SECONDS = 1.5  # ... and it is parked (still) from VAN_PARKED_AT on
VAN_PARKED_AT = VAN_ENTERS_AT + VAN_ENTRY_SECONDS
EXPOSURE_AT = 6.0  # every pixel times EXPOSURE from this frame on (auto-exposure jump)
EXPOSURE = 0.7
WHITE_BALANCE_AT = 8.0  # then each channel times WHITE_BALANCE (R, G, B): warmer
WHITE_BALANCE = (1.06, 1.0, 0.85)
STILL_SECONDS = 10.0  # a clip this long holds every event with time to settle after each
STILL_PHASES = (  # (what the frames from `start` s on show, start)
    ("still", 0.0),
    ("van entering", VAN_ENTERS_AT),
    ("van parked", VAN_PARKED_AT),
    ("exposure stepped", EXPOSURE_AT),
    ("white balance shifted", WHITE_BALANCE_AT),
)
_VAN_RGB = np.array([20, 135, 165], np.float32)  # saturated teal: nothing else is


class StillScene(PatternScene):
    """The same room seen by a camera that does not move, as a test of what goes stale
    when statistics are frozen (`--changed`): the hand waves in place on the right (so the
    scene is never frozen) while

    - from VAN_ENTERS_AT a large teal van (about 30 % of the frame, textured, shaded, its
      wheels turning, a soft shadow under it) drives in from the left, slowing down over
      VAN_ENTRY_SECONDS, and stays parked;
    - at EXPOSURE_AT the exposure steps: every pixel times EXPOSURE from one frame to the
      next, and stays so;
    - at WHITE_BALANCE_AT the white balance shifts: channels times WHITE_BALANCE.

    ``render(t, masks=True)`` returns the masks "hand" and "van" (its shadow excluded)."""

    mask_names = ("hand", "van")

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        w, h = self.width, self.height
        rng = np.random.default_rng(20261205)
        room = self._floor(super()._backdrop(0.0), rng)
        self.room = room
        # side view, nose to the right; its size follows the height (so it stays van-shaped)
        # but never spans more than 70 % of the width
        vh = max(6, round(0.56 * h))
        vw = max(8, round(min(2.1 * vh, 0.7 * w)))
        self.van = self._van_body(vw, vh, rng)
        r = max(1.0, 0.17 * vh)
        self.wheel = self._wheel(r, rng)
        self.wheel_radius = r
        self.wheel_centres = [(0.2 * vw, 0.8 * vh), (0.8 * vw, 0.8 * vh)]
        shadow = np.zeros((max(3, round(0.16 * vh)), round(1.1 * vw)), np.float32)
        cv2.ellipse(
            shadow,
            (shadow.shape[1] // 2, shadow.shape[0] // 2),
            (shadow.shape[1] // 2 - 1, max(1, shadow.shape[0] // 2 - 1)),
            0, 0, 360, 0.45, -1,
        )  # fmt: skip
        k = 2 * max(1, shadow.shape[0] // 3) + 1
        shadow = cv2.GaussianBlur(shadow, (k, k), 0)  # below 0.5: never in the van's mask
        self.shadow = _sprite(np.zeros((*shadow.shape, 3), np.float32), shadow)
        self.parked_x = 0.05 * w  # the van's left edge when parked
        self.start_x = -vw - 2.0  # ... and before it enters: just out of the frame
        self.van_top = h - 0.01 * h - 0.97 * vh  # the tyres touch the floor

    # --- textures -----------------------------------------------------------------------

    def _floor(self, room: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Wooden floorboards below a skirting board over the frame's bottom fifth."""
        h, w = room.shape[:2]
        y0 = int(0.8 * h)
        fh = h - y0
        if fh < 2:
            return room
        yy = np.arange(fh, dtype=np.float32)[:, None]
        boards = max(2, fh // 6)
        grain = _noise(fh, w, rng, scales=(max(2, fh // 3), 2))
        streak = _noise(fh, max(2, w // 8), rng, scales=(2, 1))
        streak = cv2.resize(streak, (w, fh), interpolation=cv2.INTER_LINEAR)
        seam = ((yy % (fh / boards)) < max(1.0, fh / 40)).astype(np.float32)
        light = 0.8 + 0.25 * yy / fh  # nearer, lighter
        tone = light * (1 + 0.08 * grain + 0.12 * streak) * (1 - 0.35 * seam)
        floor = np.array([150, 105, 65], np.float32)[None, None, :] * tone[..., None]
        room = room.copy()
        room[y0:] = np.clip(floor, 0, 255).astype(np.uint8)
        skirt = max(1, h // 60)
        room[max(0, y0 - skirt) : y0] = (236, 230, 214)
        return room

    def _van_body(self, vw: int, vh: int, rng: np.random.Generator) -> np.ndarray:
        def pts(*xy: tuple[float, float]) -> np.ndarray:
            return np.array([[x * vw, y * vh] for x, y in xy], np.int32)

        mask = np.zeros((vh, vw), np.uint8)
        outline = pts(
            (0.0, 0.06), (0.02, 0.02), (0.70, 0.02), (0.75, 0.05), (0.88, 0.38),
            (0.985, 0.45), (1.0, 0.50), (1.0, 0.80), (0.0, 0.80),
        )  # fmt: skip
        cv2.fillPoly(mask, [outline], 1)
        k = 2 * max(1, vh // 40) + 1  # rounded corners
        mask = (cv2.GaussianBlur(mask.astype(np.float32), (k, k), 0) > 0.5).astype(np.uint8)
        rgb = _shaded(mask, _VAN_RGB, rng, 0.06)
        yy = np.linspace(1.12, 0.82, vh, dtype=np.float32)[:, None, None]  # lit from above
        dirt = 1 - 0.25 * np.clip(_noise(vh, vw, rng, (4, 2)), 0, 1)[..., None]
        rgb *= yy * np.where(np.arange(vh)[:, None, None] > 0.62 * vh, dirt, 1)
        line = max(1, vh // 90)
        dark = (12, 50, 62)
        # a white band with the firm's name along the cargo side
        cv2.rectangle(rgb, tuple(pts((0.01, 0.42))[0]), tuple(pts((0.98, 0.56))[0]),
                      (232, 236, 230), -1)  # fmt: skip
        name, font = "NORTHWIND PARCELS", cv2.FONT_HERSHEY_DUPLEX
        scale = 0.5 * vw / cv2.getTextSize(name, font, 1.0, 1)[0][0]
        text = np.zeros((vh, vw), np.uint8)  # putText draws on 8 bits only
        x, y = pts((0.06, 0.53))[0]
        cv2.putText(text, name, (int(x), int(y)), font, scale, 255, max(1, round(1.5 * scale)),
                    cv2.LINE_AA)  # fmt: skip
        ink = (text.astype(np.float32) / 255)[..., None]
        rgb = rgb * (1 - ink) + _VAN_RGB * 0.7 * ink
        # doors: the sliding one and the cab's, with handles; the wheel arches
        cv2.rectangle(rgb, tuple(pts((0.33, 0.06))[0]), tuple(pts((0.58, 0.76))[0]), dark, line)
        cv2.line(rgb, tuple(pts((0.60, 0.05))[0]), tuple(pts((0.60, 0.76))[0]), dark, line)
        for x in (0.35, 0.62):
            cv2.rectangle(rgb, tuple(pts((x, 0.40))[0]), tuple(pts((x + 0.04, 0.42))[0]),
                          (60, 64, 66), -1)  # fmt: skip
        for cx in (0.2, 0.8):
            cv2.circle(rgb, tuple(pts((cx, 0.8))[0]), round(0.21 * vh), (22, 24, 26), -1)
        # windows: dark glass with a pale reflection across
        glass = np.zeros((vh, vw), np.uint8)
        cv2.fillPoly(glass, [pts((0.62, 0.08), (0.73, 0.08), (0.84, 0.36), (0.62, 0.36))], 1)
        cv2.fillPoly(glass, [pts((0.04, 0.08), (0.20, 0.08), (0.20, 0.30), (0.04, 0.30))], 1)
        yy, xx = np.mgrid[0:vh, 0:vw].astype(np.float32)
        shine = np.clip(1 - np.abs(((xx / vw + yy / vh) * 6) % 2 - 1) * 3, 0, 1)
        glass_rgb = np.array([38, 48, 58], np.float32) * (1 + 1.6 * shine)[..., None]
        rgb = np.where(glass[..., None] > 0, glass_rgb, rgb)
        # lights and bumpers
        cv2.rectangle(rgb, tuple(pts((0.95, 0.50))[0]), tuple(pts((1.0, 0.58))[0]),
                      (250, 240, 190), -1)  # fmt: skip
        cv2.rectangle(rgb, tuple(pts((0.0, 0.10))[0]), tuple(pts((0.02, 0.30))[0]),
                      (200, 30, 30), -1)  # fmt: skip
        for x0, x1 in ((0.0, 0.07), (0.90, 1.0)):
            cv2.rectangle(rgb, tuple(pts((x0, 0.70))[0]), tuple(pts((x1, 0.80))[0]),
                          (48, 50, 52), -1)  # fmt: skip
        rgb = np.clip(rgb, 0, 255) * mask[..., None]
        return _sprite(rgb, mask)

    def _wheel(self, r: float, rng: np.random.Generator) -> np.ndarray:
        """A tyre with a five-bolt rim, so its turning shows."""
        d = max(3, 2 * math.ceil(r) + 1)
        c = (d // 2, d // 2)
        mask = np.zeros((d, d), np.uint8)
        cv2.circle(mask, c, d // 2, 1, -1)
        tread = 1 + 0.3 * _noise(d, d, rng, (3, 1))
        rgb = np.array([30, 30, 32], np.float32) * tread[..., None]
        cv2.circle(rgb, c, max(1, round(0.58 * r)), (176, 178, 182), -1)
        cv2.circle(rgb, c, max(1, round(0.2 * r)), (96, 98, 102), -1)
        for i in range(5):
            a = 2 * math.pi * i / 5
            p = (round(c[0] + 0.38 * r * math.cos(a)), round(c[1] + 0.38 * r * math.sin(a)))
            cv2.circle(rgb, p, max(1, round(0.08 * r)), (40, 40, 44), -1)
        return _sprite(np.clip(rgb, 0, 255) * mask[..., None], mask)

    # --- motion -------------------------------------------------------------------------

    def camera(self, t: float) -> np.ndarray:
        """Still: the canvas's centre at zoom 1, whatever t."""
        k = 1.0 / 1.2
        w, h = self.width, self.height
        return np.array([[k, 0, w / 2 - k * self.cw / 2], [0, k, h / 2 - k * self.ch / 2]])

    def van_x(self, t: float) -> float:
        """The van's left edge in frame pixels: driving in, braking to a stop (ease out)."""
        u = min(1.0, max(0.0, (t - VAN_ENTERS_AT) / VAN_ENTRY_SECONDS))
        return self.start_x + (self.parked_x - self.start_x) * (1 - (1 - u) ** 2)

    def gains(self, t: float) -> np.ndarray:
        """Per channel (R, G, B) factor the camera applies at time t."""
        g = np.ones(3)
        if t >= EXPOSURE_AT:
            g *= EXPOSURE
        if t >= WHITE_BALANCE_AT:
            g *= WHITE_BALANCE
        return g

    def _layers(self, t: float) -> list[_Layer]:
        w, h = self.width, self.height
        x = self.van_x(t)
        top = self.van_top
        sh, sw = self.shadow.shape[:2]
        vh, vw = self.van.shape[:2]
        layers = [
            _Layer(self.shadow, _translate(x + (vw - sw) / 2, top + 0.97 * vh - sh / 2), "van"),
            _Layer(self.van, _translate(x, top), "van"),
        ]
        d = self.wheel.shape[0]
        turn = (x - self.start_x) / self.wheel_radius
        for cx, cy in self.wheel_centres:
            m = _affine(1.0, turn, x + cx, top + cy) @ _translate(-d / 2, -d / 2)
            layers.append(_Layer(self.wheel, m, "van"))
        # the hand waves in place on the right, clear of the parked van
        hx = w * (0.86 + 0.015 * math.sin(2 * math.pi * t / 5.0))
        hy = h * (0.62 + 0.02 * math.sin(2 * math.pi * t / 2.3))
        hand = _affine(1.0, 0.08 * math.sin(2 * math.pi * t / 3.1), hx, hy)
        return layers + self._hand_layers(hand, t)

    # --- drawing ------------------------------------------------------------------------

    def _backdrop(self, t: float) -> np.ndarray:
        return self.room.copy()

    def _develop(self, img: np.ndarray, t: float) -> np.ndarray:
        g = self.gains(t)
        if np.all(g == 1):
            return img
        lut = np.clip(np.arange(256)[:, None] * g[None, :] + 0.5, 0, 255).astype(np.uint8)
        return cv2.LUT(img, lut[None])


SCENES = {"moving": PatternScene, "still": StillScene}


@functools.lru_cache(maxsize=4)
def scene(kind: str, width: int, height: int) -> PatternScene:
    """The scene `kind` (a key of SCENES) for a frame size, built once (textures cost
    ~0.1 s, frames a few ms)."""
    return SCENES[kind](width, height)


def pattern_scene(width: int, height: int) -> PatternScene:
    """The moving scene for a frame size, built once."""
    return scene("moving", width, height)


def still_scene(width: int, height: int) -> StillScene:
    """The still scene (van, exposure step) for a frame size, built once."""
    return scene("still", width, height)


def render_still(index: int, width: int, height: int, fps: float) -> np.ndarray:
    """Frame `index` of the still scene, as `render_pattern` gives the moving one."""
    return render_pattern(index, width, height, fps, "still")


def render_pattern(
    index: int, width: int, height: int, fps: float, kind: str = "moving"
) -> np.ndarray:
    """Frame `index` of the scene `kind` (see the module doc) at time index / fps, with the
    frame number bottom left."""
    img = scene(kind, width, height).render(index / fps)
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
        scene: str = "moving",
    ) -> None:
        super().__init__()
        if scene not in SCENES:
            raise ValueError(f"unknown test pattern scene {scene!r}")
        self.scene = scene
        self.name = "testpattern" if scene == "moving" else f"testpattern:{scene}"
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
            scene(self.scene, self.width, self.height)  # textures before the clock starts
            self._t0 = time.monotonic()
        due = self._t0 + self._next / self.fps
        delay = due - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            return None
        img = render_pattern(self._next, self.width, self.height, self.fps, self.scene)
        self._next += 1
        return img

    def __iter__(self) -> Iterator[Frame]:
        if self.paced:
            yield from super().__iter__()
            return
        i = 0
        while (self.frames is None or i < self.frames) and not self._stop.is_set():
            img = render_pattern(i, self.width, self.height, self.fps, self.scene)
            yield Frame(img, i / self.fps, i)
            i += 1


def write_clip(
    path: str | Path,
    kind: str = "still",
    *,
    seconds: float = STILL_SECONDS,
    width: int = 640,
    height: int = 360,
    fps: float = 30.0,
    crf: int = 12,
) -> Path:
    """The scene `kind` as a video file (H.264 yuv420p at `crf`, with the frame number),
    frames 0 .. seconds * fps - 1 at exactly index / fps: the still scene's events as a
    clip for benchmarks and the file commands. Written to a temp file, then renamed."""
    from realtime.sinks.ffmpeg_writer import FfmpegVideoWriter

    frames = round(seconds * fps)
    source = TestPatternSource(width, height, fps, frames=frames, paced=False, scene=kind)
    with FfmpegVideoWriter(path, fps=fps, crf=crf) as sink:
        sink.open(1 / Fraction(fps).limit_denominator(1001))
        for frame in source:
            sink.write(frame)
    return Path(path)
