"""The GPU pipeline stage: one frame in, the finished frame out, everything between on the device.

Per frame: the frame is copied into a pinned host buffer and uploaded once (uint8); the
letterbox (area downscale + replicate padding), the U-Net (fp16, channels-last; fp32 to
compare), the mirror averaging (``+tta`` / ``+alt``), the temporal smoothing and the
compositing (blur, colour, image, video, transparent, none, or the mask) run as torch ops
(``livebg.gpu.ops``) on static buffers; the finished frame is downloaded once, into pinned
memory. On CUDA that per-frame work is captured once in a CUDA graph and replayed (one launch
instead of a few hundred: the eager version is launch-bound); a new frame size or new
settings capture again, and where capture fails the stage runs the same code eagerly.

``GpuStage.process`` is what the pipeline's inference thread calls when the segmenter runs on
CUDA (``livebg.pipeline``). The same code runs on the CPU (eager, fp32 by default) for tests.
Environment: ``LIVEBG_GPU_PRECISION=fp32`` runs the network in fp32, ``LIVEBG_CUDA_GRAPH=0``
turns graph capture off.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from livebg.gpu import ops

log = logging.getLogger("livebg.gpu")

PRECISIONS = {"fp16": torch.float16, "fp32": torch.float32}
MODES = ("", "+tta", "+alt")
WARMUP_RUNS = 3  # before capture: cuDNN picks its kernels, the allocator settles


@dataclass(frozen=True)
class Settings:
    """What the captured work depends on (a change captures again). ``kind``: a background
    kind of ``livebg.composite`` or ``"mask"`` (``--mask-only``); ``background``: the colour
    or the image's identity; ``smoothing``: a ``SmoothParams`` or None (off)."""

    kind: str = "blur"
    blur_strength: float = 16.0
    feather: float = 3.0
    mirror: bool = False
    smoothing: Any = None
    background: Any = None


def read_settings(compositor: Any, smoother: Any, mask_only: bool,
                  size: tuple[int, int]) -> tuple[Settings, np.ndarray | None]:
    """``(Settings, this frame's background picture or None)`` from the pipeline's compositor
    and smoother, which keep their live setters: the GPU stage reads them every frame. The
    picture is a video background's next frame, or an image background cover-cropped to
    ``size`` (cached by the compositor)."""
    params = getattr(smoother, "params", None)
    if mask_only or compositor is None:
        return Settings(kind="mask", smoothing=params), None
    spec = compositor.background
    picture = None
    if spec.kind in ("color", "image", "video"):
        picture = compositor.background_picture(size)
    background = spec.color if spec.kind == "color" else id(spec)
    return Settings(spec.kind, compositor.blur_strength, compositor.feather, compositor.mirror,
                    params, background), picture


class _Timer:
    """Marks between sub-stages: CUDA events on a GPU (read after the frame's sync), the wall
    clock on the CPU (whose ops finish before they return)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[tuple[str, Any]] = []

    def mark(self, name: str) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((name, event))
        else:
            self.marks.append((name, time.perf_counter()))

    def intervals(self) -> dict[str, float]:
        """ms from each mark to the next, under the later mark's name."""
        out: dict[str, float] = {}
        for (_, a), (name, b) in zip(self.marks, self.marks[1:]):
            out[name] = out.get(name, 0.0) + (a.elapsed_time(b) if self.cuda else (b - a) * 1e3)
        return out


