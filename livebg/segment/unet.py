"""livebg's own portrait U-Net: ONNX Runtime on the CPU, torch fp16 on CUDA (same weights).

Files (``livebg/assets/``, found by ``livebg.assets``): ``unet.onnx`` (fp32 graph, uint8 BGR
N×H×W×3 in, probability out, dynamic H/W) and ``unet.safetensors`` (fp16 weights + config,
for CUDA). Both are produced by ``python -m training.export``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from livebg.assets import asset
from livebg.errors import LivebgError
from livebg.limits import MAX_INPUT_ASPECT, check_frame
from livebg.model import ModelConfig
from livebg.resize import Thumbnails, downscale_shared
from livebg.segment import SegmenterBase, cuda_available

DEFAULT_INPUT_WIDTH = 224
EXPORT_HINT = "re-create it with `python -m training.export CHECKPOINT` or reinstall livebg"


def network_size(meta: dict[str, str], input_width: int | None,
                 photos: bool) -> tuple[int, bool]:
    """(size, is_long_side) of the network's input: the width asked for, else
    ``LIVEBG_INPUT_WIDTH``, else the file's own. For photos that is ``photo_long_side``, the
    long side (a photo is no frame of a live stream: a group photo can spend the pixels on
    people far from the camera, while a portrait photo stays at the scale portraits were
    trained at); for video, and for files without it, ``input_width``."""
    if input_width:
        return input_width, False
    if env := int(os.environ.get("LIVEBG_INPUT_WIDTH", 0)):
        return env, False
    if photos and "photo_long_side" in meta:
        return int(meta["photo_long_side"]), True
    return int(meta.get("input_width", DEFAULT_INPUT_WIDTH)), False


def default_weights(kind: str = "onnx") -> Path | None:
    return asset(f"unet.{kind}")


class Letterbox:
    """Aspect-preserving input geometry: scale the frame to ``width`` wide (e.g. 1280×720 →
    160×90 by three 2× halvings, see ``livebg.resize``), then pad rows or columns by edge
    replication to multiples of the network's stride (``multiple``: 32, or 16 for a
    4-stage encoder). ``crop`` cuts the padding off the network's output, which may be
    ``output_stride`` times smaller than its input, so nothing is distorted. A frame more
    than ``MAX_INPUT_ASPECT`` times taller than wide is scaled to that height instead (a
    4×2000 strip: 2×896, not 224×112000)."""

    def __init__(self, width: int, multiple: int = 32, output_stride: int = 1,
                 long_side: bool = False) -> None:
        self.width, self.multiple, self.output_stride = width, multiple, output_stride
        self.long_side = long_side  # ``width`` is the long side: a tall frame gets it as height
        self._key = None
        self.scaled, self.pad = (width, width), (0, 0, 0, 0)

    def update(self, frame_bgr: np.ndarray) -> None:
        key = frame_bgr.shape[:2]
        if key == self._key:
            return
        h, w = key
        scaled_w = self.width
        if self.long_side and h > w:
            scaled_w = max(1, round(self.width * w / h))
        scaled_h = max(1, round(scaled_w * h / w))
        tallest = round(self.width * MAX_INPUT_ASPECT)
        if scaled_h > tallest:
            scaled_w, scaled_h = max(1, round(tallest * w / h)), tallest
        self._key, self.scaled = key, (scaled_w, scaled_h)
        m = self.multiple
        self.pad = (*self._split(-scaled_h % m), *self._split(-scaled_w % m))

    def _split(self, pad: int) -> tuple[int, int]:
        # the leading pad on an output-pixel boundary, so the crop of a strided output is exact
        s = self.output_stride
        lead = pad // 2 // s * s
        return lead, pad - lead

    def prepare(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None) -> np.ndarray:
        self.update(check_frame(frame_bgr))
        return self._pad(downscale_shared(frame_bgr, self.scaled, thumbnails))

    def prepare_views(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None,
                      mirrored: tuple[bool, ...] = (False, True)) -> np.ndarray:
        """A batch of ``prepare``'s input, one for each entry of ``mirrored``: the scaled
        frame, mirrored where asked, then each padded as its frame would be (the pads need
        not be symmetric)."""
        self.update(check_frame(frame_bgr))
        small = downscale_shared(frame_bgr, self.scaled, thumbnails)
        return np.stack([self._pad(cv2.flip(small, 1) if m else small) for m in mirrored])

    def _pad(self, small: np.ndarray) -> np.ndarray:
        if any(self.pad):
            return cv2.copyMakeBorder(small, *self.pad, cv2.BORDER_REPLICATE)
        return small

    def crop(self, mask: np.ndarray) -> np.ndarray:
        """The output pixels that cover the scaled frame (the padding cut off)."""
        s = self.output_stride
        (w, h), (top, _, left, _) = self.scaled, self.pad
        return mask[top // s : (top + h + s - 1) // s, left // s : (left + w + s - 1) // s]


def letterbox_for(cfg: ModelConfig, width: int, long_side: bool = False) -> Letterbox:
    return Letterbox(width, cfg.input_multiple, cfg.deployed_stride, long_side)


class OnnxUNet(SegmenterBase):
    name = "unet"
    device = "cpu"

    def __init__(self, path: Path, threads: int | None = None, input_width: int | None = None,
                 photos: bool = False):
        import onnxruntime as ort

        threads = threads or int(os.environ.get("LIVEBG_ORT_THREADS", "1"))
        options = ort.SessionOptions()
        # One intra-op thread: the pipeline already runs capture/inference/output in
        # parallel on a laptop's few cores, and ORT's spinning threads would fight them.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises several types for a bad file
            raise bad_weights(path, short_reason(exc)) from exc
        check_onnx_io(path, self._session)
        meta = self._session.get_modelmeta().custom_metadata_map
        self.config, cfg = read_metadata(path, meta)
        self._geometry = letterbox_for(cfg, *network_size(meta, input_width, photos))
        self._input = self._session.get_inputs()[0].name

    @property
    def input_width(self) -> int:
        return self._geometry.width

    def infer(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None) -> np.ndarray:
        return self._mean_of_views(frame_bgr, thumbnails, (False,))

    def infer_mirrored(self, frame_bgr: np.ndarray,
                       thumbnails: Thumbnails | None = None) -> np.ndarray:
        """The mirrored frame's mask, mirrored back (``MirrorAlternating``): the network's
        small input is mirrored, not the frame."""
        return self._mean_of_views(frame_bgr, thumbnails, (True,))

    def infer_with_mirror(self, frame_bgr: np.ndarray,
                          thumbnails: Thumbnails | None = None) -> np.ndarray:
        """``infer`` averaged with ``infer_mirrored`` (``FlipAveraged``), both in one run."""
        return self._mean_of_views(frame_bgr, thumbnails, (False, True))

    def _mean_of_views(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None,
                       mirrored: tuple[bool, ...]) -> np.ndarray:
        """The mean of the masks of the frame's views (mirrored or not), each brought back
        upright; all views go through the network as one batch."""
        geometry = self._geometry
        batch = geometry.prepare_views(frame_bgr, thumbnails, mirrored)
        (prob,) = self._session.run(None, {self._input: batch})
        masks = [cv2.flip(geometry.crop(p[0]), 1) if m else geometry.crop(p[0])
                 for p, m in zip(prob, mirrored, strict=True)]
        return masks[0] if len(masks) == 1 else sum(masks) / len(masks)

    def close(self) -> None:
        self._session = None


class TorchUNet(SegmenterBase):
    """fp16 torch on the GPU: the frame is uploaded once as uint8 and resized there.
    The app uses it on CUDA only; ``device="cpu"`` runs the same code where no GPU is
    (tests: fp16 convolutions on a CPU are correct but slow)."""

    name = "unet"

    def __init__(self, path: Path, input_width: int | None = None, device: str = "cuda",
                 photos: bool = False) -> None:
        import torch

        from livebg.gpu.weights import network_from, read_safetensors  # no smp, safetensors
        from livebg.model import deployable

        try:
            state, meta = read_safetensors(path)
            if "config" not in meta:
                raise bad_weights(path, "no 'config' in its metadata")
            _, cfg = read_metadata(path, meta)
            net = network_from(cfg, state)
        except LivebgError:
            raise
        except Exception as exc:  # a wrong tensor: torch lists every key (12,000 characters)
            raise bad_weights(path, short_reason(exc)) from exc
        self._torch, self.device, self.config = torch, device, cfg
        self.model = deployable(net, cfg).half().to(device)
        self._geometry = letterbox_for(cfg, *network_size(meta, input_width, photos))

    @property
    def geometry(self) -> Letterbox:
        """The letterbox of the network's input (``livebg.gpu`` runs it on the device)."""
        return self._geometry

    def infer_tensor(self, frame_bgr: np.ndarray, mirrored: tuple[bool, ...] = (False,)):
        """Probability as an fp16 tensor on the device (for a GPU compositor later). Same
        letterbox geometry as the ONNX path, done on the device. ``mirrored``: the views
        of the frame to run in one batch, each mirrored or not; their masks, brought back
        upright, are averaged (``(False, True)``: ``FlipAveraged``)."""
        torch = self._torch
        geometry = self._geometry
        geometry.update(check_frame(frame_bgr))
        (w, h), (top, bottom, left, right) = geometry.scaled, geometry.pad
        with torch.inference_mode():
            frame = torch.from_numpy(frame_bgr).to(self.device, non_blocking=True)
            x = frame.permute(2, 0, 1)[None].half()
            x = torch.nn.functional.interpolate(x, size=(h, w), mode="area")
            views = [x.flip(-1) if m else x for m in mirrored]  # each padded on its own
            x = torch.cat([torch.nn.functional.pad(v, (left, right, top, bottom),
                                                   mode="replicate") for v in views])
            prob = self.model(x.permute(0, 2, 3, 1))[:, 0]
            masks = [geometry.crop(p).flip(-1) if m else geometry.crop(p)
                     for p, m in zip(prob, mirrored, strict=True)]
            return masks[0] if len(masks) == 1 else sum(masks) / len(masks)

    def infer(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None) -> np.ndarray:
        # resizes on the GPU: the CPU thumbnails are of no use here
        return self.infer_tensor(frame_bgr).float().cpu().numpy()

    def infer_mirrored(self, frame_bgr: np.ndarray,
                       thumbnails: Thumbnails | None = None) -> np.ndarray:
        return self.infer_tensor(frame_bgr, (True,)).float().cpu().numpy()

    def infer_with_mirror(self, frame_bgr: np.ndarray,
                          thumbnails: Thumbnails | None = None) -> np.ndarray:
        return self.infer_tensor(frame_bgr, (False, True)).float().cpu().numpy()

    def close(self) -> None:
        self.model = None


