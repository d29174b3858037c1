"""autoq pareto."""
from __future__ import annotations

from .args import nonneg, study_name


def run(args) -> None:
    import sys
    from pathlib import Path
    from ..io import write_atomic
    from ..search.pick import format_front, load_front, pick
    if args.confident and args.max_drop is None:
        from ..errors import AutoqError
        raise AutoqError("--confident is a rule for picking: give --max-drop with it")
    study_dir = Path(args.results) / args.study
    meta, rows = load_front(study_dir)
    print(format_front(meta, rows))
    if args.max_drop is not None:
        chosen = pick(meta, rows, args.max_drop, args.by, args.confident)
        out = Path(args.out or study_dir / "picked.yaml")
        write_atomic(out, (study_dir / chosen.recipe).read_text())
        speed = "" if chosen.latency_ratio is None else f", {chosen.latency_ratio:.3f} x FP32's time"
        name = meta.metric_name
        scores = f"{name} {chosen.metric:.4g} on search (FP32 {meta.fp32_metric:.4g})"
        if chosen.confirm_metric is not None:
            scores += f", {chosen.confirm_metric:.4g} on confirm (FP32 {meta.fp32_confirm_metric:.4g}"
            scores += f"; difference {chosen.delta_text()}, 95%)" if chosen.delta else ")"
        if chosen.seed == "fp32":
            rule = " at the far end of its confirm interval" if args.confident else ""
            print(f"autoq: no quantized recipe on the front is within {args.max_drop:g} of FP32{rule}: "
                  f"the pick is FP32 itself (try a larger --max-drop"
                  + (", or a larger confirm split" if args.confident else "") + ")", file=sys.stderr)
        print(f"picked trial {chosen.trial} ({chosen.size_bytes / 1e6:.3f} MB, "
              f"{chosen.size_ratio or 0:.3f} of FP32's size{speed}): {scores}; written to {out}")


def add(sub) -> None:
    from ..search.config import SearchConfig as D  # the defaults
    sp = sub.add_parser("pareto", help="print a study's front; --max-drop picks a recipe")
    sp.add_argument("--study", type=study_name, required=True, help="the study's name (its folder in --results)")
    sp.add_argument("--results", default=str(D.results),
                    help=f"folder of study folders (default: {D.results})")
    sp.add_argument("--max-drop", type=nonneg,
                    help="pick the smallest recipe within this drop from FP32 on both splits, in "
                    "the metric's units (F1: 0.01 is one point; BLEU: 1.0 is one point); writes it "
                    "to --out")
    sp.add_argument("--by", choices=["size", "latency"], default="size",
                    help="with --max-drop: the smallest recipe (default) or the fastest")
    sp.add_argument("--confident", action="store_true",
                    help="with --max-drop: on the confirm split, the far end of the 95%% interval of "
                    "the difference from FP32 must be within the drop too, not only its estimate")
    sp.add_argument("--out", help="where to write the picked recipe (default: <study>/picked.yaml)")
    sp.set_defaults(func=run)
    sp.epilog = ("example:\n  autoq pareto --study minilm-mrpc --max-drop 0.01   (F1: one point)\n"
                 "  autoq pareto --study gnmt-multi30k --max-drop 1.0   (BLEU: one point)\n"
                 "  autoq pareto --study gnmt-multi30k --max-drop 1.0 --confident")
