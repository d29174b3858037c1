"""How much of a difference between two scores is the split's luck: a paired bootstrap.

Both scores come from one split and carry per-example statistics (``Score.examples``).
Each resample draws the split's examples with replacement, the same draw for both, and
scores each by the task's ``summed_metric``; the difference's 2.5th and 97.5th
percentiles over the resamples are its 95% interval.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AutoqError
from .base import Score, Task

SAMPLES, SEED = 1000, 0  # resamples, and their seed: an interval is reproduced exactly


@dataclass(frozen=True)
class Difference:
    """``a`` less ``b``, its 95% interval, and p: the share of resamples in which the
    difference has the other sign (or is zero)."""

    value: float
    low: float
    high: float
    p: float


def paired_difference(task: Task, a: Score, b: Score, samples: int = SAMPLES,
                      seed: int = SEED) -> Difference:
    if a.examples is None or b.examples is None:
        raise AutoqError(f"task {task.name!r}: a score without per-example statistics cannot "
                         f"be compared by bootstrap")
    if a.signature != b.signature or a.examples.shape != b.examples.shape:
        raise AutoqError(f"scores of different splits cannot be paired "
                         f"({a.signature} against {b.signature})")
    n = len(a.examples)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=samples)
    diffs = np.array([task.summed_metric(x) - task.summed_metric(y)
                      for x, y in zip(counts @ a.examples, counts @ b.examples)])
    value = task.summed_metric(a.examples.sum(0)) - task.summed_metric(b.examples.sum(0))
    low, high = np.percentile(diffs, [2.5, 97.5])
    p = np.mean(diffs <= 0) if value > 0 else np.mean(diffs >= 0)
    return Difference(float(value), float(low), float(high), float(p))


def beats(task: Task, a: Score, b: Score | None) -> bool | None:
    """Whether ``a`` is better than ``b`` beyond the split's luck: the 95% interval of the
    difference wholly on the better side (None: no ``b``, or no per-example statistics)."""
    if b is None or a.examples is None or b.examples is None:
        return None
    d = paired_difference(task, a, b)
    return bool(d.low > 0) if task.direction == "maximize" else bool(d.high < 0)


def agreement(a: Score, b: Score) -> float:
    """The share of a split's examples that ``a`` and ``b`` score exactly alike (for a
    classifier: the same answer; for BLEU: the same n-gram counts, in effect the same
    sentence). Both must cover the same examples in the same order."""
    if a.examples is None or b.examples is None or a.examples.shape != b.examples.shape:
        raise AutoqError("agreement needs two scores with per-example statistics of one split")
    return float(np.mean(np.all(a.examples == b.examples, axis=1)))
