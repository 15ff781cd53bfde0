"""Stylize only what changed: exact partial re-stylization along the optical flow.

Both stylization networks are convolutions and instance norms. With the norms' statistics
frozen at those of a full frame, a crop of a later frame stylizes exactly as the full frame
would inside a margin (docs/design.md section 3.5). So a frame can be
re-stylized only where it changed, at full working size, without a visible seam.

``ChangeDrivenProcessor`` wraps a stylizer that offers ``stylize_with_stats(image)`` and
``stylize_regions(image, boxes, stats, margin)`` and, per source frame:

1. warps the *anchor* (the last fully stylized frame, whose statistics are frozen) onto
   the frame along the flow: content that was there stays as it was stylized, without
   resampling it again and again;
2. carries the regions stylized since then (the *fresh layer*) along the one-frame flow
   from the previous output, while that flow holds, with their age in frames;
3. marks what neither explains (the change mask): against the anchor, the warped source
   differs from the frame (blurred residual above 25/255), or a textured pixel is
   occluded or uncovered and moving; unless the fresh layer holds it, the one-frame flow
   explains it, and it is younger than ``refresh_age`` frames (a rolling refresh, so no
   region stays stale). Flat areas where the flow fails do not count (a warp is harmless
   there), nor do specks. The mask is grown by ``grow`` px (the network restyles what is
   that close to a change too: 4 px left 1.9x the error of frame-by-frame `--temporal`
   output on the still test scene, 24 px 1.4x), snapped to tiles and covered by a few merged boxes;
4. stylizes those boxes with the anchor's statistics (with the default 64 px margin the
   box interiors are exactly what a full frame would give) and pastes them with feathered
   seams;
5. stylizes a full frame instead (a new anchor, fresh statistics) on the first frame, a
   scene cut, a change of style, strength or colour mode, when the anchor is ``max_age``
   frames old, when the boxes' windows would cover more than ``full_ratio`` of the frame
   (0.4: on OpenVINO a window of 40% on the dynamic compile costs 0.73 of a full frame,
   one of 75% 1.46; a full frame is as cheap and brings fresh statistics), or when the
   frozen statistics no longer fit the frame: its colour moments (``colour_moments``) have
   drifted more than ``drift_limit`` from the anchor's, or more than ``global_share`` of it
   changed since the anchor. The network normalizes every layer by the whole picture's
   statistics, so an exposure step, a white-balance shift or a large object of another
   colour recolours the whole output frame by frame; regions with the old statistics would
   keep the old colours, in blocks (docs/research.md, "Stale statistics").
6. all of this makes the *target*, what the network gives for this frame as far as it was
   run; the output is the target filtered over time (``temporal``, the filter of
   ``realtime.temporal``: blended with the previous output warped one frame, where the
   flow holds), so after a full frame every held pixel converges to the new look as it
   would frame by frame, instead of keeping the blend of its first frame. After a jump of
   the colour moments from one frame to the next (``jump_limit``: an exposure step) the
   new look shows at once, as after a cut.

With ``background`` (live sources) the stylizer runs on a worker thread: the frame
thread only does flow, warp and paste, each result lands on the first frame after it is
done (warped from the frame it was made from), and until then, where the anchor has no
reliable match, the previous output carried one frame holds the picture.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from realtime.flow import Motion, MotionEstimator, warp
from realtime.frame import ForwardsControls, WarmsUp, close_processor, processor_summary
from realtime.temporal import blend, contrast_keeping_blend

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels, end exclusive


class RegionStylizer(Protocol):
    """What ``ChangeDrivenProcessor`` needs of a stylizer (models.stylizer.Stylizer).
    Images are RGB uint8 HxWx3."""

    def stylize_with_stats(self, image: np.ndarray) -> tuple[np.ndarray, Any]: ...

    def stylize_regions(
        self, image: np.ndarray, boxes: Sequence[Box], stats: Any, margin: int = ...
    ) -> list[np.ndarray]: ...


def textured(gray: np.ndarray, threshold: float = 6 / 255, radius: int = 2) -> np.ndarray:
    """bool: where the local standard deviation of a gray uint8 frame is above
    ``threshold`` (in [0, 1]) over a (2 * radius + 1) square."""
    k = 2 * radius + 1
    g = gray.astype(np.float32)
    mean = cv2.blur(g, (k, k))
    return cv2.blur(g * g, (k, k)) - mean * mean > (threshold * 255) ** 2


def colour_moments(image: np.ndarray, width: int = 64) -> np.ndarray:
    """float32 [6]: the mean and standard deviation of each RGB channel, in [0, 1], of a
    ``width`` px wide thumbnail of an RGB uint8 frame (about 0.3 ms at 640x480). What the
    instance norms see of a global change: their statistics move with these (a drift of
    0.01 already moves the output of the frozen statistics by 0.04 on its worst patches)."""
    h, w = image.shape[:2]
    thumb = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    mean, std = cv2.meanStdDev(thumb)
    return (np.concatenate([mean[:, 0], std[:, 0]]) / 255.0).astype(np.float32)


def _drift(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


def change_mask(
    motion: Motion,
    texture: np.ndarray,
    *,
    residual_threshold: float = 25 / 255,
    moving_px: float = 0.5,
    blur_px: int = 2,
    min_area: int = 12,
) -> np.ndarray:
    """Where the reference, warped by ``motion``, does not explain the current frame (bool,
    at the flow size; ``texture`` is ``textured`` of the frame the motion starts from): the
    flow-compensated difference, blurred over ``blur_px`` so that sensor noise and
    resampling do not count, exceeds ``residual_threshold``; or a textured pixel is
    occluded, or its match lies outside the frame, and it moves by more than
    ``moving_px``. Unreliable flow in flat
    areas does not count: there the warp is harmless even where the flow is arbitrary
    (DIS fails its forward-backward check on a blank wall under a pan). Parts smaller than
    ``min_area`` pixels are left out (see ``drop_specks``)."""
    assert motion.diff is not None and motion.occluded is not None
    k = 2 * blur_px + 1
    changed = cv2.blur(motion.diff, (k, k)) > residual_threshold * 255
    speed = cv2.magnitude(motion.flow[..., 0], motion.flow[..., 1])
    changed |= motion.occluded & texture & (speed > moving_px)
    return drop_specks(changed, min_area)


def drop_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` without isolated pixels and without connected parts smaller than
    ``min_area`` pixels: a speck of change is invisible when warped, but every separate
    one would cost a box and its margins."""
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


