"""What a study was asked and FP32's figures: its search.json, for the front's readers."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..io import write_atomic
from .json_record import from_json


@dataclass(frozen=True)
class StudyMeta:
    """A study's search.json. A study made by an older autoq may lack the later fields;
    they read as their defaults."""

    fp32_metric: float  # on the whole search split
    fp32_confirm_metric: float
    fp32_size_bytes: float
    task: str = "?"
    metric_name: str = "metric"
    direction: str = "maximize"  # the metric's: an error rate is minimized
    objective: str = "metric"  # what each trial was scored by: fidelity or metric
    objectives: tuple[str, ...] = ("metric", "size_bytes")
    pool: str | None = None  # the fidelity objective's pool
    distance: str | None = None  # and its distance (the task's distance_name)
    space: str | None = None
    sampler: str | None = None
    seed: int | None = None
    max_drop: float | None = None
    min_agreement: float | None = None
    front_margin: float = 0.0
    front_size: int | None = None
    fidelity: float | None = None  # a metric study's first fraction of the split
    ladder: int | None = None
    refine: int | None = None
    local: float | None = None
    chance_metric: float | None = None  # the task's constant answer, when it has one
    chance_confirm_metric: float | None = None
    fp32_beats_chance: bool | None = None

    @property
    def sign(self) -> float:
        """-1 when the metric is minimized (it drops as it rises)."""
        return -1.0 if self.direction == "minimize" else 1.0

    @property
    def by_fidelity(self) -> bool:
        return self.objective == "fidelity"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "objectives": list(self.objectives)}

    def write(self, folder: Path) -> None:
        write_atomic(folder / "search.json", json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def from_json(cls, doc: Any, where: str) -> StudyMeta:
        """``doc`` read from search.json; ``where`` names its study folder."""
        meta = from_json(cls, doc, where, "search.json")
        return replace(meta, objectives=tuple(meta.objectives))
