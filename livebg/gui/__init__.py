"""The PyQt6 desktop app (issue 6). ``run_app(config)`` shows the window; Qt loads lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livebg.pipeline import PipelineConfig

__all__ = ["run_app"]


def run_app(config: PipelineConfig, **window_kwargs: Any) -> int:
    # Imported here so `import livebg.gui` works (and the CLI can check for it) without Qt.
    from livebg.gui.app import run_app as _run_app

    return _run_app(config, **window_kwargs)
