"""A torch.fx tracer that runs the example inputs alongside the symbolic trace.

Every node also gets its value on the example, so Python code that branches on
shapes or ranks is resolved the way the example resolves it, while sizes stay
symbolic in the graph (other batch sizes and lengths still work). Each such branch
becomes a guard in the graph that raises if a later input would take the other way.
Branching on tensor *values*, and ``len``/``range``/``int`` of a traced size, still
fail: those parts are left to the caller's fallback.
"""
from __future__ import annotations

import dataclasses
import inspect
import traceback
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn
from torch.fx.proxy import TraceError

from ..quant.fold import FoldedBatchNorm
from ..quant.handlers import handler_for
from ..quant.rnn import ModularRNN
from .guards import check_branch, check_constant, check_keys

FIXED_ATTRS = ("dtype", "ndim")  # read from the example: the same for every input
CONSTANT_TYPES = (type(None), bool, int, float, str)
_SKIP_FRAMES = (str(Path(torch.__file__).parent), str(Path(__file__).parent))


def is_leaf(module: nn.Module) -> bool:
    """Modules kept whole: what the engine quantizes as a unit, and torch.nn's own."""
    if handler_for(module) is not None or isinstance(module, (ModularRNN, fx.GraphModule,
                                                              FoldedBatchNorm)):
        return True
    return (type(module).__module__.startswith(("torch.nn", "torch.ao.nn"))
            and not isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)))


def user_frame(frames: list[traceback.FrameSummary] | None = None) -> str:
    """``file:line`` of the innermost frame (default: of the caller) outside torch and
    this package."""
    for frame in reversed(frames if frames is not None else traceback.extract_stack()):
        if not frame.filename.startswith(_SKIP_FRAMES):
            return f"{Path(frame.filename).name}:{frame.lineno}"
    return "?"


def is_activation(value: Any) -> bool:
    """A float tensor (or a tuple holding one) computed from a parameter or a float input:
    values are computed with autograd on, so such tensors require grad; masks and tables
    built from integer inputs, buffers or constants do not."""
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and value.requires_grad
    if isinstance(value, (tuple, list)):
        return any(is_activation(v) for v in value)
    return False


def _has_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_has_tensor(v) for v in value.values())
    return False


class ExampleProxy(fx.Proxy):
    """A proxy that answers ``dtype``, ``ndim`` and ``len`` of tuples from the example."""

    def __getattr__(self, name: str):
        if name in FIXED_ATTRS:
            value = self.tracer.value_of(self.node)
            if isinstance(value, torch.Tensor):
                return getattr(value, name)
        return super().__getattr__(name)

    def __len__(self) -> int:
        value = self.tracer.value_of(self.node)
        if isinstance(value, (tuple, list, dict)):
            return len(value)
        raise TraceError(f"len() of a traced tensor at {user_frame()}")


