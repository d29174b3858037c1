"""Where trials come from besides the sampler: the refinement of the space's seed recipes
(queued once), a neighbour of a repeated proposal, and Pareto local search around the
front. Each is a small strategy with one method, ``queue``, that puts trials in the study
for the sampler's turn to take first. The seeds themselves (FP32, int8, the space's
recipes, the budget sweep) are in ``start``."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import optuna

from ..recipe import Recipe
from .neighbours import draw_parent, moves, neighbour
from .outputs import completed, front_of
from .space import SearchSpace
from .trial_record import TrialRecord


@dataclass(frozen=True)
class Refine:
    """Once per study, ``count`` trials among the recipes one knob from the space's seed
    recipes that are no larger and quantize otherwise (what a person does with a
    hand-tuned recipe: try one change, keep what holds), spread over the seeds.
    ``size`` and ``plan_key`` are the scorer's."""

    space: SearchSpace
    rng: random.Random
    count: int
    size: Callable[[Recipe], float]
    plan_key: Callable[[Recipe], str]

    def queue(self, study: optuna.Study) -> None:
        trials = study.get_trials(deepcopy=False)
        if self.count <= 0 or any(TrialRecord.of(t).refine_of is not None for t in trials):
            return
        seeds = [t for t in trials if TrialRecord.of(t).seed in self.space.seed_names
                 and t.params and t.state == optuna.trial.TrialState.COMPLETE]
        for i, seed in enumerate(seeds):
            share = self.count // len(seeds) + (i < self.count % len(seeds))
            options = self.options(seed.params)
            for params in self.rng.sample(options, min(share, len(options))):
                study.enqueue_trial(params, user_attrs=TrialRecord(refine_of=seed.number).attrs())

    def options(self, params: dict) -> list[dict]:
        """The one-knob changes of ``params`` no larger than it, one per distinct plan."""
        recipe = self.space.recipe(params)
        size, keys, out = self.size(recipe), {self.plan_key(recipe)}, []
        for other_params in moves(params, self.space.knobs()):
            other = self.space.recipe(other_params)
            if self.size(other) <= size and (k := self.plan_key(other)) not in keys:
                out.append(other_params)
                keys.add(k)
        return out


@dataclass(frozen=True)
class Neighbour:
    """A trial's neighbour (``changes`` knobs moved) as the next trial, kept with ``why``
    (a ``TrialRecord`` field naming the trial it came from)."""

    space: SearchSpace
    rng: random.Random

    def queue(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, changes: int, why: str) -> None:
        if trial.params:
            params = neighbour(trial.params, self.space.knobs(), changes, self.rng)
            study.enqueue_trial(params, user_attrs=TrialRecord(**{why: trial.number}).attrs())


@dataclass(frozen=True)
class LocalSearch:
    """Pareto local search: a neighbour (one or two knobs moved) of a front point, drawn
    by the hypervolume it alone holds up, or of one of the space's seed recipes
    (hand-tuned starting points stay parents when the front passes them). ``sign`` -1: the
    objective is minimized. The hypervolume is measured from ``worst`` (the worst value worth
    keeping, oriented so that higher is better; None: the front's worst distance, for
    fidelity) and ``costs`` (FP32's)."""

    space: SearchSpace
    rng: random.Random
    sign: float
    worst: float | None
    costs: tuple[float, ...]

    def corner(self, front: list[optuna.trial.FrozenTrial]) -> tuple[float, ...]:
        worst = -max((t.values[0] for t in front), default=0.0) * 1.01 if self.worst is None else self.worst
        return (worst, *self.costs)

    def queue(self, study: optuna.Study) -> None:
        done = completed(study)
        front = front_of(done, sign=self.sign)
        on_front = {t.number for t in front}
        seeds = [t for t in done if TrialRecord.one(t, "seed") in self.space.seed_names
                 and t.number not in on_front]
        parent = draw_parent(front, seeds, self.corner(front), self.rng, self.sign)
        if parent is not None:
            Neighbour(self.space, self.rng).queue(study, parent, self.rng.choice((1, 2)), "local_of")
