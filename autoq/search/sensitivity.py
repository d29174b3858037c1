"""Sensitivity analysis and the seeds it gives the search.

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

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import AutoqError
from ..fidelity import fidelity_text
from ..io import write_atomic
from ..tasks.data import CACHE
from ..tasks.paired import agreement

LADDER_TOP = 0.05  # the path's last seed: a predicted drop of 5% of the FP32 metric


def unit_bits(group) -> list[int]:
    return sorted(b for b in group.choices.get("bits_weights", ()) if isinstance(b, int) and b < 8)


def jobs(space) -> list[tuple[Any, str, int]]:
    """(group, unit, bits) for every measurement: each unit with weight widths under 8."""
    return [(g, unit, b) for g in space.groups for unit in space.units[g.name] for b in unit_bits(g)]


def measure(searcher, fraction: float = 0.25, progress=None) -> dict[str, Any]:
    """{unit: {bits: drop}}, {unit: {bits: bytes saved}} and, for a task that gives
    per-example statistics, {unit: {bits: share of examples scored otherwise than FP32}},
    on ``fraction`` of the search split."""
    fp32 = searcher.evaluate(None, fraction)
    per_example = fp32.examples is not None
    drops: dict[str, dict[int, float]] = {}
    disagree: dict[str, dict[int, float]] = {}
    saved: dict[str, dict[int, int]] = {}
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
    return {"fp32_metric": fp32.metric, "fraction": fraction, "model_key": searcher.model_key,
            "drops": drops, "saved_bytes": saved, **({"disagree": disagree} if per_example else {})}


def fidelity_jobs(space) -> list[tuple[Any, str, Any]]:
    """(group, unit, width) for every width of every unit whose weight width is searched."""
    return [(g, unit, b) for g in space.groups if len(g.choices.get("bits_weights", ())) > 1
            for unit in space.units[g.name] for b in g.choices["bits_weights"]]


def measure_fidelity(searcher, fraction: float = 0.25, progress=None) -> dict[str, Any]:
    """{unit: {width: fidelity}} with that unit alone at that width (everything else
    float), on ``fraction`` of the pool, and {unit: {width: bytes}} over the all-float
    model: the budget sweep's table (``sweep``)."""
    space, objective = searcher.space, searcher.objective
    floats = searcher.size(space.alone_none())
    costs: dict[str, dict] = {}
    sizes: dict[str, dict] = {}
    for _, unit, bits in fidelity_jobs(space):
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
    return {"kind": "fidelity", "objective": objective.name, "distance": searcher.task.distance_name,
            "fraction": fraction,
            "pool": objective.reference.key, "model_key": searcher.model_key,
            "costs": costs, "bytes": sizes}


def cached(searcher, fraction: float) -> Path:
    """Where a fidelity table is kept for other studies of the same model, statistics,
    pool, distance, fraction and measured recipes (FP32's outputs on the pool's first
    batch stand in for the task's own code)."""
    s = searcher
    ref = s.objective.reference
    logp = ref.fp32(0)[0].detach().cpu().double().numpy().round(6)
    parts = [s.model_key, s.objective.name, ref.key, s.task.distance_name, repr(fraction),
             hashlib.sha256(logp.tobytes()).hexdigest(), s.space.alone_none().to_yaml()]
    parts += [s.space.alone(u, b).to_yaml() for _, u, b in fidelity_jobs(s.space)]
    return CACHE / "sensitivity" / f"{hashlib.sha256(chr(10).join(parts).encode()).hexdigest()[:16]}.json"


def sweep(space, table: dict, n: int) -> list[tuple[str, dict]]:
    """``n`` seeds across the whole size axis: the least predicted fidelity cost within
    each of ``n`` evenly spread budgets (``allocate``), as (name, the space's choices)."""
    from .allocate import Option, frontier
    from .allocate import sweep as spread
    units = {u: [Option(b, table["bytes"][u][b], c) for b, c in by_bits.items() if c is not None]
             for u, by_bits in table["costs"].items()}
    return [(f"sweep-{i}", space.complete({f"{u}:bits_weights": b for u, b in a.bits.items()}))
            for i, a in enumerate(spread(frontier(units), n), 1)]


