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

import optuna
from tqdm import tqdm

from ..errors import AutoqError
from .front import drop_kept
from .front_point import FrontPoint
from .limits import TrialTimeout, time_limit
from .outputs import completed, front_of, row
from .record import StudyRecord
from .scorer import Scorer
from .trial_record import TrialRecord


def fidelity_front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The fidelity front, largest first, headed by FP32: a task's signed measure (a recipe
    that does better than FP32 on the pool scores below 0) can leave FP32 off the front, but
    a user reads every point against it and may need to fall back on it."""
    done = completed(study)
    front = front_of(done, sign=-1.0)[::-1]
    fp32 = next((t for t in done if TrialRecord.one(t, "seed") == "fp32"), None)
    return front if fp32 is None or fp32.number in {t.number for t in front} else [fp32, *front]


def spread(count: int, k: int) -> list[int]:
    """``k`` indices of ``count`` evenly spread from the first to the last (all if fewer)."""
    if count <= k:
        return list(range(count))
    return sorted({round(i * (count - 1) / (k - 1)) for i in range(k)})


class Decider:
    """Scores the labelled metric on a fidelity study's front with ``scorer``, each recipe
    within ``limit_s`` seconds a split (a trial's limit), and makes the rows users read."""

    def __init__(self, scorer: Scorer, study: optuna.Study, limit_s: float):
        self.scorer, self.study, self.limit_s = scorer, study, limit_s
        self.cfg, self.record = scorer.cfg, StudyRecord(study)

    def limit(self) -> float:
        """The largest search-split drop worth scoring further: --max-drop, else 10% of FP32's."""
        fp32 = self.record.fp32_metric
        return drop_kept(fp32, self.cfg.max_drop)

    def drop(self, metric: float) -> float:
        """How much worse than FP32's ``metric`` is, in the metric's units (a metric that is
        minimized, such as an error rate, drops as it rises)."""
        fp32 = self.record.fp32_metric
        return fp32 - metric if self.scorer.task.direction == "maximize" else metric - fp32

    def search_metric(self, t: optuna.trial.FrozenTrial) -> float | None:
        """A trial's metric on the whole search split, scored once and kept in the study
        (None: the metric broke, NaN or the task's code raised; the reason is kept beside it)."""
        record = self.record
        if not record.scored(t.number):
            recipe = self.scorer.recipe_of(t)
            try:
                with time_limit(self.limit_s, None):
                    record.put_metric(t.number, record.fp32_metric if recipe is None
                                      else self.scorer.evaluate(recipe).metric)
            except AutoqError:
                raise
            except (Exception, TrialTimeout) as e:  # one broken recipe must not end the study's last step
                record.put_metric(t.number, None, f"{type(e).__name__}: {e}")
        return record.metric(t.number)

    def candidates(self, score: bool, bar=None) -> list[optuna.trial.FrozenTrial]:
        """The fidelity front's recipes the metric is scored on (see the module's text).
        Without ``score``, those of them scored before."""
        front = fidelity_front(self.study)
        if not score:
            return [t for t in front if self.record.scored(t.number)]

        def ok(i: int) -> bool:
            if bar is not None:
                bar.set_postfix_str(f"bisect trial {front[i].number}", refresh=True)
            metric = self.search_metric(front[i])
            return metric is not None and self.drop(metric) <= self.limit()

        lo, hi = 0, len(front) - 1
        if ok(hi):
            lo = hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return [front[i] for i in spread(lo + 1, self.cfg.front_size)]

    def rows(self, score: bool = True) -> list[FrontPoint]:
        """The front a user reads (see the module's text); ``score``: score what it needs."""
        record = self.record
        with tqdm(desc="metric on the front", unit="recipe", disable=not (score and self.cfg.progress),
                  dynamic_ncols=True) as bar:
            picked = self.candidates(score, bar)
            bar.reset(total=len(picked))
            for t in picked:
                if score and self.search_metric(t) is not None and record.confirmed(t.number) is None:
                    try:
                        with time_limit(self.limit_s, None):
                            record.put_confirmed(t.number, self.scorer.confirm(t))
                    except TrialTimeout as e:  # not scored on confirm: not on the front
                        record.put_metric(t.number, None, f"confirm split: {e} (--trial-timeout)")
                bar.update()
        scored = [t for t in picked if record.metric(t.number) is not None and record.confirmed(t.number)]
        return [row(t, record, near=False, metric=record.metric(t.number), fidelity=round(t.values[0], 8))
                for t in sorted(scored, key=lambda t: t.values[1])]
