"""The ``livebg`` command.

    livebg [--input PATH | --camera N] [--bg SPEC] [--output out.mp4|folder] [--virtual-cam] ...
    livebg bench --input clip.mp4 --model unet mediapipe --device cpu --frames 300 --json b.json

Every user mistake ends as one ``livebg: error: ...`` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from livebg import __version__
from livebg.assets import WEIGHTS_LICENCE, background_names
from livebg.assets import sample_clip as sample_clip
from livebg.capture import (
    IMAGE_EXTENSIONS,
    check_video_path,
    open_source,
    quiet_cv2,
)
from livebg.errors import LivebgError
from livebg.limits import MAX_BLUR_STRENGTH, MAX_FEATHER, number
from livebg.pipeline import CAMERA_FIELDS, pick_fields
from livebg.safeio import ReadFiles, ensure_std_streams, refuse_overwrite, silence_stdout
from livebg.segment.mirror import ALT_SUFFIX, TTA_SUFFIX, split_mirror
from livebg.signals import exit_code, stop_on_signals
from livebg.sinks.file import (
    ALPHA_EXTENSIONS,
    FILE_EXTENSIONS,
    check_quality,
    check_writable_folder,
    video_format,
)

WRITABLE_VIDEO_EXTENSIONS = tuple(FILE_EXTENSIONS)  # what FileSink can encode

log = logging.getLogger("livebg")

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C; SIGTERM 143, SIGHUP 129 (livebg.signals)
MAX_FRAMES = 1_000_000_000
_UNSET = object()
# Options whose PipelineConfig field has another name (the window's saved settings use those).
_CONFIG_NAMES = {"input": "source", "camera": "source", "bg": "background"}


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one line (no usage dump) through LivebgError."""

    def error(self, message: str) -> NoReturn:
        raise LivebgError(f"{message} (see {self.prog} --help)")


def note(message: str) -> None:
    """A one-line notice for the user (stderr, so piped stdout stays clean)."""
    print(f"livebg: {message}", file=sys.stderr, flush=True)


def _add_source_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", "-i", metavar="PATH", help="video file, photo, or photo folder")
    src.add_argument("--camera", "-c", type=number(int, 0, 255), metavar="N",
                     help="camera index (default 0)")
    p.add_argument("--list-cameras", action="store_true",
                   help="list the cameras (index and name where the system gives one)")
    cam = p.add_argument_group("camera settings (ignored, with a warning, for a file input)")
    cam.add_argument("--width", type=number(int, 16, 8192), help="capture width, e.g. 1280")
    cam.add_argument("--height", type=number(int, 16, 8192), help="capture height, e.g. 720")
    cam.add_argument("--fps", type=number(float, 1, 240), help="capture frame rate")
    cam.add_argument("--mjpg", action="store_true", help="ask the camera for MJPG (faster 720p)")


def _add_model_args(p: argparse.ArgumentParser, *, many: bool) -> None:
    nargs: Any = "+" if many else None
    default: Any = ["auto"] if many else "auto"
    p.add_argument("--model", "-m", nargs=nargs, default=default, metavar="NAME",
                   help="segmenter: auto, unet or mediapipe (default auto: the U-Net when "
                        "its weights are installed); NAME+tta averages each mask with the "
                        "mirrored frame's, NAME+alt mirrors every other frame and averages "
                        "where the picture is still (defaults: +alt for video, +tta for "
                        "photos; see --tta)")
    p.add_argument("--device", "-d", nargs=nargs, default=default, metavar="DEV",
                   help="auto, cpu or cuda (default auto)")
    p.add_argument("--weights", metavar="PATH", help="U-Net weights (.onnx or .safetensors)")
    p.add_argument("--cuda-fallback", action="store_true",
                   help="with --device cuda: use the CPU when CUDA is missing instead of failing")
    p.add_argument("--bg", default="blur", metavar="SPEC",
                   help="blur, #RRGGBB or colour name, an image or video file, a bundled "
                        f"background ({', '.join(background_names())}), none, or "
                        "transparent (photos: PNG; video: .webm or .mov with alpha)")
    p.add_argument("--blur-strength", type=number(float, 0, MAX_BLUR_STRENGTH),
                   help=f"background blur strength, 0-{MAX_BLUR_STRENGTH:g} (default 16)")
    p.add_argument("--feather", type=number(float, 0, MAX_FEATHER),
                   help=f"mask edge feather in pixels, 0-{MAX_FEATHER:g} (default 3)")
    p.add_argument("--verbose", "-v", action="store_true", help="log what happens")


