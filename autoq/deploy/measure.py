"""Timing on the same inputs: modules alternating call by call, medians of repeats."""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from typing import Any, Callable

import torch


def run_batch(model, batch: Any):
    """``model(*batch)`` (tuple), ``model(**batch)`` (dict) or ``model(batch)``, as tasks feed them."""
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    if isinstance(batch, dict):
        return model(**batch)
    return model(batch)


def to_device(batch: Any, device: str):
    """A batch (tensor, tuple, list or dict of them) on ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


@contextmanager
def num_threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def alternate(calls: dict[str, Callable[[], Any]], threads: int, repeats: int,
              device: str = "cpu", warmup: int = 2, drop_over: float | None = None,
              stat: Callable[[list[float]], float] = statistics.median) -> dict[str, float]:
    """Median (or ``stat``) seconds of each call, taking turns (the order rotates every
    round), on ``threads`` threads. With ``drop_over``, a call slower than that many times
    the fastest in the first round is timed no more (its first time stands)."""
    names = list(calls)
    times: dict[str, list[float]] = {n: [] for n in names}
    with num_threads(threads), torch.no_grad():
        for n in names:
            for _ in range(warmup):
                calls[n]()
        for r in range(repeats):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                _sync(device)
                start = time.perf_counter()
                calls[n]()
                _sync(device)
                times[n].append(time.perf_counter() - start)
            if r == 0 and drop_over is not None:
                best = min(t[0] for t in times.values())
                names = [n for n in names if times[n][0] <= drop_over * best]
    return {n: stat(t) for n, t in times.items()}
