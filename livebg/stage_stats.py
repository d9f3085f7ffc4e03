"""Per-stage timings of the running pipeline: rolling samples in, p50/p99 and FPS out."""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

STAGES = ("capture", "inference", "smoothing", "compositing", "output")


@dataclass(frozen=True)
class StageTiming:
    p50_ms: float
    p99_ms: float
    count: int


@dataclass(frozen=True)
class StageStats:
    """Per-stage p50/p99 in ms plus end-to-end throughput and latency."""

    stages: dict[str, StageTiming]
    fps: float  # frames out per second over the measured window
    frames: int  # frames output and measured (after warm-up)
    dropped: int  # stale frames replaced before they were processed
    latency_p50_ms: float  # capture → written to every sink
    latency_p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class StageTimers:
    """Thread-safe rolling per-stage timings."""

    def __init__(self, window: int) -> None:
        self._lock = threading.Lock()
        self._window = window
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._ms = {s: deque(maxlen=self._window) for s in (*STAGES, "latency")}
            self._out_times: deque[float] = deque(maxlen=self._window)

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self._ms[stage].append(ms)

    def frame_done(self, t: float, latency_ms: float) -> None:
        with self._lock:
            self._out_times.append(t)
            self._ms["latency"].append(latency_ms)

    def summary(self, dropped: int) -> StageStats:
        with self._lock:
            samples = {k: np.asarray(v, dtype=np.float64) for k, v in self._ms.items()}
            times = list(self._out_times)

        def pct(a: np.ndarray, q: float) -> float:
            return float(np.percentile(a, q)) if a.size else 0.0

        stages = {
            s: StageTiming(pct(samples[s], 50), pct(samples[s], 99), int(samples[s].size))
            for s in STAGES
        }
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        fps = (len(times) - 1) / span if span > 0 else 0.0
        lat = samples["latency"]
        return StageStats(stages, fps, len(times), dropped, pct(lat, 50), pct(lat, 99))
