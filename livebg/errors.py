"""User-facing errors: one line that says what went wrong and how to fix it."""

from __future__ import annotations


class LivebgError(Exception):
    """An error the user can fix; the CLI prints ``livebg: error: <msg>`` and exits 2."""

    def __init__(self, message: str) -> None:
        # Keep it to one line: the CLI contract is a single stderr line, never a traceback.
        super().__init__(" ".join(str(message).split()))
