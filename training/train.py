"""Train livebg's portrait segmentation model.

    python -m training.train --data ../shared/data/portraits/train \
        --val ../shared/data/portraits/val --epochs 20 --out runs/lite0

Several sources mix with a sampling weight each (``ROOT=WEIGHT``), pseudo-labelled roots
(``training.pseudolabel``) included, plus synthetic group photos (``--composites``); each
validation root is scored on its own and the best epoch is chosen by their mean:

    python -m training.train --data ../shared/data/portraits/train=1 \
        ../shared/data/realworld/train=1 runs/pseudo=1 --composites 1 --epoch-size 2000 \
        --val ../shared/data/portraits/val ../shared/data/realworld/val \
        --init livebg/assets/unet.safetensors

``--objects P`` pastes made objects beside and in front of the people (labelled
background), ``--close-ups P`` crops a single-person sample to the head running off the
top edge (someone leaning into the camera, ``training.closeup``), ``--stability W`` makes
each mask agree with the next frame's (a few pixels moved, sensor noise).

Reads top to bottom: config → data → model → optimiser → loop (train, validate,
checkpoint, log, plot). Checkpoints carry their full config and resume exactly.
"""

from __future__ import annotations

import argparse
import copy
import csv
import fnmatch
import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, DataLoader
from tqdm import tqdm

