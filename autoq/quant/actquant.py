"""Activation quantizers: small modules placed on a quantized module's inputs and output."""
from __future__ import annotations

import torch
from torch import nn

from ..settings import ClipMode, Mode
from .config import QuantConfig
from .numerics import (aciq_alpha, clip_range, fake_quant_tensor, inverse, qparams, qrange,
                       unexpanded)


class StaticFakeQuant(nn.Module):
    """Fixed range, from calibration statistics (Distiller's post-training flow)."""

    def __init__(self, bits: int, mode: Mode, lo: float, hi: float):
        super().__init__()
        self.qmin, self.qmax = qrange(bits, mode)
        step, zp = qparams(torch.tensor(lo), torch.tensor(hi), bits, mode)
        self.step, self.zero_point = float(step), int(zp)
        self.bits, self.mode = bits, mode
        # as 0-d tensors (moved with the module) for the hot path
        self.register_buffer("step_t", torch.tensor(self.step), persistent=False)
        self.register_buffer("inv_t", torch.tensor(inverse(self.step)), persistent=False)

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        return fake_quant_tensor(x, self.step_t, self.zero_point, self.qmin, self.qmax, inplace, self.inv_t)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, mode={self.mode.value}, step={self.step:.4g}, zero_point={self.zero_point}"


def same_grid(a: nn.Module, b: nn.Module) -> bool:
    """Both static quantizers onto the same grid: the second changes nothing after the
    first (quantization is idempotent on its own grid)."""
    return (isinstance(a, StaticFakeQuant) and isinstance(b, StaticFakeQuant)
            and (a.step, a.zero_point, a.qmin, a.qmax) == (b.step, b.zero_point, b.qmin, b.qmax))


class DynamicFakeQuant(nn.Module):
    """Range measured on each batch at run time (torch's dynamic quantization)."""

    def __init__(self, bits: int, mode: Mode, clip: ClipMode, n_stds: float | None):
        super().__init__()
        self.bits, self.mode, self.clip = bits, mode, clip
        self.qmin, self.qmax = qrange(bits, mode)
        if clip is ClipMode.N_STD:
            self.half_width = n_stds
        elif clip in (ClipMode.GAUSS, ClipMode.LAPLACE):
            self.half_width = aciq_alpha(bits, clip.value.lower())

    def _range(self, x: torch.Tensor):
        if self.clip is ClipMode.NONE:
            return torch.aminmax(x)
        if self.clip is ClipMode.AVG:
            rows = x.reshape(x.shape[0], -1)
            mins, maxs = rows.amin(1), rows.amax(1)
            return mins.mean(), maxs.mean()
        mean = x.mean()
        # population std, as the calibration statistics have it
        spread = (x - mean).abs().mean() if self.clip is ClipMode.LAPLACE else x.std(correction=0)
        lo, hi = torch.aminmax(x)
        return torch.maximum(lo, mean - self.half_width * spread), torch.minimum(hi, mean + self.half_width * spread)

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        step, zp = qparams(*self._range(unexpanded(x.detach())), self.bits, self.mode)
        return fake_quant_tensor(x, step.float(), zp if self.mode is not Mode.SYMMETRIC else 0,
                                 self.qmin, self.qmax, inplace)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, mode={self.mode.value}, clip={self.clip.value}"


class Fp16Cast(nn.Module):
    """Round to float16 and back."""

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        return x.half().to(x.dtype)


class NoQuant(nn.Module):
    """Leaves the tensor in float."""

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        return x


def act_quantizer(cfg: QuantConfig, tensor_stats: dict | None) -> nn.Module:
    """The quantizer for one activation tensor under ``cfg``; called as ``q(x, inplace)``,
    where ``inplace`` says that ``x`` is a fresh result that may be overwritten."""
    bits = cfg.bits_activations
    if bits is None:
        return NoQuant()
    if bits == 16:
        return Fp16Cast()
    if cfg.dynamic:
        return DynamicFakeQuant(bits, cfg.mode_activations, cfg.clip_acts, cfg.clip_n_stds)
    lo, hi = clip_range(tensor_stats, cfg.clip_acts, bits, cfg.clip_n_stds)
    return StaticFakeQuant(bits, cfg.mode_activations, lo, hi)
