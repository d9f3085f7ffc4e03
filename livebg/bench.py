"""Benchmark mode: the real pipeline for N frames per (model, device), side by side.

Files are read as fast as possible with blocking hand-off (no frame dropped, so every measured
frame went through every stage) and loop, so N may exceed the clip's length. The first
``warmup`` frames (model warm-up, caches) are left out of the numbers.

A laptop, or a VM like the dev box, drifts by 5-10% from one run to the next. ``repeat``
runs the combinations round-robin that many times (A B A B ...), so the drift hits each one
alike, and a summary gives each combination's median FPS, its range and its speed relative
to the first.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
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
    repeat: int = 1  # rounds of all combinations, interleaved


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
    for round_ in range(1, plan.repeat + 1):
        for model, device in product(plan.models, plan.devices):
            note = f" (round {round_}/{plan.repeat})" if plan.repeat > 1 else ""
            print(f"benchmarking {model}/{device}{note} ...", file=out, flush=True)
            results.append(run_one(plan, model, device))
    return results


@dataclass
class Summary:
    """One combination over its rounds."""

    label: str
    fps: list[float]  # per round, in order
    relative: float | None = None  # median FPS / the first combination's median FPS

    @property
    def median(self) -> float:
        return statistics.median(self.fps)

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "fps_median": self.median, "fps_min": min(self.fps),
                "fps_max": max(self.fps), "fps_runs": self.fps, "relative": self.relative}


def summarize(results: list[BenchResult]) -> list[Summary]:
    """Per combination (first-seen order), the FPS of each round that ran."""
    by_label: dict[str, Summary] = {}
    for r in results:
        if r.stats is not None:
            by_label.setdefault(r.label, Summary(r.label, [])).fps.append(r.stats.fps)
    summaries = list(by_label.values())
    if summaries and summaries[0].median > 0:
        for s in summaries:
            s.relative = s.median / summaries[0].median
    return summaries


def format_summary(summaries: list[Summary]) -> str:
    """Median FPS per combination and its ratio to the first one's (list the baseline first)."""
    if not summaries:
        return ""
    first = summaries[0].label
    label_w = max(len("model/device"), *(len(s.label) for s in summaries))
    head = (f"{'model/device':<{label_w}} | rounds | median FPS | {'min - max':^15} "
            f"| FPS / {first}'s")
    lines = [head, "-" * len(head)]
    for s in summaries:
        spread = f"{min(s.fps):6.1f} - {max(s.fps):<6.1f}"
        lines.append(f"{s.label:<{label_w}} | {len(s.fps):6d} | {s.median:10.1f} | {spread} "
                     f"| {s.relative or 0:.2f}")
    return "\n".join(lines)


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
        "repeat": plan.repeat,
        "results": [r.as_dict() for r in results],
        "summary": [s.as_dict() for s in summarize(results)],
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
    if plan.repeat > 1:
        print("\n" + format_summary(summarize(results)), file=out)
    if json_path is not None:
        write_json(json_path, plan, results)
        print(f"wrote {json_path}", file=out)
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"livebg: error: {r.label}: {r.error}", file=sys.stderr)
    return 2 if failed else 0
