"""A recipe's latency as the search sees it: its deployed model's time over FP32's,
both timed in turns in one run, so the machine's noise cancels out of the ratio."""
from __future__ import annotations

from typing import Any

from torch import nn

from ..quant import Plan
from .build import build
from .measure import alternate, run_batch, to_device

REPEATS = 10  # timed rounds of each model, medians compared


def relative_latency(float_model: nn.Module, plan: Plan, stats: dict | None, sample: Any,
                     device: str = "cpu", threads: int = 1, repeats: int = REPEATS) -> float:
    """Seconds of ``plan``'s deployed model on ``sample`` over FP32's (lower is faster);
    the kernels are picked by measurement, as ``autoq deploy`` picks them. ``float_model``
    (eval, on ``device``) is timed as it is and left unchanged."""
    deployed = build(float_model, plan, stats, sample, device, threads=[threads]).model
    sample = to_device(sample, device)
    times = alternate({"fp32": lambda: run_batch(float_model, sample),
                       "deployed": lambda: run_batch(deployed, sample)}, threads, repeats, device)
    return times["deployed"] / times["fp32"]
