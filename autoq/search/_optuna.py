"""The one place autoq reaches into Optuna's private API, so that an Optuna upgrade is
checked here: the RDB storage's stale-trial query and its models, failing a study's stale
trials, and a study's private trial list that samplers read."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import optuna
from optuna.samplers import BaseSampler
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.trial import TrialState


class Storage(RDBStorage):
    """Optuna's RDB storage, where a running trial that never recorded a heartbeat also
    goes stale once it is older than the grace period: its worker died inside ``ask()``,
    before the first beat, and Optuna alone would leave it running for ever."""

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = super()._get_stale_trial_ids(study_id)
        with self.scoped_session() as session:
            silent = session.query(models.TrialModel.trial_id).filter(
                models.TrialModel.study_id == study_id,
                models.TrialModel.state == optuna.trial.TrialState.RUNNING,
                ~models.TrialModel.heartbeats.any()).all()
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=self.grace_period)
        return stale + [trial_id for (trial_id,) in silent
                        if self.get_trial(trial_id).datetime_start.astimezone(timezone.utc) < cutoff]


def fail_stale(study: optuna.Study) -> None:
    """Fail the study's running trials whose worker stopped beating (one another process
    finished meanwhile stays as it is)."""
    storage = study._storage
    if not storage.get_heartbeat_interval():
        return
    for trial_id in storage._get_stale_trial_ids(study._study_id):
        try:
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass


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
