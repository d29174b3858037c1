"""Calibration statistics in Distiller's layout, collected in one pass and cached.

Layout (YAML), per module name::

    decoder.classifier.classifier:
      inputs: {0: {min, max, avg_min, avg_max, mean, std, b, shape, total_numel}}
      output: {min, max, ...}

``avg_min``/``avg_max`` average the per-sample extremes. To stay one pass, ``b`` (the
Laplace scale, mean absolute deviation around the mean) is computed on an evenly strided
sample of at most 4096 values per call. A tensor that feeds several modules in one
forward (a layer's output and the next op's input) is reduced once.
"""
from __future__ import annotations

import hashlib
import math
import os
from typing import Any, Iterable

import torch
import yaml
from torch import nn

from .. import yaml_io
from ..errors import AutoqError
from ..io import write_atomic

Stats = dict[str, dict[str, Any]]
FIELDS = ("min", "max", "avg_min", "avg_max", "mean", "std", "b")


B_SAMPLE = 4096


def reduce(x: torch.Tensor) -> tuple:
    """One call's reductions: per-sample minima and maxima, sum, sum of squares, and an
    evenly strided sample of at most B_SAMPLE values (for ``b``)."""
    rows = x.detach().float()
    rows = rows.reshape(rows.shape[0], -1) if rows.dim() > 1 else rows.reshape(1, -1)
    mins, maxs = rows.amin(1), rows.amax(1)  # on CPU much faster than aminmax(dim=1)
    if rows.is_contiguous():  # float32 BLAS dot: the fastest sum of squares
        flat = rows.view(-1)
        sumsq = torch.dot(flat, flat)
    else:  # a strided slice (one LSTM step): no copy
        sumsq = torch.linalg.vector_norm(rows) ** 2
    sample = rows[:, ::max(1, rows.numel() // B_SAMPLE)].flatten()
    return mins, maxs, rows.sum(), sumsq, rows.numel(), sample  # summed in float64 at the end


class TensorStats:
    """Statistics of one tensor position: each call's reductions, combined at the end."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.shape = None

    def update(self, x: torch.Tensor, reduced: tuple) -> None:
        self.calls.append(reduced)
        self.shape = tuple(x.shape)

    @property
    def numel(self) -> int:
        return sum(c[4] for c in self.calls)

    def result(self) -> dict[str, Any]:
        mins, maxs, sums, sumsqs, numels, samples = zip(*self.calls)
        mins, maxs = torch.cat(mins), torch.cat(maxs)
        numel = sum(numels)
        mean = torch.stack(sums).double().sum().item() / numel
        var = max(torch.stack(sumsqs).double().sum().item() / numel - mean ** 2, 0.0)
        b = (torch.cat(samples).double() - mean).abs().mean().item()
        return {"min": mins.min().item(), "max": maxs.max().item(),
                "avg_min": mins.double().mean().item(), "avg_max": maxs.double().mean().item(),
                "mean": mean, "std": var ** 0.5, "b": b,
                "shape": str(self.shape), "total_numel": numel}


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
    seen: dict[int, tuple] = {}  # this batch's reductions by tensor, kept alive until its end

    def reduced(t: torch.Tensor) -> tuple:
        key = id(t)
        if key not in seen or seen[key][0] is not t or seen[key][1] != t._version:
            seen[key] = (t, t._version, reduce(t))
        return seen[key][2]

    def hook(name):
        def record(module, inputs, output):
            entry = running.setdefault(name, {"inputs": {}, "output": TensorStats()})
            for i, t in enumerate(inputs):
                if isinstance(t, torch.Tensor) and t.is_floating_point():
                    entry["inputs"].setdefault(i, TensorStats()).update(t, reduced(t))
            if isinstance(output, torch.Tensor) and output.is_floating_point():
                entry["output"].update(output, reduced(output))
        return record

    for name in names:
        handles.append(modules[name].register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            for batch in batches:
                call_model(model, batch)
                seen.clear()
    finally:
        for h in handles:
            h.remove()
    stats: Stats = {}
    for name, entry in running.items():
        stats[name] = {"inputs": {i: s.result() for i, s in entry["inputs"].items()}}
        if entry["output"].numel:
            stats[name]["output"] = entry["output"].result()
    return stats


def fingerprint(model: nn.Module, batches: Iterable[Any], names: Iterable[str] = ()) -> str:
    """A key for the cache: the model's weights, the calibration data and the modules
    whose statistics are collected (graph mode exposes more of them)."""
    h = hashlib.sha256()
    h.update("\n".join(names).encode())

    def feed(obj):
        if isinstance(obj, torch.Tensor):
            t = obj.detach().cpu().contiguous().reshape(-1)  # 0-d tensors too
            h.update(f"{t.dtype}{tuple(obj.shape)}".encode())
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


def from_record(record: dict[str, Any]) -> Stats:
    """Statistics as a study records them (JSON, whose keys are strings) with each input
    position an int again."""
    return {name: {**entry, "inputs": {int(i): t for i, t in entry.get("inputs", {}).items()}}
            for name, entry in record.items()}


def save(stats: Stats, path: str | os.PathLike) -> None:
    """Write statistics as Distiller's YAML, atomically."""
    write_atomic(path, yaml.safe_dump(stats, sort_keys=False))


def load(path: str | os.PathLike) -> Stats:
    """Read a statistics YAML and check its layout."""
    stats = yaml_io.load(path, "statistics file")
    if not isinstance(stats, dict):
        raise AutoqError(f"statistics file {path}: expected a mapping of module names")
    layout = f"Distiller's layout: inputs/output with {', '.join(FIELDS)}"
    for name, entry in stats.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("output"), dict) \
                or not isinstance(entry.get("inputs", {}), dict):
            raise AutoqError(f"statistics file {path}: module {str(name)[:200]!r} is not a mapping "
                             f"with an output mapping ({layout})")
        for where, t in [*((f"input {k}", v) for k, v in entry.get("inputs", {}).items()),
                         ("output", entry["output"])]:
            problem = _bad_tensor(t)
            if problem:
                raise AutoqError(f"statistics file {path}: module {str(name)[:200]!r}, {where}: "
                                 f"{problem} ({layout}; finite, min <= max, std and b >= 0)")
    return stats


def _bad_tensor(t: Any) -> str | None:
    """What makes one tensor's statistics unusable (None: nothing)."""
    if not isinstance(t, dict):
        return "not a mapping"
    missing = [k for k in FIELDS if isinstance(t.get(k), bool) or not isinstance(t.get(k), (int, float))]
    if missing:
        return f"lacks numeric {', '.join(missing)}"
    bad = [k for k in FIELDS if not math.isfinite(t[k])]
    if bad:
        return f"{', '.join(f'{k} = {t[k]}' for k in bad)} is not finite"
    if t["min"] > t["max"] or t["avg_min"] > t["avg_max"]:
        return f"min {t['min']:g} / avg_min {t['avg_min']:g} above max {t['max']:g} / avg_max {t['avg_max']:g}"
    if t["std"] < 0 or t["b"] < 0:
        return f"std {t['std']:g} or b {t['b']:g} below 0"
    return None
