"""autoq stats."""
from __future__ import annotations

from .args import task_arg, task_spec


def run(args) -> None:
    from ..evaluate import task_stats
    from ..quant import stats as stats_io
    from ..tasks import get_task
    stats = task_stats(get_task(task_spec(args)))
    stats_io.save(stats, args.out)
    print(f"statistics of {len(stats)} modules written to {args.out}")


def add(sub) -> None:
    sp = sub.add_parser("stats", help="collect calibration statistics (Distiller's YAML)")
    task_arg(sp)
    sp.add_argument("--out", default="acts_quantization_stats.yaml",
                    help="YAML file to write (default acts_quantization_stats.yaml)")
    sp.set_defaults(func=run)
    sp.epilog = "example:\n  autoq stats --task minilm-mrpc --out stats.yaml"