class GpuStage:
    """Segment, smooth and composite one frame on ``unet``'s device (a ``TorchUNet``).

    ``mode``: "" (one pass), "+tta" (both views in one batch) or "+alt" (mirrored every other
    frame, averaged with the previous frame's guess where still; ``alt_params``: its
    ``AlternationParams``). ``precision``: "fp16" or "fp32" (default: fp16 on CUDA, fp32 on
    the CPU, ``LIVEBG_GPU_PRECISION``). ``graph``: capture a CUDA graph (default: on CUDA,
    unless ``LIVEBG_CUDA_GRAPH=0``). ``timings`` holds the last frame's per-stage ms.
    ``out_buffers``: 0 (the default) returns a fresh array per frame; N > 0 returns views of N
    pinned buffers in turn (one host copy less, but a frame is overwritten N frames later:
    fine for a sink that writes at once, not for the GUI, which keeps the frame it shows)."""

    def __init__(self, unet: Any, mode: str = "", alt_params: Any = None, *,
                 precision: str | None = None, graph: bool | None = None,
                 out_buffers: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.device = torch.device(unet.device)
        cuda = self.device.type == "cuda"
        precision = precision or os.environ.get("LIVEBG_GPU_PRECISION") or (
            "fp16" if cuda else "fp32")
        if precision not in PRECISIONS:
            from livebg.errors import LivebgError

            raise LivebgError(f"GPU precision {precision!r} (LIVEBG_GPU_PRECISION): use fp16 "
                              "or fp32")
        if graph is None:
            graph = os.environ.get("LIVEBG_CUDA_GRAPH", "1") != "0"
        self.unet, self.mode, self.precision = unet, mode, precision
        self.dtype = PRECISIONS[precision]
        self.want_graph = bool(graph) and cuda
        self.out_buffers = out_buffers
        if cuda:
            torch.backends.cudnn.benchmark = True  # picked during warm-up, before capture
        if mode == "+alt" and alt_params is None:
            from livebg.segment.mirror import AlternationParams

            alt_params = AlternationParams()
        self.alt_params = alt_params
        self.geometry = copy.copy(unet.geometry)  # its own size cache
        self.model = copy.deepcopy(unet.model).to(self.device, self.dtype).to(
            memory_format=torch.channels_last)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.captures = 0  # how often a graph was captured (a size or setting changed)
        self.timings: dict[str, float] = {}
        self._size: tuple[int, int] | None = None
        self._frames = 0
        self._settings: Settings | None = None
        self._closed = False

    @property
    def graphed(self) -> bool:
        """Whether frames replay a captured CUDA graph (False: eager)."""
        return self.graph is not None

    # ----------------------------------------------------------------- per frame
    @torch.inference_mode()
    def process(self, frame_bgr: np.ndarray, settings: Settings = Settings(),
                picture: np.ndarray | None = None) -> np.ndarray:
        """The finished frame (uint8 H×W×3, BGRA for ``transparent``) of ``frame_bgr``.
        ``picture``: the background image or video frame at the frame's size (kinds image,
        color and video; ``read_settings`` gives both)."""
        if self._closed:
            raise RuntimeError("GpuStage is closed")
        h, w = frame_bgr.shape[:2]
        if (w, h) != self._size:
            self._allocate((w, h))
        if settings != self._settings:
            self._prepare(settings)
        timer = _Timer(self.device)
        timer.mark("start")
        self._upload(frame_bgr, picture)
        if self.graph is not None:
            self.graph.replay()
            timer.mark("graph")
        else:
            self._compute(timer)
        host = self._host_outs[self._frames % len(self._host_outs)]
        self._frames += 1
        host.copy_(self._out, non_blocking=True)
        timer.mark("download")
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()
        self.timings = timer.intervals()
        # without a ring, the pinned buffer is the next frame's: hand out a copy
        return host.numpy() if self.out_buffers else host.numpy().copy()

    def stage_timings(self) -> dict[str, float]:
        """The last frame's ms under the pipeline's stage names: upload and network under
        inference, the download under compositing; a graph is one launch, so all of it is
        inference then."""
        t = self.timings
        if "graph" in t:
            return {"inference": sum(t.values())}
        return {"inference": t.get("upload", 0.0) + t.get("inference", 0.0),
                "smoothing": t.get("smoothing", 0.0),
                "compositing": t.get("compositing", 0.0) + t.get("download", 0.0)}

    def _upload(self, frame_bgr: np.ndarray, picture: np.ndarray | None) -> None:
        np.copyto(self._host_in.numpy(), frame_bgr)
        self._frame.copy_(self._host_in, non_blocking=True)
        if picture is not None and self._settings is not None and \
                self._settings.kind in ("color", "image", "video"):
            if self._settings.kind == "video" or not self._picture_set:
                np.copyto(self._host_picture.numpy(), picture)
                self._picture.copy_(self._host_picture, non_blocking=True)
                self._picture_set = True

    # ----------------------------------------------------------------- the captured work
    def _compute(self, timer: _Timer | None = None) -> None:
        """Everything between upload and download, on static buffers only (what the graph
        captures): reads ``_frame`` (and ``_picture``), writes ``_out`` and the state."""
        mark = timer.mark if timer is not None else (lambda name: None)
        mark("upload")
        frame = self._frame.permute(2, 0, 1)[None].float()  # 1×3×H×W, 0..255
        self._thumbnails = {(frame.shape[-1], frame.shape[-2]): frame}
        small = self._downscale(self.geometry.scaled)  # the network's input
        guess = self._segment(small)
        if self.mode == "+alt":
            grey = self._downscale(_size_of(guess))[:, 1:2]
            guess = ops.alternation_step(guess, grey, self._alt_guess, self._alt_grey,
                                         self._alt_started, self.alt_params)
            self._mirror_next.logical_not_()
        mark("inference")
        params = self._settings.smoothing
        mask = guess if params is None else ops.smooth_step(
            guess, self._ema, self._on, self._smooth_started, params)
        mark("smoothing")
        self._out.copy_(self._composite(frame, small, mask)[0].permute(1, 2, 0))
        mark("compositing")

    def _downscale(self, size: tuple[int, int]) -> torch.Tensor:
        """This frame (upright, not mirrored) at ``size``, made once a frame per size, like
        the pipeline's ``Thumbnails``: the network's input is also the +alt grey and, at
        720p, the blur's."""
        made = self._thumbnails.get(size)
        if made is None:
            full = self._thumbnails[self._size]
            made = self._thumbnails[size] = self._downscales[size](full)
        return made

    def _segment(self, small: torch.Tensor) -> torch.Tensor:
        """The person probability at the cropped network resolution, float32 1×1×h×w, the
        views of ``mode`` each brought back upright and averaged."""
        top, bottom, left, right = self.geometry.pad
        x = small.to(self.dtype)
        if self.mode == "+tta":
            views = [x, x.flip(-1)]
        elif self.mode == "+alt":
            views = [torch.where(self._mirror_next, x.flip(-1), x)]
        else:
            views = [x]
        batch = torch.cat([F.pad(v, (left, right, top, bottom), mode="replicate")
                           for v in views])
        # a contiguous N×H×W×3 batch: the network's own permute makes it channels-last NCHW
        prob = self.model(batch.permute(0, 2, 3, 1).contiguous())
        masks = [self.geometry.crop(p[0]) for p in prob]
        if self.mode == "+tta":
            mask = (masks[0] + masks[1].flip(-1)) * 0.5
        elif self.mode == "+alt":
            mask = torch.where(self._mirror_next, masks[0].flip(-1), masks[0])
        else:
            mask = masks[0]
        return mask.float()[None, None]

    def _composite(self, frame: torch.Tensor, small: torch.Tensor,
                   mask: torch.Tensor) -> torch.Tensor:
        """``Compositor.apply`` (or ``mask_to_bgr``) on the device: 1×C×H×W, 0..255."""
        s, size = self._settings, self._size
        if s.kind == "mask":  # livebg.composite.mask_to_bgr
            grey = ops.to_pixels(ops.linear_resize(mask, size) * 255.0)
            return (grey.flip(-1) if s.mirror else grey).expand(1, 3, -1, -1)
        if s.mirror:
            frame, mask = frame.flip(-1), mask.flip(-1)
        if s.kind == "none":
            return frame
        alpha = ops.mask_to_alpha(mask, size, self._feather_kernel)
        if s.kind == "transparent":
            return torch.cat([frame, alpha], dim=1)
        if s.kind == "blur":
            blur_size, radius, _ = ops.blur_geometry(size, s.blur_strength,
                                                     self.geometry.scaled)
            base = self._downscale(blur_size)
            if s.mirror:
                base = base.flip(-1)
            background = ops.blur_background(base, ops.resize_mask(mask, blur_size), size,
                                             self._ellipse, radius, self._blur_kernel)
        else:
            background = self._picture.permute(2, 0, 1)[None].float()
        return ops.blend(frame, background, alpha)

    # ----------------------------------------------------------------- buffers and capture
    def _allocate(self, size: tuple[int, int]) -> None:
        """Static buffers and fresh state for frames of ``size`` (w, h)."""
        w, h = size
        dev, pin = self.device, self.device.type == "cuda"
        self.graph, self._size, self._settings = None, size, None
        self.geometry.update(np.empty((h, w, 0), np.uint8))
        mw, mh = _mask_size(self.geometry)
        self._downscales = {s: ops.AreaDownscale(size, s, dev)
                            for s in (self.geometry.scaled, (mw, mh))}
        self._frame = torch.empty((h, w, 3), dtype=torch.uint8, device=dev)
        self._host_in = torch.empty((h, w, 3), dtype=torch.uint8, pin_memory=pin)
        self._picture = torch.zeros((h, w, 3), dtype=torch.uint8, device=dev)
        self._host_picture = torch.empty((h, w, 3), dtype=torch.uint8, pin_memory=pin)
        self._picture_set = False
        self._ema = torch.zeros((1, 1, mh, mw), device=dev)
        self._on = torch.zeros_like(self._ema)
        self._alt_guess = torch.zeros_like(self._ema)
        self._alt_grey = torch.zeros_like(self._ema)
        self._smooth_started = torch.zeros((), dtype=torch.bool, device=dev)
        self._alt_started = torch.zeros((), dtype=torch.bool, device=dev)
        self._mirror_next = torch.zeros((), dtype=torch.bool, device=dev)

    def _state(self) -> list[torch.Tensor]:
        return [self._ema, self._on, self._alt_guess, self._alt_grey, self._smooth_started,
                self._alt_started, self._mirror_next]

    def _prepare(self, settings: Settings) -> None:
        """Kernels and the output buffer for ``settings``; warm-up and capture on CUDA. The
        smoothing and mirror state carries over (a slider move does not restart it)."""
        w, h = self._size
        dev = self.device
        self.graph, self._settings = None, settings
        if settings.kind != "video":
            self._picture_set = False  # a new colour or image: upload it once
        channels = 4 if settings.kind == "transparent" else 3
        self._out = torch.empty((h, w, channels), dtype=torch.uint8, device=dev)
        self._host_outs = [torch.empty((h, w, channels), dtype=torch.uint8,
                                       pin_memory=dev.type == "cuda")
                           for _ in range(max(1, self.out_buffers))]
        mw = _mask_size(self.geometry)[0]
        self._feather_kernel = None
        if settings.feather > 0:
            sigma = ops.feather_sigma(settings.feather, mw, w)
            self._feather_kernel = ops.gaussian_kernel(ops.feather_ksize(sigma), sigma, dev)
        blur_size, radius, sigma = ops.blur_geometry((w, h), settings.blur_strength,
                                                     self.geometry.scaled)
        if blur_size not in self._downscales:
            self._downscales[blur_size] = ops.AreaDownscale((w, h), blur_size, dev)
        self._ellipse = ops.ellipse_offsets(radius, dev)
        self._blur_kernel = ops.gaussian_kernel(ops.float_gaussian_ksize(sigma), sigma, dev)
        if self.want_graph:
            self._capture()

    def _capture(self) -> None:
        """Warm up on a side stream, then capture ``_compute`` (the state is put back as it
        was, so warm-up leaves no trace). Any failure: eager from now on, said once."""
        saved = [t.clone() for t in self._state()]
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        try:
            with torch.cuda.stream(stream):
                for _ in range(WARMUP_RUNS):
                    self._compute()
            torch.cuda.current_stream(self.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._compute()
        except Exception as exc:  # noqa: BLE001 - any capture failure: run eagerly
            log.warning("livebg: CUDA graph capture failed (%s); running the GPU stage eagerly",
                        exc)
            self.want_graph, graph = False, None
        torch.cuda.synchronize(self.device)
        for target, value in zip(self._state(), saved):
            target.copy_(value)
        self.graph = graph
        self.captures += graph is not None

    def close(self) -> None:
        """Free the device buffers and the graph (idempotent)."""
        self._closed = True
        self.graph = None
        self.model = None
        for name in ("_frame", "_host_in", "_picture", "_host_picture", "_out", "_host_outs"):
            self.__dict__.pop(name, None)


def _size_of(image: torch.Tensor) -> tuple[int, int]:
    return int(image.shape[-1]), int(image.shape[-2])


def _mask_size(geometry: Any) -> tuple[int, int]:
    """(w, h) of the cropped network output for the geometry's current frame size."""
    s = geometry.output_stride
    w, h = geometry.scaled
    return (w + s - 1) // s, (h + s - 1) // s


__all__ = ["GpuStage", "Settings", "read_settings", "MODES", "PRECISIONS"]
