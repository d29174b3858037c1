"""Does the search beat random search? Hypervolume after a budget of trials, per seed.

    python benchmarks/search_vs_random.py --task minilm-mrpc [--seeds 0 1 2] [--run]

Compares the default sampler (TPE) after ``--budget`` trials with random search after
the same budget and after ``--random-budget`` trials, seed by seed. Studies live in
results/<task>/vs_random/<sampler>-s<seed>/; TPE seed 0 is the task's main study
(results/<task>/) when that exists, as it was run with the same settings. With ``--run``,
missing or unfinished studies are run (or resumed) first; without, only what exists is
reported. Writes results/<task>/search_vs_random.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autoq.io import write_atomic  # noqa: E402
from autoq.search.front import REF_DROP, relative_hypervolume  # noqa: E402
from autoq.search.study import SearchConfig, run_search  # noqa: E402

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def study_dir(task: str, sampler: str, seed: int) -> tuple[Path, str]:
    """(folder of study folders, study name) for one run."""
    main = ROOT / "results" / task
    meta = main / "search.json"
    if sampler == "tpe" and seed == 0 and meta.is_file():
        m = json.loads(meta.read_text())
        if m["sampler"] == "tpe" and m["seed"] == 0:
            return main.parent, task
    return main / "vs_random", f"{sampler}-s{seed}"


def curve(folder: Path, name: str, budgets: list[int]) -> dict[int, float | None]:
    """Hypervolume (search split) of the completed trials among the first N finished, per N
    (None where the study has fewer)."""
    db = folder / name / "study.db"
    if not db.is_file():
        return dict.fromkeys(budgets)
    storage = f"sqlite:///{db}"
    study = optuna.load_study(study_name=name, storage=storage)
    attrs = study.user_attrs
    finished = sorted((t for t in study.get_trials(deepcopy=False, states=FINISHED)), key=lambda t: t.number)
    out: dict[int, float | None] = {}
    for n in budgets:
        if len(finished) < n:
            out[n] = None
            continue
        points = [(t.values[0], t.values[1]) for t in finished[:n] if t.state == FINISHED[0]]
        out[n] = relative_hypervolume(points, attrs["fp32_metric"], attrs["fp32_size_bytes"])
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--random-budget", type=int, default=300)
    p.add_argument("--fidelity", type=float, default=0.25)
    p.add_argument("--run", action="store_true", help="run or resume missing studies first")
    args = p.parse_args()
    space = str(ROOT / "search_spaces" / f"{args.task}.yaml")
    plan = [("tpe", args.budget), ("random", args.random_budget)]
    if args.run:
        for seed in args.seeds:
            for sampler, n in plan:
                folder, name = study_dir(args.task, sampler, seed)
                run_search(SearchConfig(task=args.task, space=space, study=name, results=folder,
                                        n_trials=n, sampler=sampler, seed=seed, fidelity=args.fidelity))
    rows = []
    for seed in args.seeds:
        tpe = curve(*study_dir(args.task, "tpe", seed), [args.budget])
        rnd = curve(*study_dir(args.task, "random", seed), [args.budget, args.random_budget])
        rows.append((seed, tpe[args.budget], rnd[args.budget], rnd[args.random_budget]))
    fmt = lambda v: "not run" if v is None else f"{v:.4f}"  # noqa: E731
    lines = [f"# {args.task}: the search against random search", "",
             f"Made by `python benchmarks/search_vs_random.py --task {args.task} --run`. Hypervolume "
             f"(`autoq.search.front.relative_hypervolume`) of the completed trials among the first N "
             f"finished ones, on the search split: metric / FP32 metric over size / FP32 size, "
             f"reference ({1 - REF_DROP:g}, 1). Every study: the same space, fidelity {args.fidelity}, "
             f"the same seeded first trials (FP32, uniform int8, the space's seeds). TPE seed 0 is "
             f"the task's main study (results/{args.task}/) when it was run with those settings; the "
             f"others are in results/{args.task}/vs_random/.", "",
             f"| seed | TPE after {args.budget} | random after {args.budget} | random after {args.random_budget} | "
             f"TPE@{args.budget} >= random@{args.random_budget} |", "|---|---|---|---|---|"]
    for seed, t, r1, r3 in rows:
        verdict = "" if t is None or r3 is None else ("yes" if t >= r3 else "no")
        lines.append(f"| {seed} | {fmt(t)} | {fmt(r1)} | {fmt(r3)} | {verdict} |")
    done = [r for r in rows if None not in r]
    if done:
        lines += ["", f"Mean over {len(done)} seed(s): TPE@{args.budget} "
                  f"{statistics.mean(r[1] for r in done):.4f}, random@{args.budget} "
                  f"{statistics.mean(r[2] for r in done):.4f}, random@{args.random_budget} "
                  f"{statistics.mean(r[3] for r in done):.4f}."]
    missing = [s for s in args.seeds if s not in [r[0] for r in done]]
    if missing:
        lines += ["", f"Seeds {missing}: not run (or not finished) yet."]
    out = ROOT / "results" / args.task / "search_vs_random.md"
    write_atomic(out, "\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
