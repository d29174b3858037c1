"""Neighbours of a scored recipe: the same choices with one or a few knobs moved.

The search scores neighbours of points on its front (Pareto local search): the metric
changes little from one knob to the next, so the recipes next to the front are the
likeliest to extend it. A bit width moves one step (up or down, float above the
widest); any other knob takes another of its choices.
"""
from __future__ import annotations

import random
from typing import Any, Mapping, Sequence


def _width(choice: Any) -> float:
    return float("inf") if choice is None else choice


def step(knob: str, choices: tuple, value: Any, rng: random.Random) -> Any:
    """Another choice for one knob: an adjacent width for ``bits_*``, else any other."""
    if knob.rsplit(":", 1)[-1].startswith("bits_") and value in choices:
        ordered = sorted(choices, key=_width)
        i = ordered.index(value)
        return rng.choice([ordered[j] for j in (i - 1, i + 1) if 0 <= j < len(ordered)])
    return rng.choice([c for c in choices if c != value])


def neighbour(params: Mapping[str, Any], knobs: Mapping[str, tuple], changes: int,
              rng: random.Random) -> dict[str, Any]:
    """``params`` with ``changes`` of its knobs (those with a choice to make) moved."""
    movable = [k for k in knobs if len(knobs[k]) > 1 and k in params]
    out = dict(params)
    for k in rng.sample(movable, min(changes, len(movable))):
        out[k] = step(k, knobs[k], out[k], rng)
    return out


def draw_parent(front: Sequence, seeds: Sequence, rng: random.Random):
    """A local-search parent (an Optuna trial), or None: a front point or a seed recipe
    off the front, all alike. Only trials with params (recipes the space can express)
    are drawn. (Drawing front points by crowding distance instead scored lower on
    MiniLM and no higher on GNMT: results/gnmt-multi30k/ablation-crowding/.)"""
    pool = [t for t in [*front, *seeds] if t.params]
    return rng.choice(pool) if pool else None
