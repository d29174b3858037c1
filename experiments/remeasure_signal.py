"""Would another fidelity measure foretell the confirm metric better? Reads a page that
fidelity_signal.py wrote, measures each of its trials again by the fidelity objective of
the task built with ``--task-arg`` (for GNMT, ``pool_measure=chrf``), and writes a page of
the same form with the new fidelity beside the page's search and confirm metrics, which
are not scored again; signal_summary.py reads it as it reads the first.

    python -m experiments.remeasure_signal --task gnmt-multi30k --task-arg pool_measure=chrf \
        --study DIR --page PAGE --out NEW_PAGE
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import optuna

from autoq import Recipe, quantize
from autoq.evaluate import prepare_task
from autoq.fidelity import Reference
from autoq.quant import stats as stats_io
from autoq.tasks import get_task
from autoq.tasks.registry import make_spec
from experiments.signal_summary import ROW
from experiments.tables import emit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True)
    p.add_argument("--task-arg", action="append", default=[], help="KEY=VALUE, as autoq takes it")
    p.add_argument("--study", required=True, help="the study folder the page was made from")
    p.add_argument("--page", required=True, help="a page fidelity_signal.py wrote")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    folder, text = Path(args.study), Path(args.page).read_text()
    db = f"sqlite:///{(folder / 'study.db').resolve()}"
    study = optuna.load_study(study_name=optuna.get_all_study_names(db)[0], storage=db)
    stats = stats_io.load(folder / "stats.yaml")
    task = get_task(make_spec(args.task, args.task_arg))
    model, reference = prepare_task(task), Reference(task)
    fp32 = re.search(r"FP32's search \w+: [-\d.]+ in the study", text).group(0)
    start, rows = time.perf_counter(), []
    for m in filter(None, map(ROW.match, text.splitlines())):
        n = int(m.group(1))
        q = quantize(model, Recipe.from_yaml(study.trials[n].user_attrs["recipe"]), stats)
        rows.append((n, m.group(2), m.group(3), reference.measure(q).value, m.group(5)))
        print(rows[-1], flush=True)
    name = task.metric_name
    lines = [f"# {task.name}: the trials of {args.page}, measured by `{task.distance_name}`", "",
             f"Made by `python -m experiments.remeasure_signal --task {args.task} "
             + "".join(f"--task-arg {a} " for a in args.task_arg)
             + f"--study {args.study} --page {args.page} --out {args.out}` "
             f"({time.perf_counter() - start:.0f} s on this 2-core CPU): each trial quantized with the "
             f"study's stats.yaml and measured on `{reference.key}`; its search and confirm "
             f"{name} are the page's. {fp32}.", "",
             f"| trial | size (x FP32) | search {name} | fidelity ({task.distance_name}) | confirm {name} |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {s} | {m} | {f:.5f} | {c} |" for n, s, m, f, c in sorted(rows, key=lambda r: r[3])]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
