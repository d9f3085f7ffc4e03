"""The shipped U-Net for torch inference, without segmentation-models-pytorch or safetensors.

A GPU box often has torch and timm but not smp (training's dependency) or the safetensors
wheel. The deployed network is small: a timm EfficientNet-Lite0 feature encoder, a U-Net
decoder of nearest upsampling + skip concatenation + two convolution blocks per level, and a
3×3 head. ``InferenceUnet`` rebuilds exactly that with the same parameter names as smp's
``Unet`` (``encoder.model.*``, ``decoder.blocks.N.conv1.*``, ``segmentation_head.0.*``), so
``unet.safetensors`` loads into it as it is (``tests/test_gpu_stage.py`` checks the outputs
against smp's model). Other architectures (FPN, DeepLabV3+) still go through
``livebg.model.build_model`` and need smp.

``read_safetensors`` reads the file format itself (an 8-byte little-endian header length, a
JSON header, raw little-endian tensors): a few lines instead of a compiled dependency.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from livebg.model import ModelConfig, _drop_unused_encoder_blocks

_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "BF16": None,
           "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
           "BOOL": np.bool_}


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a .safetensors file, on the CPU."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError("file too short for a safetensors header")
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    meta = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + size :]
    tensors = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {name}: unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return tensors, meta


def _conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    """smp's ``Conv2dReLU`` (3×3, batch norm, ReLU), same parameter names."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class _ConvBlock(nn.Module):
    """smp's ``UnetDecoderBlock`` without attention (smp's default)."""

    def __init__(self, mixed_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(mixed_channels, out_channels)
        self.conv2 = _conv_bn_relu(out_channels, out_channels)

    def forward(self, x: torch.Tensor, height: int, width: int,
                skip: torch.Tensor | None = None) -> torch.Tensor:
        x = nn.functional.interpolate(x, size=(height, width), mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class _Encoder(nn.Module):
    """smp's ``TimmUniversalEncoder`` for a plain CNN: the input, then each stage's features."""

    def __init__(self, name: str, depth: int) -> None:
        super().__init__()
        import timm

        self.model = timm.create_model(name, features_only=True, pretrained=False,
                                       out_indices=tuple(range(depth)))
        self.out_channels = [3, *self.model.feature_info.channels()]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x, *self.model(x)]


class _Decoder(nn.Module):
    def __init__(self, encoder_channels: list[int], decoder_channels: list[int],
                 separable: bool, blocks: int) -> None:
        super().__init__()
        from livebg.model_blocks import SeparableDecoderBlock

        skips = encoder_channels[1:][::-1]
        ins = [skips[0], *decoder_channels[:-1]]
        skip_ch = [*skips[1:], 0]
        block = SeparableDecoderBlock if separable else _ConvBlock
        self.center = nn.Identity()
        self.blocks = nn.ModuleList(block(i + s, o) for i, s, o in
                                    zip(ins[:blocks], skip_ch[:blocks],
                                        decoder_channels[:blocks]))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        shapes = [f.shape[2:] for f in features][::-1]
        feats = features[1:][::-1]
        x, skips = self.center(feats[0]), feats[1:]
        for i, block in enumerate(self.blocks):
            height, width = shapes[i + 1]
            x = block(x, height, width, skips[i] if i < len(skips) else None)
        return x


class InferenceUnet(nn.Module):
    """``livebg.model.build_model(cfg)`` for ``arch="unet"`` with a ``tu-`` (timm) encoder,
    smp-free. At ``output_stride`` 2 the last decoder block is dropped and the head reads the
    one before, as ``build_model`` does; the deployed graph calls ``segmentation_head[0]``
    on ``decoder(encoder(x))`` then (``livebg.model.output_logits``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.encoder = _Encoder(cfg.encoder[len("tu-"):], cfg.encoder_depth)
        channels = list(cfg.decoder_channels)
        blocks = len(channels) - (1 if cfg.output_stride == 2 else 0)
        self.decoder = _Decoder(self.encoder.out_channels, channels,
                                cfg.decoder_block == "separable", blocks)
        head = nn.Conv2d(channels[blocks - 1], 1, 3, padding=1)
        self.segmentation_head = nn.Sequential(
            head, nn.Upsample(scale_factor=2, mode="bilinear") if blocks < len(channels)
            else nn.Identity())
        _drop_unused_encoder_blocks(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.segmentation_head(self.decoder(self.encoder(x)))


def supports(cfg: ModelConfig) -> bool:
    """Whether ``InferenceUnet`` can stand in for smp's model of this config."""
    return (cfg.arch == "unet" and cfg.encoder.startswith("tu-") and cfg.output_stride in (1, 2)
            and cfg.decoder_block in ("conv", "separable"))


def build_network(cfg: ModelConfig) -> nn.Module:
    """The network of ``cfg`` with random weights: smp-free where ``supports(cfg)``."""
    if supports(cfg):
        return InferenceUnet(cfg)
    from livebg.model import build_model  # FPN / DeepLabV3+: smp

    return build_model(cfg)


def load_network(path: Path) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    """``(network in fp32 on the CPU, its config, the file's metadata)`` of a
    ``unet.safetensors`` written by ``python -m training.export``."""
    state, meta = read_safetensors(path)
    if "config" not in meta:
        raise ValueError("no 'config' in the file's metadata (not a livebg export)")
    cfg = ModelConfig.from_dict(json.loads(meta["config"]))
    return network_from(cfg, state), cfg, meta


def network_from(cfg: ModelConfig, state: dict[str, torch.Tensor]) -> nn.Module:
    """The network of ``cfg`` holding ``state`` (fp16 tensors become fp32), in eval mode."""
    net = build_network(cfg)
    _keep_stored_encoder_blocks(net, state)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return net.eval()


def _keep_stored_encoder_blocks(net: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Cut the timm encoder to the blocks the file has, should this timm build more than
    ``_drop_unused_encoder_blocks`` removed (it reads a timm attribute that may change)."""
    prefix = "encoder.model.blocks."
    stored = {int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)}
    features = getattr(getattr(net, "encoder", None), "model", None)
    blocks = getattr(features, "blocks", None)
    if stored and blocks is not None and len(blocks) > max(stored) + 1:
        features.blocks = blocks[: max(stored) + 1]
