"""GNMT for English->German, laid out like MLPerf's rnn_translator GNMT.

Written the Distiller way so the quantization engine sees every op: each add, multiply,
matmul and concat on activations goes through an ``autoq.quant.ops`` module, and each LSTM
is a plain ``nn.LSTM`` called as ``lstm(x, hx) -> (out, (h, c))`` (batch first).

The source and target share one vocabulary and one embedding matrix: ``encoder.embedder``
and ``decoder.embedder`` are two ``nn.Embedding`` modules holding the same weight
Parameter, so each is visible to the engine (and to override regexes) under its own name.
The decoder starts from zero states, as in MLPerf's reference; they are passed in
explicitly (``GNMT.zero_state``), so the decoder is one tensor-in, tensor-out function
that graph mode can trace (``graph_roots``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ...quant.ops import BatchMatmul, Concat, EltwiseAdd, EltwiseMult, Matmul

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]

State = list  # one (h, c) pair per decoder LSTM: att_rnn.rnn, then rnn_layers.*
Memory = tuple  # (keys, values, mask): projected keys, encoder outputs, valid positions


@dataclass
class GNMTConfig:
    vocab_size: int = 8000
    hidden_size: int = 256
    num_layers: int = 4  # encoder LSTM layers; the decoder has att_rnn + num_layers - 1
    dropout: float = 0.2


class ResidualRecurrentEncoder(nn.Module):
    """Bidirectional layer 0, then unidirectional layers; residual adds from layer 2 on."""

    def __init__(self, cfg: GNMTConfig, embedder: nn.Embedding):
        super().__init__()
        h = cfg.hidden_size
        self.embedder = embedder
        self.rnn_layers = nn.ModuleList(
            [nn.LSTM(h, h, batch_first=True, bidirectional=True), nn.LSTM(2 * h, h, batch_first=True)]
            + [nn.LSTM(h, h, batch_first=True) for _ in range(cfg.num_layers - 2)])
        self.eltwiseadd_residuals = nn.ModuleList(EltwiseAdd() for _ in range(cfg.num_layers - 2))
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        x = self.embedder(src)
        for i, rnn in enumerate(self.rnn_layers):
            y, _ = rnn(self.dropout(x), None)
            x = self.eltwiseadd_residuals[i - 2](y, x) if i >= 2 else y
        return x


class BahdanauAttention(nn.Module):
    """Normalized additive attention: v_n . tanh(Wq q + Wk k + b), v_n = g * v / |v|."""

    def __init__(self, hidden_size: int):
        super().__init__()
        h = hidden_size
        self.linear_q = nn.Linear(h, h, bias=False)
        self.linear_k = nn.Linear(h, h, bias=False)
        self.linear_att = nn.Parameter(torch.empty(h).uniform_(-0.1, 0.1))
        # MLPerf starts the scale at 1/sqrt(h); on a small corpus attention then stays diffuse for
        # epochs, so it starts at 1 here (attention logits up to +-sqrt(h))
        self.normalize_scalar = nn.Parameter(torch.tensor(1.0))
        self.normalize_bias = nn.Parameter(torch.zeros(h))
        self.eltwiseadd_qk = EltwiseAdd()
        self.eltwiseadd_norm_bias = EltwiseAdd()
        self.eltwisemul_norm_scaler = EltwiseMult()
        self.matmul_score = Matmul()
        self.tanh = nn.Tanh()
        self.softmax = nn.Softmax(dim=-1)
        self.context_matmul = BatchMatmul()

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Tq, H); keys = linear_k(values) (B, Tk, H); mask (B, Tk) True where valid.
        Returns the context (B, Tq, H) and the attention weights (B, Tq, Tk)."""
        b, tk, h = keys.shape
        q = self.linear_q(query)
        shape = (b, q.size(1), tk, h)
        s = self.eltwiseadd_qk(q.unsqueeze(2).expand(shape), keys.unsqueeze(1).expand(shape))
        s = self.eltwiseadd_norm_bias(s, self.normalize_bias.expand(shape))
        v = self.linear_att / self.linear_att.norm()  # a function of parameters only
        v = self.eltwisemul_norm_scaler(v, self.normalize_scalar.expand_as(v))
        scores = self.matmul_score(self.tanh(s), v.unsqueeze(-1)).squeeze(-1)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        probs = self.softmax(scores)
        return self.context_matmul(probs, values), probs


class RecurrentAttention(nn.Module):
    """The decoder's first LSTM; its output is the attention query."""

    def __init__(self, hidden_size: int, dropout: float):
        super().__init__()
        self.rnn = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.attn = BahdanauAttention(hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, hx, memory: Memory):
        y, hx = self.rnn(x, hx)
        context, probs = self.attn(self.dropout(y), *memory)
        return y, hx, context, probs


class Classifier(nn.Module):
    def __init__(self, hidden_size: int, vocab_size: int):
        super().__init__()
        self.classifier = nn.Linear(hidden_size, vocab_size)

    def forward(self, x):
        return self.classifier(x)


