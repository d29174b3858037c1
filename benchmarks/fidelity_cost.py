"""What the fidelity objective costs against the metric it replaces, and how long the
budget sweep takes to give a front over the whole size axis.

    python -m benchmarks.fidelity_cost --task gnmt-multi30k --out results/bench

In one run, alternating: FP32's and three recipes' (uniform int8, the space's first seed,
a 4-bit recipe) full evaluation of the search split (GNMT: beam search) and their pass
over the fidelity pool; the ratio is pool pass over evaluation, per recipe and median.
Then, timed as a search runs it: the sensitivity table in fidelity units on the search's share of
the pool, the exact allocation, and the pool pass of each budget-sweep seed (8), i.e. the
wall time from nothing to a fidelity front across all sizes. Writes
``<out>/fidelity_cost-<task>.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from autoq import Recipe
from autoq.cli import default_space
from autoq.io import write_atomic
from autoq.search import SearchConfig, Searcher, fidelity_table
from autoq.tasks.registry import make_spec
from benchmarks.fraction_reuse import afresh


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True)
    p.add_argument("--task-arg", action="append", default=[], help="KEY=VALUE, as autoq takes it")
    p.add_argument("--space", default=None)
    p.add_argument("--out", default="results/bench")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SearchConfig(task=make_spec(args.task, args.task_arg), space=args.space or default_space(args.task), study="bench",
                           results=Path(tmp), progress=False, device="cpu")
        s = Searcher(cfg)
        recipes = {"int8": Recipe.build({"bits_weights": 8, "bits_activations": 8}),
                   "w4": Recipe.build({"bits_weights": 4, "bits_activations": 8})}
        if s.space.seeds:
            recipes[s.space.seed_names[0]] = s.space.seeds[0]
        s.objective.measure(None)  # FP32's pool outputs, as a study computes them once
        rows = []
        for name, recipe in recipes.items():
            afresh(s, recipe)  # a fresh model each time: no outputs kept from before
            _, pool_s = timed(lambda: s.objective.measure(recipe))
            afresh(s, recipe)
            _, eval_s = timed(lambda: s.evaluate(recipe))
            rows.append({"recipe": name, "pool_s": round(pool_s, 3), "eval_s": round(eval_s, 3),
                         "ratio": round(pool_s / eval_s, 3)})
        start = time.perf_counter()
        table, table_s = timed(lambda: fidelity_table.measure(s, cfg.sensitivity_fraction))
        seeds = fidelity_table.sweep(s.space, table, 8)
        for _, params in seeds:
            s.objective.measure(s.space.recipe(params))
        sweep_s = time.perf_counter() - start
    result = {"task": args.task, "task_args": args.task_arg, "threads": args.threads, "cpus": os.cpu_count(),
              "load_average_at_end": round(os.getloadavg()[0], 2),
              "pool": s.objective.reference.key, "recipes": rows,
              "median_ratio": statistics.median(r["ratio"] for r in rows),
              "sensitivity_evals": len(fidelity_table.jobs(s.space)),
              "sensitivity_s": round(table_s, 1), "sweep_seeds": len(seeds),
              "sweep_front_s": round(sweep_s, 1)}
    out, label = Path(args.out), args.task + "".join(f"-{a.replace('=', '-')}" for a in args.task_arg)
    made = " ".join(["--task", args.task, *(f"--task-arg {a}" for a in args.task_arg)])
    write_atomic(out / f"fidelity_cost-{label}.json", json.dumps(result, indent=1) + "\n")
    lines = [f"# Fidelity objective cost: {label}", "",
             f"Made by `python -m benchmarks.fidelity_cost {made} --threads {args.threads}` "
             f"on this {os.cpu_count()}-core CPU (load average {result['load_average_at_end']} at the "
             f"end). Pool: `{result['pool']}`.", "",
             "| recipe | pool pass (s) | search-split evaluation (s) | pool / evaluation |", "|---|---|---|---|"]
    lines += [f"| {r['recipe']} | {r['pool_s']} | {r['eval_s']} | {r['ratio']} |" for r in rows]
    lines += ["", f"Median ratio: **{result['median_ratio']}**.", "",
              f"Budget sweep from nothing to a fidelity front across all sizes: the sensitivity "
              f"table ({result['sensitivity_evals']} unit-width passes on {cfg.sensitivity_fraction:.0%} of the pool, "
              f"{result['sensitivity_s']} s), the exact allocation, and {len(seeds)} sweep seeds "
              f"scored on the pool: **{result['sweep_front_s']} s** in all."]
    write_atomic(out / f"fidelity_cost-{label}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
