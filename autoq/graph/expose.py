"""Turn a traced graph's functional matmul, bmm, add, mul and cat calls into op modules.

Only ops between activations are exposed: every operand a floating tensor computed
from a float input of the model or from a parameter. An add of a scalar, or of a
mask or table built from integer inputs, buffers or constants (an attention mask, a
fixed positional encoding), is not a quantizable op and stays as it is.
"""
from __future__ import annotations

import operator

import torch
from torch import fx, nn

from ..quant.ops import BatchMatmul, Concat, EltwiseAdd, EltwiseMult, Matmul
from .naming import Namer

FUNCTIONS = {torch.matmul: "matmul", operator.matmul: "matmul", torch.bmm: "bmm",
             operator.add: "eltwiseadd", torch.add: "eltwiseadd",
             operator.mul: "eltwisemult", torch.mul: "eltwisemult",
             torch.cat: "concat", torch.concat: "concat", torch.concatenate: "concat"}
METHODS = {"matmul": "matmul", "bmm": "bmm", "add": "eltwiseadd", "mul": "eltwisemult"}
MODULES = {"matmul": Matmul, "bmm": BatchMatmul, "eltwiseadd": EltwiseAdd,
           "eltwisemult": EltwiseMult}


def activations(gm: fx.GraphModule) -> dict[fx.Node, bool]:
    """For each node: does it hold an activation (``tracer.is_activation``)?"""
    act = {}
    for node in gm.graph.nodes:
        if "activation" in node.meta:
            act[node] = node.meta["activation"]
        else:  # parameters the tracer fetched itself
            value = _attr(gm, node.target) if node.op == "get_attr" else None
            act[node] = isinstance(value, nn.Parameter) and value.is_floating_point()
    return act


def _attr(gm: fx.GraphModule, target: str):
    owner, _, name = target.rpartition(".")
    return getattr(gm.get_submodule(owner) if owner else gm, name)


def _match(node: fx.Node, act: dict[fx.Node, bool]) -> tuple[str, list[fx.Node], nn.Module] | None:
    """(kind, operands, op module) when ``node`` is an exposable op, else None."""
    if node.op == "call_function":
        kind = FUNCTIONS.get(node.target) if _hashable(node.target) else None
    elif node.op == "call_method":
        kind = METHODS.get(node.target)
    else:
        return None
    if kind is None:
        return None
    if kind == "concat":
        tensors = node.args[0] if node.args else node.kwargs.get("tensors")
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        extra = set(node.kwargs) - {"tensors", "dim"}
        if (not isinstance(tensors, (list, tuple)) or len(tensors) < 2 or extra
                or not isinstance(dim, int) or len(node.args) > 2):
            return None
        operands = list(tensors)
    else:
        if len(node.args) != 2 or node.kwargs:
            return None
        operands = list(node.args)
    if not all(isinstance(o, fx.Node) and act.get(o) for o in operands):
        return None
    return kind, operands, Concat(dim) if kind == "concat" else MODULES[kind]()


def _hashable(target) -> bool:
    try:
        hash(target)
        return True
    except TypeError:
        return False


def expose_ops(gm: fx.GraphModule) -> list[str]:
    """Replace every exposable op of ``gm`` by a call of a new op module registered on
    ``gm`` (see ``naming`` for the names); returns their paths in execution order."""
    act = activations(gm)
    found = [(n, m) for n in gm.graph.nodes if (m := _match(n, act))]
    namer = Namer(gm, act, {n for n, _ in found})
    names = [namer.name(node, kind, operands) for node, (kind, operands, _) in found]
    new: dict[fx.Node, fx.Node] = {}  # replaced node -> its op-module call
    for (node, (_, operands, module)), name in zip(found, names):
        module.graph_exposed = True  # float unless a recipe names it (quant.plan)
        gm.add_submodule(name, module)
        with gm.graph.inserting_before(node):
            call = gm.graph.call_module(name, tuple(new.get(o, o) for o in operands))
        call.meta = dict(node.meta)
        node.replace_all_uses_with(call)
        gm.graph.erase_node(node)
        new[node] = call
    gm.recompile()
    return names
