"""Flicker of models on real clips, before and after livebg's temporal smoothing.

    python -m training.flicker livebg/assets/unet.onnx+alt mediapipe \
        --clips ../shared/videos/s18.mp4 ../shared/videos/doctor.mp4 --frames 150

For each model and clip, two measures of how many pixels change side of 0.5 per frame, for
the raw masks and after ``MaskSmoother`` with its defaults:

- **At the frame's size** (``frame %``): the percentage of the clip's pixels whose side
  flips per frame in the alpha the app shows, i.e. ``mask_to_alpha`` (a linear upscale of the
  uint8 mask, no feather) at the clip's own resolution, thresholded at 128. This is what a
  viewer sees and what ``livebg --mask-only`` writes; models of any output size compare as
  they are shown.
- **At 256×144** (``flips``): pixels per frame on masks resized to a common 256×144 (144×256
  for a portrait-orientation clip such as ``d13.mp4``), the measure of the model card's
  earlier tables. It favours a model whose own output is 256×144 (MediaPipe's): its outline
  moves in whole pixels of that grid, so a change that moves the outline by less than a pixel
  flips nothing there, while the same change in a smaller mask, upscaled to the grid, moves
  the crossing and counts. At the frame's size both are upscaled and count alike.

The clips' own motion is included (there is no ground truth to separate it), so lower is
better but never zero on a moving person. Models are named as for ``training.evaluate`` (a
checkpoint, an ONNX file, ``mediapipe``, with ``+alt`` as the app runs video).
"""

from __future__ import annotations

import json

import cv2
import numpy as np

from livebg.composite import mask_to_alpha
from livebg.flicker import flips_per_frame
from livebg.segment import start_clip
from livebg.smooth import MaskSmoother
from training.evaluate import clips_parser, open_model, read_clip

COMMON_SIZE = (256, 144)  # MediaPipe's landscape output


def common_size(frame: np.ndarray) -> tuple[int, int]:
    """``COMMON_SIZE`` turned to the clip's orientation (w, h)."""
    h, w = frame.shape[:2]
    return COMMON_SIZE if w >= h else COMMON_SIZE[::-1]


class FrameFlips:
    """Share of a frame's pixels that change side of alpha 128 from one frame to the next,
    in the alpha the app shows at ``size`` (w, h); one frame is kept, not the clip."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self._previous: np.ndarray | None = None
        self._flipped = 0
        self._steps = 0

    def add(self, mask: np.ndarray) -> None:
        side = mask_to_alpha(mask, self.size) >= 128
        if self._previous is not None:
            self._flipped += int(np.count_nonzero(side != self._previous))
            self._steps += 1
        self._previous = side

    def percent(self) -> float:
        """Mean percentage of the frame's pixels flipped per frame (0 before two frames)."""
        if not self._steps:
            return 0.0
        return 100.0 * self._flipped / (self._steps * self.size[0] * self.size[1])


def clip_flicker(model, frames: list[np.ndarray]) -> dict[str, float]:
    """Flicker of the raw and the smoothed masks of one model on one clip: ``raw`` and
    ``smoothed`` in pixels per frame at 256×144, ``raw_frame_pct`` and
    ``smoothed_frame_pct`` in percent of the frame's pixels per frame at its own size."""
    size = common_size(frames[0])
    frame_size = frames[0].shape[1::-1]
    smoother = MaskSmoother()
    start_clip(model)
    raw, smoothed = [], []
    raw_frame, smoothed_frame = FrameFlips(frame_size), FrameFlips(frame_size)
    for frame in frames:
        mask = model.infer(frame)
        steady = smoother.update(mask)
        raw.append(cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR))
        smoothed.append(cv2.resize(steady, size, interpolation=cv2.INTER_LINEAR))
        raw_frame.add(mask)
        smoothed_frame.add(steady)
    return {"raw": flips_per_frame(raw), "smoothed": flips_per_frame(smoothed),
            "raw_frame_pct": raw_frame.percent(), "smoothed_frame_pct": smoothed_frame.percent()}


MEASURES = (  # (title, raw key, smoothed key, digits)
    ("% of the frame's pixels flipping per frame, at the clip's size", "raw_frame_pct",
     "smoothed_frame_pct", 4),
    ("flips per frame at 256x144", "raw", "smoothed", 1),
)


def format_tables(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A markdown table per measure, a clip per row and a model per column (raw -> smoothed),
    then, with several models, how each one's smoothed flicker compares with the last
    model's: the geometric mean of the per-clip ratios and on how many clips it is at or
    under."""
    models = list(results)
    clips = list(results[models[0]])
    reference = models[-1]
    lines = []
    for title, raw, smoothed, digits in MEASURES:
        lines += [f"{title}, raw -> smoothed", "| clip | " + " | ".join(models) + " |",
                  "|---|" + "---|" * len(models)]
        for clip in clips:
            cells = " | ".join(f"{results[m][clip][raw]:.{digits}f} -> "
                               f"{results[m][clip][smoothed]:.{digits}f}" for m in models)
            lines.append(f"| {clip} | {cells} |")
        for model in models[:-1]:
            ratios = [results[model][c][smoothed] / results[reference][c][smoothed]
                      for c in clips if results[reference][c][smoothed] > 0]
            if ratios:
                mean = float(np.exp(np.mean(np.log(np.maximum(ratios, 1e-12)))))
                under = sum(r <= 1 for r in ratios)
                lines.append(f"smoothed, {model} against {reference}: geometric mean of the "
                             f"ratios {mean:.3f}, at or under on {under} of {len(ratios)} clips")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = clips_parser(__doc__, frames=150).parse_args(argv)

    clips = {c.stem: read_clip(c, args.frames, minimum=2) for c in args.clips}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for spec in args.models:
        with open_model(spec, args.input_width) as model:
            results[spec] = {name: clip_flicker(model, frames) for name, frames in clips.items()}
    print(format_tables(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
