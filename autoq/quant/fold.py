"""Conv+BatchNorm folding, part of preparing a model (eval mode only): each BatchNorm1d/2d
whose only input is a Conv1d/2d output that nothing else reads goes into that conv's
weight and bias, so the engine quantizes the conv a deployment runs. The BatchNorm
becomes a ``FoldedBatchNorm`` (an nn.Identity) under its own name; names stay stable.

Pairs are found on a torch.fx trace; a model that does not trace has the pairs adjacent
in an nn.Sequential folded, and a notice (FoldWarning) names the BatchNorms left float.
"""
from __future__ import annotations

import warnings
from collections import Counter

import torch
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import AutoqError
from .modules import set_module

PAIRS = {nn.Conv1d: nn.BatchNorm1d, nn.Conv2d: nn.BatchNorm2d}
NORMS = tuple(PAIRS.values())


class FoldWarning(UserWarning):
    """BatchNorm layers autoq left unfolded (float)."""


class FoldedBatchNorm(nn.Identity):
    """Where a BatchNorm was: its scale and shift are in the conv ``into`` now."""

    def __init__(self, into: str):
        super().__init__()
        self.into = into

    def extra_repr(self) -> str:
        return f"folded into {self.into!r}"


def _foldable(model: nn.Module, conv_name: str, bn_name: str, counts: Counter) -> bool:
    conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
    kind = next((c for c in PAIRS if type(conv).forward is c.forward), None)
    return (kind is not None and isinstance(bn, PAIRS[kind]) and type(bn).forward is _BatchNorm.forward
            and bn.running_mean is not None and bn.num_features == conv.out_channels
            and counts[id(conv)] == 1 and counts[id(bn)] == 1)


def _traced(model: nn.Module) -> list[tuple[str, str]]:
    """(conv, bn) of the trace: bn called once on the output of a conv called once, its only reader."""
    graph = fx.Tracer().trace(model)
    calls = Counter(n.target for n in graph.nodes if n.op == "call_module")
    out = []
    for node in graph.nodes:
        src = node.args[0] if node.op == "call_module" and len(node.args) == 1 else None
        if (isinstance(src, fx.Node) and src.op == "call_module" and not node.kwargs
                and len(src.users) == 1 and calls[node.target] == calls[src.target] == 1):
            out.append((src.target, node.target))
    return out


def _adjacent(model: nn.Module) -> list[tuple[str, str]]:
    """(conv, bn) neighbours in a plain nn.Sequential."""
    out = []
    for name, seq in model.named_modules():
        if type(seq).forward is nn.Sequential.forward:
            kids = [f"{name}.{k}" if name else k for k, _ in seq.named_children()]
            out += list(zip(kids, kids[1:]))
    return out


def has_norms(model: nn.Module) -> bool:
    """Whether ``model`` holds both a conv and a BatchNorm1d/2d (something to fold, maybe)."""
    kinds = [type(m) for m in model.modules()]
    return any(issubclass(k, NORMS) for k in kinds) and any(issubclass(k, tuple(PAIRS)) for k in kinds)


def find_pairs(model: nn.Module) -> tuple[list[tuple[str, str]], str | None]:
    """The (conv, bn) names to fold, and why the model could not be traced (None: it was)."""
    if not has_norms(model):
        return [], None
    try:
        candidates, why = _traced(model), None
    except Exception as e:  # noqa: BLE001 (any tracing failure: fall back on nn.Sequential)
        candidates, why = _adjacent(model), f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
    counts = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    return [p for p in candidates if _foldable(model, *p, counts)], why


def needs_fold(model: nn.Module) -> bool:
    """Whether preparing ``model`` would fold a pair (or say why it leaves them: training mode)."""
    return has_norms(model) and (model.training or bool(find_pairs(model)[0]))


def fold_pair(conv: nn.Module, bn: nn.Module) -> None:
    """Put ``bn``'s eval-mode scale and shift into ``conv``'s weight and bias (in float64)."""
    with torch.no_grad():
        ones = torch.ones(bn.num_features, dtype=torch.float64, device=conv.weight.device)
        gamma = bn.weight.double() if bn.weight is not None else ones
        beta = bn.bias.double() if bn.bias is not None else ones * 0
        scale = gamma / torch.sqrt(bn.running_var.double() + bn.eps)
        bias = conv.bias.double() if conv.bias is not None else ones * 0
        weight = conv.weight.double() * scale.view(-1, *[1] * (conv.weight.dim() - 1))
        dtype = conv.weight.dtype
        conv.weight = nn.Parameter(weight.to(dtype), requires_grad=conv.weight.requires_grad)
        conv.bias = nn.Parameter(((bias - bn.running_mean.double()) * scale + beta).to(dtype),
                                 requires_grad=conv.weight.requires_grad)


def fold_batchnorms(model: nn.Module) -> nn.Module:
    """Fold ``model``'s Conv+BatchNorm pairs in place (eval mode; a model in training mode
    is left as it is, with a notice) and return it."""
    if not has_norms(model):
        return model
    if model.training:
        warnings.warn("BatchNorm folding: the model is in training mode, so its BatchNorm layers stay "
                      "unfolded and float; call model.eval() first to fold them into their convs",
                      FoldWarning, stacklevel=2)
        return model
    pairs, why = find_pairs(model)
    for conv, bn in pairs:
        fold_pair(model.get_submodule(conv), model.get_submodule(bn))
        set_module(model, bn, FoldedBatchNorm(conv))
    left = [n for n, m in model.named_modules() if isinstance(m, NORMS)]
    if why is not None and left:
        warnings.warn(f"BatchNorm folding: the model does not trace ({why}), so only BatchNorms right "
                      f"after a conv in an nn.Sequential were folded; left unfolded (float): "
                      f"{', '.join(left)}", FoldWarning, stacklevel=2)
    return model


def folds(model: nn.Module) -> dict[str, str]:
    """The folded BatchNorms of a prepared model: name -> the conv it went into."""
    return {n: m.into for n, m in model.named_modules() if isinstance(m, FoldedBatchNorm)}


def fold_as(model: nn.Module, pairs: dict[str, str]) -> nn.Module:
    """Fold in ``model`` (in place) the pairs a prepared model folded (``folds``)."""
    for bn, conv in pairs.items():
        try:
            norm, layer = model.get_submodule(bn), model.get_submodule(conv)
        except AttributeError:
            raise AutoqError(f"BatchNorm {bn!r} was folded into {conv!r}, but this model has no "
                             f"such modules: the plan or deployment is of another model") from None
        if isinstance(norm, FoldedBatchNorm):
            continue  # this model is prepared already
        fold_pair(layer, norm)
        set_module(model, bn, FoldedBatchNorm(conv))
    return model
