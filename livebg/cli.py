"""The ``livebg`` command.

    livebg [--input PATH | --camera N] [--bg SPEC] [--output out.mp4|folder] [--virtual-cam] ...
    livebg bench --input clip.mp4 --model unet mediapipe --device cpu --frames 300 --json b.json

Every user mistake ends as one ``livebg: error: ...`` line on stderr and exit code 2.
Here: the options and the dispatch; ``livebg.cli_checks`` checks what they ask for,
``livebg.jobs`` runs it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from livebg import __version__
from livebg.assets import WEIGHTS_LICENCE, background_names
from livebg.capture import check_video_path
from livebg.cli_checks import (
    background_file,
    check_background,
    check_cuda,
    check_models,
    check_weights,
    config_overrides,
    given_config_fields,
    note,
    source_spec,
    with_tta,
)
from livebg.errors import LivebgError
from livebg.jobs import default_source, run_command
from livebg.limits import MAX_BLUR_STRENGTH, MAX_FEATHER, number
from livebg.quiet import quiet_cv2
from livebg.safeio import ensure_std_streams, refuse_overwrite, silence_stdout
from livebg.segment.mirror import ALT_SUFFIX
from livebg.signals import exit_code, stop_on_signals
from livebg.sinks.file import check_writable_folder

__all__ = ["build_bench_parser", "build_parser", "given_config_fields", "main",
           "parse_args_given"]

log = logging.getLogger("livebg")

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C; SIGTERM 143, SIGHUP 129 (livebg.signals)
MAX_FRAMES = 1_000_000_000
_UNSET = object()


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one line (no usage dump) through LivebgError."""

    def error(self, message: str) -> NoReturn:
        raise LivebgError(f"{message} (see {self.prog} --help)")


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
                   help="segmenter: auto, unet, mediapipe or ensemble (the U-Net, both MediaPipe "
                        "selfie models and, for photos, MediaPipe Pose averaged; slower, better "
                        "on photos). Default auto: "
                        "the U-Net when its weights are installed, for photos the ensemble "
                        "when MediaPipe is installed too; NAME+tta averages each mask with the "
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
    source = source_spec(args) if args.input or args.camera is not None else default_source()
    if isinstance(source, str):
        check_video_path(Path(source))
    overrides = config_overrides(args)
    plan = BenchPlan(source, models, devices, frames=args.frames,
                     warmup=max(0, getattr(args, "warmup", 20)), background=args.bg,
                     config_overrides=overrides, repeat=repeat)
    return bench_main(plan, json_path)


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
