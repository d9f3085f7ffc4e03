"""Benchmark mode: the table and the JSON, from real pipeline runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import CLIP_SIZE, FakeSegmenter

from livebg import cli
from livebg.pipeline import STAGES


def test_bench_compares_models_side_by_side(
    clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "bench.json"
    rc = cli.main(["bench", "--input", str(clip), "--model", "unet", "mediapipe",
                   "--device", "cpu", "--frames", "30", "--warmup", "3", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = next(ln for ln in lines if "inference" in ln)
    assert all(stage in header for stage in STAGES) and "FPS" in header
    assert any(ln.startswith("unet/cpu ") for ln in lines)
    assert any(ln.startswith("mediapipe/cpu ") for ln in lines)
    assert any(ln.startswith("machine: ") and " cores" in ln for ln in lines)

    doc = json.loads(out.read_text())
    assert doc["machine"]["cpu_count"] >= 1 and "onnxruntime" in doc["machine"]["versions"]
    assert {"cpu", "simd"} <= set(doc["machine"])
    assert (doc["input"]["width"], doc["input"]["height"]) == CLIP_SIZE
    assert [(r["model"], r["device"]) for r in doc["results"]] == [
        ("unet", "cpu"), ("mediapipe", "cpu")]
    for r in doc["results"]:
        assert r["error"] is None and r["frames"] == 30  # 33 run, warm-up left out
        assert r["fps"] > 0
        for stage in STAGES:
            timing = r["stages"][stage]
            assert timing["count"] == 30 and 0 <= timing["p50_ms"] <= timing["p99_ms"]
    # the clip has 24 frames: the bench loops so every combination gets its 33
    assert all(seg.calls == 33 for seg in use_fake_segmenter)


def test_bench_repeat_interleaves_rounds_and_summarises(
    clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--input", str(clip), "--model", "mediapipe", "unet",
                     "--device", "cpu", "--frames", "10", "--warmup", "0", "--repeat", "3",
                     "--json", str(out)]) == 0
    text = capsys.readouterr().out
    # round-robin, so a machine's drift hits both alike
    order = re.findall(r"benchmarking (\w+)/cpu \(round (\d)/3\)", text)
    assert order == [(m, r) for r in "123" for m in ("mediapipe", "unet")]
    doc = json.loads(out.read_text())
    assert doc["repeat"] == 3 and len(doc["results"]) == 6
    first, second = doc["summary"]
    assert (first["label"], second["label"]) == ("mediapipe/cpu", "unet/cpu")
    runs = [r["fps"] for r in doc["results"]]
    assert first["fps_runs"] == runs[0::2] and second["fps_runs"] == runs[1::2]
    assert first["fps_min"] <= first["fps_median"] <= first["fps_max"]
    assert first["relative"] == 1.0
    assert second["relative"] == pytest.approx(second["fps_median"] / first["fps_median"])
    row = next(ln for ln in text.splitlines() if ln.startswith("unet/cpu ") and "-" in ln)
    assert row.split("|")[1].strip() == "3"
    assert float(row.rsplit("|", 1)[1]) == pytest.approx(second["relative"], abs=0.006)


def test_bench_with_real_mediapipe(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--input", str(clip), "--model", "mediapipe", "--frames", "20",
                     "--warmup", "2"]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines()
               if ln.startswith("mediapipe/cpu"))
    fps = float(row.rsplit("|", 1)[1])
    assert fps > 5
    inference_p50 = float(row.split("|")[2].split()[0])
    assert inference_p50 > 0.1  # a real model did run


def test_benchmark_flag_on_the_main_command(
    clip: Path, use_fake_segmenter: list, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--benchmark", "--input", str(clip), "--model", "mediapipe",
                     "--frames", "10"]) == 0
    assert "mediapipe/cpu" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["bench"], ["--benchmark"]])
def test_bench_without_model_measures_the_apps_video_default(
    clip: Path, use_fake_segmenter: list, capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """Untyped, the model is what `livebg` runs on video (+alt); a typed name is measured
    as named, so `--model unet unet+alt` compares one pass with the default."""
    assert cli.main([*command, "--input", str(clip), "--frames", "5"]) == 0
    assert [s.name for s in use_fake_segmenter] == ["auto+alt"]
    assert cli.main(["bench", "--input", str(clip), "--frames", "5", "--model", "auto",
                     "unet+alt"]) == 0
    assert [s.name for s in use_fake_segmenter[1:]] == ["fake", "unet+alt"]


def test_bench_row_for_a_failing_model(
    clip: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import livebg.segment
    from livebg.errors import LivebgError

    def load(name: str = "auto", device: str = "auto", weights: str | None = None,
             photos: bool = False):
        if name == "unet":
            raise LivebgError("no trained U-Net weights: run training")
        return FakeSegmenter()

    monkeypatch.setattr(livebg.segment, "load_segmenter", load)
    rc = cli.main(["bench", "--input", str(clip), "--model", "unet", "mediapipe",
                   "--frames", "5", "--warmup", "0"])
    captured = capsys.readouterr()
    assert rc == 2  # one combination failed; the other still ran and is in the table
    assert re.search(r"^unet/auto +\| error: no trained U-Net weights", captured.out, re.M)
    assert "livebg: error: unet/auto: no trained U-Net weights" in captured.err
    # the row says what "mediapipe" actually loaded (here: the fake)
    assert re.search(r"^mediapipe=fake/cpu +\| +[0-9.]+", captured.out, re.M)


INTEL = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum\n"
         "flags\t\t: fpu sse4_2 avx avx2 avx512f\n")
AMD = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx avx2 fma\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm\nCPU part\t: 0xd0c\n"


@pytest.mark.parametrize(("cpuinfo", "model", "simd", "line"), [
    (INTEL, "Intel(R) Xeon(R) Platinum", "AVX-512", "AVX-512;"),
    (AMD, "AMD EPYC", "AVX2", "AVX2 (no AVX-512);"),
    (ARM, None, "NEON", "NEON;"),
    ("", None, None, "cores;"),
])
def test_bench_names_the_cpu_and_its_widest_vector_unit(cpuinfo: str, model: str | None,
                                                        simd: str | None, line: str) -> None:
    """The U-Net's lead over MediaPipe depends on AVX-512 (1.20x end to end with it, 1.08 to
    1.25x without), so each table says which CPU it was measured on."""
    from livebg.bench import cpu_description, machine_line

    assert cpu_description(cpuinfo) == (model, simd)
    info = {"cpu": model, "simd": simd, "cpu_count": 2, "platform": "Linux", "processor": "x86_64"}
    text = machine_line(info)
    assert text.startswith(f"machine: {model or 'x86_64'}, 2 cores") and line in text
