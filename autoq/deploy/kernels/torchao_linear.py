"""torchao's Linear workflows through ``quantize_`` with an FQN-to-config mapping: int8
dynamic activations with int8 weights, and int8 weight-only. torchao quantizes on its
own int8 grid, so the engine's weights are re-quantized. (torchao 0.18 has no int4
layout for CPU, and its CUDA int4 kernel needs bf16 activations: not offered.)"""
from __future__ import annotations

import torch
from torch import nn

from ... import quiet
from ...settings import DYNAMIC, INT_BITS, Mode
from ..registry import Deviation, Kernel, Offer, register_kernel
from ..units import Unit, decode_param
from .common import int8_act_deviations


def torchao():
    """The torchao modules used here (None if absent)."""
    q = quiet.torchao()
    if q is None:
        return None
    from torchao.quantization.granularity import PerRow, PerTensor
    return q, PerRow, PerTensor


@register_kernel
class TorchaoLinear(Kernel):
    backend = "torchao"
    kinds = (nn.Linear,)
    devices = ("cpu", "cuda")
    choices = {"bits_weights": (8,), "bits_activations": (8, None), "mode": ("SYMMETRIC",),
               "per_channel_wts": (True, False), "activations": (DYNAMIC,), "clip_acts": ("NONE",)}

    @property
    def name(self) -> str:
        return "torchao:linear"

    def available(self) -> bool:
        return torchao() is not None

    def offer(self, unit: Unit) -> Offer | None:
        cfg = unit.config
        if cfg.bits_weights not in INT_BITS or cfg.bits_activations == 16:
            return None
        devs = []
        if cfg.mode_weights is not Mode.SYMMETRIC or cfg.bits_weights < 8:
            devs.append(Deviation(unit.name, f"int{cfg.bits_weights} {cfg.mode_weights.value} weights",
                                  "int8 symmetric weights", "torchao re-quantizes to its own int8 grid"))
        if cfg.bits_activations is None:
            return Offer(self, "torchao int8 weight-only", devs, {"workflow": "weight-only"})
        devs += int8_act_deviations(unit.name, cfg, DYNAMIC, True,
                                    "torchao's int8 workflow quantizes activations per token at run time")
        return Offer(self, "torchao int8 dynamic (per-token activations), int8 weights", devs,
                     {"workflow": "dynamic"})

    def runtime(self, module, tensors, meta, options):
        q, PerRow, PerTensor = torchao()
        weight = decode_param(tensors, meta, "weight")
        device = module.weight.device
        linear = nn.Linear(module.in_features, module.out_features, "bias" in meta["params"],
                           device=device)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if linear.bias is not None:
                linear.bias.copy_(decode_param(tensors, meta, "bias"))
        grain = PerRow() if meta["params"]["weight"].get("per_channel") else PerTensor()
        if options["workflow"] == "weight-only":
            cfg = q.Int8WeightOnlyConfig(granularity=grain, set_inductor_config=False)
        else:
            cfg = q.Int8DynamicActivationInt8WeightConfig(granularity=[PerRow(), grain],
                                                          set_inductor_config=False)
        holder = nn.Sequential(linear)
        q.quantize_(holder, q.FqnToConfig({"0": cfg}), filter_fn=None)
        return holder[0]
