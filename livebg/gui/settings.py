"""Persistent GUI settings: one JSON file in the user's config dir."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from livebg.composite import DEFAULT_BLUR_STRENGTH, DEFAULT_FEATHER
from livebg.smooth import SmoothParams

SETTINGS_FILE = "settings.json"
CONFIG_DIR_ENV = "LIVEBG_CONFIG_DIR"  # tests (and portable installs) point this at any dir
MAX_RECENT = 8

BACKGROUND_MODES = ("blur", "color", "image", "video", "none")
# 2: live video's default model became "auto+alt"; a file without a version saved "auto"
# only because it was the default then, so it is read as the new default
VERSION = 2


@dataclass
class Settings:
    """Everything the window remembers between runs (UI state, not pipeline internals)."""

    source: str = ""  # camera index as text, or a video path; "" = what the CLI config says
    background_mode: str = "blur"
    blur_strength: int = round(DEFAULT_BLUR_STRENGTH)  # Gaussian sigma in px
    color: str = "#00b140"
    image: str = ""
    video: str = ""
    recent_images: list[str] = field(default_factory=list)
    model: str = "auto+alt"  # mirror averaging on still scenes (livebg.segment.mirror)
    device: str = "auto"
    smoothing: float = SmoothParams.strength
    feather: int = round(DEFAULT_FEATHER)
    mirror: bool = False
    virtual_cam: bool = False
    split_view: bool = False
    split_pos: float = 0.5
    overlay: bool = True
    geometry: str = ""  # base64 QWidget.saveGeometry()
    window_state: str = ""  # base64 QMainWindow.saveState()
    version: int = VERSION  # of the file's layout: see VERSION

    def mode_value(self, mode: str) -> str:
        """The remembered colour / image / video for ``mode`` ("" for blur and none)."""
        return {"color": self.color, "image": self.image, "video": self.video}.get(mode, "")

    def add_recent_image(self, path: str) -> None:
        """Most recent first, no duplicates, bounded."""
        self.recent_images = [path] + [p for p in self.recent_images if p != path]
        del self.recent_images[MAX_RECENT:]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Keep known keys whose type matches the default; a hand-edited file never crashes us."""
        defaults = cls()
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value, default = data[f.name], getattr(defaults, f.name)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                value = float(value) if ok else value
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif isinstance(default, list):
                ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            else:
                ok = isinstance(value, type(default))
            if ok:
                kwargs[f.name] = value
        settings = cls(**kwargs)
        if settings.background_mode not in BACKGROUND_MODES:
            settings.background_mode = defaults.background_mode
        if "version" not in data and settings.model == "auto":
            settings.model = defaults.model
        settings.version = VERSION
        return settings


def config_dir() -> Path:
    """$LIVEBG_CONFIG_DIR, else $XDG_CONFIG_HOME/livebg, else the platform's config location."""
    env = os.environ.get(CONFIG_DIR_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return Path(xdg) / "livebg"
    try:
        from PyQt6.QtCore import QStandardPaths

        base = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.GenericConfigLocation
        )
        if base:
            return Path(base) / "livebg"
    except ImportError:  # settings stay usable without Qt (e.g. from the CLI)
        pass
    return Path.home() / ".config" / "livebg"


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> Settings:
    """Defaults when the file is missing or unreadable: a bad file must not stop the app."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    return Settings.from_dict(data) if isinstance(data, dict) else Settings()


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically so a crash mid-write never leaves a truncated file."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path
