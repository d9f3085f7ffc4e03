"""Pseudo-labels: soft person masks for unlabelled photos and clips, from teacher models.

    python -m training.pseudolabel ../shared/data/unlabeled --out runs/pseudo \
        --teachers mediapipe-general+tta mediapipe+tta --score ../shared/data/realworld/val

Every photo under ``POOL/images`` and every ``--every``-th frame of the clips under
``POOL/videos`` is resized to ``--long-side`` and segmented by each teacher (the photo path,
``Segmenter.predict``; ``+tta`` mirror-averages). The written root is what
``training.data`` reads as a soft-labelled root:

    OUT/images/<stem>.jpg    the picture, long side --long-side
    OUT/masks/<stem>.png     the teachers' mean person probability, 0..255
    OUT/weights/<stem>.png   how much each pixel counts in the loss, 0..255: 255 where the
                             teachers agree, falling to 0 where their probabilities differ by
                             --disagree or more (ignored there)
    OUT/manifest.tsv         stem, source file, licence (from POOL/manifest.tsv), the share
                             of ignored pixels and of person pixels

``--score ROOT`` first scores each teacher and their mean on a labelled root (images/ +
masks/), so the note says how good the labels are before anything trains on them.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from livebg.segment import SegmenterBase
from training.data import IMAGE_EXTS, find_pairs
from training.metrics import MetricAccumulator

VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".webm", ".avi"}


def agreement_weight(probs: list[np.ndarray], disagree: float) -> np.ndarray:
    """1 where the teachers' probabilities agree, 0 where the largest and smallest differ by
    ``disagree`` or more, linear between (float32). One teacher: all ones."""
    if len(probs) == 1:
        return np.ones_like(probs[0], dtype=np.float32)
    stack = np.stack(probs)
    spread = stack.max(0) - stack.min(0)
    return np.clip(1 - spread / disagree, 0, 1).astype(np.float32)


def soft_label(teachers: list[SegmenterBase], image_bgr: np.ndarray,
               disagree: float) -> tuple[np.ndarray, np.ndarray]:
    """The teachers' mean person probability and the agreement weight, both float32 in
    [0, 1] at the image's size."""
    probs = [t.predict(image_bgr) for t in teachers]
    return np.mean(probs, axis=0).astype(np.float32), agreement_weight(probs, disagree)


def resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    scale = long_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def pool_pictures(pool: Path, every: int, per_clip: int) -> Iterator[tuple[str, str, np.ndarray]]:
    """(stem, source file relative to the pool, BGR picture) for each photo and for every
    ``every``-th frame of each clip (at most ``per_clip`` a clip)."""
    images = pool / "images"
    if images.is_dir():
        for path in sorted(images.iterdir()):
            if path.suffix.lower() in IMAGE_EXTS and (img := cv2.imread(str(path))) is not None:
                yield path.stem, f"images/{path.name}", img
    videos = pool / "videos"
    if videos.is_dir():
        for path in sorted(videos.iterdir()):
            if path.suffix.lower() not in VIDEO_EXTS:
                continue
            cap, index, taken = cv2.VideoCapture(str(path)), 0, 0
            while taken < per_clip:
                ok, frame = cap.read()
                if not ok:
                    break
                if index % every == 0:
                    yield f"{path.stem}_f{index:05d}", f"videos/{path.name}", frame
                    taken += 1
                index += 1
            cap.release()


def read_licences(pool: Path) -> dict[str, str]:
    manifest = pool / "manifest.tsv"
    if not manifest.is_file():
        return {}
    with open(manifest, newline="") as f:
        return {row["file"]: row.get("licence", "") for row in csv.DictReader(f, delimiter="\t")}


