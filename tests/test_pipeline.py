"""Pipeline: threads, hand-off modes, stats, shutdown, errors and live setters, on real frames."""

from __future__ import annotations

import _thread
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    CLIP_SIZE,
    PERSON_BGR,
    FakeSegmenter,
    ListSource,
    RecordingSink,
    badge_xy,
    synthetic_frame,
    write_clip,
)

from livebg.errors import LivebgError
from livebg.pipeline import STAGES, Pipeline, PipelineConfig

W, H = CLIP_SIZE
INSIDE = (H // 2, W // 2)  # centre of the ellipse "person"
OUTSIDE = (H - 5, 5)  # a background corner
BLUE = (255, 0, 0)  # "#0000ff" in BGR


def bar_x(frame: np.ndarray) -> int:
    """Recover the frame index marker (the bright bar's left edge) from a frame."""
    row = frame[2, :, :].astype(int).sum(axis=1)
    return int(np.argmax(row > 600))


def close_to(pixel: np.ndarray, bgr: tuple[int, int, int], tol: int = 12) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(bgr)) <= tol))


def test_file_job_outputs_every_frame_in_order_with_stats(clip: Path) -> None:
    sink, originals = RecordingSink(), []
    config = PipelineConfig(source=str(clip), realtime=False, background="#0000ff",
                            smoothing=0.0)
    pipe = Pipeline(config, sinks=[sink], segmenter=FakeSegmenter(delay=0.002),
                    on_frame=lambda orig, out, stats: originals.append(bar_x(orig)))
    stats = pipe.run()
    assert not pipe.drops_frames  # a file read flat out: blocking hand-off
    assert len(sink.frames) == 24 and pipe.frames_written == 24 and stats.dropped == 0
    # frames arrive in order (the marker bar moves 7 px per frame; the clip is lossy mp4)
    assert all(abs(x - (i * 7) % (W - 8)) <= 2 for i, x in enumerate(originals))
    out = sink.frames[10]
    assert out.shape == (H, W, 3)
    assert close_to(out[INSIDE], PERSON_BGR, tol=20), "person pixels kept"
    assert close_to(out[OUTSIDE], BLUE, tol=2), "background replaced"
    assert set(stats.stages) == set(STAGES)
    for name, timing in stats.stages.items():
        assert timing.count == 24, name
        assert 0 <= timing.p50_ms <= timing.p99_ms
    assert stats.stages["inference"].p50_ms >= 2.0  # the fake sleeps 2 ms
    assert stats.fps > 0 and stats.frames == 24
    assert sink.close_calls == 1


def test_warmup_frames_are_not_measured(clip: Path) -> None:
    config = PipelineConfig(source=str(clip), realtime=False, background="#0000ff",
                            warmup_frames=4, max_frames=10)
    sink = RecordingSink()
    stats = Pipeline(config, sinks=[sink], segmenter=FakeSegmenter()).run()
    assert len(sink.frames) == 10
    assert stats.frames == 6 and stats.stages["compositing"].count == 6


def test_latest_frame_wins_drops_stale_frames() -> None:
    frames = [synthetic_frame(i) for i in range(40)]
    index_of = {id(f): i for i, f in enumerate(frames)}
    sink, seen = RecordingSink(), []
    config = PipelineConfig(background="blur", drop_frames=True)
    pipe = Pipeline(config, sinks=[sink], source=ListSource(frames),
                    segmenter=FakeSegmenter(delay=0.03),
                    on_frame=lambda orig, out, stats: seen.append(index_of[id(orig)]))
    stats = pipe.run()
    assert pipe.drops_frames
    assert stats.dropped > 0
    assert 0 < len(sink.frames) < 40
    assert pipe.frames_captured == 40
    # what did get through is still in order, and the last frame is never lost
    assert seen == sorted(set(seen)) and seen[-1] == 39


def test_stop_closes_every_resource_once() -> None:
    frames = [synthetic_frame(i) for i in range(8)]
    source = ListSource(frames * 1000)
    seg = FakeSegmenter()
    sinks = [RecordingSink(), RecordingSink()]
    pipe = Pipeline(PipelineConfig(background="#00ff00", drop_frames=True), sinks=sinks,
                    source=source, segmenter=seg)
    pipe.start()
    deadline = time.monotonic() + 5
    while pipe.frames_written < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    pipe.stop()
    pipe.join(timeout=5)
    assert not pipe.running
    pipe.close()
    pipe.stop()
    assert source.close_calls == 1 and seg.close_calls == 1
    assert [s.close_calls for s in sinks] == [1, 1]
    assert len(sinks[0].frames) >= 5 and len(sinks[0].frames) == len(sinks[1].frames)


