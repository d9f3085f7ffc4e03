"""Temporal smoothing: much less flicker on still masks, no ghosting on moving ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from livebg.errors import LivebgError
from livebg.flicker import flicker_report, iou, static_region
from livebg.smooth import MaskSmoother, SmoothParams, smooth_step

SHARED = Path(__file__).resolve().parents[2] / "shared"
W, H = 256, 144  # model resolution


def ellipse(cx: float, cy: float = H / 2) -> np.ndarray:
    m = np.zeros((H, W), np.float32)
    cv2.ellipse(m, (int(cx), int(cy)), (40, 55), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(m, (0, 0), 1.0)  # soft edge, like a model's output


def noisy(mask: np.ndarray, rng: np.random.Generator, flip_rate: float = 0.01) -> np.ndarray:
    """Segmentation-like noise: gaussian wobble everywhere plus random full flips."""
    out = mask + rng.normal(0, 0.12, mask.shape).astype(np.float32)
    flips = rng.random(mask.shape) < flip_rate
    out[flips] = 1 - out[flips]
    return np.clip(out, 0, 1).astype(np.float32)


def run(masks: list[np.ndarray], params: SmoothParams | None = None) -> list[np.ndarray]:
    smoother = MaskSmoother(params)
    return [smoother.update(m) for m in masks]


def test_static_flicker_is_reduced_by_a_large_factor() -> None:
    rng = np.random.default_rng(0)
    truth = [ellipse(W / 2)] * 60
    raw = [noisy(t, rng) for t in truth]
    smoothed = run(raw)
    region = static_region(truth)
    before = flicker_report(raw[10:], region)
    after = flicker_report(smoothed[10:], region)
    mac_ratio, flip_ratio = after.ratio_to(before)
    assert before.flips_per_frame > 500  # the input really flickers
    assert flip_ratio > 50, (before, after)
    assert mac_ratio > 3, (before, after)
    assert np.mean([iou(s, t) for s, t in zip(smoothed[10:], truth[10:])]) > 0.99


@pytest.mark.parametrize("speed", [2, 4, 8])
def test_moving_mask_follows_without_ghosting(speed: int) -> None:
    rng = np.random.default_rng(speed)
    truth = [ellipse(50 + speed * i) for i in range((W - 100) // speed)]
    smoothed = run([noisy(t, rng) for t in truth])
    ious = [iou(s, t) for s, t in zip(smoothed, truth)]
    assert min(ious[3:]) > 0.95, ious  # after 3 frames of warm-up (the first mask is raw)
    # no trail: where the ellipse was 2-3 frames ago but is not now is background again (up to
    # the input's own 1% flips); only the last frame's step may lag a little at low speed
    trail = (truth[-4] > 0.5) & (truth[-2] < 0.5)
    assert (smoothed[-1][trail] < 0.5).mean() > 0.95


def test_jump_is_followed_within_two_frames() -> None:
    rng = np.random.default_rng(3)
    truth = [ellipse(70)] * 15 + [ellipse(180)] * 5
    smoothed = run([noisy(t, rng) for t in truth])
    assert iou(smoothed[15], truth[15]) > 0.9
    assert iou(smoothed[16], truth[16]) > 0.95
    old_only = (truth[0] > 0.5) & (truth[-1] < 0.5)
    assert (smoothed[16][old_only] < 0.5).mean() > 0.98  # the old position is gone: no ghost


def test_hysteresis_holds_pixels_hovering_at_the_threshold() -> None:
    rng = np.random.default_rng(4)
    base = np.full((H, W), 0.52, np.float32)
    seq = [np.clip(base + rng.uniform(-0.06, 0.06, base.shape), 0, 1).astype(np.float32)
           for _ in range(30)]
    raw = flicker_report(seq)
    no_hyst = flicker_report(run(seq, SmoothParams(hysteresis=0.0)))
    smoothed = flicker_report(run(seq))
    assert raw.flips_per_frame > 0.3 * W * H  # a third of the pixels flip every frame
    assert smoothed.flips_per_frame == 0
    assert no_hyst.flips_per_frame > smoothed.flips_per_frame


def test_strength_zero_is_a_passthrough() -> None:
    rng = np.random.default_rng(5)
    seq = [noisy(ellipse(W / 2), rng) for _ in range(5)]
    for raw, out in zip(seq, run(seq, SmoothParams(strength=0.0))):
        assert np.array_equal(raw, out)


def test_resolution_change_resets() -> None:
    smoother = MaskSmoother()
    for _ in range(5):
        smoother.update(np.ones((H, W), np.float32))
    small = np.zeros((72, 128), np.float32)
    assert np.array_equal(smoother.update(small), small)
    assert smoother.state is not None and smoother.state.frames == 1


def test_smooth_step_is_pure() -> None:
    rng = np.random.default_rng(6)
    a, b = noisy(ellipse(100), rng), noisy(ellipse(104), rng)
    b_copy = b.copy()
    _, state = smooth_step(None, a, SmoothParams())
    ema_copy, on_copy = state.ema.copy(), state.on.copy()
    out1, s1 = smooth_step(state, b, SmoothParams())
    out2, s2 = smooth_step(state, b, SmoothParams())
    assert np.array_equal(out1, out2) and np.array_equal(s1.ema, s2.ema)
    assert np.array_equal(b, b_copy)
    assert np.array_equal(state.ema, ema_copy) and np.array_equal(state.on, on_copy)
    assert out1.dtype == np.float32 and out1.shape == (H, W)
    assert 0.0 <= out1.min() and out1.max() <= 1.0


def test_reset_and_params() -> None:
    smoother = MaskSmoother()
    smoother.update(np.ones((H, W), np.float32))
    smoother.reset()
    zeros = np.zeros((H, W), np.float32)
    assert np.array_equal(smoother.update(zeros), zeros)  # no memory of the ones
    smoother.params = replace(smoother.params, strength=0.3)
    smoother.set(hysteresis=0.05)
    assert smoother.params.strength == 0.3 and smoother.params.hysteresis == 0.05


@pytest.mark.parametrize(
    "bad", [{"strength": 1.0}, {"strength": -0.1}, {"hysteresis": 0.5}, {"window": 4},
            {"noise_floor": 0.5, "motion_threshold": 0.4}],
)
def test_bad_params_name_the_field(bad: dict) -> None:
    with pytest.raises(LivebgError, match=next(iter(bad))):
        MaskSmoother(SmoothParams(**bad))


def test_unknown_param_lists_valid_ones() -> None:
    with pytest.raises(LivebgError, match="strength.*hysteresis"):
        MaskSmoother().set(strenght=0.5)


@pytest.mark.parametrize("clip", ["doctor.mp4", "s18.mp4"])
def test_real_masks_flicker_less_and_stay_close(clip: str) -> None:
    path = SHARED / "videos" / clip
    if not path.is_file():
        pytest.skip("shared clips not present")
    mp = pytest.importorskip("mediapipe")
    cap = cv2.VideoCapture(str(path))
    raw = []
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
        for _ in range(60):
            ok, frame = cap.read()
            if not ok:
                break
            m = seg.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).segmentation_mask
            raw.append(cv2.resize(m.astype(np.float32), (W, H), interpolation=cv2.INTER_AREA))
    cap.release()
    smoothed = run(raw)
    before, after = flicker_report(raw), flicker_report(smoothed)
    assert after.flips_per_frame < before.flips_per_frame / 1.5, (before, after)
    assert after.mean_abs_change < before.mean_abs_change
    # still the same person: the smoothed mask stays on the model's answer
    assert min(iou(s, r) for s, r in zip(smoothed, raw)) > 0.9
