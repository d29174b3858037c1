"""fp16 layers: weights stored and computed in float16 (16-bit layers of a recipe)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Deviation, Kernel, Offer, register_kernel
from ..units import Unit, decode_param


class HalfLinear(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.weight = nn.Parameter(weight.half(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.half(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.half(), self.weight, self.bias).to(x.dtype)


class HalfEmbedding(nn.Module):
    def __init__(self, weight: torch.Tensor, padding_idx: int | None):
        super().__init__()
        self.weight = nn.Parameter(weight.half(), requires_grad=False)
        self.padding_idx = padding_idx

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight, self.padding_idx).float()


@register_kernel
class Fp16(Kernel):
    backend = "fp16"
    kinds = (nn.Linear, nn.Embedding)
    devices = ("cpu", "cuda")
    choices = {"bits_weights": (16,), "bits_activations": (16,)}

    @property
    def name(self) -> str:
        return "fp16:half"

    def offer(self, unit: Unit) -> Offer | None:
        cfg = unit.config
        if cfg.bits_weights != 16:
            return None
        devs = []
        if isinstance(unit.module, nn.Linear) and cfg.bits_activations != 16:
            devs.append(Deviation(unit.name, f"{cfg.bits_activations or 'float'} activations",
                                  "fp16 activations", "the fp16 GEMM computes in fp16",
                                  lossy=cfg.bits_activations is None))
        return Offer(self, "fp16 weights and compute", devs)

    def runtime(self, module, tensors, meta, options):
        w = decode_param(tensors, meta, "weight").to(module.weight.device)
        if isinstance(module, nn.Embedding):
            return HalfEmbedding(w, module.padding_idx)
        b = decode_param(tensors, meta, "bias").to(w.device) if "bias" in meta["params"] else None
        return HalfLinear(w, b)
