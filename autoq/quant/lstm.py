"""A modular LSTM: nn.LSTM with every gate matmul and element-wise op a module,
so the engine can quantize each of them. Float output equals nn.LSTM's.

Names follow Distiller: ``cells.<layer>`` (and ``cells_reverse.<layer>``), each
with ``fc_gate_x``, ``fc_gate_h``, ``eltwiseadd_gate``, ``act_i/f/g/o``,
``eltwisemult_cell_forget``, ``eltwisemult_cell_input``, ``eltwiseadd_cell``,
``act_h`` and ``eltwisemult_hidden``.
"""
from __future__ import annotations

import torch
from torch import nn

from .ops import EltwiseAdd, EltwiseMult
from .rnn import ModularRNN


class LSTMCell(nn.Module):
    """One direction of one layer. ``fc_gate_x`` is applied to the whole sequence at once."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None):
        super().__init__()
        self.fc_gate_x = nn.Linear(input_size, 4 * hidden_size, bias=bias, device=device)
        self.fc_gate_h = nn.Linear(hidden_size, 4 * hidden_size, bias=bias, device=device)
        self.eltwiseadd_gate = EltwiseAdd()
        self.act_i, self.act_f, self.act_o = nn.Sigmoid(), nn.Sigmoid(), nn.Sigmoid()
        self.act_g, self.act_h = nn.Tanh(), nn.Tanh()
        self.eltwisemult_cell_forget = EltwiseMult()
        self.eltwisemult_cell_input = EltwiseMult()
        self.eltwiseadd_cell = EltwiseAdd()
        self.eltwisemult_hidden = EltwiseMult()

    def forward(self, gx: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """One time step from the precomputed input projection ``gx`` (batch, 4*hidden)."""
        i, f, g, o = self.eltwiseadd_gate(gx, self.fc_gate_h(h)).chunk(4, dim=-1)
        c = self.eltwiseadd_cell(self.eltwisemult_cell_forget(self.act_f(f), c),
                                 self.eltwisemult_cell_input(self.act_i(i), self.act_g(g)))
        h = self.eltwisemult_hidden(self.act_o(o), self.act_h(c))
        return h, c

    def skip_requantization(self) -> None:
        """Once quantized: where the gate add would requantize a gate projection onto the
        grid that projection's output was just quantized to (same statistics, same
        settings), that input is left as it is. Exact, and two quantizations fewer a step."""
        from .actquant import NoQuant, same_grid
        inputs = getattr(self.eltwiseadd_gate, "input_quants", ())
        if len(inputs) != 2:  # float, or one dynamic quantizer shared by both inputs
            return
        for i, fc in enumerate((self.fc_gate_x, self.fc_gate_h)):
            if same_grid(getattr(fc, "output_quant", None), inputs[i]):
                inputs[i] = NoQuant()


class ModularLSTM(ModularRNN):
    """Drop-in replacement for nn.LSTM (tensor or PackedSequence input, batch_first,
    bidirectional, several layers, inter-layer dropout in training)."""

    cell_class, states, replaces = LSTMCell, 2, nn.LSTM
