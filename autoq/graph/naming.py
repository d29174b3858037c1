"""Names of the op modules that graph mode adds.

The rule: ``<owner>.<kind>[_<role>][_<n>]``

- ``owner``: the path of the innermost module whose forward ran the op (as in the
  original model), e.g. ``bert.encoder.layer.0.attention.self``; ops in the root's
  own forward have no owner prefix.
- ``kind``: ``matmul`` (torch.matmul, ``@``), ``bmm`` (torch.bmm), ``eltwiseadd``
  (``+``, torch.add), ``eltwisemult`` (``*``, torch.mul) or ``concat`` (torch.cat).
- ``role``, when the graph shows it:
  ``qk``: a matmul/bmm whose result feeds a softmax (attention scores);
  ``av``: a matmul/bmm that takes a softmax's output (attention weights times values);
  ``residual``: an add whose one operand is computed from the other (a skip connection).
- ``n``: 1, 2, ... for a repeated name in the same owner, in execution order (the
  first one has none).

Between the op and the softmax, or the softmax and the op, only single-activation
steps (reshapes, scaling by a constant, adding a mask, dropout) are allowed.
"""
from __future__ import annotations

import torch
from torch import fx, nn

ROLE_DEPTH = 8  # steps searched between a matmul and its softmax
SOFTMAX = {torch.softmax, torch.nn.functional.softmax}


def owner_of(node: fx.Node) -> str:
    """Path (relative to the traced module) of the module whose forward ran ``node``."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path, _ = list(stack.values())[-1]
    return path


def _is_softmax(node: fx.Node, gm: fx.GraphModule) -> bool:
    if node.op == "call_function":
        return node.target in SOFTMAX
    if node.op == "call_method":
        return node.target == "softmax"
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), nn.Softmax)
    return False


class Namer:
    """Gives each exposed op of one traced graph its name."""

    def __init__(self, gm: fx.GraphModule, activation: dict[fx.Node, bool], ops: set[fx.Node]):
        self.gm, self.act, self.ops = gm, activation, ops
        self.order = {n: i for i, n in enumerate(gm.graph.nodes)}
        self.taken: set[str] = set()

    def name(self, node: fx.Node, kind: str, operands: list[fx.Node]) -> str:
        """The op's module path in the traced module, unique and not yet used."""
        owner = owner_of(node)
        base = kind + (f"_{r}" if (r := self._role(node, kind, operands)) else "")
        leaf, n = base, 0
        while self._used(owner, leaf):
            n += 1
            leaf = f"{base}_{n}"
        full = f"{owner}.{leaf}" if owner else leaf
        self.taken.add(full)
        return full

    def _used(self, owner: str, leaf: str) -> bool:
        full = f"{owner}.{leaf}" if owner else leaf
        if full in self.taken:
            return True
        try:
            return hasattr(self.gm.get_submodule(owner) if owner else self.gm, leaf)
        except AttributeError:
            return False

    # --- roles --------------------------------------------------------------
    def _role(self, node: fx.Node, kind: str, operands: list[fx.Node]) -> str | None:
        if kind in ("matmul", "bmm"):
            if self._feeds_softmax(node, ROLE_DEPTH):
                return "qk"
            if any(self._from_softmax(o, ROLE_DEPTH) for o in operands):
                return "av"
        if kind == "eltwiseadd" and len(operands) == 2:
            a, b = sorted(operands, key=self.order.__getitem__)
            if a is not b and self._is_ancestor(a, b):
                return "residual"
        return None

    def _single_input(self, node: fx.Node) -> fx.Node | None:
        """The one activation input of a pass-through step, else None."""
        if node in self.ops or node.op not in ("call_function", "call_method", "call_module"):
            return None
        if node.op == "call_module" and any(True for _ in self.gm.get_submodule(node.target).parameters()):
            return None
        inputs = [i for i in node.all_input_nodes if self.act.get(i)]
        return inputs[0] if len(inputs) == 1 else None

    def _feeds_softmax(self, node: fx.Node, depth: int) -> bool:
        for user in node.users:
            if _is_softmax(user, self.gm):
                return True
            if depth and self._single_input(user) is node and self._feeds_softmax(user, depth - 1):
                return True
        return False

    def _from_softmax(self, node: fx.Node, depth: int) -> bool:
        if _is_softmax(node, self.gm):
            return True
        src = self._single_input(node)
        return bool(depth) and src is not None and self._from_softmax(src, depth - 1)

    def _is_ancestor(self, a: fx.Node, b: fx.Node) -> bool:
        """Whether ``a`` is among the inputs, direct or not, of ``b``."""
        stop, seen, todo = self.order[a], set(), [b]
        while todo:
            n = todo.pop()
            for i in n.all_input_nodes:
                if i is a:
                    return True
                if i not in seen and self.order[i] > stop:
                    seen.add(i)
                    todo.append(i)
        return False
