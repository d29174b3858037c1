"""``trace``: graph mode's one verb."""
from __future__ import annotations

import copy
import traceback
import warnings
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.utils._pytree import tree_leaves, tree_map

from ..errors import AutoqError
from .expose import expose_ops
from .report import TraceReport, TraceWarning, Untraced
from .tracer import capture, is_leaf, user_frame

TOLERANCE = 1e-5  # a traced part must reproduce its module's outputs on the example
# torch.nn modules are kept whole, and these hide attention matmuls inside
HIDES_OPS = (nn.MultiheadAttention, nn.Transformer, nn.TransformerEncoder, nn.TransformerDecoder,
             nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


class Call(NamedTuple):
    args: tuple
    kwargs: dict
    output: Any


def split_inputs(example_inputs: Any) -> tuple[tuple, dict]:
    """A batch as ``collect_stats`` takes it: dict -> kwargs, tuple -> args, else one arg."""
    if example_inputs is None:
        raise AutoqError("graph mode needs example inputs: one batch the model accepts "
                         "(a dict of keyword tensors, a tuple of positional ones, or a tensor)")
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    return (example_inputs,), {}


def trace(model: nn.Module, example_inputs: Any) -> tuple[nn.Module, TraceReport]:
    """A copy of ``model`` in which each functional matmul, bmm, add, mul and cat between
    activations is an op module (``autoq.quant.ops``) the engine can quantize.

    The copy is an ``fx.GraphModule`` when the model traces whole; otherwise each child
    is tried on its own (recursively), traced parts are swapped in and the rest is left
    as it was, listed in the report with the reason (and a TraceWarning). Submodule
    names are unchanged; the new ops are named as ``autoq.graph.naming`` describes.
    The copy is in eval mode; ``model`` is left untouched. Hugging Face models are
    switched to eager attention first so that their attention matmuls are visible.

    A model driven through methods other than ``forward`` (GNMT under beam search calls
    ``encode`` and ``decode_step``) names in ``graph_roots`` the submodules to trace
    instead; the model itself then keeps its class and methods.
    """
    args, kwargs = tree_map(_tracked, split_inputs(example_inputs))
    work = copy.deepcopy(model).eval()
    report = TraceReport()
    _eager_attention(work, report)
    _note_hidden_ops(work, report)
    with _params_tracked(work):
        calls = record_calls(work, args, kwargs)
        result = work
        for root in getattr(work, "graph_roots", None) or ("",):
            part = work.get_submodule(root)
            new = _trace_tree(part, root, calls, report)
            if root == "":
                result = new
            elif new is not part:
                parent, _, child = root.rpartition(".")
                setattr(work.get_submodule(parent), child, new)
    if report.traced and "" not in report.traced:  # parts swapped in: check the whole
        result, report = _check_assembled(model, result, calls[work][0], report)
    if report.untraced:
        warnings.warn(report.summary(), TraceWarning, stacklevel=2)
    return result, report


@contextmanager
def _params_tracked(model: nn.Module):
    """Float parameters require grad meanwhile: autograd then tells activations (which
    require grad) from masks and constants (which do not)."""
    flags = {p: p.requires_grad for p in model.parameters()}
    for p in flags:
        p.requires_grad_(p.is_floating_point())
    try:
        yield
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)


def _check_assembled(model: nn.Module, result: nn.Module, call: Call, report: TraceReport):
    """The model with traced parts swapped in must still reproduce the original; if it
    does not, the untraced copy is returned instead."""
    try:
        error, why = _error(result, call), None
    except Exception as e:  # noqa: BLE001 - any failure means: do not use the parts
        error, why = float("inf"), _reason(e)
    if error <= TOLERANCE:
        report.max_error = max(report.max_error, error)
        return result, report
    why = why or f"outputs differ by {error:.3g}"
    failed = Untraced("", type(model).__name__, f"with its traced parts, the model fails ({why})")
    return copy.deepcopy(model).eval(), TraceReport(untraced=[failed])


