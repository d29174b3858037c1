"""What a trial keeps beside its values, under one set of names: where its recipe came
from, the recipe and its plan, and why it was not scored. Every module reads these
through ``TrialRecord.of`` and writes them through ``note`` or ``TrialRecord.attrs``,
never by the keys themselves (the keys are the field names, as studies store them)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import optuna

from .config import LATENCY


@dataclass(frozen=True)
class TrialRecord:
    seed: str | None = None  # a seeded trial's name: fp32, int8, a space seed, sweep-N, ...
    recipe: str | None = None  # the recipe's YAML (a seed's FP32 too: all float)
    plan: str | None = None  # ``Plan.key``: recipes that quantize alike share it
    float_in_deploy: int = 0  # ops graph mode exposed that the recipe quantizes
    same_as: int | None = None  # a repeated proposal: the trial that scored its plan
    fail_reason: str | None = None  # why it failed (none: its worker was cut short)
    stopped: str | None = None  # the bad input the run stopped on
    traceback: str | None = None
    partial_metric: float | None = None  # the metric on the first fraction of the split
    size_bytes: float | None = None  # the costs, kept for a pruned trial's point
    latency_ratio: float | None = None
    refine_of: int | None = None  # why the trial was queued: a seed's one-knob change,
    local_of: int | None = None  # a front point's neighbour (Pareto local search),
    neighbour_of: int | None = None  # a repeated proposal's neighbour

    @classmethod
    def of(cls, trial: optuna.trial.FrozenTrial) -> TrialRecord:
        return cls(**{k: v for k, v in trial.user_attrs.items() if k in _NAMES})

    @staticmethod
    def one(trial: optuna.trial.FrozenTrial, name: str):
        """One field of a trial's record, read alone (a scan over thousands of trials)."""
        assert name in _NAMES, name
        return trial.user_attrs.get(name, _DEFAULTS[name])

    def attrs(self) -> dict:
        """The fields set (not at their default), as a study stores them."""
        return {k: v for k, v in asdict(self).items() if v != _DEFAULTS[k]}

    @property
    def queued_by(self) -> dict:
        """Why the trial was queued (empty: the sampler proposed it): kept on its retry."""
        return {k: v for k, v in self.attrs().items() if k in ("refine_of", "local_of", "neighbour_of")}


_NAMES = {f.name for f in fields(TrialRecord)}
_DEFAULTS = {f.name: f.default for f in fields(TrialRecord)}
assert LATENCY in _NAMES  # a cost is kept under its objective's name


def note(trial: optuna.Trial, **values) -> None:
    """Keep ``values`` (``TrialRecord``'s fields) on a running trial."""
    for name, value in values.items():
        if name not in _NAMES:
            raise KeyError(f"a trial keeps no {name!r}")
        trial.set_user_attr(name, value)
