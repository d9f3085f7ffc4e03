"""``run_app``: the entry point the CLI calls when a display is available."""

from __future__ import annotations

import logging
import signal
import sys
from types import TracebackType
from typing import Any

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from livebg.gui.main_window import MainWindow
from livebg.pipeline import PipelineConfig
from livebg.signals import STOP_SIGNALS

log = logging.getLogger(__name__)


def ensure_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationName("livebg")
        app.setOrganizationName("livebg")
    assert isinstance(app, QApplication)
    return app


def _show_unexpected(window: MainWindow) -> Any:
    """An unexpected exception in a Qt slot goes to the window, not qFatal (PyQt's default)."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("unexpected error", exc_info=(kind, exc, tb))  # full trace for bug reports
        window.show_error(f"Unexpected error: {kind.__name__}: {exc}")

    previous, sys.excepthook = sys.excepthook, hook
    return previous


def run_app(config: PipelineConfig, **window_kwargs: Any) -> int:
    """Show the window and run the Qt event loop until it closes; returns the exit code."""
    app = ensure_app()
    window = MainWindow(config, **window_kwargs)
    # Ctrl-C in the terminal closes the window cleanly (Qt would otherwise swallow SIGINT);
    # SIGTERM and SIGHUP too, with exit code 128 + the signal (outputs finalised on close).
    stopped_by: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        if signum != signal.SIGINT:
            stopped_by.append(signum)
        window.close()

    watched = (signal.SIGINT, *STOP_SIGNALS)
    previous = {s: signal.signal(s, stop) for s in watched}
    ticker = QTimer()  # wakes the interpreter now and then so the Python handler can run
    ticker.timeout.connect(lambda: None)
    ticker.start(200)
    previous_hook = _show_unexpected(window)
    window.show()
    try:
        code = app.exec()
    finally:
        sys.excepthook = previous_hook
        ticker.stop()
        window.shutdown()  # idempotent; covers app.quit() paths that skip closeEvent
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 + stopped_by[0] if stopped_by else int(code)
