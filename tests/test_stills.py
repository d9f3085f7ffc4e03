"""Photos: same names out, transparent PNG alpha, mask-only, single file, real MediaPipe."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from conftest import CLIP_SIZE, PERSON_BGR, FakeSegmenter, synthetic_frame

from livebg import cli

W, H = CLIP_SIZE
INSIDE = (H // 2, W // 2)
OUTSIDE = (5, 5)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "one.jpg"), synthetic_frame(1), [cv2.IMWRITE_JPEG_QUALITY, 98])
    cv2.imwrite(str(folder / "two.png"), synthetic_frame(2))
    (folder / "readme.txt").write_text("not a photo: ignored")
    return folder


def test_folder_to_transparent_pngs(photos: Path, tmp_path: Path,
                                    use_fake_segmenter: list[FakeSegmenter],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["--input", str(photos), "--bg", "transparent", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.png", "two.png"]
    img = cv2.imread(str(out / "two.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (H, W, 4)
    assert img[INSIDE][3] == 255 and img[OUTSIDE][3] == 0, "alpha follows the person"
    assert img[INSIDE][:3].tolist() == list(PERSON_BGR), "person pixels untouched"
    assert "wrote 2 image(s)" in capsys.readouterr().err
    assert use_fake_segmenter[0].close_calls == 1


def test_colour_background_keeps_names(photos: Path, tmp_path: Path,
                                       use_fake_segmenter: list) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["--input", str(photos), "--bg", "red", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.jpg", "two.png"]
    img = cv2.imread(str(out / "two.png"))
    assert img[OUTSIDE].tolist() == [0, 0, 255]
    assert img[INSIDE].tolist() == list(PERSON_BGR)


def test_photos_average_the_mirrored_frame_unless_told_not_to(
        photos: Path, tmp_path: Path, use_fake_segmenter: list,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Photos are not real-time, so they get the better mask (+tta) by default."""
    out = tmp_path / "out"
    out.mkdir()
    for flags, model in (([], "auto+tta"), (["--model", "unet", "--no-tta"], "unet"),
                         (["--model", "MediaPipe+TTA"], "mediapipe+tta")):
        assert cli.main(["--input", str(photos), "--bg", "red", "--output", str(out),
                         *flags]) == 0
        assert use_fake_segmenter[-1].name == model
    made = len(use_fake_segmenter)
    assert cli.main(["--input", str(photos), "--output", str(out), "--model", "unet+tta",
                     "--no-tta"]) == 2  # a contradiction, said before any model loads
    assert len(use_fake_segmenter) == made
    # +alt averages across a clip's frames; a photo is a frame of its own: +tta instead
    assert cli.main(["--input", str(photos), "--output", str(out), "--model", "unet+alt"]) == 0
    assert use_fake_segmenter[-1].name == "unet+tta"
    assert "each photo gets +tta" in capsys.readouterr().err


def test_photos_are_not_averaged_with_each_other(photos: Path, tmp_path: Path) -> None:
    """A segmenter that keeps the previous frame (+alt, used from Python) forgets it before
    each photo: unrelated photos must not mix."""
    from livebg.stills import StillJob, plan_outputs, process_stills

    class Remembering(FakeSegmenter):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[str] = []

        def reset(self) -> None:
            self.events.append("reset")

        def predict(self, frame):
            self.events.append("segment")
            return super().predict(frame)

    out = tmp_path / "out"
    out.mkdir()
    job = StillJob(background="red")
    seg = Remembering()
    written = process_stills(plan_outputs(photos, out, job), seg, job)
    assert len(written) >= 2
    assert seg.events == ["reset", "segment"] * len(written)


def test_mask_only(photos: Path, tmp_path: Path, use_fake_segmenter: list) -> None:
    out = tmp_path / "masks"
    out.mkdir()
    assert cli.main(["--input", str(photos), "--mask-only", "--output", str(out)]) == 0
    mask = cv2.imread(str(out / "two.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (H, W) and mask[INSIDE] == 255 and mask[OUTSIDE] == 0
    # one.jpg's mask is a lossless PNG too, not a JPEG with ringing round the outline
    assert sorted(p.name for p in out.iterdir()) == ["one.png", "two.png"]
    assert (out / "one.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["--input", str(photos / "one.jpg"), "--mask-only",
                     "--output", str(tmp_path / "m.jpg")]) == 2, "a JPEG mask is refused"


def test_single_photo_to_a_file(photos: Path, tmp_path: Path, use_fake_segmenter: list) -> None:
    out = tmp_path / "cut.png"
    assert cli.main(["--input", str(photos / "one.jpg"), "--bg", "transparent",
                     "--output", str(out)]) == 0
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == (H, W, 4)
    # transparent into a JPEG would silently lose the alpha: refused with the fix
    assert cli.main(["--input", str(photos / "one.jpg"), "--bg", "transparent",
                     "--output", str(tmp_path / "cut.jpg")]) == 2


def test_unreadable_photo_in_a_folder_is_skipped(photos: Path, tmp_path: Path,
                                                 use_fake_segmenter: list) -> None:
    (photos / "broken.jpg").write_bytes(b"nope")
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["--input", str(photos), "--bg", "blur", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.jpg", "two.png"]


def test_mediapipe_cuts_out_a_real_person(shared_dir: Path, tmp_path: Path) -> None:
    cap = cv2.VideoCapture(str(shared_dir / "videos" / "s18.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "s18.jpg"), frame)
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["--input", str(folder), "--model", "mediapipe", "--bg", "transparent",
                     "--output", str(out)]) == 0
    alpha = cv2.imread(str(out / "s18.png"), cv2.IMREAD_UNCHANGED)[..., 3]
    assert alpha.shape == (720, 1280)
    assert alpha[200:330, 700:820].mean() > 200, "her face is opaque"
    assert alpha[50:200, 0:200].mean() < 40, "the room behind her is transparent"
    assert 0.1 < (alpha > 127).mean() < 0.6
