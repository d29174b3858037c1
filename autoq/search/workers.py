"""``--workers N``: N worker processes on one study, supervised. A worker that dies (killed,
out of memory) is replaced while the study still needs trials, and its trial is run again
(see ``storage.recover_stale``); a worker whose parent dies stops, so no worker runs on
unsupervised; a worker that stops on bad input (exit 2) stops the others too.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from dataclasses import replace

from ..errors import AutoqError
from .config import SearchConfig

MAX_RESTARTS = 3  # per worker slot: a worker that keeps dying is not started again


def _watch_parent(parent: int) -> None:
    """End this process as soon as its parent is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(3)


def cores() -> int:
    """The cores this process may run on (all of the machine's where the OS cannot say)."""
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _share_cores(workers: int) -> None:
    """Give each of ``workers`` worker processes its share of the cores as torch threads
    (at least one), unless OMP_NUM_THREADS says how many: by default each would take all
    of them, and a CPU's cores oversubscribed run greedy decoding's small steps several
    times slower."""
    if "OMP_NUM_THREADS" not in os.environ:
        import torch
        torch.set_num_threads(max(1, cores() // workers))


def _work(cfg: SearchConfig, worker: int, parent: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _share_cores(cfg.workers)
    from .run import loop
    from .searcher import Searcher
    try:
        loop(Searcher(cfg, worker))
    except AutoqError as e:
        print(f"autoq: error: worker {worker}: {e}", file=sys.stderr)
        sys.exit(2)


def supervise(cfg: SearchConfig, needs_trials) -> None:
    """Run ``cfg.workers`` workers until each ends on its own; ``needs_trials()`` says
    whether the study still needs trials (a dead worker is then replaced)."""
    ctx = multiprocessing.get_context("spawn")
    restarts = {i: 0 for i in range(cfg.workers)}

    def start(i: int):
        p = ctx.Process(target=_work, args=(replace(cfg, progress=(i == 0)), i, os.getpid()),
                        daemon=False)
        p.start()
        return p

    running = {i: start(i) for i in range(cfg.workers)}
    try:
        while running:
            time.sleep(0.5)
            for i, p in list(running.items()):
                if p.is_alive():
                    continue
                del running[i]
                if p.exitcode == 2:
                    raise AutoqError(f"worker {i} stopped on bad input (its message is above)")
                if p.exitcode != 0 and restarts[i] < MAX_RESTARTS and needs_trials():
                    restarts[i] += 1
                    print(f"autoq: worker {i} died (exit {p.exitcode}); starting another in its "
                          f"place ({restarts[i]} of {MAX_RESTARTS})", file=sys.stderr)
                    running[i] = start(i)
    finally:
        for p in running.values():
            p.terminate()
        for p in running.values():
            p.join(5)
