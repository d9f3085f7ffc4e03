"""What a pipeline is built from: ``PipelineConfig``, filled in by the CLI and the GUI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CAMERA_FIELDS = ("width", "height", "fps", "mjpg")  # PipelineConfig fields open_source() takes


@dataclass
class PipelineConfig:
    """Everything needed to build a running pipeline (the CLI and the GUI fill this in)."""

    source: str | int = 0  # camera index or video path
    realtime: bool = True  # files: play at the file's fps (False: as fast as possible)
    loop: bool = False  # files: start again at the end
    # None = decide: drop stale frames for cameras / real-time playback, keep every frame
    # for files read as fast as possible (so an output file has the input's frame count).
    drop_frames: bool | None = None
    width: int | None = None  # camera capture settings
    height: int | None = None
    fps: float | None = None
    mjpg: bool = False
    model: str = "auto+alt"  # mirror averaging on still scenes (livebg.segment.mirror)
    device: str = "auto"
    weights: str | None = None
    cuda_fallback: bool = False  # --device cuda without CUDA: use the CPU instead of failing
    background: str = "blur"
    blur_strength: int | None = None  # None = the compositor's default
    feather: int | None = None
    mirror: bool = False
    smoothing: Any = None  # SmoothParams, a strength in [0, 1], or None for the defaults
    mask_only: bool = False  # output the (smoothed) mask instead of a composite
    max_frames: int | None = None  # stop after this many captured frames
    warmup_frames: int = 0  # frames left out of stats() (model warm-up)
    # the whole frame on the GPU (livebg.gpu.GpuStage) when the segmenter is the torch U-Net:
    # None = when it runs on CUDA, True = on any device (tests), False = never
    gpu_stage: bool | None = None
    stats_window: int = 2000  # per-stage samples kept for percentiles


def pick_fields(options: Any, names: Iterable[str]) -> dict[str, Any]:
    """``{name: options.<name>}``: hands same-named settings between the CLI's arguments, the
    GUI's Settings, PipelineConfig and open_source() without one line per field."""
    return {name: getattr(options, name) for name in names}
