"""autoq sensitivity."""
from __future__ import annotations

from .args import (DEVICE_HELP, default_space, device, positive_fraction, study_default, study_name,
                   task_arg, task_spec)


def run(args) -> None:
    from pathlib import Path
    from tqdm import tqdm
    from ..search import fidelity_table, sensitivity
    from ..search import SearchConfig, Searcher
    cfg = SearchConfig(task=task_spec(args), space=args.space or default_space(task_spec(args)),
                       study=study_default(args) if args.study is None else args.study,
                       results=Path(args.results),
                       device=args.device, objective=args.objective)
    searcher = Searcher(cfg)
    fidelity = cfg.objective == "fidelity"
    kind = fidelity_table if fidelity else sensitivity
    with tqdm(total=len(kind.jobs(searcher.space)), unit="eval") as bar:
        result = kind.measure(searcher, args.fraction, bar.update)
    out = cfg.out / ("sensitivity-fidelity.json" if fidelity else "sensitivity.json")
    sensitivity.save(result, out)
    print(result.format())
    if not fidelity and result.disagree is not None:  # what --min-agreement walks its ladder by
        print("\n" + result.format("disagree"))
    print(f"saved: {out} (seed a search from it with --sensitivity {out})")


def add(sub) -> None:
    from ..search.config import OBJECTIVES, SearchConfig as D  # the defaults
    sp = sub.add_parser("sensitivity", help="metric drop (and disagreement with FP32) of each "
                                            "module alone at low bit widths")
    task_arg(sp)
    sp.add_argument("--space", help="search space YAML (default: search_spaces/<task>.yaml)")
    sp.add_argument("--study", type=study_name, help="study folder to save it in (default: the task's)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results})")
    sp.add_argument("--objective", choices=OBJECTIVES, default=D.objective,
                    help="fidelity (default: each unit's fidelity on the pool at each width, by the "
                    "task's distance, KL unless it gives another) "
                    "or metric (its metric drop on the search split)")
    sp.add_argument("--fraction", type=positive_fraction, default=D.sensitivity_fraction,
                    help=f"of the pool, or of the search split (default {D.sensitivity_fraction}, "
                    f"as a search measures it)")
    sp.add_argument("--device", type=device, default=None, help=DEVICE_HELP)
    sp.set_defaults(func=run)
    sp.epilog = "example:\n  autoq sensitivity --task gnmt-multi30k"
