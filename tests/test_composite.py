"""Compositor: pixels kept where the mask is 1, replaced where 0, for every background kind."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from livebg.backgrounds import COLOR_NAMES, BackgroundSpec, cover_crop, parse_background
from livebg.composite import Compositor, blend, mask_to_alpha
from livebg.errors import LivebgError

SHARED = Path(__file__).resolve().parents[2] / "shared"
W, H = 320, 180


def textured_frame(w: int = W, h: int = H, seed: int = 0) -> np.ndarray:
    """Mid-grey noise with structure: every pixel differs, so copies are detectable."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 216, (h, w, 3), dtype=np.uint8)


def ellipse_mask(w: int = W, h: int = H, scale: float = 1.0) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    cv2.ellipse(m, (w // 2, h // 2), (int(w * 0.18 * scale), int(h * 0.35 * scale)), 0, 0, 360,
                1.0, -1)
    return m


def regions(mask: np.ndarray, margin: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Pixels surely inside / surely outside a hard mask (a margin away from its edge)."""
    k = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    m8 = (mask > 0.5).astype(np.uint8)
    return cv2.erode(m8, k) > 0, cv2.dilate(m8, k) == 0


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) if a.size else 0


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("spec", "bgr"),
    [("#00b140", (0x40, 0xB1, 0x00)), ("#FFF", (255, 255, 255)), ("Black", (0, 0, 0)),
     ("green", (0x40, 0xB1, 0x00)), (" #102030 ", (0x30, 0x20, 0x10))],
)
def test_parse_colours(spec: str, bgr: tuple[int, int, int]) -> None:
    parsed = parse_background(spec)
    assert parsed.kind == "color" and parsed.color == bgr


@pytest.mark.parametrize("word", ["blur", "transparent", "none", "BLUR"])
def test_parse_keywords(word: str) -> None:
    assert parse_background(word).kind == word.lower()


def test_colour_table_entries_all_parse() -> None:
    for name in COLOR_NAMES:
        assert parse_background(name).kind == "color"


@pytest.mark.parametrize("bad", ["#12345", "#GGHHII", "notacolour", "#", ""])
def test_bad_colour_lists_accepted_forms(bad: str) -> None:
    with pytest.raises(LivebgError) as err:
        parse_background(bad)
    msg = str(err.value)
    assert "#RRGGBB" in msg and "blur" in msg and ".jpg" in msg and "green" in msg
    assert "\n" not in msg


def test_missing_image_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "beach.jpg"
    with pytest.raises(LivebgError, match="not found") as err:
        parse_background(str(missing))
    assert str(missing) in str(err.value)


def test_missing_video_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(LivebgError, match="not found"):
        parse_background(str(tmp_path / "loop.mp4"))


@pytest.mark.parametrize("name", ["broken.jpg", "broken.png", "empty.webp"])
def test_corrupt_image_is_an_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"\xff\xd8\xff garbage" * 10)
    with pytest.raises(LivebgError, match="corrupt") as err:
        parse_background(str(path))
    assert str(path) in str(err.value)


def test_corrupt_video_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(b"not a video at all" * 100)
    with pytest.raises(LivebgError, match="corrupt"):
        parse_background(str(path))


@pytest.mark.parametrize("name", ["anim.gif", "doc.pdf", "x.tiffx"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"whatever")
    with pytest.raises(LivebgError, match="unsupported") as err:
        parse_background(str(path))
    assert ".png" in str(err.value) and ".mp4" in str(err.value)


def test_bad_background_keeps_the_current_one() -> None:
    comp = Compositor("#ff0000", feather=0)
    with pytest.raises(LivebgError):
        comp.set_background("#nothex")
    assert comp.background.kind == "color" and comp.background.color == (0, 0, 255)


def test_spec_round_trips_through_str() -> None:
    assert str(parse_background("#00B140")) == "#00b140"
    assert parse_background(parse_background("blur")) == BackgroundSpec(kind="blur")


# ---------------------------------------------------------------- pixels


def test_colour_keeps_person_replaces_background() -> None:
    frame, mask = textured_frame(), ellipse_mask()
    out = Compositor("#00b140", feather=0).apply(frame, mask)
    inside, outside = regions(mask)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert max_diff(out[inside], frame[inside]) <= 2
    assert (out[outside] == (0x40, 0xB1, 0x00)).all()


def test_low_res_mask_is_resized_to_the_frame() -> None:
    frame = textured_frame(640, 360)
    small = ellipse_mask(256, 144)
    out = Compositor("black", feather=0).apply(frame, small)
    inside, outside = regions(ellipse_mask(640, 360), margin=6)
    assert max_diff(out[inside], frame[inside]) <= 2
    assert (out[outside] == 0).all()


def test_soft_mask_blends_linearly() -> None:
    frame = np.full((H, W, 3), 200, np.uint8)
    mask = np.full((H, W), 0.25, np.float32)
    out = Compositor("#000000", feather=0).apply(frame, mask)
    assert abs(int(out.mean()) - 50) <= 1  # 200 * 0.25


def test_feather_softens_a_hard_edge_but_not_the_inside() -> None:
    frame, mask = textured_frame(), ellipse_mask()
    alpha_hard = mask_to_alpha(mask, (W, H), 0)
    alpha_soft = mask_to_alpha(mask, (W, H), 4)
    assert len(np.unique(alpha_hard)) <= 2
    inside, outside = regions(mask, margin=14)
    edge = ~inside & ~outside
    assert len(np.unique(alpha_soft[edge])) > 20  # a ramp, not a step
    assert (alpha_soft[inside] == 255).all() and (alpha_soft[outside] == 0).all()
    out = Compositor("white", feather=4).apply(frame, mask)
    assert max_diff(out[inside], frame[inside]) <= 2 and (out[outside] == 255).all()


def test_image_background_is_cover_cropped(tmp_path: Path) -> None:
    # square image: covering a 16:9 frame crops top and bottom. Red bands live only there.
    img = np.zeros((400, 400, 3), np.uint8)
    img[:, :] = (255, 0, 0)
    img[:80] = img[-80:] = (0, 0, 255)
    for x in range(0, 400, 50):  # vertical stripes: a horizontal shift would show
        img[:, x : x + 10] = (0, 255, 0)
    path = tmp_path / "bg.png"
    cv2.imwrite(str(path), img)
    frame, mask = textured_frame(), ellipse_mask()
    out = Compositor(str(path), feather=0).apply(frame, mask)
    expected = cover_crop(img, (W, H))
    inside, outside = regions(mask)
    assert max_diff(out[outside], expected[outside]) <= 1
    assert max_diff(out[inside], frame[inside]) <= 2
    assert out[..., 2][outside].max() < 40  # no red: the top/bottom bands were cropped away
    # the stripes keep their place: column 0 of the frame is column 0 of the image
    assert out[H // 2, 0, 1] > 200 and out[H // 2, W // 16, 0] > 200


def test_image_background_is_resized_once_per_frame_size(tmp_path: Path) -> None:
    path = tmp_path / "bg.jpg"
    cv2.imwrite(str(path), textured_frame(500, 300, seed=3))
    comp = Compositor(str(path), feather=0)
    mask = ellipse_mask()
    for _ in range(5):
        comp.apply(textured_frame(), mask)
    assert comp.background_resizes == 1
    comp.apply(textured_frame(160, 90), ellipse_mask(160, 90))
    assert comp.background_resizes == 2
    comp.set_background(str(path))  # new background: cache dropped
    comp.apply(textured_frame(160, 90), ellipse_mask(160, 90))
    assert comp.background_resizes == 3


def write_colour_clip(path: Path, colours: list[tuple[int, int, int]], size=(96, 64)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    assert writer.isOpened()
    for c in colours:
        writer.write(np.full((size[1], size[0], 3), c, np.uint8))
    writer.release()


def test_video_background_plays_and_loops(tmp_path: Path) -> None:
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255)]
    path = tmp_path / "loop.mp4"
    write_colour_clip(path, colours)
    frame = textured_frame()
    zero = np.zeros((H, W), np.float32)
    with Compositor(str(path), feather=0) as comp:
        seen = [comp.apply(frame, zero) for _ in range(10)]
    for i, out in enumerate(seen):
        assert out.shape == frame.shape
        assert max_diff(out, np.full_like(out, colours[i % 4])) <= 12, f"frame {i}"
    comp.close()  # idempotent


def test_blur_does_not_bleed_a_bright_person() -> None:
    w, h = 640, 360
    rng = np.random.default_rng(1)
    frame = rng.integers(20, 60, (h, w, 3), dtype=np.uint8)  # dark textured room
    mask = ellipse_mask(w, h)
    frame[mask > 0.5] = 255  # a person in a white shirt
    out = Compositor("blur", blur_strength=16, feather=0).apply(frame, mask)
    k = np.ones((3, 3), np.uint8)
    m8 = (mask > 0.5).astype(np.uint8)
    ring = (cv2.dilate(m8, k, iterations=8) > 0) & (cv2.dilate(m8, k, iterations=2) == 0)
    naive = cv2.GaussianBlur(frame, (0, 0), 16)
    assert naive[ring].mean() > 100  # a plain blur smears the shirt into the room...
    assert out[ring].mean() < 50  # ...ours keeps the ring at the room's brightness
    inside, outside = regions(mask)
    assert max_diff(out[inside], frame[inside]) <= 2
    # the background is blurred: much less pixel-to-pixel texture than the noisy original
    assert np.abs(np.diff(out[outside].astype(np.int16), axis=0)).mean() < 3


def test_transparent_gives_alpha_from_the_mask() -> None:
    frame = textured_frame()
    mask = np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1))
    out = Compositor("transparent", feather=0).apply(frame, mask)
    assert out.shape == (H, W, 4) and out.dtype == np.uint8
    assert (out[..., :3] == frame).all()
    assert max_diff(out[..., 3], np.round(mask * 255).astype(np.uint8)) <= 1


def test_none_passes_the_frame_through() -> None:
    frame = textured_frame()
    out = Compositor("none").apply(frame, ellipse_mask())
    assert (out == frame).all() and out is not frame


def test_mirror_flips_the_person_not_the_background(tmp_path: Path) -> None:
    path = tmp_path / "bg.png"
    bg = textured_frame(seed=9)
    cv2.imwrite(str(path), bg)
    frame = textured_frame()
    mask = np.zeros((H, W), np.float32)
    mask[:, : W // 4] = 1  # person on the left of the camera image
    comp = Compositor(str(path), feather=0, mirror=True)
    out = comp.apply(frame, mask)
    assert max_diff(out[:, -W // 4 + 2 :], frame[:, ::-1][:, -W // 4 + 2 :]) <= 2
    assert max_diff(out[:, : W // 2], bg[:, : W // 2]) <= 1  # background not mirrored
    comp.set_mirror(False)
    assert max_diff(comp.apply(frame, mask)[:, : W // 4 - 2], frame[:, : W // 4 - 2]) <= 2


def test_setters_validate() -> None:
    comp = Compositor("blur")
    with pytest.raises(LivebgError, match="feather"):
        comp.set_feather(-1)
    with pytest.raises(LivebgError, match="blur strength"):
        comp.set_blur_strength(-3)
    comp.set_blur_strength(40)
    comp.set_feather(0)
    assert comp.blur_strength == 40 and comp.feather == 0


def test_output_is_a_new_array_each_frame() -> None:
    comp = Compositor("#123456", feather=0)
    frame, mask = textured_frame(), ellipse_mask()
    a = comp.apply(frame, mask)
    b = comp.apply(textured_frame(seed=5), mask)
    assert not np.shares_memory(a, b)  # a sink in another thread may still hold ``a``


# ---------------------------------------------------------------- real footage (skipped if absent)


@pytest.fixture(scope="module")
def real_frame_and_mask() -> tuple[np.ndarray, np.ndarray]:
    clip = SHARED / "videos" / "doctor.mp4"
    if not clip.is_file():
        pytest.skip("shared clips not present")
    mp = pytest.importorskip("mediapipe")
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 30)
    ok, frame = cap.read()
    cap.release()
    assert ok
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
        mask = seg.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).segmentation_mask
    small = cv2.resize(mask.astype(np.float32), (256, 144), interpolation=cv2.INTER_AREA)
    return frame, small


def sure_regions(frame: np.ndarray, small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame pixels the model calls person / background with confidence, 8 px from any edge."""
    full = cv2.resize(small, frame.shape[1::-1])
    k = np.ones((17, 17), np.uint8)
    sure_person = cv2.erode((full > 0.99).astype(np.uint8), k) > 0
    sure_bg = cv2.erode((full < 0.01).astype(np.uint8), k) > 0
    return sure_person, sure_bg


def test_real_frame_colour_and_image(real_frame_and_mask, tmp_path: Path) -> None:
    frame, small = real_frame_and_mask
    h, w = frame.shape[:2]
    sure_person, sure_bg = sure_regions(frame, small)
    assert sure_person.mean() > 0.05 and sure_bg.mean() > 0.1  # the clip has both
    out = Compositor("#00b140", feather=3).apply(frame, small)
    assert max_diff(out[sure_person], frame[sure_person]) <= 2
    assert max_diff(out[sure_bg], np.full_like(out, (0x40, 0xB1, 0x00))[sure_bg]) <= 2
    bg_path = tmp_path / "bg.png"
    bg = textured_frame(400, 300, seed=4)
    cv2.imwrite(str(bg_path), bg)
    out = Compositor(str(bg_path), feather=3).apply(frame, small)
    assert max_diff(out[sure_bg], cover_crop(bg, (w, h))[sure_bg]) <= 2


def test_real_frame_blur(real_frame_and_mask) -> None:
    frame, small = real_frame_and_mask
    sure_person, sure_bg = sure_regions(frame, small)
    out = Compositor("blur", blur_strength=16).apply(frame, small)
    assert max_diff(out[sure_person], frame[sure_person]) <= 2

    def detail(img: np.ndarray) -> float:
        lap = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F)
        return float(np.abs(lap[sure_bg]).mean())

    assert detail(out) < detail(frame) / 3


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_inputs_are_never_modified(dtype) -> None:
    frame = textured_frame()
    mask = (ellipse_mask() * (255 if dtype == np.uint8 else 1)).astype(dtype)
    frame_copy, mask_copy = frame.copy(), mask.copy()
    comp = Compositor("blur", feather=4)
    for bg in ("blur", "#000", "transparent"):
        comp.set_background(bg)
        comp.apply(frame, mask)
    assert np.array_equal(frame, frame_copy) and np.array_equal(mask, mask_copy)


@pytest.mark.parametrize("person", ["none", "left", "centre", "whole"])
def test_blend_of_the_persons_box_equals_the_whole_frame_blend(person: str) -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (180, 320, 3), np.uint8)
    background = rng.integers(0, 256, (180, 320, 3), np.uint8)
    alpha = np.zeros((180, 320), np.uint8)
    if person == "left":
        cv2.ellipse(alpha, (40, 180), (40, 120), 0, 0, 360, 255, -1)
    elif person == "centre":
        cv2.ellipse(alpha, (160, 180), (70, 150), 0, 0, 360, 255, -1)
    elif person == "whole":
        alpha[:] = 200
    alpha = cv2.GaussianBlur(alpha, (9, 9), 3)  # soft edges, values between 0 and 255
    a3 = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)
    whole = cv2.add(cv2.multiply(frame, a3, scale=1 / 255),
                    cv2.multiply(background, cv2.bitwise_not(a3), scale=1 / 255))
    out = blend(frame, background, alpha)
    assert np.array_equal(out, whole)
    assert out is not background and not np.shares_memory(out, background)
