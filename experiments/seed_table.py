"""The seeds' experiments on autoq's models: the hand-tuned baselines the search must beat.

    python -m experiments.seed_table --task gnmt-multi30k|minilm-mrpc [--split confirm] [--graph]

Writes results/<task>/seed_table.md (and .json) with the metric, its signature and the
size of each row, all measured in this run. With ``--graph`` the model is quantized in
graph mode instead (GNMT without its op modules, traced) and the files are
seed_table_graph.md and .json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from autoq import Recipe, quantize_plan, size_report
from autoq.evaluate import prepare_task, task_stats
from autoq.io import write_atomic
from autoq.quant import make_plan
from autoq.tasks import get_task
from autoq.tasks.gnmt.task import GNMTMulti30k

ROOT = Path(__file__).resolve().parent.parent  # search_spaces/ and results/

NO_CLIP_ATT = {".*att_rnn.attn.*": {"clip_acts": "NONE"}}
GNMT_ROWS = [  # Distiller's GNMT notebook, step by step
    ("FP32", None),
    ("modular LSTM (float)", "modular"),
    ("int8 SYMMETRIC", Recipe.build({"mode": "SYMMETRIC"})),
    ("int8 ASYMMETRIC_SIGNED", Recipe.build({"mode": "ASYMMETRIC_SIGNED"})),
    ("+ per-channel weights + AVG clipping",
     Recipe.build({"mode": "ASYMMETRIC_SIGNED", "per_channel_wts": True, "clip_acts": "AVG"})),
    ("+ no clipping in attention",
     Recipe.build({"mode": "ASYMMETRIC_SIGNED", "per_channel_wts": True, "clip_acts": "AVG"}, NO_CLIP_ATT)),
    ("+ no clipping in attention and classifier",
     Recipe.load(ROOT / "search_spaces" / "gnmt_distiller_seed.yaml")),
]
MINILM_ROWS = [  # PyTorch's BERT tutorial: dynamic int8 on every Linear, per-channel weights
    ("FP32", None),
    ("dynamic int8, every Linear, per-channel", Recipe.load(ROOT / "search_spaces" / "minilm_dynamic_int8.yaml")),
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True, choices=["gnmt-multi30k", "minilm-mrpc"])
    p.add_argument("--split", default="confirm", choices=["search", "confirm"])
    p.add_argument("--graph", action="store_true", help="quantize in graph mode (GNMT without op modules)")
    args = p.parse_args()
    task = GNMTMulti30k(plain_ops=True) if args.graph and args.task == "gnmt-multi30k" else get_task(args.task)
    float_model = task.build_model()
    prepared = prepare_task(task, args.graph, float_model)
    stats = task_stats(task, prepared)
    rows = []
    for name, recipe in GNMT_ROWS if args.task == "gnmt-multi30k" else MINILM_ROWS:
        start = time.perf_counter()
        if recipe is None or recipe == "modular":  # FP32: the float model or the modular one
            model = float_model if recipe is None else prepared
            size = size_report(make_plan(prepared, None))
        else:
            plan = make_plan(prepared, recipe)
            model, size = quantize_plan(plan, stats), size_report(plan, stats)
        score = task.evaluate(model, split=args.split, device="cpu")
        rows.append({"row": name, "metric": score.metric, "size_bytes": size.total_bytes,
                     "size_ratio": round(size.ratio, 4), "signature": score.signature,
                     "eval_s": round(time.perf_counter() - start, 1)})
        print(json.dumps(rows[-1]), flush=True)
    out, stem = ROOT / "results" / args.task, "seed_table_graph" if args.graph else "seed_table"
    write_atomic(out / f"{stem}.json", json.dumps(rows, indent=1) + "\n")
    name = task.metric_name.upper()
    flag = " --graph" if args.graph else ""
    lines = [f"# {args.task}: the seeds' experiments, reproduced{' in graph mode' if args.graph else ''}", "",
             f"Split: {args.split}. Every figure measured by `python -m experiments.seed_table "
             f"--task {args.task}{flag}` in one run; sizes from the engine's exact accounting.", "",
             f"| row | {name} | size (MB) | x FP32 |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['row']} | {r['metric']:.4g} | {r['size_bytes'] / 1e6:.2f} | {r['size_ratio']:.3f} |")
    lines += ["", f"Signature: `{rows[0]['signature']}`", ""]
    write_atomic(out / f"{stem}.md", "\n".join(lines))


if __name__ == "__main__":
    main()