def mask_to_boxes(
    mask: np.ndarray,
    width: int,
    height: int,
    *,
    tile: int = 32,
    grow_px: int = 8,
    max_boxes: int = 6,
    margin: int = 48,
) -> list[Box]:
    """Cover the changed pixels (``mask`` at any resolution) with a few boxes on a ``tile``
    grid of the ``width`` x ``height`` frame, grown by ``grow_px``. Touching tiles form one
    box; boxes whose margins overlap are merged when that does not cost more crop area,
    and the closest pair is merged while there are more than ``max_boxes``."""
    if not mask.any():
        return []
    full = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    if grow_px > 0:
        full = cv2.dilate(full, np.ones((2 * grow_px + 1, 2 * grow_px + 1), np.uint8))
    th, tw = -(-height // tile), -(-width // tile)
    padded = np.zeros((th * tile, tw * tile), np.uint8)
    padded[:height, :width] = full
    tiles = padded.reshape(th, tile, tw, tile).max(axis=(1, 3))
    n, _, stats, _ = cv2.connectedComponentsWithStats(tiles, connectivity=8)
    boxes = [
        (
            int(x * tile),
            int(y * tile),
            int(min((x + w) * tile, width)),
            int(min((y + h) * tile, height)),
        )
        for x, y, w, h, _ in stats[1:n]
    ]
    return _merge(boxes, width, height, margin, max_boxes)


def crop_area(box: Box, width: int, height: int, margin: int) -> int:
    """Pixels the network sees for ``box``: the box and its margin, clipped to the frame."""
    x0, y0, x1, y1 = box
    return (min(x1 + margin, width) - max(x0 - margin, 0)) * (
        min(y1 + margin, height) - max(y0 - margin, 0)
    )


def crop_cost(boxes: Sequence[Box], width: int, height: int, margin: int) -> float:
    """The pixels the network sees for the boxes, as a share of a full frame's. The work
    is close to linear in them; with exact margins (64 px) the stylizer trims what each
    layer cannot compute exactly, so a window costs about 0.75 of its share
    (bench_regions.py)."""
    return sum(crop_area(b, width, height, margin) for b in boxes) / float(width * height)


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _merge(boxes: list[Box], width: int, height: int, margin: int, max_boxes: int) -> list[Box]:
    def area(b: Box) -> int:
        return crop_area(b, width, height, margin)

    changed = True
    while changed and len(boxes) > 1:
        changed = False
        best = None
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                u = _union(boxes[i], boxes[j])
                extra = area(u) - area(boxes[i]) - area(boxes[j])
                if best is None or extra < best[0]:
                    best = (extra, i, j, u)
        extra, i, j, u = best
        if extra <= 0 or len(boxes) > max_boxes:
            boxes = [b for k, b in enumerate(boxes) if k not in (i, j)] + [u]
            changed = True
    return sorted(boxes, key=lambda b: (b[1], b[0]))


def feather_weights(boxes: Sequence[Box], width: int, height: int, feather: int) -> np.ndarray:
    """float32 HxW: 1 inside the boxes, ramping to 0 over ``feather`` px at their inner
    edges (not at the frame's borders), 0 outside."""
    inside = np.zeros((height, width), np.uint8)
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1, x0:x1] = 1
    if feather <= 0:
        return inside.astype(np.float32)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    return np.minimum(dist / float(feather), 1.0).astype(np.float32)


