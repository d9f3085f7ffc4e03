"""The CPU path's per-frame image operations as torch ops, for images on the GPU.

Each function is the counterpart of an OpenCV call in ``livebg.composite``, ``livebg.smooth``
or ``livebg.segment.mirror`` and rounds where that one works in uint8, so the GPU stage's
frames match the CPU path's to a grey level or two (``tests/test_gpu_stage.py``). Images are
float32 N×C×H×W holding 0..255 (frames) or 0..1 (masks). Borders: OpenCV's default
``BORDER_REFLECT_101`` is torch's ``reflect`` padding. Kernels are made once per setting with
OpenCV (``gaussian_kernel``, ``ellipse_offsets``) and handed in, so nothing here reads the
host during a CUDA graph's capture.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

BELOW_HALF = 0.5 - 1.0 / 512  # livebg.smooth's "just under 0.5"


def to_pixels(image: torch.Tensor) -> torch.Tensor:
    """Rounded and clipped to 0..255, as a uint8 OpenCV result would be (still float)."""
    return image.round().clamp_(0.0, 255.0)


def area_weights(src: int, dst: int) -> np.ndarray:
    """dst × src: ``cv2.INTER_AREA``'s shrink along one axis, each output pixel the mean of
    the source interval it covers (fractional pixels at its ends weighted by their share)."""
    scale = src / dst
    weights = np.zeros((dst, src), np.float64)
    for i in range(dst):
        start, end = i * scale, (i + 1) * scale
        for j in range(int(start), min(src, math.ceil(end))):
            weights[i, j] = (min(end, j + 1) - max(start, j)) / scale
    return weights.astype(np.float32)


class AreaDownscale:
    """``livebg.resize.downscale`` from frames of ``src`` to ``dst`` (w, h): 2× halvings while
    the image is at least twice ``dst``, then one INTER_AREA step, each rounded as OpenCV's
    uint8 result is. Integer factors are block means; other steps multiply by the area
    weights, made here once (a graph's capture cannot upload them). Within a grey level of
    OpenCV on 0.3% of the pixels or fewer (``tests/test_gpu_stage.py``)."""

    def __init__(self, src: tuple[int, int], dst: tuple[int, int], device: torch.device):
        self.steps: list[tuple[tuple[int, int], tuple[torch.Tensor, torch.Tensor] | None]] = []
        w, h = src
        sizes = []
        while w >= 2 * dst[0] and h >= 2 * dst[1]:
            w, h = w // 2, h // 2
            sizes.append((w, h))
        if (w, h) != tuple(dst):
            sizes.append(tuple(dst))
        w, h = src
        for dw, dh in sizes:
            weights = None
            if w % dw or h % dh:
                weights = (torch.from_numpy(area_weights(h, dh)).to(device),
                           torch.from_numpy(area_weights(w, dw).T.copy()).to(device))
            self.steps.append(((w // dw, h // dh), weights))
            w, h = dw, dh

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        for (fx, fy), weights in self.steps:
            if weights is None:  # OpenCV's exact halving rounds halves up: (sum + 2) >> 2
                image = (F.avg_pool2d(image, (fy, fx)) + 0.5).floor_()
            else:
                rows, cols = weights
                image = to_pixels(torch.matmul(torch.matmul(rows, image), cols))
        return image


def linear_resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``cv2.INTER_LINEAR`` (half-pixel centres, edges clamped), not rounded."""
    w, h = size
    if image.shape[-2:] == (h, w):
        return image
    return F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``cv2.resize(mask, size, INTER_AREA)`` on a float mask: area when shrinking, bilinear
    when enlarging (what OpenCV's INTER_AREA does then, within a few hundredths)."""
    w, h = size
    if mask.shape[-2] >= h and mask.shape[-1] >= w:
        return mask if mask.shape[-2:] == (h, w) else F.interpolate(mask, (h, w), mode="area")
    return linear_resize(mask, size)


def _reflect(image: torch.Tensor, pad_x: int, pad_y: int) -> torch.Tensor:
    # torch's reflect needs a pad below the side; a tiny mask falls back to replication
    h, w = image.shape[-2:]
    mode = "reflect" if pad_x < w and pad_y < h else "replicate"
    return F.pad(image, (pad_x, pad_x, pad_y, pad_y), mode=mode)


def box_blur(image: torch.Tensor, window: int) -> torch.Tensor:
    """``cv2.blur(image, (window, window))``."""
    if window <= 1:
        return image
    r = window // 2
    return F.avg_pool2d(_reflect(image, r, r), window, stride=1)


def gaussian_kernel(ksize: int, sigma: float, device: torch.device) -> torch.Tensor:
    """OpenCV's own 1-D Gaussian weights (``cv2.getGaussianKernel``) as a tensor."""
    weights = cv2.getGaussianKernel(ksize, sigma, ktype=cv2.CV_32F)[:, 0]
    return torch.from_numpy(np.ascontiguousarray(weights)).to(device)


def float_gaussian_ksize(sigma: float) -> int:
    """The kernel OpenCV picks for ``GaussianBlur(float image, (0, 0), sigma)``: ±4 sigma."""
    return int(round(sigma * 4 * 2 + 1)) | 1


def feather_ksize(sigma: float) -> int:
    """``livebg.composite._feather``'s ±2 sigma kernel."""
    return 2 * math.ceil(2 * sigma) + 1


def gaussian_blur(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``cv2.GaussianBlur`` with the 1-D ``kernel`` along both axes, each channel alone."""
    c = image.shape[1]
    k = kernel.numel()
    x = _reflect(image, k // 2, k // 2)
    x = F.conv2d(x, kernel.view(1, 1, 1, k).expand(c, 1, 1, k).contiguous(), groups=c)
    return F.conv2d(x, kernel.view(1, 1, k, 1).expand(c, 1, k, 1).contiguous(), groups=c)


def ellipse_offsets(radius: int, device: torch.device) -> torch.Tensor:
    """The positions, in a (2r+1)² window, of ``cv2.MORPH_ELLIPSE``'s ones (for ``dilate``)."""
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return torch.from_numpy(np.flatnonzero(element.ravel())).to(device)


def dilate(mask: torch.Tensor, offsets: torch.Tensor, radius: int) -> torch.Tensor:
    """``cv2.dilate`` of a one-channel mask by the structuring element of ``offsets``."""
    n, _, h, w = mask.shape
    k = 2 * radius + 1
    padded = F.pad(mask, (radius,) * 4, value=-math.inf)
    windows = F.unfold(padded, k)  # N × k² × (h·w)
    return windows.index_select(1, offsets).amax(dim=1).view(n, 1, h, w)


def mask_to_alpha(mask: torch.Tensor, size: tuple[int, int],
                  feather_kernel: torch.Tensor | None) -> torch.Tensor:
    """``livebg.composite.mask_to_alpha``: 0..255 alpha at ``size`` (w, h), the feather's
    blur at the mask's resolution (``feather_kernel`` from ``feather_sigma``)."""
    m8 = to_pixels(mask * 255.0)
    if feather_kernel is not None:
        m8 = to_pixels(gaussian_blur(m8, feather_kernel))
    return to_pixels(linear_resize(m8, size))


def feather_sigma(feather: float, mask_width: int, frame_width: int) -> float:
    return max(feather * mask_width / frame_width, 0.3)


def blend(frame: torch.Tensor, background: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``livebg.composite.blend``: two rounded multiplies, then a saturated add."""
    fg = (frame * alpha * (1 / 255)).round_()
    bg = (background * (255.0 - alpha) * (1 / 255)).round_()
    return (fg + bg).clamp_(0.0, 255.0)


def blur_background(small: torch.Tensor, person: torch.Tensor, size: tuple[int, int],
                    offsets: torch.Tensor, radius: int, kernel: torch.Tensor) -> torch.Tensor:
    """``livebg.composite.blur_background`` from the frame's downscale ``small`` (the
    ``blur_geometry`` size) and the person mask at that size: the mask-weighted blur
    ``blur(small·w) / blur(w)`` with w = 1 - dilated person, floored; then up to ``size``."""
    weight = (1.0 - dilate(person, offsets, radius)).clamp_(min=1.0 / 255)
    num = gaussian_blur(small * weight, kernel)
    den = gaussian_blur(weight, kernel)
    return to_pixels(linear_resize(to_pixels(num / den), size))


def blur_geometry(frame_size: tuple[int, int], strength: float,
                  shared: tuple[int, int] | None = None) -> tuple[tuple[int, int], int, float]:
    """``(small size, dilation radius, blur sigma)`` of ``blur_background`` for a frame of
    ``frame_size`` (w, h): the numbers ``livebg.composite.blur_background`` computes. It
    takes the network's input (``shared``, the thumbnail the pipeline already made) when
    that is at most twice the size it wants, and so does this."""
    from livebg.composite import _PERSON_MARGIN_PX, _blur_downscale

    w, h = frame_size
    ds = _blur_downscale(strength)
    small = (max(1, w // ds), max(1, h // ds))
    if shared is not None and small[0] <= shared[0] <= 2 * small[0] \
            and small[1] <= shared[1] <= 2 * small[1]:
        small = shared
    scale = small[0] / w
    return small, max(1, round(_PERSON_MARGIN_PX * scale)), max(strength * scale, 0.5)


def smooth_step(mask: torch.Tensor, ema: torch.Tensor, on: torch.Tensor,
                started: torch.Tensor, params) -> torch.Tensor:
    """``livebg.smooth.smooth_step`` in place: updates ``ema``, ``on`` (0/1 floats) and
    ``started`` (a 0-d bool: False = no state yet, start over from this mask), returns the
    smoothed mask. ``params``: a ``SmoothParams`` (fixed for a captured graph)."""
    if params.strength <= 0:
        ema.copy_(mask)
        on.copy_(mask >= 0.5)
        started.fill_(True)
        return mask
    change = box_blur((mask - ema).abs(), params.window)
    ramp = (change - params.noise_floor) * (1.0 / (params.motion_threshold - params.noise_floor))
    base = 1.0 - params.strength
    follow = base + (1.0 - base) * ramp.clamp(0.0, 1.0)
    new_ema = torch.where(started, ema + follow * (mask - ema), mask)
    if params.hysteresis <= 0:
        out, new_on = new_ema, new_ema >= 0.5
    else:
        threshold = torch.where(on > 0, 0.5 - params.hysteresis, 0.5 + params.hysteresis)
        new_on = torch.where(started, new_ema >= threshold, mask >= 0.5)
        out = torch.where(new_on, new_ema.clamp(min=0.5), new_ema.clamp(max=BELOW_HALF))
        out = torch.where(started, out, mask)
    ema.copy_(new_ema)
    on.copy_(new_on)
    started.fill_(True)
    return out


def alternation_step(guess: torch.Tensor, grey: torch.Tensor, prev_guess: torch.Tensor,
                     prev_grey: torch.Tensor, started: torch.Tensor, params) -> torch.Tensor:
    """``livebg.segment.mirror.alternation_step`` in place: the guess averaged with the
    previous frame's where the green channel ``grey`` (0..255, at the mask's size) is still.
    Updates ``prev_guess``, ``prev_grey`` and ``started``; ``params``: ``AlternationParams``."""
    change = box_blur((grey - prev_grey).abs(), params.window).round()  # uint8 in OpenCV
    ramp = (params.moving - change) * (1.0 / (params.moving - params.still))
    weight = torch.where(started, 0.5 * ramp.clamp(0.0, 1.0), 0.0)
    mask = guess + (prev_guess - guess) * weight
    prev_guess.copy_(guess)
    prev_grey.copy_(grey)
    started.fill_(True)
    return mask
