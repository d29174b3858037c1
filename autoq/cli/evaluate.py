"""autoq eval."""
from __future__ import annotations

import json

from .args import device, positive_fraction, load_stats, stats_arg, task_arg, task_spec


def run(args) -> None:
    from ..evaluate import evaluate
    from ..recipe import Recipe
    from ..tasks import get_task
    task = get_task(task_spec(args))
    recipe = Recipe.load(args.recipe) if args.recipe else None
    stats = load_stats(args.stats)
    print(json.dumps(evaluate(task, recipe, args.split, args.fraction, args.device, stats)))


def add(sub) -> None:
    sp = sub.add_parser("eval", help="evaluate the float model or a recipe; prints one JSON line")
    task_arg(sp)
    sp.add_argument("--recipe", help="recipe YAML (Distiller format); default: the float model")
    sp.add_argument("--split", choices=["search", "confirm"], default="confirm",
                    help="the labelled split scored (default confirm)")
    sp.add_argument("--fraction", type=positive_fraction, default=1.0,
                    help="share of the split scored, a spread part of its batches (default 1: all)")
    sp.add_argument("--device", type=device, default=None, help="cpu or cuda (default: cuda if present)")
    stats_arg(sp)
    sp.set_defaults(func=run)
    sp.epilog = "example:\n  autoq eval --task gnmt-multi30k --recipe autoq-results/demo/picked.yaml"
