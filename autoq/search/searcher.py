"""One search worker: the study, and what a trial does: build a recipe from the space,
quantize the model with the study's one set of statistics and score it by the study's
objective (a metric study: on a fraction of the search split first, stopping there when
it is already clearly dominated or breaks the drop constraint)."""
from __future__ import annotations

import random
import time
import traceback
import zlib
from functools import cached_property

import optuna

from ..errors import AutoqError
from ..quant import stats as stats_io
from ..tasks import Score
from ..tasks.paired import agreement
from .objective import Objective, make_objective
from .record import StudyRecord
from .scorer import Scorer
from .samplers import make_sampler
from .front import dominates
from .outputs import front_rows, front_trials, write_results
from .limits import StudyTimeout, TrialTimeout, time_limit
from .lock import study_lock
from .storage import heartbeat, open_storage, recover_stale

# The study's calibration statistics: a system attribute, read once per worker, since the
# user attributes (FP32's figures, confirm scores) are read many times a trial
STATS_ATTR = "autoq:calibration_stats"
PROCESSES_ATTR = "autoq:processes"  # how many processes have opened the study
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)


class Searcher(Scorer):
    """One worker: a ``Scorer`` (the task, its prepared model and statistics) and the study:
    what a trial does, and the front files."""

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
    def storage(self):
        return open_storage(self.cfg.storage, self.cfg.out, self.cfg.heartbeat_s)

    @property
    def study_id(self) -> int:
        return self.storage.get_study_id_from_name(self.cfg.study)

    def kept_stats(self) -> dict | None:
        """The calibration statistics the study keeps (None before it keeps any). Another
        machine's float arithmetic differs in the last bits, and so would the statistics it
        collected; so every worker quantizes with these."""
        return self.storage.get_study_system_attrs(self.study_id).get(STATS_ATTR)

    def keep_stats(self) -> None:
        """Make this worker's statistics the one set every worker quantizes with from now on."""
        self.storage.set_study_system_attr(self.study_id, STATS_ATTR, self.stats)

    @cached_property
    def study(self) -> optuna.Study:
        """The study, created or resumed in its storage on first use."""
        study = optuna.create_study(
            study_name=self.cfg.study, storage=self.storage,
            directions=[self.objective.direction] + ["minimize"] * (len(self.cfg.objectives) - 1),
            load_if_exists=True)
        if len(study.directions) not in (2, 3) or (
                "fp32_metric" not in study.user_attrs and study.get_trials(deepcopy=False)):
            raise AutoqError(f"study {self.cfg.study!r} in this storage was not made by autoq search "
                             f"({len(study.directions)} objective(s)); give another --study")
        if study.directions[0].name.lower() != self.objective.direction:
            made = "metric" if self.objective.name == "fidelity" else "fidelity"
            raise AutoqError(f"study {self.cfg.study!r} was made with --objective {made}: resume "
                             f"it with --objective {made}, or give a new --study")
        if len(study.directions) != len(self.cfg.objectives):
            made = "with" if len(study.directions) > 2 else "without"
            raise AutoqError(f"study {self.cfg.study!r} was made {made} the latency objective: "
                             f"resume it {made} --latency, or give a new --study")
        kept = self.kept_stats()
        if kept is not None:  # every worker quantizes alike, on any machine
            self.stats, self._last = stats_io.from_record(kept), None
        study.sampler = make_sampler(self.cfg.sampler, self.sampler_seed(study))
        return study

    def sampler_seed(self, study: optuna.Study) -> int:
        """--seed for the first process ever on the study; for every later one (another
        worker, machine or resume) a stream of its own, so that none replays another's
        proposals: each process takes the next number from the study, under its lock."""
        with study_lock(self.storage, self.cfg.study):
            attrs = self.storage.get_study_system_attrs(study._study_id)
            self.slot = attrs.get(PROCESSES_ATTR, 0)
            self.storage.set_study_system_attr(study._study_id, PROCESSES_ATTR, self.slot + 1)
        return self.cfg.seed if self.slot == 0 else zlib.crc32(repr((self.cfg.seed, self.slot)).encode())

    @cached_property
    def rng(self) -> random.Random:
        """Local search's choices: a fresh stream on resume, as for the sampler."""
        self.study  # opened first: that takes this process's number (slot)
        return random.Random(repr((self.cfg.seed, self.slot)))

    def evaluated(self, key: str, text: str, me: int = -1) -> optuna.trial.FrozenTrial | None:
        """Another trial that quantizes the model the same way, finished or running now
        (in this process or another): the sampler proposed it again. Both trials of a
        pair set their key before they look, so at least one of them sees the other.
        (Trials of studies made before the plan key match on recipe text.)"""
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                  optuna.trial.TrialState.RUNNING)
        for t in self.study.get_trials(deepcopy=False, states=states):
            attrs = t.user_attrs
            if t.number != me and (attrs["plan"] == key if "plan" in attrs else attrs.get("recipe") == text):
                return t
        return None

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

    def record(self) -> StudyRecord:
        """What the study stores beside its trials, read now."""
        return StudyRecord(self.study)

    def finished(self, trials: list | None = None) -> int:
        """Trials (by default the study's) that scored a recipe or found it broken. A
        repeated proposal does not count, nor a trial cut short (its worker killed: it is
        run again)."""
        trials = self.study.get_trials(deepcopy=False) if trials is None else trials
        return sum(t.state in FINISHED and "same_as" not in t.user_attrs and
                   (t.state != optuna.trial.TrialState.FAIL or "fail_reason" in t.user_attrs)
                   for t in trials)

    def partial(self, trial: optuna.trial.FrozenTrial | None) -> float:
        """A trial's metric (None: FP32's) on the first ``fidelity`` of the search split:
        recorded when the trial was scored so, else (seeds are scored in full only) scored
        now, once, and kept in the study."""
        if trial is not None and "partial_metric" in trial.user_attrs:
            return trial.user_attrs["partial_metric"]
        recipe = None if trial is None else self.recipe_of(trial)
        record, n = self.record(), None if recipe is None else trial.number
        value = record.partial(n)
        if value is None:
            value = self.score(recipe, self.cfg.fidelity)
            record.put_partial(n, value)
        return value

    def clearly_dominated(self, partial: float, costs: list[float]) -> bool:
        """Whether a recipe that scored ``partial`` on the first ``fidelity`` of the split is
        out already: on those same examples it breaks the drop constraint, or a front point
        no costlier beats it by the margin. Like is compared with like, since a fraction
        can be harder or easier than the whole split."""
        margin = self.cfg.prune_margin
        if margin is None:
            margin = 0.02 * abs(self.record().fp32_metric)
        sign = self.objective.sign  # compared as higher-is-better
        mine = sign * partial + margin
        if self.cfg.max_drop is not None and sign * self.partial(None) - mine > self.cfg.max_drop:
            return True
        return any(all(c <= own for c, own in zip(t.values[1:], costs))  # before scoring it
                   and dominates((sign * self.partial(t), *t.values[1:]), (mine, *costs))
                   for t in front_trials(self.study))

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

    def run_trial(self, trial: optuna.Trial | None = None) -> optuna.trial.FrozenTrial:
        """Score one trial (by default a new one) within its time limits, and tell the study."""
        if trial is None:
            with study_lock(self.storage, self.cfg.study):
                recover_stale(self.study)
                trial = self.study.ask()
        State = optuna.trial.TrialState
        left = None if self.deadline is None else self.deadline - time.monotonic()
        with heartbeat(self.storage, self.study, trial):
            try:
                with time_limit(self.trial_limit(), left):
                    self._score(trial)
            except TrialTimeout as e:  # a hung or far too slow trial: failed, with its reason
                trial.set_user_attr("fail_reason", f"{e} (--trial-timeout)")
                self.study.tell(trial, state=State.FAIL)
            except AutoqError as e:  # the run stops; not re-run
                trial.set_user_attr("stopped", str(e)[:300])
                self.study.tell(trial, state=State.FAIL)
                raise
            except (KeyboardInterrupt, StudyTimeout):  # cut short: re-run when the study resumes
                self.study.tell(trial, state=State.FAIL)
                raise
            except Exception as e:  # a trial's failure must not end the night
                trial.set_user_attr("fail_reason", f"{type(e).__name__}: {e}")
                trial.set_user_attr("traceback", traceback.format_exc()[-2000:])
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
        trial.set_user_attr("recipe", text)
        trial.set_user_attr("plan", key := self.plan_key(recipe))
        if ops := self.float_in_deploy(recipe):
            trial.set_user_attr("float_in_deploy", ops)  # marked on the front: see outputs.row
        same = self.evaluated(key, text, trial.number)
        if same is not None:  # scored already: not again, and not counted
            trial.set_user_attr("same_as", same.number)  # FAIL: the sampler skips it
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        costs = self.costs(recipe)
        for name, value in zip(self.cfg.objectives[1:], costs):
            trial.set_user_attr(name, value)  # a pruned trial's, for the report
        if self.fidelity_search:
            self.study.tell(trial, [self.objective.measure(recipe).value, *costs])
            return
        if self.cfg.fidelity < 1.0:
            partial = self.score(recipe, self.cfg.fidelity)
            trial.set_user_attr("partial_metric", partial)
            if self.clearly_dominated(partial, costs):
                self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return
        score = self.evaluate(recipe)
        for name, value in self.constraints(score).items():
            trial.set_constraint(name, value)
        self.study.tell(trial, [score.metric, *costs])

    def write(self, decide: bool = False) -> list[dict]:
        """The front files, and once the study's statistics (``stats.yaml``): with a recipe,
        all that rebuilds a trial's model. A fidelity study scores the metric on its front
        only when asked to ``decide`` (the end of a run); until then its rows carry the
        metric where it was scored before."""
        if not (self.cfg.out / "stats.yaml").exists():
            stats_io.save(self.stats, self.cfg.out / "stats.yaml")
        if self.fidelity_search:
            from .decide import decided_rows
            rows = decided_rows(self, score=decide)
        else:
            rows = front_rows(self.study, self.confirm, self.front_margin)
        write_results(self.study, self.cfg.out, rows)
        return rows