class ResidualRecurrentDecoder(nn.Module):
    """att_rnn, then LSTMs fed [hidden, context]; residual adds from rnn_layers.1 on."""

    def __init__(self, cfg: GNMTConfig, embedder: nn.Embedding):
        super().__init__()
        h, n = cfg.hidden_size, cfg.num_layers - 1
        self.embedder = embedder
        self.att_rnn = RecurrentAttention(h, cfg.dropout)
        self.rnn_layers = nn.ModuleList(nn.LSTM(2 * h, h, batch_first=True) for _ in range(n))
        self.concat_inputs = nn.ModuleList(Concat(2) for _ in range(n))
        self.eltwiseadd_residuals = nn.ModuleList(EltwiseAdd() for _ in range(n - 1))
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = Classifier(h, cfg.vocab_size)

    def forward(self, tgt: torch.Tensor, state: State, memory: Memory):
        """tgt (B, T) tokens; returns logits (B, T, V), the new state, attention (B, T, Tk)."""
        x = self.dropout(self.embedder(tgt))
        x, hx, context, probs = self.att_rnn(x, state[0], memory)
        new_state = [hx]
        for i, rnn in enumerate(self.rnn_layers):
            y, hx = rnn(self.dropout(self.concat_inputs[i](x, context)), state[i + 1])
            new_state.append(hx)
            x = self.eltwiseadd_residuals[i - 1](y, x) if i >= 1 else y
        return self.classifier(self.dropout(x)), new_state, probs


class GNMT(nn.Module):
    """``model(src, src_lengths, tgt_in) -> logits`` (teacher forcing); ``encode``,
    ``zero_state`` and ``decode_step`` are what beam search uses."""

    graph_roots = ("encoder", "decoder")  # beam search drives these, not forward

    def __init__(self, cfg: GNMTConfig):
        super().__init__()
        self.config = cfg
        embedder = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=PAD)
        self.encoder = ResidualRecurrentEncoder(cfg, embedder)
        self.decoder = ResidualRecurrentDecoder(
            cfg, nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=PAD))
        self.decoder.embedder.weight = embedder.weight  # one shared matrix
        for p in self.parameters():  # GNMT's uniform init
            if p.dim() > 0:
                nn.init.uniform_(p, -0.1, 0.1)
        with torch.no_grad():
            embedder.weight[PAD].zero_()
            self.decoder.att_rnn.attn.normalize_bias.zero_()

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Memory:
        values = self.encoder(src)
        keys = self.decoder.att_rnn.attn.linear_k(values)
        mask = torch.arange(src.size(1), device=src.device) < src_lengths.to(src.device).unsqueeze(1)
        return keys, values, mask

    def zero_state(self, batch_size: int, like: torch.Tensor) -> State:
        """The decoder's initial (h, c) per LSTM, zeros shaped (1, B, H)."""
        h = torch.zeros(1, batch_size, self.config.hidden_size, dtype=like.dtype, device=like.device)
        return [(h, h) for _ in range(self.config.num_layers)]  # att_rnn + rnn_layers

    def decode_step(self, tokens: torch.Tensor, state: State, memory: Memory):
        """One token per row: returns logits (B, V), the new state, attention (B, Tk)."""
        logits, state, probs = self.decoder(tokens.unsqueeze(1), state, memory)
        return logits.squeeze(1), state, probs.squeeze(1)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory = self.encode(src, src_lengths)
        return self.decoder(tgt_in, self.zero_state(src.size(0), memory[1]), memory)[0]


def reorder_state(state: State, index: torch.Tensor) -> State:
    """Pick batch rows of every (h, c), shaped (layers, B, H)."""
    return [(h.index_select(1, index), c.index_select(1, index)) for h, c in state]


def reorder_memory(memory: Memory, index: torch.Tensor) -> Memory:
    return tuple(t.index_select(0, index) for t in memory)


def _cat(*inputs: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.cat(inputs, dim=dim)


PLAIN_OPS = {EltwiseAdd: lambda m: torch.add, EltwiseMult: lambda m: torch.mul,
             Matmul: lambda m: torch.matmul, BatchMatmul: lambda m: torch.bmm,
             Concat: lambda m: partial(_cat, dim=m.dim)}


def with_plain_ops(model: GNMT) -> GNMT:
    """``model`` (in place) with each op module swapped for the plain torch function it
    wraps: GNMT as it would be written without Distiller's rewrite, for graph mode to
    find the ops again. Lists of op modules become plain lists."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) in PLAIN_OPS:
                plain = PLAIN_OPS[type(child)](child)
            elif isinstance(child, nn.ModuleList) and child and all(type(c) in PLAIN_OPS for c in child):
                plain = [PLAIN_OPS[type(c)](c) for c in child]
            else:
                continue
            del module._modules[name]
            setattr(module, name, plain)
    return model
