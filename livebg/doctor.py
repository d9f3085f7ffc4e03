"""``livebg doctor``: what this machine can do, one line per check, each failure with its fix.

It changes nothing: cameras are opened and closed, files are read, no setting is written,
no module loaded. Exit code 0 when the app can run at all (OpenCV reads video and at least one
segmenter loads), else 1. torch is imported only for its own check (slow), and only when
installed. Every probe is a plain function returning ``Check``s; tests swap them.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["PROBES", "Check", "can_run", "doctor_main", "format_check", "run_checks"]

GPU_EXTRA = "pip install -e '.[gpu]' with a CUDA build of torch (https://pytorch.org)"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # the exact step when not ok
    needed: bool = False  # the app cannot run at all without it (decides the exit code)
    segmenter: str = ""  # "unet"/"mediapipe": this check passing means that backend loads


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- probes
def check_opencv() -> list[Check]:
    import cv2

    names = sorted({cv2.videoio_registry.getBackendName(b)
                    for b in cv2.videoio_registry.getBackends()})
    ffmpeg = "FFMPEG" in names
    return [Check("OpenCV", ffmpeg, f"{cv2.__version__}, video I/O: {' '.join(names)}",
                  "pip install --force-reinstall 'opencv-python-headless>=4.8,<4.12' "
                  "(this build has no FFMPEG: it cannot read or write .mp4)", needed=True)]


def check_pyav() -> list[Check]:
    version = _version("av")
    return [Check("PyAV", version is not None, f"av {version}" if version else
                  "not installed: --output cannot write video files", "pip install av")]


def check_onnxruntime() -> list[Check]:
    if not _installed("onnxruntime"):
        return [Check("ONNX Runtime", False, "not installed", "pip install onnxruntime")]
    import onnxruntime as ort

    providers = ort.get_available_providers()
    return [Check("ONNX Runtime", True, f"{ort.__version__}, providers: {', '.join(providers)}")]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_models() -> list[Check]:
    """The shipped weights: present, their sha256, and whether the ONNX file loads."""
    from livebg.assets import assets_dir
    from livebg.segment.unet import EXPORT_HINT

    checks = []
    for kind, use in (("onnx", "CPU U-Net"), ("safetensors", "CUDA U-Net")):
        path = assets_dir() / f"unet.{kind}"
        if not path.is_file():
            checks.append(Check(f"weights {path.name}", False, f"missing ({use})",
                                EXPORT_HINT, segmenter="unet" if kind == "onnx" else ""))
            continue
        detail = f"{path}, {path.stat().st_size / 1e6:.1f} MB, sha256 {_sha256(path)[:16]}"
        ok, fix = True, ""
        if kind == "onnx":
            ok, fix, detail = _loads(path, detail)
        checks.append(Check(f"weights {path.name}", ok, detail, fix,
                            segmenter="unet" if kind == "onnx" and ok else ""))
    return checks


def _loads(path: Path, detail: str) -> tuple[bool, str, str]:
    from livebg.errors import LivebgError

    if not _installed("onnxruntime"):
        return False, "pip install onnxruntime", detail + " (ONNX Runtime missing)"
    from livebg.segment.unet import OnnxUNet

    try:
        OnnxUNet(path).close()
    except LivebgError as exc:
        return False, str(exc).split("; ")[-1], f"{detail}: {exc}"
    return True, "", detail + ", loads"


# The models livebg runs from inside the mediapipe wheel: the selfie segmenters (``mediapipe``
# and the photo ensemble) and the pose detector and landmark model (the ensemble's pose member).
MEDIAPIPE_MODELS = {
    "selfie": ("modules/selfie_segmentation/selfie_segmentation.tflite",
               "modules/selfie_segmentation/selfie_segmentation_landscape.tflite"),
    "pose": ("modules/pose_detection/pose_detection.tflite",
             "modules/pose_landmark/pose_landmark_full.tflite"),
}


POSE_CHECK = "MediaPipe Pose"


def _package_dir(module: str) -> Path | None:
    """Where an installed package lives, found without importing it (mediapipe: ~1 s)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def check_mediapipe() -> list[Check]:
    """The selfie segmenters (the ``mediapipe`` backend) and, when they are there, the pose
    model the photo default also runs."""
    from livebg.segment.mediapipe import MEDIAPIPE_INSTALL

    version = _version("mediapipe")
    package = _package_dir("mediapipe") if version else None
    if version is None or package is None:
        return [Check("MediaPipe", False, "not installed", MEDIAPIPE_INSTALL)]
    missing = {part: [f for f in files if not (package / f).is_file()]
               for part, files in MEDIAPIPE_MODELS.items()}
    reinstall = f"reinstall it: {MEDIAPIPE_INSTALL}"
    if missing["selfie"]:
        return [Check("MediaPipe", False,
                      f"{version}, but {missing['selfie'][0]} is missing from {package}",
                      reinstall)]
    selfie = Check("MediaPipe", True, f"{version} (the other segmenter)", segmenter="mediapipe")
    if missing["pose"]:
        return [selfie, Check(POSE_CHECK, False,
                              f"{missing['pose'][0]} is missing from {package}: the photo "
                              "default (ensemble) cannot load; until then give photos "
                              "--model unet", reinstall)]
    return [selfie, Check(POSE_CHECK, True, "in the mediapipe wheel (the photo default's "
                          "fourth member)")]


