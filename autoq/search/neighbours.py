"""Neighbours of a scored recipe: the same choices with one or a few knobs moved.

The search scores neighbours of points on its front (Pareto local search): the metric
changes little from one knob to the next, so the recipes next to the front are the
likeliest to extend it. A bit width moves one step (up or down, float above the
widest); any other knob takes another of its choices.
"""
from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

from .front import contributions


def _width(choice: Any) -> float:
    return float("inf") if choice is None else choice


def others(knob: str, choices: tuple, value: Any) -> list:
    """The choices one step from ``value``: the adjacent widths for ``bits_*``, else every
    other choice."""
    if knob.rsplit(":", 1)[-1].startswith("bits_") and value in choices:
        ordered = sorted(choices, key=_width)
        i = ordered.index(value)
        return [ordered[j] for j in (i - 1, i + 1) if 0 <= j < len(ordered)]
    return [c for c in choices if c != value]


def step(knob: str, choices: tuple, value: Any, rng: random.Random) -> Any:
    """Another choice for one knob, one step from ``value`` (``others``)."""
    return rng.choice(others(knob, choices, value))


def moves(params: Mapping[str, Any], knobs: Mapping[str, tuple]) -> list[dict[str, Any]]:
    """Every recipe one knob from ``params`` (each knob to each of its ``others``)."""
    return [{**params, k: c} for k, choices in knobs.items() if k in params and len(choices) > 1
            for c in others(k, choices, params[k])]


def neighbour(params: Mapping[str, Any], knobs: Mapping[str, tuple], changes: int,
              rng: random.Random) -> dict[str, Any]:
    """``params`` with ``changes`` of its knobs (those with a choice to make) moved."""
    movable = [k for k in knobs if len(knobs[k]) > 1 and k in params]
    out = dict(params)
    for k in rng.sample(movable, min(changes, len(movable))):
        out[k] = step(k, knobs[k], out[k], rng)
    return out


def draw_parent(front: Sequence, seeds: Sequence, ref: Sequence[float], rng: random.Random,
                sign: float = 1.0):
    """A local-search parent (an Optuna trial), or None. A front point is drawn by the
    hypervolume it alone holds up within ``ref`` (worst metric, largest costs): the edge
    points below the drop worth keeping hold up none, and a point with a wide gap beside
    it holds up much, so that gap is searched. A seed recipe off the front is drawn as
    often as the average front point. All alike when no point holds up any volume. ``sign``
    -1: the objective (values[0]) is minimized, and ``ref`` is oriented as -value. Only
    trials with params (recipes the space can express) are drawn. (Drawing by crowding
    distance scored lower: results/gnmt-multi30k/ablation-crowding/.)"""
    held = contributions([(sign * t.values[0], *t.values[1:]) for t in front], ref)  # FP32's point too
    weighted = [(t, w) for t, w in zip(front, held) if t.params]
    if not any(w for _, w in weighted):
        weighted = [(t, 1.0) for t, _ in weighted]
    mean = sum(w for _, w in weighted) / len(weighted) if weighted else 1.0
    weighted += [(t, mean) for t in seeds if t.params]
    if not weighted:
        return None
    return rng.choices([t for t, _ in weighted], weights=[w for _, w in weighted])[0]
