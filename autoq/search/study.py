"""The study as one worker holds it: created or resumed in its storage and checked once,
this process's number among all that opened it, what the study keeps beside its trials,
and asking for the next trial under the study's lock."""
from __future__ import annotations

import random
import zlib
from functools import cached_property

import optuna

from ..errors import AutoqError
from .config import SearchConfig
from .lock import study_lock
from .objective import Objective
from .record import StudyRecord
from .samplers import make_sampler
from .storage import open_storage, recover_stale
from .trial_record import TrialRecord

# The study's calibration statistics: a system attribute, read once per worker, since the
# user attributes (FP32's figures, confirm scores) are read many times a trial
STATS_ATTR = "autoq:calibration_stats"
PROCESSES_ATTR = "autoq:processes"  # how many processes have opened the study
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)


class StudyHandle:
    """One process's hold on the study named by ``cfg``, scored by ``objective``."""

    def __init__(self, cfg: SearchConfig, objective: Objective):
        self.cfg, self.objective = cfg, objective

    @cached_property
    def storage(self):
        return open_storage(self.cfg.storage, self.cfg.out, self.cfg.heartbeat_s)

    @property
    def study_id(self) -> int:
        return self.storage.get_study_id_from_name(self.cfg.study)

    @cached_property
    def study(self) -> optuna.Study:
        """The study, created or resumed in its storage on first use, and checked to be one
        this search can go on with."""
        cfg, objective = self.cfg, self.objective
        study = optuna.create_study(
            study_name=cfg.study, storage=self.storage,
            directions=[objective.direction] + ["minimize"] * (len(cfg.objectives) - 1),
            load_if_exists=True)
        if len(study.directions) not in (2, 3) or (
                "fp32_metric" not in study.user_attrs and study.get_trials(deepcopy=False)):
            raise AutoqError(f"study {cfg.study!r} in this storage was not made by autoq search "
                             f"({len(study.directions)} objective(s)); give another --study")
        if study.directions[0].name.lower() != objective.direction:
            made = "metric" if objective.name == "fidelity" else "fidelity"
            raise AutoqError(f"study {cfg.study!r} was made with --objective {made}: resume "
                             f"it with --objective {made}, or give a new --study")
        if len(study.directions) != len(cfg.objectives):
            made = "with" if len(study.directions) > 2 else "without"
            raise AutoqError(f"study {cfg.study!r} was made {made} the latency objective: "
                             f"resume it {made} --latency, or give a new --study")
        study.sampler = make_sampler(cfg.sampler, self._sampler_seed())
        return study

    def _sampler_seed(self) -> int:
        """--seed for the first process ever on the study; for every later one (another
        worker, machine or resume) a stream of its own, so that none replays another's
        proposals: each process takes the next number from the study, under its lock."""
        with study_lock(self.storage, self.cfg.study):
            attrs = self.storage.get_study_system_attrs(self.study_id)
            self.slot = attrs.get(PROCESSES_ATTR, 0)
            self.storage.set_study_system_attr(self.study_id, PROCESSES_ATTR, self.slot + 1)
        return self.cfg.seed if self.slot == 0 else zlib.crc32(repr((self.cfg.seed, self.slot)).encode())

    @cached_property
    def rng(self) -> random.Random:
        """Local search's choices: a fresh stream on resume, as for the sampler."""
        self.study  # opened first: that takes this process's number (slot)
        return random.Random(repr((self.cfg.seed, self.slot)))

    def kept_stats(self) -> dict | None:
        """The calibration statistics the study keeps (None before it keeps any). Another
        machine's float arithmetic differs in the last bits, and so would the statistics it
        collected; so every worker quantizes with these."""
        return self.storage.get_study_system_attrs(self.study_id).get(STATS_ATTR)

    def keep_stats(self, record: dict) -> None:
        """Make ``record`` the one set of statistics every worker quantizes with from now on."""
        self.storage.set_study_system_attr(self.study_id, STATS_ATTR, record)

    def record(self) -> StudyRecord:
        """What the study stores beside its trials, read now."""
        return StudyRecord(self.study)

    def finished(self, trials: list | None = None) -> int:
        """Trials (by default the study's) that scored a recipe or found it broken. A
        repeated proposal does not count, nor a trial cut short (its worker killed: it is
        run again)."""
        trials = self.study.get_trials(deepcopy=False) if trials is None else trials
        return sum(t.state in FINISHED and (t.state != optuna.trial.TrialState.FAIL or _failed(t))
                   for t in trials)

    def evaluated(self, key: str, text: str, me: int = -1) -> optuna.trial.FrozenTrial | None:
        """Another trial that quantizes the model the same way, finished or running now
        (in this process or another): the sampler proposed it again. Both trials of a
        pair set their key before they look, so at least one of them sees the other.
        (Trials of studies made before the plan key match on recipe text.)"""
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                  optuna.trial.TrialState.RUNNING)
        for t in self.study.get_trials(deepcopy=False, states=states):
            plan = TrialRecord.one(t, "plan")
            if t.number != me and (plan == key if plan is not None else TrialRecord.one(t, "recipe") == text):
                return t
        return None

    def next_trial(self) -> optuna.Trial | None:
        """Start a trial if the study still needs one: under the study's lock, re-queue the
        trials of dead workers, count the finished and running ones against --n-trials,
        and ask. None: the study has, or will have, all its trials."""
        with study_lock(self.storage, self.cfg.study):
            trials = recover_stale(self.study)  # one read of the study, under the lock
            running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
            if self.finished(trials) + running >= self.cfg.n_trials:
                return None
            return self.study.ask()

    def ask(self) -> optuna.Trial:
        """A new trial, whatever the count (dead workers' trials re-queued first)."""
        with study_lock(self.storage, self.cfg.study):
            recover_stale(self.study)
            return self.study.ask()


def _failed(t: optuna.trial.FrozenTrial) -> bool:
    """A failed trial that found its recipe broken: not a repeat, not cut short (read
    field by field, since this runs over the study on every trial)."""
    return TrialRecord.one(t, "same_as") is None and TrialRecord.one(t, "fail_reason") is not None
