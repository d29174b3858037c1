"""autoq report."""
from __future__ import annotations

from .args import study_name



def run(args) -> None:
    from pathlib import Path
    from ..report import write_report
    for path in write_report(Path(args.results) / args.study, args.storage):
        print(path)


def add(sub) -> None:
    from ..search.config import SearchConfig as D  # the defaults
    sp = sub.add_parser("report", help="write a study's report.html (interactive) and pareto.png")
    sp.add_argument("--study", type=study_name, required=True, help="the study's name (its folder in --results)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results})")
    sp.add_argument("--storage", help="the search's Optuna RDB URL, if it used one")
    sp.set_defaults(func=run)
    sp.epilog = "example:\n  autoq report --study minilm-mrpc"
