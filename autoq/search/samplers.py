"""Optuna's samplers by name, each shown only the trials that are points of the space.

A study also holds trials the space cannot express: FP32, uniform int8 and seed recipes
outside the space's choices. They carry no parameters, and Optuna's model-based samplers
model the intersection of the trials' parameters, which one such trial empties: TPE then
falls back to one knob at a time, and GP and NSGA-II to random search. So the sampler is
handed a view of the study without them (they still count on the front).
"""
from __future__ import annotations

import optuna
from optuna.samplers import BaseSampler

from ._optuna import SpaceSampler
from .config import unknown_sampler


def make_sampler(name: str, seed: int) -> BaseSampler:
    """The sampler ``name`` (see config.SAMPLERS); all honour the trials' constraints."""
    if name == "tpe":
        inner = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    elif name == "nsga2":
        inner = optuna.samplers.NSGAIISampler(seed=seed)
    elif name == "gp":
        inner = optuna.samplers.GPSampler(seed=seed)
    elif name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    else:
        raise unknown_sampler(name)
    return SpaceSampler(inner)