def check_torch() -> list[Check]:
    if not _installed("torch"):
        return [Check("torch / CUDA", False, "torch not installed: the U-Net runs on the CPU "
                      "(ONNX Runtime)", f"only for an NVIDIA GPU: {GPU_EXTRA}")]
    import torch  # slow (seconds): only here, only when installed

    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
        then = "" if torch.version.cuda else f", then {GPU_EXTRA}"
        return [Check("torch / CUDA", False, f"torch {torch.__version__} ({build}), no CUDA "
                      "GPU visible: --device cuda is unavailable, the CPU path works",
                      f"only for an NVIDIA GPU: install its driver (nvidia-smi must list "
                      f"it){then}")]
    name = torch.cuda.get_device_name(0)
    return [Check("torch / CUDA", True, f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
                  f"{name}")]


def _video_nodes() -> list[Path]:
    return sorted((Path(p) for p in glob.glob("/dev/video*")),
                  key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 1 << 30)


def _sys_video(node: Path) -> Path:
    return Path("/sys/class/video4linux") / node.name


def _is_loopback(node: Path) -> bool:
    # v4l2loopback devices have no hardware parent: they live under /sys/devices/virtual
    return "/virtual/" in os.path.realpath(_sys_video(node))


def _device_name(node: Path) -> str:
    try:
        return (_sys_video(node) / "name").read_text().strip()
    except OSError:
        return "?"


def _open_camera(index: int) -> tuple[int, int] | None:
    """(width, height) of camera ``index``'s first frame, or None; released at once."""
    from livebg.quiet import quiet_cv2

    cv2 = quiet_cv2()
    cap = cv2.VideoCapture(index)
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        return (frame.shape[1], frame.shape[0]) if ok and frame is not None else None
    finally:
        cap.release()


def check_cameras() -> list[Check]:
    fix = "connect a camera (or check it is not in use by another app); files work without"
    if sys.platform.startswith("linux"):
        nodes = [n for n in _video_nodes() if not _is_loopback(n)]
        candidates = [(int(n.name[5:]), f"{n} {_device_name(n)}") for n in nodes
                      if n.name[5:].isdigit()]
        if not candidates:
            return [Check("cameras", False, "none (no /dev/video* apart from loopbacks)", fix)]
    else:
        candidates = [(i, f"index {i}") for i in range(4)]
    found = []
    for index, label in candidates:
        size = _open_camera(index)
        if size is not None:
            found.append(f"--camera {index}: {label} {size[0]}x{size[1]}")
    if not found:
        return [Check("cameras", False, "none opened (" + ", ".join(c[1] for c in candidates)
                      + ")", fix + "; on Linux: sudo usermod -aG video $USER, log in again")]
    return [Check("cameras", True, "; ".join(found))]


