"""Benchmark mode: the real pipeline for N frames per (model, device), side by side.

Files are read as fast as possible with blocking hand-off (no frame dropped, so every measured
frame went through every stage) and loop, so N may exceed the clip's length. The first
``warmup`` frames (model warm-up, caches) are left out of the numbers.

A laptop, or a VM like the dev box, drifts by 5-10% from one run to the next. ``repeat``
runs the combinations round-robin that many times (A B A B ...), so the drift hits each one
alike, and a summary gives each combination's median FPS, its range and its speed relative
to the first.

Ctrl-C (or SIGTERM/SIGHUP) stops the whole run, not just the combination measuring: the
table and ``--json`` are still written, marked partial, and the exit code is 130 (143/129).
Results go to stdout through ``GuardedOut``: a closed pipe (``| head``) or a full device
ends the printing, never the run or the JSON file.
"""

from __future__ import annotations

import errno
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
from livebg.safeio import silence_stdout, write_bytes_atomic
from livebg.signals import exit_code


@dataclass
class BenchResult:
    model: str  # as asked (e.g. "auto")
    device: str
    segmenter: str = ""  # what actually ran (e.g. "unet")
    ran_on: str = ""  # the device it actually ran on
    stats: StageStats | None = None
    error: str | None = None
    partial: bool = False  # interrupted before all its frames were measured

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
            "partial": self.partial,
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


# widest first: what ONNX Runtime's and XNNPACK's kernels run on decides the U-Net's speed
# against MediaPipe's (inference p50 2.2 vs 2.6 ms with AVX-512; 6.6 vs 6.7 ms a 720p frame on an
# AVX2-only EPYC)
_SIMD_FLAGS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"),
               ("asimd", "NEON"))


def cpu_description(cpuinfo: str | None = None) -> tuple[str | None, str | None]:
    """(CPU model, widest SIMD extension) from ``/proc/cpuinfo`` (Linux); Nones elsewhere."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None, None
    model = flags = None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if model is None and key in ("model name", "cpu model", "hardware"):
            model = value.strip() or None
        elif flags is None and key in ("flags", "features"):
            flags = set(value.split())
    simd = next((name for flag, name in _SIMD_FLAGS if flag in (flags or ())), None)
    return model, simd


def machine_line(info: dict[str, Any]) -> str:
    """One line naming the machine the numbers were taken on."""
    parts = [info.get("cpu") or info.get("processor") or "unknown CPU",
             f"{info.get('cpu_count')} cores"]
    if info.get("simd"):
        x86_below_512 = info["simd"] in ("AVX2", "AVX", "SSE4.2")
        parts.append(info["simd"] + (" (no AVX-512)" if x86_below_512 else ""))
    return "machine: " + ", ".join(parts) + f"; {info.get('platform')}"


def machine_info() -> dict[str, Any]:
    """Enough to compare numbers across machines (without importing torch just to ask)."""
    cpu, simd = cpu_description()
    return {
        "cpu": cpu,
        "simd": simd,
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
        result.partial = pipe.interrupted
    except LivebgError as exc:
        result.error = str(exc)
    finally:
        pipe.close()
    return result


class GuardedOut:
    """A text stream whose first failed write (a closed pipe, /dev/full) is kept in
    ``error`` and ends the writing, instead of ending the run."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.error: OSError | None = None

    def write(self, text: str) -> int:
        return self._guard(self.stream.write, text) or 0

    def flush(self) -> None:
        self._guard(self.stream.flush)

    def _guard(self, call: Any, *args: Any) -> Any:
        if self.error is not None:
            return None
        try:
            return call(*args)
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            self.error = exc if isinstance(exc, OSError) else OSError(errno.EBADF, str(exc))
            if self.stream is sys.stdout:
                silence_stdout()  # or the interpreter's last flush fails on it once more
            return None


def run_bench(plan: BenchPlan, *, out: TextIO | None = None) -> list[BenchResult]:
    """Every combination's result; after an interrupt, those run so far, the last one
    ``partial``."""
    out = out or sys.stdout  # looked up per call: tests and tools swap sys.stdout
    results: list[BenchResult] = []
    for round_ in range(1, plan.repeat + 1):
        for model, device in product(plan.models, plan.devices):
            note = f" (round {round_}/{plan.repeat})" if plan.repeat > 1 else ""
            print(f"benchmarking {model}/{device}{note} ...", file=out, flush=True)
            try:
                results.append(run_one(plan, model, device))
            except KeyboardInterrupt:  # while a model loaded: nothing measured for it
                results.append(BenchResult(model, device, error="interrupted", partial=True))
            if results[-1].partial:
                return results
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
        mark = f" (partial: interrupted after {r.stats.frames} frames)" if r.partial else ""
        lines.append(f"{r.label:<{label_w}}{cells} | {r.stats.fps:6.1f}{mark}")
    return "\n".join(lines)


def write_json(path: Path, plan: BenchPlan, results: list[BenchResult],
               machine: dict[str, Any] | None = None) -> None:
    doc = {
        "machine": machine if machine is not None else machine_info(),
        "input": input_info(plan.source),
        "frames": plan.frames,
        "warmup": plan.warmup,
        "background": plan.background,
        "repeat": plan.repeat,
        "partial": is_partial(plan, results),
        "results": [r.as_dict() for r in results],
        "summary": [s.as_dict() for s in summarize(results)],
    }
    write_bytes_atomic(path, (json.dumps(doc, indent=2) + "\n").encode())


def is_partial(plan: BenchPlan, results: list[BenchResult]) -> bool:
    """Interrupted: a result cut short, or fewer results than the plan's combinations."""
    planned = plan.repeat * len(plan.models) * len(plan.devices)
    return len(results) < planned or any(r.partial for r in results)


def bench_main(plan: BenchPlan, json_path: Path | None, *, out: TextIO | None = None) -> int:
    """Run, write JSON, print the table; exit code 2 if any combination failed, 128 + the
    signal if interrupted, 1 if stdout could not take the results (a full device)."""
    guarded = GuardedOut(out or sys.stdout)
    results = run_bench(plan, out=guarded)  # type: ignore[arg-type]
    partial = is_partial(plan, results)
    machine = machine_info()
    if json_path is not None:  # first: the file must not depend on stdout still working
        write_json(json_path, plan, results, machine)
    print(format_table(results), file=guarded)
    print(machine_line(machine), file=guarded)
    if plan.repeat > 1:
        print("\n" + format_summary(summarize(results)), file=guarded)
    if json_path is not None:
        print(f"wrote {json_path}", file=guarded)
    guarded.flush()
    failed = [r for r in results if r.error and not r.partial]
    for r in failed:
        print(f"livebg: error: {r.label}: {r.error}", file=sys.stderr)
    if partial:
        done = sum(not r.partial for r in results)
        print(f"livebg: interrupted: {done} of {plan.repeat * len(plan.models) * len(plan.devices)}"
              " combination runs complete; the numbers shown are partial", file=sys.stderr)
    if guarded.error is not None and guarded.error.errno != errno.EPIPE:
        print(f"livebg: error: could not print the results to stdout "
              f"({guarded.error.strerror or guarded.error})"
              + (f"; they are in {json_path}" if json_path else "; use --json PATH"),
              file=sys.stderr)
    if partial:
        return exit_code()
    if failed:
        return 2
    return 1 if guarded.error is not None and guarded.error.errno != errno.EPIPE else 0
