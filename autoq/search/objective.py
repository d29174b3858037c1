"""What a trial is scored by, behind one small interface: the task's metric on the search
split, or the fidelity to FP32 on the task's unlabelled pool (the default)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AutoqError
from ..fidelity import Reference
from ..recipe import Recipe
from .config import OBJECTIVES

if TYPE_CHECKING:
    from .searcher import Searcher



@dataclass(frozen=True)
class Measure:
    """An objective's value for one recipe, with its per-example rows (None: the task
    gives none) and the signature of what it was measured on."""

    value: float
    examples: np.ndarray | None
    signature: str


class Objective(ABC):
    name: str
    direction: str  # "maximize" or "minimize"

    @property
    def sign(self) -> float:
        """+1 where higher is better, -1 where lower is: front code compares sign * value."""
        return 1.0 if self.direction == "maximize" else -1.0

    @abstractmethod
    def measure(self, recipe: Recipe | None, fraction: float = 1.0) -> Measure:
        """The value of ``recipe`` (None: FP32) on ``fraction`` of what it is judged on."""


class MetricObjective(Objective):
    """The task's labelled metric on the search split."""

    name = "metric"

    def __init__(self, searcher: Searcher):
        self.searcher, self.direction = searcher, searcher.task.direction

    def measure(self, recipe: Recipe | None, fraction: float = 1.0) -> Measure:
        score = self.searcher.evaluate(recipe, fraction)
        return Measure(score.metric, score.examples, score.signature)


class FidelityObjective(Objective):
    """The distance of the recipe's outputs from FP32's on the task's pool (0 for FP32)."""

    name, direction = "fidelity", "minimize"

    def __init__(self, searcher: Searcher):
        self.searcher = searcher
        self.reference = Reference(searcher.task, searcher.device)

    def measure(self, recipe: Recipe | None, fraction: float = 1.0) -> Measure:
        if recipe is None:
            n = sum(len(self.reference.fp32(b)[0]) for b in range(len(self.reference.batches)))
            return Measure(0.0, np.zeros(n), f"fp32|pool={self.reference.key}")
        model, memo = self.searcher.quantized(recipe)
        f = self.reference.measure(model, fraction, memo)
        return Measure(f.value, f.examples, f.signature)


def make_objective(name: str, searcher: Searcher) -> Objective:
    if name == "fidelity":
        return FidelityObjective(searcher)
    if name == "metric":
        return MetricObjective(searcher)
    raise AutoqError(f"objective {name!r} is not known (allowed: {', '.join(OBJECTIVES)})")