def build_parser() -> _Parser:
    p = _Parser(prog="livebg", description="Replace the background of a webcam, clip or photo.",
                epilog="Benchmark: livebg bench --help")
    _add_source_args(p)
    _add_model_args(p, many=False)
    p.add_argument("--version", action="store_true",
                   help="print the version and the model weights' licence, then exit")
    p.add_argument("--output", "-o", metavar="PATH",
                   help="video file (.mp4/.mkv/.mov/.avi: H.264; .webm: VP9), or a folder "
                   "(photos, or <input>.mp4); with --no-window every input frame is written, "
                   "as fast as possible, with the input's sound")
    p.add_argument("--quality", type=int, metavar="CRF",
                   help="video quality as the encoder's CRF: lower = better and bigger "
                        "(H.264 0-51, default 23; VP9 0-63, default 32; ProRes: ignored)")
    p.add_argument("--virtual-cam", action="store_true", help="send frames to a virtual camera")
    p.add_argument("--no-window", action="store_true", help="no preview window (headless)")
    p.add_argument("--smoothing", type=number(float, 0, 1, hi_open=True), metavar="S",
                   help="temporal smoothing strength in [0, 1): 0 = off (default 0.7)")
    p.add_argument("--mirror", action="store_true", help="flip left-right (selfie view)")
    p.add_argument("--loop", action="store_true", help="play the input clip forever")
    p.add_argument("--realtime", action="store_true",
                   help="play files at their own fps even when only writing --output")
    p.add_argument("--max-frames", type=number(int, 1, MAX_FRAMES), metavar="N",
                   help="stop after N frames")
    p.add_argument("--mask-only", action="store_true", help="output the mask, not a composite")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average each mask with the mirrored frame's: fewer wrong pixels "
                        "(EG1800 +0.15-0.17 mIoU), twice the inference; --no-tta: the "
                        "plain network. Default: --tta for photos; for video and cameras "
                        "+alt, the same masks on still scenes for one inference a frame")
    p.add_argument("--benchmark", action="store_true",
                   help="time the pipeline instead (like `livebg bench`: a typed --model "
                        "is timed as named, unet = one plain pass)")
    p.add_argument("--frames", type=number(int, 1, MAX_FRAMES), default=300,
                   help="--benchmark: frames to measure")
    return p


