"""One point of the front a user reads: a row of pareto.csv and pareto.json."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .config import LATENCY
from .json_record import from_json


@dataclass(frozen=True)
class FrontPoint:
    """A recipe on the front: its scores on both splits, its costs and where it lies."""

    trial: int
    metric: float  # on the whole search split
    size_bytes: int
    size_ratio: float | None  # of FP32's size
    recipe: str  # its file, relative to the study folder
    fidelity: float | None = None  # distance from FP32 on the pool (a fidelity study)
    confirm_metric: float | None = None
    confirm_delta_low: float | None = None  # the confirm metric less FP32's, 95% paired
    confirm_delta_high: float | None = None  # interval (None: no per-example statistics)
    beats_chance: bool | None = None  # on confirm, against the task's constant answer
    near: bool = False  # kept only by the front margin (--front-margin)
    seed: str | None = None  # a seeded trial's name
    float_in_deploy: int = 0  # ops graph mode exposed that deploy keeps float
    latency_ratio: float | None = None  # deployed time over FP32's (--latency)

    @property
    def delta(self) -> tuple[float, float] | None:
        low, high = self.confirm_delta_low, self.confirm_delta_high
        return None if low is None or high is None else (low, high)

    def delta_text(self, digits: int = 3) -> str:
        """The confirm interval against FP32, e.g. '-0.031 to +0.004' ('' if none)."""
        d = self.delta
        return "" if d is None else f"{d[0]:+.{digits}f} to {d[1]:+.{digits}f}"

    def drops(self, fp32_search: float, fp32_confirm: float, sign: float) -> list[float]:
        """Its drop from FP32 on each split it was scored on (``sign`` -1: a metric that is
        minimized drops as it rises)."""
        pairs = ((fp32_search, self.metric), (fp32_confirm, self.confirm_metric))
        return [sign * (f - m) for f, m in pairs if m is not None]

    def worst_drop(self, sign: float) -> float | None:
        """The far end of the confirm interval, as a drop (None: no interval)."""
        if self.delta is None:
            return None
        return -self.confirm_delta_low if sign > 0 else self.confirm_delta_high

    def to_json(self) -> dict[str, Any]:
        """As pareto.json holds it, in the files' column order (``latency_ratio`` only in
        a study that measures it)."""
        out = {k: getattr(self, k) for k in COLUMNS}
        if self.latency_ratio is not None:
            out["latency_ratio"] = self.latency_ratio
        return out

    @classmethod
    def from_json(cls, row: Any, where: str) -> FrontPoint:
        """A row read back from pareto.json; ``where`` names its study folder."""
        return from_json(cls, row, where, "a pareto.json row")


assert LATENCY in {f.name for f in fields(FrontPoint)}  # the third objective's name is its field
COLUMNS = ("trial", "fidelity", "metric", "confirm_metric", "confirm_delta_low", "confirm_delta_high",
           "beats_chance", "size_bytes", "size_ratio", "near", "seed", "float_in_deploy", "recipe")
