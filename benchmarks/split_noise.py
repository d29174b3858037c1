"""How much of a score is the split's luck? A paired bootstrap over the split's examples.

    python benchmarks/split_noise.py --task minilm-mrpc --split search \\
        --recipe fp32 --recipe results/minilm-mrpc/vs_random/random-s0:83 --recipe my.yaml \\
        [--samples 2000] [--out results/minilm-mrpc/split_noise.md] [--title "..."]

Each recipe (``fp32``, a recipe YAML, or ``STUDY_FOLDER:TRIAL``) is quantized with the
task's statistics (a study's own ``stats.yaml`` where it has one), scored on the split, and kept as per-example sufficient statistics (F1:
true positives, false positives, false negatives; BLEU: sacrebleu's length and n-gram
counts), which sum to the split's metric; the script checks that they give the task's own
score. The same bootstrap resamples of the examples then give every recipe's metric a 95%
interval, and its difference from the first recipe a 95% interval and the share of
resamples in which that difference has the other sign (a one-sided bootstrap p-value).
"""
from __future__ import annotations

import argparse
import sys
from functools import cache
from pathlib import Path

import numpy as np
import optuna
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autoq.evaluate import prepare_task, task_stats  # noqa: E402
from autoq.io import write_atomic  # noqa: E402
from autoq.quant import quantize, stats as stats_io  # noqa: E402
from autoq.recipe import Recipe  # noqa: E402
from autoq.tasks import get_task  # noqa: E402
from search_vs_random import load  # noqa: E402


def minilm_rows(task, model, split: str) -> np.ndarray:
    from autoq.tasks.minilm.metric import predict_all
    enc = task._encode(split)
    pred, gold = np.array(predict_all(model, enc, batch_size=task.batch_size)), np.array(enc.labels)
    return np.stack([(pred == 1) & (gold == 1), (pred == 1) & (gold == 0),
                     (pred == 0) & (gold == 1)], 1).astype(float)


def minilm_metric(sums: np.ndarray) -> float:
    tp, fp, fn = sums
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


@cache
def bleu():
    from sacrebleu.metrics import BLEU
    return BLEU()  # its per-sentence statistics are what sacrebleu's own paired tests resample


def gnmt_rows(task, model, split: str) -> np.ndarray:
    from autoq.tasks.gnmt.corpus import read_lines
    from autoq.tasks.gnmt.task import SPLIT_DATA
    data = SPLIT_DATA[split]
    hyps = task.translate(model, read_lines(data, "en"))
    return np.array(bleu()._extract_corpus_statistics(hyps, [read_lines(data, "de")]), dtype=float)


def gnmt_metric(sums: np.ndarray) -> float:
    return bleu()._compute_score_from_stats(sums.tolist()).score


TASKS = {"minilm-mrpc": (minilm_rows, minilm_metric), "gnmt-multi30k": (gnmt_rows, gnmt_metric)}


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
    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--split", default="search", choices=["search", "confirm"])
    p.add_argument("--recipe", action="append", required=True, help="fp32, a YAML, or STUDY_FOLDER:TRIAL")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="a markdown file for the table")
    p.add_argument("--title", default="")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows_of, metric_of = TASKS[args.task]
    task = get_task(args.task)
    model = prepare_task(task)
    stats = task_stats(task, model)
    labels, rows = [], []
    for spec in args.recipe:
        label, recipe, kept = load_recipe(spec)
        own_stats = stats if kept is None else stats_io.load(kept)
        qmodel = model if recipe is None else quantize(model, recipe, own_stats)
        with torch.no_grad():
            r = rows_of(task, qmodel, args.split)
        own = task.evaluate(qmodel, split=args.split).metric
        assert abs(metric_of(r.sum(0)) - own) < 1e-9, (label, metric_of(r.sum(0)), own)
        labels.append(label)
        rows.append(r)
        print(f"{label}: {own:.4f}", flush=True)
    n = len(rows[0])
    counts = np.random.default_rng(args.seed).multinomial(n, np.full(n, 1 / n), size=args.samples)
    boot = np.array([[metric_of(s) for s in counts @ r] for r in rows])  # recipes x samples
    lines = [f"# {args.task}: how much of a score is the {args.split} split's luck", ""]
    lines += [args.title, ""] if args.title else []
    lines += [f"Made by `python benchmarks/split_noise.py --task {args.task} --split {args.split} "
             + " ".join(f"--recipe {s}" for s in args.recipe) + f" --samples {args.samples}`. "
             f"{args.samples} bootstrap resamples of the split's {n} examples, the same for every "
             f"recipe; intervals are the 2.5th and 97.5th percentiles. The difference is against "
             f"{labels[0]}; p is the share of resamples in which it has the other sign.", "",
             "| recipe | metric | 95% interval | difference | its 95% interval | p |",
             "|---|---|---|---|---|---|"]
    for i, label in enumerate(labels):
        m = metric_of(rows[i].sum(0))
        lo, hi = np.percentile(boot[i], [2.5, 97.5])
        cells = [label, f"{m:.4f}", f"{lo:.4f} to {hi:.4f}"]
        if i:
            d = boot[i] - boot[0]
            dlo, dhi = np.percentile(d, [2.5, 97.5])
            diff = m - metric_of(rows[0].sum(0))
            pval = float(np.mean(d <= 0) if diff > 0 else np.mean(d >= 0))
            cells += [f"{diff:+.4f}", f"{dlo:+.4f} to {dhi:+.4f}", f"{pval:.3f}"]
        else:
            cells += ["", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if args.out:
        write_atomic(Path(args.out), text)
    print(text)


if __name__ == "__main__":
    main()
