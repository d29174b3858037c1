"""What reusing a fraction's outputs saves a trial that is not pruned: scored on a fraction
of the search split, then on the whole, with the memo and without it, in turns (so the
machine's load falls on both alike). Each round quantizes the recipe afresh, as a trial does.

    python -m benchmarks.fraction_reuse --task gnmt-multi30k [--rounds 3] [--device cpu]

Writes results/bench/fraction_reuse-<task>.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from autoq import Recipe
from autoq.io import write_atomic
from autoq.search import SearchConfig, Searcher

ROOT = Path(__file__).resolve().parent.parent  # search_spaces/ and results/
OTHER = Recipe.build({"bits_weights": 8})  # quantized in between, untimed: see afresh


def afresh(searcher: Searcher, recipe: Recipe) -> None:
    """Leave ``searcher`` to quantize ``recipe`` afresh, no outputs kept, as a new trial
    does. A searcher keeps the model it quantized last, with its memo of outputs: another
    recipe's model takes its place, and ``recipe`` is planned again (a trial plans it
    before scoring it)."""
    assert recipe.to_yaml() != OTHER.to_yaml(), "OTHER must be another recipe"
    searcher.quantized(OTHER)
    searcher.plan(recipe)


def trial_seconds(searcher: Searcher, recipe: Recipe, fraction: float, reuse: bool) -> tuple[float, float]:
    """(seconds, full-split metric) of one unpruned trial's scoring."""
    searcher.task.reuses_outputs = reuse
    afresh(searcher, recipe)
    start = time.perf_counter()
    searcher.score(recipe, fraction)
    metric = searcher.score(recipe)
    return time.perf_counter() - start, metric


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--fraction", type=float, default=0.25)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = SearchConfig(task=args.task, space=str(ROOT / "search_spaces" / f"{args.task}.yaml"),
                       study="bench", results=Path("/tmp"), device=args.device, progress=False)
    searcher = Searcher(cfg)
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8})
    times: dict[str, list[float]] = {"reuse": [], "again": []}
    metrics = set()
    for _ in range(args.rounds):
        for name in times:
            seconds, metric = trial_seconds(searcher, recipe, args.fraction, name == "reuse")
            times[name].append(seconds)
            metrics.add(metric)
    assert len(metrics) == 1, f"the memo changed the metric: {metrics}"
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"task": args.task, "device": args.device, "fraction": args.fraction,
              "recipe": "uniform int8", "rounds": args.rounds, "metric": metrics.pop(),
              "seconds": times, "median_s": med, "reuse_over_again": med["reuse"] / med["again"],
              "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
              "threads": 1}
    out = ROOT / "results" / "bench" / f"fraction_reuse-{args.task}.json"
    write_atomic(out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
