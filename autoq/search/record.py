"""What a study stores beside its trials, under one set of names: FP32's figures, what it
was made with, and the metric scored on its front's recipes. Every other module reads and
writes these through ``StudyRecord``, never by the keys themselves."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna


@dataclass(frozen=True)
class Confirmed:
    """A recipe on the confirm split: its metric, the 95% interval of its difference from
    FP32's there (None: no per-example statistics) and whether it beats the task's constant
    answer there (None: the task has none)."""

    metric: float
    delta: tuple[float, float] | None
    beats_chance: bool | None


class StudyRecord:
    """A study's own attributes, read once (``refresh`` reads them again) and written
    through to the storage."""

    FIGURES = ("model_key", "fp32_metric", "fp32_size_bytes", "fp32_confirm_metric", "task",
               "min_agreement", "objective", "pool", "chance_metric", "chance_confirm_metric",
               "fp32_beats_chance", "fidelity", "fraction_parts", "settings", "seeded",
               "fp32_eval_s")

    def __init__(self, study: optuna.Study):
        self.study = study
        self.refresh()

    def refresh(self) -> StudyRecord:
        self._attrs = dict(self.study.user_attrs)
        return self

    def get(self, name: str, default: Any = None) -> Any:
        assert name in self.FIGURES, name
        return self._attrs.get(name, default)

    def has(self, name: str) -> bool:
        return self.get(name) is not None or name in self._attrs

    def put(self, name: str, value: Any) -> None:
        assert name in self.FIGURES, name
        self.study.set_user_attr(name, value)
        self._attrs[name] = value

    @property
    def fp32_metric(self) -> float:
        return self._attrs["fp32_metric"]

    @property
    def fp32_confirm_metric(self) -> float:
        return self._attrs["fp32_confirm_metric"]

    @property
    def fp32_size(self) -> float:
        return self._attrs["fp32_size_bytes"]

    # --- per trial (n: its number) --------------------------------------------
    def metric(self, n: int) -> float | None:
        """A front recipe's metric on the whole search split (None: not scored, or broke)."""
        return self._attrs.get(f"metric:{n}")

    def scored(self, n: int) -> bool:
        return f"metric:{n}" in self._attrs

    def put_metric(self, n: int, value: float | None, error: str | None = None) -> None:
        self._put(f"metric:{n}", value)
        if error is not None:
            self._put(f"metric_error:{n}", error)

    def confirmed(self, n: int) -> Confirmed | None:
        if f"confirm_delta:{n}" not in self._attrs:
            return None
        delta = self._attrs[f"confirm_delta:{n}"]
        return Confirmed(self._attrs.get(f"confirm:{n}"), tuple(delta) if delta else None,
                         self._attrs.get(f"confirm_chance:{n}"))

    def put_confirmed(self, n: int, c: Confirmed) -> None:
        self._put(f"confirm:{n}", c.metric)
        self._put(f"confirm_delta:{n}", list(c.delta) if c.delta else None)
        self._put(f"confirm_chance:{n}", c.beats_chance)

    def stale(self, n: int) -> bool:
        """Not confirmed yet, or confirmed before the study knew its task's chance score."""
        c = self.confirmed(n)
        return c is None or (self.has("chance_metric") and c.beats_chance is None and c.delta is not None)

    def partial(self, n: int | None) -> float | None:
        """A trial's (None: FP32's) metric on the first fraction of the search split."""
        return self._attrs.get("partial:fp32" if n is None else f"partial:{n}")

    def put_partial(self, n: int | None, value: float) -> None:
        self._put("partial:fp32" if n is None else f"partial:{n}", value)

    def _put(self, key: str, value: Any) -> None:
        self.study.set_user_attr(key, value)
        self._attrs[key] = value