class ExampleTracer(fx.Tracer):
    """Traces ``root`` called as ``root(*args, **kwargs)``.

    Tensors (also inside tuples, lists and dicts) become graph inputs; other arguments
    are fixed to their example values, guarded when they are plain constants. Each
    node's meta gets ``activation`` (see ``is_activation``; parameters must require grad).
    """

    def __init__(self, args: tuple, kwargs: dict):
        super().__init__()
        self.proxy_buffer_attributes = True
        self.example_args, self.example_kwargs = args, kwargs
        self.values: dict[fx.Node, Any] = {}
        self.branches: list[str] = []  # where a branch was fixed by the example
        self._concrete = False  # True while running the real computation of one node

    # --- values -------------------------------------------------------------
    def value_of(self, node: fx.Node) -> Any:
        if node not in self.values and node.op == "get_attr":
            self.values[node] = self._attr(node.target)
        return self.values[node]

    def _attr(self, target: str) -> Any:
        """An attribute of the root, read past fx's patched ``__getattr__``."""
        *path, last = target.split(".")
        module = self.root
        for part in path:
            module = module._modules[part]
        for table in (module._parameters, module._buffers, module._modules, module.__dict__):
            if last in table:
                return table[last]
        raise AttributeError(target)

    def _run(self, node: fx.Node) -> Any:
        args = fx.node.map_arg(node.args, self.value_of)
        kwargs = fx.node.map_arg(node.kwargs, self.value_of)
        self._concrete = True
        try:
            with torch.enable_grad():
                if node.op == "call_function":
                    return node.target(*args, **kwargs)
                if node.op == "call_method":
                    return getattr(args[0], node.target)(*args[1:], **kwargs)
                if node.op == "call_module":
                    return self.root.get_submodule(node.target)(*args, **kwargs)
                return self.value_of(node)  # get_attr
        finally:
            self._concrete = False

    # --- fx hooks -----------------------------------------------------------
    def proxy(self, node: fx.Node) -> fx.Proxy:
        return ExampleProxy(node, self)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None,
                     proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        node = proxy.node
        if kind != "placeholder":
            self.values[node] = self._run(node)
        node.meta["activation"] = is_activation(self.values.get(node))
        return proxy

    def call_module(self, m, forward, args, kwargs):
        if self._concrete:  # computing a value: run the module for real
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if self._concrete:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf(m)

    def to_bool(self, obj: fx.Proxy) -> bool:
        value = self.value_of(obj.node)
        where = user_frame()
        if isinstance(value, torch.Tensor):
            raise TraceError(f"control flow depends on tensor values at {where}")
        self.create_proxy("call_function", check_branch, (obj, bool(value), where), {})
        self.branches.append(where)
        return bool(value)

    def iter(self, obj: fx.Proxy):
        value = self.value_of(obj.node)
        if isinstance(value, (tuple, list)):
            return iter([obj[i] for i in range(len(value))])
        raise TraceError(f"iteration over a traced tensor at {user_frame()}")

    def keys(self, obj: fx.Proxy):
        value = self.value_of(obj.node)
        if isinstance(value, dict):
            return value.keys()
        raise TraceError(f"** of a traced value at {user_frame()}")

    def create_arg(self, a: Any):
        # dataclass outputs (Hugging Face ModelOutput): rebuilt by a call to their class
        if dataclasses.is_dataclass(a) and not isinstance(a, type):
            fields = {f.name: getattr(a, f.name) for f in dataclasses.fields(a) if f.init}
            return self.create_node("call_function", type(a), (), self.create_arg(fields))
        return super().create_arg(a)

    # --- inputs -------------------------------------------------------------
    def create_args_for_root(self, root_fn, is_module, concrete_args=None):
        """One placeholder per parameter of the root's forward (same names, same
        defaults), so the traced module is called exactly like the original."""
        sig = inspect.signature(inspect.unwrap(root_fn))
        bound = sig.bind(self.root, *self.example_args, **self.example_kwargs)
        placeholders = []
        for i, p in enumerate(sig.parameters.values()):
            if i == 0:
                continue  # self
            given = p.name in bound.arguments
            if p.kind is p.VAR_POSITIONAL:
                target, value, default = "*" + p.name, bound.arguments.get(p.name, ()), ()
            elif p.kind is p.VAR_KEYWORD:
                target, value, default = "**" + p.name, bound.arguments.get(p.name, {}), ()
            else:
                value = bound.arguments[p.name] if given else p.default
                if p.default is p.empty:
                    default = ()
                else:
                    default = (p.default if isinstance(p.default, CONSTANT_TYPES) else None,)
                target = p.name
            proxy = self.create_proxy("placeholder", target, default, {})
            self.values[proxy.node] = value
            proxy.node.meta["activation"] = is_activation(value)
            placeholders.append(proxy)
            if p.kind is p.VAR_KEYWORD:
                self.create_proxy("call_function", check_keys, (proxy, tuple(sorted(value)), p.name), {})
            fed = self._feed(proxy, value, p.name)
            if given:
                bound.arguments[p.name] = fed

        def call(*_):
            return root_fn(*bound.args, **bound.kwargs)
        return call, placeholders

    def _feed(self, proxy: fx.Proxy, value: Any, name: str) -> Any:
        """What the traced code receives for one input: proxies for tensors, the
        example value (guarded when a plain constant) for the rest."""
        if isinstance(value, torch.Tensor):
            return proxy
        if isinstance(value, (tuple, list)) and _has_tensor(value):
            return type(value)(self._feed(proxy[i], v, f"{name}[{i}]") for i, v in enumerate(value))
        if isinstance(value, dict) and _has_tensor(value):
            return {k: self._feed(proxy[k], v, f"{name}[{k!r}]") for k, v in value.items()}
        if isinstance(value, dict):  # **kwargs of constants: guard each by .get
            for k, v in value.items():
                if isinstance(v, CONSTANT_TYPES):
                    got = self.create_proxy("call_method", "get", (proxy, k), {})
                    self.create_proxy("call_function", check_constant, (got, v, k), {})
            return value
        if isinstance(value, CONSTANT_TYPES):
            self.create_proxy("call_function", check_constant, (proxy, value, name), {})
        return value


def capture(module: nn.Module, args: tuple, kwargs: dict) -> tuple[fx.GraphModule, list[str]]:
    """The graph of ``module(*args, **kwargs)`` and where branches were fixed.

    Raises whatever tracing raises (TraceError, TypeError, ...) when it cannot be traced.
    """
    tracer = ExampleTracer(tuple(args), dict(kwargs))
    graph = tracer.trace(module)
    gm = fx.GraphModule(tracer.root, graph, class_name=type(module).__name__)
    for name, sub in module.named_modules():  # keep those the graph does not call, so
        if name and _lacks(gm, name):          # code outside forward still finds them
            gm.add_submodule(name, sub)
    return gm, tracer.branches


def _lacks(module: nn.Module, name: str) -> bool:
    try:
        module.get_submodule(name)
    except AttributeError:
        return True
    return False
