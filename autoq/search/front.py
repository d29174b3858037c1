"""The Pareto front of (metric: higher is better, size and optionally latency: lower is
better) and the hypervolume of (metric, size)."""
from __future__ import annotations

from typing import Sequence


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` = (metric, *costs) is no worse than ``b`` in each and better in one (the
    metric higher, a cost such as size or latency lower)."""
    costs = list(zip(a[1:], b[1:]))
    return a[0] >= b[0] and all(x <= y for x, y in costs) and \
        (a[0] > b[0] or any(x < y for x, y in costs))


def pareto_indices(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated (metric, *costs) points, by increasing first cost
    (size); duplicates keep the first. In that order no point is dominated by a later
    one, so one pass against the points kept so far decides."""
    pts = [tuple(p) for p in points]
    order = sorted(range(len(pts)), key=lambda i: (*pts[i][1:2], -pts[i][0], *pts[i][2:], i))
    front: list[int] = []
    for i in order:
        if not any(pts[j] == pts[i] or dominates(pts[j], pts[i]) for j in front):
            front.append(i)
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
