"""The engine's verbs: collect a model's statistics, quantize it by a plan."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

from torch import nn

from . import stats as stats_io
from .fold import fold_batchnorms, needs_fold
from .handlers import handler_for, needs_act_stats
from .lstm import LSTMCell, ModularLSTM
from .modules import set_module
from .plan import Plan
from .rnn import convert_rnns, modular
from .stats import Stats


def collect_stats(model: nn.Module, batches: Iterable[Any],
                  cache_dir: str | Path | None = None) -> Stats:
    """Calibration statistics of every quantizable module, over ``batches``.

    With ``cache_dir``, they are stored under a key of the model's weights and the data,
    and read back on the next call instead of collected again.
    """
    batches = list(batches)
    prepared = ready(model)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"stats-{calibration_key(prepared, batches)}.yaml"
        if path.is_file():
            return stats_io.load(path)
    result = stats_io.collect(prepared.eval(), batches, _measured(prepared))
    if path is not None:
        stats_io.save(result, path)
    return result


def ready(model: nn.Module) -> nn.Module:
    """``model`` as the engine measures it: itself when prepared, else a copy with its
    Conv+BatchNorm pairs folded and its torch RNNs modular (as ``autoq.prepare`` makes it)."""
    if needs_fold(model):
        return convert_rnns(fold_batchnorms(copy.deepcopy(model)))
    return modular(model)


def _measured(prepared: nn.Module) -> list[str]:
    return [n for n, m in prepared.named_modules() if handler_for(m) and needs_act_stats(m)]


def calibration_key(model: nn.Module, batches: Iterable[Any]) -> str:
    """A key of all that a model's statistics depend on: its weights, the calibration data
    and the modules measured. Names the statistics cache's files; a study and a sensitivity
    table record it, so that neither is carried on with another model."""
    prepared = ready(model)
    return stats_io.fingerprint(prepared, list(batches), _measured(prepared))


def quantize_plan(plan: Plan, stats: Stats | None = None) -> nn.Module:
    """A new model: ``plan``'s model quantized by its configs; the plan's model is left
    untouched. Weights are quantized here, once; activations in the forward pass."""
    plan.check_stats(stats)
    work = copy.deepcopy(plan.model)
    modules = dict(work.named_modules())
    for name, cfg in plan.configs.items():
        if cfg.is_float:
            continue
        module = modules[name]
        entry = stats.get(name) if stats is not None else None
        set_module(work, name, handler_for(module)(module, cfg, entry))
    for cell in work.modules():
        if isinstance(cell, LSTMCell):
            cell.skip_requantization()
    return work.eval()


__all__ = ["ModularLSTM", "calibration_key", "collect_stats", "quantize_plan"]
