"""The running app: capture → segment → smooth → composite → sinks, on three threads.

This is the only module in livebg that starts threads:

* capture thread: ``FrameSource.read()`` → ``in_slot``
* inference thread: ``in_slot`` → ``Segmenter.infer()`` (model-resolution mask) → ``out_slot``
* output thread: ``out_slot`` → mask smoothing (at model resolution: cheap) → compositing
  (the compositor resizes the mask) → every sink → ``on_frame`` callback

so capture, inference and output overlap. When the segmenter is the torch U-Net on CUDA the
inference thread runs ``livebg.gpu.GpuStage`` instead, which segments, smooths and composites
on the GPU and hands the output thread the finished frame (``Finished``) for the sinks.
Each frame travels with its ``Thumbnails``, so a downscale both the segmenter and the
compositor need (160×90 of a 720p frame) is made once.
Hand-off between threads is a one-slot ``LatestFrameSlot``. Cameras and real-time playback use
"latest frame wins" (stale frames are dropped, latency stays low). A file read as fast as
possible (an ``--output`` job, a benchmark) uses blocking hand-off instead, so every input frame
reaches the output.

Errors in a worker thread stop the pipeline and are re-raised from ``run()``/``join()`` as a
one-line ``LivebgError``; Ctrl-C stops it cleanly. Every resource is closed exactly once.

What it is built from is ``livebg.pipeline_config``; the settings the GUI changes while it
runs are ``livebg.live_controls``; its per-stage timings are ``livebg.stage_stats``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from livebg.capture import FrameSource, open_source, parse_camera
from livebg.composite import mask_to_bgr
from livebg.errors import LivebgError
from livebg.handoff import LatestFrameSlot
from livebg.live_controls import LiveControls
from livebg.pipeline_config import CAMERA_FIELDS, PipelineConfig, pick_fields
from livebg.resize import Thumbnails
from livebg.smooth import make_smoother, smooth_params
from livebg.stage_stats import STAGES, StageStats, StageTimers, StageTiming

log = logging.getLogger(__name__)

_POLL_S = 0.1  # how often blocked workers look at the stop flag


@dataclass(slots=True)
class Frame:
    """A captured frame with its position in the stream and when it was read."""

    index: int
    t_capture: float  # time.perf_counter() when read() returned
    image: np.ndarray
    thumbnails: Thumbnails = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.thumbnails = Thumbnails(self.image)


@dataclass(slots=True)
class Finished:
    """A frame the GPU stage finished (segmented, smoothed and composited on the device)."""

    image: np.ndarray


FrameCallback = Callable[[np.ndarray, np.ndarray, StageStats], None]


class Pipeline(LiveControls):
    """Runs the live pipeline on threads; see the module docstring. The settings the GUI
    changes while it runs (background, feather, model, sinks, ...) are ``LiveControls``'.

    ``segmenter``, ``source``, ``compositor`` and ``smoother`` may be injected (tests, the GUI);
    otherwise they are built from ``config`` in ``open()``. The pipeline owns and closes all of
    them, and every sink it holds, exactly once.
    """

    def __init__(
        self,
        config: PipelineConfig,
        sinks: Iterable[Any] = (),
        on_frame: FrameCallback | None = None,
        *,
        segmenter: Any = None,
        source: FrameSource | None = None,
        compositor: Any = None,
        smoother: Any = None,
    ) -> None:
        self.config = config
        self.on_frame = on_frame
        self._sinks: list[Any] = list(sinks)
        self._segmenter = segmenter
        self.source: FrameSource | None = source
        self._compositor = compositor
        self._smoother = smoother
        self._seg_lock = threading.Lock()  # held around infer() and segmenter swaps
        self._out_lock = threading.RLock()  # held around smoothing/compositing/sink writes
        self._stop = threading.Event()
        self._done = threading.Event()
        self._timers = StageTimers(config.stats_window)
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._error_stage = ""
        self._opened = False
        self._closed = False
        self._in_slot: LatestFrameSlot[Frame] | None = None
        self._out_slot: LatestFrameSlot[tuple[Frame, np.ndarray]] | None = None
        self._cached_stats: tuple[float, StageStats] | None = None
        self._gpu: tuple[Any, Any] | None = None  # (segmenter, its GpuStage or None)
        self.frames_captured = 0
        self.frames_written = 0
        self.interrupted = False

    # ----------------------------------------------------------------- building
    def open(self) -> Pipeline:
        """Build everything not injected; cheap checks first so typos fail fast."""
        if self._opened:
            return self
        if self._closed:
            raise LivebgError("this pipeline was closed: create a new Pipeline to run again")
        try:
            if self._compositor is None and not self.config.mask_only:
                self._compositor = self._make_compositor(self.config)
            if self.source is None:
                self.source = self._open_source()
            if self._segmenter is None:
                self._segmenter = self._load_segmenter(self.config.model, self.config.device)
            if self._smoother is None:
                self._smoother = make_smoother(self.config.smoothing)
        except BaseException:
            self.close()
            raise
        self._opened = True
        return self

    def _open_source(self) -> FrameSource:
        c = self.config
        return open_source(c.source, **pick_fields(c, ("realtime", "loop", *CAMERA_FIELDS)))

    def _load_segmenter(self, name: str, device: str) -> Any:
        from livebg.segment import load_segmenter_with_fallback

        c = self.config
        return load_segmenter_with_fallback(name, device, c.weights, cuda_fallback=c.cuda_fallback)

    @staticmethod
    def _make_compositor(config: PipelineConfig) -> Any:
        from livebg.composite import Compositor

        kwargs: dict[str, Any] = {"mirror": config.mirror}
        if config.blur_strength is not None:
            kwargs["blur_strength"] = config.blur_strength
        if config.feather is not None:
            kwargs["feather"] = config.feather
        return Compositor(config.background, **kwargs)

    @property
    def segmenter(self) -> Any:
        return self._segmenter

    @property
    def drops_frames(self) -> bool:
        """Latest-wins hand-off (True) or blocking hand-off that keeps every frame (False)."""
        if self.config.drop_frames is not None:
            return self.config.drop_frames
        is_camera = getattr(self.source, "is_camera", parse_camera(self.config.source) is not None)
        return bool(is_camera) or self.config.realtime

    # ----------------------------------------------------------------- running
    def start(self) -> Pipeline:
        if self._threads:
            raise RuntimeError("Pipeline.start() called twice")
        self.open()
        blocking = not self.drops_frames
        self._in_slot = LatestFrameSlot(blocking=blocking)
        self._out_slot = LatestFrameSlot(blocking=blocking)
        for stage, body in (
            ("capture", self._capture_loop),
            ("inference", self._inference_loop),
            ("output", self._output_loop),
        ):
            t = threading.Thread(
                target=self._worker, args=(stage, body), name=f"livebg-{stage}", daemon=True
            )
            self._threads.append(t)
            t.start()
        return self

    def run(self) -> StageStats:
        """Start, block until the source ends / stop() / Ctrl-C, close everything, return stats."""
        self.start()
        try:
            while not self._done.wait(_POLL_S):
                pass
        except KeyboardInterrupt:
            self.interrupted = True
            log.info("interrupted; shutting down")
            self.stop()
        finally:
            self.join()
        return self.stats()

    def stop(self) -> None:
        """Ask every thread to finish (safe from any thread, any number of times)."""
        self._stop.set()
        interrupt = getattr(self.source, "interrupt", None)
        if callable(interrupt):
            interrupt()  # cut a camera's reconnect back-off short
        for slot in (self._in_slot, self._out_slot):
            if slot is not None:
                slot.close()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the threads, close every resource once, re-raise a worker's error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            t.join(remaining)
        if any(t.is_alive() for t in self._threads):
            raise LivebgError("pipeline threads did not stop in time: call stop() first")
        self.close()
        self._raise_error()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the output thread has finished (end of stream, stop or error)."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _raise_error(self) -> None:
        exc = self._error
        if exc is None:
            return
        if isinstance(exc, LivebgError):
            raise exc
        raise LivebgError(
            f"{self._error_stage} stage failed: {type(exc).__name__}: {exc}"
        ) from exc

    def close(self) -> None:
        """Stop if needed and close source, segmenter, compositor and sinks, once each."""
        if self._closed:
            return
        self.stop()
        if any(t.is_alive() for t in self._threads):
            for t in self._threads:
                t.join()
        with self._seg_lock:  # a set_segmenter() finishing now sees _closed and closes its model
            self._closed = True
            segmenter = self._segmenter
        with self._out_lock:
            sinks, self._sinks = self._sinks, []
        gpu = self._gpu[1] if self._gpu is not None else None
        resources = [self.source, gpu, segmenter, self._compositor, *sinks]
        for res in resources:
            closer = getattr(res, "close", None)
            if callable(closer):
                try:
                    closer()
                except LivebgError as exc:
                    # a file that could not be finished (disk full): the job failed; join()
                    # re-raises it rather than report success
                    if self._error is None:
                        self._error, self._error_stage = exc, "output"
                    else:
                        log.warning("%s", exc)
                except Exception as exc:  # noqa: BLE001 - keep closing the rest
                    log.warning("closing %s failed: %s", type(res).__name__, exc)

    def __enter__(self) -> Pipeline:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- workers
    def _worker(self, stage: str, body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as exc:  # noqa: BLE001 - reported by join(), never a silent hang
            if self._error is None:
                self._error, self._error_stage = exc, stage
            log.debug("%s thread failed", stage, exc_info=True)
            self.stop()
        finally:
            if stage == "capture" and self._in_slot is not None:
                self._in_slot.close()
            elif stage == "inference" and self._out_slot is not None:
                self._out_slot.close()
            elif stage == "output":
                self._done.set()

    def _hand_off(self, slot: LatestFrameSlot[Any], item: Any) -> bool:
        """Put into ``slot``; with blocking hand-off keep waiting until room or stop."""
        while not self._stop.is_set():
            if slot.put(item, timeout=_POLL_S):
                return True
            if slot.closed:
                return False
        return False

    def _take(self, slot: LatestFrameSlot[Any]) -> Any:
        """Next item from ``slot``, or None when the stream is over or we are stopping."""
        while not self._stop.is_set():
            item = slot.get(timeout=_POLL_S)
            if item is not None:
                return item
            if slot.closed:
                return None
        return None

    def _capture_loop(self) -> None:
        assert self.source is not None and self._in_slot is not None
        limit = self.config.max_frames
        pace = getattr(self.source, "pace", None)
        index = 0
        while not self._stop.is_set() and (limit is None or index < limit):
            if pace is not None:
                pace()  # real-time playback waits here, so "capture" times only read/decode
            t0 = time.perf_counter()
            image = self.source.read()
            t1 = time.perf_counter()
            if image is None:
                break
            self._record(index, "capture", (t1 - t0) * 1e3)
            if not self._hand_off(self._in_slot, Frame(index, t1, image)):
                break
            index += 1
            self.frames_captured = index
            # A source that returns instantly (decoded file, fake) must not starve the other
            # threads of the slot's lock and the GIL; real cameras block in read() anyway.
            time.sleep(0)

    def _inference_loop(self) -> None:
        assert self._in_slot is not None and self._out_slot is not None
        while (frame := self._take(self._in_slot)) is not None:
            t0 = time.perf_counter()
            with self._seg_lock:
                stage = self._gpu_stage()
                if stage is None:
                    mask = self._segmenter.infer(frame.image, frame.thumbnails)
                else:
                    mask = self._run_gpu_stage(stage, frame)
            if stage is None:
                self._record(frame.index, "inference", (time.perf_counter() - t0) * 1e3)
            if not self._hand_off(self._out_slot, (frame, mask)):
                break

    def _gpu_stage(self) -> Any:
        """The GpuStage of the current segmenter (made on its first frame), or None: the CPU
        path, which never imports torch."""
        segmenter, want = self._segmenter, self.config.gpu_stage
        if self._gpu is None or self._gpu[0] is not segmenter:
            if self._gpu is not None and self._gpu[1] is not None:
                self._gpu[1].close()  # the GUI swapped the model
            stage = None
            on_cuda = str(getattr(segmenter, "device", "cpu")).startswith("cuda")
            if want or (want is None and on_cuda):
                from livebg.gpu import stage_for

                stage = stage_for(segmenter, force=bool(want))
            self._gpu = (segmenter, stage)
        return self._gpu[1]

    def _run_gpu_stage(self, stage: Any, frame: Frame) -> Finished:
        from livebg.gpu.stage import read_settings

        with self._out_lock:  # the live settings, as the output thread would read them
            settings, picture = read_settings(self._compositor, self._smoother,
                                              self.config.mask_only, frame.image.shape[1::-1])
        image = stage.process(frame.image, settings, picture)
        for name, ms in stage.stage_timings().items():  # CUDA events on a GPU
            self._record(frame.index, name, ms)
        return Finished(image)

    def _output_loop(self) -> None:
        assert self._out_slot is not None
        while (item := self._take(self._out_slot)) is not None:
            frame, mask = item
            finished = isinstance(mask, Finished)  # the GPU stage did both already
            with self._out_lock:
                t0 = time.perf_counter()
                mask = mask if finished else self._smooth(mask)
                t1 = time.perf_counter()
                out = mask.image if finished else self._render(frame, mask)
                t2 = time.perf_counter()
                for sink in self._sinks:
                    sink.write(out)
                t3 = time.perf_counter()
            if not finished:
                self._record(frame.index, "smoothing", (t1 - t0) * 1e3)
                self._record(frame.index, "compositing", (t2 - t1) * 1e3)
            self._record(frame.index, "output", (t3 - t2) * 1e3)
            if frame.index >= self.config.warmup_frames:
                self._timers.frame_done(t3, (t3 - frame.t_capture) * 1e3)
            self.frames_written += 1
            if self.on_frame is not None:
                self.on_frame(frame.image, out, self._live_stats())

    def _record(self, index: int, stage: str, ms: float) -> None:
        if index >= self.config.warmup_frames:
            self._timers.add(stage, ms)

    def _smooth(self, mask: np.ndarray) -> np.ndarray:
        if self._smoother is None:
            return mask
        # a new segmenter may change the model resolution: the smoother starts over by itself
        return self._smoother.update(mask)

    def _render(self, frame: Frame, mask: np.ndarray) -> np.ndarray:
        if self.config.mask_only:
            return mask_to_bgr(mask, frame.image.shape[1::-1], mirror=self.config.mirror)
        return self._compositor.apply(frame.image, mask, frame.thumbnails)

    # ----------------------------------------------------------------- stats
    def stats(self) -> StageStats:
        return self._timers.summary(self.dropped)

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in (self._in_slot, self._out_slot) if s is not None)

    def _live_stats(self) -> StageStats:
        # Percentiles every frame would cost more than they are worth for a GUI label.
        now = time.perf_counter()
        if self._cached_stats is None or now - self._cached_stats[0] > 0.25:
            self._cached_stats = (now, self.stats())
        return self._cached_stats[1]

__all__ = [
    "CAMERA_FIELDS",
    "STAGES",
    "Frame",
    "Pipeline",
    "PipelineConfig",
    "StageStats",
    "StageTiming",
    "make_smoother",
    "smooth_params",
    "pick_fields",
]
