"""Does the pick's drop hold on data the pick never saw? The confirm split cut in halves:
one half judges the pick (``autoq pareto --max-drop``, with and without ``--confident``),
the other stands for new data of the kind.

    python -m experiments.pick_holdout --task gnmt-multi30k --max-drop 1.0 \
        --study s0=results/gnmt-multi30k/fidelity-s0 --cache /tmp/holdout \
        --out results/gnmt-multi30k/pick_holdout.md

Each front recipe of each study (a results folder of ``autoq search`` with its
stats.yaml) is scored once on the whole confirm split, keeping the per-example statistics
(cached in ``--cache``). Then, for each of ``--cuts`` random halvings, the pick is made as
``autoq.search.pick`` makes it, from the search split's metric and the judging half's
metric and paired interval, and its drop from FP32 is measured on the other half.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from autoq import AutoqError, Recipe, quantize
from autoq.evaluate import prepare_task
from autoq.io import write_atomic
from autoq.quant import stats as stats_io
from autoq.search.front_point import FrontPoint
from autoq.search.pick import load_front, pick
from autoq.tasks import Score, get_task
from autoq.tasks.paired import paired_difference
from experiments.tables import emit

SAMPLES = 300  # bootstrap resamples per interval (the front's own use 1,000)


def cache_key(folder: Path, row: FrontPoint) -> str:
    """What a front recipe's scores depend on: its recipe and the study's statistics."""
    if row.seed == "fp32":
        return "fp32"
    text = (folder / row.recipe).read_bytes() + (folder / "stats.yaml").read_bytes()
    return hashlib.sha1(text).hexdigest()[:16]


def confirm_examples(task, model, folder: Path, cache: Path) -> dict[int, np.ndarray]:
    """Trial -> per-example confirm statistics of each front recipe, scored once per
    recipe and statistics (kept in ``cache``, one folder per task)."""
    _, rows = load_front(folder)
    stats = stats_io.load(folder / "stats.yaml")
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for r in rows:
        key = cache / f"{cache_key(folder, r)}.npy"
        if not key.is_file():
            if r.seed == "fp32":
                q = task.build_model()
            else:
                q = quantize(model, Recipe.from_yaml((folder / r.recipe).read_text()), stats)
            np.save(key, task.evaluate(q.eval(), "confirm").examples)
            print(f"{folder.name} trial {r.trial} scored", flush=True)
        out[r.trial] = np.load(key)
    return out


def score(task, examples: np.ndarray) -> Score:
    return Score(float(task.summed_metric(examples.sum(0))), task.metric_name, "half", len(examples), examples)


def one_cut(task, meta, rows, ex, fp32, judge, other, max_drop, confident):
    """The pick made on the ``judge`` half: (size ratio, its drop on ``other``)."""
    ref = score(task, fp32[judge])
    judged = []
    for r in rows:
        mine = score(task, ex[r.trial][judge])
        d = paired_difference(task, mine, ref, samples=SAMPLES)
        judged.append(replace(r, confirm_metric=mine.metric, confirm_delta_low=d.low,
                              confirm_delta_high=d.high))
    half = replace(meta, fp32_confirm_metric=ref.metric)
    try:
        chosen = pick(half, judged, max_drop, confident=confident)
    except AutoqError:
        return None
    sign = 1.0 if task.direction == "maximize" else -1.0
    drop = sign * (task.summed_metric(fp32[other].sum(0)) - task.summed_metric(ex[chosen.trial][other].sum(0)))
    return chosen.size_ratio, float(drop)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True)
    p.add_argument("--max-drop", type=float, required=True)
    p.add_argument("--study", action="append", required=True, help="label=folder")
    p.add_argument("--cuts", type=int, default=200)
    p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    task, cache = get_task(args.task), Path(args.cache)
    model = prepare_task(task)
    rng = np.random.default_rng(0)
    results = {}
    for spec in args.study:
        label, folder = spec.split("=", 1)
        meta, rows = load_front(Path(folder))
        ex = confirm_examples(task, model, Path(folder), cache)
        fp32 = ex[next(r.trial for r in rows if r.seed == "fp32")]
        n = len(fp32)
        for confident in (False, True):
            got = []
            for _ in range(args.cuts):
                order = rng.permutation(n)
                picked = one_cut(task, meta, rows, ex, fp32, order[: n // 2], order[n // 2:],
                                 args.max_drop, confident)
                if picked is not None:
                    got.append(picked)
            sizes, drops = np.array([g[0] for g in got]), np.array([g[1] for g in got])
            quantized = drops[sizes < 1.0]
            results[f"{label}{' --confident' if confident else ''}"] = {
                "cuts": args.cuts, "picked": len(got), "size_ratio": float(sizes.mean()),
                "fp32_picked": float(np.mean(sizes >= 1.0)), "drop_mean": float(drops.mean()),
                "quantized_drop_mean": float(quantized.mean()) if len(quantized) else None,
                "over_bound": float(np.mean(drops > args.max_drop))}
    lines = [f"# {args.task}: does the pick's drop hold on data it never saw?", "",
             f"Made by `python -m experiments.pick_holdout --task {args.task} --max-drop "
             f"{args.max_drop:g} " + " ".join(f"--study {s}" for s in args.study) +
             f" --cuts {args.cuts} --cache DIR --out {args.out}`. The confirm split is cut in random "
             f"halves {args.cuts} times (seed 0); each time the pick is made as `autoq pareto "
             f"--max-drop {args.max_drop:g}` makes it (search split's metric, and the judging half's "
             f"metric and paired 95% interval from {SAMPLES} resamples), and its drop from FP32 is "
             f"measured on the other half, which stands for new data of the kind.", "",
             "Drops on the other half are in the metric's units (the bound is "
             f"{args.max_drop:g}); a half is itself a draw, so even a recipe that drops nothing "
             "passes the bound there now and then: the means say more than the shares.", "",
             "| study, rule | size x FP32 (mean) | FP32 picked | drop on the other half (mean) | the same, quantized picks only | share of cuts over the bound |",
             "|---|---|---|---|---|---|"]
    for k, v in results.items():
        q = "" if v["quantized_drop_mean"] is None else f"{v['quantized_drop_mean']:.4f}"
        lines.append(f"| {k} | {v['size_ratio']:.3f} | {v['fp32_picked']:.0%} | {v['drop_mean']:.4f} | "
                     f"{q} | {v['over_bound']:.0%} |")
    emit(lines, args.out)
    write_atomic(Path(args.out).with_suffix(".json"), json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
