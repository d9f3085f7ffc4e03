#!/usr/bin/env python
"""Generate livebg's bundled sample clip and background images (deterministic, seeded).

    python scripts/make_sample_assets.py            # writes livebg/assets/sample.mp4, backgrounds/

The clip (640x360, 30 fps, 6 s) imitates a webcam scene: a person (hair, head, neck, shoulders,
shirt, shading) sways, slides and nods in front of a room (wall, window, shelf with books, a
plant, texture and sensor noise), so segmentation, smoothing and compositing have something
realistic to chew on. Everything is drawn here: no third-party images, no licence questions.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

CLIP_SIZE = (640, 360)
CLIP_FPS = 30
CLIP_SECONDS = 6
BG_SIZE = (1280, 720)
SEED = 20240607
SS = 2  # supersampling factor for the figure: anti-aliased edges without LINE_AA everywhere

Color = tuple[int, int, int]


# ---------------------------------------------------------------- drawing helpers


def vertical_gradient(size: tuple[int, int], top: Color, bottom: Color) -> np.ndarray:
    w, h = size
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return np.repeat(img, w, axis=1)


def radial_vignette(size: tuple[int, int], centre: tuple[float, float], power: float) -> np.ndarray:
    """1 at ``centre`` (fractions of w, h) falling to ~1-power at the corners; HxWx1 float32."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.hypot((x - centre[0] * w) / w, (y - centre[1] * h) / h) / math.hypot(0.5, 0.5)
    return (1.0 - power * np.clip(d, 0, 1.5) ** 2)[..., None]


def paint(img: np.ndarray, alpha: np.ndarray, color: Color | np.ndarray) -> None:
    """img = img*(1-a) + color*a in place; ``alpha`` float HxW in [0,1], color BGR or image."""
    a = alpha[..., None]
    img *= 1 - a
    img += a * np.asarray(color, np.float32)


def shape_mask(size: tuple[int, int], draw: Callable[[np.ndarray], None]) -> np.ndarray:
    """Rasterise ``draw(canvas)`` at SS x size, return an anti-aliased float mask at ``size``."""
    w, h = size
    big = np.zeros((h * SS, w * SS), np.uint8)
    draw(big)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- the room


