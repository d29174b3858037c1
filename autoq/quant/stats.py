"""Calibration statistics in Distiller's layout, collected in one pass and cached.

Layout (YAML), per module name::

    decoder.classifier.classifier:
      inputs: {0: {min, max, avg_min, avg_max, mean, std, b, shape, total_numel}}
      output: {min, max, ...}

``avg_min``/``avg_max`` average the per-sample extremes; ``b`` (the Laplace scale,
mean absolute deviation) is taken around the running mean, which keeps it one pass.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Iterable

import torch
import yaml
from torch import nn

from ..errors import AutoqError
from ..io import write_atomic

Stats = dict[str, dict[str, Any]]
FIELDS = ("min", "max", "avg_min", "avg_max", "mean", "std", "b")


class TensorStats:
    """Running statistics of one tensor position, kept on the tensor's device."""

    def __init__(self):
        self.n_samples = 0
        self.numel = 0
        self.shape = None

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().float()
        rows = x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(1, -1)
        mins, maxs = torch.aminmax(rows, dim=1)
        s, ss = x.sum(dtype=torch.float64), x.square().sum(dtype=torch.float64)
        if self.numel == 0:
            self.min, self.max = mins.min(), maxs.max()
            self.sum_min, self.sum_max, self.sum, self.sumsq = mins.sum(), maxs.sum(), s, ss
            self.sum_abs_dev = torch.zeros((), dtype=torch.float64, device=x.device)
        else:
            self.min, self.max = torch.minimum(self.min, mins.min()), torch.maximum(self.max, maxs.max())
            self.sum_min += mins.sum()
            self.sum_max += maxs.sum()
            self.sum += s
            self.sumsq += ss
        self.n_samples += rows.shape[0]
        self.numel += x.numel()
        mean = (self.sum / self.numel).float()
        self.sum_abs_dev += (x - mean).abs().sum(dtype=torch.float64)
        self.shape = tuple(x.shape)

    def result(self) -> dict[str, Any]:
        mean = self.sum.item() / self.numel
        var = max(self.sumsq.item() / self.numel - mean ** 2, 0.0)
        return {"min": self.min.item(), "max": self.max.item(),
                "avg_min": self.sum_min.item() / self.n_samples,
                "avg_max": self.sum_max.item() / self.n_samples,
                "mean": mean, "std": var ** 0.5, "b": self.sum_abs_dev.item() / self.numel,
                "shape": str(self.shape), "total_numel": self.numel}


def call_model(model: nn.Module, batch: Any):
    """Run ``model`` on a batch: tuple -> *args, dict -> **kwargs, else one argument."""
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def collect(model: nn.Module, batches: Iterable[Any], names: Iterable[str]) -> Stats:
    """Statistics of the float inputs and output of the named modules over ``batches``."""
    modules = dict(model.named_modules())
    running: dict[str, dict] = {}
    handles = []

    def hook(name):
        def record(module, inputs, output):
            entry = running.setdefault(name, {"inputs": {}, "output": TensorStats()})
            for i, t in enumerate(inputs):
                if isinstance(t, torch.Tensor) and t.is_floating_point():
                    entry["inputs"].setdefault(i, TensorStats()).update(t)
            if isinstance(output, torch.Tensor) and output.is_floating_point():
                entry["output"].update(output)
        return record

    for name in names:
        handles.append(modules[name].register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            for batch in batches:
                call_model(model, batch)
    finally:
        for h in handles:
            h.remove()
    stats: Stats = {}
    for name, entry in running.items():
        stats[name] = {"inputs": {i: s.result() for i, s in entry["inputs"].items()}}
        if entry["output"].numel:
            stats[name]["output"] = entry["output"].result()
    return stats


def fingerprint(model: nn.Module, batches: Iterable[Any]) -> str:
    """A key for the cache: the model's weights and the calibration data."""
    h = hashlib.sha256()

    def feed(obj):
        if isinstance(obj, torch.Tensor):
            t = obj.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(obj, dict):
            for k in sorted(obj):
                h.update(str(k).encode())
                feed(obj[k])
        elif isinstance(obj, (tuple, list)):
            for o in obj:
                feed(o)
        else:
            h.update(repr(obj).encode())

    for name, t in model.state_dict().items():
        h.update(name.encode())
        feed(t)
    for batch in batches:
        feed(batch)
    return h.hexdigest()[:24]


def save(stats: Stats, path: str | os.PathLike) -> None:
    """Write statistics as Distiller's YAML, atomically."""
    write_atomic(path, yaml.safe_dump(stats, sort_keys=False))


def load(path: str | os.PathLike) -> Stats:
    """Read a statistics YAML and check its layout."""
    try:
        with open(path) as f:
            stats = yaml.safe_load(f)
    except OSError as e:
        raise AutoqError(f"statistics file {path}: cannot read it ({e.strerror})") from None
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f" line {line + 1}" if line is not None else ""
        raise AutoqError(f"statistics file {path}{where}: not valid YAML") from None
    if not isinstance(stats, dict):
        raise AutoqError(f"statistics file {path}: expected a mapping of module names")
    for name, entry in stats.items():
        tensors = list((entry or {}).get("inputs", {}).values()) + [entry.get("output", {})]
        for t in tensors:
            missing = [k for k in FIELDS if not isinstance(t.get(k), (int, float))]
            if missing:
                raise AutoqError(f"statistics file {path}: module {name!r} lacks numeric "
                                 f"{', '.join(missing)} (Distiller's layout: inputs/output with "
                                 f"{', '.join(FIELDS)})")
    return stats
