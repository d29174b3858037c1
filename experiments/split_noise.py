"""How much of a score is the split's luck? A paired bootstrap over the split's examples.

    python -m experiments.split_noise --task minilm-mrpc --split search \\
        --recipe fp32 --recipe results/minilm-mrpc/vs_random/random-s0:83 --recipe my.yaml \\
        [--samples 2000] [--out results/minilm-mrpc/split_noise.md] [--title "..."]

Each recipe (``fp32``, a recipe YAML, or ``STUDY_FOLDER:TRIAL``) is quantized with the
task's statistics (a study's own ``stats.yaml`` where it has one) and scored on the split,
with the per-example statistics its score carries (``Score.examples``: F1's confusion
counts, sacrebleu's lengths and n-gram counts), which the task sums back to its metric.
The same bootstrap resamples of the examples then give every recipe's metric a 95%
interval, and its difference from the first recipe a 95% interval and the share of
resamples in which that difference has the other sign (``autoq.tasks.paired``, as the
front's ``confirm_delta_low`` and ``confirm_delta_high``). Any task whose scores carry
per-example statistics will do. ``--recipe chance`` is the task's best input-ignoring
answer (``Task.chance``; MRPC: every pair a paraphrase), the yardstick of ``beats_chance``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import optuna
import torch

from autoq import Recipe, quantize
from autoq.evaluate import prepare_task, task_stats
from autoq.quant import stats as stats_io
from autoq.tasks import get_task
from autoq.tasks.paired import paired_difference
from experiments.search_vs_random import load
from experiments.tables import emit


def load_recipe(spec: str) -> tuple[str, Recipe | None, Path | None]:
    """(label, recipe, the study's stats.yaml if it has one) of ``fp32``, a YAML file, or
    ``STUDY_FOLDER:TRIAL``."""
    if spec == "fp32":
        return "FP32", None, None
    folder, _, number = spec.rpartition(":")
    if folder and number.isdigit():
        folder = Path(folder)
        trial = load(folder.parent, folder.name).trials[int(number)]
        kept = folder / "stats.yaml"
        return (f"{folder.name}#{number}", Recipe.from_yaml(trial.user_attrs["recipe"]),
                kept if kept.is_file() else None)
    return Path(spec).stem, Recipe.load(spec), None


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True)
    p.add_argument("--split", default="search", choices=["search", "confirm"])
    p.add_argument("--recipe", action="append", required=True,
                   help="fp32, chance (the task's constant answer), a YAML, or STUDY_FOLDER:TRIAL")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="a markdown file for the table")
    p.add_argument("--title", default="")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task = get_task(args.task)
    model = prepare_task(task)
    stats = task_stats(task, model)
    labels, scores = [], []
    for spec in args.recipe:
        if spec == "chance":
            label, score = "chance", task.chance(args.split)
            if score is None:
                sys.exit(f"task {args.task} has no chance score")
        else:
            label, recipe, kept = load_recipe(spec)
            own_stats = stats if kept is None else stats_io.load(kept)
            qmodel = model if recipe is None else quantize(model, recipe, own_stats)
            with torch.no_grad():
                score = task.evaluate(qmodel, split=args.split)
        labels.append(label)
        scores.append(score)
        print(f"{label}: {score.metric:.4f}", flush=True)
    n = scores[0].n
    counts = np.random.default_rng(args.seed).multinomial(n, np.full(n, 1.0 / n), size=args.samples)
    lines = [f"# {args.task}: how much of a score is the {args.split} split's luck", ""]
    lines += [args.title, ""] if args.title else []
    lines += [f"Made by `python -m experiments.split_noise --task {args.task} --split {args.split} "
             + " ".join(f"--recipe {s}" for s in args.recipe) + f" --samples {args.samples}`. "
             f"{args.samples} bootstrap resamples of the split's {n} examples, the same for every "
             f"recipe; intervals are the 2.5th and 97.5th percentiles. The difference is against "
             f"{labels[0]}; p is the share of resamples in which it has the other sign.", "",
             "| recipe | metric | 95% interval | difference | its 95% interval | p |",
             "|---|---|---|---|---|---|"]
    for i, (label, score) in enumerate(zip(labels, scores)):
        lo, hi = np.percentile([task.summed_metric(s) for s in counts @ score.examples], [2.5, 97.5])
        cells = [label, f"{score.metric:.4f}", f"{lo:.4f} to {hi:.4f}"]
        if i:
            d = paired_difference(task, score, scores[0], args.samples, args.seed)
            cells += [f"{d.value:+.4f}", f"{d.low:+.4f} to {d.high:+.4f}", f"{d.p:.3f}"]
        else:
            cells += ["", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    emit(lines, args.out)


if __name__ == "__main__":
    main()
