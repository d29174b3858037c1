"""What a study was asked and FP32's figures: its search.json, for the front's readers."""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import AutoqError
from ..io import write_atomic


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
        """``doc`` read from search.json; ``where`` names the file in the message."""
        required = {f.name for f in fields(cls) if f.default is MISSING}
        if not isinstance(doc, dict) or not required <= doc.keys():
            missing = sorted(required - (doc.keys() if isinstance(doc, dict) else set()))
            raise AutoqError(f"{where} lacks {', '.join(missing) or 'its fields'} (written by "
                             f"autoq search; was it edited?)")
        known = {k: v for k, v in doc.items() if k in _NAMES and v is not None}
        if "objectives" in known:
            known["objectives"] = tuple(known["objectives"])
        return cls(**known)


_NAMES = {f.name for f in fields(StudyMeta)}
