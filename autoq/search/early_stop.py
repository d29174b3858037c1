"""A metric study's early stop (``--fidelity`` below 1): a trial is scored on the first
fraction of the search split, and stops there when it is already clearly out."""
from __future__ import annotations

import optuna

from .front import dominates
from .outputs import front_trials
from .scorer import Scorer
from .study import StudyHandle
from .trial_record import TrialRecord


class EarlyStop:
    """Partial scores (kept in the study) and the test a partial score is stopped by."""

    def __init__(self, handle: StudyHandle, scorer: Scorer, sign: float):
        self.handle, self.scorer, self.sign = handle, scorer, sign
        self.cfg = scorer.cfg

    def partial(self, trial: optuna.trial.FrozenTrial | None) -> float:
        """A trial's metric (None: FP32's) on the first ``fidelity`` of the search split:
        recorded when the trial was scored so, else (seeds are scored in full only) scored
        now, once, and kept in the study."""
        if trial is not None and (kept := TrialRecord.of(trial).partial_metric) is not None:
            return kept
        recipe = None if trial is None else self.scorer.recipe_of(trial)
        record, n = self.handle.record(), None if recipe is None else trial.number
        value = record.partial(n)
        if value is None:
            value = self.scorer.score(recipe, self.cfg.fidelity)
            record.put_partial(n, value)
        return value

    def clearly_dominated(self, partial: float, costs: list[float]) -> bool:
        """Whether a recipe that scored ``partial`` on the first ``fidelity`` of the split is
        out already: on those same examples it breaks the drop constraint, or a front point
        no costlier beats it by the margin. Like is compared with like, since a fraction
        can be harder or easier than the whole split."""
        margin = self.cfg.prune_margin
        if margin is None:
            margin = 0.02 * abs(self.handle.record().fp32_metric)
        sign = self.sign  # compared as higher-is-better
        mine = sign * partial + margin
        if self.cfg.max_drop is not None and sign * self.partial(None) - mine > self.cfg.max_drop:
            return True
        return any(all(c <= own for c, own in zip(t.values[1:], costs))  # before scoring it
                   and dominates((sign * self.partial(t), *t.values[1:]), (mine, *costs))
                   for t in front_trials(self.handle.study))
