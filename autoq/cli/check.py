"""autoq check."""
from __future__ import annotations

from .args import load_stats, stats_arg, task_arg, task_spec


def run(args) -> None:
    from ..evaluate import prepare_task
    from ..quant import make_plan
    from ..quant.coverage import coverage
    from ..recipe import Recipe
    from ..tasks import get_task
    recipe = Recipe.load(args.recipe)
    plan = make_plan(prepare_task(get_task(task_spec(args)), recipe.graph), recipe)
    stats = load_stats(args.stats)
    if stats is not None:
        plan.check_stats(stats)
    quantized = sum(not c.is_float for c in plan.configs.values())
    print(f"ok: {args.recipe} quantizes {quantized} of {len(plan.configs)} quantizable modules")
    print(coverage(plan.model).summary())


def add(sub) -> None:
    sp = sub.add_parser("check", help="validate a recipe (and statistics) against a task's model")
    task_arg(sp)
    sp.add_argument("--recipe", required=True, help="recipe YAML (Distiller format)")
    stats_arg(sp)
    sp.set_defaults(func=run)
    sp.epilog = "example:\n  autoq check --task gnmt-multi30k --recipe search_spaces/gnmt_distiller_seed.yaml"
