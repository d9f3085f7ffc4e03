#!/usr/bin/env python
"""Retake the README's screenshot (docs/screenshot.png): the real window on a real clip.

    xvfb-run -s "-screen 0 1600x1000x24" python scripts/screenshot.py ../shared/videos/s18.mp4

Fresh settings (a temporary config folder), the given background, the window grabbed after
``--seconds`` of playback so the FPS and stage timings in the status bar are real.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--bg", default="office")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--out", type=Path, default=root / "docs" / "screenshot.png")
    args = ap.parse_args(argv)
    os.environ["LIVEBG_CONFIG_DIR"] = tempfile.mkdtemp(prefix="livebg-shot-")
    sys.path.insert(0, str(root))  # this checkout's livebg, not an installed one

    from livebg.gui.app import ensure_app
    from livebg.gui.main_window import MainWindow
    from livebg.pipeline import PipelineConfig

    app = ensure_app()
    config = PipelineConfig(source=str(args.clip), background=args.bg, loop=True)
    window = MainWindow(config, given={"source", "background"})
    window.resize(1280, 940)  # tall enough for the whole control panel
    window.show()
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    ok = window.grab().save(str(args.out))
    window.close()
    print(f"{args.out}: {'saved' if ok else 'NOT saved'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
