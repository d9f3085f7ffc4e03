"""The GPU stage (livebg/gpu): the same frames as the CPU path (ONNX Runtime + OpenCV), on the
CPU here and on CUDA where there is one; CUDA-graph capture, re-capture and the eager
fallback on CUDA only (those tests skip without it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livebg.assets import sample_clip
from livebg.segment import cuda_available
from livebg.segment.unet import default_weights

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
S18 = ROOT.parent / "shared" / "videos" / "s18.mp4"
CUDA = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]
needs_weights = pytest.mark.skipif(default_weights("safetensors") is None
                                   or default_weights() is None, reason="no shipped weights")


def clip_frames(count: int = 3, size: tuple[int, int] = (640, 360)) -> list[np.ndarray]:
    """Consecutive frames of s18 (a real person) when ../shared is there, else of the bundled
    sample; at ``size`` so that the CPU runs stay short."""
    cap = cv2.VideoCapture(str(S18 if S18.is_file() else sample_clip()))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 30)
    frames = []
    for _ in range(count):
        ok, frame = cap.read()
        assert ok
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return clip_frames()


def torch_unet(device: str):
    from livebg.segment.unet import TorchUNet

    return TorchUNet(default_weights("safetensors"), device=device)


def cpu_path(name: str):
    from livebg.segment import with_mirror
    from livebg.segment.unet import OnnxUNet

    return with_mirror(OnnxUNet(default_weights()), name)


# ------------------------------------------------------------------ the ops, one by one
def test_ops_match_opencv():
    from livebg.composite import blend, blur_background, mask_to_alpha
    from livebg.gpu import ops

    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (90, 160, 3), np.uint8), (5, 5), 2)
    mask = np.zeros((45, 80), np.float32)
    cv2.ellipse(mask, (40, 25), (15, 20), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (7, 7), 2)
    t = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    m = torch.from_numpy(mask)[None, None]

    def img(x):
        return x[0].permute(1, 2, 0).numpy() if x.shape[1] > 1 else x[0, 0].numpy()

    box = ops.box_blur(m, 5)
    assert np.abs(img(box) - cv2.blur(mask, (5, 5))).max() < 1e-6
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    dil = ops.dilate(m, ops.ellipse_offsets(2, m.device), 2)
    assert np.abs(img(dil) - cv2.dilate(mask, element)).max() < 1e-6
    kernel = ops.gaussian_kernel(ops.float_gaussian_ksize(2.0), 2.0, m.device)
    assert np.abs(img(ops.gaussian_blur(m, kernel)) - cv2.GaussianBlur(mask, (0, 0), 2.0)
                  ).max() < 1e-5
    sigma = ops.feather_sigma(3.0, 80, 160)
    alpha = ops.mask_to_alpha(m, (160, 90), ops.gaussian_kernel(ops.feather_ksize(sigma),
                                                                sigma, m.device))
    assert np.abs(img(alpha) - mask_to_alpha(mask, (160, 90), 3.0)).max() <= 2
    background = rng.integers(0, 256, (90, 160, 3), np.uint8)
    a8 = img(alpha).astype(np.uint8)
    mixed = ops.blend(t, torch.from_numpy(background).permute(2, 0, 1)[None].float(), alpha)
    assert np.abs(img(mixed) - blend(frame, background, a8).astype(np.float32)).max() <= 1
    small_size, radius, sig = ops.blur_geometry((160, 90), 16.0)
    small = ops.AreaDownscale((160, 90), small_size, m.device)(t)
    blurred = ops.blur_background(small, ops.resize_mask(m, small_size), (160, 90),
                                  ops.ellipse_offsets(radius, m.device), radius,
                                  ops.gaussian_kernel(ops.float_gaussian_ksize(sig), sig,
                                                      m.device))
    reference = blur_background(frame, mask, 16.0).astype(np.float32)
    assert np.abs(img(blurred) - reference).mean() < 1.0


@pytest.mark.parametrize(("src", "dst"), [((1280, 720), (160, 90)), ((1920, 1080), (160, 90)),
                                        ((1366, 768), (160, 90)), ((641, 361), (80, 45))])
def test_area_downscale_is_livebgs(src, dst):
    """The letterbox's downscale (2× halvings, then INTER_AREA) to within a grey level."""
    from livebg.gpu import ops
    from livebg.resize import downscale

    rng = np.random.default_rng(2)
    frame = cv2.resize(rng.integers(0, 256, (src[1] // 8, src[0] // 8, 3), np.uint8), src)
    got = ops.AreaDownscale(src, dst, torch.device("cpu"))(
        torch.from_numpy(frame).permute(2, 0, 1)[None].float())[0].permute(1, 2, 0).numpy()
    diff = np.abs(got - downscale(frame, dst))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.003


def test_smoothing_and_alternation_match_the_cpu_steps():
    """A moving, flickering mask sequence through both implementations, state and all."""
    from livebg.gpu import ops
    from livebg.segment.mirror import AlternationParams, AlternationState, alternation_step
    from livebg.smooth import SmoothParams, smooth_step

    rng = np.random.default_rng(1)
    params, alt = SmoothParams(), AlternationParams()
    shape = (1, 1, 40, 60)
    ema, on, prev, grey_prev = (torch.zeros(shape) for _ in range(4))
    started, alt_started = torch.tensor(False), torch.tensor(False)
    state, alt_state = None, AlternationState()
    for i in range(6):
        mask = np.zeros((40, 60), np.float32)
        cv2.circle(mask, (20 + 3 * i, 20), 12, 1.0, -1)
        mask = np.clip(mask + rng.normal(0, 0.2, mask.shape).astype(np.float32), 0, 1)
        grey = rng.integers(100, 104, (40, 60), np.uint8)
        grey[:, 30 + i:] = 200
        want_alt, alt_state = alternation_step(mask, grey, alt_state, alt)
        got_alt = ops.alternation_step(torch.from_numpy(mask)[None, None],
                                       torch.from_numpy(grey).float()[None, None], prev,
                                       grey_prev, alt_started, alt)
        assert np.abs(got_alt[0, 0].numpy() - want_alt).max() < 1e-5
        want, state = smooth_step(state, want_alt, params)
        got = ops.smooth_step(got_alt, ema, on, started, params)
        assert np.abs(got[0, 0].numpy() - want).max() < 1e-5


def test_smp_free_network_is_smps():
    """The smp-free rebuild of the shipped network gives smp's outputs, and the built-in
    safetensors reader the safetensors library's tensors."""
    smp = pytest.importorskip("segmentation_models_pytorch")
    del smp
    from livebg.gpu.weights import load_network, read_safetensors
    from livebg.model import build_model, output_logits

    path = default_weights("safetensors")
    if path is None:
        pytest.skip("no unet.safetensors")
    net, cfg, meta = load_network(path)
    assert "input_width" in meta
    state, _ = read_safetensors(path)
    reference = build_model(cfg).eval()
    reference.load_state_dict({k: v.float() for k, v in state.items()})
    assert sorted(reference.state_dict()) == sorted(net.state_dict())
    x = torch.randn(2, 3, 96, 160)
    with torch.no_grad():
        assert torch.equal(output_logits(net, x, cfg), output_logits(reference, x, cfg))
    safetensors = pytest.importorskip("safetensors.torch")
    theirs = safetensors.load_file(str(path))
    assert all(torch.equal(theirs[k], state[k]) for k in theirs)


# ------------------------------------------------------------------ the stage vs the CPU path
CASES = [("", "blur", False), ("+alt", "blur", False), ("+tta", "#00b140", True),
         ("+alt", "image", False), ("", "transparent", False), ("", "none", True),
         ("", "video", False)]


def background_image(folder: Path) -> str:
    """A picture background of another aspect than the frames (so it is cover-cropped)."""
    x = np.linspace(0, 255, 400, dtype=np.float32)
    image = np.dstack([np.tile(x, (300, 1)), np.tile(x[::-1], (300, 1)),
                       np.full((300, 400), 90, np.float32)]).astype(np.uint8)
    cv2.rectangle(image, (60, 40), (180, 200), (250, 250, 250), -1)
    path = folder / "background.png"
    cv2.imwrite(str(path), image)
    return str(path)


@needs_weights
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("mode", "background", "mirror"), CASES)
def test_stage_frames_match_cpu_path(device, frames, mode, background, mirror, tmp_path):
    """The finished frames of the GPU stage (fp32 on the CPU, fp16 on CUDA) and of the CPU
    path (ONNX U-Net, MaskSmoother, Compositor) over consecutive real frames, smoothing and
    mirror state included."""
    from livebg.composite import Compositor
    from livebg.gpu.stage import GpuStage, read_settings
    from livebg.resize import Thumbnails
    from livebg.smooth import MaskSmoother

    segmenter = cpu_path(mode)
    if background == "image":
        background = background_image(tmp_path)
    elif background == "video":  # a looping clip of another size: cover-cropped every frame
        from conftest import write_clip

        background = str(write_clip(tmp_path / "background.mp4", frames=3))
    # one each: a video background hands each compositor its own next frame
    compositor, gpu_compositor = (Compositor(background, mirror=mirror) for _ in range(2))
    smoother = MaskSmoother()
    stage = GpuStage(torch_unet(device), mode, getattr(segmenter, "params", None))
    for frame in frames:
        thumbnails = Thumbnails(frame)
        want = compositor.apply(frame, smoother.update(segmenter.infer(frame, thumbnails)),
                                thumbnails)
        settings, picture = read_settings(gpu_compositor, smoother, False, frame.shape[1::-1])
        got = stage.process(frame, settings, picture)
        assert got.shape == want.shape and got.dtype == np.uint8
        diff = np.abs(got.astype(np.int16) - want)
        # on the CPU (fp32) the same to a few grey levels (the blur's float rounding); fp16 on
        # CUDA moves probabilities by ~0.001, which the refinement's 4x gain can turn into a
        # few levels of alpha along the outline
        if device == "cpu":
            # Outline pixels may differ more: the stage downscales the frame with torch, the CPU
            # path with OpenCV's INTER_AREA, so the network's probability there differs by up to
            # ~0.07 (every shipped weights); the 4x gain makes that up to 12 alpha levels on
            # 0.1% of the values of the bundled clip's first frame with the softer outline of
            # stage 29 (stage 18: at most 2 levels).
            assert diff.mean() < 0.2 and (diff > 8).mean() < 2e-3 and diff.max() <= 32, (
                diff.mean(), (diff > 8).mean(), diff.max())
        assert diff.mean() < 0.6 and (diff > 24).mean() < 0.002, (diff.mean(), diff.max())
    stage.close()
    stage.close()  # idempotent


@needs_weights
def test_live_setting_changes_keep_the_state():
    """The GUI's setters between frames (background, feather, mirror, smoothing strength):
    the stage prepares again but keeps its smoothing and +alt state, so it goes on giving
    the CPU path's frames."""
    from livebg.composite import Compositor
    from livebg.gpu.stage import GpuStage, read_settings
    from livebg.resize import Thumbnails
    from livebg.smooth import MaskSmoother

    segmenter, compositor, smoother = cpu_path("+alt"), Compositor("blur"), MaskSmoother()
    stage = GpuStage(torch_unet("cpu"), "+alt")
    changes = [lambda: None, lambda: compositor.set_background("#0047bb"),
               lambda: compositor.set_feather(0), lambda: (compositor.set_mirror(True),
                                                           smoother.set(strength=0.4))]
    for frame, change in zip(clip_frames(4), changes, strict=True):
        change()
        thumbnails = Thumbnails(frame)
        want = compositor.apply(frame, smoother.update(segmenter.infer(frame, thumbnails)),
                                thumbnails)
        got = stage.process(frame, *read_settings(compositor, smoother, False,
                                                  frame.shape[1::-1]))
        diff = np.abs(got.astype(np.int16) - want)
        # a handful of outline pixels may differ more: the refinement's 4x gain around 0.5
        # magnifies float differences between torch and ONNX Runtime there
        assert diff.mean() < 0.2 and (diff > 8).mean() < 1e-4 and diff.max() <= 32, (
            diff.mean(), (diff > 8).mean(), diff.max())
    assert np.all(got[5, -5] == (187, 71, 0))  # the colour, in a corner far from the person


@needs_weights
@pytest.mark.parametrize("device", DEVICES)
def test_stage_masks_match_cpu_path(device, frames):
    """--mask-only: the smoothed +alt mask at the frame's size, both paths."""
    from livebg.composite import mask_to_bgr
    from livebg.gpu.stage import GpuStage, read_settings
    from livebg.smooth import MaskSmoother

    segmenter, smoother = cpu_path("+alt"), MaskSmoother()
    stage = GpuStage(torch_unet(device), "+alt")
    for frame in frames:
        want = mask_to_bgr(smoother.update(segmenter.infer(frame)), frame.shape[1::-1])
        got = stage.process(frame, read_settings(None, smoother, True, frame.shape[1::-1])[0])
        diff = np.abs(got.astype(np.int16) - want) / 255
        assert diff.mean() < 0.01 and ((got > 127) != (want > 127)).mean() < 0.005
        assert 0.1 < (got > 127).mean() < 0.9  # a person, not an empty or full mask


def test_stage_with_a_strided_network_without_refinement():
    """A network whose output is half the input's size (``refine: none``, output stride 2):
    the stage's crop and the +alt grey at the mask's size follow the letterbox, as the
    numpy path's ``Letterbox`` does."""
    from types import SimpleNamespace

    from livebg.composite import mask_to_bgr
    from livebg.gpu.stage import GpuStage, Settings
    from livebg.gpu.weights import InferenceUnet
    from livebg.model import ModelConfig, deployable
    from livebg.segment.unet import letterbox_for

    torch.manual_seed(0)
    cfg = ModelConfig(encoder_depth=4, output_stride=2, decoder_block="separable",
                      decoder_channels=[32, 16, 16, 16])
    model = deployable(InferenceUnet(cfg), cfg).eval()
    unet = SimpleNamespace(device="cpu", geometry=letterbox_for(cfg, 160), model=model)
    frame = clip_frames(1, (641, 359))[0]  # odd sizes: padding on both sides, uneven
    geometry = letterbox_for(cfg, 160)
    with torch.no_grad():
        prob = model(torch.from_numpy(geometry.prepare(frame)[None]).float())[0, 0].numpy()
    want = mask_to_bgr(geometry.crop(prob), frame.shape[1::-1])
    for mode in ("", "+alt"):
        got = GpuStage(unet, mode).process(frame, Settings(kind="mask"))
        assert got.shape == want.shape
        assert np.abs(got.astype(np.int16) - want).mean() < 1.0


# ------------------------------------------------------------------ CUDA graphs
@needs_weights
@CUDA
def test_graph_replays_the_eager_frames_and_recaptures(frames):
    from livebg.gpu.stage import GpuStage, Settings

    unet = torch_unet("cuda")
    eager, graphed = GpuStage(unet, "+alt", graph=False), GpuStage(unet, "+alt", graph=True)
    for frame in frames:
        a, b = eager.process(frame), graphed.process(frame)
        # the same ops replayed; cuDNN may pick other fp16 kernels for the two stages
        assert graphed.graphed and np.abs(a.astype(np.int16) - b).mean() < 0.05
    assert graphed.captures == 1
    graphed.process(cv2.resize(frames[0], (1280, 720)))  # a new size: captured again
    graphed.process(cv2.resize(frames[0], (1280, 720)), Settings(kind="none"))
    assert graphed.captures == 3
    out = graphed.process(frames[0], Settings(kind="color", background=(0, 0, 255)),
                          np.full_like(frames[0], (0, 0, 255)))
    assert out.shape == frames[0].shape
    fp32 = GpuStage(unet, "", precision="fp32")
    fp16 = GpuStage(unet, "", precision="fp16")
    m32, m16 = (s.process(frames[0], Settings(kind="mask")) / 255.0 for s in (fp32, fp16))
    assert np.abs(m32 - m16).mean() < 0.01


@needs_weights
@CUDA
def test_capture_failure_falls_back_to_eager(frames, monkeypatch, caplog):
    from livebg.gpu.stage import GpuStage

    def refuse(*args, **kwargs):
        raise RuntimeError("capture refused (test)")

    monkeypatch.setattr(torch.cuda, "CUDAGraph", refuse)
    stage = GpuStage(torch_unet("cuda"), "")
    out = stage.process(frames[0])
    assert not stage.graphed and out.shape == frames[0].shape
    assert "running the GPU stage eagerly" in caplog.text


# ------------------------------------------------------------------ in the pipeline
@needs_weights
@pytest.mark.parametrize("device", DEVICES)
def test_pipeline_runs_the_gpu_stage(device, tmp_path):
    """The pipeline hands every frame to the GPU stage (forced on the CPU; by itself on
    CUDA) and writes the same frames as the CPU path."""
    from livebg.pipeline import Pipeline, PipelineConfig
    from livebg.segment import with_mirror

    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 24, (640, 360))
    for frame in clip_frames(6):
        writer.write(frame)
    writer.release()
    outputs: dict[str, list[np.ndarray]] = {"gpu": [], "cpu": []}
    for path in ("gpu", "cpu"):
        config = PipelineConfig(source=str(clip), realtime=False, model="unet+alt",
                                device=device, gpu_stage=(path == "gpu"), background="blur")
        segmenter = (with_mirror(torch_unet(device), "+alt") if path == "gpu"
                     else cpu_path("+alt"))
        pipe = Pipeline(config, segmenter=segmenter,
                        on_frame=lambda _f, out, _s, key=path: outputs[key].append(out))
        stats = pipe.run()
        assert (pipe._gpu[1] is not None) == (path == "gpu")
        assert stats.stages["inference"].count == 6
    assert len(outputs["gpu"]) == len(outputs["cpu"]) == 6
    for a, b in zip(outputs["gpu"], outputs["cpu"]):
        assert np.abs(a.astype(np.int16) - b).mean() < 0.6


def test_bad_precision_names_the_setting(monkeypatch):
    from livebg.errors import LivebgError
    from livebg.gpu.stage import GpuStage

    if default_weights("safetensors") is None:
        pytest.skip("no unet.safetensors")
    monkeypatch.setenv("LIVEBG_GPU_PRECISION", "fp64")
    with pytest.raises(LivebgError, match="LIVEBG_GPU_PRECISION.*fp16 or fp32"):
        GpuStage(torch_unet("cpu"))


def test_cpu_pipeline_never_imports_torch(tmp_path):
    """The pipeline's per-frame question "is there a GPU stage for this segmenter?" is
    answered without torch on the CPU path (the CLI's start-up: test_app_info.py)."""
    code = (
        "import sys\n"
        "from livebg.pipeline import Pipeline, PipelineConfig\n"
        "from livebg.sinks import NullSink\n"
        f"Pipeline(PipelineConfig(source={str(sample_clip())!r}, "
        "realtime=False, device='cpu', model='auto+alt', max_frames=3), "
        "sinks=[NullSink()]).run()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_gpu_bench_smoke(capsys):
    """python -m livebg.gpu.bench on the CPU: one tiny eager row and the fp16/fp32 line."""
    from livebg.gpu import bench

    if default_weights("safetensors") is None:
        pytest.skip("no unet.safetensors")
    assert bench.main(["--device", "cpu", "--sizes", "320x180", "--frames", "3", "--warmup",
                       "1", "--precisions", "fp32", "--mask-frames", "1", "--input",
                       str(sample_clip())]) == 0
    out = capsys.readouterr().out
    assert "320x180 | fp32 | eager" in out and "fp16 vs fp32 mask mean abs difference" in out
