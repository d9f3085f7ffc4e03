"""The pipeline's live controls: what the GUI changes while the workers run.

``LiveControls`` is a part of ``livebg.pipeline.Pipeline`` (its base class), split off so the
worker threads and the settings read apart. Each setter takes the lock of the stage that uses
what it changes: ``_out_lock`` for the compositor, the smoother and the sinks (the output
thread), ``_seg_lock`` for the segmenter (the inference thread). A change made while a frame is
in flight applies from the next frame on.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from livebg.errors import LivebgError
from livebg.smooth import make_smoother, smooth_params


class LiveControls:
    """Setters for a running pipeline; the attributes below are ``Pipeline``'s."""

    config: Any  # PipelineConfig, replaced (never mutated) by every setter
    _compositor: Any
    _smoother: Any
    _segmenter: Any
    _sinks: list[Any]
    _closed: bool
    _out_lock: threading.RLock
    _seg_lock: threading.Lock

    @staticmethod
    def _make_compositor(config: Any) -> Any:  # pragma: no cover - Pipeline's
        raise NotImplementedError

    def _load_segmenter(self, name: str, device: str) -> Any:  # pragma: no cover - Pipeline's
        raise NotImplementedError

    def set_background(self, spec: str) -> None:
        with self._out_lock:
            if self._compositor is not None:
                self._compositor.set_background(spec)
            self.config = dataclasses.replace(self.config, background=spec)

    def set_feather(self, feather: int) -> None:
        self._update_compositor(feather=feather)

    def set_blur_strength(self, blur_strength: int) -> None:
        self._update_compositor(blur_strength=blur_strength)

    def set_mirror(self, mirror: bool) -> None:
        self._update_compositor(mirror=bool(mirror))

    def _update_compositor(self, **changes: Any) -> None:
        with self._out_lock:
            new_config = dataclasses.replace(self.config, **changes)
            if self._compositor is not None and not self.config.mask_only:
                setters = [getattr(self._compositor, f"set_{k}", None) for k in changes]
                if all(callable(s) for s in setters):
                    for setter, value in zip(setters, changes.values(), strict=True):
                        setter(value)
                else:  # compositor without live setters: rebuild it with the new settings
                    old, self._compositor = self._compositor, self._make_compositor(new_config)
                    getattr(old, "close", lambda: None)()
            self.config = new_config

    def set_smoothing(self, smoothing: Any) -> None:
        """New SmoothParams or strength; the running average is kept (no visible jump)."""
        params = smooth_params(smoothing)
        with self._out_lock:
            if self._smoother is None:
                self._smoother = make_smoother(params)
            else:
                self._smoother.params = params
            self.config = dataclasses.replace(self.config, smoothing=smoothing)

    def set_segmenter(self, name: str, device: str = "auto") -> bool:
        """Load ``name`` on ``device`` (slow, outside the locks) and swap it in.

        False if the pipeline was closed meanwhile (e.g. the GUI switched source): the model
        just loaded is closed, not leaked.
        """
        new = self._load_segmenter(name, device)
        with self._seg_lock:
            swapped = not self._closed
            if swapped:
                stale, self._segmenter = self._segmenter, new
                self.config = dataclasses.replace(self.config, model=name, device=device)
            else:
                stale = new
        if stale is not None:
            stale.close()
        return swapped

    def add_sink(self, sink: Any) -> None:
        with self._out_lock:
            if self._closed:
                raise LivebgError("pipeline is closed: create a new Pipeline to add sinks")
            self._sinks.append(sink)

    def remove_sink(self, sink: Any, *, close: bool = True) -> None:
        """Detach ``sink`` (closing it unless ``close=False``); unknown sinks are ignored."""
        with self._out_lock:
            if sink not in self._sinks:
                return
            self._sinks.remove(sink)
        if close:
            sink.close()

    @property
    def sinks(self) -> list[Any]:
        with self._out_lock:
            return list(self._sinks)
