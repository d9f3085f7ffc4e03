"""SIGTERM and SIGHUP stop a job the way Ctrl-C does: the pipeline is stopped, files are
finalised, and the exit code is 128 + the signal (143, 129; Ctrl-C 130).

``stop_on_signals()`` turns the signals into ``Terminated`` (a ``KeyboardInterrupt``), so
every place that already finishes cleanly on Ctrl-C (``Pipeline.run``, the photo loop,
bench) does the same on a ``kill`` or a closed terminal, with nothing else to change.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["STOP_SIGNALS", "Terminated", "exit_code", "stop_on_signals"]

STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_last: list[int] = []  # signals received, most recent last (exit_code reads it)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when a stop signal arrives."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, _frame: Any) -> None:
    _last.append(signum)
    raise Terminated(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise ``Terminated`` (main thread only; elsewhere,
    and where the signals do not exist, a no-op). The previous handlers come back after."""
    _last.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def exit_code(exc: BaseException | None = None) -> int:
    """128 + the stop signal: from ``exc`` if it is ``Terminated``, else the last one
    received in ``stop_on_signals``, else SIGINT's (130, Ctrl-C)."""
    if isinstance(exc, Terminated):
        return 128 + exc.signum
    return 128 + (_last[-1] if _last else int(signal.SIGINT))
