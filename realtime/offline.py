"""`stylize-video video --method optimize`: VGG16 optimization per keyframe, carried along
the optical flow to the frames between (the offline quality path).

How a clip is made:
- Keyframes: every K-th frame, plus (adaptive) a frame whose pixels can no longer be
  traced back to the last keyframe (unreliable fraction above a threshold) and both sides
  of a scene cut. The last frame is always a keyframe, so every frame lies between two.
- Flow between two frames some way apart is chained from the flows between consecutive
  input frames (DIS), with the reliability mask (docs/design.md section 4) multiplied along.
- The first keyframe of a shot starts from the content (or the fast stylizer, or noise).
  Each later keyframe starts from the previous stylized keyframe warped by the flow
  between the two *input* keyframes, and its loss adds Ruder et al.'s temporal term with
  the reliability mask as c. Where the flow cannot trace a pixel back, the warp smears
  the brush texture away, so a second candidate keeps the unwarped previous result there;
  the optimizer starts from whichever candidate has the lower loss.
- A frame between keyframes a < t < b is the blend of stylized a and b, each warped onto
  t by the input flow, weighted by distance ((b-t) and (t-a)) and by the reliability
  mask of each warp. What neither warp covers takes, by default (`fill="warp"`), the
  plain distance blend of both warps, the masks ignored there; with `fill="fast"`, the
  fast stylizer's output for t, colour-matched and feathered in. Why the warp by
  default: the fast stylizer's texture is not the optimized one (a visible lattice on
  cockatoo's fast-moving beak) and it is redrawn every frame, so it flickered: on
  bench_offline's clip (K=8, 29% of in-between pixels in holes) the fast fill gave a
  warping error of 0.0089 for independent keyframes, the warp 0.0040 at equal sharpness.
  Not a short optimization either: ~20 VGG iterations per in-between frame cost as much
  as a warm keyframe, which removes the point of keyframes; the adaptive rule keeps the
  holes small (newly visible areas at edges and behind moving things).
- Every finished keyframe is saved in a work folder next to the output, keyed by a hash
  of the input file and all settings. A rerun with the same input and settings resumes
  from those checkpoints; a different input or settings starts fresh (with a message).
  The folder is removed after a complete run.

Images are RGB; the optimizer works on float32 [0, 1], frames are uint8.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.atomic import KeyedWorkFolder, sha256_file
from models.errors import UserError
from realtime.frame import Frame, FrameProcessor

WORK_FORMAT = 1  # bump when checkpoints made by older code must not be reused


@dataclass(frozen=True)
class KeyframeSettings:
    every: int = 8  # at most this many frames from one keyframe to the next
    adaptive: bool = True
    max_unreliable: float = 0.3  # new keyframe when more of the frame cannot be traced
    flow_preset: str = "medium"
    fill: str = "warp"  # "warp" | "fast": pixels neither neighbour covers (module doc)

    def validate(self) -> None:
        if self.every < 1:
            raise UserError(f"--keyframe-every {self.every}: give 1 or more")
        if not 0 < self.max_unreliable <= 1:
            raise UserError("--max-unreliable must be in (0, 1]")
        if self.fill not in ("fast", "warp"):
            raise UserError(f"--fill {self.fill!r}: use fast or warp")


@dataclass
class KeyframeReport:
    index: int
    warm: bool
    iterations: int
    initial_loss: float
    final_loss: float
    seconds: float
    restarts: int = 0
    resumed: bool = False
    stop_reason: str = ""

    @property
    def fell(self) -> bool:
        return self.final_loss < self.initial_loss


@dataclass
class _Key:
    index: int
    gray: np.ndarray  # prepared for flow
    result: np.ndarray  # stylized float32 [0, 1]


@dataclass
class _Pending:
    frame: Frame
    gray: np.ndarray
    # Flow from this frame to the previous keyframe, chained through every frame between
    # (this(x) ~ key(x + flow(x))), and where that chain is reliable (float32 0..1).
    flow_to_prev: np.ndarray | None = None
    reliable_to_prev: np.ndarray | None = None


@dataclass
class OfflineResult:
    frames: int = 0
    keyframes: list[KeyframeReport] = field(default_factory=list)
    filled_fraction: float = 0.0  # mean share of in-between pixels filled by the fallback
    histories: dict[str, list[float]] = field(default_factory=dict)  # loss per keyframe
    parts_histories: dict[int, list] = field(default_factory=dict)  # by keyframe index
    seconds: float = 0.0
    resumed: int = 0


# --- work folder ------------------------------------------------------------------------


def job_key(input: str, style: str, settings: dict[str, Any]) -> str:
    """Hash of what decides the result: input and style bytes, every setting."""
    h = hashlib.sha256()
    for p in (Path(input), Path(style)):
        if p.is_file():
            h.update(sha256_file(p).encode())
        elif p.is_dir():  # a folder of frames: names, sizes and times stand for the bytes
            for e in sorted(p.iterdir()):
                st = e.stat()
                h.update(f"{e.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        else:
            h.update(str(p).encode())
    h.update(json.dumps({"format": WORK_FORMAT, **settings}, sort_keys=True).encode())
    return h.hexdigest()


class WorkFolder(KeyedWorkFolder):
    """Checkpoints of finished keyframes (float32 .npy, written to a temp name and
    renamed) beside the output."""

    what = "keyframes"
    format = WORK_FORMAT

    def count_done(self) -> int:
        return len(list(self.path.glob("key_*.npy")))

    def _npy(self, index: int) -> Path:
        return self.path / f"key_{index:07d}.npy"

    def load(self, index: int) -> tuple[np.ndarray, KeyframeReport] | None:
        npy, meta = self._npy(index), self._npy(index).with_suffix(".json")
        if not (npy.is_file() and meta.is_file()):
            return None
        try:
            image = np.load(npy, allow_pickle=False)
            report = KeyframeReport(**json.loads(meta.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        report.resumed = True
        return image, report

    def save(self, index: int, image: np.ndarray, report: KeyframeReport) -> None:
        npy = self._npy(index)
        tmp = npy.with_name(f".{npy.name}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, image.astype(np.float32))
        os.replace(tmp, npy)
        meta = npy.with_suffix(".json")
        tmp = meta.with_name(f".{meta.name}.tmp")
        tmp.write_text(json.dumps(asdict(report)))
        os.replace(tmp, meta)


# --- blending ---------------------------------------------------------------------------


def _feather(mask: np.ndarray, radius: int = 2) -> np.ndarray:
    k = 2 * radius + 1
    return cv2.GaussianBlur(mask.astype(np.float32), (k, k), 0)


def _match_colors(src: np.ndarray, ref: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-channel affine map so `src` has `ref`'s mean and std over the weighted pixels."""
    w = weight[..., None]
    total = float(weight.sum())
    if total < 16:
        return src
    ms = (src * w).sum((0, 1)) / total
    mr = (ref * w).sum((0, 1)) / total
    ss = np.sqrt(((src - ms) ** 2 * w).sum((0, 1)) / total) + 1e-4
    sr = np.sqrt(((ref - mr) ** 2 * w).sum((0, 1)) / total)
    return np.clip((src - ms) / ss * sr + mr, 0, 1).astype(np.float32)


