"""The files livebg ships inside its package: the U-Net (``unet.onnx``, ``unet.safetensors``),
the sample clip (``sample.mp4``) and the backgrounds (``backgrounds/*.jpg``).

They are found with ``importlib.resources``, so a wheel, ``pip install .``, pipx and an
editable checkout all read the same files. ONNX Runtime and OpenCV need real paths, so an
install that is not a folder on disk (a zip) is refused with a message instead of guessed at.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from livebg.errors import LivebgError

__all__ = [
    "WEIGHTS_LICENCE",
    "asset",
    "assets_dir",
    "background_names",
    "bundled_background",
    "bundled_backgrounds",
    "sample_clip",
]

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

# The shipped weights were trained on EG1800 (academic use only) and Penn-Fudan (research use
# only); the code is MIT but the weights inherit those terms (see assets/MODEL.md).
WEIGHTS_LICENCE = (
    "model weights (unet.onnx, unet.safetensors): trained on EG1800 (academic use only) and "
    "Penn-Fudan (research use only) portraits; the weights inherit those research-only, "
    "non-commercial terms. The code is MIT-licensed."
)


def assets_dir() -> Path:
    """The package's asset folder on disk."""
    folder = resources.files(__name__)
    if not isinstance(folder, Path):  # e.g. a zipimport: ORT cannot open a model in a zip
        raise LivebgError("livebg is installed as a zip: reinstall it as a folder "
                          "(`pip install livebg`) so its model files can be opened")
    return folder


def asset(name: str) -> Path | None:
    """``assets/<name>`` when it is installed, else None."""
    path = assets_dir() / name
    return path if path.is_file() else None


def sample_clip() -> Path:
    clip = asset("sample.mp4")
    if clip is None:
        raise LivebgError("no camera and no bundled sample clip (livebg/assets/sample.mp4): "
                          "pass --input clip.mp4, or reinstall livebg")
    return clip


def bundled_backgrounds() -> list[Path]:
    """The bundled background images, sorted by name."""
    folder = assets_dir() / "backgrounds"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def background_names() -> list[str]:
    """``--bg`` names of the bundled backgrounds (``office`` for ``office.jpg``)."""
    return [p.stem for p in bundled_backgrounds()]


def bundled_background(text: str) -> Path | None:
    """The bundled background called ``text`` (``office`` or ``office.jpg``), else None."""
    key = text.strip().lower()
    for path in bundled_backgrounds():
        if key in (path.stem.lower(), path.name.lower()):
            return path
    return None
