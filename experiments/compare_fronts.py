"""Final fronts of finished studies, side by side, as the confirm split sees them.

    python -m experiments.compare_fronts --out results/minilm-mrpc/agreement.md \
        --target-size 0.2 --target-drop 0.01 results/minilm-mrpc/agreement/*/

Reads each study folder's pareto.json and search.json (nothing is scored or resumed) and
gives, per study: its front's points, how many of them are no better than the task's
constant answer on confirm (`beats_chance` false), the front's hypervolume on the confirm
split (its points at their confirm metric, in units of FP32's, as experiments.search_vs_random
measures it), the best confirm metric at no more than ``--target-size`` of FP32's size,
with whether it is within ``--target-drop`` of FP32's, and from its study.db how many
completed trials broke the study's constraints, the sensitivity ladder's seeds among them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import optuna

from autoq.search.front import relative_hypervolume
from autoq.search.outputs import feasible
from experiments.tables import emit


def broke(folder: Path) -> str:
    """Completed trials that broke a constraint, and the ladder's seeds that did, of each."""
    storage = f"sqlite:///{folder / 'study.db'}"
    name = optuna.get_all_study_summaries(storage)[0].study_name
    done = optuna.load_study(study_name=name, storage=storage).get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    ladder = [t for t in done if str(t.user_attrs.get("seed", "")).startswith("sensitivity-")]
    broken = [not feasible(t) for t in done], [not feasible(t) for t in ladder]
    return f"{sum(broken[0])} of {len(done)}, ladder {sum(broken[1])} of {len(ladder)}"


def row(folder: Path, size: float, drop: float) -> list[str]:
    meta = json.loads((folder / "search.json").read_text())
    front = json.loads((folder / "pareto.json").read_text())
    fp32 = meta["fp32_confirm_metric"]
    hv = relative_hypervolume([(r["confirm_metric"], r["size_bytes"]) for r in front],
                              fp32, meta["fp32_size_bytes"])
    small = [r for r in front if r["size_ratio"] <= size]
    best = max(small, key=lambda r: r["confirm_metric"], default=None)
    best_cell = "none" if best is None else (
        f"{best['confirm_metric']:.4f} at {best['size_ratio']:.3f}"
        + (" (met)" if fp32 - best["confirm_metric"] <= drop else ""))
    flagged = any(r.get("beats_chance") is not None for r in front)  # older studies: unknown
    constant = str(sum(r.get("beats_chance") is False for r in front)) if flagged else "n/a"
    return [folder.name, str(meta.get("min_agreement") or ""), str(len(front)), constant,
            f"{min(r['size_ratio'] for r in front):.3f}-{max(r['size_ratio'] for r in front):.3f}",
            f"{hv:.4f}", best_cell, broke(folder)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("studies", nargs="+", help="study folders")
    p.add_argument("--target-size", type=float, default=0.2, help="of FP32's size")
    p.add_argument("--target-drop", type=float, default=0.01, help="from FP32's confirm metric")
    p.add_argument("--out", default=None, help="a markdown file for the table")
    args = p.parse_args()
    folders = [Path(s.rstrip("/")) for s in args.studies]
    lines = ["| study | min agreement | front | no better than constant | sizes (x FP32) | "
             "confirm hypervolume | best confirm at <= " + f"{args.target_size:g} of FP32's size | "
             "broke a constraint |", "|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row(f, args.target_size, args.target_drop)) + " |" for f in folders]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
