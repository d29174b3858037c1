"""The Pareto front of (metric: higher is better, size: lower is better) and its hypervolume."""
from __future__ import annotations

from typing import Sequence


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """``a`` = (metric, size) is no worse than ``b`` in both and better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def pareto_indices(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points, by increasing size; duplicates keep the first."""
    order = sorted(range(len(points)), key=lambda i: (points[i][1], -points[i][0], i))
    front, best = [], float("-inf")
    for i in order:
        if points[i][0] > best:
            front.append(i)
            best = points[i][0]
    return front


def hypervolume(points: Sequence[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by ``points`` and bounded by ``ref`` = (worst metric, largest size)."""
    inside = [p for p in points if p[0] > ref[0] and p[1] < ref[1]]
    front = [inside[i] for i in pareto_indices(inside)]  # size and metric both increasing
    edges = [size for _, size in front[1:]] + [ref[1]]
    return sum((metric - ref[0]) * (edge - size) for (metric, size), edge in zip(front, edges))


REF_DROP = 0.10  # relative: the reference metric is FP32's less 10 percent of it


def relative_hypervolume(points: Sequence[tuple[float, float]], fp32_metric: float,
                         fp32_size: float) -> float:
    """Hypervolume of (metric, size) points in units of FP32's: metric / FP32 metric over
    size / FP32 size, with the reference (1 - REF_DROP, 1), so studies of one task (and
    of different tasks) compare on one scale. A maximized metric is assumed."""
    scaled = [(m / fp32_metric, s / fp32_size) for m, s in points]
    return hypervolume(scaled, (1.0 - REF_DROP, 1.0))
