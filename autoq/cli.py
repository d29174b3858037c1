"""autoq's command line: a thin layer over the Python API.

Bad input prints one message (``autoq: error: ...``) and exits 2, with no traceback.
"""
from __future__ import annotations

import argparse
import json
import sys

from .errors import AutoqError


def _number(cast: type, ok, allowed: str):
    """An argparse type: ``cast`` the text, then check it with ``ok``."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number (allowed: {allowed})") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed: {allowed})")
        return value
    return parse


_positive_fraction = _number(float, lambda v: 0 < v <= 1, "0 < F <= 1")
_fraction = _number(float, lambda v: 0 <= v <= 1, "0 <= F <= 1")
_nonneg = _number(float, lambda v: v >= 0, "0 or more")
_positive_int = _number(int, lambda v: v >= 1, "a whole number, 1 or more")
_count = _number(int, lambda v: v >= 0, "a whole number, 0 or more")


def _device(text: str) -> str:
    if text != "cpu" and not text.startswith("cuda"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device (allowed: cpu, cuda, cuda:N)")
    return text


def cmd_eval(args) -> None:
    from .evaluate import evaluate
    from .recipe import Recipe
    from .tasks import get_task
    task = get_task(args.task)
    recipe = Recipe.load(args.recipe) if args.recipe else None
    stats = _load_stats(args.stats)
    print(json.dumps(evaluate(task, recipe, args.split, args.fraction, args.device, stats)))


def _load_stats(path):
    if path is None:
        return None
    from .quant import stats as stats_io
    return stats_io.load(path)


def cmd_stats(args) -> None:
    from .evaluate import task_stats
    from .quant import stats as stats_io
    from .tasks import get_task
    stats = task_stats(get_task(args.task))
    stats_io.save(stats, args.out)
    print(f"statistics of {len(stats)} modules written to {args.out}")


def cmd_size(args) -> None:
    from .evaluate import prepare_task
    from .quant import size_report
    from .recipe import Recipe
    from .tasks import get_task
    recipe = Recipe.load(args.recipe) if args.recipe else None
    model = prepare_task(get_task(args.task), recipe is not None and recipe.graph)
    report = size_report(model, recipe, _load_stats(args.stats))
    out = {"size_bytes": report.total_bytes, "fp32_size_bytes": report.fp32_bytes,
           "ratio": round(report.ratio, 4)}
    if args.per_layer and recipe is None:  # the names a space's groups can match
        from .quant.plan import make_plan
        modules = dict(model.named_modules())
        plan = make_plan(model, Recipe.build({"bits_weights": None, "bits_activations": None}))
        out["layers"] = {n: {"kind": type(modules[n]).__name__,
                             "fp32_bytes": sum(p.numel() * 4 for p in modules[n].parameters())}
                         for n in plan.configs}
    elif args.per_layer:
        out["layers"] = {n: {"bits_weights": l.bits_weights, "bytes": l.bytes, "fp32_bytes": l.fp32_bytes}
                         for n, l in report.layers.items()}
    print(json.dumps(out, indent=2 if args.per_layer else None))


def cmd_check(args) -> None:
    from .evaluate import prepare_task
    from .quant.plan import check_stats, make_plan
    from .recipe import Recipe
    from .tasks import get_task
    recipe = Recipe.load(args.recipe)
    model = prepare_task(get_task(args.task), recipe.graph)
    plan = make_plan(model, recipe)
    stats = _load_stats(args.stats)
    if stats is not None:
        check_stats(plan, model, stats)
    quantized = sum(not c.is_float for c in plan.configs.values())
    print(f"ok: {args.recipe} quantizes {quantized} of {len(plan.configs)} quantizable modules")


def cmd_prepare(args) -> None:
    from .tasks import get_task
    args.task = args.task or args.task_name
    if not args.task:
        raise AutoqError("prepare needs a task: autoq prepare --task minilm-mrpc")
    task = get_task(args.task)
    prepare_fn = getattr(task, "prepare", None)
    if prepare_fn is None:
        print(f"{args.task}: nothing to prepare")
        return
    print(f"{args.task}: ready at {prepare_fn(force=args.force)}")


def default_space(task: str) -> str:
    """The built-in space of a task, shipped inside the package (autoq/search_spaces/)."""
    from pathlib import Path
    from .tasks.registry import check_task
    check_task(task)  # a misspelt task is named as such, not as a missing space
    root = Path(__file__).resolve().parent / "search_spaces"
    if not (root / f"{task}.yaml").is_file():
        known = ", ".join(sorted(p.stem for p in root.glob("*.yaml")))
        raise AutoqError(f"no search space given and none built in for task {task!r} (built in: "
                         f"{known}): pass --space FILE")
    return str(root / f"{task}.yaml")


def cmd_search(args) -> None:
    from pathlib import Path
    from .search import SearchConfig, parse_duration, run_search
    from .search.pick import format_front, load_front
    cfg = SearchConfig(
        task=args.task, space=args.space or default_space(args.task),
        study=args.study or args.task.replace(":", "-"), results=Path(args.results),
        storage=args.storage, n_trials=args.n_trials,
        timeout_s=parse_duration(args.timeout) if args.timeout else None, sampler=args.sampler,
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
    from .search.config import SearchConfig
    if args.fidelity is None:
        return SearchConfig.fidelity if args.objective == "metric" else 1.0
    if args.objective == "fidelity" and args.fidelity < 1:
        raise AutoqError("--fidelity (the share of the search split scored first) applies to "
                         "--objective metric; a fidelity study scores its whole pool each trial")
    return args.fidelity


def _ladder_for(args) -> int:
    """--ladder: seeds from the sensitivity table (default 5; a fidelity study's sweep 8)."""
    return args.ladder if args.ladder is not None else (8 if args.objective == "fidelity" else 5)


def cmd_demo(args) -> None:
    """A short search on gnmt-multi30k, ending in the report."""
    from pathlib import Path
    from .search.pick import format_front, load_front
    from .search import SearchConfig, run_search
    cfg = SearchConfig(task="gnmt-multi30k", space=default_space("gnmt-multi30k"), study="demo",
                       results=Path(args.results), n_trials=args.n_trials, device=args.device,
                       fidelity=1.0, ladder=4, refine=0, front_size=4, max_drop=1.0)
    print(f"autoq demo: {cfg.n_trials} trials on gnmt-multi30k, each scored by its fidelity to "
          f"FP32 on 1,024 unlabelled sentences (FP32, int8, Distiller's hand-tuned recipe and 4 "
          f"budget-sweep recipes first); then BLEU on at most {cfg.front_size} recipes of the "
          f"front, within 1 BLEU of FP32. Results in {cfg.out}/")
    run_search(cfg)
    print(format_front(*load_front(cfg.out)))
    from .report import write_report
    html, png = write_report(cfg.out)
    print(f"report: {html}\nfront:  {png}")


def cmd_sensitivity(args) -> None:
    from pathlib import Path
    from tqdm import tqdm
    from .search import sensitivity
    from .search import SearchConfig, Searcher
    cfg = SearchConfig(task=args.task, space=args.space or default_space(args.task),
                       study=args.study or args.task.replace(":", "-"), results=Path(args.results),
                       device=args.device, objective=args.objective)
    searcher = Searcher(cfg)
    fidelity = cfg.objective == "fidelity"
    measure, jobs = ((sensitivity.measure_fidelity, sensitivity.fidelity_jobs) if fidelity
                     else (sensitivity.measure, sensitivity.jobs))
    with tqdm(total=len(jobs(searcher.space)), unit="eval") as bar:
        result = measure(searcher, args.fraction, bar.update)
    out = cfg.out / ("sensitivity-fidelity.json" if fidelity else "sensitivity.json")
    sensitivity.save(result, out)
    print(sensitivity.format_table(result, "costs" if fidelity else "drops"))
    if "disagree" in result:  # what a search with --min-agreement walks its ladder by
        print("\n" + sensitivity.format_table(result, "disagree"))
    print(f"saved: {out} (seed a search from it with --sensitivity {out})")


def cmd_pareto(args) -> None:
    import shutil
    from pathlib import Path
    from .search.config import LATENCY
    from .search.outputs import delta_text
    from .search.pick import format_front, load_front, pick
    study_dir = Path(args.results) / args.study
    meta, rows = load_front(study_dir)
    print(format_front(meta, rows))
    if args.max_drop is not None:
        chosen = pick(meta, rows, args.max_drop, args.by)
        out = Path(args.out or study_dir / "picked.yaml")
        shutil.copyfile(study_dir / chosen["recipe"], out)
        speed = f", {chosen[LATENCY]:.3f} x FP32's time" if LATENCY in chosen else ""
        name = meta.get("metric_name", "metric")
        scores = f"{name} {chosen['metric']:.4g} on search (FP32 {meta['fp32_metric']:.4g})"
        if chosen.get("confirm_metric") is not None:
            scores += f", {chosen['confirm_metric']:.4g} on confirm (FP32 {meta['fp32_confirm_metric']:.4g}"
            scores += f"; difference {delta_text(chosen)}, 95%)" if delta_text(chosen) else ")"
        print(f"picked trial {chosen['trial']} ({chosen['size_bytes'] / 1e6:.3f} MB, "
              f"{chosen['size_ratio']:.3f} of FP32's size{speed}): {scores}; written to {out}")


def cmd_report(args) -> None:
    from pathlib import Path
    from .report import write_report
    for path in write_report(Path(args.results) / args.study, args.storage):
        print(path)


def cmd_deploy(args) -> None:
    from .deploy import deploy
    from .recipe import Recipe
    from .tasks import get_task
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        threads = []
    if not threads or min(threads) < 1:
        raise AutoqError(f"--threads {args.threads!r}: expected whole numbers >= 1, e.g. 1,2")
    backends = args.backends.split(",") if args.backends else None
    if backends:
        from .deploy import backend_names
        unknown = sorted(set(backends) - set(backend_names()))
        if unknown:
            raise AutoqError(f"--backends: unknown {unknown} (allowed: {', '.join(backend_names())})")
    r = deploy(get_task(args.task), Recipe.load(args.recipe), args.out, threads, args.repeats,
               args.fraction, args.device or "cpu", backends, _load_stats(args.stats),
               log=lambda m: print(f"deploy: {m}", file=sys.stderr))
    has_peer = r["peer_bytes"] is not None
    for t in map(str, r["threads"]):
        peer = (f", peer {r['peer_latency_s'][t] * 1e3:.1f} ms ({r['peer_speedup'][t]:.2f}x)"
                if has_peer else "")
        print(f"{t} thread(s): fp32 {r['fp32_latency_s'][t] * 1e3:.1f} ms, deployed "
              f"{r['latency_s'][t] * 1e3:.1f} ms ({r['speedup'][t]:.2f}x){peer}")
    print(f"size: {r['bytes'] / 1e6:.2f} MB = {r['ratio']:.3f} of fp32 {r['fp32_bytes'] / 1e6:.2f} MB"
          + (f" (peer {r['peer_ratio']:.3f})" if has_peer else ""))
    print(f"{r['metric_name']}: fp32 {r['fp32_metric']:.4f}, deployed {r['metric']:.4f}, "
          f"fake-quant {r['predicted_metric']:.4f}"
          + (f", peer {r['peer_metric']:.4f}" if has_peer else ""))
    print(f"fallbacks: {len(r['fallbacks'])}; written: {args.out}/deploy.json, model.safetensors, "
          f"manifest.json, recipe.yaml, torchao_config.json, layers.json")


ENVIRONMENT = """environment:
  AUTOQ_DATA   folder holding the data sets (multi30k/, mrpc/); unset: downloaded into AUTOQ_CACHE
  AUTOQ_CACHE  fine-tuned models, statistics and downloads (default ~/.cache/autoq)

Start with `autoq demo`, then `autoq search --help`."""
DEVICE_HELP = "cpu, cuda or cuda:N (default: cuda if present)"
EXAMPLES = {
    "search": "example:\n  autoq search --task minilm-mrpc --n-trials 100 --max-drop 0.01\n"
              "  autoq search --task gnmt-multi30k --pool my_sentences.txt --timeout 8h",
    "demo": "example:\n  AUTOQ_DATA=../shared/data autoq demo",
    "sensitivity": "example:\n  autoq sensitivity --task gnmt-multi30k",
    "pareto": "example:\n  autoq pareto --study minilm-mrpc --max-drop 0.01   (F1: one point)\n"
              "  autoq pareto --study gnmt-multi30k --max-drop 1.0   (BLEU: one point)",
    "report": "example:\n  autoq report --study minilm-mrpc",
    "deploy": "example:\n  autoq deploy --task minilm-mrpc --recipe autoq-results/minilm-mrpc/picked.yaml "
              "--out deployed/ --threads 1,2",
    "eval": "example:\n  autoq eval --task gnmt-multi30k --recipe autoq-results/demo/picked.yaml",
    "stats": "example:\n  autoq stats --task minilm-mrpc --out stats.yaml",
    "size": "example:\n  autoq size --task minilm-mrpc --per-layer   (the module names a space matches)",
    "check": "example:\n  autoq check --task gnmt-multi30k --recipe search_spaces/gnmt_distiller_seed.yaml",
    "prepare": "example:\n  autoq prepare --task minilm-mrpc",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autoq", description="Automated mixed-precision "
                                "quantization search for PyTorch models.", epilog=ENVIRONMENT,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def task_arg(sp):
        sp.add_argument("--task", required=True,
                        help="gnmt-multi30k, minilm-mrpc, or package.module:factory")

    def stats_arg(sp):
        sp.add_argument("--stats", help="statistics YAML, such as a study's results/<study>/stats.yaml "
                        "(default: collected once and cached)")

    from .search.config import OBJECTIVES, SAMPLERS, SearchConfig as D  # the defaults live there
    sp = sub.add_parser("search", help="run (or resume) a search; ends in a Pareto front of recipes")
    task_arg(sp)
    sp.add_argument("--space", help="search space YAML (default: search_spaces/<task>.yaml)")
    sp.add_argument("--study", help="study name (default: the task's)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results}; the study's is <results>/<study>)")
    sp.add_argument("--storage", help="Optuna RDB URL, e.g. postgresql://user@host/db "
                    "(default: sqlite file in the study folder)")
    sp.add_argument("--n-trials", type=_positive_int, default=D.n_trials,
                    help=f"total finished trials, seeds included (default {D.n_trials})")
    sp.add_argument("--timeout", help="stop after this long, e.g. 8h, 30m")
    sp.add_argument("--sampler", choices=SAMPLERS, default=D.sampler,
                    help=f"Optuna sampler (default {D.sampler}: multi-objective TPE)")
    sp.add_argument("--seed", type=int, default=D.seed, help="the sampler's and local search's seed")
    sp.add_argument("--max-drop", type=_nonneg, help="largest allowed metric drop from FP32")
    sp.add_argument("--min-agreement", type=_fraction,
                    help="least share of the search split a recipe must score exactly as FP32 "
                    "does (a classifier: the same answer), e.g. 0.9; default: the space's "
                    "min_agreement, if it sets one; 0: none")
    sp.add_argument("--front-margin", type=_nonneg,
                    help="keep on the front, and score on the confirm split, the points within "
                    "this much metric of it (the search split's luck); default: the space's "
                    "front_margin, else 0")
    sp.add_argument("--objective", choices=OBJECTIVES, default=D.objective,
                    help="what each trial is scored by: fidelity (default; distance of the outputs "
                    "from FP32's on an unlabelled pool, the metric scored on the front only) or "
                    "metric (the task's metric on the search split)")
    sp.add_argument("--pool", help="with --objective fidelity: a file of unlabelled inputs (one "
                    "a line; gnmt-multi30k: English, optionally TAB German; minilm-mrpc: two "
                    "sentences, TAB-separated). Default: the task's own pool")
    sp.add_argument("--front-size", type=_positive_int, default=D.front_size,
                    help=f"a fidelity study's front: the most recipes scored by the metric "
                    f"(default {D.front_size})")
    sp.add_argument("--fidelity", type=_positive_fraction, default=None,
                    help=f"with --objective metric: fraction of the search split scored first "
                    f"(1 = off; default {D.fidelity})")
    sp.add_argument("--workers", type=_positive_int, default=D.workers,
                    help="worker processes on this machine, on one study (one GPU each when "
                    "several are visible)")
    sp.add_argument("--device", type=_device, default=None, help="cpu or cuda (default: cuda if present)")
    sp.add_argument("--ladder", type=_count, default=None,
                    help="seed recipes from sensitivity analysis: a fidelity study's budget sweep "
                    "across all sizes (default 8), a metric study's ladder (default 5); 0: none")
    sp.add_argument("--refine", type=_count,
                    help="trials spent first on the space's seed recipes changed by one knob, "
                    "no larger than they are; default: the space's refine, else 0")
    sp.add_argument("--local", type=_fraction, default=D.local,
                    help="share of trials that score a neighbour of a front point (Pareto local "
                    f"search; 0: every trial from the sampler; default {D.local})")
    sp.add_argument("--sensitivity", help="a sensitivity.json (autoq sensitivity) to seed them from "
                    "(default: measured once into the study folder)")
    sp.add_argument("--heartbeat", type=_nonneg, default=D.heartbeat_s,
                    help="seconds between a running trial's heartbeats; a trial silent for three "
                    "is re-run")
    sp.add_argument("--latency", action="store_true",
                    help="a third objective: each recipe is deployed (autoq deploy's kernels) and "
                    "its time on a calibration batch measured against FP32's")
    sp.set_defaults(func=cmd_search)

    sp = sub.add_parser("demo", help="a short search on gnmt-multi30k, ending in a report")
    sp.add_argument("--n-trials", type=_positive_int, default=12,
                    help="trials, seeds included (default 12)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results})")
    sp.add_argument("--device", type=_device, default=None, help=DEVICE_HELP)
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("sensitivity", help="metric drop (and disagreement with FP32) of each "
                                            "module alone at low bit widths")
    task_arg(sp)
    sp.add_argument("--space", help="search space YAML (default: search_spaces/<task>.yaml)")
    sp.add_argument("--study", help="study folder to save it in (default: the task's)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results})")
    sp.add_argument("--objective", choices=OBJECTIVES, default=D.objective,
                    help="fidelity (default: each unit's KL from FP32 on the pool, at each width) "
                    "or metric (its metric drop on the search split)")
    sp.add_argument("--fraction", type=_positive_fraction, default=D.sensitivity_fraction,
                    help=f"of the pool, or of the search split (default {D.sensitivity_fraction}, "
                    f"as a search measures it)")
    sp.add_argument("--device", type=_device, default=None, help=DEVICE_HELP)
    sp.set_defaults(func=cmd_sensitivity)

    sp = sub.add_parser("pareto", help="print a study's front; --max-drop picks a recipe")
    sp.add_argument("--study", required=True, help="the study's name (its folder in --results)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results})")
    sp.add_argument("--max-drop", type=_nonneg,
                    help="pick the smallest recipe within this drop from FP32 on both splits, in "
                    "the metric's units (F1: 0.01 is one point; BLEU: 1.0 is one point); writes it "
                    "to --out")
    sp.add_argument("--by", choices=["size", "latency"], default="size",
                    help="with --max-drop: the smallest recipe (default) or the fastest")
    sp.add_argument("--out", help="where to write the picked recipe (default: <study>/picked.yaml)")
    sp.set_defaults(func=cmd_pareto)

    sp = sub.add_parser("report", help="write a study's report.html (interactive) and pareto.png")
    sp.add_argument("--study", required=True, help="the study's name (its folder in --results)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results})")
    sp.add_argument("--storage", help="the search's Optuna RDB URL, if it used one")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("deploy", help="build a recipe on real low-precision kernels, save it, "
                        "measure it against fp32")
    task_arg(sp)
    sp.add_argument("--recipe", required=True, help="recipe YAML (Distiller format)")
    sp.add_argument("--out", required=True, help="folder for the deployed model and deploy.json")
    sp.add_argument("--threads", default="1", help="thread counts to measure, e.g. 1,2")
    sp.add_argument("--repeats", type=_positive_int, default=20, help="latency rounds per model")
    sp.add_argument("--fraction", type=_positive_fraction, default=1.0,
                    help="fraction of the confirm split scored")
    sp.add_argument("--backends", help="allowed backends, comma-separated (default: all)")
    sp.add_argument("--device", type=_device, default=None, help="cpu (default) or cuda")
    stats_arg(sp)
    sp.set_defaults(func=cmd_deploy)

    sp = sub.add_parser("eval", help="evaluate the float model or a recipe; prints one JSON line")
    task_arg(sp)
    sp.add_argument("--recipe", help="recipe YAML (Distiller format); default: the float model")
    sp.add_argument("--split", choices=["search", "confirm"], default="confirm",
                    help="the labelled split scored (default confirm)")
    sp.add_argument("--fraction", type=_positive_fraction, default=1.0,
                    help="share of the split scored, a spread part of its batches (default 1: all)")
    sp.add_argument("--device", type=_device, default=None, help="cpu or cuda (default: cuda if present)")
    stats_arg(sp)
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("stats", help="collect calibration statistics (Distiller's YAML)")
    task_arg(sp)
    sp.add_argument("--out", default="acts_quantization_stats.yaml",
                    help="YAML file to write (default acts_quantization_stats.yaml)")
    sp.set_defaults(func=cmd_stats)

    sp = sub.add_parser("size", help="exact size of the model under a recipe; with --per-layer "
                        "and no recipe, the model's quantizable modules")
    task_arg(sp)
    sp.add_argument("--recipe", help="recipe YAML (default: FP32)")
    stats_arg(sp)
    sp.add_argument("--per-layer", action="store_true",
                    help="each module's bytes; without --recipe, every quantizable module's name, "
                    "kind and FP32 bytes (the names a search space's groups match)")
    sp.set_defaults(func=cmd_size)

    sp = sub.add_parser("check", help="validate a recipe (and statistics) against a task's model")
    task_arg(sp)
    sp.add_argument("--recipe", required=True, help="recipe YAML (Distiller format)")
    stats_arg(sp)
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("prepare", help="build a task's model once (e.g. fine-tune minilm-mrpc)")
    sp.add_argument("--task", help="gnmt-multi30k, minilm-mrpc, or package.module:factory")
    sp.add_argument("task_name", nargs="?", metavar="TASK", help="the task, as the older form "
                    "`autoq prepare TASK` gives it")
    sp.add_argument("--force", action="store_true", help="build it again even if cached")
    sp.set_defaults(func=cmd_prepare)
    for name, sp in sub.choices.items():
        sp.epilog, sp.formatter_class = EXAMPLES[name], argparse.RawDescriptionHelpFormatter
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except AutoqError as e:
        print(f"autoq: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autoq: interrupted", file=sys.stderr)
        return 130
    return 0
