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


# --- objects beside and in front of people ---------------------------------------------
# The worst real-world failures are things next to a person called person: a flag by a
# speaker's shoulder, a horse, a stall, toys. No data set here has object masks, so objects
# are made: a real scene's texture (or a flat, shaded colour, as flags and signs are) cut
# to a random outline, pasted touching the person (behind: only over the background) or in
# front (over the person, whose mask loses those pixels).

def object_shape(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A {0,1} h×w outline: a smooth random blob, an ellipse, a rounded rectangle (a sign,
    a screen, a flag) or a polygon."""
    mask = np.zeros((h, w), np.uint8)
    kind = rng.integers(4)
    centre = np.array([w / 2, h / 2])
    if kind == 0:  # blob: a radius varying smoothly around the circle
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        radius = np.ones_like(angles)
        for k in range(1, 5):
            radius += rng.uniform(-0.3, 0.3) / k * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
        radius = np.clip(radius, 0.3, None) / radius.max()
        unit = np.stack([np.cos(angles) * w, np.sin(angles) * h], 1) / 2
        points = centre + unit * radius[:, None]
        cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    elif kind == 1:
        cv2.ellipse(mask, (w // 2, h // 2), (max(1, w // 2), max(1, h // 2)), 0, 0, 360, 1, -1)
    elif kind == 2:
        r = int(min(w, h) * rng.uniform(0, 0.25))
        cv2.rectangle(mask, (r, 0), (w - 1 - r, h - 1), 1, -1)
        cv2.rectangle(mask, (0, r), (w - 1, h - 1 - r), 1, -1)
        for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
            cv2.circle(mask, (cx, cy), r, 1, -1)
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
        radius = rng.uniform(0.6, 1.0, len(angles))[:, None]
        unit = np.stack([np.cos(angles) * w, np.sin(angles) * h], 1) / 2
        cv2.fillPoly(mask, [(centre + unit * radius).astype(np.int32)], 1)
        if mask.mean() < 0.2:  # a sliver: the points fell on one side of the circle
            return object_shape(w, h, rng)
    return mask


def scene_segment(image: np.ndarray, rng: np.random.Generator, clusters: int = 5,
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """A region of one colour cluster in a person-free photo (a car, a bush, a sign, a
    sofa), its bounding box as (RGB, {0,1} mask): an object with a real outline and its own
    texture. None when no part of the chosen cluster covers 4–60% of the picture."""
    small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(int(rng.integers(2**31)))
    _, labels, _ = cv2.kmeans(lab, clusters, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    cluster = (labels.reshape(64, 64) == rng.integers(clusters)).astype(np.uint8)
    cluster = cv2.morphologyEx(cluster, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, parts, stats, _ = cv2.connectedComponentsWithStats(cluster, connectivity=8)
    sizable = [i for i in range(1, count) if 0.04 <= stats[i, 4] / 4096 <= 0.6]
    if not sizable:
        return None
    index = sizable[int(rng.integers(len(sizable)))]
    x, y, w, h = (int(v) for v in stats[index, :4])
    mask = cv2.resize((parts == index).astype(np.uint8), image.shape[1::-1],
                      interpolation=cv2.INTER_NEAREST)
    sy, sx = image.shape[0] / 64, image.shape[1] / 64
    box = (slice(int(y * sy), int(np.ceil((y + h) * sy))),
           slice(int(x * sx), int(np.ceil((x + w) * sx))))
    return image[box], mask[box]


def object_cutout(textures: list[np.ndarray], w: int, h: int, rng: np.random.Generator,
                  flat: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """An object's RGB image and {0,1} outline, w×h: a one-colour region of a texture
    photo (``scene_segment``: a real outline), a crop of one on a made outline, or (with
    ``flat``) a flat saturated colour shaded top to bottom."""
    if textures and rng.random() < 0.4:
        segment = scene_segment(textures[int(rng.integers(len(textures)))], rng)
        if segment is not None:
            image, mask = segment
            return (cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR),
                    cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST))
    mask = object_shape(w, h, rng)
    if textures and (not flat or rng.random() < 0.6):
        tex = textures[int(rng.integers(len(textures)))]
        scale = max(w / tex.shape[1], h / tex.shape[0]) * rng.uniform(1.0, 2.0)
        tex = cv2.resize(tex, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        y = int(rng.integers(0, tex.shape[0] - h + 1))
        x = int(rng.integers(0, tex.shape[1] - w + 1))
        image = tex[y:y + h, x:x + w].copy()
    else:
        hsv = np.array([[[rng.integers(180), rng.integers(120, 256), rng.integers(60, 256)]]],
                       np.uint8)
        colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
        shade = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.8, 1.2), h)[:, None, None]
        image = np.clip(np.broadcast_to(colour, (h, w, 3)) * shade, 0, 255).astype(np.uint8)
    return image, mask


def add_objects(image: np.ndarray, target: np.ndarray, weight: np.ndarray,
                textures: list[np.ndarray], rng: np.random.Generator, count: int = 1,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` made objects pasted touching the person in ``target`` (uint8 0..255, soft
    or hard): behind the person (drawn over background pixels only, the mask unchanged) or,
    one time in three, in front (the mask is 0 and counts fully under it; a third of those
    lie across the bottom of the frame, as a desk, a laptop or a suitcase would). Returns
    new arrays; without a person in ``target`` the objects go anywhere."""
    image, target, weight = image.copy(), target.copy(), weight.copy()
    fh, fw = target.shape
    person = target > 127
    edge = cv2.morphologyEx(person.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3)))
    ys, xs = np.nonzero(edge)
    for _ in range(count):
        front = rng.random() < 1 / 3
        desk = front and rng.random() < 1 / 3  # a desk, a laptop, a suitcase across the bottom
        h = max(4, int(fh * rng.uniform(0.1, 0.3 if front else 0.6)))
        w = max(4, int(fw * rng.uniform(0.4, 1.0)) if desk else int(h * rng.uniform(0.4, 2.0)))
        # never a flat colour in front: across a torso it is what a plain shirt looks like,
        # and a network taught that it is background drops people in plain clothes
        obj, shape = object_cutout(textures, w, h, rng, flat=not front)
        if desk:
            cx, cy = int(rng.integers(w // 2 - w // 4, fw - w // 2 + w // 4 + 1)), fh - h // 3
        elif len(ys):  # centred on a point of the outline, pushed outwards a little
            i = int(rng.integers(len(ys)))
            cx = xs[i] + (w // 3 if xs[i] > fw / 2 else -w // 3) * (not front)
            cy = ys[i]
        else:
            cx, cy = int(rng.integers(fw)), int(rng.integers(fh))
        x, y = int(cx - w // 2), int(cy - h // 2)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
        if x0 >= x1 or y0 >= y1:
            continue
        part = shape[y0 - y:y1 - y, x0 - x:x1 - x].astype(bool)
        if not front:  # behind: the person (and the unsure outline) stays on top
            part &= target[y0:y1, x0:x1] <= 12
        image[y0:y1, x0:x1][part] = obj[y0 - y:y1 - y, x0 - x:x1 - x][part]
        target[y0:y1, x0:x1][part] = 0
        weight[y0:y1, x0:x1][part] = 255
    return image, target, weight
