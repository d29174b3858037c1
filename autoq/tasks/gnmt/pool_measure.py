"""How the fidelity objective compares a GNMT recipe with FP32 on the pool
(``--task-arg pool_measure=...``):

- ``chrf`` (the default): the sentence chrF each pool sentence loses when the recipe
  greedy-decodes it instead of FP32, against the pool's German (else FP32's greedy
  translation, so that it is then a distance from FP32 again). Signed: a recipe that
  translates the pool better than FP32 scores below 0. It foretells the confirm BLEU as
  well as the search split's BLEU does (results/gnmt-multi30k/fidelity_signal.md).
- ``kl``: KL(FP32 || recipe) of the next-token distributions, teacher-forced on the pool's
  German (else FP32's greedy translations), averaged per sentence: cheaper, label-free, and
  blind to a change that gains on the task.
"""
from __future__ import annotations

import sacrebleu
import torch
from torch import nn

from .beam import translate_ids
from .corpus import decode
from .model import EOS, PAD

MEASURES = {"kl": "kl-next-token", "chrf": "chrf-drop-greedy"}  # measure -> distance_name


def greedy_chrf(model: nn.Module, tokenizer, batch) -> torch.Tensor:
    """Per sentence of a teacher-forcing batch: the sentence chrF of ``model``'s greedy
    translation against the batch's German (as the tokenizer spells it back)."""
    src, lengths, _, tgt_out = batch
    sources = [row[:n - 1].tolist() for row, n in zip(src.cpu(), lengths.tolist())]  # </s> dropped
    refs = decode(tokenizer, [[t for t in row if t not in (PAD, EOS)] for row in tgt_out.tolist()])
    ids = translate_ids(model, sources, beam_size=1, batch_size=len(sources), device=src.device)
    hyps = decode(tokenizer, ids)
    return torch.tensor([sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(hyps, refs)],
                        dtype=torch.float64)
