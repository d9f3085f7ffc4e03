"""The install is sane: one OpenCV, and cv2 + mediapipe + PyQt6 load together in one process."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

OPENCV_DISTS = {
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
}


def _installed() -> set[str]:
    names = set()
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        names.add(name)
    return names


def test_exactly_one_opencv_distribution() -> None:
    found = sorted(OPENCV_DISTS & _installed())
    # Two wheels both ship cv2/; the non-headless ones also point Qt at their own plugins.
    assert found == ["opencv-python-headless"], (
        f"found {found}: `pip uninstall {' '.join(d for d in found if 'headless' not in d)}` "
        "and reinstall mediapipe with --no-deps"
    )


def test_livebg_command_is_installed() -> None:
    entry = [ep for ep in metadata.entry_points(group="console_scripts") if ep.name == "livebg"]
    assert entry and entry[0].value == "livebg.cli:main"


def test_cv2_mediapipe_and_qt_load_together() -> None:
    code = (
        "import cv2, mediapipe\n"
        "from PyQt6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([])\n"
        "label = QLabel('livebg'); label.show(); app.processEvents()\n"
        "import os; assert 'cv2' not in os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH', '')\n"
        "print('ok', cv2.__version__, mediapipe.__version__, app.platformName())\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("ok 4.") and res.stdout.strip().endswith("offscreen")


def test_wheel_carries_the_model_sample_and_backgrounds_and_stays_small(tmp_path) -> None:
    """`pip install .` / a wheel must run outside the checkout: livebg/assets/ is package
    data. Built from a copy of the sources, offline, with the env's setuptools."""
    import shutil
    import zipfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("livebg", "training"):
        shutil.copytree(repo / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / name, src / name)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                          "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("livebg-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("livebg/assets/unet.onnx", "livebg/assets/unet.safetensors",
                   "livebg/assets/sample.mp4", "livebg/assets/backgrounds/office.jpg",
                   "livebg/assets/__init__.py", "livebg/sinks/file.py", "livebg/gui/app.py"):
        assert needed in names, f"{needed} missing from the wheel"
    assert not any(n.endswith((".png", ".pt", "MODEL.md")) for n in names), "no docs/runs"
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "livebg = livebg.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    assert wheel.stat().st_size < 6_000_000, f"wheel is {wheel.stat().st_size / 1e6:.1f} MB"
