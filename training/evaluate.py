"""Evaluate a model on an ``images/`` + ``masks/`` folder.

    python -m training.evaluate runs/lite0_unet/best.pt --data ../shared/data/portraits/val
    python -m training.evaluate livebg/assets/unet.onnx mediapipe \
        --data ../shared/data/portraits/val

Models: a training checkpoint (``.pt``, torch on the CPU), an ONNX file (ONNX Runtime,
as the app runs it), ``mediapipe`` (``mediapipe-general`` = its square model,
``mediapipe-pose`` = MediaPipe Pose's body outlines), or livebg's own names as the app loads
them: ``ensemble`` (the U-Net, both MediaPipe selfie models and the pose model averaged;
``ensemble:FILE.onnx`` with another U-Net) and ``auto`` (``auto+tta``: the app's photo
default), so they compare on the same images. Each mask is the one livebg makes for a photo
(``Segmenter.predict``: the model's output brought up one octave along the picture's edges,
``livebg.upsample``, then resized to the image's full size), thresholded at 0.5. ``--live``
measures the mask as the live pipeline composites a video frame instead: the model's output
resized bilinearly (the edge-aware step makes video masks flicker more, so video skips it).
Prints mIoU (per-image person IoU, averaged, PortraitNet's
convention), class-mean IoU, Dice, pixel accuracy and boundary F-score, all in %.
Several ``--data`` roots are scored as sets of their own, each model on each set, all in one
table; a set with both single-person and group photos gets a row for each as well (people
counted as the mask's connected parts, ``training.metrics.people_in``):

    python -m training.evaluate livebg/assets/unet.onnx+tta mediapipe --data \
        ../shared/data/portraits/val ../shared/data/realworld/val

Any model + ``+tta`` (``livebg/assets/unet.onnx+tta``, ``mediapipe+tta``) is averaged with the
mirrored image, as livebg does for photos. A model + ``+alt`` (livebg's default for video)
averages with the previous frame's mirrored mask where the picture is still, so it sees each
image as a two-frame clip and the second frame's mask is scored: a camera on a still scene,
or with ``--motion PX`` one whose first frame was the image shifted PX pixels sideways.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from livebg.model import REFINERS
from livebg.resize import Thumbnails
from livebg.segment import SegmenterBase, split_mirror, start_clip, with_mirror
from training.data import find_pairs
from training.metrics import MetricAccumulator, people_in


class CheckpointSegmenter(SegmenterBase):
    """A training checkpoint run by torch on the CPU, through the same wrapper as export."""

    name = "checkpoint"
    device = "cpu"

    def __init__(self, path: str, input_width: int, refine: str | None = None) -> None:
        import torch

        from livebg.model import deployable
        from livebg.segment.unet import letterbox_for
        from training.export import load_checkpoint

        model, cfg, _ = load_checkpoint(path)
        if refine is not None:  # as `export --refine` would ship it
            cfg.refine = refine
        self._torch, self._geometry = torch, letterbox_for(cfg, input_width)
        self.model = deployable(model, cfg)

    def infer(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None) -> np.ndarray:
        small = self._geometry.prepare(frame_bgr, thumbnails)  # the input the app's ONNX sees
        with self._torch.no_grad():
            prob = self.model(self._torch.from_numpy(small)[None])[0, 0].numpy()
        return self._geometry.crop(prob)


MODELS_HELP = (".pt checkpoint, .onnx file, mediapipe, mediapipe-general, mediapipe-pose "
               "(people found one at a time, livebg.segment.pose), or livebg's ensemble "
               "(ensemble:FILE.onnx: with that U-Net) or auto, as the app loads them; each may "
               "end in +tta or +alt (mirror averaging, livebg.segment.mirror)")


def open_model(spec: str, input_width: int | None, refine: str | None = None,
               photos: bool = False) -> SegmenterBase:
    """A model by name: a ``.pt`` checkpoint, an ``.onnx`` file, ``mediapipe`` or
    ``mediapipe-general``; ``+tta`` or ``+alt`` at the end averages it with the mirrored
    image (``livebg.segment.mirror``). ``input_width`` None: an ONNX file's own size for
    ``photos`` or for video (a checkpoint: 160 wide, as the shipped file for video)."""
    base, mirror = split_mirror(spec)
    if input_width is None and base.endswith(".pt"):
        input_width = CHECKPOINT_WIDTH
    model = _open_base_model(base, input_width, refine, photos)
    is_file = base.endswith((".pt", ".onnx")) and base.partition(":")[0] not in APP_MODELS
    model.name = Path(base).stem if is_file else base  # "ensemble:x/unet.onnx" keeps its file
    return with_mirror(model, mirror)


CHECKPOINT_WIDTH = 160  # as the shipped unet.onnx for video
# livebg's own names, loaded as the app loads them (its sizes; --input-width does not apply)
APP_MODELS = ("auto", "ensemble")


def _open_base_model(spec: str, input_width: int | None, refine: str | None,
                     photos: bool) -> SegmenterBase:
    name, _, weights = spec.partition(":")
    if name in APP_MODELS:  # "ensemble:runs/x/unet.onnx": that U-Net in the ensemble
        from livebg.segment import load_segmenter

        return load_segmenter(name, "cpu", weights=weights or None, photos=photos)
    if spec == "mediapipe":
        from livebg.segment.mediapipe import MediaPipeSegmenter

        return MediaPipeSegmenter(model_selection=1)
    if spec == "mediapipe-general":
        from livebg.segment.mediapipe import MediaPipeSegmenter

        return MediaPipeSegmenter(model_selection=0)
    if spec == "mediapipe-pose":
        from livebg.segment.pose import PoseSegmenter

        return PoseSegmenter()
    if spec.endswith(".onnx"):
        from livebg.segment.unet import OnnxUNet

        return OnnxUNet(Path(spec), threads=1, input_width=input_width, photos=photos)
    if spec.endswith(".pt"):
        return CheckpointSegmenter(spec, input_width, refine)
    raise SystemExit(f"unknown model {spec!r}: give a .pt checkpoint, an .onnx file, "
                     "mediapipe, mediapipe-general, mediapipe-pose, ensemble or auto "
                     "(+tta or +alt: mirror averaging)")


def clips_parser(description: str, frames: int) -> argparse.ArgumentParser:
    """The command line shared by the tools that run models on video clips (flicker,
    robustness): models named as for ``open_model``, clips, how many frames, JSON out."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="+", help=MODELS_HELP)
    p.add_argument("--clips", nargs="+", type=Path, required=True)
    p.add_argument("--frames", type=int, default=frames, help="first N frames of each clip")
    p.add_argument("--input-width", type=int, default=160, help="U-Net input width")
    p.add_argument("--json", type=Path, default=None)
    return p


