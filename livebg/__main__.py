"""``python -m livebg`` is the same as the ``livebg`` command."""

from __future__ import annotations

import sys

from livebg.cli import main

if __name__ == "__main__":
    sys.exit(main())