def _tracked(x: Any) -> Any:
    """A float input as a non-leaf tensor that requires grad (see ``tracer.is_activation``)."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.detach().requires_grad_(True).clone()
    return x


def record_calls(model: nn.Module, args: tuple, kwargs: dict) -> dict[nn.Module, list[Call]]:
    """The inputs and output of every call of each traceable module, on the example."""
    calls: dict[nn.Module, list[Call]] = {}

    def hook(module, a, k, out):
        calls.setdefault(module, []).append(Call(tuple(a), dict(k), out))

    handles = [m.register_forward_hook(hook, with_kwargs=True)
               for m in model.modules() if m is model or not is_leaf(m)]
    try:
        with torch.enable_grad():
            model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return calls


def _trace_tree(module: nn.Module, name: str, calls: dict, report: TraceReport) -> nn.Module:
    """``module`` traced, or else ``module`` with its children traced where they can be."""
    if is_leaf(module):
        return module
    if module in calls:
        try:
            return _trace_one(module, name, calls[module], report)
        except Exception as e:  # noqa: BLE001 - tracing fails in many ways; all are reported
            report.untraced.append(Untraced(name, type(module).__name__, _reason(e)))
    for child_name, child in list(module.named_children()):
        new = _trace_tree(child, f"{name}.{child_name}" if name else child_name, calls, report)
        if new is not child:
            setattr(module, child_name, new)
    return module


def _trace_one(module: nn.Module, name: str, module_calls: list[Call], report: TraceReport):
    first = module_calls[0]
    gm, branches = capture(module, first.args, first.kwargs)
    ops = expose_ops(gm)
    error = max(_error(gm, call) for call in module_calls)
    if error > TOLERANCE:
        raise AutoqError(f"the traced graph's outputs differ from the module's by {error:.3g}")
    prefix = f"{name}." if name else ""
    report.traced.append(name)
    report.ops += [prefix + op for op in ops]
    report.guards += branches
    report.max_error = max(report.max_error, error)
    return gm


def _error(module: nn.Module, call: Call) -> float:
    """Largest absolute difference from the recorded output; inf if its structure differs."""
    with torch.no_grad():
        got = tree_leaves(module(*call.args, **call.kwargs))
    want = tree_leaves(call.output)
    if len(got) != len(want):
        return float("inf")
    worst = 0.0
    for g, w in zip(got, want):
        if not isinstance(w, torch.Tensor):
            if g != w:
                return float("inf")
        elif not isinstance(g, torch.Tensor) or g.shape != w.shape:
            return float("inf")
        elif w.numel():
            worst = max(worst, (g.double() - w.double()).abs().nan_to_num(0.0).max().item())
    return worst


def _reason(e: Exception) -> str:
    """The error's first line and where in the model's code it happened."""
    text = (str(e).strip().splitlines() or [""])[0]
    where = user_frame(traceback.extract_tb(e.__traceback__))
    if where != "?" and where not in text:
        text += f" (at {where})"
    return f"{type(e).__name__}: {text}"


def _note_hidden_ops(model: nn.Module, report: TraceReport) -> None:
    noted: list[str] = []
    for name, m in model.named_modules():
        if isinstance(m, HIDES_OPS) and not any(n == "" or name.startswith(n + ".") for n in noted):
            noted.append(name)
            report.notes.append(f"{name or '<model>'} ({type(m).__name__}) is a torch.nn module, "
                                f"kept whole: the matmuls inside it are not exposed")


def _eager_attention(model: nn.Module, report: TraceReport) -> None:
    """Hugging Face models: use eager attention, whose matmuls can be exposed."""
    config = getattr(model, "config", None)
    impl = getattr(config, "_attn_implementation", None)
    if impl is None or impl == "eager":
        return
    try:
        if hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation("eager")
        else:
            config._attn_implementation = "eager"
    except Exception as e:  # noqa: BLE001
        report.notes.append(f"could not switch attention from {impl!r} to 'eager' ({_reason(e)})")
        return
    report.notes.append(f"attention switched from {impl!r} to 'eager' to expose its matmuls")