def _param(name: str) -> str | None:
    try:
        return Path(f"/sys/module/v4l2loopback/parameters/{name}").read_text().strip()
    except OSError:
        return None


def check_virtual_camera_device() -> list[Check]:
    """v4l2loopback on Linux (module, devices, exclusive_caps, permissions); OBS elsewhere."""
    from livebg.sinks.virtualcam import setup_hint

    if not sys.platform.startswith("linux"):
        return [_check_obs()]
    if not Path("/sys/module/v4l2loopback").exists():
        return [Check("v4l2loopback", False, "kernel module not loaded", setup_hint("Linux"))]
    loops = [n for n in _video_nodes() if _is_loopback(n)]
    if not loops:
        return [Check("v4l2loopback", False, "module loaded but no device",
                      "sudo modprobe -r v4l2loopback && " + setup_hint("Linux").split("&& ")[-1])]
    caps = _param("exclusive_caps") or "?"
    checks = [Check("v4l2loopback", "Y" in caps or "1" in caps,
                    f"{len(loops)} device(s), exclusive_caps={caps}",
                    "Chrome/Zoom list the camera only with exclusive_caps=1: sudo modprobe -r "
                    "v4l2loopback && " + setup_hint("Linux").split("&& ")[-1])]
    for node in loops:
        usable = os.access(node, os.R_OK | os.W_OK)
        checks.append(Check(f"  {node}", usable, f"{_device_name(node)}, "
                            + ("read/write" if usable else "no permission"),
                            f"sudo usermod -aG video $USER (then log in again), or sudo chmod "
                            f"666 {node}"))
    return checks


_OBS_PATHS = {
    "darwin": ["/Library/CoreMediaIO/Plug-Ins/DAL/obs-mac-virtualcam.plugin",
               "/Applications/OBS.app/Contents/Library/SystemExtensions"],
    "win32": [r"C:\Program Files\obs-studio\data\obs-plugins\win-dshow"
              r"\obs-virtualcam-module64.dll"],
}


def _check_obs() -> Check:
    from livebg.sinks.virtualcam import setup_hint

    found = [p for p in _OBS_PATHS.get(sys.platform, []) if Path(p).exists()]
    return Check("OBS virtual camera", bool(found), found[0] if found else "not found",
                 setup_hint("Darwin" if sys.platform == "darwin" else "Windows"))


def check_pyvirtualcam() -> list[Check]:
    version = _version("pyvirtualcam")
    if version is None:
        return [Check("pyvirtualcam", False, "not installed", "pip install pyvirtualcam")]
    from pyvirtualcam.camera import BACKENDS

    from livebg.errors import LivebgError
    from livebg.sinks.virtualcam import probe_virtual_cam

    backends = ", ".join(BACKENDS) or "none on this OS"
    try:
        device = probe_virtual_cam()
    except LivebgError as exc:
        return [Check("pyvirtualcam", False, f"{version}, backends: {backends}; cannot open: "
                      f"{str(exc).split('; to create one')[0]}",
                      "see the virtual camera line above (--virtual-cam needs a device)")]
    return [Check("pyvirtualcam", True, f"{version}, backends: {backends}; opens {device}")]


