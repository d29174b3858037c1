"""Exact size of a model under a recipe, per layer and in total, beside FP32.

Counted: every parameter at its bit width (packed: ceil(numel * bits / 8) bytes),
a float32 scale per tensor or per channel and an int32 zero point when asymmetric,
the scale and zero point of each statically quantized activation, and everything
that stays float at 4 bytes (buffers at their own dtype). A shared parameter counts once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..settings import Mode
from .config import QuantConfig
from .handlers import needs_act_stats, weight_names
from .plan import Plan

FLOAT_BYTES = 4
QPARAM_BYTES = {Mode.SYMMETRIC: 4, Mode.ASYMMETRIC_SIGNED: 8, Mode.ASYMMETRIC_UNSIGNED: 8}


@dataclass(frozen=True)
class LayerSize:
    name: str
    bits_weights: int | None
    numel: int
    bytes: int
    fp32_bytes: int


@dataclass
class SizeReport:
    total_bytes: int
    fp32_bytes: int
    layers: dict[str, LayerSize] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.total_bytes / self.fp32_bytes


def tensor_bytes(t: torch.Tensor, bits: int | None, mode: Mode, channels: int = 1) -> int:
    """Bytes of one parameter tensor stored at ``bits`` (None: float32)."""
    if bits is None or bits == 32:
        return t.numel() * FLOAT_BYTES
    if bits == 16:
        return t.numel() * 2
    return math.ceil(t.numel() * bits / 8) + channels * QPARAM_BYTES[mode]


def _layer_bytes(name: str, module: nn.Module, cfg: QuantConfig, counted: set[int]):
    total = fp32 = numel = 0
    weights = weight_names(module)
    for pname, p in module.named_parameters(recurse=False):
        if id(p) in counted:
            continue
        counted.add(id(p))
        numel += p.numel()
        fp32 += p.numel() * FLOAT_BYTES
        if pname in weights:
            channels = p.shape[0] if cfg.per_channel_wts else 1
            total += tensor_bytes(p, cfg.bits_weights, cfg.mode_weights, channels)
        elif pname == "bias":
            total += tensor_bytes(p, cfg.bits_bias, cfg.mode_weights)
        else:
            total += p.numel() * FLOAT_BYTES
    return total, fp32, numel


def _act_qparam_bytes(module: nn.Module, cfg: QuantConfig, stats_entry: dict | None) -> int:
    if cfg.bits_activations in (None, 16) or cfg.dynamic or not needs_act_stats(module):
        return 0
    n_tensors = 1 + (len(stats_entry["inputs"]) if stats_entry else 1)
    return n_tensors * QPARAM_BYTES[cfg.mode_activations]


def size_report(plan: Plan, stats: dict | None = None) -> SizeReport:
    """Bytes of ``plan``'s model under its configs (a plan of no recipe: FP32).

    ``stats`` gives the number of inputs of each op; without it each op counts one.
    """
    model = plan.model
    counted: set[int] = set()
    report = SizeReport(0, 0)
    modules = dict(model.named_modules())
    for name, cfg in plan.configs.items():
        module = modules[name]
        total, fp32, numel = _layer_bytes(name, module, cfg, counted)
        total += _act_qparam_bytes(module, cfg, (stats or {}).get(name))
        report.layers[name] = LayerSize(name, cfg.bits_weights, numel, total, fp32)
        report.total_bytes += total
        report.fp32_bytes += fp32
    for p in model.parameters():
        if id(p) not in counted:
            counted.add(id(p))
            report.total_bytes += p.numel() * FLOAT_BYTES
            report.fp32_bytes += p.numel() * FLOAT_BYTES
    for b in model.buffers():
        report.total_bytes += b.numel() * b.element_size()
        report.fp32_bytes += b.numel() * b.element_size()
    return report
