"""How much a model's mask moves when the frame is altered the way webcams alter it.

    python -m training.robustness livebg/assets/unet.onnx mediapipe \
        --clips ../shared/videos/s18.mp4 ../shared/videos/doctor.mp4 --frames 300 --every 20

For every sampled frame and each alteration (a dim room with sensor noise, an overexposed
one, heavy JPEG with blur, a warm white balance): the IoU between the mask of the clean frame
and the mask of the altered copy, at 320×180, thresholded at 0.5, averaged over frames. 1.0
means the alteration changed nothing. No ground truth is needed, so any clip will do; the
model card's robustness table is this command's output. Models are named as for
``training.evaluate`` (a checkpoint, an ONNX file, ``mediapipe``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import cv2
import numpy as np

from training.evaluate import (
    clips_parser,
    full_size_mask,
    open_model,
    read_clip,
    show_first_frame,
)

MASK_SIZE = (320, 180)

Alteration = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def dark_noisy(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dim room: 30% of the light and sensor noise (sigma 6 grey levels)."""
    noisy = frame.astype(np.float32) * 0.3 + rng.normal(0.0, 6.0, frame.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def overexposed(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Auto-exposure overshooting: ×1.6 + 20, highlights clipped."""
    return cv2.convertScaleAbs(frame, alpha=1.6, beta=20)


def jpeg_blur(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cheap camera over USB 2: JPEG quality 25, then a 5×5 blur."""
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 25])
    return cv2.GaussianBlur(cv2.imdecode(data, cv2.IMREAD_COLOR), (5, 5), 0)


def warm(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tungsten light without white balance: blue ×0.7, green ×0.95, red ×1.3."""
    gains = np.array([0.7, 0.95, 1.3], np.float32)
    return np.clip(frame.astype(np.float32) * gains, 0, 255).astype(np.uint8)


ALTERATIONS: dict[str, Alteration] = {
    "dark_noisy": dark_noisy,
    "overexposed": overexposed,
    "jpeg_blur": jpeg_blur,
    "warm": warm,
}


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def robustness(model, frames: list[np.ndarray], alterations: dict[str, Alteration],
               seed: int = 0) -> dict[str, float]:
    """Mean IoU between the clean and the altered frame's masks, per alteration."""
    def person(frame: np.ndarray) -> np.ndarray:  # as the live pipeline has it: webcam frames
        show_first_frame(model, frame)  # +alt: each frame a still scene of its own
        mask = full_size_mask(model, frame, live=True)
        return cv2.resize(mask, MASK_SIZE, interpolation=cv2.INTER_LINEAR) > 0.5

    clean = [person(frame) for frame in frames]
    scores = {}
    for name, alter in alterations.items():
        rng = np.random.default_rng(seed)  # the same noise for every model
        scores[name] = float(np.mean([mask_iou(c, person(alter(f, rng)))
                                      for c, f in zip(clean, frames, strict=True)]))
    return scores


def main(argv: list[str] | None = None) -> dict:
    p = clips_parser(__doc__, frames=300)
    p.add_argument("--every", type=int, default=20, help="take every Nth of them")
    args = p.parse_args(argv)

    frames = [f for clip in args.clips for f in read_clip(clip, args.frames, args.every)]
    results = {}
    for spec in args.models:
        with open_model(spec, args.input_width) as model:
            results[spec] = robustness(model, frames, ALTERATIONS)
    print(f"IoU of the clean frame's mask with the altered frame's, {len(frames)} frames")
    print("| model | " + " | ".join(ALTERATIONS) + " |")
    print("|---|" + "---:|" * len(ALTERATIONS))
    for spec, scores in results.items():
        print(f"| {spec} | " + " | ".join(f"{scores[name]:.3f}" for name in ALTERATIONS) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