def blend_between(
    t: int,
    a: int,
    b: int,
    warped_a: np.ndarray,
    reliable_a: np.ndarray,
    warped_b: np.ndarray,
    reliable_b: np.ndarray,
    fill: np.ndarray | None,
) -> tuple[np.ndarray, float]:
    """Frame t from the stylized keyframes a < t < b, each warped onto t (float32 [0, 1]).

    Weights are distance x reliability; pixels neither warp covers take `fill`
    (colour-matched to the blend, feathered), or the unmasked distance blend when `fill`
    is None. Returns (image, share of pixels filled)."""
    da = (b - t) / (b - a)  # weight of a: 1 next to a, 0 next to b
    ra, rb = _feather(reliable_a), _feather(reliable_b)
    wa, wb = da * ra, (1 - da) * rb
    total = (wa + wb)[..., None]
    plain = da * warped_a + (1 - da) * warped_b
    blended = np.where(
        total > 1e-3,
        (wa[..., None] * warped_a + wb[..., None] * warped_b) / np.maximum(total, 1e-3),
        plain,
    )
    covered = np.maximum(ra, rb)
    hole = 1.0 - covered
    if fill is not None and hole.max() > 0:
        fill = _match_colors(fill, blended, covered)
        blended = covered[..., None] * blended + hole[..., None] * fill
    return blended.astype(np.float32), float((hole > 0.5).mean())


