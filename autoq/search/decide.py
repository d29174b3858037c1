"""Where the task metric decides: a fidelity study's front, scored by the labelled metric.

The search ranks recipes by fidelity to FP32 on a large unlabelled pool, so the labels'
luck does not choose them. The labelled metric is then scored only on the recipes that
can reach the front: the fidelity front (fidelity against size) from FP32 down to the
first recipe whose drop on the search split passes the study's limit (``--max-drop``,
else 10% of FP32's metric), found by bisection, since the drop grows along that front;
at most ``front_size`` of them, spread evenly along it. Each is scored on the search and
confirm splits, with the paired interval of its confirm difference from FP32. The front
the user reads is metric against size among those (with the front margin), each row
with its fidelity.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
from tqdm import tqdm

from ..errors import AutoqError
from .front import REF_DROP, pareto_indices
from .outputs import completed, front_of, recipe_path

if TYPE_CHECKING:
    from .searcher import Searcher


def limit(s: Searcher) -> float:
    """The largest search-split drop worth scoring further: --max-drop, else 10% of FP32's."""
    fp32 = s.study.user_attrs["fp32_metric"]
    return s.cfg.max_drop if s.cfg.max_drop is not None else REF_DROP * abs(fp32)


def drop(s: Searcher, metric: float) -> float:
    """How much worse than FP32's ``metric`` is, in the metric's units (a metric that is
    minimized, such as an error rate, drops as it rises)."""
    fp32 = s.study.user_attrs["fp32_metric"]
    return fp32 - metric if s.task.direction == "maximize" else metric - fp32


def search_metric(s: Searcher, t: optuna.trial.FrozenTrial, attrs: dict) -> float | None:
    """A trial's metric on the whole search split, scored once and kept in the study (None:
    the metric broke, NaN or the task's code raised; the reason is kept beside it)."""
    key = f"metric:{t.number}"
    if key not in attrs:
        recipe = s.recipe_of(t)
        try:
            attrs[key] = attrs["fp32_metric"] if recipe is None else s.evaluate(recipe).metric
        except AutoqError:
            raise
        except Exception as e:  # one broken recipe must not end the study's last step
            attrs[key] = None
            s.study.set_user_attr(f"metric_error:{t.number}", f"{type(e).__name__}: {e}")
        s.study.set_user_attr(key, attrs[key])
    return attrs[key]


def confirmed(s: Searcher, t: optuna.trial.FrozenTrial, attrs: dict) -> None:
    """A trial's confirm metric, interval and chance test, scored once and kept."""
    keys = tuple(f"{k}:{t.number}" for k in ("confirm", "confirm_delta", "confirm_chance"))
    if keys[1] not in attrs:
        for name, value in zip(keys, s.confirm(t)):
            s.study.set_user_attr(name, value)
            attrs[name] = value


def fidelity_front(s: Searcher) -> list[optuna.trial.FrozenTrial]:
    """The fidelity front, largest (FP32) first."""
    return front_of(completed(s.study), sign=-1.0)[::-1]


def spread(count: int, k: int) -> list[int]:
    """``k`` indices of ``count`` evenly spread from the first to the last (all if fewer)."""
    if count <= k:
        return list(range(count))
    return sorted({round(i * (count - 1) / (k - 1)) for i in range(k)})


def candidates(s: Searcher, attrs: dict, score: bool, bar=None) -> list[optuna.trial.FrozenTrial]:
    """The fidelity front's recipes the metric is scored on (see the module's text). Without
    ``score``, those of them scored before."""
    front = fidelity_front(s)
    if not score:
        return [t for t in front if f"metric:{t.number}" in attrs]

    def ok(i: int) -> bool:
        if bar is not None:
            bar.set_postfix_str(f"bisect trial {front[i].number}", refresh=True)
        metric = search_metric(s, front[i], attrs)
        return metric is not None and drop(s, metric) <= limit(s)

    lo, hi = 0, len(front) - 1
    if ok(hi):
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return [front[i] for i in spread(lo + 1, s.cfg.front_size)]


def decided_rows(s: Searcher, score: bool = True) -> list[dict]:
    """The front a user reads (see the module's text); ``score``: score what it needs."""
    attrs = dict(s.study.user_attrs)
    with tqdm(desc="metric on the front", unit="recipe", disable=not (score and s.cfg.progress),
              dynamic_ncols=True) as bar:
        picked = candidates(s, attrs, score, bar)
        bar.reset(total=len(picked))
        for t in picked:
            if score and search_metric(s, t, attrs) is not None:
                confirmed(s, t, attrs)
            bar.update()
    scored = [t for t in picked if f"confirm_delta:{t.number}" in attrs]
    sign = 1.0 if s.task.direction == "maximize" else -1.0
    points = [(sign * attrs[f"metric:{t.number}"], t.values[1]) for t in scored]
    strict = set(pareto_indices(points))
    fp32_size = attrs.get("fp32_size_bytes")
    rows = []
    for i in pareto_indices(points, s.front_margin):
        t = scored[i]
        low, high = attrs.get(f"confirm_delta:{t.number}") or (None, None)
        rows.append({"trial": t.number, "fidelity": round(t.values[0], 8),
                     "metric": attrs[f"metric:{t.number}"], "confirm_metric": attrs.get(f"confirm:{t.number}"),
                     "confirm_delta_low": low, "confirm_delta_high": high,
                     "beats_chance": attrs.get(f"confirm_chance:{t.number}"),
                     "size_bytes": int(t.values[1]),
                     "size_ratio": round(t.values[1] / fp32_size, 4) if fp32_size else None,
                     "near": i not in strict, "seed": t.user_attrs.get("seed"), "recipe": recipe_path(t)})
    return rows
