"""Where trials come from besides the sampler: the refinement of the space's seed recipes
(queued once), a neighbour of a repeated proposal, and Pareto local search around the
front. Each queues trials in the study; the sampler proposes the rest (``Searcher.run_trial``).
The seeds themselves (FP32, int8, the space's recipes, the budget sweep) are in ``start``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from .front import REF_DROP
from .neighbours import draw_parent, moves, neighbour
from .outputs import completed, front_of
from .trial_record import TrialRecord

if TYPE_CHECKING:
    from .searcher import Searcher


def refine_seeds(s: Searcher) -> None:
    """Queue, once per study, ``refine`` trials among the recipes one knob from the
    space's seed recipes that are no larger and quantize otherwise (what a person does
    with a hand-tuned recipe: try one change, keep what holds), spread over the seeds."""
    trials = s.study.get_trials(deepcopy=False)
    if s.refine <= 0 or any(TrialRecord.of(t).refine_of is not None for t in trials):
        return
    seeds = [t for t in trials if TrialRecord.of(t).seed in s.space.seed_names
             and t.params and t.state == optuna.trial.TrialState.COMPLETE]
    for i, seed in enumerate(seeds):
        recipe = s.space.recipe(seed.params)
        size, key = s.size(recipe), s.plan_key(recipe)
        options, keys = [], {key}
        for params in moves(seed.params, s.space.knobs()):
            other = s.space.recipe(params)
            if s.size(other) <= size and (k := s.plan_key(other)) not in keys:
                options.append(params)
                keys.add(k)
        share = s.refine // len(seeds) + (i < s.refine % len(seeds))
        for params in s.handle.rng.sample(options, min(share, len(options))):
            s.study.enqueue_trial(params, user_attrs=TrialRecord(refine_of=seed.number).attrs())


def queue_neighbour(s: Searcher, trial: optuna.trial.FrozenTrial, changes: int, why: str) -> None:
    """Queue a neighbour of ``trial`` (``changes`` knobs moved) as the next trial."""
    if trial.params:
        params = neighbour(trial.params, s.space.knobs(), changes, s.handle.rng)
        s.study.enqueue_trial(params, user_attrs=TrialRecord(**{why: trial.number}).attrs())


def reference(s: Searcher, front: list[optuna.trial.FrozenTrial]) -> tuple[float, ...]:
    """The corner a front point's hypervolume is measured from, objective oriented so that
    higher is better: the worst metric worth keeping (FP32's less ``--max-drop``, else less
    REF_DROP of it), or for fidelity the front's worst distance; and FP32's costs."""
    record = s.record()
    if s.fidelity_search:
        worst = -max((t.values[0] for t in front), default=0.0) * 1.01
    else:
        fp32 = record.fp32_metric
        worst = fp32 - (s.cfg.max_drop if s.cfg.max_drop is not None else REF_DROP * abs(fp32))
    return (worst, record.fp32_size) + ((1.0,) if s.cfg.latency else ())


def queue_local(s: Searcher) -> None:
    """Pareto local search: a neighbour of a front point or of one of the space's seed
    recipes (hand-tuned starting points stay parents when the front passes them)."""
    done = completed(s.study)
    front = front_of(done, sign=s.objective.sign)
    on_front = {t.number for t in front}
    seeds = [t for t in done if TrialRecord.of(t).seed in s.space.seed_names
             and t.number not in on_front]
    parent = draw_parent(front, seeds, reference(s, front), s.handle.rng, s.objective.sign)
    if parent is not None:
        queue_neighbour(s, parent, s.handle.rng.choice((1, 2)), "local_of")
