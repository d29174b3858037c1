"""Quantization arithmetic: integer ranges, scales and zero points, fake quantization,
and the clipping rules (min/max, averages, N standard deviations, ACIQ).

A quantized value is ``q = clamp(round(x / step) + zero_point, qmin, qmax)``; its
dequantized value is ``(q - zero_point) * step``. ``step`` is torch's ``scale``
(Distiller's scale is ``1 / step``).
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from ..settings import ClipMode, Mode

EPS = torch.finfo(torch.float32).eps


def qrange(bits: int, mode: Mode) -> tuple[int, int]:
    """Integer range: symmetric is restricted (zero in the middle), asymmetric is full."""
    if mode is Mode.SYMMETRIC:
        n = 2 ** (bits - 1) - 1
        return -n, n
    if mode is Mode.ASYMMETRIC_UNSIGNED:
        return 0, 2 ** bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def qparams(lo: torch.Tensor, hi: torch.Tensor, bits: int, mode: Mode):
    """(step, zero_point) for ranges [lo, hi]; tensors of any shape (per tensor or per channel).

    Asymmetric ranges are widened to hold zero exactly, as in Distiller and torch.
    """
    qmin, qmax = qrange(bits, mode)
    lo = torch.clamp(lo, max=0.0)
    hi = torch.clamp(hi, min=0.0)
    if mode is Mode.SYMMETRIC:
        step = torch.clamp(torch.maximum(-lo, hi) / qmax, min=EPS)
        return step, torch.zeros_like(step, dtype=torch.int32)
    step = torch.clamp((hi - lo) / (qmax - qmin), min=EPS)
    zp = torch.clamp(qmin - torch.round(lo / step), qmin, qmax).to(torch.int32)
    return step, zp


def inverse(step):
    """1 / step computed in float32, as torch's fake-quantization kernels do."""
    inv = 1.0 / torch.as_tensor(step, dtype=torch.float32)
    return inv if isinstance(step, torch.Tensor) else float(inv)


def fake_quant_tensor(x: torch.Tensor, step, zero_point, qmin: int, qmax: int,
                      inplace: bool = False, inv=None) -> torch.Tensor:
    """Per-tensor quantize-dequantize with float32 ``step`` (float or 0-d tensor).

    Equal to torch.fake_quantize_per_tensor_affine, in four in-place passes without its
    gradient mask: several times faster on CPU. The zero point shifts the clamp bounds
    instead of the values (exact: rounded values are integers). ``inplace`` overwrites
    ``x``; ``inv`` is ``inverse(step)`` when the caller has it already. 0-d float32
    tensors for ``step`` and ``inv`` spare torch a scalar conversion on every call.
    """
    inv = inverse(step) if inv is None else inv
    compact = unexpanded(x)
    if compact is not x:  # a broadcast view: quantize each distinct value once
        return fake_quant_tensor(compact, step, zero_point, qmin, qmax, False, inv).expand(x.shape)
    q = (x.mul_(inv) if inplace else x.mul(inv)).round_()
    if isinstance(zero_point, torch.Tensor):
        zero_point = zero_point.to(q.dtype)
    return q.clamp_(qmin - zero_point, qmax - zero_point).mul_(step)


def unexpanded(x: torch.Tensor) -> torch.Tensor:
    """``x`` without the dimensions that ``expand`` repeated (stride 0), kept as size 1.
    Every value keeps its share, so ranges, means and spreads are those of ``x``."""
    if 0 not in x.stride():  # the common case, checked once per call
        return x
    for d in range(x.dim()):
        if x.stride(d) == 0 and x.size(d) > 1:
            x = x.narrow(d, 0, 1)
    return x


def fake_quant(x: torch.Tensor, bits: int | None, mode: Mode, lo, hi, per_channel: bool = False):
    """Quantize and dequantize ``x`` over [lo, hi] (per output channel along dim 0 if asked)."""
    if bits is None:
        return x
    if bits == 16:
        return x.half().to(x.dtype)
    qmin, qmax = qrange(bits, mode)
    step, zp = qparams(torch.as_tensor(lo, dtype=torch.float32, device=x.device),
                       torch.as_tensor(hi, dtype=torch.float32, device=x.device), bits, mode)
    if per_channel:
        return torch.fake_quantize_per_channel_affine(x, step, zp, 0, qmin, qmax)
    return fake_quant_tensor(x, step, zp, qmin, qmax)


def quantize_weight(w: torch.Tensor, bits: int | None, mode: Mode, per_channel: bool) -> torch.Tensor:
    """Fake-quantized copy of a weight over its full range, per tensor or per row."""
    if bits is None or bits == 16:
        return fake_quant(w, bits, mode, 0.0, 0.0)
    w = w.detach().float()
    if per_channel:
        lo, hi = torch.aminmax(w.reshape(w.shape[0], -1), dim=1)
    else:
        lo, hi = torch.aminmax(w)
    return fake_quant(w, bits, mode, lo, hi, per_channel)


# --- ACIQ (Banner et al., "Post-training 4-bit quantization of convolution networks"):
# the clipping value alpha that minimizes clipping plus rounding noise for a
# Laplace(b) or Gaussian(sigma) tensor quantized to 2**bits levels over [-alpha, alpha].

def aciq_mse(alpha: float, bits: int, dist: str) -> float:
    """Expected squared error (in units of b or sigma = 1) when clipping at alpha."""
    rounding = alpha ** 2 / (3 * 4 ** bits)
    if dist == "laplace":
        return 2 * math.exp(-alpha) + rounding
    tail = (alpha ** 2 + 1) * math.erfc(alpha / math.sqrt(2))
    return tail - math.sqrt(2 / math.pi) * alpha * math.exp(-alpha ** 2 / 2) + rounding


@lru_cache(maxsize=None)
def aciq_alpha(bits: int, dist: str) -> float:
    """Optimal clipping value in units of b (laplace) or sigma (gauss), by golden-section search."""
    a, b = 0.0, 40.0
    g = (math.sqrt(5) - 1) / 2
    while b - a > 1e-9:
        c, d = b - g * (b - a), a + g * (b - a)
        if aciq_mse(c, bits, dist) < aciq_mse(d, bits, dist):
            b = d
        else:
            a = c
    return (a + b) / 2


def clip_range(s: dict, clip: ClipMode, bits: int, n_stds: float | None = None) -> tuple[float, float]:
    """Activation range [lo, hi] from one tensor's statistics under a clipping rule.

    ``s`` holds Distiller's statistics: min, max, avg_min, avg_max, mean, std, b.
    Clipped ranges never reach past the observed min and max.
    """
    lo, hi = s["min"], s["max"]
    if clip is ClipMode.NONE:
        return lo, hi
    if clip is ClipMode.AVG:
        return s["avg_min"], s["avg_max"]
    if clip is ClipMode.N_STD:
        half = n_stds * s["std"]
    elif clip is ClipMode.GAUSS:
        half = aciq_alpha(bits, "gauss") * s["std"]
    else:
        half = aciq_alpha(bits, "laplace") * s["b"]
    return max(lo, s["mean"] - half), min(hi, s["mean"] + half)
