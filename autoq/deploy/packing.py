"""Weights on disk: each tensor on the engine's integer grid, packed at its bit width.

A quantized tensor is stored as ``q`` (the integers minus ``qmin``, packed into
``ceil(numel * bits / 8)`` bytes), ``scale`` (float32, one per tensor or per row) and,
when asymmetric, ``zero_point`` (int32) -- the bytes the engine's ``size_report``
counts. A 16-bit tensor is stored as float16, a float one as float32. Decoding gives
back the engine's fake-quantized values bit for bit.
"""
from __future__ import annotations

import math

import torch

from ..settings import Mode
from ..quant.numerics import qparams, qrange, quantize_weight


def pack_bits(u: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned integers below 2**bits as a flat uint8 stream of ceil(n * bits / 8) bytes."""
    flat = u.reshape(-1).to(torch.int64)
    if bits == 8:
        return flat.to(torch.uint8)
    n = flat.numel()
    groups = torch.cat([flat, flat.new_zeros((-n) % 8)]).view(-1, 8)
    word = (groups << (torch.arange(8) * bits)).sum(1)  # 8 values fill `bits` bytes
    out = (word[:, None] >> (torch.arange(bits) * 8)) & 0xFF
    return out.to(torch.uint8).reshape(-1)[: math.ceil(n * bits / 8)]


def unpack_bits(data: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    """The first ``n`` integers (int64) of a stream written by ``pack_bits``."""
    b = data.reshape(-1).to(torch.int64)
    if bits == 8:
        return b[:n]
    groups = torch.cat([b, b.new_zeros((-b.numel()) % bits)]).view(-1, bits)
    word = (groups << (torch.arange(bits) * 8)).sum(1)
    return ((word[:, None] >> (torch.arange(8) * bits)) & ((1 << bits) - 1)).reshape(-1)[:n]


def grid(w: torch.Tensor, bits: int, mode: Mode, per_channel: bool):
    """(q, scale, zero_point) of ``w`` on the engine's grid: q int64 shaped like w,
    scale float32 and zero_point int32 per row (per_channel) or of one element."""
    w = w.detach().float()
    if per_channel:
        lo, hi = torch.aminmax(w.reshape(w.shape[0], -1), dim=1)
    else:
        lo, hi = (t.reshape(1) for t in torch.aminmax(w))
    step, zp = qparams(lo, hi, bits, mode)
    fq = quantize_weight(w, bits, mode, per_channel)  # the engine's own values
    shape = (-1,) + (1,) * (w.dim() - 1)
    q = torch.round(fq / step.view(shape)) + zp.view(shape)
    return q.to(torch.int64), step.float(), zp.to(torch.int32)


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    shape = (-1,) + (1,) * (q.dim() - 1)
    return (q - zero_point.view(shape)).float() * scale.view(shape)


def encode(w: torch.Tensor, bits: int | None, mode: Mode = Mode.SYMMETRIC,
           per_channel: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
    """Stored tensors and JSON metadata of one tensor at ``bits`` (None: float32)."""
    w = w.detach().cpu()
    meta = {"bits": bits, "shape": list(w.shape)}
    if bits is None or bits == 32:
        return {"f32": w.float().contiguous()}, {**meta, "bits": None}
    if bits == 16:
        return {"f16": w.half().contiguous()}, meta
    q, scale, zp = grid(w, bits, mode, per_channel)
    qmin, _ = qrange(bits, mode)
    tensors = {"q": pack_bits(q - qmin, bits), "scale": scale}
    if mode is not Mode.SYMMETRIC:
        tensors["zero_point"] = zp
    return tensors, {**meta, "mode": mode.value, "per_channel": per_channel}


def integers(tensors: dict[str, torch.Tensor], meta: dict):
    """(q int64 shaped, scale float32, zero_point int32) of a quantized stored tensor."""
    bits, mode = meta["bits"], Mode(meta["mode"])
    qmin, _ = qrange(bits, mode)
    n = math.prod(meta["shape"])
    q = (unpack_bits(tensors["q"], bits, n) + qmin).reshape(meta["shape"])
    scale = tensors["scale"]
    zp = tensors.get("zero_point", torch.zeros(scale.shape, dtype=torch.int32))
    return q, scale, zp


def decode(tensors: dict[str, torch.Tensor], meta: dict) -> torch.Tensor:
    """The float32 values of a stored tensor (the engine's fake-quantized ones)."""
    if "f32" in tensors:
        return tensors["f32"]
    if "f16" in tensors:
        return tensors["f16"].float()
    return dequantize(*integers(tensors, meta))


def stored_bytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())
