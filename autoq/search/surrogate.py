"""Screening of local-search candidates with a surrogate of the metric.

Over the GNMT studies' 758 completed searched trials, a ridge regression on the one-hot
choices explains about half the metric's spread (R² 0.52 in 5-fold cross-validation);
the rest acts as noise. So before a front point's neighbour is scored, several are
drawn, and the one kept is the one whose optimistic metric (the Bayesian ridge's
prediction plus one predictive standard deviation, larger where the scored trials say
little about a choice), at its exact size, adds the most hypervolume to the front.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from sklearn.linear_model import BayesianRidge
from sklearn.preprocessing import OneHotEncoder

from .front import hypervolume

MIN_POINTS = 20  # scored recipes with choices before the surrogate is fitted
OPTIMISM = 1.0  # predictive standard deviations added to a prediction
Point = tuple[float, float]  # (metric, size)


class Surrogate:
    """The metric as a sum of per-choice effects, fitted to scored trials."""

    def __init__(self, keys: list[str], encoder: OneHotEncoder, model: BayesianRidge):
        self.keys, self.encoder, self.model = keys, encoder, model

    def _x(self, choices: Sequence[Mapping]):
        return self.encoder.transform([[repr(p.get(k)) for k in self.keys] for p in choices]).toarray()

    @classmethod
    def fit(cls, rows: Sequence[tuple[Mapping, float, float]]) -> "Surrogate | None":
        """``rows``: (choices, metric, weight); None with fewer than MIN_POINTS rows."""
        if len(rows) < MIN_POINTS:
            return None
        keys = sorted({k for p, _, _ in rows for k in p})
        encoder = OneHotEncoder(handle_unknown="ignore").fit([[repr(p.get(k)) for k in keys]
                                                              for p, _, _ in rows])
        self = cls(keys, encoder, BayesianRidge())
        self.model.fit(self._x([p for p, _, _ in rows]), [m for _, m, _ in rows],
                       sample_weight=[w for *_, w in rows])
        return self

    @property
    def noise(self) -> float:
        """The fitted standard deviation of a score about its choices' prediction."""
        return float(self.model.alpha_ ** -0.5)

    def optimistic(self, choices: Sequence[Mapping]) -> np.ndarray:
        """Predicted metric plus OPTIMISM predictive standard deviations, per set of choices."""
        mean, std = self.model.predict(self._x(choices), return_std=True)
        return mean + OPTIMISM * std


def best_candidate(points: Sequence[Point], front: Sequence[Point], ref: Point) -> int:
    """Index of the (metric, size) point that adds the most hypervolume (reference ``ref``)
    to ``front``; where none adds any, the one nearest the front in metric at its size."""
    base = hypervolume(front, ref)

    def merit(p: Point) -> tuple[float, float]:
        beaten = max((m for m, s in front if s <= p[1]), default=ref[0])
        return hypervolume([*front, p], ref) - base, p[0] - beaten

    return max(range(len(points)), key=lambda i: merit(points[i]))
