"""Synthetic group photos: labelled people cut out and pasted onto backgrounds, and colour
changes inside the person only.

EG1800 is one centred person a photo; users sit in groups, with children beside them, in
dark hoodies, with a hand raised. ``compose`` pastes 1–4 cut-outs at varied scales and
overlaps, some cut off by the bottom edge as a webcam frames a seated person, onto a
background; its mask is exactly the union of what is visible of them. ``recolour_person``
changes brightness, hue, saturation and contrast inside the mask only, so neither skin tone
nor clothing brightness can tell the network where a person is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Cutout:
    """A person's bounding box out of a labelled photo: RGB uint8 and its {0,1} mask.
    ``cut_off``: the person ran off the photo's bottom edge (a portrait's shoulders), so a
    paste must run off the frame's bottom edge too, or it would show a straight cut."""

    image: np.ndarray
    mask: np.ndarray
    cut_off: bool = False


def cutouts_from(image: np.ndarray, mask: np.ndarray, min_area: float = 0.02) -> list[Cutout]:
    """The labelled person region(s) of one photo: one cut-out per connected part covering
    at least ``min_area`` of the photo (a crowd's far-away specks are left out)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    area = mask.shape[0] * mask.shape[1]
    out = []
    for index in range(1, count):
        x, y, w, h, pixels = stats[index]
        if pixels < min_area * area:
            continue
        part = (labels[y:y + h, x:x + w] == index).astype(np.uint8)
        cut_off = bool(part[-1].any()) and y + h == mask.shape[0]
        out.append(Cutout(image[y:y + h, x:x + w].copy(), part, cut_off))
    return out


def background_crops(image: np.ndarray, mask: np.ndarray, size: tuple[int, int],
                     rng: np.random.Generator, tries: int = 20,
                     max_person: float = 0.002) -> np.ndarray | None:
    """A crop of a labelled photo with (almost) no person in it (20–60% of its height, the
    frame's aspect), resized to ``size`` (w, h); None if ``tries`` random crops all hold a
    person."""
    w, h = size
    for _ in range(tries):
        ch = int(image.shape[0] * rng.uniform(0.2, 0.6))
        cw = min(image.shape[1], max(1, round(ch * w / h)))
        ch = max(1, round(cw * h / w))
        y = int(rng.integers(0, image.shape[0] - ch + 1))
        x = int(rng.integers(0, image.shape[1] - cw + 1))
        if mask[y:y + ch, x:x + cw].mean() <= max_person:
            return cv2.resize(image[y:y + ch, x:x + cw], size, interpolation=cv2.INTER_LINEAR)
    return None


def recolour_person(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                    strength: float = 1.0) -> np.ndarray:
    """Brightness (×0.35–1.25), contrast, saturation and hue changed inside ``mask`` only
    (its outline softened so no seam marks the person). RGB uint8 in and out."""
    s = strength
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-12, 12) * s) % 180
    hsv[..., 1] *= rng.uniform(1 - 0.5 * s, 1 + 0.4 * s)
    value = hsv[..., 2]
    mean = float(value[mask > 0].mean()) if mask.any() else 128.0
    contrast = rng.uniform(1 - 0.35 * s, 1 + 0.3 * s)
    brightness = rng.uniform(1 - 0.65 * s, 1 + 0.25 * s)  # darker skin and clothes, mostly
    hsv[..., 2] = ((value - mean) * contrast + mean) * brightness
    changed = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0)[..., None]
    return (changed * alpha + image * (1 - alpha)).astype(np.uint8)


def place(cutout: Cutout, frame_size: tuple[int, int], rng: np.random.Generator,
          ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The cut-out scaled to 25–105% of the frame's height (a child, a far seat, a close
    face), mirrored half the time, and its top-left corner: anywhere across, and low enough
    that the bottom edge cuts it off like a seated person on a webcam half the time (always
    for a ``cut_off`` person)."""
    fw, fh = frame_size
    ch, cw = cutout.mask.shape
    scale = rng.uniform(0.25, 1.05) * fh / ch
    scale = min(scale, 1.2 * fw / cw)  # not wider than the frame
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    image = cv2.resize(cutout.image, size, interpolation=cv2.INTER_AREA if scale < 1
                       else cv2.INTER_LINEAR)
    mask = cv2.resize(cutout.mask, size, interpolation=cv2.INTER_NEAREST)
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    w, h = size
    x = int(rng.integers(-w // 3, max(fw - 2 * w // 3, -w // 3 + 1)))
    if cutout.cut_off or rng.random() < 0.5:
        y = fh - h + int(rng.integers(0, h // 3 + 1))  # cut off by the bottom edge
    else:
        y = int(rng.integers(min(0, fh - h), max(fh - h, 0) + 1))
    return image, mask, x, y


def paste(frame: np.ndarray, union: np.ndarray, image: np.ndarray, mask: np.ndarray,
          x: int, y: int) -> None:
    """Paste ``image`` where ``mask`` is set at (x, y), in place, clipped to the frame; the
    pasted pixels join ``union``. A later paste covers an earlier one, as a nearer person
    would."""
    fh, fw = union.shape
    h, w = mask.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
    if x0 >= x1 or y0 >= y1:
        return
    part = mask[y0 - y:y1 - y, x0 - x:x1 - x].astype(bool)
    frame[y0:y1, x0:x1][part] = image[y0 - y:y1 - y, x0 - x:x1 - x][part]
    union[y0:y1, x0:x1] |= part


def compose(background: np.ndarray, cutouts: list[Cutout], rng: np.random.Generator,
            recolour: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """``background`` (RGB, its size is the frame's) with the cut-outs pasted, farthest
    (smallest) first; each recoloured with probability ``recolour``. Returns the frame and
    its {0,1} mask: the union of the pasted people's visible pixels."""
    frame = background.copy()
    union = np.zeros(frame.shape[:2], np.uint8)
    placed = []
    for cutout in cutouts:
        image, mask, x, y = place(cutout, (frame.shape[1], frame.shape[0]), rng)
        if rng.random() < recolour:
            image = recolour_person(image, mask, rng)
        placed.append((mask.shape[0], image, mask, x, y))
    for _, image, mask, x, y in sorted(placed, key=lambda p: p[0]):
        paste(frame, union, image, mask, x, y)
    return frame, union
