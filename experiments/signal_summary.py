"""Does the fidelity objective foretell the confirm metric across studies? Reads the pages
fidelity_signal.py wrote (one per study) and gives, for each study and for their trials
pooled, Spearman's rank correlation with the confirm metric of the search split's metric
and of the fidelity objective, with a 95% interval of the difference (fidelity less
metric) from a bootstrap over the trials.

    python -m experiments.signal_summary --task minilm-mrpc --out FILE s0=PAGE s1=PAGE ...
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from autoq.tasks import get_task
from experiments.tables import emit

ROW = re.compile(r"^\| (\d+) \| ([\d.]+) \| ([-\d.]+) \| ([-\d.e]+) \| ([-\d.]+) \|$")


def read_page(path: Path) -> tuple[float, np.ndarray]:
    """(FP32's search metric, rows of (search metric, fidelity, confirm metric)) from the
    page's first trial table."""
    text = path.read_text()
    fp32 = float(re.search(r"FP32's search \w+: ([-\d.]+) in the study", text).group(1))
    rows, started = [], False
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            rows.append((float(m.group(3)), float(m.group(4)), float(m.group(5))))
            started = True
        elif started:
            break
    return fp32, np.array(rows)


def rhos(rows: np.ndarray, sign: float) -> tuple[float, float]:
    """(metric's, fidelity's) Spearman with the confirm metric, each oriented so that
    higher foretells a better recipe (a distance: lower is better)."""
    confirm = sign * rows[:, 2]
    return (spearmanr(sign * rows[:, 0], confirm).statistic, spearmanr(-rows[:, 1], confirm).statistic)


def interval(rows: np.ndarray, sign: float, samples: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of fidelity's rho less the metric's (trials resampled)."""
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(samples):
        pick = rows[rng.integers(0, len(rows), len(rows))]
        m, f = rhos(pick, sign)
        if np.isfinite(m) and np.isfinite(f):
            diffs.append(f - m)
    return float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("pages", nargs="+", help="label=page")
    args = p.parse_args()
    task = get_task(args.task)
    sign = 1.0 if task.direction == "maximize" else -1.0
    studies = {}
    for spec in args.pages:
        label, path = spec.split("=", 1)
        fp32, rows = read_page(Path(path))
        near = rows[sign * (fp32 - rows[:, 0]) <= 0.10 * abs(fp32)]
        studies[label] = (rows, near)
    studies["pooled"] = tuple(np.concatenate([s[i] for s in studies.values()]) for i in (0, 1))
    lines = ["| study | trials | search-split metric | fidelity objective | fidelity less metric, 95% |",
             "|---|---|---|---|---|"]
    for part, name in ((0, "all"), (1, f"within 10% of FP32's search {task.metric_name}")):
        for label, s in studies.items():
            rows = s[part]
            m, f = rhos(rows, sign)
            low, high = interval(rows, sign)
            lines.append(f"| {label}, {name} | {len(rows)} | {m:.3f} | {f:.3f} | "
                         f"{f - m:+.3f} ({low:+.3f} to {high:+.3f}) |")
    made = (f"Made by `python -m experiments.signal_summary --task {args.task} --out {args.out} "
            + " ".join(args.pages) + "` (seconds on this CPU): Spearman's rank correlation with "
            "the confirm metric over each page's trials and over all of them pooled; the "
            "interval resamples the trials 2,000 times.")
    emit([made, "", *lines], args.out)


if __name__ == "__main__":
    main()
