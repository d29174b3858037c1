"""The Pareto front of (metric: higher is better, size and optionally latency: lower is
better), and the hypervolume such points dominate."""
from __future__ import annotations

from typing import Sequence


def dominates(a: Sequence[float], b: Sequence[float], margin: float = 0.0) -> bool:
    """``a`` = (metric, *costs) is no worse than ``b`` in each and better in one (the
    metric higher, a cost such as size or latency lower). With a ``margin``, a's metric
    must lead b's by at least that much: a lead the evaluation split's luck could give
    does not count."""
    if not all(x <= y for x, y in zip(a[1:], b[1:])):
        return False
    if margin > 0:
        return a[0] >= b[0] + margin
    return a[0] > b[0] or (a[0] == b[0] and any(x < y for x, y in zip(a[1:], b[1:])))


def pareto_indices(points: Sequence[Sequence[float]], margin: float = 0.0) -> list[int]:
    """Indices of the non-dominated (metric, *costs) points, by increasing first cost
    (size); duplicates keep the first. In that order no point is dominated by a later
    one, so one pass against the points kept so far decides. With a ``margin``, also the
    points no front point dominates by that margin (those within it of the front)."""
    pts = [tuple(p) for p in points]
    order = sorted(range(len(pts)), key=lambda i: (*pts[i][1:2], -pts[i][0], *pts[i][2:], i))
    front: list[int] = []
    for i in order:
        if not any(pts[j] == pts[i] or dominates(pts[j], pts[i]) for j in front):
            front.append(i)
    if margin <= 0:
        return front
    # what a point dominates by the margin, a front point dominating that point does too
    on = set(front)
    return [i for i in order if i in on or not any(dominates(pts[j], pts[i], margin) for j in front)]


def hypervolume(points: Sequence[Sequence[float]], ref: Sequence[float]) -> float:
    """Volume dominated by ``points`` = (metric, *costs) and bounded by ``ref`` = (worst
    metric, largest cost each): an area for (metric, size). Points outside the box hold up
    nothing."""
    inside = [(-p[0], *p[1:]) for p in points  # every axis minimized from here on
              if p[0] > ref[0] and all(c < r for c, r in zip(p[1:], ref[1:]))]
    return _volume(inside, (-ref[0], *ref[1:]))


def _volume(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """Volume of minimized points under ``ref``, by slices along the last axis: between
    one point's last value and the next's, the points up to it cover the volume of their
    first axes. (Fronts here hold tens of points: slicing is quick enough.)"""
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    pts = sorted(points, key=lambda p: p[-1])
    tops = [p[-1] for p in pts[1:]] + [ref[-1]]
    return sum((top - p[-1]) * _volume([q[:-1] for q in pts[:i + 1]], ref[:-1])
               for i, (p, top) in enumerate(zip(pts, tops)) if top > p[-1])


def contributions(points: Sequence[Sequence[float]], ref: Sequence[float]) -> list[float]:
    """Each point's exclusive hypervolume: what the front loses without it (0 for a point
    dominated by another, or outside the box)."""
    whole = hypervolume(points, ref)
    return [max(0.0, whole - hypervolume([*points[:i], *points[i + 1:]], ref))
            for i in range(len(points))]


REF_DROP = 0.10  # relative: the reference metric is FP32's less 10 percent of it


def drop_kept(fp32: float, max_drop: float | None) -> float:
    """The largest drop from FP32's metric worth keeping: --max-drop, else REF_DROP of it."""
    return max_drop if max_drop is not None else REF_DROP * abs(fp32)


def relative_hypervolume(points: Sequence[tuple[float, float]], fp32_metric: float,
                         fp32_size: float) -> float:
    """Hypervolume of (metric, size) points in units of FP32's: metric / FP32 metric over
    size / FP32 size, with the reference (1 - REF_DROP, 1), so studies of one task (and
    of different tasks) compare on one scale. A maximized metric is assumed."""
    scaled = [(m / fp32_metric, s / fp32_size) for m, s in points]
    return hypervolume(scaled, (1.0 - REF_DROP, 1.0))
