"""Fidelity studies side by side: each front's hypervolume on the confirm split and its
pick, and the search against random search seed by seed.

    python -m experiments.fidelity_fronts --task gnmt-multi30k --max-drop 1.0 \
        --study tpe-s0=/work/runs/gnmt-fid-s0 --study random-s0=/work/runs/gnmt-random-s0 \
        --out results/gnmt-multi30k/fidelity_vs_random.md

A study is ``label=folder`` (a results folder of ``autoq search``); labels ``tpe-sN`` and
``random-sN`` of one N are compared. The hypervolume is that of the front's (confirm
metric, size) points in units of FP32's (``relative_hypervolume``: reference FP32's confirm
metric less 10%, FP32's size); the pick is what ``autoq pareto --max-drop`` picks.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import optuna

from autoq import AutoqError
from autoq.io import write_atomic
from autoq.search.front import relative_hypervolume
from autoq.search.pick import load_front, pick
from autoq.tasks import get_task


def finished_trials(folder: Path) -> int | None:
    """How many trials the study in ``folder`` finished; None when its database is not
    there (a committed front keeps no database)."""
    if not (folder / "study.db").is_file():
        return None
    storage = f"sqlite:///{(folder / 'study.db').resolve()}"
    name = optuna.get_all_study_names(storage)[0]
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def summary(folder: Path, max_drop: float, earlier: dict) -> dict:
    """A study's figures; its trial count from ``earlier`` (this page's last JSON) when
    its database is gone."""
    meta, rows = load_front(folder)
    trials = finished_trials(folder)
    points = [(r.confirm_metric, r.size_bytes) for r in rows if r.confirm_metric is not None]
    out = {"trials": earlier.get("trials") if trials is None else trials, "front": len(rows), "sampler": meta.sampler,
           "hv_confirm": relative_hypervolume(points, meta.fp32_confirm_metric, meta.fp32_size_bytes),
           "fp32_confirm": meta.fp32_confirm_metric, "fp32_search": meta.fp32_metric}
    try:
        p = pick(meta, rows, max_drop)
        out.update(pick_trial=p.trial, pick_ratio=p.size_ratio, pick_search=p.metric,
                   pick_confirm=p.confirm_metric, pick_drop=meta.fp32_confirm_metric - p.confirm_metric,
                   pick_interval=p.delta, pick_fidelity=p.fidelity)
    except AutoqError:
        out["pick_trial"] = None
    try:
        c = pick(meta, rows, max_drop, confident=True)
        out.update(confident_trial=c.trial, confident_ratio=c.size_ratio,
                   confident_drop=meta.fp32_confirm_metric - c.confirm_metric,
                   confident_interval=c.delta)
    except AutoqError:
        out["confident_trial"] = None
    return out


def hv_interval(task, model, a: Path, b: Path, cache: Path, samples: int = 1000) -> tuple[float, float]:
    """The 95% interval of hypervolume(a) less hypervolume(b) on the confirm split, from a
    paired bootstrap over its examples (both fronts and FP32 scored on each resample;
    ``model``: the task's prepared model, which the recipes quantize)."""
    from experiments.pick_holdout import confirm_examples
    fronts = []
    for folder in (a, b):
        meta, rows = load_front(folder)
        ex = confirm_examples(task, model, folder, cache)
        fronts.append((meta.fp32_size_bytes, [(ex[r.trial], r.size_bytes) for r in rows],
                       ex[next(r.trial for r in rows if r.seed == "fp32")]))
    n = len(fronts[0][2])
    counts = np.random.default_rng(0).multinomial(n, np.full(n, 1.0 / n), size=samples)
    diffs = []
    for c in counts:
        hv = [relative_hypervolume([(task.summed_metric(c @ e), size) for e, size in points],
                                   task.summed_metric(c @ fp32), fp32_size)
              for fp32_size, points, fp32 in fronts]
        diffs.append(hv[0] - hv[1])
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True)
    p.add_argument("--max-drop", type=float, required=True)
    p.add_argument("--study", action="append", required=True, help="label=folder")
    p.add_argument("--note", default="")
    p.add_argument("--examples", help="a cache folder: score each front's recipes on the confirm "
                   "split there, and give each seed's hypervolume difference a 95%% interval")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    previous = Path(args.out).with_suffix(".json")
    earlier = json.loads(previous.read_text()) if previous.is_file() else {}
    folders = {s.split("=", 1)[0]: Path(s.split("=", 1)[1]) for s in args.study}
    studies, carried = {}, []
    for label, folder in folders.items():
        if (folder / "pareto.json").is_file():
            studies[label] = summary(folder, args.max_drop, earlier.get(label, {}))
        elif label in earlier:  # its folder is gone: the figures the last page measured
            studies[label], carried = earlier[label], carried + [label]
        else:
            raise SystemExit(f"--study {label}={folder}: no pareto.json there, and {previous} "
                             f"holds no earlier figures for {label}")
    if carried:
        args.note += (f" The rows of {', '.join(carried)} are carried from the page's last JSON: "
                      f"their study folders are no longer here.")
    cmd = " ".join(f"--study {s}" for s in args.study)
    lines = [f"# {args.task}: fidelity studies, their fronts on the confirm split and their picks", "",
             f"Made by `python -m experiments.fidelity_fronts --task {args.task} --max-drop "
             f"{args.max_drop:g} {cmd}{' --examples DIR' if args.examples else ''} --out {args.out}`. "
             f"{args.note}", "",
             "Hypervolume: the front's (confirm metric, size) points in units of FP32's, reference "
             "FP32's confirm metric less 10% and FP32's size. Pick: the smallest front recipe within "
             f"{args.max_drop:g} of FP32 on both splits (`autoq pareto --max-drop {args.max_drop:g}`); "
             "its confirm drop and the paired 95% interval of its confirm difference from FP32.", "",
             "| study | trials | front | hypervolume (confirm) | pick | size x FP32 | fidelity | search | confirm | confirm drop | 95% interval |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, s in studies.items():
        if s["pick_trial"] is None:
            pick_cells = "none | | | | | | "
        else:
            low, high = s["pick_interval"]
            pick_cells = (f"{s['pick_trial']} | {s['pick_ratio']:.3f} | {s['pick_fidelity']:.4g} | "
                          f"{s['pick_search']:.4f} | {s['pick_confirm']:.4f} | {s['pick_drop']:.4f} | "
                          f"{low:+.4f} to {high:+.4f}")
        lines.append(f"| {label} | {s['trials']} | {s['front']} | {s['hv_confirm']:.4f} | {pick_cells} |")
    lines += ["", f"With `--confident` (`autoq pareto --max-drop {args.max_drop:g} --confident`): the "
              f"smallest front recipe whose confirm interval's worse end is within {args.max_drop:g} "
              "of FP32 as well (FP32 itself when none is).", "",
              "| study | pick | size x FP32 | --confident pick | size x FP32 | confirm drop | 95% interval |",
              "|---|---|---|---|---|---|---|"]
    for label, s in studies.items():
        plain = "none | " if s["pick_trial"] is None else f"{s['pick_trial']} | {s['pick_ratio']:.3f}"
        if s["confident_trial"] is None:
            lines.append(f"| {label} | {plain} | none | | | |")
            continue
        low, high = s["confident_interval"]
        lines.append(f"| {label} | {plain} | {s['confident_trial']} | {s['confident_ratio']:.3f} | "
                     f"{s['confident_drop']:.4f} | {low:+.4f} to {high:+.4f} |")
    pairs = sorted({k.split("-s")[-1] for k in studies if k.startswith("tpe-")}
                   & {k.split("-s")[-1] for k in studies if k.startswith("random-")})
    if pairs:
        extra = " difference, 95% interval |" if args.examples else ""
        if args.examples:
            from autoq.evaluate import prepare_task
            task = get_task(args.task)
            model = prepare_task(task)
        lines += ["", "| seed | search hypervolume | random search hypervolume | met |" + extra,
                  "|---|---|---|---|" + ("---|" if args.examples else "")]
        for n in pairs:
            a, b = studies[f"tpe-s{n}"]["hv_confirm"], studies[f"random-s{n}"]["hv_confirm"]
            cell = ""
            if args.examples and f"random-s{n}" in carried:
                cell = " not computed: random search's front is gone |"
            elif args.examples:
                low, high = hv_interval(task, model, folders[f"tpe-s{n}"], folders[f"random-s{n}"],
                                        Path(args.examples))
                studies[f"tpe-s{n}"]["hv_difference_interval"] = (low, high)
                cell = f" {a - b:+.4f} ({low:+.4f} to {high:+.4f}) |"
            lines.append(f"| {n} | {a:.4f} | {b:.4f} | {'yes' if a >= b else 'no'} |" + cell)
        if args.examples:
            lines += ["", "Difference: the search's hypervolume less random search's; its interval "
                      "is a paired bootstrap over the confirm split's examples (1,000 resamples, "
                      "seed 0), each front point and FP32 scored again on each resample."]
    write_atomic(args.out, "\n".join(lines) + "\n")
    write_atomic(Path(args.out).with_suffix(".json"), json.dumps(studies, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
