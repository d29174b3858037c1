"""autoq size."""
from __future__ import annotations

import json

from .args import load_stats, stats_arg, task_arg, task_spec


def run(args) -> None:
    from ..evaluate import prepare_task
    from ..quant import make_plan, size_report
    from ..quant.coverage import coverage
    from ..recipe import Recipe
    from ..tasks import get_task
    recipe = Recipe.load(args.recipe) if args.recipe else None
    model = prepare_task(get_task(task_spec(args)), recipe is not None and recipe.graph)
    report = size_report(make_plan(model, recipe), load_stats(args.stats))
    out = {"size_bytes": report.total_bytes, "fp32_size_bytes": report.fp32_bytes,
           "ratio": round(report.ratio, 4), "coverage": coverage(model).to_json()}
    if args.per_layer and recipe is None:  # the names a space's groups can match
        modules = dict(model.named_modules())
        floats = make_plan(model, Recipe.build({"bits_weights": None, "bits_activations": None}))
        out["layers"] = {n: {"kind": type(modules[n]).__name__,
                             "fp32_bytes": sum(p.numel() * 4 for p in modules[n].parameters())}
                         for n in floats.configs}
    elif args.per_layer:
        out["layers"] = {n: {"bits_weights": l.bits_weights, "bytes": l.bytes, "fp32_bytes": l.fp32_bytes}
                         for n, l in report.layers.items()}
    print(json.dumps(out, indent=2 if args.per_layer else None))


def add(sub) -> None:
    sp = sub.add_parser("size", help="exact size of the model under a recipe; with --per-layer "
                        "and no recipe, the model's quantizable modules")
    task_arg(sp)
    sp.add_argument("--recipe", help="recipe YAML (default: FP32)")
    stats_arg(sp)
    sp.add_argument("--per-layer", action="store_true",
                    help="each module's bytes; without --recipe, every quantizable module's name, "
                    "kind and FP32 bytes (the names a search space's groups match)")
    sp.set_defaults(func=run)
    sp.epilog = "example:\n  autoq size --task minilm-mrpc --per-layer   (the module names a space matches)"
