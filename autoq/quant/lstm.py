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
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..errors import AutoqError
from .ops import EltwiseAdd, EltwiseMult


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

    def run(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
            lengths: torch.Tensor | None, reverse: bool):
        """The whole sequence ``x`` (batch, time, features); padded steps keep the state."""
        gx = self.fc_gate_x(x)
        steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
        outs = [None] * x.shape[1]
        for t in steps:
            h_new, c_new = self(gx[:, t], h, c)
            if lengths is None:
                h, c = h_new, c_new
                outs[t] = h
            else:
                valid = (lengths > t).unsqueeze(1)
                h, c = torch.where(valid, h_new, h), torch.where(valid, c_new, c)
                outs[t] = h_new * valid
        return torch.stack(outs, dim=1), h, c


class ModularLSTM(nn.Module):
    """Drop-in replacement for nn.LSTM (tensor or PackedSequence input, batch_first,
    bidirectional, several layers, inter-layer dropout in training)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.bidirectional, self.bias = batch_first, bidirectional, bias
        dirs = 2 if bidirectional else 1
        sizes = [input_size] + [hidden_size * dirs] * (num_layers - 1)
        self.cells = nn.ModuleList(LSTMCell(s, hidden_size, bias, device) for s in sizes)
        if bidirectional:
            self.cells_reverse = nn.ModuleList(LSTMCell(s, hidden_size, bias, device) for s in sizes)
        self.dropout = nn.Dropout(dropout)

    @classmethod
    def from_lstm(cls, lstm: nn.LSTM) -> "ModularLSTM":
        if lstm.proj_size:
            raise AutoqError("LSTM with proj_size is not supported by the modular LSTM")
        # built on the meta device and given storage without initializing it: every
        # weight is copied from ``lstm`` below
        new = cls(lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bias, lstm.batch_first,
                  lstm.dropout, lstm.bidirectional, device="meta").to_empty(device=lstm.weight_ih_l0.device)
        for layer in range(lstm.num_layers):
            for suffix, cells in (("", new.cells), ("_reverse", getattr(new, "cells_reverse", None))):
                if cells is None:
                    continue
                cell, k = cells[layer], f"l{layer}{suffix}"
                cell.fc_gate_x.weight.data.copy_(getattr(lstm, f"weight_ih_{k}"))
                cell.fc_gate_h.weight.data.copy_(getattr(lstm, f"weight_hh_{k}"))
                if lstm.bias:
                    cell.fc_gate_x.bias.data.copy_(getattr(lstm, f"bias_ih_{k}"))
                    cell.fc_gate_h.bias.data.copy_(getattr(lstm, f"bias_hh_{k}"))
        return new.train(lstm.training)

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            x, lengths = pad_packed_sequence(input, batch_first=True)
            lengths = lengths.to(x.device)
        else:
            x = input.transpose(0, 1) if self.batch_first is False and input.dim() == 3 else input
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(0)
        batch, dirs = x.shape[0], 2 if self.bidirectional else 1
        if hx is None:
            zeros = x.new_zeros(self.num_layers * dirs, batch, self.hidden_size)
            hx = (zeros, zeros)
        elif unbatched:
            hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer:
                x = self.dropout(x)
            runs = [(self.cells[layer], False)]
            if self.bidirectional:
                runs.append((self.cells_reverse[layer], True))
            outs = []
            for d, (cell, reverse) in enumerate(runs):
                i = layer * dirs + d
                out, h, c = cell.run(x, hx[0][i], hx[1][i], lengths, reverse)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
        h_n, c_n = torch.stack(h_n), torch.stack(c_n)
        if unbatched:
            return x.squeeze(0), (h_n.squeeze(1), c_n.squeeze(1))
        if packed:
            x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        elif not self.batch_first:
            x = x.transpose(0, 1)
        return x, (h_n, c_n)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}, bidirectional={self.bidirectional}")


def convert_lstms(model: nn.Module) -> nn.Module:
    """Replace every nn.LSTM inside ``model`` (in place) by a ModularLSTM."""
    if isinstance(model, nn.LSTM):
        return ModularLSTM.from_lstm(model)
    for name, child in model.named_children():
        setattr(model, name, convert_lstms(child))
    return model
