"""livebg: real-time webcam background replacement."""

from __future__ import annotations

from livebg.errors import LivebgError

__all__ = ["LivebgError", "__version__"]
__version__ = "0.1.0"