def read_clip(path: Path, frames: int, every: int = 1, minimum: int = 1) -> list[np.ndarray]:
    """Every ``every``-th of a clip's first ``frames`` frames (only those are kept in memory);
    fewer than ``minimum`` readable ones is an error that names the clip."""
    cap = cv2.VideoCapture(str(path))
    out = []
    for index in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        if index % every == 0:
            out.append(frame)
    cap.release()
    if len(out) < minimum:
        raise SystemExit(f"{path}: fewer than {minimum} readable frame{'s' * (minimum > 1)}")
    return out


def overlay(image: np.ndarray, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Missed person pixels in red, false person pixels in blue, outline in green."""
    out = image.copy()
    out[target & ~pred] = (0.4 * out[target & ~pred] + (0, 0, 153)).astype(np.uint8)
    out[pred & ~target] = (0.4 * out[pred & ~target] + (153, 0, 0)).astype(np.uint8)
    contours, _ = cv2.findContours(target.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return cv2.drawContours(out, contours, -1, (0, 255, 0), 1)


def full_size_mask(model: SegmenterBase, image: np.ndarray, live: bool = False) -> np.ndarray:
    """The photo path's mask (``predict``) or, with ``live``, the video path's: the model's
    output resized bilinearly to the image."""
    if not live:
        return model.predict(image)
    return cv2.resize(model.infer(image), image.shape[1::-1], interpolation=cv2.INTER_LINEAR)


def show_first_frame(model: SegmenterBase, image: np.ndarray, motion: int = 0) -> None:
    """A model that keeps the previous frame (``+alt``) starts a new clip whose first frame
    is the image (a camera on a still scene) or, with ``motion``, the image shifted that
    many pixels sideways (the person moved)."""
    if start_clip(model):
        model.infer(shifted(image, motion) if motion else image)


def shifted(image: np.ndarray, pixels: int) -> np.ndarray:
    """The image moved ``pixels`` to the left, the edge reflected into the gap."""
    matrix = np.float32([[1, 0, -pixels], [0, 1, 0]])
    return cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT_101)


def evaluate(model: SegmenterBase, data: list[str], limit: int = 0, worst_dir: Path | None = None,
             worst_k: int = 8, progress: bool = True, live: bool = False,
             motion: int = 0) -> dict:
    """Scores over all images of ``data``'s roots, with ``sets``: the scores of each root
    and, where a root holds both, of its single-person and its group photos."""
    by_root = [(root, find_pairs([root])[: limit or None]) for root in data]
    pairs = [pair for _, root_pairs in by_root for pair in root_pairs]
    acc, seconds, groups = MetricAccumulator(), [], {}
    for index, pair in enumerate(tqdm(pairs, desc=f"evaluating {model.name}",
                                      disable=not progress, leave=False)):
        image = cv2.imread(str(pair.image))
        target = cv2.imread(str(pair.mask), cv2.IMREAD_GRAYSCALE) > 127
        show_first_frame(model, image, motion)
        t0 = time.perf_counter()
        prob = full_size_mask(model, image, live)
        seconds.append(time.perf_counter() - t0)
        acc.add(prob > 0.5, target, pair.image.stem)
        groups[index] = "2+ people" if people_in(target) >= 2 else "1 person"
    summary = acc.summary()
    summary["infer_ms_median"] = 1000 * float(np.median(seconds))
    summary["sets"] = set_scores(acc, by_root, groups)
    summary["worst"] = acc.worst(worst_k)
    if worst_dir is not None:
        worst_dir.mkdir(parents=True, exist_ok=True)
        by_name = {p.image.stem: p for p in pairs}
        for name, _ in summary["worst"]:
            pair = by_name[name]
            image = cv2.imread(str(pair.image))
            target = cv2.imread(str(pair.mask), cv2.IMREAD_GRAYSCALE) > 127
            show_first_frame(model, image, motion)
            prob = full_size_mask(model, image, live)
            cv2.imwrite(str(worst_dir / f"{model.name}_{name}.jpg"),
                        overlay(image, prob > 0.5, target))
    return summary


def set_name(root: str) -> str:
    """``../shared/data/realworld/val`` -> ``realworld/val``: a set's short name."""
    parts = Path(root).resolve().parts
    return "/".join(parts[-2:])


def set_scores(acc: MetricAccumulator, by_root: list[tuple[str, list]],
               groups: dict[int, str]) -> dict[str, dict]:
    """Each root's scores, and its people groups' where it has more than one group."""
    out, start = {}, 0
    for root, root_pairs in by_root:
        indices = list(range(start, start + len(root_pairs)))
        start += len(root_pairs)
        name = set_name(root)
        out[name] = acc.summary(indices)
        kinds = sorted({groups[i] for i in indices})
        if len(kinds) > 1:
            for kind in kinds:
                out[f"{name} ({kind})"] = acc.summary([i for i in indices if groups[i] == kind])
    return out


def webcam_speed(model: SegmenterBase, size: tuple[int, int] = (1280, 720),
                 runs: int = 200) -> float:
    """Median ms of ``infer`` (resize + network) on a webcam-sized frame: the cost the app
    pays per frame, at whatever input size the backend picks for that frame."""
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (size[1], size[0], 3), np.uint8), (9, 9), 0)
    for _ in range(10):
        model.infer(frame)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.infer(frame)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def format_table(results: dict[str, dict]) -> str:
    """One row per model, or with several sets one per set and model (models side by side
    within a set, so the comparison reads down a column)."""
    cols = ["miou", "class_miou", "dice", "pixel_acc", "boundary_f", "infer_ms_median"]
    if all("webcam_ms" in r for r in results.values()):
        cols.append("webcam_ms")
    sets = next(iter(results.values())).get("sets", {})
    if len(sets) <= 1:
        lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, r in results.items():
            lines.append(f"| {name} | " + " | ".join(f"{r[c]:.2f}" for c in cols) + " |")
        return "\n".join(lines)
    cols = ["n", "miou", "boundary_f", "class_miou", "dice", "pixel_acc"]
    lines = ["| set | model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for set_key in sets:
        for name, r in results.items():
            s = r["sets"][set_key]
            lines.append(f"| {set_key} | {name} | {s['n']} | "
                         + " | ".join(f"{s[c]:.2f}" for c in cols[1:]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="+", help=MODELS_HELP)
    p.add_argument("--data", nargs="+", required=True, help="roots holding images/ + masks/")
    p.add_argument("--input-width", type=int, default=None,
                   help="U-Net input width (aspect kept, padded to the network's stride; "
                        "default: the ONNX file's own, photo_long_side for the photo path, "
                        "input_width with --live)")
    p.add_argument("--limit", type=int, default=0, help="first N pairs only (0 = all)")
    p.add_argument("--worst", type=Path, default=None, help="write overlays of the worst cases")
    p.add_argument("--speed", action="store_true",
                   help="also time infer() on a 1280x720 frame at the same --input-width "
                        "(webcam_ms; idle CPU please)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--refine", choices=REFINERS,
                   help=".pt checkpoints: the output refinement (default: the checkpoint's)")
    p.add_argument("--live", action="store_true",
                   help="the mask as the live pipeline composites a video frame (bilinear "
                        "resize) instead of the photo path's (edge-aware upsampling)")
    p.add_argument("--motion", type=int, default=0, metavar="PX",
                   help="+alt models: the image follows a copy of itself shifted PX pixels "
                        "sideways (default 0: a still scene)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    results = {}
    for spec in args.models:
        with open_model(spec, args.input_width, args.refine, photos=not args.live) as model:
            results[spec] = evaluate(model, args.data, args.limit, args.worst,
                                     progress=not args.no_progress, live=args.live,
                                     motion=args.motion)
            if args.speed:
                results[spec]["webcam_ms"] = webcam_speed(model)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
