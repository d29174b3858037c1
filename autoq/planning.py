"""Preparing a model for the engine, and planning a recipe on it: the one step above both
``autoq.quant`` and ``autoq.graph``."""
from __future__ import annotations

import copy
from typing import Any

from torch import nn

from .graph import trace
from .quant import Plan, convert_rnns, make_plan, quantize_plan
from .quant.fold import fold_batchnorms, needs_fold
from .quant.rnn import has_rnns
from .quant.stats import Stats
from .recipe import Recipe


def is_prepared(model: nn.Module) -> bool:
    return not has_rnns(model) and not needs_fold(model)


def prepare(model: nn.Module, example_inputs: Any = None, graph: bool = False) -> nn.Module:
    """A copy of ``model`` in which every quantizable op is a module (torch RNNs made
    modular) and, in eval mode, each Conv+BatchNorm pair is folded (``autoq.quant.fold``).

    With ``graph``, the copy is traced on ``example_inputs`` (one batch) next, so its
    functional matmul, bmm, add, mul and cat ops become op modules too (``autoq.graph``).
    """
    work = fold_batchnorms(copy.deepcopy(model))
    if graph:
        return convert_rnns(trace(work, example_inputs)[0])
    return convert_rnns(work)


def plan(model: nn.Module, recipe: Recipe | None, example_inputs: Any = None,
         graph: bool = False) -> Plan:
    """``recipe`` (None: FP32) checked against ``model`` prepared as ``prepare`` does; a
    model already prepared, outside graph mode, is planned as it is."""
    prepared = model if not graph and is_prepared(model) else prepare(model, example_inputs, graph)
    return make_plan(prepared, recipe)


def quantize(model: nn.Module, recipe: Recipe, stats: Stats | None = None) -> nn.Module:
    """A new model quantized by ``recipe``; ``model`` is left untouched. The whole recipe
    is validated before anything is applied."""
    return quantize_plan(plan(model, recipe), stats)
