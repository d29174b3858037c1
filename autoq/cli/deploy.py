"""autoq deploy."""
from __future__ import annotations

from ..errors import AutoqError
from .args import device, positive_fraction, positive_int, load_stats, stats_arg, task_arg, task_spec


def run(args) -> None:
    from ..deploy import DeployOptions, deploy
    from ..recipe import Recipe
    from ..tasks import get_task
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        threads = []
    if not threads or min(threads) < 1:
        raise AutoqError(f"--threads {args.threads!r}: expected whole numbers >= 1, e.g. 1,2")
    backends = args.backends.split(",") if args.backends else None
    if backends:
        from ..deploy import backend_names
        unknown = sorted(set(backends) - set(backend_names()))
        if unknown:
            raise AutoqError(f"--backends: unknown {unknown} (allowed: {', '.join(backend_names())})")
    options = DeployOptions(tuple(threads), args.repeats, args.fraction, args.device or "cpu",
                            tuple(backends) if backends else None)
    r = deploy(get_task(task_spec(args)), Recipe.load(args.recipe), args.out, options, load_stats(args.stats))
    for t, v in r.latency.items():
        peer = f", peer {v.peer_s * 1e3:.1f} ms ({v.fp32_s / v.peer_s:.2f}x)" if v.peer_s else ""
        print(f"{t} thread(s): fp32 {v.fp32_s * 1e3:.1f} ms, deployed {v.deployed_s * 1e3:.1f} ms "
              f"({v.fp32_s / v.deployed_s:.2f}x){peer}")
    z, m = r.size, r.metric
    print(f"size on disk: {z.disk_bytes / 1e6:.2f} MB = {z.disk_bytes / z.fp32_bytes:.3f} of FP32's "
          f"{z.fp32_bytes / 1e6:.2f} MB (the search's size: {z.search_bytes / 1e6:.2f} MB"
          + (f"; peer {z.peer_bytes / z.fp32_bytes:.3f} of FP32" if z.peer_bytes else "") + ")")
    print(f"{m.name} on the {m.split} split: fp32 {m.fp32:.4f}, deployed {m.deployed:.4f}, "
          f"fake-quant {m.predicted:.4f}" + (f", peer {m.peer:.4f}" if m.peer is not None else ""))
    print(f"fallbacks: {len(r.fallbacks)}; written: {args.out}/deploy.json, model.safetensors, "
          f"manifest.json, recipe.yaml, torchao_config.json, layers.json")


def add(sub) -> None:
    sp = sub.add_parser("deploy", help="build a recipe on real low-precision kernels, save it, "
                        "measure it against fp32")
    task_arg(sp)
    sp.add_argument("--recipe", required=True, help="recipe YAML (Distiller format)")
    sp.add_argument("--out", required=True, help="folder for the deployed model and deploy.json")
    sp.add_argument("--threads", default="1", help="thread counts to measure, e.g. 1,2")
    sp.add_argument("--repeats", type=positive_int, default=20, help="latency rounds per model")
    sp.add_argument("--fraction", type=positive_fraction, default=1.0,
                    help="fraction of the confirm split scored")
    sp.add_argument("--backends", help="allowed backends, comma-separated (default: all)")
    sp.add_argument("--device", type=device, default=None, help="cpu (default) or cuda")
    stats_arg(sp)
    sp.set_defaults(func=run)
    sp.epilog = ("example:\n  autoq deploy --task minilm-mrpc --recipe autoq-results/minilm-mrpc/picked.yaml "
                 "--out deployed/ --threads 1,2")
