"""The budget sweep: from each unit's measured cost at each width, the recipe with the
least predicted cost at every size.

Each unit of the space takes one of its widths; a width has bytes (exact, from the size
accounting) and a predicted cost (the fidelity lost with that unit alone at that width).
Costs are taken to add up over units. The least predicted cost for every budget is then a
multiple-choice knapsack, solved exactly here by merging units one at a time and keeping
only the (bytes, cost) pairs that no other pair beats on both: the whole Pareto frontier
of predicted cost against size, from the smallest recipe to the largest.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class Option:
    """One width of one unit: its bytes and its predicted cost."""

    bits: int | None
    bytes: int
    cost: float


@dataclass(frozen=True)
class Allocation:
    """A width for every unit, with their summed bytes and predicted cost."""

    bytes: int
    cost: float
    bits: dict[str, int | None] = field(compare=False)


def frontier(units: Mapping[str, list[Option]]) -> list[Allocation]:
    """Every allocation that no other beats on both bytes and predicted cost, smallest
    first (exact: each merge keeps all such pairs of the units merged so far)."""
    names = [u for u, options in units.items() if options]
    stages: list[list[tuple[int, float, int, int]]] = []  # (bytes, cost, parent, option)
    front = [(0, 0.0, -1, -1)]
    for u in names:
        merged = [(b + o.bytes, c + o.cost, i, k) for i, (b, c, _, _) in enumerate(front)
                  for k, o in enumerate(units[u])]
        merged.sort(key=lambda p: (p[0], p[1]))
        front = []
        for p in merged:  # by bytes ascending, each kept one cheaper than all before
            if not front or p[1] < front[-1][1]:
                front.append(p)
        stages.append(front)
    return [_unwind(names, units, stages, i) for i in range(len(front))] if names else \
        [Allocation(0, 0.0, {})]


def _unwind(names: list[str], units: Mapping[str, list[Option]], stages: list, i: int) -> Allocation:
    """The allocation of the last stage's point ``i``, read back through its parents."""
    b, c = stages[-1][i][:2]
    bits = {}
    for u, stage in zip(reversed(names), reversed(stages)):
        _, _, parent, k = stage[i]
        bits[u], i = units[u][k].bits, parent
    return Allocation(b, c, dict(reversed(list(bits.items()))))


def best_within(front: list[Allocation], budget: int) -> Allocation | None:
    """The allocation of least predicted cost within ``budget`` bytes (None: none fits)."""
    i = bisect.bisect_right([a.bytes for a in front], budget)
    return front[i - 1] if i else None


def sweep(front: list[Allocation], n: int) -> list[Allocation]:
    """``n`` allocations spread over the whole size axis: the best within each of ``n``
    budgets evenly spaced from the smallest allocation to the largest (repeats dropped)."""
    if not front or n <= 0:
        return []
    low, high = front[0].bytes, front[-1].bytes
    budgets = [high] if n == 1 else [low + (high - low) * i / (n - 1) for i in range(n)]
    out: list[Allocation] = []
    for b in budgets:
        a = best_within(front, int(b))
        if a is not None and a not in out:
            out.append(a)
    return out
