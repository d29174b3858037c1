"""The budget sweep's table: each unit's fidelity cost alone at each weight width
(everything else float) on part of the pool, and its bytes; from it, the least predicted
cost at every size (``allocate``) seeds a fidelity study across the whole size axis."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import AutoqError
from ..fidelity import fidelity_text
from ..tasks.data import CACHE

Widths = dict[str, dict[Any, Any]]  # unit -> {width (None: float) -> value}


@dataclass(frozen=True)
class FidelityTable:
    costs: Widths  # the unit's fidelity at that width (None: the width broke)
    bytes: Widths  # the unit's bytes at that width, over the all-float model
    fraction: float  # of the pool
    pool: str
    model_key: str
    objective: str = "fidelity"
    distance: str | None = None  # the task's distance_name (None: a table made before it was kept)

    kind: ClassVar[str] = "fidelity"

    def to_json(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_json(cls, d: dict) -> FidelityTable:
        return cls(costs=d["costs"], bytes=d["bytes"], fraction=d["fraction"], pool=d["pool"],
                   model_key=d["model_key"], objective=d.get("objective", "fidelity"),
                   distance=d.get("distance"))

    def format(self) -> str:
        return format_widths(self.costs, f"{fidelity_text(self.distance)} on {self.fraction:.0%} of "
                                         f"the pool ({self.pool}), the unit alone at that width; "
                                         f"activations 8-bit")


def jobs(space) -> list[tuple[Any, str, Any]]:
    """(group, unit, width) for every width of every unit whose weight width is searched."""
    return [(g, unit, b) for g in space.groups if len(g.choices.get("bits_weights", ())) > 1
            for unit in space.units[g.name] for b in g.choices["bits_weights"]]


def measure(searcher, fraction: float = 0.5, progress=None) -> FidelityTable:
    """Each unit alone at each width, on ``fraction`` of the pool."""
    space, objective = searcher.space, searcher.objective
    floats = searcher.size(space.alone_none())
    costs: Widths = {}
    sizes: Widths = {}
    for _, unit, bits in jobs(space):
        recipe = space.alone(unit, bits)
        try:
            cost = round(objective.measure(recipe, fraction).value, 8)
        except AutoqError:
            raise
        except Exception:  # NaN, or task code that raises: this width is left out
            cost = None
        costs.setdefault(unit, {})[bits] = cost
        sizes.setdefault(unit, {})[bits] = searcher.size(recipe) - floats
        if progress:
            progress()
    return FidelityTable(costs=costs, bytes=sizes, fraction=fraction, pool=objective.reference.key,
                         model_key=searcher.model_key, objective=objective.name,
                         distance=searcher.task.distance_name)


def cached(searcher, fraction: float) -> Path:
    """Where a table is kept for other studies of the same model, statistics, pool,
    distance, fraction and measured recipes (FP32's outputs on the pool's first batch
    stand in for the task's own code)."""
    s = searcher
    ref = s.objective.reference
    logp = ref.fp32(0)[0].detach().cpu().double().numpy().round(6)
    parts = [s.model_key, s.objective.name, ref.key, s.task.distance_name, repr(fraction),
             hashlib.sha256(logp.tobytes()).hexdigest(), s.space.alone_none().to_yaml()]
    parts += [s.space.alone(u, b).to_yaml() for _, u, b in jobs(s.space)]
    return CACHE / "sensitivity" / f"{hashlib.sha256(chr(10).join(parts).encode()).hexdigest()[:16]}.json"


def sweep(space, table: FidelityTable, n: int) -> list[tuple[str, dict]]:
    """``n`` seeds across the whole size axis: the least predicted fidelity cost within
    each of ``n`` evenly spread budgets (``allocate``), as (name, the space's choices)."""
    from .allocate import Option, frontier
    from .allocate import sweep as spread
    units = {u: [Option(b, table.bytes[u][b], c) for b, c in by_bits.items() if c is not None]
             for u, by_bits in table.costs.items()}
    return [(f"sweep-{i}", space.complete({f"{u}:bits_weights": b for u, b in a.bits.items()}))
            for i, a in enumerate(spread(frontier(units), n), 1)]


def format_widths(table: Widths, caption: str) -> str:
    """A table of values by unit and width, and its caption."""
    bits = sorted({b for d in table.values() for b in d}, key=lambda b: 99 if b is None else b)
    width = max([len(u) for u in table] + [6])
    lines = [f"{'module':<{width}} " + " ".join(f"{'float' if b is None else f'{b}-bit':>8}" for b in bits)]
    for unit, values in table.items():
        lines.append(f"{unit:<{width}} " + " ".join(
            f"{'broke':>8}" if b in values and values[b] is None else
            f"{values[b]:>8.3g}" if b in values else f"{'':>8}" for b in bits))
    return "\n".join(lines + [caption])
