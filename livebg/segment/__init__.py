"""Person segmenters behind one interface, chosen by name.

    seg = load_segmenter("unet", device="auto")
    mask = seg.predict(frame_bgr)   # float32 H×W in [0, 1], frame size
    low = seg.infer(frame_bgr)      # float32 at the model's resolution (pipeline fast path)

``infer`` may also take the frame's ``Thumbnails`` (``livebg.resize``), so a downscale the
compositor needs too is made once per frame.

``available_segmenters()`` lists the names; an unknown name raises ``LivebgError``
listing them. ``auto`` means ``unet`` when its weights are installed, else ``mediapipe``;
for photos it means ``ensemble`` (the U-Net and both MediaPipe models averaged,
``livebg.segment.ensemble``) when MediaPipe is installed beside the weights.
Any name + ``+tta`` (``unet+tta``) averages the mask with the mirrored frame's
(``FlipAveraged``): fewer wrong pixels for twice the inference. Any name + ``+alt``
(``MirrorAlternating``) mirrors every other frame and averages where the picture is still:
the same masks on a still scene for one inference a frame (``livebg.segment.mirror``).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable

from livebg.errors import LivebgError
from livebg.segment.base import Segmenter, SegmenterBase
from livebg.segment.mirror import (
    ALT_SUFFIX,
    MIRROR_SUFFIXES,
    TTA_SUFFIX,
    FlipAveraged,
    MirrorAlternating,
    split_mirror,
    start_clip,
    with_mirror,
)

log = logging.getLogger("livebg.segment")

DEVICES = ("auto", "cpu", "cuda")


def _load_unet(device: str, weights: str | None, photos: bool) -> Segmenter:
    from livebg.segment.unet import load_unet

    return load_unet(device=device, weights=weights, photos=photos)


def _load_mediapipe(device: str, weights: str | None, photos: bool) -> Segmenter:
    from livebg.segment.mediapipe import MediaPipeSegmenter

    if device == "cuda":
        raise LivebgError("the mediapipe backend runs on the CPU only: use --device cpu or auto")
    return MediaPipeSegmenter()


def _load_ensemble(device: str, weights: str | None, photos: bool) -> Segmenter:
    """The U-Net and both MediaPipe selfie models; for photos MediaPipe Pose too. Its search
    for one person after another costs ~40 ms a 720p frame (the other three ~10), and live
    video has the smoother to steady its mask instead."""
    from livebg.segment.ensemble import DEFAULT_WEIGHTS, ENSEMBLE_NAME, Ensemble
    from livebg.segment.mediapipe import MediaPipeSegmenter
    from livebg.segment.pose import PoseSegmenter

    unet = _load_unet(device, weights, photos)
    members = [unet]
    try:
        for selection in (1, 0):  # landscape, general
            members.append(MediaPipeSegmenter(model_selection=selection))
        if photos:
            members.append(PoseSegmenter())
    except BaseException:
        for member in members:
            member.close()
        raise
    return Ensemble(members, DEFAULT_WEIGHTS[:len(members)], name=ENSEMBLE_NAME)


_REGISTRY: dict[str, Callable[[str, str | None, bool], Segmenter]] = {
    "unet": _load_unet,
    "mediapipe": _load_mediapipe,
    "ensemble": _load_ensemble,
}


def available_segmenters() -> list[str]:
    return ["auto", *_REGISTRY]


def resolve_auto(photos: bool = False) -> str:
    """``unet`` when the shipped weights are present, else ``mediapipe`` (with a warning);
    for ``photos``, ``ensemble`` when MediaPipe is installed too (three networks: no frame
    rate is at stake)."""
    from livebg.segment.unet import default_weights

    if default_weights() is not None:
        if photos and mediapipe_installed():
            return "ensemble"
        return "unet"
    log.warning("livebg: no trained U-Net weights in livebg/assets/ (unet.onnx): using mediapipe")
    return "mediapipe"


def mediapipe_installed() -> bool:
    return importlib.util.find_spec("mediapipe") is not None


def load_segmenter(name: str = "auto", device: str = "auto",
                   weights: str | None = None, photos: bool = False) -> Segmenter:
    """The segmenter ``name`` on ``device``; ``photos``: sized for photos rather than live
    video (the U-Net's ``photo_long_side``: more pixels, as no frame rate is at stake)."""
    name, device = name.lower(), device.lower()
    if device not in DEVICES:
        raise LivebgError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    base, mirror = split_mirror(name)
    if base == "mediapipe" and weights is not None:
        raise LivebgError("weights are for the U-Net; mediapipe has its own: drop weights, "
                          "or use the unet model")
    if base == "auto":
        base = "unet" if weights is not None else resolve_auto(photos)
    if base not in _REGISTRY:
        raise LivebgError(unknown_model_message(name))
    segmenter = _REGISTRY[base](device, weights, photos)
    return with_mirror(segmenter, mirror)


def unknown_model_message(name: str) -> str:
    return (f"unknown model {name!r}: choose one of {', '.join(available_segmenters())} "
            f"(any of them{TTA_SUFFIX} averages with the mirrored frame, "
            f"{ALT_SUFFIX} with the previous frame's mirrored)")


def cuda_available() -> bool:
    """True when torch is installed with a working CUDA device (never raises).

    ``import torch`` costs over a second, so it happens only when torch is installed and the
    CUDA driver reports a device: a CPU machine answers in microseconds."""
    if importlib.util.find_spec("torch") is None or not cuda_driver_has_device():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def cuda_driver_has_device() -> bool:
    """Whether the NVIDIA driver library loads and counts at least one device (ctypes, no
    torch). False on macOS and wherever the driver is missing."""
    import ctypes

    names = {"win32": ("nvcuda.dll",), "linux": ("libcuda.so.1", "libcuda.so")}
    for name in names.get(sys.platform, ()):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        return lib.cuInit(0) == 0 and lib.cuDeviceGetCount(ctypes.byref(count)) == 0 \
            and count.value > 0
    return False


def load_segmenter_with_fallback(
    name: str, device: str, weights: str | None = None, *, cuda_fallback: bool = False,
    photos: bool = False,
) -> Segmenter:
    """``load_segmenter``; with ``cuda_fallback`` a failed CUDA load retries on the CPU."""
    try:
        return load_segmenter(name, device, weights=weights, photos=photos)
    except LivebgError as exc:
        if device != "cuda" or not cuda_fallback:
            raise
        log.warning("CUDA unavailable (%s); --cuda-fallback: using the CPU", exc)
        return load_segmenter(name, "cpu", weights=weights, photos=photos)


__all__ = ["Segmenter", "SegmenterBase", "FlipAveraged", "MirrorAlternating",
           "available_segmenters", "load_segmenter", "load_segmenter_with_fallback",
           "split_mirror", "start_clip", "with_mirror",
           "cuda_available", "cuda_driver_has_device", "resolve_auto", "mediapipe_installed",
           "DEVICES", "TTA_SUFFIX", "ALT_SUFFIX", "MIRROR_SUFFIXES"]
