"""Which points of committed fronts are no better than the task's constant answer.

    python -m experiments.chance_audit --task minilm-mrpc --out results/minilm-mrpc/chance_audit.md \
        results/minilm-mrpc results/minilm-mrpc/vs_random-refit/tpe-s0 ...

Each front point of each study folder (its pareto.json) is scored again on the confirm split,
quantized with the study's stats.yaml where it has one, and set against ``Task.chance``
(MRPC: every pair a paraphrase) by the paired bootstrap the front's ``beats_chance`` uses.
``agrees`` is the share of examples it answers as the constant answer does (MRPC: the share
of pairs it calls a paraphrase). Studies are read, never resumed; one made with another model key says so.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from autoq import quantize
from autoq.evaluate import prepare_task, task_stats
from autoq.quant import calibration_key, stats as stats_io
from autoq.tasks import get_task
from autoq.tasks.paired import agreement, beats, paired_difference
from experiments.search_vs_random import load
from experiments.split_noise import load_recipe
from experiments.tables import emit


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True)
    p.add_argument("--out", default=None, help="a markdown file for the tables")
    p.add_argument("studies", nargs="+", help="study folders, each with pareto.json and study.db")
    args = p.parse_args()

    task = get_task(args.task)
    model = prepare_task(task)
    own, key = task_stats(task, model), calibration_key(model, task.calibration_batches())
    chance = {s: task.chance(s) for s in ("search", "confirm")}
    if chance["confirm"] is None:
        sys.exit(f"task {args.task} has no chance score")
    with torch.no_grad():
        fp32 = {s: task.evaluate(model, split=s) for s in ("search", "confirm")}
    lines = [f"# {args.task}: front points against the constant answer", "",
             f"Made by `python -m experiments.chance_audit --task {args.task} "
             + " ".join(args.studies) + "`. Difference: the confirm F1 less the constant "
             "answer's, with its 95% paired-bootstrap interval (1,000 resamples, seed 0, as the "
             "front's `beats_chance`); agrees: the share of examples answered as the constant "
             f"answer does. This machine's model key: {key}.", ""]
    for s in ("search", "confirm"):
        d = paired_difference(task, fp32[s], chance[s])
        lines.append(f"- {s} split: FP32 {fp32[s].metric:.4f}, constant answer {chance[s].metric:.4f}, "
                     f"difference {d.value:+.4f} ({d.low:+.4f} to {d.high:+.4f}), FP32 agrees "
                     f"{agreement(fp32[s], chance[s]):.3f}")
    total = beating = 0
    for folder in map(Path, args.studies):
        rows = json.loads((folder / "pareto.json").read_text())
        kept = folder / "stats.yaml"
        made = load(folder.parent, folder.name).user_attrs.get("model_key")
        lines += ["", f"## {folder}", ""]
        if made != key:  # "confirm here" is this model's score, "recorded" the study's model's
            lines += [("Made before a study recorded its model's key." if made is None else
                       f"Made with model key {made}, not this machine's.")
                      + " Where the two confirm columns differ, the study's scores are not this "
                        "machine's.", ""]
        lines += ["| trial | size | search | confirm (recorded) | confirm here "
                  "| less constant, 95% | beats | agrees |", "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if r.get("seed") == "fp32":
                score = fp32["confirm"]
            else:
                _, recipe, _ = load_recipe(f"{folder}:{r['trial']}")
                stats = stats_io.load(kept) if kept.is_file() else own
                with torch.no_grad():
                    score = task.evaluate(quantize(model, recipe, stats), split="confirm")
            d = paired_difference(task, score, chance["confirm"])
            ok = beats(task, score, chance["confirm"])
            total, beating = total + 1, beating + ok
            lines.append(f"| {r['trial']}{' [' + r['seed'] + ']' if r.get('seed') else ''} "
                         f"| {r['size_ratio']:.3f} | {r['metric']:.4f} | {r['confirm_metric']:.4f} "
                         f"| {score.metric:.4f} | {d.low:+.4f} to {d.high:+.4f} | {'yes' if ok else 'no'} "
                         f"| {agreement(score, chance['confirm']):.3f} |")
            print(lines[-1], flush=True)
    lines.insert(4, f"{beating} of the {total} front points beat the constant answer on confirm.")
    emit(lines, args.out)


if __name__ == "__main__":
    main()