def check_qt() -> list[Check]:
    if not _installed("PyQt6"):
        return [Check("Qt window", False, "PyQt6 not installed", "pip install 'PyQt6>=6.5'")]
    from PyQt6.QtCore import PYQT_VERSION_STR, QLibraryInfo

    from livebg.display import apt_install, display_available, xcb_missing_libraries

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    have = sorted(p.name.split(".")[0].removeprefix("libq") for p in plugins.glob("*q*"))
    want = {"darwin": ["cocoa"], "win32": ["windows"]}.get(sys.platform, ["xcb", "wayland"])
    missing = [w for w in want if w not in have]
    detail = f"PyQt6 {PYQT_VERSION_STR}, platform plugins: {' '.join(have) or 'none'}"
    if missing == want:
        return [Check("Qt window", False, detail, "pip install --force-reinstall PyQt6")]
    libraries = xcb_missing_libraries(plugins / "libqxcb.so") if "xcb" in have else []
    if libraries:
        return [Check("Qt window", False, f"{detail}; the X11 (xcb) plugin cannot load: "
                      f"{', '.join(libraries)} missing", apt_install(libraries))]
    if not display_available():
        return [Check("Qt window", False, detail + "; no display (DISPLAY and "
                      "WAYLAND_DISPLAY unset): the window cannot open",
                      "run from a desktop session, or add --no-window (files, "
                      "--virtual-cam)")]
    return [Check("Qt window", True, detail)]


def check_settings() -> list[Check]:
    import json

    from livebg.gui.settings import settings_path

    path = settings_path()
    if not path.exists():
        return [Check("settings", True, f"{path}: none yet (defaults; saved when the window "
                      "closes)")]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return [Check("settings", False, f"{path}: unreadable ({exc}); the window uses the "
                      "defaults", f"rm '{path}' (the window writes a new one)")]
    return [Check("settings", True, f"{path}: {len(data)} entries")]


PROBES: list[Callable[[], list[Check]]] = [
    check_opencv, check_pyav, check_onnxruntime, check_models, check_mediapipe, check_torch,
    check_cameras, check_virtual_camera_device, check_pyvirtualcam, check_qt, check_settings,
]


# --------------------------------------------------------------------------- running
def run_checks(probes: Sequence[Callable[[], list[Check]]] | None = None) -> list[Check]:
    """Every probe's checks; a probe that raises is a failed line, never the end of doctor."""
    checks: list[Check] = []
    for probe in PROBES if probes is None else probes:
        name = probe.__name__.removeprefix("check_").replace("_", " ")
        try:
            checks.extend(probe())
        except Exception as exc:  # noqa: BLE001 - a broken install is what doctor is for
            checks.append(Check(name, False, f"check failed: {type(exc).__name__}: {exc}",
                                "reinstall livebg's dependencies: pip install -e ."))
    return checks


def can_run(checks: Sequence[Check]) -> bool:
    """Every needed check passes and at least one segmenter loads."""
    return all(c.ok for c in checks if c.needed) and any(c.ok and c.segmenter for c in checks)


def format_check(check: Check) -> str:
    line = f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}"
    return line if check.ok or not check.fix else f"{line}\n        fix: {check.fix}"


def doctor_main(argv: Sequence[str] = (), out: object = None) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print("usage: livebg doctor\n\nCheck cameras, virtual camera, models, GPU, window "
              "and settings; changes nothing. Exit code 0 when livebg can run.")
        return 0
    if argv:
        from livebg.errors import LivebgError

        raise LivebgError(f"livebg doctor takes no arguments, got {' '.join(argv)}")
    stream = out or sys.stdout
    print(f"livebg doctor: {platform.system()} {platform.machine()}, Python "
          f"{platform.python_version()} (checks only; nothing is changed)", file=stream)
    checks = []
    for probe in PROBES:  # one at a time, so a slow probe (torch) shows progress
        found = run_checks([probe])
        checks.extend(found)
        for check in found:
            print(format_check(check), file=stream, flush=True)
    runs = can_run(checks)
    segmenters = sorted({c.segmenter for c in checks if c.ok and c.segmenter})
    pose = any(c.ok and c.name == POSE_CHECK for c in checks)
    if {"unet", "mediapipe"} <= set(segmenters) and pose:
        segmenters.append("ensemble (the photos' default: the U-Net, MediaPipe's selfie "
                          "models and its pose model)")
    print(f"livebg can run (segmenters: {', '.join(segmenters)}); FAIL lines are optional "
          "features" if runs else "livebg cannot run: fix the FAIL lines marked above", file=stream)
    return 0 if runs else 1
