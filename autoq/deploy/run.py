"""``autoq deploy``: build, save, reload and measure a recipe's deployed model against
FP32, the engine's fake-quant prediction and torch's plain dynamic quantization, side
by side in one run; the results go to ``deploy.json``."""
from __future__ import annotations

import copy
import io
import time
import warnings
from pathlib import Path

import safetensors.torch
import torch
from torch import nn
from tqdm import tqdm

from ..evaluate import prepare_task, task_stats
from ..quant import make_plan, quantize_plan, size_report
from ..recipe import Recipe
from ..tasks import Task
from .artifact import MANIFEST, MODEL, load_deployed, save_deployed
from .build import build, dedupe
from .exports import write_exports
from .report import DeployReport, Metrics, Sizes, Timing
from .measure import alternate, num_threads, run_batch, to_device
from .select import shapes


PEER = "torch.ao.quantization.quantize_dynamic({nn.Linear, nn.LSTM, nn.GRU}, qint8), torch.save size"


def peer(model: nn.Module) -> nn.Module:
    """The BERT tutorial's flow: torch's quantize_dynamic on every Linear (and LSTM, GRU),
    default settings. torch has no quantized nn.RNN: the peer leaves one float."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear, nn.LSTM, nn.GRU},
                                                       dtype=torch.qint8)


def fp32_bytes(model: nn.Module) -> int:
    """Bytes of the float model as one safetensors file."""
    return len(safetensors.torch.save(dedupe(model.state_dict())[0]))


def torch_save_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())`` (how the tutorial sizes its model)."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


def _latency(models: dict, sample, threads: list[int], repeats: int, device: str, steps) -> dict:
    """Per thread count: FP32, the deployed model and the peer timed in turns on ``sample``."""
    latency = {}
    for t in threads:
        steps.set_postfix_str(f"latency on {t} thread(s), {repeats} rounds", refresh=True)
        calls = {k: (lambda m=models[k]: run_batch(m, sample))
                 for k in ("fp32", "deployed", "peer") if k in models}
        latency[str(t)] = alternate(calls, t, repeats, device)
        steps.update()
    return latency


def deploy(task: Task, recipe: Recipe, out: str | Path, threads: list[int] = (1,),
           repeats: int = 20, fraction: float = 1.0, device: str = "cpu",
           backends: list[str] | None = None, stats: dict | None = None,
           progress: bool = True) -> DeployReport:
    """Deploy ``recipe`` for ``task`` into ``out`` and measure it; writes and returns deploy.json."""
    out = Path(out)
    threads = list(threads)
    float_model = task.build_model().eval()
    sample = task.calibration_batches()[0]
    plan = make_plan(prepare_task(task, recipe.graph, float_model), recipe)  # graph: traced on sample
    if stats is None and plan.needs_stats():
        stats = task_stats(task, plan.model)
    sample = to_device(sample, device)
    steps = tqdm(total=2 + len(threads) + 3 + (device == "cpu"), desc="deploy", unit="step",
                 disable=not progress, dynamic_ncols=True)
    steps.set_postfix_str(f"building (kernels timed on {threads} thread(s))", refresh=True)
    start = time.perf_counter()
    deployed = build(float_model, plan, stats, sample, device, backends, threads)
    build_s = time.perf_counter() - start
    steps.update()
    steps.set_postfix_str("saving and loading back", refresh=True)
    save_deployed(deployed, out)
    write_exports(out, float_model, deployed)
    model = load_deployed(out, task, device)  # measure what was saved, loaded back
    models = {"fp32": float_model, "deployed": model, "predicted": quantize_plan(plan, stats)}
    if device == "cpu":  # torch's quantized Linear runs on CPU only
        models["peer"] = peer(float_model)
    models = {k: m.to(device) for k, m in models.items()}
    steps.update()
    latency = _latency(models, sample, threads, repeats, device, steps)
    metrics = {}
    with num_threads(max(threads)):
        for k, m in models.items():
            steps.set_postfix_str(f"scoring {k} on the confirm split", refresh=True)
            metrics[k] = task.evaluate(m, "confirm", fraction, device)
            steps.update()
    steps.close()
    kernels: dict[str, int] = {}
    for e in deployed.manifest["units"].values():
        if "kernel" in e:
            kernels[e["kernel"]] = kernels.get(e["kernel"], 0) + 1
    sizes = Sizes(fp32_bytes(float_model), sum((out / f).stat().st_size for f in (MODEL, MANIFEST)),
                  size_report(plan, stats).total_bytes,
                  torch_save_bytes(models["peer"]) if "peer" in models else None)
    report = DeployReport(
        task.name, device, sizes,
        {t: Timing(v["fp32"], v["deployed"], v.get("peer")) for t, v in latency.items()},
        Metrics(metrics["fp32"].metric_name, "confirm", fraction, metrics["deployed"].n,
                metrics["deployed"].signature, metrics["fp32"].metric, metrics["deployed"].metric,
                metrics["predicted"].metric, metrics["peer"].metric if "peer" in metrics else None),
        kernels, deployed.fallbacks, PEER, build_s, repeats, shapes(sample))
    report.write(out)
    return report
