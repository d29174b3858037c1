"""A modular GRU: nn.GRU with every gate matmul and element-wise op a module, so the
engine can quantize each of them. Float output equals nn.GRU's (within float rounding).

Names follow the modular LSTM's: ``cells.<layer>`` (and ``cells_reverse.<layer>``), each
with ``fc_gate_x`` and ``fc_gate_h`` (the reset, update and new gates stacked, as in
nn.GRU's weights), ``eltwiseadd_gate`` (reset and update pre-activations), ``act_r``,
``act_z``, ``eltwisemult_reset``, ``eltwiseadd_new``, ``act_n``, ``eltwisemult_hidden_new``,
``eltwisemult_hidden_old`` and ``eltwiseadd_hidden``.
"""
from __future__ import annotations

import torch
from torch import nn

from .ops import EltwiseAdd, EltwiseMult
from .rnn import ModularRNN


class GRUCell(nn.Module):
    """One direction of one layer. ``fc_gate_x`` is applied to the whole sequence at once."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None):
        super().__init__()
        self.hidden_size = hidden_size
        self.fc_gate_x = nn.Linear(input_size, 3 * hidden_size, bias=bias, device=device)
        self.fc_gate_h = nn.Linear(hidden_size, 3 * hidden_size, bias=bias, device=device)
        self.eltwiseadd_gate = EltwiseAdd()
        self.act_r, self.act_z, self.act_n = nn.Sigmoid(), nn.Sigmoid(), nn.Tanh()
        self.eltwisemult_reset = EltwiseMult()
        self.eltwiseadd_new = EltwiseAdd()
        self.eltwisemult_hidden_new = EltwiseMult()
        self.eltwisemult_hidden_old = EltwiseMult()
        self.eltwiseadd_hidden = EltwiseAdd()

    def forward(self, gx: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor]:
        """One time step from the precomputed input projection ``gx`` (batch, 3*hidden)."""
        H = self.hidden_size
        gh = self.fc_gate_h(h)
        r, z = self.eltwiseadd_gate(gx[:, :2 * H], gh[:, :2 * H]).chunk(2, dim=-1)
        r, z = self.act_r(r), self.act_z(z)
        n = self.act_n(self.eltwiseadd_new(gx[:, 2 * H:], self.eltwisemult_reset(r, gh[:, 2 * H:])))
        h = self.eltwiseadd_hidden(self.eltwisemult_hidden_new(1 - z, n), self.eltwisemult_hidden_old(z, h))
        return (h,)


class ModularGRU(ModularRNN):
    """Drop-in replacement for nn.GRU (tensor or PackedSequence input, batch_first,
    bidirectional, several layers, inter-layer dropout in training)."""

    cell_class, states, replaces = GRUCell, 1, nn.GRU