def render_room(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Static room background, float32 BGR."""
    w, h = size
    s = w / 640
    img = vertical_gradient(size, (176, 196, 214), (140, 160, 182))  # warm beige wall
    # plaster texture: low-frequency blotches + fine grain
    blotch = cv2.resize(rng.normal(0, 1, (h // 40 + 2, w // 40 + 2)).astype(np.float32), size,
                        interpolation=cv2.INTER_CUBIC)
    img += (blotch * 4 + rng.normal(0, 2.0, (h, w)).astype(np.float32))[..., None]
    # window on the left: bright sky, frame and cross bars
    x0, y0, x1, y1 = int(40 * s), int(40 * s), int(200 * s), int(220 * s)
    sky = vertical_gradient((x1 - x0, y1 - y0), (250, 225, 190), (235, 235, 225))
    img[y0:y1, x0:x1] = sky
    cv2.rectangle(img, (x0, y0), (x1, y1), (235, 240, 245), int(8 * s))
    cv2.line(img, ((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1), (235, 240, 245), int(5 * s))
    cv2.line(img, (x0, (y0 + y1) // 2), (x1, (y0 + y1) // 2), (235, 240, 245), int(5 * s))
    # shelf with books on the right
    sx0, sx1, sy = int(450 * s), int(620 * s), int(150 * s)
    cv2.rectangle(img, (sx0, sy), (sx1, sy + int(8 * s)), (60, 90, 120), -1)
    x = sx0 + int(6 * s)
    while x < sx1 - int(14 * s):
        bw, bh = int(rng.integers(8, 16) * s), int(rng.integers(35, 60) * s)
        col = tuple(int(c) for c in rng.integers(30, 200, 3))
        cv2.rectangle(img, (x, sy - bh), (x + bw, sy), col, -1)
        cv2.line(img, (x + 2, sy - bh + 4), (x + 2, sy - 4), tuple(c * 0.7 for c in col), 1)
        x += bw + int(rng.integers(1, 4) * s)
    # a plant in a pot, lower right
    px, py = int(580 * s), int(300 * s)
    cv2.rectangle(img, (px - int(22 * s), py), (px + int(22 * s), h), (50, 80, 150), -1)
    for _ in range(14):
        ang = rng.uniform(-2.6, -0.5)
        ln = rng.uniform(40, 80) * s
        tip = (int(px + math.cos(ang) * ln), int(py + math.sin(ang) * ln))
        cv2.ellipse(img, ((px + tip[0]) // 2, (py + tip[1]) // 2), (int(ln / 2), int(7 * s)),
                    math.degrees(ang), 0, 360, (50, int(rng.integers(110, 160)), 60), -1)
    # desk edge along the bottom
    cv2.rectangle(img, (0, int(335 * s)), (w, h), (70, 105, 140), -1)
    # window light falling off across the wall
    img *= radial_vignette(size, (0.2, 0.3), 0.35)
    return img


# ---------------------------------------------------------------- the person


SKIN: Color = (120, 160, 215)
HAIR: Color = (30, 40, 55)
SHIRT: Color = (150, 90, 50)


def person_layers(size: tuple[int, int], t: float) -> list[tuple[np.ndarray, Color]]:
    """Masks (anti-aliased, float) and colours of the figure at time ``t`` seconds, back to front.

    Motion: a slow sway plus a slide across the frame, a nod, and a slight head tilt.
    """
    w, h = size
    s = w / 640 * SS
    cx = w / 2 + 70 * math.sin(2 * math.pi * t / 6.0) + 18 * math.sin(2 * math.pi * t / 1.7)
    nod = 7 * math.sin(2 * math.pi * t / 1.3)
    tilt = 6 * math.sin(2 * math.pi * t / 2.9)
    hx = int((cx + 4 * math.sin(2 * math.pi * t / 2.9)) * s)  # the head lags the body a bit
    hy = int((130 + nod) * s)
    bx = int(cx * s)

    def torso(c: np.ndarray) -> None:  # sloping shoulders, arms widening downwards
        cv2.ellipse(c, (bx, int(285 * s)), (int(125 * s), int(50 * s)), 0, 180, 360, 255, -1)
        pts = np.array([[bx - 125 * s, 285 * s], [bx + 125 * s, 285 * s],
                        [bx + 140 * s, c.shape[0]], [bx - 140 * s, c.shape[0]]], np.int32)
        cv2.fillPoly(c, [pts], 255)

    def neck(c: np.ndarray) -> None:  # with the V of an open collar
        cv2.rectangle(c, (bx - int(21 * s), hy + int(30 * s)), (bx + int(21 * s), int(240 * s)),
                      255, -1)
        pts = np.array([[bx - 24 * s, 236 * s], [bx + 24 * s, 236 * s], [bx, 275 * s]], np.int32)
        cv2.fillPoly(c, [pts], 255)

    def head(c: np.ndarray) -> None:
        cv2.ellipse(c, (hx, hy), (int(46 * s), int(60 * s)), tilt, 0, 360, 255, -1)
        for side in (-1, 1):  # ears
            cv2.ellipse(c, (hx + side * int(46 * s), hy + int(5 * s)), (int(8 * s), int(14 * s)),
                        tilt, 0, 360, 255, -1)

    def hair_back(c: np.ndarray) -> None:  # shows as a rim around the top and sides
        cv2.ellipse(c, (hx, hy - int(8 * s)), (int(53 * s), int(60 * s)), tilt, 0, 360, 255, -1)

    def hair_cap(c: np.ndarray) -> None:  # over the forehead
        cv2.ellipse(c, (hx, hy - int(26 * s)), (int(47 * s), int(36 * s)), tilt, 180, 360, 255,
                    -1)

    def face_dark(c: np.ndarray) -> None:  # eyes, brows, mouth
        for side in (-1, 1):
            cv2.ellipse(c, (hx + side * int(17 * s), hy + int(2 * s)), (int(6 * s), int(4 * s)),
                        tilt, 0, 360, 255, -1)
            cv2.line(c, (hx + side * int(10 * s), hy - int(10 * s)),
                     (hx + side * int(26 * s), hy - int(11 * s)), 255, int(3 * s))
        cv2.ellipse(c, (hx, hy + int(32 * s)), (int(14 * s), int(5 * s)), tilt, 0, 180, 255,
                    int(3 * s))

    return [
        (shape_mask(size, torso), SHIRT),
        (shape_mask(size, neck), SKIN),
        (shape_mask(size, hair_back), HAIR),
        (shape_mask(size, head), SKIN),
        (shape_mask(size, hair_cap), HAIR),
        (shape_mask(size, face_dark), (40, 45, 70)),
    ]


def render_frame(room: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    h, w = room.shape[:2]
    img = room.copy()
    layers = person_layers((w, h), t)
    # side shading: the figure is lit from the window (left), darker to the right
    cx = float(np.average(np.arange(w), weights=layers[0][0].sum(axis=0) + 1e-6))
    x = np.arange(w, dtype=np.float32)
    shade = np.clip(1.05 - 0.35 * np.clip((x - cx + 60) / 220, 0, 1), 0.6, 1.1)[None, :, None]
    for mask, color in layers:
        paint(img, mask, np.asarray(color, np.float32) * shade)
    img += rng.normal(0, 1.5, img.shape).astype(np.float32)  # sensor noise
    return to_uint8(img)


def make_clip(path: Path, seed: int = SEED) -> int:
    rng = np.random.default_rng(seed)
    room = render_room(CLIP_SIZE, rng)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, CLIP_SIZE)
    if not writer.isOpened():
        raise SystemExit(f"cannot write {path}")
    n = CLIP_FPS * CLIP_SECONDS
    try:
        for i in range(n):
            writer.write(render_frame(room, i / CLIP_FPS, rng))
    finally:
        writer.release()
    return n


# ---------------------------------------------------------------- background images


def bg_studio(rng: np.random.Generator) -> np.ndarray:
    img = vertical_gradient(BG_SIZE, (120, 110, 100), (70, 62, 55))
    img *= radial_vignette(BG_SIZE, (0.5, 0.4), 0.6) * 1.4
    return img + rng.normal(0, 1.2, img.shape).astype(np.float32)  # grain: no banding


def bg_bokeh(rng: np.random.Generator) -> np.ndarray:
    w, h = BG_SIZE
    img = vertical_gradient(BG_SIZE, (60, 30, 25), (25, 15, 20))
    lights = np.zeros_like(img)
    for _ in range(70):
        r = int(rng.uniform(15, 70))
        col = rng.choice([(80, 180, 255), (60, 140, 240), (200, 200, 255), (255, 200, 150)])
        c = (int(rng.uniform(0, w)), int(rng.uniform(0, h * 0.9)))
        layer = np.zeros((h, w), np.float32)
        cv2.circle(layer, c, r, rng.uniform(0.25, 0.7), -1, cv2.LINE_AA)
        lights += layer[..., None] * np.asarray(col, np.float32)
    return img + cv2.GaussianBlur(lights, (0, 0), 4)


def bg_office(rng: np.random.Generator) -> np.ndarray:
    room = render_room(BG_SIZE, rng)
    return cv2.GaussianBlur(room, (0, 0), 2.5)  # slightly out of focus, like a real camera


def bg_hills(rng: np.random.Generator) -> np.ndarray:
    w, h = BG_SIZE
    img = vertical_gradient(BG_SIZE, (230, 180, 120), (240, 225, 215))
    x = np.arange(w, dtype=np.float32)
    for i, col in enumerate([(120, 150, 110), (80, 130, 70), (50, 100, 50)]):
        phase = rng.uniform(0, 6.28)
        ridge = h * (0.55 + 0.12 * i) + 40 * np.sin(x / (220 - 40 * i) + phase)
        below = (np.arange(h, dtype=np.float32)[:, None] >= ridge[None, :]).astype(np.float32)
        paint(img, cv2.GaussianBlur(below, (0, 0), 1.0), col)
    return img + rng.normal(0, 1.0, img.shape).astype(np.float32)


BACKGROUNDS = {"studio": bg_studio, "bokeh": bg_bokeh, "office": bg_office, "hills": bg_hills}


def make_backgrounds(folder: Path, seed: int = SEED) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (name, fn) in enumerate(BACKGROUNDS.items()):
        path = folder / f"{name}.jpg"
        img = to_uint8(fn(np.random.default_rng(seed + i)))
        cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=root / "livebg" / "assets",
                    help="the package's assets folder")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    clip = args.out / "sample.mp4"
    n = make_clip(clip)
    print(f"{clip}: {n} frames, {clip.stat().st_size / 1e6:.2f} MB")
    for p in make_backgrounds(args.out / "backgrounds"):
        print(f"{p}: {p.stat().st_size / 1e3:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
