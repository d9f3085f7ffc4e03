"""Benchmark mode: the real pipeline for N frames per (model, device), side by side.

Files are read as fast as possible with blocking hand-off (no frame dropped, so every measured
frame went through every stage) and loop, so N may exceed the clip's length. The first
``warmup`` frames (model warm-up, caches) are left out of the numbers.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from itertools import product
from pathlib import Path
from typing import Any, TextIO

from livebg.capture import parse_camera
from livebg.errors import LivebgError
from livebg.pipeline import STAGES, Pipeline, PipelineConfig, StageStats


@dataclass
class BenchResult:
    model: str  # as asked (e.g. "auto")
    device: str
    segmenter: str = ""  # what actually ran (e.g. "unet")
    ran_on: str = ""  # the device it actually ran on
    stats: StageStats | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        shown = self.segmenter or self.model
        if self.segmenter and self.segmenter != self.model:
            shown = f"{self.model}={self.segmenter}"
        return f"{shown}/{self.ran_on or self.device}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "device": self.device,
            "segmenter": self.segmenter,
            "ran_on": self.ran_on,
            "error": self.error,
        }
        if self.stats is not None:
            out.update(self.stats.as_dict())
        return out


@dataclass
class BenchPlan:
    source: str | int
    models: list[str]
    devices: list[str]
    frames: int = 300
    warmup: int = 20
    background: str = "blur"
    config_overrides: dict[str, Any] = field(default_factory=dict)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Enough to compare numbers across machines (without importing torch just to ask)."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {
            d: _version(d)
            for d in (
                "livebg",
                "numpy",
                "opencv-python-headless",
                "onnxruntime",
                "onnxruntime-gpu",
                "torch",
                "mediapipe",
            )
        },
    }


def run_one(plan: BenchPlan, model: str, device: str) -> BenchResult:
    """Run the pipeline once for (model, device); a LivebgError becomes the row's error."""
    is_camera = parse_camera(plan.source) is not None
    config = PipelineConfig(
        source=plan.source,
        realtime=False,
        loop=not is_camera,
        drop_frames=is_camera,
        model=model,
        device=device,
        background=plan.background,
        max_frames=plan.warmup + plan.frames,
        warmup_frames=plan.warmup,
        **plan.config_overrides,
    )
    result = BenchResult(model, device)
    from livebg.sinks import NullSink

    pipe = Pipeline(config, sinks=[NullSink()])
    try:
        pipe.open()
        seg = pipe.segmenter
        result.segmenter = str(getattr(seg, "name", model))
        result.ran_on = str(getattr(seg, "device", device))
        result.stats = pipe.run()
    except LivebgError as exc:
        result.error = str(exc)
    finally:
        pipe.close()
    return result


def run_bench(plan: BenchPlan, *, out: TextIO | None = None) -> list[BenchResult]:
    out = out or sys.stdout  # looked up per call: tests and tools swap sys.stdout
    results = []
    for model, device in product(plan.models, plan.devices):
        print(f"benchmarking {model}/{device} ...", file=out, flush=True)
        results.append(run_one(plan, model, device))
    return results


def input_info(source: str | int) -> dict[str, Any]:
    from livebg.capture import open_source

    with open_source(source, realtime=False) as src:
        w, h = src.size
        return {"source": str(source), "width": w, "height": h, "fps": src.fps}


def format_table(results: list[BenchResult]) -> str:
    """Rows = model/device; columns = per-stage p50/p99 ms, then end-to-end FPS."""
    label_w = max([len("model/device"), *(len(r.label) for r in results)])
    head1 = f"{'':<{label_w}}" + "".join(f" | {s:^11}" for s in STAGES) + " | " + "FPS".rjust(6)
    head2 = f"{'model/device':<{label_w}}" + " |   p50   p99" * len(STAGES) + " | " + " " * 6
    lines = [head1, head2.rstrip(), "-" * len(head1)]
    for r in results:
        if r.stats is None:
            lines.append(f"{r.label:<{label_w}} | error: {r.error}")
            continue
        cells = "".join(
            f" | {r.stats.stages[s].p50_ms:5.1f} {r.stats.stages[s].p99_ms:5.1f}" for s in STAGES
        )
        lines.append(f"{r.label:<{label_w}}{cells} | {r.stats.fps:6.1f}")
    return "\n".join(lines)


def write_json(path: Path, plan: BenchPlan, results: list[BenchResult]) -> None:
    doc = {
        "machine": machine_info(),
        "input": input_info(plan.source),
        "frames": plan.frames,
        "warmup": plan.warmup,
        "background": plan.background,
        "results": [r.as_dict() for r in results],
    }
    try:
        path.write_text(json.dumps(doc, indent=2) + "\n")
    except OSError as exc:
        raise LivebgError(
            f"could not write {path}: {exc.strerror}; pick another --json path"
        ) from None


def bench_main(plan: BenchPlan, json_path: Path | None, *, out: TextIO | None = None) -> int:
    """Run, print the table, write JSON; exit code 2 if any combination failed."""
    out = out or sys.stdout
    results = run_bench(plan, out=out)
    print(format_table(results), file=out)
    if json_path is not None:
        write_json(json_path, plan, results)
        print(f"wrote {json_path}", file=out)
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"livebg: error: {r.label}: {r.error}", file=sys.stderr)
    return 2 if failed else 0
