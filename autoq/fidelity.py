"""The fidelity objective: how far a quantized model's outputs are from FP32's, on a pool
of inputs that needs no labels.

By default the distance is KL(FP32 || recipe) of the output distributions (a classifier's
class probabilities, a translator's next-token distributions), averaged per example and
then over the pool; a task may say how its outputs become distributions (``log_probs``),
compare other outputs (``pool_outputs``) or give its own distance (``distance``). A
fidelity is a sum of per-example values, as a metric's statistics are, so a fraction of
the pool (a spread share of its batches, the same on every call) is scored by the same
code, and a trial that goes on from a fraction to the whole pool runs only the batches
not yet run.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .errors import AutoqError
from .tasks.base import Task, parts_label, pick_parts


@dataclass(frozen=True)
class Fidelity:
    """The mean distance from FP32 over ``n`` pool examples (0: FP32's own outputs)."""

    value: float
    n: int
    signature: str  # which pool, how many examples, which batches
    examples: np.ndarray = field(repr=False, compare=False)  # one distance per example


class Reference:
    """FP32's output distributions on a task's pool, computed once per batch on first use,
    and the fidelity of any model against them. ``batches`` and ``pool_key``: other
    unlabelled inputs than the task's pool, and their name (a probe's; a search uses the
    task's own, which ``--pool`` sets)."""

    def __init__(self, task: Task, device: str = "cpu", batches: list | None = None,
                 pool_key: str | None = None):
        if (batches is None) != (pool_key is None):
            raise AutoqError("give a Reference other batches and their name (pool_key) together")
        self.task, self.device, self._pool_key = task, device, pool_key
        if type(task).distance is not Task.distance and task.distance_name == Task.distance_name:
            raise AutoqError(f"task {task.name!r} gives its own distance() but keeps the default's "
                             f"name {Task.distance_name!r}: set distance_name (it signs each "
                             f"fidelity and keys kept sensitivity tables, which must not mix)")
        self.batches = list(task.pool_batches() if batches is None else batches)
        if not self.batches:
            raise AutoqError(f"task {task.name!r}: its pool (Task.pool_batches) is empty; give "
                             f"unlabelled inputs (--pool FILE, or the task's pool_batches)"
                             if task.has_own_pool else
                             f"task {task.name!r}: calibration_batches() gave no batches, and "
                             f"they are its pool and its statistics' inputs: give at least one")
        self._fp32: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._model: nn.Module | None = None

    @property
    def key(self) -> str:
        """What the pool is, for a study's record: its name and its size in batches."""
        return f"{self._pool_key or self.task.pool_key}|batches={len(self.batches)}"

    def fp32(self, b: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        if b not in self._fp32:
            if self._model is None:
                self._model = self.task.build_model().eval().to(self.device)
            with torch.no_grad():
                logp, mask = self.task.pool_outputs(self._model, _to(self.batches[b], self.device))
            self._fp32[b] = (logp, mask)
            if len(self._fp32) == len(self.batches):
                self._model = None  # every batch is held: the float model is not needed again
        return self._fp32[b]

    def distances(self, model: nn.Module, b: int) -> np.ndarray:
        """Per example of batch ``b``: the task's distance of ``model`` from FP32."""
        ref, mask = self.fp32(b)
        with torch.no_grad():
            mine, _ = self.task.pool_outputs(model, _to(self.batches[b], self.device))
            d = self.task.distance(ref, mine, mask)
        out = d.detach().double().cpu().numpy().reshape(-1)
        if not np.all(np.isfinite(out)):
            raise FloatingPointError("the fidelity is not finite (the model's outputs overflow)")
        return out

    def measure(self, model: nn.Module, fraction: float = 1.0, memo: dict | None = None) -> Fidelity:
        """The fidelity of ``model`` on ``fraction`` of the pool; batches found in ``memo``
        (one dict per model) are not run again, and those run are kept there."""
        if not 0.0 < fraction <= 1.0:
            raise AutoqError(f"fraction must be in (0, 1], got {fraction}")
        model.eval()
        rows = []
        for b in pick_parts(len(self.batches), fraction):
            got = memo.get(("pool", b)) if memo is not None else None
            if got is None:
                got = self.distances(model, b)
                if memo is not None:
                    memo[("pool", b)] = got
            rows.append(got)
        examples = np.concatenate(rows)
        signature = (f"{self.task.distance_name}|pool={self.key}|n={len(examples)}"
                     f"{parts_label(len(self.batches), fraction)}")
        return Fidelity(float(examples.mean()), len(examples), signature, examples)


def _to(batch, device: str):
    if device == "cpu":
        return batch
    if isinstance(batch, dict):
        return {k: v.to(device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(v.to(device) if torch.is_tensor(v) else v for v in batch)
    return batch.to(device)


def distance_label(distance: str | None) -> str:
    """A study's distance as its pages name it: "KL" for the default (and for a study made
    before autoq recorded its distance, which measured KL), else the task's name for it."""
    return "KL" if distance is None or distance.startswith("kl") else distance


def fidelity_text(distance: str | None) -> str:
    """What a study's fidelity is, in words."""
    label = distance_label(distance)
    return ("mean KL divergence of the outputs from FP32's" if label == "KL" else
            f"mean {label} of the outputs against FP32's (the task's own measure)")


def text_digest(lines: list[str]) -> str:
    """A short digest of a pool's text, for its name in a study's record."""
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]
