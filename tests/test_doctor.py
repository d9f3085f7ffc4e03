"""``livebg doctor``: probes swapped for fakes, so every verdict and fix is checked here."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from livebg import cli, display, doctor
from livebg.doctor import Check


def test_exit_code_follows_what_is_needed(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    def fine() -> list[Check]:
        return [Check("OpenCV", True, "4.11", needed=True),
                Check("weights unet.onnx", True, "loads", segmenter="unet")]

    def no_camera() -> list[Check]:
        return [Check("cameras", False, "none", "connect a camera")]

    def broken() -> list[Check]:
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "PROBES", [fine, no_camera, broken])
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "ok    OpenCV: 4.11"
    assert "FAIL  cameras: none" in out and "        fix: connect a camera" in out
    assert any(ln.startswith("FAIL  broken: check failed: RuntimeError: boom") for ln in out)
    assert out[-1].startswith("livebg can run (segmenters: unet)")

    monkeypatch.setattr(doctor, "PROBES", [no_camera])  # no segmenter at all
    assert cli.main(["doctor"]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("livebg cannot run")


def test_doctor_takes_no_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor", "--fix"]) == 2
    assert "takes no arguments" in capsys.readouterr().err


def test_linux_video_devices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A real camera and a v4l2loopback device without exclusive_caps or permissions."""
    nodes = [Path("/dev/video0"), Path("/dev/video4")]
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(doctor, "_video_nodes", lambda: nodes)
    monkeypatch.setattr(doctor, "_is_loopback", lambda n: n.name == "video4")
    monkeypatch.setattr(doctor, "_device_name",
                        lambda n: "livebg" if n.name == "video4" else "HD Webcam")
    monkeypatch.setattr(doctor, "_open_camera", lambda i: (1280, 720) if i == 0 else None)
    (cams,) = doctor.check_cameras()
    assert cams.ok and cams.detail == "--camera 0: /dev/video0 HD Webcam 1280x720"

    module = tmp_path / "v4l2loopback"
    monkeypatch.setattr(doctor, "Path", lambda p: module if p == "/sys/module/v4l2loopback"
                        else Path(p))
    module.mkdir()
    monkeypatch.setattr(doctor, "_param", lambda name: "N")
    monkeypatch.setattr(doctor.os, "access", lambda *_: False)
    loop, dev = doctor.check_virtual_camera_device()
    assert not loop.ok and "exclusive_caps=N" in loop.detail and "exclusive_caps=1" in loop.fix
    assert not dev.ok and "no permission" in dev.detail and "usermod -aG video" in dev.fix


def test_no_loopback_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(doctor, "Path", lambda p: tmp_path / "absent" if "sys/module" in str(p)
                        else Path(p))
    (check,) = doctor.check_virtual_camera_device()
    assert not check.ok and "modprobe v4l2loopback exclusive_caps=1" in check.fix


def test_obs_on_other_systems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(doctor, "_OBS_PATHS", {"darwin": ["/nonexistent/obs.plugin"]})
    (check,) = doctor.check_virtual_camera_device()
    assert check.name == "OBS virtual camera" and not check.ok and "OBS" in check.fix


def test_torch_absent_is_not_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda m: False if m == "torch" else real(m))
    monkeypatch.setitem(sys.modules, "torch", None)  # an import would raise
    (check,) = doctor.check_torch()
    assert not check.ok and "torch not installed" in check.detail and "[gpu]" in check.fix


def test_settings_file_states(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import livebg.gui.settings as settings

    path = tmp_path / "settings.json"
    monkeypatch.setattr(settings, "settings_path", lambda: path)
    assert doctor.check_settings()[0].ok
    path.write_text("{broken")
    (bad,) = doctor.check_settings()
    assert not bad.ok and bad.fix == f"rm '{path}' (the window writes a new one)"
    assert path.read_text() == "{broken"  # doctor changes nothing
    path.write_text('{"background": "blur"}')
    assert doctor.check_settings()[0].detail.endswith("1 entries")


def test_models_report_checksums_and_broken_files(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    import livebg.assets

    (tmp_path / "unet.onnx").write_bytes(b"not a model")
    monkeypatch.setattr(livebg.assets, "assets_dir", lambda: tmp_path)
    onnx, st = doctor.check_models()
    assert not onnx.ok and "sha256 " in onnx.detail and "training.export" in onnx.fix
    assert not onnx.segmenter
    assert not st.ok and "missing" in st.detail


def test_qt_without_display(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PyQt6")
    monkeypatch.setattr(display, "display_available", lambda: False)
    monkeypatch.setattr(display, "xcb_missing_libraries", lambda plugin=None: [])
    (check,) = doctor.check_qt()
    assert not check.ok and "no display" in check.detail and "--no-window" in check.fix


def test_virtual_camera_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    import livebg.sinks.virtualcam as vc

    class Cam:
        device = "/dev/video7"

        def __init__(self, *a: Any, **k: Any) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(vc, "_pyvirtualcam_factory", lambda backend: Cam)
    (check,) = doctor.check_pyvirtualcam()
    assert check.ok and check.detail.endswith("opens /dev/video7")


def test_real_doctor_here_runs_and_changes_nothing(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The real probes on this machine: every line is ok or FAIL with a fix."""
    rc = doctor.doctor_main([])
    lines = capsys.readouterr().out.splitlines()
    assert rc in (0, 1)
    for i, line in enumerate(lines[1:-1]):
        if line.startswith("FAIL"):
            assert lines[i + 2].startswith("        fix: "), line
        else:
            assert line.startswith(("ok    ", "        fix: ")), line


def _fake_mediapipe(monkeypatch: pytest.MonkeyPatch, root: Path, parts: Sequence[str]) -> None:
    for part in parts:
        for name in doctor.MEDIAPIPE_MODELS[part]:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(b"tflite")
    monkeypatch.setattr(doctor, "_version", lambda d: "0.10.21" if d == "mediapipe" else None)
    monkeypatch.setattr(doctor, "_package_dir", lambda m: root)


@pytest.mark.parametrize("parts, expected", [
    (("selfie", "pose"), [("MediaPipe", True), ("MediaPipe Pose", True)]),
    (("selfie",), [("MediaPipe", True), ("MediaPipe Pose", False)]),
    ((), [("MediaPipe", False)]),
])
def test_mediapipe_models_inside_the_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           parts: Sequence[str],
                                           expected: list[tuple[str, bool]]) -> None:
    """The selfie models make the ``mediapipe`` backend; the pose model, with the U-Net, the
    photo default. A missing file is named, with the reinstall that brings it back."""
    _fake_mediapipe(monkeypatch, tmp_path, parts)
    checks = doctor.check_mediapipe()
    assert [(c.name, c.ok) for c in checks] == expected
    for check in checks:
        if not check.ok:
            assert "is missing from" in check.detail and "--no-deps mediapipe" in check.fix
    assert (checks[0].segmenter == "mediapipe") == ("selfie" in parts)


def test_the_ensemble_is_listed_only_with_the_pose_model(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    def unet() -> list[Check]:
        return [Check("weights unet.onnx", True, "loads", segmenter="unet")]

    for parts, listed in ((("selfie", "pose"), True), (("selfie",), False)):
        root = tmp_path / "_".join(parts)
        _fake_mediapipe(monkeypatch, root, parts)
        monkeypatch.setattr(doctor, "PROBES", [unet, doctor.check_mediapipe])
        out = io.StringIO()
        assert doctor.doctor_main(out=out) == 0
        last = out.getvalue().splitlines()[-1]
        assert "mediapipe, unet" in last and ("ensemble" in last) == listed
