"""What the modular LSTM, GRU and Elman RNN share: the layers and directions of cells, the
run over a sequence (padded steps keep their state), and torch's input forms (tensor or
PackedSequence, batch_first, unbatched, initial state). A subclass names its cell, how
many state tensors a step carries (LSTM: h and c; GRU, RNN: h) and the torch class it
replaces; that registry (``twins``) is the one list of torch RNN classes autoq covers."""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..errors import AutoqError


def run_cell(cell: nn.Module, x: torch.Tensor, state: tuple[torch.Tensor, ...],
             lengths: torch.Tensor | None, reverse: bool):
    """``cell`` over the whole sequence ``x`` (batch, time, features) from ``state``;
    returns the outputs (batch, time, hidden) and the last state."""
    gx = cell.fc_gate_x(x)
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    outs = [None] * x.shape[1]
    for t in steps:
        new = cell(gx[:, t], *state)
        if lengths is None:
            state = new
            outs[t] = new[0]
        else:
            valid = (lengths > t).unsqueeze(1)
            state = tuple(torch.where(valid, n, s) for n, s in zip(new, state))
            outs[t] = new[0] * valid
    return torch.stack(outs, dim=1), state


_TWINS: dict[type, type] = {}  # torch's RNN class -> its modular twin


class ModularRNN(nn.Module):
    """A modular twin of a torch RNN class (``replaces``): layers and directions of cells of
    ``cell_class``, each step carrying ``states`` tensors."""

    cell_class: type = nn.Module
    states: int = 1
    replaces: type | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.replaces is not None:
            _TWINS[cls.replaces] = cls

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, **options):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.bidirectional, self.bias = batch_first, bidirectional, bias
        dirs = 2 if bidirectional else 1
        sizes = [input_size] + [hidden_size * dirs] * (num_layers - 1)
        layers = lambda: nn.ModuleList(  # noqa: E731
            self.cell_class(s, hidden_size, bias, device, **options) for s in sizes)
        self.cells = layers()
        if bidirectional:
            self.cells_reverse = layers()
        self.dropout = nn.Dropout(dropout)

    @classmethod
    def cell_options(cls, rnn: nn.RNNBase) -> dict:
        """Keywords for the cells that ``rnn`` carries beyond the common ones (nn.RNN:
        its nonlinearity); copied_from passes them on."""
        return {}

    @classmethod
    def copied_from(cls, rnn: nn.RNNBase) -> "ModularRNN":
        """The modular twin of torch's ``rnn``, its weights copied (built on the meta device
        and given storage without initializing it)."""
        if getattr(rnn, "proj_size", 0):
            raise AutoqError(f"{type(rnn).__name__} with proj_size is not supported by the modular RNN")
        new = cls(rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.bias, rnn.batch_first,
                  rnn.dropout, rnn.bidirectional, device="meta", **cls.cell_options(rnn))
        new = new.to_empty(device=rnn.weight_ih_l0.device)
        for layer in range(rnn.num_layers):
            for suffix, cells in (("", new.cells), ("_reverse", getattr(new, "cells_reverse", None))):
                if cells is None:
                    continue
                cell, k = cells[layer], f"l{layer}{suffix}"
                cell.fc_gate_x.weight.data.copy_(getattr(rnn, f"weight_ih_{k}"))
                cell.fc_gate_h.weight.data.copy_(getattr(rnn, f"weight_hh_{k}"))
                if rnn.bias:
                    cell.fc_gate_x.bias.data.copy_(getattr(rnn, f"bias_ih_{k}"))
                    cell.fc_gate_h.bias.data.copy_(getattr(rnn, f"bias_hh_{k}"))
        return new.train(rnn.training)

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
        dirs = 2 if self.bidirectional else 1
        if hx is None:
            hx = (x.new_zeros(self.num_layers * dirs, x.shape[0], self.hidden_size),) * self.states
        else:
            hx = (hx,) if self.states == 1 else tuple(hx)
            if unbatched:
                hx = tuple(h.unsqueeze(1) for h in hx)
        last = []
        for layer in range(self.num_layers):
            if layer:
                x = self.dropout(x)
            runs = [(self.cells[layer], False)] + ([(self.cells_reverse[layer], True)] if self.bidirectional else [])
            outs = []
            for d, (cell, reverse) in enumerate(runs):
                i = layer * dirs + d
                out, state = run_cell(cell, x, tuple(h[i] for h in hx), lengths, reverse)
                outs.append(out)
                last.append(state)
            x = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
        final = tuple(torch.stack([s[k] for s in last]) for k in range(self.states))
        if unbatched:
            x, final = x.squeeze(0), tuple(f.squeeze(1) for f in final)
        elif packed:
            x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        elif not self.batch_first:
            x = x.transpose(0, 1)
        return x, (final[0] if self.states == 1 else final)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}, bidirectional={self.bidirectional}")


def twins() -> dict[type, type]:
    """torch's RNN classes autoq makes modular, each with its modular twin."""
    from . import elman, gru, lstm  # noqa: F401  (each registers its twin)
    return dict(_TWINS)


def convert_rnns(model: nn.Module) -> nn.Module:
    """Replace every torch RNN of ``twins`` inside ``model`` (in place) by its modular twin."""
    for torch_class, twin in twins().items():
        if isinstance(model, torch_class):
            return twin.copied_from(model)
    for name, child in model.named_children():
        setattr(model, name, convert_rnns(child))
    return model


def has_rnns(model: nn.Module) -> bool:
    """Whether a torch RNN of ``twins`` is left in ``model`` (not yet modular)."""
    kinds = tuple(twins())
    return any(isinstance(m, kinds) for m in model.modules())


def modular(model: nn.Module) -> nn.Module:
    """``model`` itself when no torch RNN is left in it, else a copy with them modular."""
    return convert_rnns(copy.deepcopy(model)) if has_rnns(model) else model
