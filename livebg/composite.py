"""Background replacement: the person from the frame in front of a background
(``livebg.backgrounds``), uint8 OpenCV ops only.

The hot path (``Compositor.apply``) avoids float numpy on full frames and reuses per-size
scratch buffers: on this kind of machine a fresh 720p allocation costs more than the blend itself.
Full-resolution work is limited to one mask upscale, a few ``cv2.multiply``/``cv2.add`` calls and,
for ``blur``, one upscale of a background blurred at 1/2..1/8 size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from livebg.backgrounds import BackgroundSpec, VideoBackground, cover_crop, parse_background
from livebg.errors import LivebgError
from livebg.limits import MAX_BLUR_STRENGTH, MAX_FEATHER, check_range
from livebg.resize import Thumbnails, downscale_shared

__all__ = [
    "DEFAULT_BLUR_STRENGTH",
    "DEFAULT_FEATHER",
    "Compositor",
    "blend",
    "blur_background",
    "mask_to_alpha",
    "mask_to_bgr",
]

DEFAULT_BLUR_STRENGTH = 16.0
DEFAULT_FEATHER = 3.0
_PERSON_MARGIN_PX = 12  # frame px of background kept out of the blur around the person


# ---------------------------------------------------------------- pure per-frame building blocks


def mask_to_alpha(
    mask: np.ndarray,
    size: tuple[int, int],
    feather: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """float32 mask (any size, [0,1]) → uint8 alpha at ``size`` (w, h), edges feathered.

    The uint8 conversion and the feather blur run at whichever of the two resolutions is
    smaller (usually the model's), then one INTER_LINEAR resize brings it to the frame.
    """
    w, h = size
    if mask.ndim == 3:
        mask = mask[..., 0]
    mh, mw = mask.shape
    # convertScaleAbs saturates, so values outside [0,1] clip instead of wrapping around
    m8 = mask if mask.dtype == np.uint8 else cv2.convertScaleAbs(mask, alpha=255.0)
    small = mw * mh <= w * h
    if feather > 0 and small:
        # sigma in mask pixels: a blur there then a linear upscale ~= the same blur at full size
        m8 = _feather(m8, max(feather * mw / w, 0.3))
    if (mw, mh) != (w, h):
        m8 = cv2.resize(m8, (w, h), dst=out, interpolation=cv2.INTER_LINEAR)
    elif out is not None:
        np.copyto(out, m8)
        m8 = out
    if feather > 0 and not small:
        m8 = _feather(m8, feather, dst=out)  # in place only in ``out``, never in the caller's mask
    return m8


def _feather(m8: np.ndarray, sigma: float, dst: np.ndarray | None = None) -> np.ndarray:
    # a +-2 sigma kernel: OpenCV's default (+-3 sigma for uint8) costs ~1.7x for no visible gain
    k = 2 * math.ceil(2 * sigma) + 1
    return cv2.GaussianBlur(m8, (k, k), sigma, dst=dst)


def mask_to_bgr(mask: np.ndarray, size: tuple[int, int], *, mirror: bool = False) -> np.ndarray:
    """A float mask at any resolution as a frame-sized grey BGR uint8 image."""
    if mask.shape[1::-1] != tuple(size):
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
    grey = cv2.convertScaleAbs(mask, alpha=255.0)
    if mirror:
        grey = cv2.flip(grey, 1)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def _blur_downscale(strength: float) -> int:
    """1/4 or 1/8 size for the background blur: a strong blur has no detail to lose at 1/8.

    1/2 would cost ~10 ms at 720p (float arrays of 2.7 MB) for a look nobody can tell apart.
    """
    return 8 if strength >= 16 else 4


def blur_background(
    frame: np.ndarray,
    mask: np.ndarray,
    strength: float,
    out: np.ndarray | None = None,
    thumbnails: Thumbnails | None = None,
) -> np.ndarray:
    """Blurred frame with the person left out, so a bright person does not glow into it.

    Mask-weighted blur at reduced size: blur(frame * w) / blur(w), w = background weight
    (1 - person, with the person dilated by a margin). Deep inside the person, where no
    background is near, w's floor lets the person's own colours fill in; they are hidden
    by the person anyway.
    """
    h, w = frame.shape[:2]
    ds = _blur_downscale(strength)
    size = (max(1, w // ds), max(1, h // ds))
    # the segmenter's input (160×90 of 720p or 540p) will do when at most 2× finer
    small = downscale_shared(frame, size, thumbnails, largest=(2 * size[0], 2 * size[1]))
    sh, sw = small.shape[:2]
    scale = sw / w
    person = cv2.resize(mask.astype(np.float32, copy=False), (sw, sh),
                        interpolation=cv2.INTER_AREA)
    radius = max(1, round(_PERSON_MARGIN_PX * scale))
    person = cv2.dilate(person, cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    weight = cv2.max(cv2.subtract(1.0, person), 1.0 / 255)  # floor: never divide by ~0
    sigma = max(strength * scale, 0.5)
    num = cv2.GaussianBlur(cv2.multiply(small.astype(np.float32), cv2.merge((weight,) * 3)),
                           (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)
    blurred = cv2.convertScaleAbs(cv2.divide(num, cv2.merge((den,) * 3)))
    return cv2.resize(blurred, (w, h), dst=out, interpolation=cv2.INTER_LINEAR)


@dataclass
class _Scratch:
    """Per-frame-size work buffers, reused across frames (allocation dominates otherwise)."""

    alpha: np.ndarray
    alpha3: np.ndarray
    inv3: np.ndarray
    fg: np.ndarray
    bg: np.ndarray
    background: np.ndarray  # the blurred background, for kind blur

    @classmethod
    def for_size(cls, w: int, h: int) -> _Scratch:
        def img(c: int) -> np.ndarray:
            return np.empty((h, w, c) if c > 1 else (h, w), np.uint8)

        return cls(img(1), img(3), img(3), img(3), img(3), img(3))


def blend(
    frame: np.ndarray,
    background: np.ndarray,
    alpha: np.ndarray,
    scratch: _Scratch | None = None,
) -> np.ndarray:
    """frame*a + background*(1-a) with uint8 alpha, two rounded multiplies (error <= 1).

    Only the box around the alpha's non-zero pixels is blended; outside it the result is
    the background, exactly what the blend gives there (a webcam's person covers about half
    the frame: ~1 ms of 2 at 720p). Returns a new array (the caller may hand it to another
    thread); ``scratch`` holds the intermediates.
    """
    h, w = frame.shape[:2]
    s = scratch if scratch is not None else _Scratch.for_size(w, h)
    x, y, bw, bh = cv2.boundingRect(alpha)
    if bw * bh > _WHOLE_FRAME_SHARE * w * h:  # the copy would cost more than it saves
        return _blend_into(frame, background, alpha, s, (slice(0, h), slice(0, w)))
    out = background.copy()
    if bw and bh:
        box = (slice(y, y + bh), slice(x, x + bw))
        _blend_into(frame, background, alpha, s, box, dst=out[box])
    return out


_WHOLE_FRAME_SHARE = 0.8


def _blend_into(frame: np.ndarray, background: np.ndarray, alpha: np.ndarray, s: _Scratch,
                box: tuple[slice, slice], dst: np.ndarray | None = None) -> np.ndarray:
    """The blend of ``box`` (views of the scratch buffers: OpenCV writes into them), into
    ``dst`` when given (a view of the output: no second copy), else a new array."""
    cv2.cvtColor(alpha[box], cv2.COLOR_GRAY2BGR, dst=s.alpha3[box])
    cv2.bitwise_not(s.alpha3[box], dst=s.inv3[box])
    cv2.multiply(frame[box], s.alpha3[box], dst=s.fg[box], scale=1 / 255)
    cv2.multiply(background[box], s.inv3[box], dst=s.bg[box], scale=1 / 255)
    if dst is None:
        return cv2.add(s.fg[box], s.bg[box])
    return cv2.add(s.fg[box], s.bg[box], dst=dst)


# ---------------------------------------------------------------- stateful wrapper

class Compositor:
    """Replaces the background of BGR frames given a person mask.

    ``apply`` returns a new uint8 frame (BGRA for ``transparent``). Setters take effect on the
    next ``apply``; ``apply`` reads the settings once per call. A video background is a file
    reader, so callers on two threads serialise ``apply`` and ``set_background`` (the pipeline
    holds its output lock). ``close()`` releases a video background (idempotent).
    """

    def __init__(
        self,
        background: str | BackgroundSpec = "blur",
        *,
        blur_strength: float = DEFAULT_BLUR_STRENGTH,
        feather: float = DEFAULT_FEATHER,
        mirror: bool = False,
    ) -> None:
        self._spec = BackgroundSpec(kind="none")
        self._video: VideoBackground | None = None
        # (spec, size, pixels): keyed by spec too, so a frame composited while another thread
        # swaps the background can never leave the old picture cached for the new spec
        self._bg_cache: tuple[BackgroundSpec, tuple[int, int], np.ndarray] | None = None
        self._scratch: dict[tuple[int, int], _Scratch] = {}
        self.background_resizes = 0  # how often an image/colour background was (re)built
        self.blur_strength = 0.0
        self.feather = 0.0
        self.mirror = False
        self.set_background(background)
        self.set_blur_strength(blur_strength)
        self.set_feather(feather)
        self.set_mirror(mirror)

    # ---- settings
    @property
    def background(self) -> BackgroundSpec:
        return self._spec

    def set_background(self, spec: str | BackgroundSpec) -> None:
        """Parse first, so a bad spec raises and leaves the current background in place."""
        new = parse_background(spec)
        video = VideoBackground(new.path) if new.kind == "video" and new.path else None
        old_video, self._video = self._video, video
        self._spec, self._bg_cache = new, None
        if old_video is not None:
            old_video.close()

    def set_blur_strength(self, strength: float) -> None:
        self.blur_strength = check_range("blur strength", strength, 0, MAX_BLUR_STRENGTH)

    def set_feather(self, feather: float) -> None:
        self.feather = check_range("feather", feather, 0, MAX_FEATHER, unit=" px, 0 = off")

    def set_mirror(self, mirror: bool) -> None:
        self.mirror = bool(mirror)

    # ---- per frame
    def _static_background(self, spec: BackgroundSpec, size: tuple[int, int]) -> np.ndarray:
        cache = self._bg_cache
        if cache is not None and cache[0] is spec and cache[1] == size:
            return cache[2]
        w, h = size
        if spec.kind == "color" and spec.color is not None:
            bg = np.empty((h, w, 3), np.uint8)
            bg[:] = spec.color
        elif spec.image is not None:
            bg = cover_crop(spec.image, size)
        else:  # pragma: no cover - parse_background guarantees one of the above
            raise LivebgError(f"background {spec} has no pixels: set it again")
        self.background_resizes += 1
        self._bg_cache = (spec, size, bg)
        return bg

    def apply(
        self, frame: np.ndarray, mask: np.ndarray, thumbnails: Thumbnails | None = None
    ) -> np.ndarray:
        """Composite one frame. ``frame`` BGR uint8 HxWx3; ``mask`` float32 hxw in [0,1];
        ``thumbnails``: the frame's shared downscales, if the caller keeps them."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 HxWx3 frame, got {frame.dtype} {frame.shape}")
        spec, video, mirror = self._spec, self._video, self.mirror
        if mirror:
            frame, mask = cv2.flip(frame, 1), cv2.flip(mask, 1)
        if spec.kind == "none":
            return frame if mirror else frame.copy()
        h, w = frame.shape[:2]
        size = (w, h)
        scratch = self._scratch.get(size)
        if scratch is None:
            self._scratch = {size: _Scratch.for_size(w, h)}  # one size at a time is typical
            scratch = self._scratch[size]
        alpha = mask_to_alpha(mask, size, self.feather, out=scratch.alpha)
        if spec.kind == "transparent":
            return cv2.merge((*cv2.split(frame), alpha))
        if spec.kind == "blur":
            bg = blur_background(frame, mask, self.blur_strength, scratch.background, thumbnails)
        else:
            bg = self._picture(spec, video, size)
        return blend(frame, bg, alpha, scratch)

    def _picture(self, spec: BackgroundSpec, video: VideoBackground | None,
                 size: tuple[int, int]) -> np.ndarray:
        if spec.kind == "video" and video is not None:
            return video.next_frame(size)
        return self._static_background(spec, size)

    def background_picture(self, size: tuple[int, int]) -> np.ndarray | None:
        """The background's pixels at ``size`` (w, h) for a colour or image (cached) or a
        video (its next frame); None for the other kinds. The GPU stage composites on the
        device from these (``livebg.gpu``)."""
        spec, video = self._spec, self._video
        if spec.kind in ("color", "image", "video"):
            return self._picture(spec, video, size)
        return None

    # ---- lifecycle
    def close(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None

    def __enter__(self) -> Compositor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
