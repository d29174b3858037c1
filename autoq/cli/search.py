"""autoq search."""
from __future__ import annotations

from ..errors import AutoqError
from .args import (count, default_space, device, fraction, nonneg, positive_fraction, positive_int,
                   study_default, study_name, task_arg, task_spec)


def run(args) -> None:
    from pathlib import Path
    from ..search import SearchConfig, parse_duration, run_search
    from ..search.pick import format_front, load_front
    cfg = SearchConfig(
        task=task_spec(args), space=args.space or default_space(task_spec(args)),
        study=study_default(args) if args.study is None else args.study, results=Path(args.results),
        storage=args.storage, n_trials=args.n_trials,
        timeout_s=parse_duration(args.timeout) if args.timeout else None,
        trial_timeout_s=parse_duration(args.trial_timeout) if args.trial_timeout else None,
        sampler=args.sampler,
        seed=args.seed, max_drop=args.max_drop, min_agreement=args.min_agreement,
        front_margin=args.front_margin, fidelity=_fraction_for(args), device=args.device,
        workers=args.workers, heartbeat_s=args.heartbeat, ladder=_ladder_for(args), refine=args.refine,
        local=args.local, objective=args.objective, pool=Path(args.pool) if args.pool else None,
        front_size=args.front_size,
        sensitivity=Path(args.sensitivity) if args.sensitivity else None, latency=args.latency)
    run_search(cfg)
    print(format_front(*load_front(cfg.out)))
    print(f"results: {cfg.out}/pareto.csv, pareto.json, recipes/")


def _fraction_for(args) -> float:
    """--fidelity: the share of the search split a metric study scores first."""
    from ..search.config import SearchConfig
    if args.fidelity is None:
        return SearchConfig.fidelity if args.objective == "metric" else 1.0
    if args.objective == "fidelity" and args.fidelity < 1:
        raise AutoqError("--fidelity (the share of the search split scored first) applies to "
                         "--objective metric; a fidelity study scores its whole pool each trial")
    return args.fidelity


def _ladder_for(args) -> int:
    """--ladder: seeds from the sensitivity table (default 5; a fidelity study's sweep 8)."""
    return args.ladder if args.ladder is not None else (8 if args.objective == "fidelity" else 5)


def add(sub) -> None:
    from ..search.config import OBJECTIVES, SAMPLERS, SearchConfig as D  # the defaults
    sp = sub.add_parser("search", help="run (or resume) a search; ends in a Pareto front of recipes")
    task_arg(sp)
    sp.add_argument("--space", help="search space YAML (default: search_spaces/<task>.yaml)")
    sp.add_argument("--study", type=study_name, help="study name (default: the task's)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results}; the study's is <results>/<study>)")
    sp.add_argument("--storage", help="Optuna RDB URL, e.g. postgresql://user@host/db "
                    "(default: sqlite file in the study folder)")
    sp.add_argument("--n-trials", type=positive_int, default=D.n_trials,
                    help=f"total finished trials, seeds included (default {D.n_trials})")
    sp.add_argument("--timeout", help="stop after this long, e.g. 8h, 30m (a trial running then "
                    "is stopped, and run again on resume)")
    sp.add_argument("--trial-timeout", help="one trial's limit, e.g. 10m; a trial past it fails "
                    "with that reason (default: 20 times FP32's evaluation of the search split, "
                    "plus a minute)")
    sp.add_argument("--sampler", choices=SAMPLERS, default=D.sampler,
                    help=f"Optuna sampler (default {D.sampler}: multi-objective TPE)")
    sp.add_argument("--seed", type=int, default=D.seed, help="the sampler's and local search's seed")
    sp.add_argument("--max-drop", type=nonneg, help="largest allowed metric drop from FP32")
    sp.add_argument("--min-agreement", type=fraction,
                    help="least share of the search split a recipe must score exactly as FP32 "
                    "does (a classifier: the same answer), e.g. 0.9; default: the space's "
                    "min_agreement, if it sets one; 0: none")
    sp.add_argument("--front-margin", type=nonneg,
                    help="keep on the front, and score on the confirm split, the points within "
                    "this much metric of it (the search split's luck); default: the space's "
                    "front_margin, else 0")
    _scoring_args(sp, D, OBJECTIVES)
    sp.set_defaults(func=run)
    sp.epilog = ("example:\n  autoq search --task minilm-mrpc --n-trials 100 --max-drop 0.01\n"
                 "  autoq search --task gnmt-multi30k --pool my_sentences.txt --timeout 8h")


def _scoring_args(sp, D, OBJECTIVES) -> None:
    """How trials are scored and proposed, by whom, and the study's processes."""
    sp.add_argument("--objective", choices=OBJECTIVES, default=D.objective,
                    help="what each trial is scored by: fidelity (default; distance of the outputs "
                    "from FP32's on an unlabelled pool, the metric scored on the front only) or "
                    "metric (the task's metric on the search split)")
    sp.add_argument("--pool", help="with --objective fidelity: a file of unlabelled inputs (one "
                    "a line; gnmt-multi30k: English, optionally TAB German; minilm-mrpc: two "
                    "sentences, TAB-separated; hf-text-classification: a CSV or TSV with the text "
                    "column(s)). Default: the task's own pool")
    sp.add_argument("--front-size", type=positive_int, default=D.front_size,
                    help=f"a fidelity study's front: the most recipes scored by the metric "
                    f"(default {D.front_size})")
    sp.add_argument("--fidelity", type=positive_fraction, default=None,
                    help=f"with --objective metric: fraction of the search split scored first "
                    f"(1 = off; default {D.fidelity})")
    sp.add_argument("--workers", type=positive_int, default=D.workers,
                    help="worker processes on this machine, on one study (one GPU each when "
                    "several are visible)")
    sp.add_argument("--device", type=device, default=None, help="cpu or cuda (default: cuda if present)")
    sp.add_argument("--ladder", type=count, default=None,
                    help="seed recipes from sensitivity analysis: a fidelity study's budget sweep "
                    "across all sizes (default 8), a metric study's ladder (default 5); 0: none")
    sp.add_argument("--refine", type=count,
                    help="trials spent first on the space's seed recipes changed by one knob, "
                    "no larger than they are; default: the space's refine, else 0")
    sp.add_argument("--local", type=fraction, default=D.local,
                    help="share of trials that score a neighbour of a front point (Pareto local "
                    f"search; 0: every trial from the sampler; default {D.local})")
    sp.add_argument("--sensitivity", help="a sensitivity.json (autoq sensitivity) to seed them from "
                    "(default: measured once into the study folder)")
    sp.add_argument("--heartbeat", type=nonneg, default=D.heartbeat_s,
                    help="seconds between a running trial's heartbeats; a trial silent for three "
                    "is re-run")
    sp.add_argument("--latency", action="store_true",
                    help="a third objective: each recipe is deployed (autoq deploy's kernels) and "
                    "its time on a calibration batch measured against FP32's")