def parse_args_given(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)`` plus ``given``: the options the user typed.

    ``--camera 0`` or ``--bg blur`` equal the defaults yet must still beat the window's saved
    settings, so what was given cannot be told from the values.
    """
    defaults = vars(parser.parse_args([]))
    # argparse fills in a default only where the namespace lacks the attribute.
    args = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(defaults, _UNSET)))
    given = frozenset(name for name, value in vars(args).items() if value is not _UNSET)
    for name, value in defaults.items():
        if name not in given:
            setattr(args, name, value)
    args.given = given
    return args


def given_config_fields(args: argparse.Namespace) -> frozenset[str]:
    """The options typed on the command line, named as PipelineConfig fields where they differ
    (``--input``/``--camera`` → ``source``, ``--bg`` → ``background``)."""
    return frozenset(_CONFIG_NAMES.get(name, name) for name in getattr(args, "given", ()))


def build_bench_parser() -> _Parser:
    p = _Parser(prog="livebg bench",
                description="Per-stage p50/p99 ms and end-to-end FPS for each model/device. "
                "Without --model it measures what `livebg` runs on video (auto+alt); "
                "models named with --model are measured as named (unet = one plain pass).")
    _add_source_args(p)
    _add_model_args(p, many=True)
    p.add_argument("--frames", type=number(int, 1, MAX_FRAMES), default=300,
                   help="frames measured per combination")
    p.add_argument("--warmup", type=number(int, 0, MAX_FRAMES), default=20,
                   help="frames run first and not measured")
    p.add_argument("--repeat", type=number(int, 1, 1000), default=1, metavar="N",
                   help="run the combinations N times, interleaved (A B A B ...), and print "
                        "each one's median FPS and its speed relative to the first: a "
                        "machine's drift between runs then hits every combination alike")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p


# --------------------------------------------------------------------------- checks
def display_available() -> bool:
    """Whether a window can be shown (Linux needs X11 or Wayland; other systems always can)."""
    if os.environ.get("QT_QPA_PLATFORM", "") in {"offscreen", "minimal"}:
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def check_models(names: Sequence[str], devices: Sequence[str]) -> None:
    """Typos fail before anything slow is opened, listing the valid names."""
    from livebg.segment import DEVICES, available_segmenters, unknown_model_message

    valid = available_segmenters()
    for name in names:
        if split_mirror(name.lower())[0] not in valid:
            raise LivebgError(unknown_model_message(name))
    for device in devices:
        if device.lower() not in DEVICES:
            raise LivebgError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")


def check_cuda(devices: Sequence[str], cuda_fallback: bool) -> None:
    from livebg.segment import cuda_available

    if "cuda" in [d.lower() for d in devices] and not cuda_fallback and not cuda_available():
        raise LivebgError(
            "--device cuda but no CUDA GPU is available: use --device cpu, or add --cuda-fallback"
        )


def check_weights(path: str | None, models: Sequence[str] = ()) -> None:
    if path is None:
        return
    if Path(path).is_dir():
        raise LivebgError(f"--weights {path} is a folder: name the .onnx or .safetensors "
                          "file inside it")
    if not Path(path).is_file():
        raise LivebgError(f"weights file {path} does not exist: check the --weights path")
    for model in models:
        if split_mirror(model.lower())[0] == "mediapipe":
            raise LivebgError("--weights are U-Net weights but --model is mediapipe (which "
                              "has its own): drop --weights, or use --model unet")


def is_transparent(spec: str) -> bool:
    return spec.strip().lower() == "transparent"


def check_background(spec: str, *, video: bool, output: Path | None = None) -> None:
    """``transparent`` on video needs an output that keeps alpha (``ALPHA_EXTENSIONS``)."""
    from livebg.composite import parse_background

    parse_background(spec)
    if video and is_transparent(spec) and (
            output is None or output.suffix.lower() not in ALPHA_EXTENSIONS):
        kinds = " or ".join(ALPHA_EXTENSIONS)
        raise LivebgError(f"--bg transparent on video needs --output with alpha: a {kinds} "
                          "file (VP9 with alpha, ProRes 4444); or use a colour")


def resolve_video_output(output: str, input_path: Path | None, *, alpha: bool = False) -> Path:
    """A video file path to write; a folder becomes ``<folder>/<input name>.mp4`` (``.webm``
    with ``alpha``)."""
    out = Path(output)
    if out.is_dir():
        check_writable_folder(out, "output")
        return out / f"{input_path.stem if input_path else 'livebg'}{'.webm' if alpha else '.mp4'}"
    if out.suffix.lower() not in WRITABLE_VIDEO_EXTENSIONS:
        if out.suffix.lower() in IMAGE_EXTENSIONS:
            raise LivebgError(f"output {out} is a photo name but the input is a video: use .mp4")
        kinds = " ".join(WRITABLE_VIDEO_EXTENSIONS)
        raise LivebgError(
            f"output {out} has unsupported type {out.suffix or '(none)'}: use one of {kinds}")
    check_writable_folder(out.parent, "output")  # "x.mp4".parent is "."
    return out


# --------------------------------------------------------------------------- commands
def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    ensure_std_streams()
    quiet_cv2()  # before any module opens a file: FFmpeg's own messages are not ours to print
    try:
        with stop_on_signals():  # SIGTERM/SIGHUP finish like Ctrl-C: outputs finalised
            return _dispatch(args_list)
    except LivebgError as exc:
        print(f"livebg: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        note("interrupted")
        return exit_code(exc)
    except BrokenPipeError:  # e.g. `livebg ... | head`: the reader left; nothing to report
        silence_stdout()
        return 128 + 13  # SIGPIPE's code, as a shell tool would end
    except Exception as exc:  # a bug, not a user mistake: still one line unless --verbose
        if log.isEnabledFor(logging.INFO):
            raise
        print(f"livebg: error: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --verbose for the traceback, and please report it)", file=sys.stderr)
        return 1


def _dispatch(args_list: list[str]) -> int:
    if args_list[:1] == ["bench"]:
        return run_bench_command(parse_args_given(build_bench_parser(), args_list[1:]))
    if args_list[:1] == ["doctor"]:
        from livebg.doctor import doctor_main

        return doctor_main(args_list[1:])
    args = parse_args_given(build_parser(), args_list)
    _setup_logging(args.verbose)
    if args.version:
        print(f"livebg {__version__}\n{WEIGHTS_LICENCE}")
        return 0
    if args.list_cameras:
        return list_cameras_command()
    if args.benchmark:
        return run_bench_command(args)
    return run_command(args)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s" if not verbose else "%(asctime)s %(name)s: %(message)s",
    )


def _source_spec(args: argparse.Namespace) -> str | int:
    if args.camera is not None:
        return args.camera
    if args.input is not None:
        return args.input
    return 0


def run_bench_command(args: argparse.Namespace) -> int:
    from livebg.bench import BenchPlan, bench_main

    _setup_logging(args.verbose)
    models = args.model if isinstance(args.model, list) else [args.model]
    devices = args.device if isinstance(args.device, list) else [args.device]
    # untyped, the app's video default; typed names as named, so one run compares them all
    video_default = "" if "model" in getattr(args, "given", {"model"}) else ALT_SUFFIX
    models = [with_tta(m, getattr(args, "tta", None), default=video_default) for m in models]
    check_models(models, devices)
    check_cuda(devices, args.cuda_fallback)
    check_weights(args.weights, models)
    check_background(args.bg, video=True)
    json_path = Path(args.json) if getattr(args, "json", None) else None
    if json_path is not None:
        check_writable_folder(json_path.parent, "--json")
        refuse_overwrite(json_path, [args.input, background_file(args.bg), args.weights],
                         "--json")
    repeat = getattr(args, "repeat", 1)
    source = _source_spec(args) if args.input or args.camera is not None else _default_source()
    if isinstance(source, str):
        check_video_path(Path(source))
    overrides = _config_overrides(args)
    plan = BenchPlan(source, models, devices, frames=args.frames,
                     warmup=max(0, getattr(args, "warmup", 20)), background=args.bg,
                     config_overrides=overrides, repeat=repeat)
    return bench_main(plan, json_path)


def _config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """PipelineConfig fields that come straight from shared flags."""
    shared = (*CAMERA_FIELDS, "weights", "cuda_fallback", "blur_strength", "feather")
    return pick_fields(args, shared)


def run_command(args: argparse.Namespace) -> int:
    check_models([args.model], [args.device])
    check_weights(args.weights, [args.model])
    if args.input is not None:
        path = Path(args.input)
        if not path.exists():
            raise LivebgError(f"input {path} does not exist: check the path, or use --camera N")
        if path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS:
            args.model = with_tta(args.model, args.tta, default=TTA_SUFFIX)
            if args.model.endswith(ALT_SUFFIX):
                # +alt averages across a clip's frames: a photo is one frame of its own
                args.model = args.model[: -len(ALT_SUFFIX)] + TTA_SUFFIX
                note(f"photos: {ALT_SUFFIX} averages across video frames; each photo gets "
                     f"{TTA_SUFFIX} (both passes) instead")
            return run_stills(args, path)
        check_video_path(path)
        warn_camera_options(args)
    args.model = with_tta(args.model, args.tta, default=ALT_SUFFIX)
    check_cuda([args.device], args.cuda_fallback)
    alpha = is_transparent(args.bg) and not args.mask_only
    output = (resolve_video_output(args.output, _input_path(args), alpha=alpha)
              if args.output else None)
    check_background(args.bg, video=not args.mask_only, output=output)
    if output is not None:
        check_quality(video_format(output, alpha=alpha), args.quality)
        refuse_overwrite(output, [args.input, background_file(args.bg), args.weights])
    if args.virtual_cam and args.no_window and output is None:
        _check_virtual_cam_exists()
    return run_video(args, output)


def background_file(spec: str) -> Path | None:
    """The file a --bg spec reads (a path, or a bundled background by name), or None."""
    from livebg.composite import parse_background

    try:
        return getattr(parse_background(spec), "path", None)
    except LivebgError:
        return None


def _check_virtual_cam_exists() -> None:
    """Headless with only a virtual camera to feed: no device means nothing to do at all."""
    from livebg.sinks.virtualcam import VirtualCamUnavailable, probe_virtual_cam

    try:
        probe_virtual_cam()
    except VirtualCamUnavailable as exc:
        raise LivebgError(f"--virtual-cam with --no-window and no --output, but {exc}; "
                          "or add --output out.mp4") from None


def warn_camera_options(args: argparse.Namespace) -> None:
    """One line for camera-only options given with a file input (they would do nothing)."""
    typed = [f"--{name}" for name in ("width", "height", "fps", "mjpg")
             if name in getattr(args, "given", ())]
    if typed:
        note(f"{', '.join(typed)} {'applies' if len(typed) == 1 else 'apply'} to cameras "
             f"only: ignored for the file {args.input}")


def list_cameras_command() -> int:
    """``--list-cameras``: index and name of each camera (stdout), or one line saying none."""
    from livebg.capture import list_cameras

    cameras = list_cameras()
    if not cameras:
        note("no cameras found" + (" (/sys/class/video4linux lists none)"
                                   if sys.platform.startswith("linux") else ""))
        return 0
    for index, name in cameras:
        print(f"{index}	{name}")
    return 0


def with_tta(model: str, tta: bool | None, *, default: str) -> str:
    """The model name with the mirror averaging asked for (``livebg.segment.mirror``):
    ``--tta`` → ``+tta``, ``--no-tta`` → none, neither → the name's own suffix or else
    ``default`` (``+tta``, ``+alt`` or ""). A suffix the flag contradicts is an error."""
    base, named = split_mirror(model.lower())
    wanted = named or default if tta is None else TTA_SUFFIX if tta else ""
    if named and named != wanted:
        flag = "--tta" if tta else "--no-tta"
        raise LivebgError(f"--model {model} asks for its own mirror averaging ({named}) but "
                          f"{flag} says otherwise: drop one of them")
    return base + wanted


def _input_path(args: argparse.Namespace) -> Path | None:
    return Path(args.input) if args.input else None


def run_stills(args: argparse.Namespace, source: Path) -> int:
    from livebg.pipeline import load_segmenter_with_fallback
    from livebg.stills import StillJob, plan_outputs, process_stills

    warn_camera_options(args)
    if args.output is None:
        raise LivebgError("photos need --output: a folder (or a file name for one photo)")
    job = StillJob(background=args.bg, mask_only=args.mask_only,
                   blur_strength=args.blur_strength, feather=args.feather)
    if not job.mask_only:
        check_background(args.bg, video=False)
    out = Path(args.output)
    check_writable_folder(out if out.is_dir() or source.is_dir() else out.parent, "output")
    pairs = plan_outputs(source, out, job)
    # every photo of the folder, not only this job's: a.jpg may be written as a.png
    read = ReadFiles([*(src for src, _ in pairs), *_folder_files(source),
                      background_file(args.bg), args.weights])
    for _, dst in pairs:
        refuse_overwrite(dst, read)
    check_cuda([args.device], args.cuda_fallback)
    segmenter = load_segmenter_with_fallback(
        args.model, args.device, args.weights, cuda_fallback=args.cuda_fallback, photos=True
    )
    try:
        written = process_stills(pairs, segmenter, job, progress=_progress(len(pairs), "photos"))
    finally:
        segmenter.close()
    target = out if out.is_dir() else written[0]
    note(f"wrote {len(written)} image(s) to {target}")
    return 0


def _folder_files(source: Path) -> list[Path]:
    return [p for p in source.iterdir() if p.is_file()] if source.is_dir() else []


def _progress(total: int | None, unit: str) -> Any:
    """A tqdm-updating callback (shown only on a terminal and when the total is known)."""
    if not total:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit[:-1], disable=None, leave=False, file=sys.stderr)

    def step(*_: Any) -> None:
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return step


def _open_video_source(args: argparse.Namespace, realtime: bool) -> Any:
    """The source asked for; with neither --input nor --camera: camera 0, else the sample clip."""
    kwargs = pick_fields(args, CAMERA_FIELDS)
    if args.input is not None or args.camera is not None:
        return open_source(_source_spec(args), realtime=realtime, loop=args.loop, **kwargs)
    try:
        return open_source(0, **kwargs)
    except LivebgError:
        return open_source(_sample_fallback(), realtime=realtime, loop=args.loop)


def _sample_fallback() -> str:
    clip = sample_clip()
    note(f"no camera found: playing the bundled sample clip {clip} (use --input or --camera)")
    return str(clip)


def _default_source() -> str | int:
    """Camera 0 if it opens, else the bundled sample clip (with a note)."""
    try:
        open_source(0).close()
        return 0
    except LivebgError:
        return _sample_fallback()


def _pipeline_config(args: argparse.Namespace, source: Any, realtime: bool) -> Any:
    from livebg.pipeline import PipelineConfig

    spec = getattr(source, "path", None) or getattr(source, "index", 0)
    same_named = ("loop", "model", "device", "smoothing", "mirror", "mask_only", "max_frames")
    return PipelineConfig(
        source=str(spec) if isinstance(spec, Path) else spec,
        realtime=realtime,
        background=args.bg,
        **pick_fields(args, same_named),
        **_config_overrides(args),
    )


def _make_sinks(args: argparse.Namespace, output: Path | None, source: Any) -> list[Any]:
    from livebg.sinks import create_sink

    sinks: list[Any] = []
    width, height = source.size
    try:
        if output is not None:
            sinks.append(create_sink("file", path=output, fps=source.fps, size=source.size,
                                     alpha=is_transparent(args.bg) and not args.mask_only,
                                     quality=args.quality, audio_from=_sound_source(args, source)))
        if args.virtual_cam:
            from livebg.sinks.virtualcam import VirtualCamUnavailable

            try:
                sinks.append(create_sink("virtualcam", width=width, height=height, fps=source.fps))
            except VirtualCamUnavailable as exc:
                note(f"virtual camera unavailable: {exc}")
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def _sound_source(args: argparse.Namespace, source: Any) -> Path | None:
    """The input file whose sound the output keeps: only when every input frame is written
    once (a file job that is not played in real time and not looped), so the clocks agree."""
    path = getattr(source, "path", None)
    if path is None or getattr(source, "realtime", True) or args.loop:
        return None
    return Path(path)


def run_video(args: argparse.Namespace, output: Path | None) -> int:
    from livebg.pipeline import Pipeline

    window = not args.no_window
    if window and not display_available():
        note("no display found: running headless (add --no-window to skip this check)")
        window = False
    if window and is_transparent(args.bg) and not args.mask_only:
        note("the window cannot show transparency: writing the alpha video headless")
        window = False
    # Files play at their own pace when someone watches; an --output-only job runs flat out.
    realtime = args.realtime or window or args.virtual_cam or output is None
    source = _open_video_source(args, realtime)
    config = _pipeline_config(args, source, realtime)
    if window:
        try:
            sinks = _make_sinks(args, output, source)
        except BaseException:
            source.close()
            raise
        return _run_window(config, source, sinks, given_config_fields(args))
    total = _expected_frames(source, args.max_frames)
    pipe = Pipeline(config, source=source, on_frame=_progress(total, "frames"))
    # Model and compositor first: a bad --weights or --feather leaves no half-made output file.
    with pipe.open():
        made = _make_sinks(args, output, source)
        for sink in made:
            pipe.add_sink(sink)
        if not pipe.sinks:
            why = "the virtual camera is unavailable" if args.virtual_cam else "no --output"
            note(f"{why} and no window: processing without writing anything")
        try:
            stats = pipe.run()
        except LivebgError as exc:
            raise LivebgError(f"{exc}{_what_was_kept(made, output)}") from None
    if pipe.interrupted:
        where = f": {output} holds them" if output and output.exists() else ""
        note(f"stopped after {pipe.frames_written} frames{where}")
        return exit_code()
    where = f" to {output}" if output else ""
    note(f"wrote {pipe.frames_written} frames{where} ({stats.fps:.1f} fps)")
    return 0


def _what_was_kept(sinks: list[Any], output: Path | None) -> str:
    """After a failed run: whether the --output video was finished with the frames so far."""
    files = [s for s in sinks if getattr(s, "committed", False)]
    if output is None or not files:
        return ""
    return f" ({output} was finished with the {files[0].frames} frames written before)"


def _expected_frames(source: Any, max_frames: int | None) -> int | None:
    count = getattr(source, "frame_count", None)
    if count is None:
        return max_frames
    return min(count, max_frames) if max_frames else count


def _run_window(config: Any, source: Any, sinks: list[Any], given: frozenset[str]) -> int:
    """Hand over to the desktop app (livebg.gui): it builds its own Pipeline from ``config``
    and carries ``sinks`` (--output, --virtual-cam) along; they are closed here once it ends.
    ``given`` (options typed) beat the window's saved settings; so does --virtual-cam, which
    the window retries and, with no device, answers with the setup hint by its toggle."""
    source.close()  # checked that it opens; the GUI's pipeline opens it again itself
    from livebg.gui import run_app
    from livebg.gui.settings import settings_path

    if settings_path().is_file():
        note(f"window settings from {settings_path()}: options typed here win over them "
             "(Settings > Reset to defaults in the window)")

    try:
        return int(run_app(config, sinks=sinks, given=given) or 0)
    finally:
        for sink in sinks:
            sink.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
