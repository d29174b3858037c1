"""Sensitivity analysis: the metric drop when one unit of the space alone is quantized
to a low bit width (everything else float). It orders nothing by itself; the search
uses it to seed a first guess."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import AutoqError
from ..recipe import Recipe
from ..io import write_atomic

FLOAT = {"bits_weights": None, "bits_activations": None}


def unit_bits(space, group) -> list[int]:
    bits = [b for b in group.choices.get("bits_weights", ()) if isinstance(b, int) and b < 8]
    return sorted(bits) or [4]


def measure(searcher, fraction: float = 0.25, progress=None) -> dict[str, Any]:
    """{unit: {bits: drop}} on the search split, from one Searcher's task and space."""
    fp32 = searcher.score(None, fraction)
    table: dict[str, dict[int, float]] = {}
    jobs = [(g, unit, b) for g in searcher.space.groups for unit in searcher.space.units[g.name]
            for b in unit_bits(searcher.space, g)]
    for g, unit, bits in jobs:
        recipe = Recipe.build(FLOAT, {unit: {"bits_weights": bits, "bits_activations": 8}},
                              {unit: g.choices.get("activations", ("static",))[0]})
        table.setdefault(unit, {})[bits] = round(fp32 - searcher.score(recipe, fraction), 4)
        if progress:
            progress()
    return {"fp32_metric": fp32, "fraction": fraction, "drops": table}


def save(result: dict, path: Path) -> None:
    write_atomic(path, json.dumps(result, indent=1) + "\n")


def load(path: Path) -> dict:
    try:
        result = json.loads(Path(path).read_text())
        result["drops"] = {u: {int(b): d for b, d in bd.items()} for u, bd in result["drops"].items()}
        return result
    except (OSError, ValueError, KeyError, AttributeError) as e:
        raise AutoqError(f"sensitivity file {path} is not readable ({type(e).__name__}): "
                         f"run `autoq sensitivity` again") from None


def guess(space, result: dict, budget: float) -> Recipe:
    """Each unit at the lowest measured bit width whose drop alone is within an equal
    share of ``budget``; other knobs at their first choice."""
    units = [u for g in space.groups for u in space.units[g.name]]
    share = budget / max(len(units), 1)
    params = {}
    for g in space.groups:
        for unit in space.units[g.name]:
            drops = result["drops"].get(unit, {})
            ok = [b for b, d in sorted(drops.items()) if d <= share]
            options = g.choices.get("bits_weights", ())
            if ok and ok[0] in options:
                params[f"{unit}:bits_weights"] = ok[0]
            elif 8 in options:
                params[f"{unit}:bits_weights"] = 8
    return space.recipe(params)


def format_table(result: dict) -> str:
    bits = sorted({b for d in result["drops"].values() for b in d})
    width = max([len(u) for u in result["drops"]] + [6])
    lines = [f"{'module':<{width}} " + " ".join(f"{f'{b}-bit':>8}" for b in bits)]
    for unit, drops in result["drops"].items():
        lines.append(f"{unit:<{width}} " + " ".join(
            f"{drops[b]:>8.3f}" if b in drops else f"{'':>8}" for b in bits))
    lines.append(f"metric drop from FP32 ({result['fp32_metric']:.4g}) on "
                 f"{result['fraction']:.0%} of the search split; activations 8-bit")
    return "\n".join(lines)