def test_ctrl_c_during_run_stops_cleanly() -> None:
    """run() in the main thread: a KeyboardInterrupt (what SIGINT raises) shuts down cleanly."""
    frames = [synthetic_frame(i) for i in range(8)]
    source = ListSource(frames * 1000)
    seg, sink = FakeSegmenter(), RecordingSink()

    def on_frame(original: np.ndarray, out: np.ndarray, stats: object) -> None:
        if len(sink.frames) == 5:
            _thread.interrupt_main()  # the same KeyboardInterrupt Ctrl-C delivers

    pipe = Pipeline(PipelineConfig(background="blur"), sinks=[sink], source=source,
                    segmenter=seg, on_frame=on_frame)
    t0 = time.monotonic()
    stats = pipe.run()
    assert time.monotonic() - t0 < 5
    assert pipe.interrupted and not pipe.running
    assert source.close_calls == seg.close_calls == sink.close_calls == 1
    assert stats.frames >= 5


def test_worker_error_is_reported_not_a_hang(clip: Path) -> None:
    seg, sink = FakeSegmenter(fail_at=3), RecordingSink()
    pipe = Pipeline(PipelineConfig(source=str(clip), realtime=False, background="blur"),
                    sinks=[sink], segmenter=seg)
    t0 = time.monotonic()
    with pytest.raises(LivebgError, match=r"^inference stage failed: RuntimeError: model explo"):
        pipe.run()
    assert time.monotonic() - t0 < 5
    assert len(sink.frames) <= 3  # frames before the failure; the rest is abandoned
    assert seg.close_calls == 1 and sink.close_calls == 1


def test_livebg_error_in_a_sink_is_reraised_as_is(clip: Path) -> None:
    class FullDisk(RecordingSink):
        def write(self, frame: np.ndarray) -> None:
            raise LivebgError("disk full: free some space")

    sink = FullDisk()
    pipe = Pipeline(PipelineConfig(source=str(clip), realtime=False), sinks=[sink],
                    segmenter=FakeSegmenter())
    with pytest.raises(LivebgError, match="^disk full: free some space$"):
        pipe.run()
    assert sink.close_calls == 1


def test_live_setters_take_effect_between_frames(
    clip: Path, use_fake_segmenter: list[FakeSegmenter]
) -> None:
    first = FakeSegmenter()
    sink, late_sink = RecordingSink(), RecordingSink()
    pipe: Pipeline

    def on_frame(original: np.ndarray, out: np.ndarray, stats: object) -> None:
        n = len(sink.frames)
        if n == 8:
            pipe.set_background("#0000ff")
            pipe.set_feather(0)
            pipe.set_blur_strength(4)
            pipe.set_smoothing(0.5)
            pipe.add_sink(late_sink)
        elif n == 12:
            pipe.set_segmenter("mediapipe", "cpu")  # patched loader: another fake
            pipe.set_mirror(True)
        elif n == 16:
            pipe.remove_sink(late_sink)

    pipe = Pipeline(PipelineConfig(source=str(clip), realtime=False, background="#00ff00"),
                    sinks=[sink], segmenter=first, on_frame=on_frame)
    pipe.run()
    assert len(sink.frames) == 24
    assert close_to(sink.frames[3][OUTSIDE], (0, 255, 0), tol=2)
    assert close_to(sink.frames[20][OUTSIDE], BLUE, tol=2)
    assert len(late_sink.frames) == 8 and late_sink.close_calls == 1
    assert first.close_calls == 1 and first.calls in range(12, 16)
    assert len(use_fake_segmenter) == 1 and use_fake_segmenter[0].calls >= 8
    assert use_fake_segmenter[0].close_calls == 1
    assert pipe.config.background == "#0000ff" and pipe.config.mirror
    # mirrored: the dark badge moved from the person's left to the right
    bx, by = badge_xy()
    assert sink.frames[5][by, bx].max() < 60 and sink.frames[5][by, W - 1 - bx].min() > 30
    assert sink.frames[20][by, W - 1 - bx].max() < 60 and sink.frames[20][by, bx].min() > 30


