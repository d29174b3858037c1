"""The engine's verbs: prepare a model, collect its statistics, quantize it."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

from torch import nn

from ..recipe import Recipe
from . import stats as stats_io
from .handlers import handler_for, needs_act_stats
from .lstm import LSTMCell, ModularLSTM
from .rnn import convert_rnns
from .plan import check_stats, make_plan
from .stats import Stats


def is_prepared(model: nn.Module) -> bool:
    return not any(isinstance(m, (nn.LSTM, nn.GRU)) for m in model.modules())


def prepare(model: nn.Module, example_inputs: Any = None, graph: bool = False) -> nn.Module:
    """A copy of ``model`` in which every quantizable op is a module (LSTMs and GRUs made
    modular).

    With ``graph``, the copy is traced on ``example_inputs`` (one batch) first, so its
    functional matmul, bmm, add, mul and cat ops become op modules too (``autoq.graph``).
    """
    if graph:
        from ..graph import trace  # autoq.graph imports this package
        return convert_rnns(trace(model, example_inputs)[0])
    return convert_rnns(copy.deepcopy(model))


def collect_stats(model: nn.Module, batches: Iterable[Any],
                  cache_dir: str | Path | None = None) -> Stats:
    """Calibration statistics of every quantizable module, over ``batches``.

    With ``cache_dir``, they are stored under a key of the model's weights and the data,
    and read back on the next call instead of collected again.
    """
    batches = list(batches)
    prepared = model if is_prepared(model) else prepare(model)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"stats-{calibration_key(prepared, batches)}.yaml"
        if path.is_file():
            return stats_io.load(path)
    result = stats_io.collect(prepared.eval(), batches, _measured(prepared))
    if path is not None:
        stats_io.save(result, path)
    return result


def _measured(prepared: nn.Module) -> list[str]:
    return [n for n, m in prepared.named_modules() if handler_for(m) and needs_act_stats(m)]


def calibration_key(model: nn.Module, batches: Iterable[Any]) -> str:
    """A key of all that a model's statistics depend on: its weights, the calibration data
    and the modules measured. Names the statistics cache's files; a study and a sensitivity
    table record it, so that neither is carried on with another model."""
    prepared = model if is_prepared(model) else prepare(model)
    return stats_io.fingerprint(prepared, list(batches), _measured(prepared))


def _set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


def quantize(model: nn.Module, recipe: Recipe, stats: Stats | None = None) -> nn.Module:
    """A new model quantized by ``recipe``; ``model`` is left untouched.

    The whole recipe is validated before anything is applied. Weights are quantized
    here, once; activations are quantized in the forward pass.
    """
    work = prepare(model)
    plan = make_plan(work, recipe)
    check_stats(plan, work, stats)
    modules = dict(work.named_modules())
    for name, cfg in plan.configs.items():
        if cfg.is_float:
            continue
        module = modules[name]
        entry = stats.get(name) if stats is not None else None
        _set_module(work, name, handler_for(module)(module, cfg, entry))
    for cell in work.modules():
        if isinstance(cell, LSTMCell):
            cell.skip_requantization()
    return work.eval()


__all__ = ["ModularLSTM", "collect_stats", "is_prepared", "prepare", "quantize"]