def save(result: dict, path: Path) -> None:
    write_atomic(path, json.dumps(result, indent=1) + "\n")


def load(path: Path) -> dict:
    try:
        result = json.loads(Path(path).read_text())
        keys = ("costs", "bytes") if result.get("kind") == "fidelity" else \
            ("drops", "saved_bytes") + (("disagree",) if "disagree" in result else ())
        for key in keys:
            result[key] = {u: {_width(b): v for b, v in bv.items()} for u, bv in result[key].items()}
        return result
    except (OSError, ValueError, KeyError, AttributeError) as e:
        raise AutoqError(f"sensitivity file {path} is not readable ({type(e).__name__}): "
                         f"run `autoq sensitivity` again") from None


def _width(key: str) -> int | None:
    return None if key == "null" else int(key)


def path(space, result: dict, cost: str = "drops") -> list[tuple[float, dict[str, int]]]:
    """The greedy path: (predicted ``cost``, {unit: bits}) after each step, from all 8-bit;
    ``cost`` is the table's "drops" or "disagree", summed over the units moved."""
    table = result[cost]
    widths = {u: sorted((b for b, d in table.get(u, {}).items()
                         if d is not None and b in g.choices.get("bits_weights", ())), reverse=True)
              for g in space.groups for u in space.units[g.name]}
    state = {u: 8 for u, w in widths.items() if w and 8 in _options(space, u)}

    def saved(u: str, b: int) -> int:
        return 0 if b == 8 else result["saved_bytes"][u][b]

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


def ladder(space, result: dict, n: int, top: float | None = None, cost: str = "drops",
           within: dict[str, float] | None = None) -> list[tuple[str, dict]]:
    """``n`` seeds along the path by ``cost``, evenly spread up to ``top`` (default for
    drops: LADDER_TOP of the FP32 metric), each the path's last point within its share,
    as (name, the space's choices). ``within`` ({table: limit}) cuts the path before the
    first step whose predicted sum of that table passes its limit."""
    top = LADDER_TOP * abs(result["fp32_metric"]) if top is None else top
    steps = path(space, result, cost)
    for name, limit in (within or {}).items():
        steps = _cut(steps, result[name], limit)
    seeds, last = [], None
    for i in range(1, n + 1):
        state = [s for d, s in steps if d <= top * i / n][-1]
        if state != last:
            seeds.append((f"sensitivity-{i}", space.complete({f"{u}:bits_weights": b
                                                               for u, b in state.items()})))
            last = state
    return seeds


def format_table(result: dict, cost: str = "drops") -> str:
    """The table of ``cost`` ("drops" or "disagree") by unit and width."""
    table = result[cost]
    bits = sorted({b for d in table.values() for b in d}, key=lambda b: 99 if b is None else b)
    width = max([len(u) for u in table] + [6])
    lines = [f"{'module':<{width}} " + " ".join(f"{'float' if b is None else f'{b}-bit':>8}" for b in bits)]
    for unit, values in table.items():
        lines.append(f"{unit:<{width}} " + " ".join(
            f"{'broke':>8}" if b in values and values[b] is None else
            f"{values[b]:>8.3g}" if b in values else f"{'':>8}" for b in bits))
    if cost == "costs":
        lines.append(f"{fidelity_text(result.get('distance'))} on {result['fraction']:.0%} of the pool "
                     f"({result['pool']}), the unit alone at that width; activations 8-bit")
        return "\n".join(lines)
    what = (f"metric drop from FP32 ({result['fp32_metric']:.4g})" if cost == "drops"
            else "share of examples scored otherwise than FP32")
    lines.append(f"{what} on {result['fraction']:.0%} of the search split; activations 8-bit")
    return "\n".join(lines)
