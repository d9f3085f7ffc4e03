"""What the ``livebg`` command line asks for, checked before anything slow opens: model
and device names, weights, backgrounds, outputs, and the names the options take in a
``PipelineConfig``. Every mistake is one ``LivebgError`` that names the fix."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from livebg.capture import IMAGE_EXTENSIONS
from livebg.errors import LivebgError
from livebg.pipeline import CAMERA_FIELDS, pick_fields
from livebg.segment.mirror import TTA_SUFFIX, split_mirror
from livebg.sinks.file import ALPHA_EXTENSIONS, FILE_EXTENSIONS, check_writable_folder

WRITABLE_VIDEO_EXTENSIONS = tuple(FILE_EXTENSIONS)  # what FileSink can encode
# Options whose PipelineConfig field has another name (the window's saved settings use those).
_CONFIG_NAMES = {"input": "source", "camera": "source", "bg": "background"}


def check_models(names: Sequence[str], devices: Sequence[str]) -> None:
    """Typos fail before anything slow is opened, listing the valid names."""
    from livebg.segment import DEVICES, available_segmenters, unknown_model_message

    valid = available_segmenters()
    for name in names:
        if split_mirror(name.lower())[0] not in valid:
            raise LivebgError(unknown_model_message(name))
    for device in devices:
        if device.lower() not in DEVICES:
            raise LivebgError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")


def check_cuda(devices: Sequence[str], cuda_fallback: bool) -> None:
    from livebg.segment import cuda_available

    if "cuda" in [d.lower() for d in devices] and not cuda_fallback and not cuda_available():
        raise LivebgError(
            "--device cuda but no CUDA GPU is available: use --device cpu, or add --cuda-fallback"
        )


def check_weights(path: str | None, models: Sequence[str] = ()) -> None:
    if path is None:
        return
    if Path(path).is_dir():
        raise LivebgError(f"--weights {path} is a folder: name the .onnx or .safetensors "
                          "file inside it")
    if not Path(path).is_file():
        raise LivebgError(f"weights file {path} does not exist: check the --weights path")
    for model in models:
        if split_mirror(model.lower())[0] == "mediapipe":  # the ensemble's U-Net takes them
            raise LivebgError("--weights are U-Net weights but --model is mediapipe (which "
                              "has its own): drop --weights, or use --model unet")


def is_transparent(spec: str) -> bool:
    return spec.strip().lower() == "transparent"


def check_background(spec: str, *, video: bool, output: Path | None = None) -> None:
    """``transparent`` on video needs an output that keeps alpha (``ALPHA_EXTENSIONS``)."""
    from livebg.backgrounds import parse_background

    parse_background(spec)
    if video and is_transparent(spec) and (
            output is None or output.suffix.lower() not in ALPHA_EXTENSIONS):
        kinds = " or ".join(ALPHA_EXTENSIONS)
        raise LivebgError(f"--bg transparent on video needs --output with alpha: a {kinds} "
                          "file (VP9 with alpha, ProRes 4444); or use a colour")


def resolve_video_output(output: str, input_path: Path | None, *, alpha: bool = False) -> Path:
    """A video file path to write; a folder becomes ``<folder>/<input name>.mp4`` (``.webm``
    with ``alpha``)."""
    out = Path(output)
    if out.is_dir():
        check_writable_folder(out, "output")
        return out / f"{input_path.stem if input_path else 'livebg'}{'.webm' if alpha else '.mp4'}"
    if out.suffix.lower() not in WRITABLE_VIDEO_EXTENSIONS:
        if out.suffix.lower() in IMAGE_EXTENSIONS:
            raise LivebgError(f"output {out} is a photo name but the input is a video: use .mp4")
        kinds = " ".join(WRITABLE_VIDEO_EXTENSIONS)
        raise LivebgError(
            f"output {out} has unsupported type {out.suffix or '(none)'}: use one of {kinds}")
    check_writable_folder(out.parent, "output")  # "x.mp4".parent is "."
    return out


def background_file(spec: str) -> Path | None:
    """The file a --bg spec reads (a path, or a bundled background by name), or None."""
    from livebg.backgrounds import parse_background

    try:
        return getattr(parse_background(spec), "path", None)
    except LivebgError:
        return None


def check_virtual_cam_exists() -> None:
    """Headless with only a virtual camera to feed: no device means nothing to do at all."""
    from livebg.sinks.virtualcam import VirtualCamUnavailable, probe_virtual_cam

    try:
        probe_virtual_cam()
    except VirtualCamUnavailable as exc:
        raise LivebgError(f"--virtual-cam with --no-window and no --output, but {exc}; "
                          "or add --output out.mp4") from None


def warn_camera_options(args: argparse.Namespace) -> None:
    """One line for camera-only options given with a file input (they would do nothing)."""
    typed = [f"--{name}" for name in ("width", "height", "fps", "mjpg")
             if name in getattr(args, "given", ())]
    if typed:
        note(f"{', '.join(typed)} {'applies' if len(typed) == 1 else 'apply'} to cameras "
             f"only: ignored for the file {args.input}")


def with_tta(model: str, tta: bool | None, *, default: str) -> str:
    """The model name with the mirror averaging asked for (``livebg.segment.mirror``):
    ``--tta`` → ``+tta``, ``--no-tta`` → none, neither → the name's own suffix or else
    ``default`` (``+tta``, ``+alt`` or ""). A suffix the flag contradicts is an error."""
    base, named = split_mirror(model.lower())
    wanted = named or default if tta is None else TTA_SUFFIX if tta else ""
    if named and named != wanted:
        flag = "--tta" if tta else "--no-tta"
        raise LivebgError(f"--model {model} asks for its own mirror averaging ({named}) but "
                          f"{flag} says otherwise: drop one of them")
    return base + wanted


def note(message: str) -> None:
    """A one-line notice for the user (stderr, so piped stdout stays clean)."""
    print(f"livebg: {message}", file=sys.stderr, flush=True)


def source_spec(args: argparse.Namespace) -> str | int:
    if args.camera is not None:
        return args.camera
    if args.input is not None:
        return args.input
    return 0


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """PipelineConfig fields that come straight from shared flags."""
    shared = (*CAMERA_FIELDS, "weights", "cuda_fallback", "blur_strength", "feather")
    return pick_fields(args, shared)


def given_config_fields(args: argparse.Namespace) -> frozenset[str]:
    """The options typed on the command line, named as PipelineConfig fields where they differ
    (``--input``/``--camera`` → ``source``, ``--bg`` → ``background``)."""
    return frozenset(_CONFIG_NAMES.get(name, name) for name in getattr(args, "given", ()))
