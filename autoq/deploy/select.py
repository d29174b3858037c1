"""Choosing a kernel for a unit: the recipe's numbers first, then speed, measured here.

Offers are ranked by tier (exact < harmless deviations < lower precision than asked),
then by how many parts of the recipe they do not honour. The best-ranked candidates
are timed on the unit's real inputs, on each thread count, alternating (best of the
repeats, as other load only adds time). The fastest on average over thread counts
wins, except that a kernel keeping its weights in low precision is preferred when it
costs less than 5% of the unit's time or ``slack`` seconds (1% of the whole model's
forward pass) more: a difference the model would not show. Timings are cached per process
by kernel, stored shapes and input shapes, so identical layers are measured once.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from .measure import alternate
from .registry import Offer

TIE = 0.05
_CACHE: dict[str, float] = {}


def shapes(obj: Any):
    """Shapes of the tensors in nested args (the part of the inputs that timing depends on)."""
    if isinstance(obj, PackedSequence):
        return ["packed", list(obj.data.shape), obj.batch_sizes.tolist()]
    if isinstance(obj, torch.Tensor):
        return [str(obj.dtype), list(obj.shape)]
    if isinstance(obj, (tuple, list)):
        return [shapes(o) for o in obj]
    if isinstance(obj, dict):
        return {k: shapes(v) for k, v in sorted(obj.items())}
    return repr(obj)


def rank(offer: Offer) -> tuple[int, int]:
    return offer.tier, sum(not d.exact for d in offer.deviations)


def _timed(modules: dict, best: list[Offer], inputs, meta: dict, t: int, repeats: int,
           device: str) -> dict[str, float]:
    """Seconds per call of each module on ``t`` threads, side by side (cached)."""
    args, kwargs = inputs
    keys = {name: json.dumps([name, meta, shapes(inputs), t, next(
        o.options for o in best if o.kernel.name == name)], sort_keys=True, default=str)
        for name in modules}
    if not all(k in _CACHE for k in keys.values()):
        calls = {name: (lambda m=m: m(*args, **kwargs)) for name, m in modules.items()}
        # the fastest call: other work on the machine only ever adds time
        for name, sec in alternate(calls, t, repeats, device, drop_over=20.0, stat=min).items():
            _CACHE[keys[name]] = sec
    return {name: _CACHE[k] for name, k in keys.items()}


def choose(offers: list[Offer], make: Callable[[Offer], nn.Module], inputs, meta: dict,
           threads: list[int], repeats: int = 5, device: str = "cpu",
           slack: dict[int, float] | None = None):
    """(offer, runtime module, seconds per call by kernel and threads, or None) for one unit.

    ``make`` builds an offer's runtime module; ``inputs`` is the unit's (args, kwargs) on a
    sample batch, or None (no timing: the first offer of the best rank, low precision
    first); ``slack``: seconds per thread count that the whole model would not notice.
    """
    top = min(rank(o) for o in offers)
    best = sorted((o for o in offers if rank(o) == top), key=lambda o: not o.kernel.low_precision)
    if len(best) == 1 or inputs is None:
        return best[0], make(best[0]), None
    modules = {}
    for o in best:
        try:
            modules[o.kernel.name] = m = make(o)
            with torch.no_grad():
                m(*inputs[0], **inputs[1])
        except (RuntimeError, NotImplementedError, ValueError, AssertionError):
            modules.pop(o.kernel.name, None)  # this kernel cannot run these inputs
    if not modules:
        return best[0], make(best[0]), None
    times = {t: _timed(modules, best, inputs, meta, t, repeats, device) for t in threads}
    # each thread count weighs the same: time relative to that count's fastest
    rel = {n: sum(times[t][n] / min(times[t].values()) for t in threads) / len(threads)
           for n in modules}
    free = {n: all(times[t][n] <= min(times[t].values()) * (1 + TIE) + (slack or {}).get(t, 0.0)
                   for t in threads) for n in modules}
    low = {o.kernel.name: o.kernel.low_precision for o in best}
    pick = min(modules, key=lambda n: (not (free[n] and low[n]), rel[n]))
    offer = next(o for o in best if o.kernel.name == pick)
    return offer, modules[pick], {f"{n}@{t}": round(times[t][n], 7) for t in threads for n in modules}
