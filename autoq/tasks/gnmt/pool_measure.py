"""How the fidelity objective compares a GNMT recipe with FP32 on the pool
(``--task-arg pool_measure=...``): one ``PoolMeasure`` per entry of ``MEASURES``, which
says what a model gives on a pool batch, how far that is from FP32's, and how the pool is
cut into batches. A new measure is one more class and one more entry.

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

from abc import ABC, abstractmethod

import sacrebleu
import torch
from torch import nn

from ..base import kl_distance
from .beam import translate_ids
from .corpus import decode
from .model import EOS, PAD


class PoolMeasure(ABC):
    """One way to compare a recipe with FP32 on teacher-forcing pool batches
    (src, src_lengths, tgt_in, tgt_out)."""

    name: str  # the distance's name in a study's record and a fidelity's signature

    @abstractmethod
    def outputs(self, task, model: nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What ``model`` gives on one pool batch, and a mask of what counts (None: all)."""

    @abstractmethod
    def distance(self, reference: torch.Tensor, other: torch.Tensor,
                 mask: torch.Tensor | None) -> torch.Tensor:
        """Per sentence, how far ``other`` is from FP32's ``reference`` (0 when equal)."""

    def order(self, src: list[list[int]], tgt: list[list[int]]) -> list[int]:
        """The pool's sentences in batch order: by target length, then source length, so
        that teacher forcing pads little."""
        return sorted(range(len(src)), key=lambda i: (len(tgt[i]), len(src[i])))


class NextTokenKL(PoolMeasure):
    name = "kl-next-token"

    def outputs(self, task, model, batch):
        return task.log_probs(model, batch)

    def distance(self, reference, other, mask):
        return kl_distance(reference, other, mask)


class GreedyChrfDrop(PoolMeasure):
    name = "chrf-drop-greedy"

    def outputs(self, task, model, batch):
        return greedy_chrf(model, task.tokenizer, batch), None

    def distance(self, reference, other, mask):
        return reference - other  # the chrF points lost against the pool's German

    def order(self, src, tgt):
        # decoded: batched by source length as a split is, since a quantized model's greedy
        # output depends on its batch (dynamic activation ranges are per batch)
        return sorted(range(len(src)), key=lambda i: (len(src[i]), len(tgt[i])))


MEASURES: dict[str, PoolMeasure] = {"kl": NextTokenKL(), "chrf": GreedyChrfDrop()}


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
