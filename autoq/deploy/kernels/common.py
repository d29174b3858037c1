"""Helpers shared by kernels: engine switching, torch quantized tensors, wording."""
from __future__ import annotations

import contextlib
import warnings
from functools import lru_cache

import torch
from torch import nn

from ...quant.config import QuantConfig
from ...settings import DYNAMIC, ClipMode, Mode, activation_choice
from ..packing import integers
from ..registry import Deviation, Kernel
from ..units import Unit, param_tensors


@contextlib.contextmanager
def engine(name: str):
    """Quantized engine ``name`` while packing weights (packed weights keep their engine);
    torch's deprecation warnings for quantized tensors silenced."""
    old = torch.backends.quantized.engine
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantiz.*deprecated.*")
        torch.backends.quantized.engine = name
        try:
            yield
        finally:
            torch.backends.quantized.engine = old


class TorchEngineKernel(Kernel):
    """A kernel of one of torch's quantized engines (fbgemm, onednn): ``label`` names it."""

    label: str = ""

    @property
    def name(self) -> str:
        return f"{self.backend}:{self.label}"

    def available(self) -> bool:
        return self.backend in torch.backends.quantized.supported_engines


def qint8_weight(tensors: dict, meta: dict, pname: str) -> torch.Tensor:
    """A stored parameter as a torch qint8 tensor (per-tensor or per-row), same values."""
    m = meta["params"][pname]
    q, scale, zp = integers(param_tensors(tensors, pname), m)
    if q.max() > 127:  # 8-bit unsigned: shift into int8, values unchanged
        q, zp = q - 128, zp - 128
    if m["per_channel"]:
        return torch._make_per_channel_quantized_tensor(q.to(torch.int8), scale.double(), zp.long(), 0)
    return torch._make_per_tensor_quantized_tensor(q.to(torch.int8), float(scale), int(zp))


def uint8_grid(act: dict) -> tuple[float, float, float, int]:
    """(lo, hi, step, uint8 zero point) of an activation grid: q - qmin fits in uint8."""
    step, zp, qmin, qmax = act["step"], act["zero_point"], act["qmin"], act["qmax"]
    return (qmin - zp) * step, (qmax - zp) * step, step, zp - qmin


class StaticGrids(nn.Module):
    """An int8 op's input and output on fixed grids (the engine's, from calibration
    statistics), held as quint8: quantize the input, dequantize the op's output."""

    def __init__(self, act: dict):
        super().__init__()
        self.x_lo, self.x_hi, self.x_step, self.x_zp = uint8_grid(act["input"])
        self.y_lo, self.y_hi, self.y_step, self.y_zp = uint8_grid(act["output"])

    # clamped on the uint8 grid (the same numbers as in float: lo and hi are grid points)
    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.quantize_per_tensor(x, self.x_step, self.x_zp, torch.quint8)
        return torch.clamp(q, self.x_lo, self.x_hi)

    def dequantize(self, y: torch.Tensor) -> torch.Tensor:
        return torch.clamp(y, self.y_lo, self.y_hi).dequantize()


@lru_cache(maxsize=None)
def full_range_ok(name: str) -> bool:
    """Whether ``name``'s int8 GEMM takes full 8-bit activations without saturating on
    this CPU (no VNNI: pairs of u8*s8 products overflow int16), measured on a worst case."""
    q = torch.full((8, 64), 127, dtype=torch.int8)
    q[1::2] = -127
    x = torch.ones(4, 64)
    with engine(name):
        w = torch._make_per_channel_quantized_tensor(q, torch.full((8,), 0.01, dtype=torch.double),
                                                     torch.zeros(8, dtype=torch.long), 0)
        y = torch.ops.quantized.linear_dynamic(x, torch.ops.quantized.linear_prepack(w, None), False)
    return bool(torch.allclose(y, x @ (q.float() * 0.01).T, rtol=1e-3))


def describe(cfg: QuantConfig) -> str:
    """A config's activations in words."""
    ab = cfg.bits_activations
    if ab is None:
        return "float activations"
    if ab == 16:
        return "fp16 activations"
    how = activation_choice(cfg.dynamic)
    clip = "" if cfg.clip_acts is ClipMode.NONE else f", {cfg.clip_acts.value} clipping"
    return f"int{ab} {how} activations{clip}"


def float_acts(unit: Unit, why: str, names=None) -> list[Deviation]:
    """Deviations for covered entries whose quantized activations run in float."""
    return [Deviation(n, describe(c), "float32 activations", why)
            for n, c in unit.acts.items() if names is None or n in names]


def int8_act_deviations(name: str, cfg: QuantConfig, got: str, full_range: bool,
                        why: str) -> list[Deviation]:
    """What an int8 kernel with ``got`` activations ("dynamic"/"static") does not honour."""
    ab = cfg.bits_activations
    if ab is None or ab == 16:
        return [Deviation(name, describe(cfg), f"int8 {got} activations", why, lossy=True)]
    out = []
    asked = activation_choice(cfg.dynamic)
    if asked != got:
        out.append(Deviation(name, f"int{ab} {asked} activations", f"int8 {got} activations", why))
    if ab < 8:
        out.append(Deviation(name, f"int{ab} activations", "int8 activations",
                             "the kernel quantizes activations to 8 bits"))
    if got == DYNAMIC and cfg.clip_acts is not ClipMode.NONE:
        out.append(Deviation(name, f"{cfg.clip_acts.value} clipping", "each batch's min/max",
                             "the dynamic kernel takes each batch's full range"))
    if got == DYNAMIC and not full_range:
        out.append(Deviation(name, "8-bit activations", "7-bit activations",
                             "the kernel saturates 8-bit activations on this CPU (measured)"))
    return out


def symmetric_weights(unit: Unit) -> bool:
    return all(c.mode_weights is Mode.SYMMETRIC for _, c, r in unit.params.values() if r == "weight")
