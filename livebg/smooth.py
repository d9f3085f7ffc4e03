"""Temporal mask smoothing: less flicker on still regions, no ghost trails on motion.

Motion-aware EMA plus hysteresis, at whatever resolution it is given (the pipeline feeds the
model's masks, e.g. 256x144, where a step costs well under 0.5 ms):

1. ``change = |mask - ema|``, box-averaged over a small window. Segmentation noise is speckle
   (isolated pixels, a 1-px edge that jitters) and averages away; a moving body part changes a
   coherent band of pixels and keeps a large averaged change.
2. Per-pixel weight of the new mask: ``1 - strength`` where the averaged change is below
   ``noise_floor`` (smooth hard), ramping to 1 at ``motion_threshold`` (follow at once: no ghost).
3. Hysteresis: a pixel that is "person" (output >= 0.5) stays person until the EMA drops below
   ``0.5 - hysteresis``, and vice versa, so edge pixels hovering near 0.5 do not flip every frame.
   Only pixels inside that band on the "wrong" side are changed (pinned at the threshold);
   everywhere else the output is the EMA itself, so soft edges stay soft.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from livebg.errors import LivebgError

__all__ = ["MaskSmoother", "SmoothParams", "SmoothState", "make_smoother", "smooth_params",
           "smooth_step"]

_BELOW_HALF = np.float32(0.5 - 1.0 / 512)  # just under 0.5: still "background" after rounding


@dataclass(frozen=True)
class SmoothParams:
    """Smoothing knobs. ``strength=0`` turns smoothing (and hysteresis) off."""

    strength: float = 0.7  # 0..<1: how much of the past to keep for still pixels
    hysteresis: float = 0.08  # half-width of the sticky band around 0.5 (0 = off)
    noise_floor: float = 0.15  # averaged change treated as pure noise
    motion_threshold: float = 0.45  # averaged change treated as motion: follow fully
    window: int = 5  # box size (px) for the coherence average; 1 = per pixel

    def validate(self) -> SmoothParams:
        """Return self, or raise ``LivebgError`` naming the bad field and its range."""
        checks = (
            ("strength", 0.0 <= self.strength < 1.0, "in [0, 1)"),
            ("hysteresis", 0.0 <= self.hysteresis < 0.5, "in [0, 0.5)"),
            ("noise_floor", 0.0 <= self.noise_floor, ">= 0"),
            ("motion_threshold", self.motion_threshold > self.noise_floor,
             "> noise_floor"),
            ("window", self.window >= 1 and self.window % 2 == 1, "an odd integer >= 1"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise LivebgError(
                    f"smoothing {name} must be {expected}, got {getattr(self, name)}"
                )
        return self


@dataclass(frozen=True)
class SmoothState:
    """What ``smooth_step`` carries between frames. Arrays are never modified in place."""

    ema: np.ndarray  # float32 hxw, the running average
    on: np.ndarray  # bool hxw, hysteresis side (True = person)
    frames: int = 1


def _as_mask(mask: np.ndarray) -> np.ndarray:
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"expected an hxw mask, got shape {mask.shape}")
    return np.asarray(mask, dtype=np.float32)


def _passthrough(mask: np.ndarray) -> tuple[np.ndarray, SmoothState]:
    return mask, SmoothState(ema=mask, on=mask >= 0.5)


def smooth_step(
    state: SmoothState | None, mask: np.ndarray, params: SmoothParams
) -> tuple[np.ndarray, SmoothState]:
    """One frame of smoothing: ``(smoothed mask, new state)``. Pure: inputs are not modified.

    No state, or a state of another resolution, starts over from ``mask``.
    """
    mask = _as_mask(mask)
    if state is None or state.ema.shape != mask.shape or params.strength <= 0:
        return _passthrough(mask)
    prev = state.ema
    change = cv2.absdiff(mask, prev)
    if params.window > 1:
        change = cv2.blur(change, (params.window, params.window))
    # follow weight: 1 - strength for noise, ramping linearly to 1 at the motion threshold
    ramp = (change - params.noise_floor) * (1.0 / (params.motion_threshold - params.noise_floor))
    base = 1.0 - params.strength
    follow = base + (1.0 - base) * np.clip(ramp, 0.0, 1.0)
    ema = prev + follow * (mask - prev)
    ema = ema.astype(np.float32, copy=False)
    if params.hysteresis <= 0:
        return ema, SmoothState(ema=ema, on=ema >= 0.5, frames=state.frames + 1)
    threshold = np.where(state.on, np.float32(0.5 - params.hysteresis),
                         np.float32(0.5 + params.hysteresis))
    on = ema >= threshold
    out = np.where(on, np.maximum(ema, np.float32(0.5)), np.minimum(ema, _BELOW_HALF))
    return out, SmoothState(ema=ema, on=on, frames=state.frames + 1)


class MaskSmoother:
    """Stateful wrapper around ``smooth_step`` for the pipeline (one per stream)."""

    def __init__(self, params: SmoothParams | None = None) -> None:
        self._params = (params or SmoothParams()).validate()
        self._state: SmoothState | None = None

    @property
    def params(self) -> SmoothParams:
        return self._params

    @params.setter
    def params(self, params: SmoothParams) -> None:
        # keep the state: new knobs apply from the next frame without a visible jump
        self._params = params.validate()

    def set(self, **changes: float) -> None:
        """Change some parameters by name, e.g. ``set(strength=0.5)``."""
        unknown = sorted(set(changes) - set(SmoothParams.__dataclass_fields__))
        if unknown:
            valid = ", ".join(SmoothParams.__dataclass_fields__)
            raise LivebgError(f"unknown smoothing parameter {', '.join(unknown)}: use {valid}")
        self.params = replace(self._params, **changes)

    @property
    def state(self) -> SmoothState | None:
        return self._state

    def update(self, mask: np.ndarray) -> np.ndarray:
        out, self._state = smooth_step(self._state, mask, self._params)
        return out

    def reset(self) -> None:
        self._state = None


def smooth_params(smoothing: SmoothParams | float | None) -> SmoothParams:
    """SmoothParams from SmoothParams / a ``--smoothing`` strength in [0, 1) / None (defaults)."""
    if isinstance(smoothing, SmoothParams):
        return smoothing.validate()
    if smoothing is None:
        return SmoothParams()
    return replace(SmoothParams(), strength=float(smoothing)).validate()


def make_smoother(smoothing: SmoothParams | float | None) -> MaskSmoother:
    """A MaskSmoother for ``smoothing`` (see smooth_params); strength 0 passes masks through."""
    return MaskSmoother(smooth_params(smoothing))
