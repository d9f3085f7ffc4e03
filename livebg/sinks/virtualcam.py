"""Virtual camera output through pyvirtualcam (v4l2loopback on Linux, OBS on Windows/macOS)."""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

import numpy as np

from livebg.errors import LivebgError
from livebg.sinks import SinkBase, to_bgr

__all__ = ["VirtualCamSink", "VirtualCamUnavailable", "probe_virtual_cam", "setup_hint"]


class VirtualCamUnavailable(LivebgError):
    """No virtual camera device: the message carries the one-line setup command for this OS."""


def setup_hint(system: str | None = None) -> str:
    """What to install/run so a virtual camera exists, for ``platform.system()`` names."""
    system = system or platform.system()
    if system == "Linux":
        return (
            "sudo apt install v4l2loopback-dkms && "
            "sudo modprobe v4l2loopback exclusive_caps=1 card_label=livebg"
        )
    return (
        "install OBS Studio (https://obsproject.com) and start its virtual camera once "
        "(Start Virtual Camera, then Stop)"
    )


def _pyvirtualcam_factory(backend: str | None) -> Callable[..., Any]:
    try:
        import pyvirtualcam
        from pyvirtualcam.camera import BACKENDS
    except ImportError as exc:
        raise VirtualCamUnavailable(
            f"pyvirtualcam is not installed ({exc}): pip install pyvirtualcam"
        ) from exc
    if backend is not None and backend not in BACKENDS:
        valid = ", ".join(sorted(BACKENDS)) or "none on this OS"
        raise LivebgError(f"unknown virtual camera backend {backend!r}: use one of {valid}")

    def factory(width: int, height: int, fps: float, **kw: Any) -> Any:
        return pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, **kw)

    return factory


class VirtualCamSink(SinkBase):
    """Sends BGR frames of (width, height) to a virtual camera; other sizes are resized.

    ``camera_factory(width, height, fps, backend=..., device=...)`` returns an object with
    ``send(frame)``, ``close()`` and ``device`` (pyvirtualcam.Camera by default; tests inject
    a fake). Any failure to open becomes ``VirtualCamUnavailable`` with the setup hint.
    """

    def __init__(
        self,
        width: int,
        height: int,
        fps: float = 30.0,
        backend: str | None = None,
        camera_factory: Callable[..., Any] | None = None,
        device: str | None = None,
    ) -> None:
        self.size = (int(width), int(height))
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.frames = 0
        factory = camera_factory or _pyvirtualcam_factory(backend)
        try:
            self._camera: Any = factory(*self.size, self.fps, backend=backend, device=device)
        except LivebgError:
            raise
        except Exception as exc:  # pyvirtualcam raises RuntimeError; backends may raise anything
            # first sentence only: pyvirtualcam's messages run over several lines
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0].split(". ")[0]
            raise VirtualCamUnavailable(
                f"no virtual camera device ({reason.rstrip('.')}); to create one: {setup_hint()}"
            ) from exc
        self.device: str = str(getattr(self._camera, "device", "virtual camera"))

    def write(self, frame: np.ndarray) -> None:
        self._check_open()
        try:
            self._camera.send(to_bgr(frame, self.size))
        except Exception as exc:  # device unloaded, OBS quit: one line, not a backend trace
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise LivebgError(f"the virtual camera stopped taking frames after {self.frames} "
                              f"({reason}); check it is still there and start again") from exc
        self.frames += 1

    def _close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()


def probe_virtual_cam(camera_factory: Callable[..., Any] | None = None) -> str:
    """Open and close a small virtual camera: its device name, or VirtualCamUnavailable
    with the setup hint (``livebg doctor``, and a headless job with nothing else to do)."""
    with VirtualCamSink(640, 480, 30.0, camera_factory=camera_factory) as sink:
        return sink.device