@dataclass
class _Now:
    """This frame's target so far, the flow to the previous frame, and the previous output
    warped along it for the temporal filter (None after a cut, or with no filter)."""

    out: np.ndarray
    to_prev: Motion
    prev_warped: np.ndarray | None


@dataclass
class _Anchor:
    small: np.ndarray  # gray flow-size copy of its source frame
    out: np.ndarray  # its stylized output, unfiltered
    stats: Any  # frozen instance-norm statistics
    frame: int  # index of its source frame
    moments: np.ndarray  # colour_moments of the frame the statistics are of


@dataclass
class _Job:
    """Work for the stylizer: a full frame (``boxes`` None) or regions of ``image``."""

    image: np.ndarray
    small: np.ndarray
    frame: int
    generation: int
    boxes: list[Box] | None = None
    stats: Any = None
    result: Any = None
    error: BaseException | None = None
    thread: threading.Thread | None = field(default=None, repr=False)


class ChangeDrivenProcessor(ForwardsControls):
    """A stateful FrameProcessor (source frames in display order; see the module doc).

    Counters for reports and tests: ``frames``, ``full_frames``, ``region_frames`` (frames
    with regions stylized), ``cuts``, ``refreshes`` (full frames because the statistics
    went stale: colour drift or a global change), ``changed_share`` (the stylizer work
    started on the last frame, as the share of a full frame's pixels its windows cover;
    1.0 for a full frame) and ``mean_changed_share``."""

    max_in_flight = 1  # state carries from frame to frame

    def __init__(
        self,
        stylizer: RegionStylizer,
        *,
        temporal: float = 0.7,
        margin: int = 64,
        tile: int = 16,
        grow: int = 24,
        feather: int = 8,
        full_ratio: float = 0.4,
        max_age: int = 150,
        refresh_age: int = 12,
        flow_size: int = 320,
        flow_preset: str = "fast",
        residual_threshold: float = 25 / 255,
        drift_limit: float = 0.01,
        jump_limit: float = 0.03,
        global_share: float = 0.5,
        background: bool = False,
    ) -> None:
        if not 0.0 <= temporal < 1.0:
            raise ValueError(f"temporal strength must be in [0, 1), got {temporal}")
        object.__setattr__(self, "_inner", stylizer)
        self.temporal = temporal
        self.margin = margin
        self.tile = tile
        self.grow = grow
        self.refresh_age = refresh_age
        self.feather = feather
        self.full_ratio = full_ratio
        self.max_age = max_age
        self.residual_threshold = residual_threshold
        self.drift_limit = drift_limit
        self.jump_limit = jump_limit
        self.global_share = global_share
        self.background = background
        self.motion = MotionEstimator(flow_size=flow_size, preset=flow_preset)
        self.frames = 0
        self.full_frames = 0
        self.region_frames = 0
        self.cuts = 0
        self.refreshes = 0
        self.changed_share = 0.0
        self._share_sum = 0.0
        self._job: _Job | None = None
        self._generation = 0
        self.reset()

    @property
    def mean_changed_share(self) -> float:
        return self._share_sum / self.frames if self.frames else 0.0

    def summary(self) -> dict[str, Any]:
        """For reports: the stylizer's work as a share of a full frame's, now and on average."""
        return {
            **processor_summary(self._inner),
            "full_frames": self.full_frames,
            "region_frames": self.region_frames,
            "cuts": self.cuts,
            "refreshes": self.refreshes,
            "changed_share": round(self.mean_changed_share, 4),
            "changed_now": round(self.changed_share, 4),
        }

    def reset(self) -> None:
        """Forget the past: the next frame is stylized in full."""
        self._anchor: _Anchor | None = None
        self._prev_small: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None  # filtered: what was shown
        self._prev_target: np.ndarray | None = None  # unfiltered
        self._prev_moments: np.ndarray | None = None
        self._fresh: np.ndarray | None = None  # weight of region content in _prev_target
        self._age: np.ndarray | None = None  # frames that region content has been carried
        self._controls_seen: tuple | None = None
        self._generation += 1

    def warm_up(self) -> None:
        """Trace the stylizer's functions for full frames with statistics and for regions."""
        if isinstance(self._inner, WarmsUp):  # a stand-in stylizer may have nothing to trace
            self._inner.warm_up(with_stats=True)

    def close(self) -> None:
        """Wait for the stylizer's background work, then close the stylizer (the
        processor stays usable)."""
        job = self._job
        if job is not None and job.thread is not None:
            job.thread.join()
        close_processor(self._inner)

    # --- per frame ---------------------------------------------------------------------
    def __call__(self, image: np.ndarray) -> np.ndarray:
        small = self.motion.prepare(image)
        moments = colour_moments(image)
        if self._prev_out is not None and self._prev_out.shape != image.shape:
            self.reset()
        controls = self.controls()
        if controls != self._controls_seen:
            self._controls_seen = controls
            self._anchor = None  # a new style must not be warped from the old one
        target, share, now = self._process(image, small, moments)
        out = target
        # An exposure or white-balance step from one frame to the next: the new look
        # shows at once, as after a cut (blending would mix the two exposures).
        jump = self._prev_moments is not None and _drift(moments, self._prev_moments) > (
            self.jump_limit
        )
        if now is not None and now.prev_warped is not None and not jump:
            out = self._filter(target, now)
        self.frames += 1
        self.changed_share = share
        self._share_sum += share
        self._prev_small, self._prev_out, self._prev_target = small, out, target
        self._prev_moments = moments
        return out

    def _filter(self, target: np.ndarray, now: _Now) -> np.ndarray:
        """The temporal filter: the target blended with the previous output where the
        one-frame flow holds, only where the two differ (a still scene costs nothing)."""
        h, w = target.shape[:2]
        # channels side by side as columns: one pass, no reduction over the channel axis
        differs = cv2.compare(cv2.absdiff(target, now.prev_warped), 1, cv2.CMP_GT)
        x, y, bw, bh = cv2.boundingRect(differs.reshape(h, w * 3))
        if bw == 0:
            return target
        x, x1 = x // 3, -(-(x + bw) // 3)
        win = (slice(max(y - 8, 0), y + bh + 8), slice(max(x - 8, 0), x1 + 8))
        keep = now.to_prev.reliable_at(w, h)[win] * np.float32(self.temporal)
        out = target.copy()
        out[win] = contrast_keeping_blend(target[win], now.prev_warped[win], keep)
        return out

    def _process(
        self, image: np.ndarray, small: np.ndarray, moments: np.ndarray
    ) -> tuple[np.ndarray, float, _Now | None]:
        """This frame's target, the share of a full frame's work started for it, and what
        the temporal filter needs (None: nothing to filter with)."""
        anchor = self._anchor
        if anchor is None:
            return self._full_now(image, small), 1.0, None
        to_anchor = self.motion.estimate(small, anchor.small)
        if to_anchor.cut:
            self.cuts += 1
            return self._full_now(image, small), 1.0, None
        h, w = image.shape[:2]
        out = warp(anchor.out, to_anchor.flow_at(w, h), cv2.INTER_CUBIC)
        to_prev = self.motion.estimate(small, self._prev_small)
        # The previous target and output carried one frame: warped once, used by all after.
        prev_warped = None
        if to_prev.cut:  # a flash or a fast pan: what the anchor gives is all there is
            self._fresh = self._age = None
        else:
            flow = to_prev.flow_at(w, h)
            if self.temporal > 0:
                prev_warped = warp(self._prev_out, flow, cv2.INTER_CUBIC)
            if self._fresh is not None or self.background:
                # unfiltered last frame (a still scene, or no filter): one warp serves both
                same = self._prev_target is self._prev_out and prev_warped is not None
                carried = prev_warped if same else warp(self._prev_target, flow, cv2.INTER_CUBIC)
            if self._fresh is not None:
                self._fresh = warp(self._fresh, flow) * to_prev.reliable_at(w, h)
                self._age = warp(self._age, flow, cv2.INTER_NEAREST) + 1
                out = blend(out, carried, self._fresh)
            if self.background:
                # Until the stylizer's answer lands, where the anchor has no reliable
                # match the previous target carried one frame holds better than a torn warp.
                lost = (1.0 - to_anchor.reliable_at(w, h)) * to_prev.reliable_at(w, h)
                out = blend(out, carried, lost)
        now = _Now(out, to_prev, prev_warped)
        landed = self._finished()
        if landed is not None:
            out = now.out = self._land(landed, image, small, now)
            if landed.boxes is None:  # a new anchor: the next frame is measured against it
                return out, 0.0, now
        if self._job is not None:
            return out, 0.0, now  # the stylizer is busy: keep warping

        texture = textured(small)
        need = change_mask(to_anchor, texture, residual_threshold=self.residual_threshold)
        if self._stale_statistics(moments, anchor, need):
            self.refreshes += 1
            return self._full(image, small, now)
        if self._fresh is not None and not to_prev.cut:
            # what the previous output explains, and has not carried for too long, stays
            fh, fw = small.shape
            carried = cv2.resize(self._fresh, (fw, fh), interpolation=cv2.INTER_AREA) > 0.5
            young = cv2.resize(self._age, (fw, fh), interpolation=cv2.INTER_NEAREST)
            carried &= young < self.refresh_age
            carried &= ~change_mask(to_prev, texture, residual_threshold=self.residual_threshold)
            need &= ~carried
        boxes = mask_to_boxes(need, w, h, tile=self.tile, grow_px=self.grow, margin=self.margin)
        share = crop_cost(boxes, w, h, self.margin)
        stale = self.frames - anchor.frame >= self.max_age
        if share > self.full_ratio or stale:
            return self._full(image, small, now)
        if not boxes:
            return out, 0.0, now
        job = _Job(image, small, self.frames, self._generation, boxes, anchor.stats)
        if self.background:
            self._start(job)
            return out, share, now
        self._run(job)
        return self._paste(job, now), share, now

    def _stale_statistics(self, moments: np.ndarray, anchor: _Anchor, need: np.ndarray) -> bool:
        """Whether the anchor's frozen statistics no longer fit this frame: its colour
        moments drifted past ``drift_limit``, or over ``global_share`` of it changed."""
        drifted = _drift(moments, anchor.moments) > self.drift_limit
        return drifted or float(need.mean()) > self.global_share

    def _full(
        self, image: np.ndarray, small: np.ndarray, now: _Now
    ) -> tuple[np.ndarray, float, _Now]:
        """A full frame for this one: here, or started in the background (the warped
        past holds until it lands)."""
        if not self.background:
            return self._full_now(image, small), 1.0, now
        self._start(_Job(image, small, self.frames, self._generation))
        return now.out, 1.0, now

    # --- stylizing ----------------------------------------------------------------------
    def _run(self, job: _Job) -> None:
        if job.boxes is None:
            job.result = self._inner.stylize_with_stats(job.image)
        else:
            job.result = self._inner.stylize_regions(
                job.image, job.boxes, job.stats, margin=self.margin
            )

    def _start(self, job: _Job) -> None:
        def run() -> None:
            try:
                self._run(job)
            except BaseException as e:  # handed to the frame thread when it lands
                job.error = e

        job.thread = threading.Thread(target=run, name="regions-stylize", daemon=True)
        self._job = job
        job.thread.start()

    def _finished(self) -> _Job | None:
        job = self._job
        if job is None or (job.thread is not None and job.thread.is_alive()):
            return None
        self._job = None
        if job.error is not None:
            raise job.error
        return job if job.generation == self._generation else None

    def _full_now(self, image: np.ndarray, small: np.ndarray) -> np.ndarray:
        """Stylize the whole frame here and make it the anchor."""
        self._generation += 1  # whatever runs in the background is older than this
        job = _Job(image, small, self.frames, self._generation)
        self._run(job)
        return self._adopt_full(job, image, small, None)

    def _adopt_full(
        self, job: _Job, image: np.ndarray, small: np.ndarray, now: _Now | None
    ) -> np.ndarray:
        out, stats = job.result
        out = np.asarray(out)
        if job.frame != self.frames:  # landed late: bring it to this frame
            to_job = self.motion.estimate(small, job.small)
            if to_job.cut:
                return now.out if now is not None else out
            h, w = image.shape[:2]
            out = warp(out, to_job.flow_at(w, h), cv2.INTER_CUBIC)
        self._anchor = _Anchor(small, out, stats, self.frames, colour_moments(job.image))
        self._fresh = self._age = None
        self.full_frames += 1
        return out

    def _land(self, job: _Job, image: np.ndarray, small: np.ndarray, now: _Now) -> np.ndarray:
        if job.boxes is None:
            return self._adopt_full(job, image, small, now)
        return self._paste(job, now, small)

    def _paste(self, job: _Job, now: _Now, small: np.ndarray | None = None) -> np.ndarray:
        """Put the stylized boxes on this frame's target with feathered seams. A job made
        on an earlier frame (``small`` given: the current frame's) is first warped onto
        this one."""
        out = now.out
        h, w = out.shape[:2]
        canvas = out.copy()
        for (x0, y0, x1, y1), patch in zip(job.boxes, job.result, strict=True):
            canvas[y0:y1, x0:x1] = patch
        weight = feather_weights(job.boxes, w, h, self.feather)
        if small is not None and job.frame != self.frames:
            to_job = self.motion.estimate(small, job.small)
            if to_job.cut:
                return out
            flow = to_job.flow_at(w, h)
            canvas = warp(canvas, flow, cv2.INTER_CUBIC)
            weight = warp(weight, flow) * to_job.reliable_at(w, h)
        if self._fresh is None:
            self._fresh, self._age = weight, np.zeros_like(weight)
        else:
            self._fresh = np.maximum(self._fresh, weight)
            self._age[weight > 0] = 0
        self.region_frames += 1
        return blend(out, canvas, weight)
