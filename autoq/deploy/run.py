"""``autoq deploy``: build, save, reload and measure a recipe's deployed model against
FP32, the engine's fake-quant prediction and torch's plain dynamic quantization, side
by side in one run; the results go to ``deploy.json``."""
from __future__ import annotations

import copy
import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
from torch import nn
from tqdm import tqdm

from ..evaluate import prepare_task, task_stats
from ..quant import Plan, make_plan, quantize_plan, size_report
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


@dataclass(frozen=True)
class DeployOptions:
    """How ``deploy`` builds and measures."""

    threads: tuple[int, ...] = (1,)  # thread counts kernels are timed and latency measured on
    repeats: int = 20  # latency rounds per model
    fraction: float = 1.0  # of the confirm split scored
    device: str = "cpu"
    backends: tuple[str, ...] | None = None  # allowed backends (None: all)
    progress: bool = True


@dataclass
class Built:
    """What the build step hands on: the float model, the plan, its statistics, the sample
    batch kernels were timed on, the deployed model's parts and the build's seconds."""

    float_model: nn.Module
    plan: Plan
    stats: dict | None
    sample: object
    deployed: object
    seconds: float


def deploy(task: Task, recipe: Recipe, out: str | Path, options: DeployOptions = DeployOptions(),
           stats: dict | None = None) -> DeployReport:
    """Deploy ``recipe`` for ``task`` into ``out`` in three steps (build and save; load
    back beside FP32, the fake-quant prediction and the peer; measure them); writes and
    returns deploy.json."""
    out, o = Path(out), options
    steps = tqdm(total=2 + len(o.threads) + 3 + (o.device == "cpu"), desc="deploy", unit="step",
                 disable=not o.progress, dynamic_ncols=True)
    built = build_step(task, recipe, out, o, stats, steps)
    models = load_step(task, built, out, o, steps)
    report = measure_step(task, built, models, out, o, steps)
    steps.close()
    report.write(out)
    return report


def build_step(task: Task, recipe: Recipe, out: Path, o: DeployOptions, stats, steps) -> Built:
    """Plan the recipe once, build it on the chosen kernels and save it into ``out``."""
    float_model = task.build_model().eval()
    plan = make_plan(prepare_task(task, recipe.graph, float_model), recipe)  # graph: traced on a batch
    if stats is None and plan.needs_stats():
        stats = task_stats(task, plan.model)
    sample = to_device(task.calibration_batches()[0], o.device)
    steps.set_postfix_str(f"building (kernels timed on {list(o.threads)} thread(s))", refresh=True)
    start = time.perf_counter()
    deployed = build(float_model, plan, stats, sample, o.device,
                     list(o.backends) if o.backends else None, list(o.threads))
    seconds = time.perf_counter() - start
    steps.update()
    steps.set_postfix_str("saving and loading back", refresh=True)
    save_deployed(deployed, out)
    write_exports(out, float_model, deployed)
    return Built(float_model, plan, stats, sample, deployed, seconds)


def load_step(task: Task, b: Built, out: Path, o: DeployOptions, steps) -> dict[str, nn.Module]:
    """What is measured: the saved model loaded back, FP32, the engine's fake-quant
    prediction and (on CPU) the peer, all on the device."""
    models = {"fp32": b.float_model, "deployed": load_deployed(out, task, o.device),
              "predicted": quantize_plan(b.plan, b.stats)}
    if o.device == "cpu":  # torch's quantized Linear runs on CPU only
        models["peer"] = peer(b.float_model)
    steps.update()
    return {k: m.to(o.device) for k, m in models.items()}


def measure_step(task: Task, b: Built, models: dict, out: Path, o: DeployOptions, steps) -> DeployReport:
    """Latency in turns per thread count, the confirm metric of each model, sizes."""
    latency = _latency(models, b.sample, list(o.threads), o.repeats, o.device, steps)
    metrics = {}
    with num_threads(max(o.threads)):
        for k, m in models.items():
            steps.set_postfix_str(f"scoring {k} on the confirm split", refresh=True)
            metrics[k] = task.evaluate(m, "confirm", o.fraction, o.device)
            steps.update()
    kernels: dict[str, int] = {}
    for e in b.deployed.manifest["units"].values():
        if "kernel" in e:
            kernels[e["kernel"]] = kernels.get(e["kernel"], 0) + 1
    sizes = Sizes(fp32_bytes(b.float_model), sum((out / f).stat().st_size for f in (MODEL, MANIFEST)),
                  size_report(b.plan, b.stats).total_bytes,
                  torch_save_bytes(models["peer"]) if "peer" in models else None)
    m = metrics
    return DeployReport(
        task.name, o.device, sizes,
        {t: Timing(v["fp32"], v["deployed"], v.get("peer")) for t, v in latency.items()},
        Metrics(m["fp32"].metric_name, "confirm", o.fraction, m["deployed"].n, m["deployed"].signature,
                m["fp32"].metric, m["deployed"].metric, m["predicted"].metric,
                m["peer"].metric if "peer" in m else None),
        kernels, b.deployed.fallbacks, PEER, b.seconds, o.repeats, shapes(b.sample))
