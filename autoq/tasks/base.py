"""The task interface shared by the search, the CLI and users' own code.

A task owns a float model, its calibration data and its metric. The engine never
looks inside: it only runs ``model(*batch)`` on calibration batches and asks the task
to score a model.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterable, Literal

from torch import nn

Split = Literal["search", "confirm"]
SPLITS: tuple[str, ...] = ("search", "confirm")


@dataclass(frozen=True)
class Score:
    """A metric value with what is needed to reproduce it exactly."""

    metric: float
    metric_name: str
    signature: str  # e.g. sacrebleu's signature, or "f1|mrpc-dev|n=408"
    n: int  # examples scored


class Task(ABC):
    """A model plus the data and metric that judge it.

    ``direction`` is "maximize" or "minimize" for the metric.
    Calibration batches are what ``model(*batch)`` (tuple), ``model(**batch)`` (dict)
    or ``model(batch)`` (tensor) accepts.
    """

    name: str = "task"
    metric_name: str = "metric"
    direction: str = "maximize"

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The float model in eval mode, on CPU."""

    @abstractmethod
    def calibration_batches(self) -> Iterable[Any]:
        """Inputs for statistics collection; the same on every call."""

    @abstractmethod
    def evaluate(self, model: nn.Module, split: Split = "confirm", fraction: float = 1.0,
                 device: str = "cpu") -> Score:
        """Score ``model`` on a split, or on its first ``fraction`` of examples."""
