"""Task-level verbs shared by the CLI, the search and users: statistics and evaluation."""
from __future__ import annotations

import time
from typing import Any

import torch

from .planning import prepare
from .quant import collect_stats, make_plan, quantize_plan, size_report
from .quant.stats import Stats
from .recipe import Recipe
from .tasks import Task
from .tasks.base import scored_as_reference
from .tasks.data import CACHE


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def prepare_task(task: Task, graph: bool = False, model: torch.nn.Module | None = None) -> torch.nn.Module:
    """The task's model prepared for the engine; with ``graph``, traced on its first
    calibration batch so that functional ops are modules too."""
    model = model if model is not None else task.build_model()
    if not graph:
        return prepare(model)
    return prepare(model, example_inputs=next(iter(task.calibration_batches())), graph=True)


def task_stats(task: Task, prepared: torch.nn.Module | None = None) -> Stats:
    """The task's calibration statistics, collected once and cached on disk."""
    model = prepared if prepared is not None else prepare_task(task)
    return collect_stats(model, task.calibration_batches(), cache_dir=CACHE / "stats")


def evaluate(task: Task, recipe: Recipe | None = None, split: str = "confirm",
             fraction: float = 1.0, device: str | None = None, stats: Stats | None = None) -> dict[str, Any]:
    """Score the float model, or the model quantized by ``recipe``, with its size."""
    device = device or default_device()
    float_model = task.build_model()
    model = prepare_task(task, recipe is not None and recipe.graph, float_model)
    plan = make_plan(model, recipe)
    qmodel = float_model
    if recipe is not None:
        stats = stats if stats is not None else task_stats(task, model)
        qmodel = quantize_plan(plan, stats)
    size = size_report(plan, stats)
    start = time.perf_counter()
    score = scored_as_reference(task, lambda: task.evaluate(qmodel.to(device), split=split,
                                                             fraction=fraction, device=device),
                                split, "FP32" if recipe is None else "the recipe")
    return {"task": task.name, "metric_name": score.metric_name, "metric": score.metric,
            "size_bytes": size.total_bytes, "fp32_size_bytes": size.fp32_bytes,
            "eval_s": round(time.perf_counter() - start, 3), "signature": score.signature}