def test_model_loaded_after_close_is_closed_not_swapped_in(
    clip: Path, use_fake_segmenter: list[FakeSegmenter]
) -> None:
    first = FakeSegmenter()
    pipe = Pipeline(PipelineConfig(source=str(clip), realtime=False), segmenter=first)
    pipe.open()
    pipe.close()  # e.g. the GUI switched source while the model below was loading
    assert pipe.set_segmenter("mediapipe", "cpu") is False
    (late,) = use_fake_segmenter
    assert late.close_calls == 1 and first.close_calls == 1
    assert pipe.segmenter is first and pipe.config.model == "auto+alt"  # the default, kept


def test_mask_only_outputs_the_mask(clip: Path) -> None:
    sink = RecordingSink()
    Pipeline(PipelineConfig(source=str(clip), realtime=False, mask_only=True, max_frames=5),
             sinks=[sink], segmenter=FakeSegmenter()).run()
    assert len(sink.frames) == 5
    out = sink.frames[-1]
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    assert out[INSIDE].tolist() == [255, 255, 255] and out[OUTSIDE].tolist() == [0, 0, 0]


def test_realtime_file_plays_at_its_fps(clip: Path) -> None:
    sink = RecordingSink()
    pipe = Pipeline(PipelineConfig(source=str(clip), realtime=True, background="blur",
                                   max_frames=12),
                    sinks=[sink], segmenter=FakeSegmenter())
    t0 = time.monotonic()
    stats = pipe.run()
    elapsed = time.monotonic() - t0
    assert pipe.drops_frames
    assert elapsed >= 11 / 24 - 0.02  # 12 frames at 24 fps
    assert 16 < stats.fps < 32
    assert 10 <= len(sink.frames) <= 12


def test_realtime_capture_time_excludes_the_pacing_wait(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip30.mp4", frames=15, fps=30.0)
    pipe = Pipeline(PipelineConfig(source=str(clip), realtime=True, background="blur"),
                    segmenter=FakeSegmenter())
    t0 = time.monotonic()
    stats = pipe.run()
    assert time.monotonic() - t0 >= 14 / 30 - 0.02, "still paced at the file's 30 fps"
    # Decoding a 160x120 frame takes well under a millisecond; the 33 ms wait is not capture.
    assert stats.stages["capture"].count == 15
    assert stats.stages["capture"].p50_ms < 10


def test_bad_config_fails_before_threads_start(clip: Path) -> None:
    seg = FakeSegmenter()
    pipe = Pipeline(PipelineConfig(source=str(clip), background="#zzzzzz"), segmenter=seg)
    with pytest.raises(LivebgError, match="background"):
        pipe.run()
    assert not pipe.running and seg.close_calls == 1


def test_camera_that_vanishes_is_reopened_and_the_pipeline_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from test_capture import FlakyOpener

    from livebg.capture import CameraSource

    opener = FlakyOpener(first_frames=5, failures=3)
    cam = CameraSource(0, opener=opener, backoff_initial=0.02)
    sink = RecordingSink()
    pipe = Pipeline(PipelineConfig(source=0, background="blur", max_frames=20), sinks=[sink],
                    source=cam, segmenter=FakeSegmenter())
    assert pipe.drops_frames  # cameras: latest frame wins
    with caplog.at_level("WARNING", logger="livebg.capture"):
        pipe.run()
    assert pipe.frames_captured == 20 and cam.reconnects == 1
    assert "camera 0 stopped delivering frames; reopening it" in caplog.text
    assert "camera 0 is back" in caplog.text


def test_stop_cuts_a_camera_reconnect_short() -> None:
    from test_capture import FlakyOpener

    from livebg.capture import CameraSource

    cam = CameraSource(0, opener=FlakyOpener(first_frames=3, failures=10**6),
                       backoff_initial=0.05, backoff_max=30.0)
    seg = FakeSegmenter()
    pipe = Pipeline(PipelineConfig(source=0), source=cam, segmenter=seg).start()
    time.sleep(0.5)  # the camera is gone; the capture thread is backing off (up to 30 s)
    assert pipe.running and 1 <= pipe.frames_written <= 3  # latest wins: some may drop
    t0 = time.monotonic()
    pipe.stop()
    pipe.join(timeout=5)
    assert time.monotonic() - t0 < 1.0 and cam.closed and seg.close_calls == 1
