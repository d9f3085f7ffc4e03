"""The GPU path: the whole per-frame work on the device, in one CUDA graph (``GpuStage``).

``stage_for(segmenter)`` gives the pipeline a ``GpuStage`` when the segmenter is the torch
U-Net (``livebg.segment.unet.TorchUNet``, possibly inside ``+tta`` / ``+alt``) on CUDA, and
None otherwise, without importing torch for a CPU segmenter: the CPU app never imports it.
"""

from __future__ import annotations

from typing import Any


def unwrap(segmenter: Any) -> tuple[Any, str, Any]:
    """``(innermost segmenter, mirror mode "" / "+tta" / "+alt", AlternationParams or None)``."""
    from livebg.segment.mirror import FlipAveraged, MirrorAlternating

    if isinstance(segmenter, FlipAveraged):
        return segmenter.inner, "+tta", None
    if isinstance(segmenter, MirrorAlternating):
        return segmenter.inner, "+alt", segmenter.params
    return segmenter, "", None


def stage_for(segmenter: Any, *, force: bool = False) -> Any:
    """A ``GpuStage`` for ``segmenter`` when it is the torch U-Net on CUDA (``force``: on
    any device, for tests), else None."""
    from livebg.segment.unet import TorchUNet  # imports torch only when it is built

    inner, mode, alt_params = unwrap(segmenter)
    on_cuda = str(getattr(inner, "device", "cpu")).startswith("cuda")
    if not (on_cuda or force) or not isinstance(inner, TorchUNet):
        return None
    from livebg.gpu.stage import GpuStage

    return GpuStage(inner, mode, alt_params)
