"""autoq demo."""
from __future__ import annotations

from .args import DEVICE_HELP, device, positive_int, default_space


def run(args) -> None:
    """A short search on gnmt-multi30k, ending in the report."""
    from pathlib import Path
    from ..search.pick import format_front, load_front
    from ..search import SearchConfig, run_search
    cfg = SearchConfig(task="gnmt-multi30k", space=default_space("gnmt-multi30k"), study="demo",
                       results=Path(args.results), n_trials=args.n_trials, device=args.device,
                       fidelity=1.0, ladder=4, refine=0, front_size=4, max_drop=1.0,
                       sensitivity_fraction=0.125)  # the sweep's table on 128 sentences: a quick look
    print(f"autoq demo: {cfg.n_trials} trials on gnmt-multi30k, each scored by the chrF its "
          f"greedy translations of 1,024 training sentences lose against FP32's (FP32, int8, "
          f"Distiller's hand-tuned recipe and 4 budget-sweep recipes first); then BLEU on at most "
          f"{cfg.front_size} recipes of the front, within 1 BLEU of FP32. Results in {cfg.out}/")
    run_search(cfg)
    print(format_front(*load_front(cfg.out)))
    from ..report import write_report
    html, png = write_report(cfg.out)
    print(f"report: {html}\nfront:  {png}")


def add(sub) -> None:
    from ..search.config import SearchConfig as D  # the defaults
    sp = sub.add_parser("demo", help="a short search on gnmt-multi30k, ending in a report")
    sp.add_argument("--n-trials", type=positive_int, default=12,
                    help="trials, seeds included (default 12)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results})")
    sp.add_argument("--device", type=device, default=None, help=DEVICE_HELP)
    sp.set_defaults(func=run)
    sp.epilog = "example:\n  AUTOQ_DATA=../shared/data autoq demo"
