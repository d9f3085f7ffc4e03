"""Video files through PyAV: codecs, quality, the input's sound copied through, alpha video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import CLIP_SIZE, FakeSegmenter, person_mask, synthetic_frame

from livebg import cli
from livebg.errors import LivebgError
from livebg.sinks.file import FileSink

W, H = CLIP_SIZE
SAMPLE_RATE = 44100


def write_clip_with_sound(path: Path, frames: int = 24, fps: int = 24) -> Path:
    """The generated clip in H.264 with a 440 Hz AAC tone as long as the video."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(synthetic_frame(i), format="bgr24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            out.mux(video.encode(vf))
        step = 1024
        for start in range(0, SAMPLE_RATE * frames // fps, step):
            t = (start + np.arange(step)) / SAMPLE_RATE
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            af.sample_rate, af.pts = SAMPLE_RATE, start
            out.mux(audio.encode(af))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def probe(path: Path) -> dict[str, tuple[str, float, int]]:
    """stream type → (codec, duration in s, packets): what ffprobe would print."""
    found = {}
    with av.open(str(path)) as c:
        streams = {s.index: s for s in c.streams}
        packets: dict[int, list[av.Packet]] = {i: [] for i in streams}
        for p in c.demux():
            if p.size:
                packets[p.stream.index].append(p)
        for i, s in streams.items():
            end = max(float((p.pts + p.duration) * p.time_base) for p in packets[i])
            found[s.type] = (s.codec_context.name, end, len(packets[i]))
    return found


def decode_bgra(path: Path) -> list[np.ndarray]:
    """Every frame as BGRA; VP9's alpha is side data only libvpx's decoder reads."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        if stream.codec_context.name == "vp9":
            ctx = av.codec.CodecContext.create("libvpx-vp9", "r")
            frames = [f for p in c.demux(stream) for f in ctx.decode(p)]
        else:
            frames = list(c.decode(stream))
        return [f.to_ndarray(format="bgra") for f in frames]


@pytest.fixture
def sound_clip(tmp_path: Path) -> Path:
    return write_clip_with_sound(tmp_path / "talk.mp4")


def test_mp4_is_h264_with_the_inputs_sound_copied_and_cut_to_the_video(
    sound_clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
) -> None:
    out = tmp_path / "out.mp4"
    assert cli.main(["--input", str(sound_clip), "--output", str(out), "--no-window"]) == 0
    got, src = probe(out), probe(sound_clip)
    assert got["video"][0] == "h264" and got["video"][2] == 24, "one frame per input frame"
    assert got["audio"][0] == "aac" and got["audio"][2] == src["audio"][2], "every packet"
    with av.open(str(sound_clip)) as a, av.open(str(out)) as b:
        first_in = bytes(next(p for p in a.demux(audio=0) if p.size))
        first_out = bytes(next(p for p in b.demux(audio=0) if p.size))
    assert first_in == first_out, "copied, not re-encoded"
    # --max-frames 12: the sound stops with the last frame (half a second at 24 fps)
    assert cli.main(["--input", str(sound_clip), "--output", str(out), "--no-window",
                     "--max-frames", "12"]) == 0
    video_end, audio_end = probe(out)["video"][1], probe(out)["audio"][1]
    assert video_end == pytest.approx(0.5, abs=0.01)
    assert abs(audio_end - video_end) < 1024 / SAMPLE_RATE + 0.01


def test_no_sound_where_frames_are_dropped_or_repeated(
    sound_clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
) -> None:
    """--realtime (frames may be dropped) and --loop: the clocks differ, so no sound."""
    out = tmp_path / "out.mkv"
    for flag in ("--realtime", "--loop"):
        assert cli.main(["--input", str(sound_clip), "--output", str(out), "--no-window",
                         "--max-frames", "30", flag]) == 0
        assert set(probe(out)) == {"video"}, flag


def test_webm_is_vp9_and_says_the_sound_cannot_be_copied(
    sound_clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = tmp_path / "out.webm"
    assert cli.main(["--input", str(sound_clip), "--output", str(out), "--no-window"]) == 0
    assert probe(out)["video"][0] == "vp9" and "audio" not in probe(out)
    assert "aac sound is not copied" in caplog.text and ".mp4 or .mkv" in caplog.text
    frames = decode_bgra(out)
    assert len(frames) == 24
    assert np.abs(frames[5][..., :3].astype(int) - synthetic_frame(5)).mean() < 8


@pytest.mark.parametrize("ext", [".webm", ".mov"])
def test_transparent_video_keeps_the_alpha_channel(
    clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter], ext: str,
) -> None:
    out = tmp_path / f"cutout{ext}"
    assert cli.main(["--input", str(clip), "--bg", "transparent", "--output", str(out),
                     "--no-window", "--max-frames", "6", "--feather", "0"]) == 0
    frames = decode_bgra(out)
    assert len(frames) == 6
    alpha = frames[3][..., 3].astype(np.float32) / 255
    person = person_mask() > 0
    assert alpha[person].mean() > 0.95, "the person is opaque"
    assert alpha[~person].mean() < 0.05, "the background is transparent"


def test_transparent_video_needs_an_alpha_container(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--input", str(clip), "--bg", "transparent",
                     "--output", str(tmp_path / "x.mp4"), "--no-window"]) == 2
    err = capsys.readouterr().err
    assert ".webm or .mov" in err and "Traceback" not in err
    assert not (tmp_path / "x.mp4").exists()


def test_lower_quality_number_is_a_better_bigger_file(
    clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sizes = {}
    for crf in (12, 35):
        out = tmp_path / f"q{crf}.mp4"
        assert cli.main(["--input", str(clip), "--output", str(out), "--no-window",
                         "--quality", str(crf), "--bg", "#00ff00"]) == 0
        sizes[crf] = out.stat().st_size
    assert sizes[12] > 1.5 * sizes[35]
    assert cli.main(["--input", str(clip), "--output", str(tmp_path / "x.webm"),
                     "--no-window", "--quality", "64"]) == 2
    assert "0-63" in capsys.readouterr().err


def test_sink_lifecycle_close_is_idempotent_and_a_failed_finalise_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = FileSink(tmp_path / "a.mp4", 24, (W, H))
    assert list(tmp_path.glob(".a.livebg-*.mp4")), "a temporary is created when the sink opens"
    assert not (tmp_path / "a.mp4").exists(), "the name only once finished (livebg.safeio)"
    sink.write(synthetic_frame(0))
    sink.close()
    assert (tmp_path / "a.mp4").exists() and not list(tmp_path.glob(".a.livebg-*"))
    sink.close()  # no-op
    with pytest.raises(LivebgError, match="closed"):
        sink.write(synthetic_frame(1))

    broken = FileSink(tmp_path / "b.mp4", 24, (W, H))
    broken.write(synthetic_frame(0))

    def full_disk(_frame: object) -> list[object]:
        raise av.error.OSError(28, "No space left on device")

    monkeypatch.setattr(broken, "_stream", type("S", (), {"encode": staticmethod(full_disk)}))
    with pytest.raises(LivebgError, match="incomplete; nothing was left under b.mp4"):
        broken.close()
    broken.close()  # reported once; the second close does nothing
    assert not list(tmp_path.glob("*b.*")), "no half video, under its name or a temporary"


def test_odd_frame_sizes_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(LivebgError, match="even frame size"):
        FileSink(tmp_path / "odd.mp4", 24, (161, 120))
    FileSink(tmp_path / "odd.mov", 24, (161, 121), alpha=True).close()  # ProRes 4444 can


def test_real_clip_h264_aac_same_frames_and_not_bigger(shared_dir: Path, tmp_path: Path,
                                                      ) -> None:
    """Issue 14's check: s18.mp4 (1280x720, AAC) → h264 + the AAC, <= 1.5x, every frame."""
    src = shared_dir / "videos" / "s18.mp4"
    out = tmp_path / "out.mp4"
    assert cli.main(["--input", str(src), "--output", str(out), "--no-window"]) == 0
    got, want = probe(out), probe(src)
    assert got["video"][0] == "h264" and got["video"][2] == want["video"][2]
    assert got["audio"][0] == "aac"
    assert out.stat().st_size <= 1.5 * src.stat().st_size
