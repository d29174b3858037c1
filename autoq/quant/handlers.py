"""Module handlers: a registry from module type to the function that builds its
quantized replacement. A new module kind is one handler, registered by type."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import AutoqError
from .actquant import NoQuant, act_quantizer
from .config import QuantConfig
from .numerics import quantize_weight
from .ops import BatchMatmul, Concat, EltwiseAdd, EltwiseMult, Matmul

# handler(module, config, stats entry or None) -> replacement module
Handler = Callable[[nn.Module, QuantConfig, dict | None], nn.Module]
_HANDLERS: dict[type, Handler] = {}
# types whose inputs and output are quantized from statistics (static mode)
_USES_ACT_STATS: set[type] = set()


# type -> the parameter names its handler stores at bits_weights (size accounting)
_WEIGHTS: dict[type, Callable[[nn.Module], tuple[str, ...]]] = {}


def register_handler(*types: type, activations: bool = True,
                     weights: tuple[str, ...] | Callable[[nn.Module], tuple[str, ...]] = ("weight",)):
    """Register ``fn`` as the handler for modules of ``types`` (and their subclasses).
    ``weights``: the parameters it stores at the recipe's ``bits_weights`` (names, or a
    function of the module giving them); ``bias`` is stored at ``bits_bias``, any other
    parameter in float. Size accounting, and so the front, counts them so."""
    names = weights if callable(weights) else (lambda _m, w=tuple(weights): w)

    def wrap(fn: Handler) -> Handler:
        for t in types:
            _HANDLERS[t] = fn
            _WEIGHTS[t] = names
            if activations:
                _USES_ACT_STATS.add(t)
        return fn
    return wrap


def weight_names(module: nn.Module) -> tuple[str, ...]:
    """The parameters of ``module`` its handler stores at bits_weights."""
    for cls in type(module).__mro__:
        if cls in _WEIGHTS:
            return tuple(_WEIGHTS[cls](module))
    return ("weight",)


def handler_for(module: nn.Module) -> Handler | None:
    for cls in type(module).__mro__:
        if cls in _HANDLERS:
            return _HANDLERS[cls]
    return None


def needs_act_stats(module: nn.Module) -> bool:
    return any(cls in _USES_ACT_STATS for cls in type(module).__mro__)


def quantizable_types() -> tuple[type, ...]:
    return tuple(_HANDLERS)


class QuantLayer(nn.Module):
    """A one-input layer with fake-quantized weights, its input and output quantized."""

    def __init__(self, module: nn.Module, input_quant: nn.Module, output_quant: nn.Module,
                 config: QuantConfig):
        super().__init__()
        self.wrapped_module, self.input_quant, self.output_quant = module, input_quant, output_quant
        self.config = config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_quant(self.wrapped_module(self.input_quant(x)), True)


class QuantOp(nn.Module):
    """A non-parametric op module with each float input and its output quantized."""

    def __init__(self, module: nn.Module, input_quants: list[nn.Module], output_quant: nn.Module,
                 config: QuantConfig):
        super().__init__()
        self.wrapped_module, self.output_quant = module, output_quant
        self.input_quants = nn.ModuleList(input_quants)
        self.config = config

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        qs = self.input_quants
        if len(inputs) > len(qs) and not self.config.dynamic:
            raise AutoqError(f"a {type(self.wrapped_module).__name__} got {len(inputs)} inputs but "
                             f"its statistics hold {len(qs)}: recollect statistics for this model")
        quantized = [qs[min(i, len(qs) - 1)](t) for i, t in enumerate(inputs)]
        # with one input an element-wise op returns that input itself: not fresh
        return self.output_quant(self.wrapped_module(*quantized), len(inputs) > 1)


def _quantize_params(module: nn.Module, cfg: QuantConfig) -> None:
    """Replace weight (and bias) by their fake-quantized values, once."""
    module.weight = nn.Parameter(
        quantize_weight(module.weight, cfg.bits_weights, cfg.mode_weights, cfg.per_channel_wts),
        requires_grad=False)
    bias = getattr(module, "bias", None)
    if bias is not None and cfg.bits_bias not in (None, 32):
        module.bias = nn.Parameter(quantize_weight(bias, cfg.bits_bias, cfg.mode_weights, False),
                                   requires_grad=False)


def _io_quant(cfg: QuantConfig, stats: dict | None, index: int):
    entry = None if stats is None else stats["inputs"].get(index)
    return act_quantizer(cfg, entry)


@register_handler(nn.Linear, nn.Conv1d, nn.Conv2d)
def quantize_param_layer(module: nn.Module, cfg: QuantConfig, stats: dict | None) -> nn.Module:
    _quantize_params(module, cfg)
    out = act_quantizer(cfg, stats and stats.get("output")) if not cfg.dynamic else NoQuant()
    return QuantLayer(module, _io_quant(cfg, stats, 0), out, cfg)


@register_handler(nn.Embedding, activations=False)
def quantize_embedding(module: nn.Module, cfg: QuantConfig, stats: dict | None) -> nn.Module:
    """Only the table is quantized: a lookup returns quantized rows."""
    _quantize_params(module, cfg)
    return module


@register_handler(EltwiseAdd, EltwiseMult, Matmul, BatchMatmul, Concat)
def quantize_op(module: nn.Module, cfg: QuantConfig, stats: dict | None) -> nn.Module:
    if cfg.bits_activations is None:  # an op has no weights: float activations leave it as is
        return module
    if cfg.dynamic:
        return QuantOp(module, [act_quantizer(cfg, None)], NoQuant(), cfg)
    inputs = [act_quantizer(cfg, stats["inputs"][i]) for i in sorted(stats["inputs"])]
    return QuantOp(module, inputs, act_quantizer(cfg, stats["output"]), cfg)
