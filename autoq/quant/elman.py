"""A modular Elman RNN: nn.RNN (tanh or relu) with its gate matmuls and add modules, so
the engine can quantize each of them. Float output equals nn.RNN's (within float rounding).

Names follow the modular LSTM's: ``cells.<layer>`` (and ``cells_reverse.<layer>``), each
with ``fc_gate_x``, ``fc_gate_h``, ``eltwiseadd_gate`` and ``act`` (Tanh or ReLU).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import AutoqError
from .ops import EltwiseAdd
from .rnn import ModularRNN

ACTS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class ElmanCell(nn.Module):
    """One direction of one layer. ``fc_gate_x`` is applied to the whole sequence at once."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 nonlinearity: str = "tanh"):
        super().__init__()
        if nonlinearity not in ACTS:
            raise AutoqError(f"nn.RNN nonlinearity {nonlinearity!r}: expected one of {sorted(ACTS)}")
        self.fc_gate_x = nn.Linear(input_size, hidden_size, bias=bias, device=device)
        self.fc_gate_h = nn.Linear(hidden_size, hidden_size, bias=bias, device=device)
        self.eltwiseadd_gate = EltwiseAdd()
        self.act = ACTS[nonlinearity]()

    def forward(self, gx: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor]:
        """One time step from the precomputed input projection ``gx`` (batch, hidden)."""
        return (self.act(self.eltwiseadd_gate(gx, self.fc_gate_h(h))),)


class ModularElmanRNN(ModularRNN):
    """Drop-in replacement for nn.RNN (tensor or PackedSequence input, batch_first,
    bidirectional, several layers, inter-layer dropout in training, tanh or relu)."""

    cell_class, states, replaces = ElmanCell, 1, nn.RNN

    def __init__(self, *args, nonlinearity: str = "tanh", **kwargs):
        super().__init__(*args, nonlinearity=nonlinearity, **kwargs)
        self.nonlinearity = nonlinearity

    @classmethod
    def cell_options(cls, rnn: nn.RNNBase) -> dict:
        return {"nonlinearity": rnn.nonlinearity}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"
