"""One search worker: a ``Scorer`` (the task, its prepared model and statistics) holding
the study (``StudyHandle``), and what a trial does: build a recipe from the space and score
it by the study's objective (a metric study may stop early: ``EarlyStop``)."""
from __future__ import annotations

import time
import traceback
from functools import cached_property

import optuna

from ..errors import AutoqError
from ..quant import stats as stats_io
from ..tasks import Score
from ..tasks.paired import agreement
from .decide import Decider
from .early_stop import EarlyStop
from .front_point import FrontPoint
from .objective import Objective, make_objective
from .outputs import front_rows, write_results
from .record import StudyRecord
from .scorer import Scorer
from .storage import heartbeat
from .study import StudyHandle
from .limits import StudyTimeout, TrialTimeout, time_limit
from .trial_record import note


class Searcher(Scorer):
    """One worker: what it scores with (``Scorer``), the study it holds (``handle``), and
    what a trial does; the front files."""

    deadline: float | None = None  # time.monotonic() when --timeout ends (set by the loop)
    _trial_limit: float | None = None

    @property
    def min_agreement(self) -> float | None:
        """The agreement constraint: --min-agreement, else the space's; None when 0 or unset."""
        given = self.cfg.min_agreement
        if self.cfg.objective == "fidelity":  # agreement is a metric-study constraint
            if given:
                raise AutoqError(f"--min-agreement {given:g} constrains a metric study: the fidelity "
                                 f"objective measures agreement with FP32 itself (give --objective "
                                 f"metric, or leave out --min-agreement)")
            return None
        return (self.space.min_agreement if given is None else given) or None

    @property
    def front_margin(self) -> float:
        """How far below the front a point still counts (--front-margin, else the space's)."""
        given = self.cfg.front_margin
        return self.space.front_margin if given is None else given

    @property
    def refine(self) -> int:
        """Trials on the seed recipes' one-knob changes (--refine, else the space's)."""
        return self.space.refine if self.cfg.refine is None else self.cfg.refine

    @cached_property
    def objective(self) -> Objective:
        """What each trial is scored by (--objective): fidelity to FP32, or the metric."""
        return make_objective(self.cfg.objective, self)

    @property
    def fidelity_search(self) -> bool:
        return self.cfg.objective == "fidelity"

    @cached_property
    def handle(self) -> StudyHandle:
        return StudyHandle(self.cfg, self.objective)

    @cached_property
    def study(self) -> optuna.Study:
        """The study (opened on first use); once it keeps statistics, this worker
        quantizes with them, so that every worker quantizes alike on any machine."""
        study = self.handle.study
        kept = self.handle.kept_stats()
        if kept is not None:
            self.stats, self._last = stats_io.from_record(kept), None
        return study

    def record(self) -> StudyRecord:
        """What the study stores beside its trials, read now."""
        self.study  # opened first, taking its kept statistics
        return self.handle.record()

    def finished(self, trials: list | None = None) -> int:
        self.study  # opened first, taking its kept statistics
        return self.handle.finished(trials)

    @cached_property
    def early_stop(self) -> EarlyStop:
        return EarlyStop(self.handle, self, self.objective.sign)

    def constraints(self, score: Score | None) -> dict[str, float]:
        """A scored recipe's constraints (None: FP32's), each met at 0 or below: its drop
        from FP32 past --max-drop, and its agreement with FP32 short of --min-agreement."""
        if self.fidelity_search:  # the metric is judged on the front only (decide.py)
            return {}
        fp32 = self.record().fp32_metric
        metric = fp32 if score is None else score.metric
        drop = self.objective.sign * (fp32 - metric)  # an error rate drops as it rises
        out = {"max_drop": drop - self.cfg.max_drop if self.cfg.max_drop is not None else 0.0}
        if self.min_agreement is not None:
            share = 1.0 if score is None else agreement(score, self.fp32_search)
            out["min_agreement"] = self.min_agreement - share
        return out

    def run_trial(self, trial: optuna.Trial | None = None) -> optuna.trial.FrozenTrial:
        """Score one trial (by default a new one) within its time limits, and tell the study."""
        self.study  # opened first, taking its kept statistics
        trial = self.handle.ask() if trial is None else trial
        State = optuna.trial.TrialState
        left = None if self.deadline is None else self.deadline - time.monotonic()
        with heartbeat(self.handle.storage, self.study, trial):
            try:
                with time_limit(self.trial_limit(), left):
                    self._score(trial)
            except TrialTimeout as e:  # a hung or far too slow trial: failed, with its reason
                note(trial, fail_reason=f"{e} (--trial-timeout)")
                self.study.tell(trial, state=State.FAIL)
            except AutoqError as e:  # the run stops; not re-run
                note(trial, stopped=str(e)[:300])
                self.study.tell(trial, state=State.FAIL)
                raise
            except (KeyboardInterrupt, StudyTimeout):  # cut short: re-run when the study resumes
                self.study.tell(trial, state=State.FAIL)
                raise
            except Exception as e:  # a trial's failure must not end the night
                note(trial, fail_reason=f"{type(e).__name__}: {e}",
                     traceback=traceback.format_exc()[-2000:])
                self.study.tell(trial, state=State.FAIL)
        return self.study.trials[trial.number]

    def trial_limit(self) -> float:
        """--trial-timeout, else 20 times FP32's evaluation of the search split plus a minute."""
        if self.cfg.trial_timeout_s is not None:
            return self.cfg.trial_timeout_s
        if self._trial_limit is None:  # read once: FP32's time is recorded once per study
            made = self.record().get("fp32_eval_s")
            if made is None:  # a study made before the time was recorded
                self.fp32_search  # timed as it is scored
                made = self.fp32_eval_s
            self._trial_limit = 60.0 + 20.0 * made
        return self._trial_limit

    def _score(self, trial: optuna.Trial) -> None:
        """What a trial does: its recipe, unless scored already, scored by the objective."""
        recipe = self.space.suggest(trial)
        text = recipe.to_yaml()
        note(trial, recipe=text, plan=(key := self.plan_key(recipe)))
        if ops := self.float_in_deploy(recipe):
            note(trial, float_in_deploy=ops)  # marked on the front: see outputs.row
        same = self.handle.evaluated(key, text, trial.number)
        if same is not None:  # scored already: not again, and not counted
            note(trial, same_as=same.number)  # FAIL: the sampler skips it
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        costs = self.costs(recipe)
        note(trial, **dict(zip(self.cfg.objectives[1:], costs)))  # a pruned trial's, for the report
        if self.fidelity_search:
            self.study.tell(trial, [self.objective.measure(recipe).value, *costs])
            return
        if self.cfg.fidelity < 1.0:
            partial = self.score(recipe, self.cfg.fidelity)
            note(trial, partial_metric=partial)
            if self.early_stop.clearly_dominated(partial, costs):
                self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return
        score = self.evaluate(recipe)
        for name, value in self.constraints(score).items():
            trial.set_constraint(name, value)
        self.study.tell(trial, [score.metric, *costs])

    def write(self, decide: bool = False) -> list[FrontPoint]:
        """The front files, and once the study's statistics (``stats.yaml``): with a recipe,
        all that rebuilds a trial's model. A fidelity study scores the metric on its front
        only when asked to ``decide`` (the end of a run); until then its rows carry the
        metric where it was scored before."""
        if not (self.cfg.out / "stats.yaml").exists():
            stats_io.save(self.stats, self.cfg.out / "stats.yaml")
        if self.fidelity_search:
            rows = Decider(self, self.study, self.trial_limit()).rows(score=decide)
        else:
            rows = front_rows(self.study, self.confirm, self.front_margin)
        write_results(self.study, self.cfg.out, rows)
        return rows
