"""One search worker: the task's prepared model and statistics, the study, and what a
trial does: build a recipe from the space, quantize the model with the study's one set of
statistics, score it on a fraction of the search split first and stop there when it is
already clearly dominated or breaks the drop constraint."""
from __future__ import annotations

import math
import random
import traceback
from functools import cached_property

import optuna
import torch

from ..errors import AutoqError
from ..evaluate import default_device, prepare_task, task_stats
from ..quant import calibration_key, quantize, size_report
from ..quant import stats as stats_io
from ..quant.plan import make_plan
from ..recipe import Recipe
from ..tasks import Score, get_task
from ..tasks.paired import agreement, beats, paired_difference
from .config import SearchConfig
from .objective import Objective, make_objective
from .samplers import make_sampler
from .front import REF_DROP, dominates
from .neighbours import draw_parent, neighbour
from .outputs import completed, front_of, front_rows, front_trials, write_results
from .space import SearchSpace
from .storage import heartbeat, open_storage

# The study's calibration statistics: a system attribute, read once per worker, since the
# user attributes (FP32's figures, confirm scores) are read many times a trial
STATS_ATTR = "autoq:calibration_stats"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)


class Searcher:
    """One worker: the task, its prepared model and statistics, and the study."""

    def __init__(self, cfg: SearchConfig, worker: int = 0):
        self.cfg, self.worker = cfg, worker
        self.device = cfg.device or default_device()
        if self.device == "cuda" and torch.cuda.device_count() > 1:
            self.device = f"cuda:{worker % torch.cuda.device_count()}"
        self.task = get_task(cfg.task)
        if cfg.pool is not None:
            self.task.pool_from_file(cfg.pool)
        self.space = SearchSpace.load(cfg.space)
        self.model = prepare_task(self.task, self.space.graph)
        self.space.bind([n for n, _ in self.model.named_modules()])
        self.stats = task_stats(self.task, self.model)  # until the study's own: see study
        self._last: tuple[str, torch.nn.Module, dict] | None = None  # see quantized()

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
    def model_key(self) -> str:
        """What the study's scores depend on besides the recipe: the model's weights and
        its calibration data (``calibration_key``)."""
        return calibration_key(self.model, self.task.calibration_batches())

    def check_model(self, made: str | None, what: str, remedy: str) -> None:
        """Refuse to carry on ``what`` (a study, a table) made with another model: a model
        fine-tuned again on another machine scores recipes otherwise, its FP32 metric alike."""
        if made is not None and made != self.model_key:
            raise AutoqError(f"{what} was made with another model or calibration data (key {made}, "
                             f"here {self.model_key}): {remedy}")

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
            load_if_exists=True, sampler=make_sampler(self.cfg.sampler, self.cfg.seed + self.worker))
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
        resumed = len(study.get_trials(deepcopy=False))
        if resumed:  # a fresh stream, else the sampler replays the proposals it made before
            study.sampler = make_sampler(self.cfg.sampler, hash((self.cfg.seed, self.worker, resumed)) % 2 ** 31)
        return study

    @cached_property
    def rng(self) -> random.Random:
        """Local search's choices: a fresh stream on resume, as for the sampler."""
        return random.Random(hash((self.cfg.seed, self.worker, len(self.study.get_trials(deepcopy=False)))))

    def plan_key(self, recipe: Recipe) -> str:
        return make_plan(self.model, recipe).key

    def evaluated(self, key: str, text: str) -> optuna.trial.FrozenTrial | None:
        """A finished trial that quantized the model the same way: the sampler proposed
        it again. (Trials of studies made before the plan key match on recipe text.)"""
        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        for t in self.study.get_trials(deepcopy=False, states=done):
            attrs = t.user_attrs
            if attrs["plan"] == key if "plan" in attrs else attrs.get("recipe") == text:
                return t
        return None

    # --- scoring ------------------------------------------------------------
    def quantized(self, recipe: Recipe) -> tuple[torch.nn.Module, dict]:
        """The model quantized by ``recipe``, on the device, and the memo of its batches'
        outputs. The last one is kept: a trial that is not pruned scores it twice (a fraction
        of the split first, then the whole, which runs only the batches not yet run)."""
        text = recipe.to_yaml()
        if self._last is None or self._last[0] != text:
            self._last = None  # the old model goes before the new one is built
            self._last = (text, quantize(self.model, recipe, self.stats).to(self.device), {})
        return self._last[1], self._last[2]

    def evaluate(self, recipe: Recipe | None, fraction: float = 1.0, split: str = "search") -> Score:
        """The task's score of ``recipe`` (None: FP32) on ``split``, or a fraction of it."""
        if recipe is None:
            model, memo = self.task.build_model().to(self.device), None
        else:
            model, memo = self.quantized(recipe)
        kwargs = {"memo": memo} if memo is not None and self.task.reuses_outputs else {}
        while True:
            try:
                score = self.task.evaluate(model, split=split, fraction=fraction, device=self.device, **kwargs)
                break
            except torch.cuda.OutOfMemoryError:  # retry with half the batch, down to one
                batch = getattr(self.task, "batch_size", 1)
                if batch <= 1:
                    raise
                self.task.batch_size = batch // 2
                torch.cuda.empty_cache()
        if not math.isfinite(score.metric):
            raise FloatingPointError(f"the metric is {score.metric}")
        return score

    def score(self, recipe: Recipe | None, fraction: float = 1.0, split: str = "search") -> float:
        return self.evaluate(recipe, fraction, split).metric

    def size(self, recipe: Recipe | None) -> int:
        return size_report(self.model, recipe, self.stats).total_bytes

    def costs(self, recipe: Recipe | None) -> list[float]:
        """The objectives after the metric: size, and latency over FP32's when asked for."""
        return [self.size(recipe)] + ([self.latency(recipe)] if self.cfg.latency else [])

    @cached_property
    def timing(self):
        """(FP32's model on the device, the batch it and each recipe are timed on)."""
        return self.task.build_model().eval().to(self.device), self.task.calibration_batches()[0]

    def latency(self, recipe: Recipe | None) -> float:
        if recipe is None:
            return 1.0
        from ..deploy.latency import relative_latency  # the kernels load only when asked for
        try:
            model, sample = self.timing
            return relative_latency(model, recipe, self.stats, sample, self.device)
        except AutoqError as e:  # this recipe does not deploy: its trial fails, the night goes on
            raise RuntimeError(f"deploy for latency: {e}") from None

    def constraints(self, score: Score | None) -> dict[str, float]:
        """A scored recipe's constraints (None: FP32's), each met at 0 or below: its drop
        from FP32 past --max-drop, and its agreement with FP32 short of --min-agreement."""
        if self.fidelity_search:  # the metric is judged on the front only (decide.py)
            return {}
        fp32 = self.study.user_attrs["fp32_metric"]
        metric = fp32 if score is None else score.metric
        out = {"max_drop": (fp32 - metric) - self.cfg.max_drop if self.cfg.max_drop is not None else 0.0}
        if self.min_agreement is not None:
            share = 1.0 if score is None else agreement(score, self.fp32_search)
            out["min_agreement"] = self.min_agreement - share
        return out

    @staticmethod
    def recipe_of(trial: optuna.trial.FrozenTrial) -> Recipe | None:
        """The recipe a trial scored (None: FP32)."""
        return None if trial.user_attrs.get("seed") == "fp32" else Recipe.from_yaml(trial.user_attrs["recipe"])

    @cached_property
    def fp32_search(self) -> Score:
        return self.evaluate(None)

    @cached_property
    def fp32_confirm(self) -> Score:
        return self.evaluate(None, split="confirm")

    @cached_property
    def chance_confirm(self) -> Score | None:
        return self.task.chance("confirm")

    def confirm(self, trial: optuna.trial.FrozenTrial) -> tuple[float, list[float] | None, bool | None]:
        """A front point's confirm-split metric, the 95% interval of its difference from
        FP32's there, and whether it beats the task's chance score there (None: the task
        gives no per-example statistics, or no chance score)."""
        recipe = self.recipe_of(trial)
        score = self.fp32_confirm if recipe is None else self.evaluate(recipe, split="confirm")
        if score.examples is None or self.fp32_confirm.examples is None:
            return score.metric, None, None
        d = paired_difference(self.task, score, self.fp32_confirm)
        return score.metric, [round(d.low, 6), round(d.high, 6)], beats(self.task, score, self.chance_confirm)

    # --- the loop -----------------------------------------------------------
    def finished(self) -> int:
        """Trials that scored a recipe or found it broken. A repeated proposal does not
        count, nor a trial cut short (its worker killed: it is run again)."""
        return sum("same_as" not in t.user_attrs and
                   (t.state != optuna.trial.TrialState.FAIL or "fail_reason" in t.user_attrs)
                   for t in self.study.get_trials(deepcopy=False, states=FINISHED))

    def enqueue_neighbour(self, trial: optuna.trial.FrozenTrial, changes: int, why: str) -> None:
        """Queue a neighbour of ``trial`` (``changes`` knobs moved) as the next trial."""
        if trial.params:
            params = neighbour(trial.params, self.space.knobs(), changes, self.rng)
            self.study.enqueue_trial(params, user_attrs={why: trial.number})

    def reference(self) -> tuple[float, ...]:
        """The corner a front point's hypervolume is measured from: the worst metric worth
        keeping (FP32's less ``--max-drop``, else less REF_DROP of it) and FP32's costs."""
        attrs = self.study.user_attrs
        fp32 = attrs["fp32_metric"]
        drop = self.cfg.max_drop if self.cfg.max_drop is not None else REF_DROP * abs(fp32)
        return (fp32 - drop, attrs["fp32_size_bytes"]) + ((1.0,) if self.cfg.latency else ())

    def enqueue_local(self) -> None:
        """Pareto local search: a neighbour of a front point or of one of the space's seed
        recipes (hand-tuned starting points stay parents when the front passes them)."""
        done = completed(self.study)
        front = front_of(done)
        on_front = {t.number for t in front}
        seeds = [t for t in done if t.user_attrs.get("seed") in self.space.seed_names
                 and t.number not in on_front]
        parent = draw_parent(front, seeds, self.reference(), self.rng)
        if parent is not None:
            self.enqueue_neighbour(parent, self.rng.choice((1, 2)), "local_of")

    def partial(self, trial: optuna.trial.FrozenTrial | None) -> float:
        """A trial's metric (None: FP32's) on the first ``fidelity`` of the search split:
        recorded when the trial was scored so, else (seeds are scored in full only) scored
        now, once, and kept in the study."""
        if trial is not None and "partial_metric" in trial.user_attrs:
            return trial.user_attrs["partial_metric"]
        recipe = None if trial is None else self.recipe_of(trial)
        key = "partial:fp32" if recipe is None else f"partial:{trial.number}"
        value = self.study.user_attrs.get(key)
        if value is None:
            value = self.score(recipe, self.cfg.fidelity)
            self.study.set_user_attr(key, value)
        return value

    def clearly_dominated(self, partial: float, costs: list[float]) -> bool:
        """Whether a recipe that scored ``partial`` on the first ``fidelity`` of the split is
        out already: on those same examples it breaks the drop constraint, or a front point
        no costlier beats it by the margin. Like is compared with like, since a fraction
        can be harder or easier than the whole split."""
        margin = self.cfg.prune_margin
        if margin is None:
            margin = 0.02 * abs(self.study.user_attrs["fp32_metric"])
        if self.cfg.max_drop is not None and self.partial(None) - (partial + margin) > self.cfg.max_drop:
            return True
        return any(all(c <= mine for c, mine in zip(t.values[1:], costs))  # before scoring it
                   and dominates((self.partial(t), *t.values[1:]), (partial + margin, *costs))
                   for t in front_trials(self.study))

    def run_trial(self) -> optuna.trial.FrozenTrial:
        optuna.storages.fail_stale_trials(self.study)
        trial = self.study.ask()
        with heartbeat(self.storage, self.study, trial):
            try:
                recipe = self.space.suggest(trial)
                text = recipe.to_yaml()
                trial.set_user_attr("recipe", text)
                key = self.plan_key(recipe)
                trial.set_user_attr("plan", key)
                same = self.evaluated(key, text)
                if same is not None:  # scored already: not again, and not counted
                    trial.set_user_attr("same_as", same.number)  # FAIL: the sampler skips it
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    return self.study.trials[trial.number]
                costs = self.costs(recipe)
                for name, value in zip(self.cfg.objectives[1:], costs):
                    trial.set_user_attr(name, value)  # a pruned trial's, for the report
                if self.fidelity_search:
                    self.study.tell(trial, [self.objective.measure(recipe).value, *costs])
                    return self.study.trials[trial.number]
                if self.cfg.fidelity < 1.0:
                    partial = self.score(recipe, self.cfg.fidelity)
                    trial.set_user_attr("partial_metric", partial)
                    if self.clearly_dominated(partial, costs):
                        self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                        return self.study.trials[trial.number]
                score = self.evaluate(recipe)
                for name, value in self.constraints(score).items():
                    trial.set_constraint(name, value)
                self.study.tell(trial, [score.metric, *costs])
            except (AutoqError, KeyboardInterrupt):
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            except Exception as e:  # a trial's failure must not end the night
                trial.set_user_attr("fail_reason", f"{type(e).__name__}: {e}")
                trial.set_user_attr("traceback", traceback.format_exc()[-2000:])
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return self.study.trials[trial.number]

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
