"""Where the task metric decides: a fidelity study's front, scored by the labelled metric.

The search ranks recipes by fidelity to FP32 on a large unlabelled pool, so the labels'
luck does not choose them. The labelled metric is then scored only on the recipes that
can reach the front: the fidelity front (fidelity against size) from FP32 down to the
first recipe whose drop on the search split passes the study's limit (``--max-drop``,
else 10% of FP32's metric), found by bisection, since the drop grows along that front;
at most ``front_size`` of them, spread evenly along it. Each is scored on the search and
confirm splits, with the paired interval of its confirm difference from FP32. The front
the user reads is those recipes, metric against size, each with its fidelity: all lie on
the fidelity front, and none is dropped because another scored higher on the search
split, which is where the labels' luck would choose again.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
from tqdm import tqdm

from ..errors import AutoqError
from .front import REF_DROP
from .limits import TrialTimeout, time_limit
from .outputs import completed, front_of, row
from .record import StudyRecord

if TYPE_CHECKING:
    from .searcher import Searcher


def limit(s: Searcher, record: StudyRecord) -> float:
    """The largest search-split drop worth scoring further: --max-drop, else 10% of FP32's."""
    return s.cfg.max_drop if s.cfg.max_drop is not None else REF_DROP * abs(record.fp32_metric)


def drop(s: Searcher, record: StudyRecord, metric: float) -> float:
    """How much worse than FP32's ``metric`` is, in the metric's units (a metric that is
    minimized, such as an error rate, drops as it rises)."""
    fp32 = record.fp32_metric
    return fp32 - metric if s.task.direction == "maximize" else metric - fp32


def search_metric(s: Searcher, t: optuna.trial.FrozenTrial, record: StudyRecord) -> float | None:
    """A trial's metric on the whole search split, scored once and kept in the study (None:
    the metric broke, NaN or the task's code raised; the reason is kept beside it)."""
    if not record.scored(t.number):
        recipe = s.recipe_of(t)
        try:
            with time_limit(s.trial_limit(), None):
                record.put_metric(t.number, record.fp32_metric if recipe is None else s.evaluate(recipe).metric)
        except AutoqError:
            raise
        except (Exception, TrialTimeout) as e:  # one broken recipe must not end the study's last step
            record.put_metric(t.number, None, f"{type(e).__name__}: {e}")
    return record.metric(t.number)


def fidelity_front(s: Searcher) -> list[optuna.trial.FrozenTrial]:
    """The fidelity front, largest (FP32) first."""
    return front_of(completed(s.study), sign=-1.0)[::-1]


def spread(count: int, k: int) -> list[int]:
    """``k`` indices of ``count`` evenly spread from the first to the last (all if fewer)."""
    if count <= k:
        return list(range(count))
    return sorted({round(i * (count - 1) / (k - 1)) for i in range(k)})


def candidates(s: Searcher, record: StudyRecord, score: bool, bar=None) -> list[optuna.trial.FrozenTrial]:
    """The fidelity front's recipes the metric is scored on (see the module's text). Without
    ``score``, those of them scored before."""
    front = fidelity_front(s)
    if not score:
        return [t for t in front if record.scored(t.number)]

    def ok(i: int) -> bool:
        if bar is not None:
            bar.set_postfix_str(f"bisect trial {front[i].number}", refresh=True)
        metric = search_metric(s, front[i], record)
        return metric is not None and drop(s, record, metric) <= limit(s, record)

    lo, hi = 0, len(front) - 1
    if ok(hi):
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return [front[i] for i in spread(lo + 1, s.cfg.front_size)]


def decided_rows(s: Searcher, score: bool = True) -> list[dict]:
    """The front a user reads (see the module's text); ``score``: score what it needs."""
    record = s.record()
    with tqdm(desc="metric on the front", unit="recipe", disable=not (score and s.cfg.progress),
              dynamic_ncols=True) as bar:
        picked = candidates(s, record, score, bar)
        bar.reset(total=len(picked))
        for t in picked:
            if score and search_metric(s, t, record) is not None and record.confirmed(t.number) is None:
                try:
                    with time_limit(s.trial_limit(), None):
                        record.put_confirmed(t.number, s.confirm(t))
                except TrialTimeout as e:  # not scored on confirm: not on the front
                    record.put_metric(t.number, None, f"confirm split: {e} (--trial-timeout)")
            bar.update()
    scored = [t for t in picked if record.metric(t.number) is not None and record.confirmed(t.number)]
    return [row(t, record, near=False, metric=record.metric(t.number), fidelity=round(t.values[0], 8))
            for t in sorted(scored, key=lambda t: t.values[1])]
