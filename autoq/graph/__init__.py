"""Graph mode: quantize the functional ops of an unmodified model.

Distiller needed every add, multiply and matmul written as a module. Graph mode
traces the model on one example batch (torch.fx, with the example run alongside)
and replaces each functional ``torch.matmul``/``@``, ``torch.bmm``, ``+``/``torch.add``,
``*``/``torch.mul`` and ``torch.cat`` between activations by an op module of
``autoq.quant.ops``, named after the module that ran it::

    model, report = autoq.graph.trace(model, batch)
    # or: autoq.prepare(model, example_inputs=batch, graph=True)
    report.ops  # ['bert.encoder.layer.0.attention.self.matmul_qk', ...]

The naming rule is in ``autoq.graph.naming``. Parts that cannot be traced are left as
they are and listed in ``report.untraced`` with the reason.
"""
from .api import trace
from .report import TraceReport, TraceWarning, Untraced

__all__ = ["TraceReport", "TraceWarning", "Untraced", "trace"]