from livebg.model import (
    ARCHITECTURES,
    DECODER_BLOCKS,
    REFINERS,
    ModelConfig,
    build_model,
    load_pretrained_encoder,
    output_logits,
    refined_probability,
)
from training.data import (
    CompositeDataset,
    MixedSampler,
    PortraitDataset,
    eval_resize,
    find_pairs,
    load_backgrounds,
    object_textures,
    parse_weighted,
    train_augment,
)
from training.export import load_checkpoint
from training.losses import (
    REGION_LOSSES,
    distillation_loss,
    next_frame,
    segmentation_loss,
    stability_loss,
)
from training.metrics import MetricAccumulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", nargs="+", required=True,
                   help="roots holding images/ + masks/ (+ weights/ for pseudo-labels), each "
                        "ROOT or ROOT=WEIGHT: its share of the samples drawn each epoch")
    p.add_argument("--val", nargs="+", default=None,
                   help="validation roots (images/ + masks/), scored one by one; the best "
                        "epoch has the highest mean mIoU over them")
    p.add_argument("--composites", type=float, default=0.0, metavar="WEIGHT",
                   help="sampling weight of synthetic group photos: 1-4 people cut out of the "
                        "hard-labelled roots pasted onto --bg-dir photos or person-free crops "
                        "(0 = none)")
    p.add_argument("--recolour", type=float, default=0.0, metavar="P",
                   help="probability of a brightness/hue/saturation/contrast change inside "
                        "the person only (labelled photos; composites always 0.7)")
    p.add_argument("--objects", type=float, default=0.0, metavar="P",
                   help="probability of 1-2 made objects (scene texture or flat colour, random "
                        "outline) pasted beside or in front of the person in a sample: "
                        "things next to a person are background")
    p.add_argument("--close-ups", type=float, default=0.0, metavar="P",
                   help="probability of a close-up of a single-person sample: the head "
                        "filling the frame and cut by its top edge (training.closeup)")
    p.add_argument("--epoch-size", type=int, default=0,
                   help="samples drawn per epoch from the weighted mix (0 = the sources' "
                        "total size)")
    p.add_argument("--out", default="runs/latest", help="folder for checkpoints, logs, curves")
    p.add_argument("--arch", default="unet", choices=ARCHITECTURES)
    p.add_argument("--encoder", default="tu-efficientnet_lite0")
    p.add_argument("--decoder-channels", type=int, nargs="+", default=[32, 24, 16, 12, 8],
                   help="one width per decoder block (as many as --encoder-depth; with "
                        "--output-stride 2 the last, full-resolution block is dropped)")
    p.add_argument("--encoder-depth", type=int, default=5, choices=[3, 4, 5],
                   help="encoder stages used; inputs must be multiples of 2**depth")
    p.add_argument("--decoder-block", default="conv", choices=DECODER_BLOCKS,
                   help="separable: depthwise + pointwise convolutions (~30%% faster on a CPU)")
    p.add_argument("--output-stride", type=int, default=1, choices=[1, 2],
                   help="2: the decoder stops at half resolution (faster on a CPU)")
    p.add_argument("--refine", default="none", choices=REFINERS,
                   help="guided, guided-colour: train through the deployed graph's "
                        "guided-filter refinement (the loss sees the refined, full-resolution "
                        "probability)")
    p.add_argument("--no-pretrained", action="store_true", help="random encoder init")
    p.add_argument("--height", type=int, default=256,
                   help="training crop height (a multiple of 2**depth)")
    p.add_argument("--width", type=int, default=192,
                   help="training crop width (a multiple of 2**depth)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--encoder-lr-scale", type=float, default=0.3,
                   help="pretrained encoder learns slower than the fresh decoder")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--edge-weight", type=float, default=4.0)
    p.add_argument("--region-loss", default="iou", choices=REGION_LOSSES,
                   help="lovasz: the Lovász hinge, IoU of the thresholded mask (fine-tuning)")
    p.add_argument("--stability", type=float, default=0.0, metavar="WEIGHT",
                   help="weight of a loss that makes half of each batch's masks agree with "
                        "those of the same crops a few pixels moved, with sensor noise and an "
                        "exposure change (a webcam's next frame): less live flicker; costs "
                        "~1.5x per step")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="validate, keep and export an exponential moving average of the "
                        "weights (e.g. 0.998; 0 = off)")
    p.add_argument("--bg-dir", default=None, help="photos to paste people onto (optional)")
    p.add_argument("--paste-prob", type=float, default=0.0)
    p.add_argument("--degrade", type=float, default=1.0,
                   help="scale the probabilities of the low-light, overexposure, grey, blur, "
                        "noise and JPEG augmentations (0 = framing and colour jitter only)")
    p.add_argument("--framing", type=float, default=1.0,
                   help="scale the ranges of the zoom, shift, rotation and crop augmentations "
                        "(0 = the whole picture, as photos are segmented; at most 1.5)")
    p.add_argument("--cache-long-side", type=int, default=384)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps-per-epoch", type=int, default=0, help="0 = full epoch (tests)")
    p.add_argument("--resume", default=None, help="checkpoint to continue from (e.g. OUT/last.pt)")
    p.add_argument("--init", default=None,
                   help="start from this checkpoint's weights with a fresh optimiser and schedule "
                        "(fine-tuning)")
    p.add_argument("--teacher", default=None, metavar="CKPT",
                   help="distil from this (larger) checkpoint's probabilities as well")
    p.add_argument("--teacher-flip", action="store_true",
                   help="the teacher's probabilities averaged with those of the mirrored crop "
                        "(flip test-time augmentation: a better teacher at no cost at run time)")
    p.add_argument("--distill-weight", type=float, default=1.0,
                   help="weight of the distillation term (with --teacher)")
    p.add_argument("--only", default=None, metavar="GLOB",
                   help="train only on pairs whose stem matches, e.g. 'eg_*'")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def normalise(images: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    mean = torch.tensor(cfg.mean, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(cfg.std, device=images.device).view(1, 3, 1, 1) * 255
    return (images.float() - mean) / std


def deployed_logits(model: torch.nn.Module, inputs: torch.Tensor, images: torch.Tensor,
                    cfg: ModelConfig) -> torch.Tensor:
    """Logits at the crop's resolution, as the deployed graph will see them: with
    ``cfg.refine`` the network's probability refined by the guided filter on the crop's
    green channel or colours (``livebg.model.refined_probability``, as ``deployable`` does),
    so the network learns what the filter does with its output. ``inputs``: the normalised
    crops; ``images``: the same crops, RGB 0..255, N×3×H×W (the filter's guide)."""
    if cfg.refine == "none":
        return model(inputs)
    # fp32 even under autocast: logit() of an fp16 probability near 1 is infinite
    low = output_logits(model, inputs, cfg).float()
    return torch.logit(refined_probability(low, images, cfg), eps=1e-4)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * model, batch-norm statistics included (integer
    buffers such as num_batches_tracked are copied)."""
    for averaged, current in zip(ema.state_dict().values(), model.state_dict().values()):
        if averaged.is_floating_point():
            averaged.lerp_(current, 1 - decay)
        else:
            averaged.copy_(current)


def init_from(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> str:
    """Copy every tensor whose name and shape match, so a smaller variant (e.g. fewer
    encoder stages, another decoder) starts from a trained model's encoder."""
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise SystemExit("--init checkpoint shares no tensor with this model")
    model.load_state_dict(usable, strict=False)
    return f"{len(usable)}/{len(own)} tensors copied"


def load_init(path: str, device: torch.device) -> dict:
    """Weights to start from: a training checkpoint, or the app's ``unet.safetensors``
    (fp16 weights + config, as ``training.export`` writes them), widened to fp32."""
    if not path.endswith(".safetensors"):
        return torch.load(path, map_location=device, weights_only=True)
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(path).items()}
    return {"model": state, "epoch": meta.get("epoch", "?")}


@torch.no_grad()
def predict_padded(model: torch.nn.Module, inputs: torch.Tensor, multiple: int,
                   flip: bool = False) -> torch.Tensor:
    """Probabilities of a model whose stride the crop size may not fit (a teacher):
    pad by edge replication to its multiple, run, cut the padding off again. With ``flip``,
    averaged with the mirrored crop's probabilities mirrored back."""
    h, w = inputs.shape[-2:]
    padded = F.pad(inputs, (0, -w % multiple, 0, -h % multiple), mode="replicate")
    probs = torch.sigmoid(model(padded).float())[..., :h, :w]
    if flip:
        mirrored = predict_padded(model, inputs.flip(-1), multiple)
        probs = (probs + mirrored.flip(-1)) / 2
    return probs


def lr_factor(step: int, total: int, args: argparse.Namespace) -> float:
    if step < args.warmup_steps:
        return (step + 1) / args.warmup_steps
    if args.schedule == "constant":
        return 1.0
    progress = (step - args.warmup_steps) / max(1, total - args.warmup_steps)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def validate(model, loader, cfg: ModelConfig, device: torch.device) -> dict[str, float]:
    was_training = model.training
    model.eval()
    acc = MetricAccumulator()
    for images, masks, _ in loader:
        images = images.to(device)
        logits = deployed_logits(model, normalise(images, cfg), images, cfg)
        preds = (logits > 0).cpu().numpy()[:, 0]
        for pred, mask in zip(preds, masks.numpy()[:, 0]):
            acc.add(pred, mask > 0.5)
    model.train(was_training)
    return acc.summary()


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], marker="o")
    ax1.set(title="training loss", xlabel="epoch", ylabel="BCE(edge-weighted) + IoU loss")
    sets = list(dict.fromkeys(k for h in history for k in h.get("val_sets", {})))
    if sets:  # several validation sets: each one's mIoU, the mean chooses the best epoch
        for root in sets:
            ax2.plot(epochs, [h.get("val_sets", {}).get(root, {}).get("miou", np.nan)
                              for h in history], marker="o", label=f"{root} mIoU")
        ax2.plot(epochs, [h.get("val_miou", np.nan) for h in history], "k--", label="mean")
        ax2.legend(fontsize=7)
    elif any("val_miou" in h for h in history):
        ax2.plot(epochs, [h.get("val_miou", np.nan) for h in history], marker="o", label="mIoU")
        ax2.plot(epochs, [h.get("val_boundary_f", np.nan) for h in history], marker="s",
                 label="boundary F")
        ax2.legend()
    ax2.set(title="validation", xlabel="epoch", ylabel="%")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")

    # --- data -------------------------------------------------------------------------
    progress = not args.no_progress
    if not 0 <= args.degrade <= 3:  # 3 × the largest base probability (0.3) is 0.9
        raise SystemExit(f"--degrade {args.degrade} must be between 0 and 3")
    if not 0 <= args.framing <= 1.5:  # beyond, the zoom-out and crop ranges reach zero
        raise SystemExit(f"--framing {args.framing} must be between 0 and 1.5")
    for flag, odds in (("--close-ups", args.close_ups), ("--objects", args.objects),
                       ("--recolour", args.recolour)):
        if not 0 <= odds <= 1:
            raise SystemExit(f"{flag} {odds} is a probability: give a number from 0 to 1")
    backgrounds = load_backgrounds(args.bg_dir)
    augment = train_augment(args.height, args.width, args.degrade, args.framing)
    sources, names, weights = [], [], []
    for spec in args.data:
        root, weight = parse_weighted(spec)
        pairs = find_pairs([root])
        if args.only:
            pairs = [p for p in pairs if fnmatch.fnmatch(p.image.stem, args.only)]
            if not pairs:
                continue
        sources.append(PortraitDataset(pairs, augment, args.cache_long_side, backgrounds,
                                       args.paste_prob, progress, args.recolour,
                                       close_ups=args.close_ups))
        names.append(root)
        weights.append(weight)
    if not sources:
        raise SystemExit(f"--only {args.only!r} matches no pair under {args.data}")
    labelled_size = sum(len(s) for s in sources)  # composites have no size of their own
    # the hard-labelled people (a {0,1} copy of every mask) only when something cuts them out
    people = ([p for source in sources for p in source.hard_masks()]
              if args.objects or args.composites else [])
    if args.objects:
        textures = object_textures(backgrounds, people, seed=args.seed)
        for source in sources:
            source.objects, source.textures = args.objects, textures
    else:
        textures = []
    if args.composites:
        sources.append(CompositeDataset(people, backgrounds, augment,
                                        length=max(1000, args.epoch_size),
                                        objects=args.objects, textures=textures))
        names.append("composites")
        weights.append(args.composites)
    train_set = ConcatDataset(sources)
    sampler = MixedSampler([len(s) for s in sources], weights,
                           args.epoch_size or labelled_size, seed=args.seed)
    print("training mix: " + ", ".join(f"{n} ({len(s)} samples, weight {w:g})"
                                       for n, s, w in zip(names, sources, weights)))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler,
                              drop_last=len(sampler) > args.batch_size,
                              num_workers=args.workers, persistent_workers=args.workers > 0,
                              pin_memory=use_cuda,
                              worker_init_fn=lambda i: np.random.seed(args.seed * 100 + i))
    val_loaders = {}
    for root in args.val or []:
        val_set = PortraitDataset(find_pairs([root]), eval_resize(args.height, args.width),
                                  args.cache_long_side, progress=progress)
        val_loaders[root] = DataLoader(val_set, batch_size=32, num_workers=0)

    # --- model and optimiser ----------------------------------------------------------
    cfg = ModelConfig(arch=args.arch, encoder=args.encoder,
                      decoder_channels=list(args.decoder_channels),
                      encoder_depth=args.encoder_depth, output_stride=args.output_stride,
                      decoder_block=args.decoder_block, refine=args.refine)
    if args.arch == "unet" and len(cfg.decoder_channels) != cfg.encoder_depth:
        raise SystemExit(f"--decoder-channels needs {cfg.encoder_depth} widths "
                         f"(--encoder-depth), got {len(cfg.decoder_channels)}")
    if args.height % cfg.input_multiple or args.width % cfg.input_multiple:
        raise SystemExit(f"--height/--width must be multiples of {cfg.input_multiple}")
    model = build_model(cfg).to(device)
    if args.init:
        init = load_init(args.init, device)
        print(f"initialised from {args.init} (epoch {init['epoch']}): "
              f"{init_from(model, init['model'])}")
    elif not args.no_pretrained and not args.resume:
        print(f"pretrained encoder: {load_pretrained_encoder(model, cfg)} tensors from ImageNet")
    teacher = None
    if args.teacher:
        teacher, teacher_cfg, teacher_ckpt = load_checkpoint(args.teacher)
        teacher.to(device).requires_grad_(False)
        teacher_multiple = teacher_cfg.input_multiple
        print(f"distilling from {args.teacher} (epoch {teacher_ckpt['epoch']})")
    encoder_params = list(model.encoder.parameters())
    encoder_ids = {id(p) for p in encoder_params}
    other_params = [p for p in model.parameters() if id(p) not in encoder_ids]
    encoder_lr = args.lr * (args.encoder_lr_scale if not args.no_pretrained else 1.0)
    optimizer = torch.optim.AdamW([{"params": encoder_params, "lr": encoder_lr},
                                   {"params": other_params, "lr": args.lr}],
                                  weight_decay=args.weight_decay)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    scaler = torch.amp.GradScaler("cuda", enabled=use_cuda)
    steps_per_epoch = len(train_loader)
    if args.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, args.max_steps_per_epoch)
    total_steps = steps_per_epoch * args.epochs

    start_epoch, step, best, history = 1, 0, -1.0, []
    if args.resume:
        ckpt = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        sampler.rng = np.random.default_rng([args.seed, ckpt["epoch"]])
        optimizer.load_state_dict(ckpt["optimizer"])
        start_epoch, step = ckpt["epoch"] + 1, ckpt["step"]
        best, history = ckpt["best_miou"], ckpt["history"]
        print(f"resumed from {args.resume} at epoch {ckpt['epoch']}")

    # The averaged weights are the ones validated, kept and exported ("model"); the raw
    # ones ("trained_model") only matter for --resume.
    ema = None
    if args.ema:
        ema = copy.deepcopy(model)
        if args.resume and "trained_model" in ckpt:
            model.load_state_dict(ckpt["trained_model"])
        ema.requires_grad_(False).eval()
    kept = ema if ema is not None else model

    def save(path: Path, epoch: int) -> None:
        extra = {"trained_model": model.state_dict()} if ema is not None else {}
        torch.save({"model": kept.state_dict(), **extra, "optimizer": optimizer.state_dict(),
                    "model_config": asdict(cfg), "train_args": vars(args), "epoch": epoch,
                    "step": step, "best_miou": best, "history": history}, path)

    # --- training loop ----------------------------------------------------------------
    model.train()
    generator = torch.Generator().manual_seed(args.seed)  # the stability loss's next frames
    for epoch in range(start_epoch, args.epochs + 1):
        t0, losses = time.time(), []
        bar = tqdm(train_loader, total=steps_per_epoch, desc=f"epoch {epoch}/{args.epochs}",
                   disable=not progress)
        for i, (images, masks, pixel_weights) in enumerate(bar):
            if i >= steps_per_epoch:
                break
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * lr_factor(step, total_steps, args)
            images, masks = images.to(device, non_blocking=True), masks.to(device)
            pixel_weights = pixel_weights.to(device)
            size, half = images.shape[0], images.shape[0] // 2
            paired = args.stability > 0 and half > 0  # a batch of one has no pair to make
            if paired:  # the first half's next frames join the batch
                frames, dx, dy = next_frame(images[:half], generator)
                images = torch.cat([images, frames])
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_cuda):
                inputs = normalise(images, cfg)
                logits = deployed_logits(model, inputs, images, cfg)
                if paired:
                    logits, next_logits = logits[:size], logits[size:]
                    inputs = inputs[:size]
                if teacher is not None:
                    teacher_probs = predict_padded(teacher, inputs, teacher_multiple,
                                                   args.teacher_flip)
            loss, parts = segmentation_loss(logits.float(), masks, args.edge_weight,
                                            args.region_loss, pixel_weights)
            if teacher is not None:
                distill = distillation_loss(logits.float(), teacher_probs)
                loss = loss + args.distill_weight * distill
                parts["distill"] = distill.item()
            if paired:
                stable = stability_loss(logits[:half], next_logits, dx, dy)
                loss = loss + args.stability * stable
                parts["stability"] = stable.item()
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if ema is not None:
                update_ema(ema, model, args.ema)
            step += 1
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}",
                            **{k: f"{v:.3f}" for k, v in parts.items()})

        record = {"epoch": epoch, "step": step, "train_loss": float(np.mean(losses)),
                  "lr": optimizer.param_groups[1]["lr"], "seconds": time.time() - t0,
                  "mix": dict(zip(names, sampler.counts))}
        if val_loaders:
            per_root = {root: validate(kept, loader, cfg, device)
                        for root, loader in val_loaders.items()}
            for key in ("miou", "boundary_f"):
                record[f"val_{key}"] = float(np.mean([s[key] for s in per_root.values()]))
            if len(per_root) > 1:
                record["val_sets"] = {root: {k: s[k] for k in ("miou", "boundary_f")}
                                      for root, s in per_root.items()}
        history.append(record)
        score = record.get("val_miou", -record["train_loss"])
        if score > best:
            best = score
            save(out / "best.pt", epoch)
        save(out / "last.pt", epoch)
        print(json.dumps(record), flush=True)

        with open(out / "log.csv", "w", newline="") as f:
            fields = list(dict.fromkeys(k for h in history for k in h))  # union, in order
            writer = csv.DictWriter(f, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(history)
        (out / "log.json").write_text(json.dumps(history, indent=1))
        plot_curves(history, out / "curves.png")
    return {"best": best, "history": history, "out": str(out)}


if __name__ == "__main__":
    main()
