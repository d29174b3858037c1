"""results/<task>/deploy.md from the deploy.json files beside it: one row per recipe.

    python -m benchmarks.deploy_table --task gnmt-multi30k|minilm-mrpc [--note TEXT]

Each ``results/<task>/deploy/<recipe>.json`` is the ``deploy.json`` that
``autoq deploy --task T --recipe deploy/<recipe>.yaml --out DIR`` wrote; the recipe's
leading comment lines describe it. Measures nothing itself.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autoq.io import write_atomic

ROOT = Path(__file__).resolve().parent.parent  # results/

# how far the deployed metric may be from the fake-quant prediction (issue #5)
GAP = {"bleu": 0.3, "f1": 0.005}


def describe(yaml_path: Path) -> str:
    lines = yaml_path.read_text().splitlines() if yaml_path.is_file() else []
    words = [ln.lstrip("# ").strip() for ln in lines if ln.startswith("#")]
    return " ".join(words) or "(no description)"


def speedups(d: dict) -> str:
    return ", ".join(f"{t}T {v['speedup']:.2f}x ({v['peer_speedup']:.2f}x)" for t, v in d["latency"].items())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True)
    p.add_argument("--note", default="", help="a line on how the machine was while measuring")
    args = p.parse_args()
    folder = ROOT / "results" / args.task
    runs = {f.stem: json.loads(f.read_text()) for f in sorted((folder / "deploy").glob("*.json"))}
    if not runs:
        sys.exit(f"no deploy JSON under {folder / 'deploy'}")
    any_run = next(iter(runs.values()))
    name = any_run["metric"]["name"]
    lines = [f"# {args.task}: recipes deployed on real kernels", "",
             f"Each row is the `deploy.json` beside it (`deploy/<recipe>.json`), written by "
             f"`autoq deploy --task {args.task} --recipe deploy/<recipe>.yaml --out DIR "
             f"--threads 1,2 --repeats 20`; the table by `python -m benchmarks.deploy_table "
             f"--task {args.task}`. Latency: medians, FP32, deployed and peer alternating on the "
             f"task's first calibration batch (shapes in the JSON). Peer: {any_run['peer']}.", ""]
    if args.note:
        lines += [args.note, ""]
    lines += [f"| recipe | size / FP32 | peer size / FP32 | speedup by threads (peer) | {name} FP32 | "
              f"{name} deployed | {name} fake-quant | gap | {name} peer | fallbacks |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for recipe, d in runs.items():
        z, m = d["size"], d["metric"]
        peer = "" if m["peer"] is None else f"{m['peer']:.4g}"
        lines.append(f"| {recipe} | {z['ratio']:.3f} | {z['peer_ratio']:.3f} | {speedups(d)} | "
                     f"{m['fp32']:.4g} | {m['deployed']:.4g} | {m['predicted']:.4g} | "
                     f"{m['gap_to_prediction']:+.3g} | {peer} | {len(d['fallbacks'])} |")
    lines += [""]
    for recipe, d in runs.items():
        kernels = ", ".join(f"{k} x{n}" for k, n in d["kernels"].items())
        lines.append(f"- `{recipe}`: {describe(folder / 'deploy' / f'{recipe}.yaml')} Kernels: {kernels}.")
    limit = GAP.get(name)
    if limit is not None:
        within = [r for r, d in runs.items() if abs(d["metric"]["gap_to_prediction"]) <= limit]
        lines += ["", f"Deployed within {limit} {name} of the fake-quant prediction: "
                  f"{', '.join(within) or 'none'} (of {len(runs)})."]
    lines += ["", f"Signature: `{any_run['metric']['signature']}`", ""]
    write_atomic(folder / "deploy.md", "\n".join(lines))
    print((folder / "deploy.md").read_text())


if __name__ == "__main__":
    main()
