"""Export a training checkpoint for the app.

    python -m training.export runs/lite0_unet/best.pt   # -> livebg/assets/ (the package's)

writes ``unet.onnx`` (fp32, legacy exporter, opset 17, dynamic H/W, uint8 BGR in,
probability out; checked against torch) and ``unet.safetensors`` (fp16 weights and the
model config, loaded by the CUDA path). Nothing is unpickled: checkpoints are read with
``weights_only=True``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from livebg.model import REFINERS, ModelConfig, build_model, deployable


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, ModelConfig, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ModelConfig.from_dict(ckpt["model_config"])
    model = build_model(cfg)
    model.load_state_dict(ckpt["model"])
    return model.eval(), cfg, ckpt


def export_onnx(wrapped: torch.nn.Module, path: Path, cfg: ModelConfig, input_width: int,
                extra_meta: dict[str, str]) -> None:
    import onnx

    dummy = torch.zeros(1, 128, input_width, 3, dtype=torch.uint8)
    torch.onnx.export(wrapped, (dummy,), str(path), input_names=["image"],
                      output_names=["probability"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "n", 1: "h", 2: "w"},
                                    "probability": {0: "n", 2: "h", 3: "w"}})
    model = onnx.load(str(path))
    meta = {"config": cfg.to_json(), "input_width": str(input_width), **extra_meta}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def store_weights_fp16(model) -> None:
    """Halve the file: large fp32 weights are stored as fp16 behind a Cast node.
    ONNX Runtime folds the Cast when the session loads, so inference still runs in fp32."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < 256:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16),
                                       init.name + "_fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
    for node in reversed(casts):
        graph.node.insert(0, node)


def check_onnx(wrapped: torch.nn.Module, path: Path,
               sizes=((128, 224), (256, 192))) -> tuple[float, float]:
    """Largest |ORT - torch| probability difference over random frames of several sizes
    and the share of pixels whose person/background decision (p > 0.5) differs."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst, flips, pixels = 0.0, 0, 0
    for h, w in sizes:
        frame = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
        with torch.no_grad():
            expected = wrapped(torch.from_numpy(frame)).numpy()
        got = session.run(None, {"image": frame})[0]
        worst = max(worst, float(np.abs(expected - got).max()))
        flips += int(((expected > 0.5) != (got > 0.5)).sum())
        pixels += expected.size
    return worst, flips / pixels


def export_safetensors(model: torch.nn.Module, path: Path, cfg: ModelConfig, input_width: int,
                       extra_meta: dict[str, str]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().half().contiguous() if v.is_floating_point() else v.contiguous()
             for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"config": cfg.to_json(),
                                          "input_width": str(input_width), **extra_meta})


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--out", default="livebg/assets",
                   help="folder for unet.onnx and unet.safetensors (default: the package's)")
    p.add_argument("--name", default="unet")
    p.add_argument("--input-width", type=int, default=224,
                   help="default inference width stored in the files (height follows aspect)")
    p.add_argument("--photo-long-side", type=int, default=0,
                   help="photos: the network input's long side, stored as photo_long_side (0 = "
                        "none: photos get --input-width too); photos have no frame rate to "
                        "keep, and people far from the camera need the pixels")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="max |ORT - torch| probability difference of the fp32 graph")
    p.add_argument("--fp32", action="store_true",
                   help="store fp32 weights in the ONNX file (default fp16: half the size)")
    p.add_argument("--refine", choices=REFINERS,
                   help="output refinement in the deployed graph (default: the checkpoint's); "
                        "guided: a guided filter on the input's green channel brings the "
                        "probability to the input's resolution; guided-colour: guided by all "
                        "three channels (+0.2 ms a frame, see assets/MODEL.md)")
    p.add_argument("--refine-radius", type=int,
                   help="guided filter box radius (in the network's output pixels)")
    p.add_argument("--refine-eps", type=float, help="guided filter edge threshold")
    p.add_argument("--refine-gain", type=float,
                   help="steepness of the refined probability around 0.5 (crisper alpha)")
    args = p.parse_args(argv)

    model, cfg, ckpt = load_checkpoint(args.checkpoint)
    for name in ("refine", "refine_radius", "refine_eps", "refine_gain"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"epoch": str(ckpt.get("epoch")), "best_val_miou": f"{ckpt.get('best_miou', 0):.3f}"}
    if args.photo_long_side:
        meta["photo_long_side"] = str(args.photo_long_side)
    wrapped = deployable(model, cfg)
    onnx_path, st_path = out / f"{args.name}.onnx", out / f"{args.name}.safetensors"
    export_onnx(wrapped, onnx_path, cfg, args.input_width, meta)
    exact_diff, _ = check_onnx(wrapped, onnx_path)  # fp32 graph: must match torch
    if exact_diff > args.tolerance:
        raise SystemExit(f"ONNX graph differs from torch by {exact_diff:.2e} (> {args.tolerance})")
    if not args.fp32:
        import onnx

        shrunk = onnx.load(str(onnx_path))
        store_weights_fp16(shrunk)
        onnx.save(shrunk, str(onnx_path))
    diff, flipped = check_onnx(wrapped, onnx_path)
    if diff > 0.02:  # fp16 storage should move probabilities by a few thousandths at most
        raise SystemExit(f"fp16-stored ONNX weights move probabilities by {diff:.3f}: use --fp32")
    export_safetensors(model, st_path, cfg, args.input_width, meta)
    report = {"onnx": str(onnx_path), "onnx_fp32_graph_max_abs_diff": exact_diff,
              "onnx_max_abs_diff": diff, "onnx_mask_pixels_flipped": flipped,
              "onnx_mb": onnx_path.stat().st_size / 1e6, "safetensors": str(st_path),
              "safetensors_mb": st_path.stat().st_size / 1e6,
              "params_m": sum(p.numel() for p in model.parameters()) / 1e6}
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