# --- the job ----------------------------------------------------------------------------


def _to_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _to_f32(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) / 255.0


class OfflineStylizer:
    """The keyframe/propagation engine over an iterator of Frames; `emit(frame)` receives
    output Frames in order. Separate from file handling so tests can drive it.

    Long-range flows (a frame to its keyframes) are chained from flows between
    consecutive frames: far more accurate under fast motion than one flow across up to
    K frames, and consistent with the consecutive-frame flow the warping error is
    measured on. Scene cuts are tested on consecutive frames too."""

    def __init__(
        self,
        optimizer: Any,  # models.optimize.StyleOptimizer
        keys: KeyframeSettings,
        *,
        fast: FrameProcessor | None = None,
        work: WorkFolder | None = None,
        on_iteration: Callable[[int, float], None] | None = None,
        on_frame: Callable[[int, KeyframeReport | None], None] | None = None,
    ) -> None:
        from realtime.flow import MotionEstimator

        keys.validate()
        self.optimizer = optimizer
        self.keys = keys
        self.fast = fast
        self.work = work
        self.motion = MotionEstimator(flow_size=None, preset=keys.flow_preset)
        self.on_iteration = on_iteration
        self.on_frame = on_frame
        self.result = OfflineResult()
        self._filled: list[float] = []

    # -- keyframes ----------------------------------------------------------------------
    def _optimize_key(self, p: _Pending, prev: _Key | None) -> _Key:
        from models.optimize import initial_image

        frame = p.frame
        cached = self.work.load(frame.index) if self.work else None
        if cached is not None:
            image, report = cached
            self.result.resumed += 1
        else:
            content = _to_f32(frame.image)
            s = self.optimizer.settings
            if prev is None:
                init = initial_image(content, s.init, fast=self.fast, seed=s.seed)
                target = mask = None
            else:
                target = warp_image(prev.result, p.flow_to_prev)
                mask = p.reliable_to_prev
                # Where the flow cannot trace a pixel back, the warp smears; the previous
                # result unwarped keeps its brush texture there. The optimizer starts from
                # whichever of these has the lower loss.
                mixed = mask[..., None] * target + (1 - mask[..., None]) * prev.result
                init = [target, mixed]
            r = self.optimizer.run(
                content,
                init,
                temporal_target=target,
                temporal_mask=mask,
                progress=self.on_iteration,
            )
            image = r.image
            kind = "warm" if prev is not None else "cold"
            self.result.histories[f"key {frame.index} ({kind})"] = r.history
            self.result.parts_histories[frame.index] = r.parts_history
            report = KeyframeReport(
                index=frame.index,
                warm=prev is not None,
                iterations=r.iterations,
                initial_loss=r.initial_loss,
                final_loss=r.final_loss,
                seconds=round(r.seconds, 3),
                restarts=r.restarts,
                stop_reason=r.stop_reason,
            )
            if self.work:
                self.work.save(frame.index, image, report)
        self.result.keyframes.append(report)
        if self.on_frame:
            self.on_frame(frame.index, report)
        return _Key(frame.index, p.gray, image)

    # -- frames between -----------------------------------------------------------------
    def _between(
        self, p: _Pending, a: _Key, b: _Key, flow_b: np.ndarray, rel_b: np.ndarray
    ) -> np.ndarray:
        wa = warp_image(a.result, p.flow_to_prev)
        wb = warp_image(b.result, flow_b)
        fill = None
        if self.keys.fill == "fast" and self.fast is not None:
            fill = _to_f32(self.fast(p.frame.image))
        out, filled = blend_between(
            p.frame.index, a.index, b.index, wa, p.reliable_to_prev, wb, rel_b, fill
        )
        self._filled.append(filled)
        if self.on_frame:
            self.on_frame(p.frame.index, None)
        return out

    # -- driver -------------------------------------------------------------------------
    def run(self, frames: Iterator[Frame], emit: Callable[[Frame], None]) -> OfflineResult:
        t0 = time.perf_counter()
        prev: _Key | None = None
        pending: list[_Pending] = []
        last: _Pending | None = None
        every = self.keys.every

        def out(frame: Frame, image: np.ndarray) -> None:
            emit(Frame(image=_to_u8(image), pts=frame.pts, index=frame.index))
            self.result.frames += 1

        def close_segment(key: _Pending, cold: bool) -> None:
            """Optimize `key`, then emit the pending frames before it, then it."""
            nonlocal prev
            new = self._optimize_key(key, None if cold else prev)
            # Chain flows backwards from the new keyframe through the pending frames.
            h, w = key.gray.shape[:2]
            flow_b = np.zeros((h, w, 2), np.float32)
            rel_b = np.ones((h, w), np.float32)
            nxt = key.gray
            towards_b = []
            for p in reversed(pending):
                m = self.motion.estimate(p.gray, nxt)
                flow_b, rel_b = chain(m.flow, m.reliable, flow_b, rel_b)
                towards_b.append((flow_b, rel_b))
                nxt = p.gray
            for p, (fb, rb) in zip(pending, reversed(towards_b), strict=True):
                out(p.frame, self._between(p, prev, new, fb, rb))
            pending.clear()
            out(key.frame, new.result)
            prev = new

        for frame in frames:
            cur = _Pending(frame, self.motion.prepare(frame.image))
            if prev is None:
                close_segment(cur, cold=True)
                last = cur
                continue
            m = self.motion.estimate(cur.gray, last.gray)  # consecutive frames
            if last.flow_to_prev is None:  # the previous frame is the keyframe
                cur.flow_to_prev, cur.reliable_to_prev = m.flow, m.reliable
            else:
                cur.flow_to_prev, cur.reliable_to_prev = chain(
                    m.flow, m.reliable, last.flow_to_prev, last.reliable_to_prev
                )
            if m.cut:
                # End the old shot on the frame before the cut, start the new one cold.
                if pending:
                    close_segment(pending.pop(), cold=False)
                close_segment(cur, cold=True)
                cur.flow_to_prev = cur.reliable_to_prev = None
            elif frame.index - prev.index >= every or (
                self.keys.adaptive
                and 1.0 - float(cur.reliable_to_prev.mean()) > self.keys.max_unreliable
            ):
                close_segment(cur, cold=False)
                cur.flow_to_prev = cur.reliable_to_prev = None
            else:
                pending.append(cur)
            last = cur
        if pending:
            close_segment(pending.pop(), cold=False)
        self.result.seconds = time.perf_counter() - t0
        self.result.filled_fraction = float(np.mean(self._filled)) if self._filled else 0.0
        return self.result


def planned_keyframes(frames: int, every: int) -> int:
    """Keyframes in `frames` frames before adaptive ones: every `every`-th, and the last."""
    if frames < 1:
        return 0
    return (frames - 1) // every + 1 + (1 if (frames - 1) % every else 0)


def chain(
    flow_1: np.ndarray, rel_1: np.ndarray, flow_2: np.ndarray, rel_2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Compose flows: `flow_1` maps frame t to u, `flow_2` maps u to v; the result maps t
    to v, `flow_1(x) + flow_2(x + flow_1(x))`, reliable where both steps are."""
    from realtime.flow import warp

    flow = flow_1 + warp(flow_2, flow_1)
    rel = rel_1 * warp(rel_2, flow_1)
    return flow.astype(np.float32), rel.astype(np.float32)


def warp_image(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward-warp a stylized float image; bicubic keeps more of the brush texture than
    bilinear (measured: style loss of a warped keyframe 64 vs 78)."""
    import cv2

    from realtime.flow import warp

    return np.clip(warp(image, flow, cv2.INTER_CUBIC), 0.0, 1.0)
