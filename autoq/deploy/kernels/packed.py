"""The fallback for anything without a low-precision kernel: weights stored packed at
their bit width, unpacked to float32 at load, computed in float (the engine's weights
exactly; quantized activations are not applied)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..registry import Deviation, Kernel, Offer, register_kernel
from ..units import Unit, decode_param
from .common import float_acts


@register_kernel
class Packed(Kernel):
    backend = "packed"
    kinds = (nn.Module,)
    devices = ("cpu", "cuda")
    low_precision = False

    @property
    def name(self) -> str:
        return "packed:float"

    def offer(self, unit: Unit) -> Offer | None:
        devs = float_acts(unit, f"no kernel for quantized {unit.kind} activations here")
        stored = sorted({(c.bits_weights if r == "weight" else c.bits_bias)
                         for _, c, r in unit.params.values()} - {None, 32})
        if stored:
            asked = ", ".join(f"{b}-bit" for b in stored)
            devs.append(Deviation(unit.name, f"{asked} weights on a low-precision kernel",
                                  "float32 compute on weights unpacked at load",
                                  "no low-precision kernel for it here", exact=True))
        return Offer(self, "stored packed, float32 compute", devs)

    def runtime(self, module, tensors, meta, options):
        if not meta["params"]:
            return module
        m = copy.deepcopy(module)
        with torch.no_grad():
            for pname in meta["params"]:
                getattr(m, pname).copy_(decode_param(tensors, meta, pname))
        return m
