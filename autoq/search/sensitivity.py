"""Sensitivity analysis of a metric study (``--objective metric``) and the seeds it gives
the search; a fidelity study's table is ``fidelity_table``. ``load`` reads either.

``measure`` scores, for each unit of the space alone, the metric drop at each low bit
width (everything else float), the share of examples it scores otherwise than FP32 (when
the task gives per-example statistics) and the bytes that width saves against 8 bits.
``ladder`` turns that table into seed recipes: a greedy path from uniform 8-bit weights
down to each unit's smallest width, taking first the steps that cost the least per byte
saved (predicted metric drop, or predicted disagreement for a study with
``--min-agreement``, cut where the predicted drop passes ``--max-drop`` when it has both),
and seeds at evenly spread points along it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import AutoqError
from ..io import write_atomic
from ..tasks.paired import agreement
from .fidelity_table import FidelityTable, Widths, format_widths

LADDER_TOP = 0.05  # the path's last seed: a predicted drop of 5% of the FP32 metric


@dataclass(frozen=True)
class MetricTable:
    """Each unit alone at each low weight width (everything else float), on part of the
    search split: its metric drop, the bytes it saves against 8 bits and, for a task with
    per-example statistics, the share of examples it scores otherwise than FP32."""

    drops: Widths  # None: the width broke
    saved_bytes: Widths
    fp32_metric: float
    fraction: float  # of the search split
    model_key: str | None = None
    disagree: Widths | None = None  # None: no per-example statistics (or an earlier autoq's table)

    kind: ClassVar[str] = "metric"

    def by(self, cost: str) -> Widths:
        """The table a ladder walks by: "drops" or "disagree"."""
        return {"drops": self.drops, "disagree": self.disagree}[cost]

    def to_json(self) -> dict:
        d = asdict(self)
        if self.disagree is None:
            del d["disagree"]
        return d

    @classmethod
    def from_json(cls, d: dict) -> MetricTable:
        return cls(drops=d["drops"], saved_bytes=d["saved_bytes"], fp32_metric=d["fp32_metric"],
                   fraction=d["fraction"], model_key=d.get("model_key"), disagree=d.get("disagree"))

    def format(self, cost: str = "drops") -> str:
        what = (f"metric drop from FP32 ({self.fp32_metric:.4g})" if cost == "drops"
                else "share of examples scored otherwise than FP32")
        return format_widths(self.by(cost), f"{what} on {self.fraction:.0%} of the search split; "
                                            f"activations 8-bit")


Table = MetricTable | FidelityTable


def unit_bits(group) -> list[int]:
    return sorted(b for b in group.choices.get("bits_weights", ()) if isinstance(b, int) and b < 8)


def jobs(space) -> list[tuple[Any, str, int]]:
    """(group, unit, bits) for every measurement: each unit with weight widths under 8."""
    return [(g, unit, b) for g in space.groups for unit in space.units[g.name] for b in unit_bits(g)]


def measure(searcher, fraction: float = 0.25, progress=None) -> MetricTable:
    """Each unit alone at each low width, on ``fraction`` of the search split."""
    fp32 = searcher.evaluate(None, fraction)
    per_example = fp32.examples is not None
    drops: Widths = {}
    disagree: Widths = {}
    saved: Widths = {}
    for g, unit, bits in jobs(searcher.space):
        recipe = searcher.space.alone(unit, bits)
        try:
            score = searcher.evaluate(recipe, fraction)
            drop = round(fp32.metric - score.metric, 4)
            share = round(1 - agreement(score, fp32), 4) if per_example else None
        except AutoqError:
            raise
        except Exception:  # NaN, or task code that raises: this width is left out of the ladder
            drop = share = None
        drops.setdefault(unit, {})[bits] = drop
        disagree.setdefault(unit, {})[bits] = share
        saved.setdefault(unit, {})[bits] = searcher.size(searcher.space.alone(unit, 8)) - searcher.size(recipe)
        if progress:
            progress()
    return MetricTable(drops=drops, saved_bytes=saved, fp32_metric=fp32.metric, fraction=fraction,
                       model_key=searcher.model_key, disagree=disagree if per_example else None)


def save(table: Table, path: Path) -> None:
    write_atomic(path, json.dumps(table.to_json(), indent=1) + "\n")


def load(path: Path) -> Table:
    """A saved table of either kind (its "kind": "fidelity", else the metric's)."""
    try:
        d = json.loads(Path(path).read_text())
        keys = ("costs", "bytes") if d.get("kind") == "fidelity" else \
            ("drops", "saved_bytes") + (("disagree",) if "disagree" in d else ())
        for key in keys:
            d[key] = {u: {_width(b): v for b, v in bv.items()} for u, bv in d[key].items()}
        return (FidelityTable if d.get("kind") == "fidelity" else MetricTable).from_json(d)
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as e:
        raise AutoqError(f"sensitivity file {path} is not readable ({type(e).__name__}): "
                         f"run `autoq sensitivity` again") from None


def _width(key: str) -> int | None:
    return None if key == "null" else int(key)


def path(space, result: MetricTable, cost: str = "drops") -> list[tuple[float, dict[str, int]]]:
    """The greedy path: (predicted ``cost``, {unit: bits}) after each step, from all 8-bit;
    ``cost`` is the table's "drops" or "disagree", summed over the units moved."""
    table = result.by(cost)
    widths = {u: sorted((b for b, d in table.get(u, {}).items()
                         if d is not None and b in g.choices.get("bits_weights", ())), reverse=True)
              for g in space.groups for u in space.units[g.name]}
    state = {u: 8 for u, w in widths.items() if w and 8 in _options(space, u)}

    def saved(u: str, b: int) -> int:
        return 0 if b == 8 else result.saved_bytes[u][b]

    total, steps = 0.0, [(0.0, dict(state))]
    while True:
        moves = []
        for u, b in state.items():
            lower = [w for w in widths[u] if w < b]
            if lower:
                gain = saved(u, lower[0]) - saved(u, b)
                more = _more(table, u, b, lower[0])
                moves.append((more / max(gain, 1), u, lower[0], more))
        if not moves:
            return steps
        _, u, b, more = min(moves)
        state[u], total = b, total + more
        steps.append((total, dict(state)))


def _more(table: dict, u: str, old: int, new: int) -> float:
    """What moving ``u`` from width ``old`` to ``new`` adds to the path's predicted sum of
    ``table`` (a width that broke: without bound)."""
    def predicted(b: int) -> float:
        value = 0.0 if b == 8 else table.get(u, {}).get(b)
        return float("inf") if value is None else max(value, 0.0)
    return max(predicted(new) - predicted(old), 0.0)


def _cut(steps: list, table: dict, limit: float) -> list:
    """``steps`` up to the last whose predicted sum of ``table``, summed as ``path`` sums
    its cost, is within ``limit``."""
    total = 0.0
    for i, ((_, a), (_, b)) in enumerate(zip(steps, steps[1:]), 1):
        u = next(u for u in b if b[u] != a[u])
        total += _more(table, u, a[u], b[u])
        if total > limit:
            return steps[:i]
    return steps


def _options(space, unit: str) -> tuple:
    return next(g.choices.get("bits_weights", ()) for g in space.groups if unit in space.units[g.name])


def ladder(space, result: MetricTable, n: int, top: float | None = None, cost: str = "drops",
           within: dict[str, float] | None = None) -> list[tuple[str, dict]]:
    """``n`` seeds along the path by ``cost``, evenly spread up to ``top`` (default for
    drops: LADDER_TOP of the FP32 metric), each the path's last point within its share,
    as (name, the space's choices). ``within`` ({table: limit}) cuts the path before the
    first step whose predicted sum of that table passes its limit."""
    top = LADDER_TOP * abs(result.fp32_metric) if top is None else top
    steps = path(space, result, cost)
    for name, limit in (within or {}).items():
        steps = _cut(steps, result.by(name), limit)
    seeds, last = [], None
    for i in range(1, n + 1):
        state = [s for d, s in steps if d <= top * i / n][-1]
        if state != last:
            seeds.append((f"sensitivity-{i}", space.complete({f"{u}:bits_weights": b
                                                               for u, b in state.items()})))
            last = state
    return seeds
