"""Which figure foretells a recipe's confirm metric: the fidelity objective (its distance
from FP32 on the task's unlabelled pool) or the search split's metric?

    python -m experiments.fidelity_signal --task minilm-mrpc --study results/minilm-mrpc \
        --trials 40 --out results/minilm-mrpc/fidelity_signal.md

``--trials`` completed trials of the study (its searched and seeded trials, FP32 left out),
spread evenly over its trial numbers, are quantized with the study's stats.yaml and
scored on both splits. A metric study's trials are measured by the fidelity objective
here; a fidelity study's keep their own fidelity, and the metric it scored on its front is
reused where it has it. The page gives Spearman's rank correlation of each figure with the confirm metric,
over all of them and over those within 10% of FP32's search metric (the ones a front
holds). The study is read, never resumed.

The committed studies it reads are in git history: `git checkout 2742e32 -- results/`.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import optuna
from scipy.stats import spearmanr

from autoq import Recipe, quantize
from autoq.evaluate import prepare_task
from autoq.fidelity import Reference, distance_label, fidelity_text
from autoq.io import write_atomic
from autoq.quant import stats as stats_io
from autoq.search.pick import load_front
from autoq.search.record import StudyRecord
from autoq.tasks import get_task


def trials(folder: Path, count: int) -> tuple[optuna.Study, list]:
    study = optuna.load_study(study_name=_name(folder),
                              storage=f"sqlite:///{(folder / 'study.db').resolve()}")
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.user_attrs.get("seed") != "fp32" and "recipe" in t.user_attrs]
    step = max(1, len(done) / count)
    return study, [done[int(i * step)] for i in range(min(count, len(done)))]


def _name(folder: Path) -> str:
    return optuna.get_all_study_summaries(f"sqlite:///{(folder / 'study.db').resolve()}")[0].study_name


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True)
    p.add_argument("--study", required=True, help="a study folder holding study.db and stats.yaml")
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    folder = Path(args.study)
    task = get_task(args.task)
    study, picked = trials(folder, args.trials)
    stats = stats_io.load(folder / "stats.yaml")
    model = prepare_task(task)
    reference = Reference(task)
    record = StudyRecord(study)
    by_fidelity = record.get("objective") == "fidelity"
    distance = load_front(folder)[0].distance if by_fidelity else task.distance_name
    fp32_search = record.fp32_metric
    fp32_now = task.evaluate(task.build_model(), "search").metric
    rows, start = [], time.perf_counter()
    for t in picked:
        q = quantize(model, Recipe.from_yaml(t.user_attrs["recipe"]), stats)
        if by_fidelity:
            fid, search = t.values[0], record.metric(t.number)
            search = task.evaluate(q, "search").metric if search is None else search
            kept = record.confirmed(t.number)
            confirm = task.evaluate(q, "confirm").metric if kept is None else kept.metric
        else:
            fid, search = reference.measure(q).value, t.values[0]
            confirm = task.evaluate(q, "confirm").metric
        rows.append((t.number, t.values[1] / record.fp32_size, search, fid, confirm))
        print(f"trial {t.number}: search {search:.4f} fidelity {fid:.5f} confirm {confirm:.4f}", flush=True)
    sign = 1 if task.direction == "maximize" else -1
    near = [r for r in rows if sign * (fp32_search - r[2]) <= 0.10 * abs(fp32_search)]

    def rho(rs, col):
        if len(rs) < 3:
            return float("nan")
        x = [(-r[col] if col == 3 else sign * r[col]) for r in rs]  # higher: better
        return spearmanr(x, [sign * r[4] for r in rs]).statistic

    name = task.metric_name
    lines = [f"# {task.name}: does the fidelity objective foretell the confirm {name}?", "",
             f"Made by `python -m experiments.fidelity_signal --task {args.task} --study {args.study} "
             f"--trials {args.trials} --out {args.out}` ({time.perf_counter() - start:.0f} s on this "
             f"2-core CPU): {len(rows)} completed trials of the {'fidelity' if by_fidelity else 'metric'} "
             f"study (FP32 left out), spread over its trial numbers, each quantized with its "
             f"stats.yaml, {'with the fidelity the study measured' if by_fidelity else 'measured by the fidelity objective'} "
             f"({fidelity_text(distance)}, on the task's default pool, `{reference.key}`) and scored on "
             f"the whole search and confirm splits. FP32's search {name}: "
             f"{fp32_search:.4f} in the study, {fp32_now:.4f} here (equal: the same model).", "",
             "Spearman rank correlation with the confirm metric (higher: foretells it better; "
             "fidelity ranked lowest first):", "",
             "| trials | n | search-split metric | fidelity objective |", "|---|---|---|---|",
             f"| all | {len(rows)} | {rho(rows, 2):.3f} | {rho(rows, 3):.3f} |",
             f"| within 10% of FP32's search {name} (what a front holds) | {len(near)} | "
             f"{rho(near, 2):.3f} | {rho(near, 3):.3f} |", "",
             f"| trial | size (x FP32) | search {name} | fidelity ({distance_label(distance)}) | confirm {name} |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {s:.3f} | {m:.4f} | {f:.5f} | {c:.4f} |" for n, s, m, f, c in sorted(rows, key=lambda r: r[3])]
    write_atomic(args.out, "\n".join(lines) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
