"""Flicker of models on real clips, before and after livebg's temporal smoothing.

    python -m training.flicker livebg/assets/unet.onnx mediapipe \
        --clips ../shared/videos/s18.mp4 ../shared/videos/doctor.mp4 --frames 150

For each model and clip: pixels crossing 0.5 per frame (``livebg.flicker.flips_per_frame``),
on masks resized to a common 256×144 (144×256 for a portrait-orientation clip such as
``d13.mp4``: a vertical mask squeezed into a landscape grid counts a model whose output is
already 256×144 differently from one whose output keeps the clip's shape) so models of
different output sizes compare, for the raw
masks and after ``MaskSmoother`` with its defaults. The clips' own motion is included (there
is no ground truth to separate it), so lower is better but never zero on a moving person.
Models are named as for ``training.evaluate`` (a checkpoint, an ONNX file, ``mediapipe``).
"""

from __future__ import annotations

import json

import cv2
import numpy as np

from livebg.flicker import flips_per_frame
from livebg.segment import start_clip
from livebg.smooth import MaskSmoother
from training.evaluate import clips_parser, open_model, read_clip

COMMON_SIZE = (256, 144)  # MediaPipe's landscape output: no model is compared upsampled


def common_size(frame: np.ndarray) -> tuple[int, int]:
    """``COMMON_SIZE`` turned to the clip's orientation (w, h)."""
    h, w = frame.shape[:2]
    return COMMON_SIZE if w >= h else COMMON_SIZE[::-1]


def clip_flicker(model, frames: list[np.ndarray]) -> dict[str, float]:
    """Flips per frame of the raw and the smoothed masks of one model on one clip."""
    size = common_size(frames[0])
    smoother = MaskSmoother()
    start_clip(model)
    raw, smoothed = [], []
    for frame in frames:
        mask = model.infer(frame)
        raw.append(cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR))
        smoothed.append(cv2.resize(smoother.update(mask), size, interpolation=cv2.INTER_LINEAR))
    return {"raw": flips_per_frame(raw), "smoothed": flips_per_frame(smoothed)}


def main(argv: list[str] | None = None) -> dict:
    args = clips_parser(__doc__, frames=150).parse_args(argv)

    clips = {c.stem: read_clip(c, args.frames, minimum=2) for c in args.clips}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for spec in args.models:
        with open_model(spec, args.input_width) as model:
            results[spec] = {name: clip_flicker(model, frames) for name, frames in clips.items()}
    print("flips per frame at 256x144, raw -> smoothed")
    print("| model | " + " | ".join(clips) + " |")
    print("|---|" + "---|" * len(clips))
    for spec, by_clip in results.items():
        cells = " | ".join(f"{r['raw']:.1f} -> {r['smoothed']:.1f}" for r in by_clip.values())
        print(f"| {spec} | {cells} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
