"""Network parts livebg adds to smp (need torch; built by ``livebg.model``).

``SeparableDecoderBlock``: smp's block runs two dense 3×3 convolutions. Here each is split
into a depthwise 3×3 and a pointwise 1×1 (as MobileNet does in its encoder): the same
receptive field, ~9× fewer multiply-adds, and about 30% less ONNX Runtime time for the whole
network at 160×96.

``guided_filter``: the deployed graph's refinement. The network stops at half resolution;
a guided filter (He et al., "Guided Image Filtering") upsamples its probability to the
input's resolution so that, near the outline, it follows the edges of the input's green
channel: on EG1800 +0.3 mIoU and +1.5 boundary F over bilinear upsampling, for a few small
box filters. ``colour_guided_filter``: the same guided by all three channels (export
``--refine guided-colour``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class SeparableDecoderBlock(nn.Module):
    """Upsample ×2 (nearest), concatenate the encoder's skip, then two depthwise-separable
    3×3 convolutions. Same call signature as smp's ``UnetDecoderBlock``."""

    def __init__(self, mixed_channels: int, out_channels: int) -> None:
        """``mixed_channels``: upsampled input + skip channels, as concatenated."""
        super().__init__()
        mixed = mixed_channels
        self.conv1 = nn.Sequential(_conv_bn_relu(mixed, mixed, 3, groups=mixed),
                                   _conv_bn_relu(mixed, out_channels, 1))
        self.conv2 = nn.Sequential(
            _conv_bn_relu(out_channels, out_channels, 3, groups=out_channels),
            _conv_bn_relu(out_channels, out_channels, 1))

    def forward(self, feature_map: torch.Tensor, target_height: int, target_width: int,
                skip_connection: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(feature_map, size=(target_height, target_width), mode="nearest")
        if skip_connection is not None:
            x = torch.cat([x, skip_connection], dim=1)
        return self.conv2(self.conv1(x))


def guide_image(pixels: torch.Tensor) -> torch.Tensor:
    """N×3×H×W pixel values 0..255 (BGR or RGB: green is in the middle either way) → the
    guide, N×1×H×W in [0, 1]: the green channel. It carries most of the luma and scored the
    same as grey on EG1800 (96.40 mIoU), for no arithmetic in the graph (a grey conversion
    costs ONNX Runtime ~17 µs a frame; slicing channels-last input, 42 µs)."""
    return pixels[:, 1:2].float() * (1 / 255)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)² window; the window shrinks at the borders instead of padding."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def _guide_resolution_coefficients(coeffs: torch.Tensor, radius: int,
                                   scale: int) -> torch.Tensor:
    """The per-window fits ``a`` and ``b`` (channels of ``coeffs``) averaged over the windows
    that cover each pixel (one box filter for all maps), then upsampled bilinearly to the
    guide's resolution."""
    coeffs = _box(coeffs, radius)
    if scale > 1:
        coeffs = F.interpolate(coeffs, scale_factor=scale, mode="bilinear", align_corners=False)
    return coeffs


def guided_filter(prob: torch.Tensor, guide: torch.Tensor, radius: int, eps: float,
                  scale: int = 1) -> torch.Tensor:
    """``prob`` (N×1×h×w) refined and brought to the resolution of ``guide`` (N×1×H×W,
    H = scale·h): locally ``a * guide + b``, fitted to the probability in each window.
    Where the guide is flat (variance << ``eps``) that is the window's mean probability;
    across a strong edge the step lands on the guide's edge. ``a`` and ``b`` are fitted at
    the probability's resolution (radius in its pixels) and upsampled bilinearly ("Fast
    Guided Filter", He & Sun 2015): on EG1800 the same scores as fitting them at the
    guide's resolution, for a 13th of the box filtering. Repeating them instead of
    interpolating scores the same and saves ~40 µs, but leaves visible 2×2-pixel blocks of
    partial alpha in textured backgrounds (16×16 at 720p). fp32 inside (the variance
    subtraction loses too much in fp16); clamped to [0, 1]."""
    dtype = prob.dtype
    guide, p = guide.float(), prob.float()
    low = F.avg_pool2d(guide, scale) if scale > 1 else guide
    mean_i, mean_p = _box(low, radius), _box(p, radius)
    cov = _box(low * p, radius) - mean_i * mean_p
    var = _box(low * low, radius) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    coeffs = _guide_resolution_coefficients(torch.cat([a, b], dim=1), radius, scale)
    return (coeffs[:, :1] * guide + coeffs[:, 1:]).clamp(0.0, 1.0).to(dtype)


def colour_guided_filter(prob: torch.Tensor, guide: torch.Tensor, radius: int, eps: float,
                         scale: int = 1) -> torch.Tensor:
    """``guided_filter`` with a three-channel guide (N×3×H×W in [0, 1]): locally
    ``a · guide + b`` with ``a`` a 3-vector, so an outline between two colours of equal
    brightness (a red shirt on a green wall) is found too. Each window solves
    ``(Σ + eps·I) a = cov(guide, prob)``; the symmetric 3×3 inverse is written out by
    cofactors because ONNX has no matrix inverse. The channel order does not matter."""
    dtype = prob.dtype
    guide, p = guide.float(), prob.float()
    low = F.avg_pool2d(guide, scale) if scale > 1 else guide
    c0, c1, c2 = low[:, 0:1], low[:, 1:2], low[:, 2:3]
    # one box filter over all 13 moments: means of I (3), p, I·p (3), I Iᵀ (6)
    moments = _box(torch.cat([low, p, low * p, c0 * c0, c0 * c1, c0 * c2, c1 * c1, c1 * c2,
                              c2 * c2], dim=1), radius)
    mean_i, mean_p = moments[:, 0:3], moments[:, 3:4]
    cov = moments[:, 4:7] - mean_i * mean_p
    m0, m1, m2 = mean_i[:, 0:1], mean_i[:, 1:2], mean_i[:, 2:3]
    s00 = moments[:, 7:8] - m0 * m0 + eps
    s01 = moments[:, 8:9] - m0 * m1
    s02 = moments[:, 9:10] - m0 * m2
    s11 = moments[:, 10:11] - m1 * m1 + eps
    s12 = moments[:, 11:12] - m1 * m2
    s22 = moments[:, 12:13] - m2 * m2 + eps
    # adjugate of the symmetric matrix [[s00 s01 s02] [s01 s11 s12] [s02 s12 s22]]
    i00, i01, i02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    i11, i12, i22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    inv_det = 1 / (s00 * i00 + s01 * i01 + s02 * i02)
    k0, k1, k2 = cov[:, 0:1], cov[:, 1:2], cov[:, 2:3]
    a = torch.cat([i00 * k0 + i01 * k1 + i02 * k2,
                   i01 * k0 + i11 * k1 + i12 * k2,
                   i02 * k0 + i12 * k1 + i22 * k2], dim=1) * inv_det
    b = mean_p - (a * mean_i).sum(dim=1, keepdim=True)
    coeffs = _guide_resolution_coefficients(torch.cat([a, b], dim=1), radius, scale)
    # three products and sums instead of a channel ReduceSum: ~15 µs less in ONNX Runtime
    refined = (coeffs[:, 0:1] * guide[:, 0:1] + coeffs[:, 1:2] * guide[:, 1:2]
               + coeffs[:, 2:3] * guide[:, 2:3] + coeffs[:, 3:4])
    return refined.clamp(0.0, 1.0).to(dtype)