def short_reason(exc: BaseException, limit: int = 160) -> str:
    """The first line of a library's error, cut to ``limit`` characters."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def bad_weights(path: Path, why: str) -> LivebgError:
    return LivebgError(f"cannot load U-Net weights {path}: {why}; {EXPORT_HINT}")


def check_onnx_io(path: Path, session: object) -> None:
    """The graph livebg feeds: one uint8 N×H×W×3 input, an N×1×h×w probability out.
    Checked at load, so a wrong file fails here, not on the first frame."""
    inputs, outputs = session.get_inputs(), session.get_outputs()  # type: ignore[attr-defined]
    x = inputs[0] if len(inputs) == 1 else None
    if x is None or x.type != "tensor(uint8)" or len(x.shape) != 4 or x.shape[3] not in (3, "3"):
        got = ", ".join(f"{i.type} {i.shape}" for i in inputs) or "none"
        raise bad_weights(path, f"its input is {got}, not one tensor(uint8) [N, H, W, 3]")
    y = outputs[0] if outputs else None
    if y is None or len(y.shape) != 4:
        got = ", ".join(f"{o.type} {o.shape}" for o in outputs) or "none"
        raise bad_weights(path, f"its output is {got}, not one [N, 1, h, w] probability")


def read_metadata(path: Path, meta: dict[str, str]) -> tuple[dict, ModelConfig]:
    """(config dict, ModelConfig) from a weights file's metadata, its input widths checked;
    a broken entry is one LivebgError, not a JSONDecodeError."""
    try:
        config = json.loads(meta.get("config", "{}"))
        if not isinstance(config, dict):
            raise TypeError("not a JSON object")
        cfg = ModelConfig.from_dict(config)
        widths = [int(meta[k]) for k in ("input_width", "photo_long_side") if k in meta]
    except (ValueError, TypeError) as exc:
        raise bad_weights(path, f"broken metadata ({short_reason(exc, 80)})") from None
    if any(not 16 <= w <= 4096 for w in widths):
        raise bad_weights(path, f"metadata input widths {widths} are outside 16-4096")
    return config, cfg


def load_unet(device: str = "auto", weights: str | None = None,
              photos: bool = False) -> SegmenterBase:
    if weights is not None:
        path = Path(weights)
        if path.is_dir():
            raise LivebgError(f"weights {path} is a folder: name the .onnx or .safetensors file "
                              "inside it")
        if not path.is_file():
            raise LivebgError(f"weights file {path} does not exist; {EXPORT_HINT}")
    want_cuda = device == "cuda" or (device == "auto" and cuda_available())
    if want_cuda:
        if not cuda_available():
            raise LivebgError("--device cuda asked for, but torch sees no CUDA GPU: install the "
                              "[gpu] extra with a CUDA build of torch, or use --device cpu")
        path = Path(weights) if weights else default_weights("safetensors")
        if path is None or path.suffix != ".safetensors":
            raise LivebgError("the CUDA path needs fp16 weights (unet.safetensors); "
                              + EXPORT_HINT)
        return TorchUNet(path, photos=photos)
    path = Path(weights) if weights else default_weights("onnx")
    if path is None:
        raise LivebgError("no trained U-Net weights in livebg/assets/ (unet.onnx): use --model "
                          "mediapipe, or train and export one (see training/README)")
    if path.suffix != ".onnx":
        raise LivebgError(f"{path} is not an .onnx file: the CPU path runs ONNX Runtime; "
                          + EXPORT_HINT)
    return OnnxUNet(path, photos=photos)