def label_pool(teachers: list[SegmenterBase], pool: Path, out: Path, disagree: float = 0.4,
               every: int = 20, per_clip: int = 20, long_side: int = 512, limit: int = 0,
               progress: bool = True) -> list[dict[str, str]]:
    """Write ``out``'s images/, masks/, weights/ and manifest.tsv for the pool's pictures
    (see the module's doc); returns the manifest's rows."""
    for sub in ("images", "masks", "weights"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    licences = read_licences(pool)
    rows = []
    pictures = pool_pictures(pool, every, per_clip)
    for count, (stem, source, picture) in enumerate(
            tqdm(pictures, desc="pseudo-labelling", disable=not progress)):
        if limit and count >= limit:
            break
        picture = resize_long_side(picture, long_side)
        prob, weight = soft_label(teachers, picture, disagree)
        cv2.imwrite(str(out / "images" / f"{stem}.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, 92])
        cv2.imwrite(str(out / "masks" / f"{stem}.png"), np.round(prob * 255).astype(np.uint8))
        cv2.imwrite(str(out / "weights" / f"{stem}.png"), np.round(weight * 255).astype(np.uint8))
        rows.append({"stem": stem, "source": source, "licence": licences.get(source, ""),
                     "ignored": f"{float((weight < 0.5).mean()):.4f}",
                     "person": f"{float((prob > 0.5).mean()):.4f}"})
    with open(out / "manifest.tsv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["stem", "source", "licence", "ignored", "person"],
                                delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def score_teachers(teachers: list[SegmenterBase], root: str, disagree: float,
                   progress: bool = True) -> dict[str, dict]:
    """mIoU / boundary F (%) of each teacher, of their mean, and of the mean counted only
    where the teachers agree (weight > 0.5: the pixels the loss mostly sees)."""
    names = [t.name for t in teachers]
    accs = {n: MetricAccumulator() for n in [*names, "mean"]}
    kept_right, kept = 0, 0
    for pair in tqdm(find_pairs([root]), desc="scoring teachers", disable=not progress,
                     leave=False):
        image = cv2.imread(str(pair.image))
        target = cv2.imread(str(pair.mask), cv2.IMREAD_GRAYSCALE) > 127
        probs = [t.predict(image) for t in teachers]
        for name, prob in zip(names, probs):
            accs[name].add(prob > 0.5, target)
        mean = np.mean(probs, axis=0)
        accs["mean"].add(mean > 0.5, target)
        confident = agreement_weight(probs, disagree) > 0.5
        kept += int(confident.sum())
        kept_right += int(((mean > 0.5) == target)[confident].sum())
    out = {n: {k: a.summary()[k] for k in ("miou", "boundary_f")} for n, a in accs.items()}
    out["mean"]["agreed_pixel_accuracy"] = 100 * kept_right / max(kept, 1)
    return out


def main(argv: list[str] | None = None) -> dict:
    from training.evaluate import MODELS_HELP, open_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("pool", type=Path, help="folder with images/ and/or videos/ (unlabelled)")
    p.add_argument("--out", type=Path, required=True, help="soft-labelled root to write")
    p.add_argument("--teachers", nargs="+", default=["mediapipe-general+tta", "mediapipe+tta"],
                   help=MODELS_HELP)
    p.add_argument("--input-width", type=int, default=None,
                   help="U-Net teachers' input width (default: the file's photo width)")
    p.add_argument("--disagree", type=float, default=0.4,
                   help="probability spread between teachers at which a pixel is ignored")
    p.add_argument("--every", type=int, default=20, help="every N-th frame of each clip")
    p.add_argument("--per-clip", type=int, default=20, help="at most N frames a clip")
    p.add_argument("--long-side", type=int, default=512)
    p.add_argument("--score", default=None, metavar="ROOT",
                   help="labelled root (images/ + masks/) to score the teachers on first")
    p.add_argument("--limit", type=int, default=0, help="first N pictures only (0 = all)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not 0 < args.disagree <= 1:
        raise SystemExit(f"--disagree {args.disagree} must be in (0, 1]")
    if not (args.pool / "images").is_dir() and not (args.pool / "videos").is_dir():
        raise SystemExit(f"{args.pool} has neither images/ nor videos/: give the unlabelled pool")

    teachers = [open_model(spec, args.input_width, photos=True) for spec in args.teachers]
    for spec, teacher in zip(args.teachers, teachers):
        teacher.name = spec
    report: dict = {"teachers": args.teachers}
    if args.score:
        report["scores"] = score_teachers(teachers, args.score, args.disagree,
                                          not args.no_progress)
        for name, s in report["scores"].items():
            print(f"{name:>28}: mIoU {s['miou']:.2f}  boundary F {s['boundary_f']:.2f}")

    rows = label_pool(teachers, args.pool, args.out, args.disagree, every=args.every,
                      per_clip=args.per_clip, long_side=args.long_side, limit=args.limit,
                      progress=not args.no_progress)
    for t in teachers:
        t.close()
    report.update({"pictures": len(rows),
                   "mean_ignored": float(np.mean([float(r["ignored"]) for r in rows] or [0]))})
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {len(rows)} soft labels to {args.out} (mean ignored share "
          f"{report['mean_ignored']:.3f})")
    return report


if __name__ == "__main__":
    main()
