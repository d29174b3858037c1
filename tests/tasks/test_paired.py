"""The paired bootstrap that says how much of a difference between two scores is luck."""
import numpy as np
import pytest

from autoq.errors import AutoqError
from autoq.tasks import Score
from autoq.tasks.paired import paired_difference
from plugin_task import ClosenessTask


def score(rows, split="confirm"):
    rows = np.asarray(rows, dtype=float)
    task = ClosenessTask()
    return Score(task.summed_metric(rows.sum(0)), "closeness", f"closeness|{split}|n={len(rows)}",
                 len(rows), examples=rows)


def test_a_recipe_against_itself_differs_by_nothing():
    task, a = ClosenessTask(), score(np.random.default_rng(0).uniform(0.1, 1, (50, 2)))
    d = paired_difference(task, a, a)
    assert (d.value, d.low, d.high, d.p) == (0.0, 0.0, 0.0, 1.0)


def test_better_on_every_example_is_told_apart_and_a_coin_flip_is_not():
    rng, task = np.random.default_rng(1), ClosenessTask()
    ref = rng.uniform(1, 2, 200)
    err = rng.uniform(0.01, 0.05, 200)
    worse, better = score(np.c_[err, ref]), score(np.c_[err / 2, ref])
    d = paired_difference(task, better, worse)
    assert d.value == pytest.approx(better.metric - worse.metric) and 0 < d.low <= d.value <= d.high
    assert d.p == 0.0
    swapped = err.copy()  # the same errors, on other examples: as good, by luck either way
    swapped[::2], swapped[1::2] = err[1::2] * 1.1, err[::2] * 0.9
    d = paired_difference(task, score(np.c_[swapped, ref]), worse)
    assert d.low < 0 < d.high and d.p > 0.05
    assert paired_difference(task, better, worse) == paired_difference(task, better, worse)  # seeded


def test_scores_that_cannot_be_paired_are_refused():
    task, a = ClosenessTask(), score([[0.1, 1.0], [0.2, 1.0]])
    with pytest.raises(AutoqError, match="different splits"):
        paired_difference(task, a, score([[0.1, 1.0], [0.2, 1.0]], split="search"))
    with pytest.raises(AutoqError, match="without per-example statistics"):
        paired_difference(task, a, Score(a.metric, "closeness", a.signature, a.n))
