"""torch's int8 Conv1d/Conv2d (fbgemm, onednn; ``torch.ao.nn.quantized``): static
activations only, on the engine's grids from calibration statistics (torch has no dynamic
quantized convolution), weights of 2..8 bits held exactly as int8."""
from __future__ import annotations

import torch
from torch import nn
from torch.ao.nn.quantized import Conv1d as QuantizedConv1d
from torch.ao.nn.quantized import Conv2d as QuantizedConv2d

from ...settings import INT_BITS, STATIC
from ..registry import Offer, register_kernel
from ..units import Unit, decode_param, static_act
from .common import (StaticGrids, TorchEngineKernel, engine, full_range_ok, qint8_weight,
                     symmetric_weights)
from .torch_linear import ALL_MODES

QUANTIZED = {nn.Conv1d: QuantizedConv1d, nn.Conv2d: QuantizedConv2d}


class StaticInt8Conv(StaticGrids):
    """torch's quantized conv (``conv``) between the engine's fixed input and output grids."""

    def __init__(self, conv: nn.Module, act: dict):
        super().__init__(act)
        self.conv = conv
        conv.scale, conv.zero_point = self.y_step, self.y_zp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequantize(self.conv(self.quantize(x)))


def padding(conv: nn.Module) -> tuple | None:
    """``conv``'s padding as numbers (``same`` and ``valid`` too); None when torch's
    quantized conv cannot pad so (uneven ``same`` padding, a mode other than zeros)."""
    if conv.padding_mode != "zeros":
        return None
    if conv.padding == "valid":
        return (0,) * len(conv.kernel_size)
    if conv.padding != "same":
        return tuple(conv.padding)
    total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
    return None if any(t % 2 for t in total) else tuple(t // 2 for t in total)


class TorchInt8Conv(TorchEngineKernel):
    kinds = tuple(QUANTIZED)
    label = "int8-conv"

    def __init__(self, engine_name: str):
        self.backend = engine_name
        modes = ALL_MODES if engine_name == "fbgemm" else ("SYMMETRIC",)
        self.choices = {"bits_weights": INT_BITS, "bits_activations": (8,), "mode": modes,
                        "per_channel_wts": (True, False), "activations": (STATIC,),
                        "clip_acts": ("NONE",)}

    def why_not(self, unit: Unit) -> str | None:
        cfg, conv = unit.config, unit.module
        if cfg.bits_weights not in INT_BITS:
            return f"the int8 conv holds 2..8-bit weights (asked: {cfg.bits_weights or 'float'})"
        if cfg.bits_activations in (None, 16):
            return "the int8 conv computes on int8 activations only (no weight-only conv in torch)"
        if cfg.dynamic:
            return "torch has no dynamic quantized convolution (static activations only)"
        if self.backend == "onednn" and not symmetric_weights(unit):
            return "onednn packs symmetric weights only"
        if type(conv) not in QUANTIZED:
            return f"a {type(conv).__name__} is not a plain nn.Conv1d or nn.Conv2d"
        if padding(conv) is None:
            return f"torch's quantized conv cannot pad {conv.padding_mode} {conv.padding}"
        if not all(static_act(cfg, unit.stats.get(unit.name), t) for t in ("input", "output")):
            return "no calibration ranges for its input and output"
        if not full_range_ok(self.backend):
            return "the int8 kernel saturates 8-bit activations on this CPU (measured)"
        return None

    def offer(self, unit: Unit) -> Offer | None:
        if self.why_not(unit) is not None:
            return None
        cfg = unit.config
        grain = "per-channel" if cfg.per_channel_wts else "per-tensor"
        return Offer(self, f"{self.backend} int8 convolution, static uint8 activations, "
                           f"int{cfg.bits_weights} {grain} weights held in int8")

    def runtime(self, module, tensors, meta, options):
        m = module
        bias = decode_param(tensors, meta, "bias") if "bias" in meta["params"] else None
        with engine(self.backend):
            conv = QUANTIZED[type(m)](m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                      padding(m), m.dilation, m.groups, bias is not None)
            conv.set_weight_bias(qint8_weight(tensors, meta, "weight"), bias)
        return StaticInt8Conv(conv, meta["act"])


for _name in ("fbgemm", "onednn"):
    register_kernel(TorchInt8Conv(_name))
