"""Change-driven partial re-stylization (realtime.regions), with a fake stylizer whose
regions are exact by construction (a per-pixel function), so what is tested is the
processor's bookkeeping: what it re-stylizes, when it goes full frame, what it outputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.regions import (
    ChangeDrivenProcessor,
    colour_moments,
    crop_cost,
    feather_weights,
    mask_to_boxes,
)


class FakeRegionStylizer:
    """Per-pixel 'style': a colour remap that depends on style_index; stats are a tag
    naming the full frame they came from."""

    def __init__(self) -> None:
        self.style_names = ["a", "b"]
        self.style_index = 0
        self.strength = 1.0
        self.preserve_color = False
        self.full_calls = 0
        self.region_calls: list[list[tuple[int, int, int, int]]] = []
        self.warmed: list[bool] = []

    def warm_up(self, with_stats: bool = False) -> None:
        self.warmed.append(with_stats)

    style_shift = 0  # a different look for the same content

    def style(self, image: np.ndarray) -> np.ndarray:
        lut = (np.arange(256) * (3 + 2 * self.style_index) + self.style_shift) % 256
        return lut[image].astype(np.uint8)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.style(image)

    def stylize_with_stats(self, image: np.ndarray):
        self.full_calls += 1
        return self.style(image), ("stats", self.full_calls)

    def stylize_regions(self, image, boxes, stats, margin=64):
        assert stats == ("stats", self.full_calls)  # the last full frame's statistics
        self.region_calls.append(list(boxes))
        return [self.style(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in boxes]


def textured(h: int = 192, w: int = 256, seed: int = 0) -> np.ndarray:
    """A camera-like textured image: smooth noise at several scales."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for scale in (4, 16, 48):
        small = rng.uniform(0, 1, (h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


def with_square(bg: np.ndarray, x: int, y: int, size: int = 40, seed: int = 7) -> np.ndarray:
    out = bg.copy()
    out[y : y + size, x : x + size] = textured(size, size, seed)
    return out


def test_a_static_scene_is_stylized_once() -> None:
    fake = FakeRegionStylizer()
    proc = ChangeDrivenProcessor(fake, temporal=0.7)
    bg = textured()
    rng = np.random.default_rng(1)
    frames = [  # sensor noise of a couple of levels is not change
        np.clip(bg.astype(np.int16) + rng.integers(-2, 3, bg.shape), 0, 255).astype(np.uint8)
        for _ in range(12)
    ]
    outs = [proc(f) for f in frames]
    assert fake.full_calls == 1 and fake.region_calls == []
    assert proc.full_frames == 1 and proc.region_frames == 0 and proc.changed_share == 0.0
    # the first frame's stylization, held (the flow of a still scene is about zero)
    first = fake.style(frames[0]).astype(int)
    assert np.abs(outs[-1].astype(int) - first).mean() < 1.5


def test_a_moving_object_is_restylized_only_around_itself() -> None:
    fake = FakeRegionStylizer()
    # (small frames: windows cover much of them, so regions are allowed up to 90%)
    proc = ChangeDrivenProcessor(fake, temporal=0.0, margin=32, tile=16, grow=8, full_ratio=0.9)
    bg = textured()
    for i in range(8):
        x = 40 + 6 * i
        frame = with_square(bg, x, 60)
        out = proc(frame)
        if i == 0:
            continue
        boxes = fake.region_calls[-1]
        # every box lies near the square now or in the anchor frame (within the growth,
        # a tile, and a tile of flow spill at its edges), never far off
        reach = proc.grow + 16 + 16
        near = (40 - reach, 60 - reach, x + 40 + reach, 60 + 40 + reach)
        for x0, y0, x1, y1 in boxes:
            assert x0 >= near[0] and y0 >= near[1] and x1 <= near[2] and y1 <= near[3]
        assert proc.changed_share < 0.6
        # where the square is now, the output is this frame's stylization
        sq = (slice(60 + 4, 100 - 4), slice(x + 4, x + 36))
        assert np.abs(out[sq].astype(int) - fake.style(frame)[sq].astype(int)).mean() < 3
    assert fake.full_calls == 1 and len(fake.region_calls) == 7


def test_a_scene_cut_and_a_style_change_give_full_frames() -> None:
    fake = FakeRegionStylizer()
    proc = ChangeDrivenProcessor(fake)
    a, b = textured(seed=0), textured(seed=5)
    proc(a)
    proc(a)
    assert fake.full_calls == 1
    out = proc(b)  # another scene
    assert fake.full_calls == 2 and proc.cuts == 1
    assert np.array_equal(out, fake.style(b))
    proc.style_index = 1  # forwarded to the stylizer, like the webcam's n key
    assert fake.style_index == 1
    out = proc(b)
    assert fake.full_calls == 3 and np.array_equal(out, fake.style(b))


def test_a_large_change_costs_a_full_frame_not_many_boxes() -> None:
    fake = FakeRegionStylizer()
    proc = ChangeDrivenProcessor(fake, full_ratio=0.3)
    bg = textured()
    proc(bg)
    big = with_square(bg, 20, 20, size=150, seed=9)
    proc(big)
    assert fake.full_calls == 2 and fake.region_calls == [] and proc.changed_share == 1.0


def test_the_anchor_is_refreshed_after_max_age_frames() -> None:
    fake = FakeRegionStylizer()
    proc = ChangeDrivenProcessor(fake, max_age=5)
    bg = textured()
    for _ in range(11):
        proc(bg)
    assert fake.full_calls == 3  # frames 0, 5 and 10


def brighter(image: np.ndarray, levels: int) -> np.ndarray:
    return np.clip(image.astype(np.int16) + levels, 0, 255).astype(np.uint8)


def test_an_exposure_shift_below_the_change_threshold_refreshes_the_statistics() -> None:
    # +5 levels everywhere is under the per-pixel residual threshold, so no region
    # changed; but the network's instance norms see the whole picture's statistics move
    fake = FakeRegionStylizer()
    proc = ChangeDrivenProcessor(fake, temporal=0.0)
    bg = textured()
    proc(bg)
    proc(brighter(bg, 1))  # a level of drift is noise: nothing to do
    assert fake.full_calls == 1 and proc.refreshes == 0
    out = proc(brighter(bg, 5))
    assert fake.full_calls == 2 and proc.refreshes == 1 and fake.region_calls == []
    assert np.array_equal(out, fake.style(brighter(bg, 5)))
    proc(brighter(bg, 6))  # measured against the new anchor: a level again
    assert fake.full_calls == 2 and proc.refreshes == 1


def test_a_large_object_of_another_colour_refreshes_the_statistics() -> None:
    fake = FakeRegionStylizer()
    proc = ChangeDrivenProcessor(fake, temporal=0.0)
    bg = textured(192, 256)
    van = textured(96, 128, seed=4)
    van[..., 2] = np.maximum(van[..., 2], 200)  # blue: the picture's colours move
    proc(bg)
    frame = bg.copy()
    frame[96:, 128:] = van  # a quarter of the frame: boxes would do, but not the stats
    proc(frame)
    assert fake.full_calls == 2 and proc.refreshes == 1 and fake.region_calls == []


def test_colour_moments_see_exposure_and_white_balance() -> None:
    bg = textured()
    base = colour_moments(bg)
    assert base.shape == (6,) and np.all((base >= 0) & (base <= 1))
    assert np.abs(colour_moments(brighter(bg, 10)) - base)[:3] == pytest.approx(10 / 255, 1e-2)
    warm = bg.copy()
    warm[..., 0] = brighter(bg[..., 0], 8)
    drift = np.abs(colour_moments(warm) - base)
    assert drift[0] > 0.02 and drift[1] < 1e-6 and drift[2] < 1e-6


def test_after_a_full_frame_held_pixels_converge_to_it() -> None:
    # The look changes for the same content (as the network's does when the statistics
    # move); after the full frame that picks it up, the temporal filter converges the
    # whole output to it, as frame-by-frame --temporal would, not to a fixed blend.
    fake = FakeRegionStylizer()
    proc = ChangeDrivenProcessor(fake, temporal=0.7, max_age=4)
    bg = textured()
    for _ in range(4):
        proc(bg)
    fake.style_shift = 60  # the next full frame (frame 4, max_age) looks different
    outs = [proc(bg)]
    proc.max_age = 1000
    outs += [proc(bg) for _ in range(30)]
    new = fake.style(bg).astype(int)
    assert fake.full_calls == 2
    assert np.abs(outs[0].astype(int) - new).mean() > 10  # filtered: not a jump
    assert np.abs(outs[-1].astype(int) - new).mean() < 2


def test_background_mode_keeps_warping_while_the_stylizer_works() -> None:
    import threading

    gate = threading.Event()

    class Slow(FakeRegionStylizer):
        def stylize_regions(self, image, boxes, stats, margin=64):
            gate.wait(5)
            return super().stylize_regions(image, boxes, stats, margin)

    fake = Slow()
    proc = ChangeDrivenProcessor(
        fake, background=True, temporal=0.0, margin=32, tile=16, full_ratio=0.9
    )
    bg = textured()
    proc(bg)
    outs = [proc(with_square(bg, 40, 60)) for _ in range(3)]  # the job waits on the gate
    assert fake.region_calls == [] and all(o.shape == bg.shape for o in outs)
    gate.set()
    proc.close()
    frame = with_square(bg, 40, 60)
    out = proc(frame)  # the regions land here
    assert proc.region_frames == 1 and len(fake.region_calls) >= 1  # (the next may start)
    sq = (slice(64, 96), slice(44, 76))
    assert np.abs(out[sq].astype(int) - fake.style(frame)[sq].astype(int)).mean() < 3
    proc.close()


def test_live_a_stale_statistics_refresh_runs_in_the_background() -> None:
    import threading

    gate = threading.Event()

    class SlowFull(FakeRegionStylizer):
        def stylize_with_stats(self, image):
            if self.full_calls >= 1:  # the first frame is stylized before the gate matters
                gate.wait(5)
            return super().stylize_with_stats(image)

    fake = SlowFull()
    proc = ChangeDrivenProcessor(fake, background=True, temporal=0.0)
    bg = textured()
    proc(bg)
    proc(bg)  # the first frame's job lands
    darker = brighter(bg, -6)
    outs = [proc(darker) for _ in range(3)]  # the refresh waits on the gate: frames flow
    assert proc.refreshes == 1 and fake.full_calls == 1
    assert all(o.shape == bg.shape for o in outs)
    gate.set()
    proc.close()
    out = proc(darker)  # the full frame lands: the new look, and no second refresh
    assert fake.full_calls == 2 and proc.refreshes == 1
    assert np.abs(out.astype(int) - fake.style(darker).astype(int)).mean() < 1
    proc.close()


def test_warm_up_asks_the_stylizer_for_statistics_and_regions() -> None:
    fake = FakeRegionStylizer()
    ChangeDrivenProcessor(fake).warm_up()
    assert fake.warmed == [True]
    assert fake.full_calls == 0 and not fake.region_calls  # tracing is not stylizing


def test_mask_to_boxes_snaps_to_tiles_and_merges_neighbours() -> None:
    mask = np.zeros((120, 160), bool)
    mask[10:14, 10:14] = True
    mask[10:14, 30:34] = True  # close: one box
    mask[100:104, 150:154] = True  # far: its own box
    boxes = mask_to_boxes(mask, 320, 240, tile=32, grow_px=0, margin=16)
    assert len(boxes) == 2
    for x0, y0, x1, y1 in boxes:
        assert x0 % 32 == 0 and y0 % 32 == 0
        assert (x1 % 32 == 0 or x1 == 320) and (y1 % 32 == 0 or y1 == 240)
    assert boxes[0][0] <= 20 and boxes[0][2] >= 68  # covers both near spots (x2 scale)
    assert mask_to_boxes(np.zeros((10, 10), bool), 100, 100) == []
    many = np.zeros((240, 320), bool)
    many[::40, ::40] = True
    assert len(mask_to_boxes(many, 320, 240, tile=16, grow_px=0, max_boxes=3)) <= 3


def test_crop_cost_and_feathering() -> None:
    assert crop_cost([(0, 0, 100, 100)], 100, 100, 48) == pytest.approx(1.0)
    assert crop_cost([(40, 40, 60, 60)], 100, 100, 10) == pytest.approx(0.16)
    w = feather_weights([(0, 0, 50, 40)], 100, 80, 8)
    assert w[0, 0] == 1.0 and w[20, 20] == 1.0  # frame borders are not seams
    assert w[20, 60] == 0.0 and 0 < w[20, 47] < 1  # inner edge ramps


@pytest.fixture(scope="module")
def real_stylizer(preset_module):
    from models.stylizer import load_stylizer

    return load_stylizer(["preset:7"], jit_compile=False)


@pytest.mark.slow
def test_with_the_real_network_a_moving_object_matches_a_fresh_stylization(real_stylizer):
    bg = textured(192, 320, seed=3)
    proc = ChangeDrivenProcessor(real_stylizer, temporal=0.0, full_ratio=0.9)
    errors = []
    for i in range(6):
        x = 40 + 8 * i
        frame = with_square(bg, x, 50, size=48)
        out = proc(frame).astype(int)
        fresh = real_stylizer(frame).astype(int)
        sq = (slice(54, 94), slice(x + 4, x + 44))
        errors.append(np.abs(out[sq] - fresh[sq]).mean())
    assert proc.full_frames == 1 and proc.region_frames == 5
    assert 0 < proc.mean_changed_share < 0.9
    # inside the moved object: the network's own output for this frame, with the first
    # frame's norm statistics (a small object barely moves them)
    assert max(errors[1:]) < 6, errors
    # far from it, the first frame's stylization is held unchanged
    far = (slice(140, 192), slice(250, 320))
    first = real_stylizer(with_square(bg, 40, 50, size=48)).astype(int)
    assert np.abs(out[far] - first[far]).mean() < 1.0


def still_frames(start: float, stop: float, fps: float = 6.0, size=(320, 180)) -> list:
    """Frames of the still test scene (a van parks, then the exposure steps)."""
    from realtime.sources.test_pattern import render_still

    first, last = round(start * fps), round(stop * fps)
    return [render_still(i, *size, fps) for i in range(first, last)]


def test_an_exposure_step_in_the_still_scene_gives_a_full_frame_at_once() -> None:
    from realtime.sources.test_pattern import EXPOSURE_AT

    fake = FakeRegionStylizer()
    # regions allowed up to 90% of these small frames: only the detector asks for full ones
    proc = ChangeDrivenProcessor(fake, temporal=0.7, full_ratio=0.9)
    frames = still_frames(EXPOSURE_AT - 1.0, EXPOSURE_AT + 1.0)
    step = len(frames) // 2
    full_at, outs = [], []
    for i, frame in enumerate(frames):
        before = fake.full_calls
        outs.append(proc(frame))
        if fake.full_calls > before:
            full_at.append(i)
    assert full_at == [0, step]  # the first frame, then the step's own frame, and only it
    # and it shows at once, not blended with the brighter past
    assert np.array_equal(outs[step], fake.style(frames[step]))


@pytest.mark.slow
def test_once_a_large_van_has_parked_changed_output_is_as_faithful_as_frame_by_frame(
    real_stylizer,
) -> None:
    # The van (a quarter of the frame, a colour nothing else has) moves every instance
    # norm's statistics: frame by frame the network recolours the whole picture. Once it
    # has parked, --changed must show that picture, not the old colours in blocks.
    from realtime.metrics import Fidelity
    from realtime.sources.test_pattern import VAN_ENTERS_AT, VAN_PARKED_AT
    from realtime.temporal import TemporalProcessor

    frames = still_frames(VAN_ENTERS_AT - 0.5, VAN_PARKED_AT + 1.5)
    settled = round((VAN_PARKED_AT + 0.5 - (VAN_ENTERS_AT - 0.5)) * 6)
    # (at 320x180 the windows cover much of the frame: regions allowed up to 90%)
    changed = ChangeDrivenProcessor(real_stylizer, temporal=0.7, full_ratio=0.9)
    steady = TemporalProcessor(real_stylizer, temporal=0.7)
    fid = Fidelity()
    for i, frame in enumerate(frames):
        outs = {"changed": changed(frame), "temporal": steady(frame)}
        if i >= settled:
            fid.add(outs, real_stylizer(frame))
    assert changed.refreshes >= 1 and changed.region_frames >= 1
    assert fid.mean("changed") <= 1.5 * fid.mean("temporal"), fid.per_frame
    assert fid.p99("changed") <= 1.5 * fid.p99("temporal"), fid.per_frame
