"""Which search-split figure foretells a recipe's confirm metric: its metric, or its
agreement with FP32 (the share of examples it scores exactly as FP32 does)?

    python -m experiments.agreement_signal --task minilm-mrpc --study results/minilm-mrpc \
        --out results/minilm-mrpc/agreement_signal.md

Every completed searched trial of the study (seeds but FP32 included), quantized with the
study's stats.yaml, is scored on both splits; the table lists them and the Pearson
correlation of each search-split figure with the confirm metric. The study is read, never
resumed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import optuna
import torch

from autoq import Recipe, quantize
from autoq.evaluate import prepare_task
from autoq.quant import stats as stats_io
from autoq.search.front import REF_DROP
from autoq.tasks import get_task
from autoq.tasks.paired import agreement
from experiments.search_vs_random import load
from experiments.tables import emit


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True)
    p.add_argument("--study", required=True, help="a study folder with study.db and stats.yaml")
    p.add_argument("--out", default=None, help="a markdown file for the table")
    args = p.parse_args()
    folder = Path(args.study)
    task, study = get_task(args.task), load(folder.parent, folder.name)
    model, stats = prepare_task(task), stats_io.load(folder / "stats.yaml")
    with torch.no_grad():
        fp32 = task.evaluate(model, split="search")
    fp32_size = study.user_attrs["fp32_size_bytes"]
    rows = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.user_attrs.get("seed") == "fp32":
            continue
        qmodel = quantize(model, Recipe.from_yaml(t.user_attrs["recipe"]), stats)
        with torch.no_grad():
            search, confirm = (task.evaluate(qmodel, split=s) for s in ("search", "confirm"))
        rows.append((t.number, t.values[1] / fp32_size, search.metric, agreement(search, fp32),
                     confirm.metric))
        print(*(f"{v:.4f}" for v in rows[-1]), flush=True)
    r = np.array(rows)
    near = r[r[:, 2] >= (1 - REF_DROP) * fp32.metric]  # those a front can hold

    def corr(part, i):
        return np.corrcoef(part[:, i], part[:, 4])[0, 1]
    lines = [f"# {args.task}: what on the search split foretells the confirm metric", "",
             f"Made by `python -m experiments.agreement_signal --task {args.task} --study {args.study}`: "
             f"the study's {len(rows)} completed trials but FP32, each quantized with its "
             f"stats.yaml and scored on both splits. Agreement: the share of the search split "
             f"scored exactly as FP32 scores it (`autoq.tasks.paired.agreement`).", "",
             f"Pearson correlation with the confirm {task.metric_name}, over all of them: the "
             f"search-split {task.metric_name} {corr(r, 2):.3f}, the search-split agreement "
             f"{corr(r, 3):.3f}; over the {len(near)} within {REF_DROP:.0%} of FP32's search "
             f"{task.metric_name} (those a front can hold): {corr(near, 2):.3f} and "
             f"{corr(near, 3):.3f}.", "",
             f"| trial | size (x FP32) | search {task.metric_name} | search agreement | "
             f"confirm {task.metric_name} |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {size:.3f} | {m:.4f} | {a:.3f} | {c:.4f} |"
              for n, size, m, a, c in sorted(rows, key=lambda x: -x[3])]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
