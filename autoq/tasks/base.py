"""The task interface shared by the search, the CLI and users' own code.

A task owns a float model, its calibration data and its metric. The engine never
looks inside: it only runs ``model(*batch)`` on calibration batches and asks the task
to score a model.
"""
from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import AutoqError
from ..quant.stats import call_model

Split = Literal["search", "confirm"]
SPLITS: tuple[str, ...] = ("search", "confirm")


@dataclass(frozen=True)
class Score:
    """A metric value with what is needed to reproduce it exactly."""

    metric: float
    metric_name: str
    signature: str  # e.g. sacrebleu's signature, or "f1|mrpc-dev|n=408"
    n: int  # examples scored
    # Optional: one row of sufficient statistics per example scored (F1: true positive,
    # false positive, false negative), whose sum gives the metric by the task's
    # ``summed_metric``; two such scores on one split can be compared (``tasks.paired``)
    examples: np.ndarray | None = field(default=None, repr=False, compare=False)


class Task(ABC):
    """A model plus the data and metric that judge it.

    ``direction`` is "maximize" or "minimize" for the metric.
    Calibration batches are what ``model(*batch)`` (tuple), ``model(**batch)`` (dict)
    or ``model(batch)`` (tensor) accepts.
    """

    name: str = "task"
    metric_name: str = "metric"
    direction: str = "maximize"
    # True when ``evaluate`` uses its ``memo``: a dict, one per model, in which it keeps each
    # batch's outputs, so that scoring the whole split after a fraction of it runs only the
    # batches not yet run (the search passes one; see ``run_parts``)
    reuses_outputs: bool = False
    # Examples per batch of ``evaluate``, or None; the search halves it when a GPU runs out
    # of memory, so a task that has one reads it on every call
    batch_size: int | None = None
    # What the fidelity objective's record calls the pool and the distance
    pool_name: str = "pool_batches"
    distance_name: str = "kl"

    def prepare(self, force: bool = False) -> str | None:
        """Build what the task needs once (``autoq prepare``: e.g. a fine-tune), and say
        where it is; None: nothing to build. Default: nothing."""
        return None

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The float model in eval mode, on CPU."""

    @abstractmethod
    def calibration_batches(self) -> Iterable[Any]:
        """Inputs for statistics collection; the same on every call."""

    @abstractmethod
    def evaluate(self, model: nn.Module, split: Split = "confirm", fraction: float = 1.0,
                 device: str = "cpu", memo: dict | None = None) -> Score:
        """Score ``model`` on a split, or on a fixed part of it holding about ``fraction`` of
        its examples (the same part on every call); ``memo``: see ``reuses_outputs``."""

    def chance(self, split: Split = "confirm") -> Score | None:
        """The score on the whole ``split`` of the best answer that ignores the input (MRPC:
        every pair a paraphrase), with per-example statistics; None if the task has none.
        A recipe that cannot be told from it no longer uses its input."""
        return None

    def summed_metric(self, sums: np.ndarray) -> float:
        """The metric of summed rows of ``Score.examples``, for a task whose scores carry
        them (both built-in tasks): what a paired bootstrap resamples."""
        raise NotImplementedError(f"task {self.name!r} gives no per-example statistics")

    # --- the fidelity objective (autoq.fidelity): no labels needed -------------------
    def pool_batches(self) -> list[Any]:
        """Unlabelled inputs the fidelity objective compares a recipe with FP32 on, as
        ``calibration_batches`` are given; the same on every call, and none of them from a
        split the front is judged on. Default: the calibration batches."""
        return list(self.calibration_batches())

    @property
    def pool_key(self) -> str:
        """The pool's name in a study's record: the task's, or "calibration" when the
        calibration batches serve."""
        return self.pool_name if self.has_own_pool else "calibration"

    @property
    def has_own_pool(self) -> bool:
        """Whether the task gives a pool of its own (else its calibration batches serve)."""
        return type(self).pool_batches is not Task.pool_batches

    def pool_from_file(self, path: Path) -> None:
        """Use the unlabelled inputs in ``path`` as the pool (``--pool``). A task that reads
        no such file leaves this out, and ``--pool`` is refused for it."""
        raise AutoqError(f"task {self.name!r} reads no pool file: give its pool in code "
                         f"(Task.pool_batches), or leave out --pool")

    def log_probs(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's output distributions on one pool batch as log-probabilities, (batch,
        classes) or (batch, positions, classes), and a (batch, positions) mask of the
        positions that count (None: all). Default: the output's logits (a tensor, the
        first of a tuple, or ``.logits``), log-softmaxed over the last axis."""
        out = call_model(model, batch)
        logits = getattr(out, "logits", None)
        if logits is None:
            logits = out["logits"] if isinstance(out, dict) else out[0] if isinstance(out, (tuple, list)) else out
        return torch.log_softmax(logits.float(), dim=-1), None

    def pool_outputs(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the fidelity compares with FP32's on one pool batch, and its mask: by
        default ``log_probs``. A task that judges decoded outputs instead (a translator's
        translations) returns its own per-example values, and its ``distance`` reads them."""
        return self.log_probs(model, batch)

    def distance(self, reference: torch.Tensor, other: torch.Tensor,
                 mask: torch.Tensor | None) -> torch.Tensor:
        """Per example, how far ``other``'s distributions are from FP32's ``reference``
        (both from ``log_probs``): by default KL(FP32 || other), averaged over the
        positions the mask keeps. A task may give its own distance (0 for equal outputs)."""
        return kl_distance(reference, other, mask)


def kl_distance(reference: torch.Tensor, other: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per example, KL(reference || other) of log-probabilities over the last axis, averaged
    over the positions ``mask`` keeps (all when None)."""
    kl = (reference.exp() * (reference - other)).sum(-1).clamp_min(0.0)
    if kl.dim() == 1:
        return kl
    if mask is None:
        return kl.flatten(1).mean(1)
    mask = mask.to(kl.dtype)
    return (kl * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0)


def pick_parts(count: int, fraction: float) -> list[int]:
    """Which of a split's ``count`` batches ``fraction`` of it scores: round(fraction *
    count) of them (at least one), spread evenly from the first to the last; all for 1."""
    k = min(count, max(1, round(fraction * count)))
    return sorted({int((i + 0.5) * count / k) for i in range(k)})


def run_parts(batches: Sequence[list[int]], fraction: float, run: Callable[[list[int]], list],
              memo: dict | None = None, key: tuple = ()) -> dict[int, Any]:
    """Outputs by example index for the batches (lists of example indices) that ``fraction``
    picks. ``run(batch)`` returns one batch's outputs in its order. A batch found in ``memo``
    under ``key + (its index,)`` is not run again; one that runs is kept there. A batch is
    always run whole and alike, so its outputs are the same in a fraction and in the whole."""
    out: dict[int, Any] = {}
    for b in pick_parts(len(batches), fraction):
        got = memo.get((*key, b)) if memo is not None else None
        if got is None:
            got = run(batches[b])
            if memo is not None:
                memo[(*key, b)] = got
        out.update(zip(batches[b], got))
    return out


def parts_label(count: int, fraction: float) -> str:
    """The signature's note of which batches a fraction scored ('' for the whole split)."""
    picked = pick_parts(count, fraction)
    return "" if len(picked) == count else f"|batches={','.join(map(str, picked))}/{count}"


def checked_score(task: Task, score: Any, split: str) -> Score:
    """What ``task.evaluate`` returned, if it is a Score (AutoqError otherwise)."""
    if not isinstance(score, Score):
        raise AutoqError(f"task {task.name!r}: evaluate() returned {type(score).__name__} on the "
                         f"{split} split, not an autoq.tasks.Score (see docs/tasks.md)")
    return score


def scored_as_reference(task: Task, run: Callable[[], Any], split: str, what: str = "FP32") -> Score:
    """The score a comparison stands on (FP32's): one clear message, not a traceback,
    when the task's evaluate() raises, returns no Score or scores a non-finite metric."""
    try:
        score = checked_score(task, run(), split)
    except AutoqError:
        raise
    except Exception as e:
        raise AutoqError(f"task {task.name!r}: evaluate() of {what} on the {split} split raised "
                         f"{type(e).__name__}: {e}") from None
    if not math.isfinite(score.metric):
        raise AutoqError(f"task {task.name!r}: {what} scores {score.metric} on the {split} split; "
                         f"a metric must be a finite number")
    return score


@contextlib.contextmanager
def evaluating(model: nn.Module, device: str):
    """``model`` on ``device`` in eval mode for the duration; then where and as it was."""
    param = next(model.parameters(), None)
    state = (param.device if param is not None else None, model.training)
    model.to(device).eval()
    try:
        yield model
    finally:
        if state[0] is not None:
            model.to(state[0])
        model.train(state[1])
