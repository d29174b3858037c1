"""Optuna's samplers by name, each shown only the trials that are points of the space.

A study also holds trials the space cannot express: FP32, uniform int8 and seed recipes
outside the space's choices. They carry no parameters, and Optuna's model-based samplers
model the intersection of the trials' parameters, which one such trial empties: TPE then
falls back to one knob at a time, and GP and NSGA-II to random search. So the sampler is
handed a view of the study without them (they still count on the front).
"""
from __future__ import annotations

from typing import Any

import optuna
from optuna.samplers import BaseSampler
from optuna.trial import TrialState

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


def in_space(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial is a point of the space: it has parameters, or has not finished."""
    return bool(trial.distributions) or not trial.state.is_finished()


class SpaceView:
    """A study, its trials outside the space left out; all else is the study's."""

    def __init__(self, study: optuna.Study):
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, *args, **kwargs) -> list:
        return [t for t in self._study._get_trials(*args, **kwargs) if in_space(t)]

    def get_trials(self, *args, **kwargs) -> list:
        return [t for t in self._study.get_trials(*args, **kwargs) if in_space(t)]

    @property
    def trials(self) -> list:
        return self.get_trials()


class SpaceSampler(BaseSampler):
    """``inner``, shown the study through a ``SpaceView``."""

    def __init__(self, inner: BaseSampler):
        self.inner = inner

    def __str__(self) -> str:
        return str(self.inner)

    def infer_relative_search_space(self, study, trial):
        return self.inner.infer_relative_search_space(SpaceView(study), trial)

    def sample_relative(self, study, trial, search_space):
        return self.inner.sample_relative(SpaceView(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.inner.sample_independent(SpaceView(study), trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self.inner.before_trial(SpaceView(study), trial)

    def after_trial(self, study, trial, state: TrialState, values) -> None:
        self.inner.after_trial(SpaceView(study), trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
