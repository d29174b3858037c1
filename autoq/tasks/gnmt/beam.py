"""Batched beam search with GNMT's length normalization and coverage penalty.

Hypotheses are ranked during the search by length-normalized log-probability,
lp(len) = ((len_norm_const + len) / (len_norm_const + 1)) ** len_norm_factor;
a finished hypothesis keeps its score and length. The final pick adds the coverage
penalty cov_penalty_factor * sum_src log(min(attention received, 1)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import EOS, BOS, GNMT, reorder_memory, reorder_state


def _length_penalty(length: torch.Tensor, const: float, factor: float) -> torch.Tensor:
    return ((const + length) / (const + 1.0)) ** factor


@torch.no_grad()
def beam_search(model: GNMT, src: torch.Tensor, src_lengths: torch.Tensor, beam_size: int = 5,
                max_len_a: float = 1.5, max_len_b: int = 5, len_norm_const: float = 5.0,
                len_norm_factor: float = 0.6, cov_penalty_factor: float = 0.1) -> list[list[int]]:
    """Translate one padded batch; returns token ids per sentence (without </s>).
    A sentence's output is cut at ceil(max_len_a * source length) + max_len_b tokens."""
    dev = src.device
    b, k = src.size(0), beam_size
    n = b * k
    rows = torch.arange(b, device=dev).repeat_interleave(k)
    memory = reorder_memory(model.encode(src, src_lengths), rows)
    max_len = (torch.ceil(max_len_a * src_lengths.to(dev).float()) + max_len_b).long()
    state = model.zero_state(n, memory[1])
    tokens = torch.full((n,), BOS, dtype=torch.long, device=dev)
    scores = torch.full((b, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # one live hypothesis at the start
    lengths = torch.zeros(b, k, device=dev)
    finished = torch.zeros(b, k, dtype=torch.bool, device=dev)
    coverage = torch.zeros(n, memory[0].size(1), device=dev)
    seqs = torch.zeros(b, k, 0, dtype=torch.long, device=dev)
    for t in range(int(max_len.max())):
        logits, state, attn = model.decode_step(tokens, state, memory)
        logp = F.log_softmax(logits.float(), dim=-1).view(b, k, -1)
        # a finished hypothesis only extends with </s> at no cost; at max length, force </s>
        force = finished | (t >= max_len - 1).unsqueeze(1)
        eos_logp = torch.where(finished, torch.zeros_like(scores), logp[..., EOS])
        logp = logp.masked_fill(force.unsqueeze(-1), float("-inf"))
        logp[..., EOS] = torch.where(force, eos_logp, logp[..., EOS])
        cand = scores.unsqueeze(-1) + logp  # (b, k, V)
        cand_len = lengths + (~finished).float()
        norm = cand / _length_penalty(cand_len, len_norm_const, len_norm_factor).unsqueeze(-1)
        vocab = cand.size(-1)
        _, idx = norm.view(b, -1).topk(k, dim=1)
        beam, tok = idx // vocab, idx % vocab
        scores = cand.view(b, -1).gather(1, idx)
        lengths = cand_len.gather(1, beam)
        was_finished = finished.gather(1, beam)
        finished = was_finished | (tok == EOS)
        src_rows = (beam + torch.arange(b, device=dev).unsqueeze(1) * k).view(-1)
        state = reorder_state(state, src_rows)
        coverage = coverage.index_select(0, src_rows) + attn.index_select(0, src_rows) * (
            ~was_finished).view(-1, 1).float()
        seqs = torch.cat([seqs.view(n, -1).index_select(0, src_rows).view(b, k, -1),
                          tok.unsqueeze(-1)], dim=-1)
        tokens = tok.view(-1)
        if bool(finished.all()):
            break
    final = scores / _length_penalty(lengths, len_norm_const, len_norm_factor)
    if cov_penalty_factor:
        cov = coverage.clamp(min=1e-10, max=1.0).log().masked_fill(~memory[2], 0.0)
        final = final + cov_penalty_factor * cov.sum(1).view(b, k)
    best = final.argmax(1)
    out = []
    for i, hyp in enumerate(seqs[torch.arange(b, device=dev), best].tolist()):
        out.append(hyp[:hyp.index(EOS)] if EOS in hyp else hyp)
    return out


def length_batches(sources: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of ``sources``, shortest first, cut into batches (little padding)."""
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def translate_ids(model: GNMT, sources: list[list[int]], beam_size: int = 5, batch_size: int = 128,
                  device: str | torch.device = "cpu", **kwargs) -> list[list[int]]:
    """Beam search over many sentences (token ids, no </s>), batched in length order;
    outputs come back in input order."""
    from .corpus import source_batch  # here to keep the model/beam modules independent

    out: list[list[int]] = [[] for _ in sources]
    for chunk in length_batches(sources, batch_size):
        src, lengths = source_batch([sources[i] for i in chunk])
        hyps = beam_search(model, src.to(device), lengths.to(device), beam_size=beam_size, **kwargs)
        for i, h in zip(chunk, hyps):
            out[i] = h
    return out
