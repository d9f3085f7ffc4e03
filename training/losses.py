"""Segmentation losses: BCE + soft IoU, with extra weight in a band around the edge;
optionally a distillation term towards a larger teacher's probabilities."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def edge_band(mask: torch.Tensor, width: int = 5) -> torch.Tensor:
    """1 on pixels within ``width // 2`` px of the person's outline, else 0 (N×1×H×W)."""
    pad = width // 2
    dilated = F.max_pool2d(mask, width, stride=1, padding=pad)
    eroded = -F.max_pool2d(-mask, width, stride=1, padding=pad)
    return dilated - eroded


def soft_iou_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """1 - soft Jaccard per image, averaged: region-level, so a small person counts as
    much as a large one (the foreground-imbalance handling). ``weight`` (0..1 a pixel)
    leaves ignored pixels out of both the intersection and the union."""
    dims = (1, 2, 3)
    w = 1.0 if weight is None else weight
    inter = (w * probs * target).sum(dims)
    union = (w * (probs + target - probs * target)).sum(dims)
    return (1 - (inter + eps) / (union + eps)).mean()


def dice_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    dims = (1, 2, 3)
    inter = (probs * target).sum(dims)
    return (1 - (2 * inter + eps) / (probs.sum(dims) + target.sum(dims) + eps)).mean()


def lovasz_hinge_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lovász hinge per image, averaged (Berman et al. 2018): a convex surrogate of
    1 - IoU of the *thresholded* mask, so it optimises the metric itself, where soft IoU
    optimises it on probabilities. Best as a fine-tune after BCE + soft IoU."""
    losses = []
    for image_logits, image_target in zip(logits.flatten(1), target.flatten(1)):
        signs = 2 * image_target - 1
        errors = 1 - image_logits * signs
        errors_sorted, order = torch.sort(errors, descending=True)
        target_sorted = image_target[order]
        # gradient of the Lovász extension of the Jaccard loss at the sorted errors
        positives = target_sorted.sum()
        intersection = positives - target_sorted.cumsum(0)
        union = positives + (1 - target_sorted).cumsum(0)
        jaccard = 1 - intersection / union
        jaccard = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
        losses.append(torch.dot(F.relu(errors_sorted), jaccard))
    return torch.stack(losses).mean()


REGION_LOSSES = ("iou", "dice", "lovasz")


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, edge_weight: float = 4.0,
                      region: str = "iou", pixel_weight: torch.Tensor | None = None,
                      ) -> tuple[torch.Tensor, dict[str, float]]:
    """Edge-weighted BCE + a region loss. Returns the loss and its parts for logging.

    ``target`` may be soft (a teacher's probability); ``pixel_weight`` (0..1, N×1×H×W)
    scales each pixel's share of the BCE and the soft IoU, 0 = ignored (where a
    pseudo-label's teachers disagree). The Lovász hinge needs hard labels: it sees the
    target thresholded at 0.5 and no pixel weight."""
    hard = (target > 0.5).float()
    weights = 1.0 + edge_weight * edge_band(hard)
    if pixel_weight is not None:
        weights = weights * pixel_weight
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weights)
    if region == "lovasz":
        region_loss = lovasz_hinge_loss(logits, hard)
    elif region == "dice":
        region_loss = dice_loss(torch.sigmoid(logits), target)
    else:
        region_loss = soft_iou_loss(torch.sigmoid(logits), target, weight=pixel_weight)
    total = bce + region_loss
    return total, {"bce": bce.item(), region: region_loss.item()}


def distillation_loss(logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """BCE towards a teacher's soft probabilities: they carry how sure the larger model is
    near the outline, which hard 0/1 masks cannot tell a small student."""
    return F.binary_cross_entropy_with_logits(logits, teacher_probs)


def shifted(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``x`` (N×C×H×W) with its content moved ``dx`` right and ``dy`` down, the edge
    replicated into the gap: one frame to the next of a camera that moved a little."""
    pad = max(abs(dx), abs(dy))
    if pad == 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x.float(), (pad, pad, pad, pad), mode="replicate")
    return padded[..., pad - dy:pad - dy + h, pad - dx:pad - dx + w]


def next_frame(images: torch.Tensor, generator: torch.Generator, max_shift: int = 4,
               ) -> tuple[torch.Tensor, int, int]:
    """A webcam's next frame of each uint8 crop: shifted by an even (dx, dy) of at most
    ``max_shift`` pixels (even: the network's output of stride 2 moves by whole pixels),
    exposure ×0.9–1.1 per crop and sensor noise (σ 3 levels). Returns (uint8 frames,
    dx, dy)."""
    dx, dy = (2 * int(v) for v in torch.randint(-(max_shift // 2), max_shift // 2 + 1, (2,),
                                                 generator=generator))
    gain = 0.9 + 0.2 * torch.rand(images.shape[0], 1, 1, 1, generator=generator)
    noise = 3.0 * torch.randn(images.shape, generator=generator)
    frames = shifted(images, dx, dy) * gain.to(images.device) + noise.to(images.device)
    return frames.clamp(0, 255).round().to(torch.uint8), dx, dy


def stability_loss(logits: torch.Tensor, next_logits: torch.Tensor, dx: int, dy: int,
                   ) -> torch.Tensor:
    """Mean squared difference between the masks of a crop, moved by (dx, dy), and of its
    ``next_frame``, away from the border the shift filled in: what the network sees as
    a person must not change with sensor noise and a small move, or the live mask
    flickers. Both sides learn (no stop-gradient): the pair agrees where either is unsure."""
    moved = shifted(torch.sigmoid(logits.float()), dx, dy)
    diff = (moved - torch.sigmoid(next_logits.float())) ** 2
    m = max(abs(dx), abs(dy))
    h, w = diff.shape[-2:]
    return diff[..., m:h - m, m:w - m].mean()
