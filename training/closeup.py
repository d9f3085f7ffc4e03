"""Close-ups: the frame a person leaning into a webcam gives, the head filling the picture
and running off its top edge.

Portrait sets frame the head and shoulders with room above the hair, so a network trained on
them learns that a person's outline comes back down inside the frame. Where the head is
cut by the top edge it drops the hair, a hat or the forehead (EG1800 val at 0.55×, photo
path: stage 29's U-Net 95.09 mIoU against MediaPipe's 96.05; ``assets/MODEL.md``, session 11).
``close_up`` makes such frames from any labelled sample, for training (``--close-ups P``
in ``training.train``) and for a labelled test set (this module's command line):

    python -m training.closeup ../shared/data/portraits/val --out runs/closeup55 --zoom 0.55
    python -m training.evaluate livebg/assets/unet.onnx+tta mediapipe+tta --data runs/closeup55
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

ZOOM = (0.45, 0.8)  # the crop's side as a fraction of the picture's
CUT = (-0.02, 0.15)  # how far below the top of the mask the crop starts, in crop heights
HEAD_BAND = 0.15  # the top of the mask, as a fraction of the picture's height, is the head


def close_up_box(mask: np.ndarray, zoom: float, cut: float,
                 shift: float = 0.0) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of a crop ``zoom`` times the picture's size, centred on the head (the
    columns of the mask's top ``HEAD_BAND``) moved ``shift`` crop widths sideways, its top
    ``cut`` crop heights below the top of the mask; inside the picture. None: no person."""
    person = mask > 127
    rows = np.flatnonzero(person.any(axis=1))
    if rows.size == 0:
        return None
    height, width = mask.shape[:2]
    top = int(rows[0])
    crop_w, crop_h = max(1, round(width * zoom)), max(1, round(height * zoom))
    head = np.flatnonzero(person[top:top + max(1, round(HEAD_BAND * height))].any(axis=0))
    centre = float(np.median(head)) + shift * crop_w
    y = int(np.clip(round(top + cut * crop_h), 0, height - crop_h))
    x = int(np.clip(round(centre - crop_w / 2), 0, width - crop_w))
    return x, y, crop_w, crop_h


def crop_to(array: np.ndarray, box: tuple[int, int, int, int],
            size: tuple[int, int]) -> np.ndarray:
    """``array``'s ``box`` resized (bilinear) to ``size`` (w, h)."""
    x, y, w, h = box
    return cv2.resize(array[y:y + h, x:x + w], size, interpolation=cv2.INTER_LINEAR)


def close_up(image: np.ndarray, mask: np.ndarray, weight: np.ndarray, rng: np.random.Generator,
             zoom: tuple[float, float] = ZOOM, cut: tuple[float, float] = CUT
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random close-up of a sample (image, 0..255 mask, 0..255 loss weight) at its own
    size; the sample unchanged where the mask is empty."""
    box = close_up_box(mask, rng.uniform(*zoom), rng.uniform(*cut), rng.uniform(-0.15, 0.15))
    if box is None:
        return image, mask, weight
    size = (mask.shape[1], mask.shape[0])
    return crop_to(image, box, size), crop_to(mask, box, size), crop_to(weight, box, size)


def write_set(source: str | Path, out: str | Path, zoom: float, cut: float = 0.05,
              progress: bool = True) -> int:
    """A labelled close-up set: every pair of ``source`` cropped to ``close_up_box(mask,
    zoom, cut)`` and resized back to its size, into ``out/images`` and ``out/masks``
    (hard masks, as the source's). Returns the number of pairs written."""
    from training.data import find_pairs, load_pair  # here: training.data imports close_up

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    written = 0
    for pair in tqdm(find_pairs([source]), desc="close-ups", disable=not progress, leave=False):
        image, mask = load_pair(pair)
        mask = mask * np.uint8(255)
        box = close_up_box(mask, zoom, cut)
        if box is None:
            continue
        size = (mask.shape[1], mask.shape[0])
        crop = cv2.cvtColor(crop_to(image, box, size), cv2.COLOR_RGB2BGR)
        hard = np.where(crop_to(mask, box, size) > 127, 255, 0).astype(np.uint8)
        cv2.imwrite(str(out / "images" / f"{pair.image.stem}.jpg"), crop,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(out / "masks" / f"{pair.image.stem}.png"), hard)
        written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a labelled root (images/ + masks/)")
    p.add_argument("--out", required=True, help="folder for the close-up set")
    p.add_argument("--zoom", type=float, default=0.55,
                   help="the crop's side as a fraction of the picture's (default 0.55)")
    p.add_argument("--cut", type=float, default=0.05,
                   help="the crop's top below the top of the mask, in crop heights (0.05)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not 0.05 <= args.zoom <= 1.0:
        p.error(f"--zoom {args.zoom}: give a fraction between 0.05 and 1")
    count = write_set(args.source, args.out, args.zoom, args.cut, not args.no_progress)
    if not count:
        p.error(f"no labelled person in {args.source}")
    print(f"wrote {count} close-ups to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
