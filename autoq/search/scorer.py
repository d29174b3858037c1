"""What a worker scores with: the task, its model prepared once, the statistics it
quantizes with, and the scores of a recipe (the metric on a split, size, latency, the
confirm split's interval against FP32)."""
from __future__ import annotations

import math
import time
from functools import cached_property

import optuna
import torch

from ..errors import AutoqError
from ..evaluate import default_device, prepare_task, task_stats
from ..quant import Plan, calibration_key, make_plan, quantize_plan, size_report
from ..recipe import Recipe
from ..tasks import Score, get_task
from ..tasks.base import checked_score, scored_as_reference
from ..tasks.paired import beats, paired_difference
from .config import SearchConfig
from .record import Confirmed
from .space import SearchSpace
from .trial_record import TrialRecord


class Scorer:
    """The task, its prepared model and statistics, and what a recipe scores."""

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
        self.space.bind([n for n, _ in self.model.named_modules()], dict(self.model.named_modules()))
        self.stats = task_stats(self.task, self.model)  # until the study's own: see study
        self._last: tuple[str, torch.nn.Module, dict] | None = None  # see quantized()
        self._plan: tuple[str | None, Plan] | None = None  # see plan()

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

    def plan(self, recipe: Recipe | None) -> Plan:
        """``recipe`` (None: FP32) planned on the model. The last plan is kept: a trial asks
        for its key, its quantized model and its size in turn."""
        text = None if recipe is None else recipe.to_yaml()
        if self._plan is None or self._plan[0] != text:
            self._plan = (text, make_plan(self.model, recipe))
        return self._plan[1]

    def plan_key(self, recipe: Recipe) -> str:
        return self.plan(recipe).key

    def float_in_deploy(self, recipe: Recipe | None) -> int:
        """How many ops graph mode exposed ``recipe`` quantizes: no deploy kernel runs them,
        so the deployed model keeps them float."""
        if recipe is None or not self.space.graph:
            return 0
        return sum(1 for c in self.plan(recipe).exposed_ops().values() if c.bits_activations is not None)

    def quantized(self, recipe: Recipe) -> tuple[torch.nn.Module, dict]:
        """The model quantized by ``recipe``, on the device, and the memo of its batches'
        outputs. The last one is kept: a trial that is not pruned scores it twice (a fraction
        of the split first, then the whole, which runs only the batches not yet run). Kept
        by the plan's key: recipes that quantize alike share it."""
        plan = self.plan(recipe)
        if self._last is None or self._last[0] != plan.key:
            self._last = None  # the old model goes before the new one is built
            self._last = (plan.key, quantize_plan(plan, self.stats).to(self.device), {})
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
                score = checked_score(self.task, self.task.evaluate(
                    model, split=split, fraction=fraction, device=self.device, **kwargs), split)
                break
            except torch.cuda.OutOfMemoryError:  # retry with half the batch, down to one
                batch = self.task.batch_size
                if batch is None or batch <= 1:
                    raise
                self.task.batch_size = batch // 2
                torch.cuda.empty_cache()
        if not math.isfinite(score.metric):
            raise FloatingPointError(f"the metric is {score.metric}")
        return score

    def score(self, recipe: Recipe | None, fraction: float = 1.0, split: str = "search") -> float:
        return self.evaluate(recipe, fraction, split).metric

    def size(self, recipe: Recipe | None) -> int:
        return size_report(self.plan(recipe), self.stats).total_bytes

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
            return relative_latency(model, self.plan(recipe), self.stats, sample, self.device)
        except AutoqError as e:  # this recipe does not deploy: its trial fails, the night goes on
            raise RuntimeError(f"deploy for latency: {e}") from None

    @staticmethod
    def recipe_of(trial: optuna.trial.FrozenTrial) -> Recipe | None:
        """The recipe a trial scored (None: FP32)."""
        r = TrialRecord.of(trial)
        return None if r.seed == "fp32" else Recipe.from_yaml(r.recipe)

    @cached_property
    def fp32_search(self) -> Score:
        start = time.perf_counter()
        score = scored_as_reference(self.task, lambda: self.evaluate(None), "search")
        self.fp32_eval_s = time.perf_counter() - start  # what a trial's time limit is scaled by
        return score

    @cached_property
    def fp32_confirm(self) -> Score:
        return scored_as_reference(self.task, lambda: self.evaluate(None, split="confirm"), "confirm")

    @cached_property
    def chance_confirm(self) -> Score | None:
        return self.task.chance("confirm")

    def confirm(self, trial: optuna.trial.FrozenTrial) -> Confirmed:
        """A front point on the confirm split (``Confirmed``)."""
        recipe = self.recipe_of(trial)
        score = self.fp32_confirm if recipe is None else self.evaluate(recipe, split="confirm")
        if score.examples is None or self.fp32_confirm.examples is None:
            return Confirmed(score.metric, None, None)
        d = paired_difference(self.task, score, self.fp32_confirm)
        return Confirmed(score.metric, (round(d.low, 6), round(d.high, 6)),
                         beats(self.task, score, self.chance_confirm))
