"""torch's int8 Linear kernels (fbgemm, onednn): dynamic or static activations, weights
of 2..8 bits held exactly as int8; and fbgemm's fp16-weight Linear."""
from __future__ import annotations

import torch
from torch import nn

from ...settings import DYNAMIC, INT_BITS, STATIC, Mode, activation_choice
from ..registry import Offer, register_kernel
from ..units import Unit, decode_param, static_act
from .common import (StaticGrids, TorchEngineKernel, engine, full_range_ok, int8_act_deviations,
                     qint8_weight, symmetric_weights)

ALL_MODES = tuple(m.value for m in Mode)


class DynamicInt8Linear(nn.Module):
    """int8 GEMM; activations quantized per batch (per-tensor, asymmetric uint8)."""

    def __init__(self, packed, in_features: int, out_features: int, reduce_range: bool):
        super().__init__()
        self.packed, self.reduce_range = packed, reduce_range
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x, self.packed, self.reduce_range)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, reduce_range={self.reduce_range}"


class StaticInt8Linear(StaticGrids):
    """int8 GEMM with the input and output on fixed grids from calibration statistics."""

    def __init__(self, packed, in_features: int, out_features: int, act: dict):
        super().__init__(act)
        self.packed, self.in_features, self.out_features = packed, in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.quantized.linear(self.quantize(x), self.packed, self.y_step, self.y_zp)
        return self.dequantize(y)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, x_step={self.x_step:.4g}, y_step={self.y_step:.4g}"


class TorchInt8Linear(TorchEngineKernel):
    kinds = (nn.Linear,)
    label = "int8-linear"

    def __init__(self, engine_name: str):
        self.backend = engine_name
        modes = ALL_MODES if engine_name == "fbgemm" else (Mode.SYMMETRIC.value,)
        self.choices = {"bits_weights": INT_BITS, "bits_activations": (8,), "mode": modes,
                        "per_channel_wts": (True, False), "activations": (DYNAMIC, STATIC),
                        "clip_acts": ("NONE",)}

    def offer(self, unit: Unit) -> Offer | None:
        cfg = unit.config
        if cfg.bits_weights not in INT_BITS:
            return None
        if self.backend == "onednn" and not symmetric_weights(unit):
            return None  # onednn packs symmetric weights only
        full = full_range_ok(self.backend)
        act = {t: static_act(cfg, unit.stats.get(unit.name), t) for t in ("input", "output")}
        static = all(act.values()) and full
        got = activation_choice(not static)
        why = ("no static kernel input ranges" if not cfg.dynamic and not static
               else f"{self.backend} runs int8 Linear with int8 activations only")
        devs = int8_act_deviations(unit.name, cfg, got, full, why)
        grain = "per-channel" if cfg.per_channel_wts else "per-tensor"
        scheme = (f"{self.backend} int8 GEMM, {got} uint8 activations, "
                  f"int{cfg.bits_weights} {grain} weights held in int8")
        return Offer(self, scheme, devs, {"static": static, "reduce_range": not full})

    def runtime(self, module, tensors, meta, options):
        bias = decode_param(tensors, meta, "bias") if "bias" in meta["params"] else None
        with engine(self.backend):
            packed = torch.ops.quantized.linear_prepack(qint8_weight(tensors, meta, "weight"), bias)
        if options["static"]:
            return StaticInt8Linear(packed, module.in_features, module.out_features, meta["act"])
        return DynamicInt8Linear(packed, module.in_features, module.out_features, options["reduce_range"])


class Fp16WeightLinear(nn.Module):
    """fbgemm's GEMM on fp16 weights with float32 activations."""

    def __init__(self, packed, in_features: int, out_features: int):
        super().__init__()
        self.packed, self.in_features, self.out_features = packed, in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic_fp16(x, self.packed)


@register_kernel
class FbgemmFp16Linear(TorchEngineKernel):
    backend = "fbgemm"
    kinds = (nn.Linear,)
    label = "fp16-linear"
    choices = {"bits_weights": (16,)}

    def offer(self, unit: Unit) -> Offer | None:
        from .common import float_acts
        if unit.config.bits_weights != 16:
            return None
        return Offer(self, "fbgemm fp16-weight GEMM, float32 activations",
                     float_acts(unit, "fbgemm's fp16 GEMM takes float32 activations"))

    def runtime(self, module, tensors, meta, options):
        bias = decode_param(tensors, meta, "bias") if "bias" in meta["params"] else None
        with engine("fbgemm"):
            packed = torch.ops.quantized.linear_prepack_fp16(decode_param(tensors, meta, "weight"), bias)
        return Fp16WeightLinear(packed, module.in_features, module.out_features)


for _name in ("fbgemm", "onednn"):
    register_kernel(TorchInt8Linear(_name))
