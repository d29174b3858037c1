"""The gnmt-multi30k task: GNMT English->German on Multi30k, scored by sacreBLEU."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import sacrebleu
import torch
from torch import nn

from ...errors import AutoqError
from ..base import Score, Split, Task, parts_label, run_parts
from .beam import length_batches, translate_ids
from .checkpoint import ASSET_DIR, WEIGHTS, load_model, load_tokenizer
from .corpus import (SPLIT_FILES, decode, encode, parallel_files, read_lines, read_parallel,
                     teacher_batch)
from .model import PAD, with_plain_ops
from .pool_measure import MEASURES
from ..data import data_file, source_label
from ..pool import check_pool, read_rows, sample, without_note
from ...fidelity import text_digest

SPLIT_DATA = {"search": "val", "confirm": "test"}  # search on val, confirm on test_2016_flickr
# signature label -> (file names, digest of their lines): a score of these reads as before
BUILTIN = {"split=val": (("val.en.gz", "val.de.gz"), "b72498e47488"),
           "split=test_2016_flickr": (("test_2016_flickr.en.gz", "test_2016_flickr.de.gz"),
                                      "9cecab8772c4")}


def sentence_stats(bleu: sacrebleu.BLEU, hyps: list[str], refs: list[str]) -> np.ndarray:
    """Per sentence: sacrebleu's sufficient statistics (hypothesis length, reference length,
    n-gram matches and totals for n = 1 to 4), whose sum is the corpus's."""
    rows = []
    for hyp, ref in zip(hyps, refs):
        s = bleu.corpus_score([hyp], [[ref]])
        rows.append([s.sys_len, s.ref_len, *s.counts, *s.totals])
    return np.array(rows, dtype=float).reshape(len(rows), 2 + 2 * bleu.max_ngram_order)


def summed_bleu(bleu: sacrebleu.BLEU, sums: np.ndarray) -> float:
    """Corpus BLEU of summed ``sentence_stats``, by ``bleu``'s settings."""
    k = bleu.max_ngram_order
    counts, totals = [int(c) for c in sums[2:2 + k]], [int(t) for t in sums[2 + k:]]
    return bleu.compute_bleu(counts, totals, int(sums[0]), int(sums[1]), smooth_method=bleu.smooth_method,
                             smooth_value=bleu.smooth_value, effective_order=bleu.effective_order,
                             max_ngram_order=k).score


class GNMTMulti30k(Task):
    """BLEU of beam-search translations (detokenized, cased) against raw references.
    ``search``/``confirm``: a user's pair of files ("my.en,my.de") scored instead of val or
    test_2016_flickr; a score's signature names the files it was scored on."""

    name = "gnmt-multi30k"
    metric_name = "bleu"
    direction = "maximize"
    reuses_outputs = True

    def __init__(self, beam_size: int = 5, batch_size: int = 128, calib_batches: int = 8,
                 calib_batch_size: int = 64, calib_seed: int = 0, asset_dir: str | Path = ASSET_DIR,
                 plain_ops: bool = False, pool_size: int = 1024, pool_batch_size: int = 64,
                 search: str | tuple | None = None, confirm: str | tuple | None = None,
                 pool_measure: str = "chrf"):
        """``plain_ops``: the model without its op modules (``model.with_plain_ops``), to be
        quantized in graph mode. ``pool_measure``: how the fidelity objective compares a
        recipe with FP32 on the pool (``pool_measure.py``)."""
        if beam_size < 1 or batch_size < 1:
            raise AutoqError(f"gnmt-multi30k: beam_size and batch_size must be >= 1, "
                             f"got {beam_size} and {batch_size}")
        if pool_measure not in MEASURES:
            raise AutoqError(f"gnmt-multi30k: pool_measure {pool_measure!r} is not known "
                             f"(allowed: {', '.join(MEASURES)})")
        self.pool_measure, self.measure = pool_measure, MEASURES[pool_measure]
        self.distance_name = self.measure.name
        self.beam_size, self.batch_size = beam_size, batch_size
        self.calib_batches, self.calib_batch_size, self.calib_seed = calib_batches, calib_batch_size, calib_seed
        self.asset_dir, self.plain_ops = Path(asset_dir), plain_ops
        if not (self.asset_dir / WEIGHTS).is_file():
            raise AutoqError(f"gnmt-multi30k: no trained checkpoint at {self.asset_dir / WEIGHTS}; "
                             f"train one with `python -m autoq.tasks.gnmt.train --out DIR` and copy "
                             f"DIR/best/* there")
        self.tokenizer = load_tokenizer(self.asset_dir)
        self._splits: dict[str, tuple[list[list[int]], list[str]]] = {}
        self._texts: dict[str, tuple[list[str], list[str], str]] = {}
        given = {"search": search, "confirm": confirm}
        self.files = {split: parallel_files(spec, split) for split, spec in given.items() if spec is not None}
        for split in self.files:  # a bad file is refused now, before any model is built
            self._text(split)
        self._calib: list | None = None
        self.pool_size, self.pool_batch_size = pool_size, pool_batch_size
        self.pool_name = f"multi30k-train|n={pool_size}|seed={calib_seed}"
        self._pool: tuple[list[str], list[str] | None] | None = None  # (English, German or None)
        self._pool_batches: list | None = None

    def build_model(self) -> nn.Module:
        model = load_model(self.asset_dir)
        return with_plain_ops(model) if self.plain_ops else model

    def calibration_batches(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Teacher-forcing inputs (src, src_lengths, tgt_in) from a fixed seeded subset of train,
        grouped by length."""
        if self._calib is None:
            src, tgt = read_lines("train", "en"), read_lines("train", "de")
            pick = self._calibration_picks()
            pick.sort(key=lambda i: len(src[i]))  # similar lengths per batch: little padding
            src_ids, tgt_ids = encode(self.tokenizer, [src[i] for i in pick]), encode(self.tokenizer, [tgt[i] for i in pick])
            n = self.calib_batch_size
            self._calib = [teacher_batch(src_ids[i:i + n], tgt_ids[i:i + n])[:3] for i in range(0, len(pick), n)]
        return self._calib

    def _calibration_picks(self) -> list[int]:
        src = read_lines("train", "en")
        return random.Random(self.calib_seed).sample(range(len(src)), self.calib_batches * self.calib_batch_size)

    def judged_sources(self) -> set[str]:
        """The English sentences of the splits a front is judged on (by default val and test)."""
        return {line for split in SPLIT_DATA for line in self._text(split)[0]}

    def pool_batches(self) -> list[tuple[torch.Tensor, ...]]:
        """Teacher-forcing batches (src, src_lengths, tgt_in, tgt_out) of the pool, whose
        German (tgt_out) the chrF measure scores against: by default ``pool_size`` train
        pairs that are neither calibration pairs nor sentences of val or test; a pool
        without German (``--pool``) takes FP32's greedy translations as its German."""
        if self._pool_batches is None:
            if self._pool is None:
                en, de = read_lines("train", "en"), read_lines("train", "de")
                builtin = {line for data in SPLIT_DATA.values() for line in read_lines(data, "en")}
                calib, judged = set(self._calibration_picks()), self.judged_sources() | builtin
                picked = sample(len(en), lambda i: i not in calib and en[i] not in judged,
                                self.pool_size, self.calib_seed + 1)
                self._pool = ([en[i] for i in picked], [de[i] for i in picked])
                self.pool_name += without_note(en, builtin, judged)  # a user's files took some out
            en, de = self._pool
            src = encode(self.tokenizer, en)
            tgt = encode(self.tokenizer, de) if de is not None else self._greedy(src)
            n = self.pool_batch_size
            order = self.measure.order(src, tgt)
            self._pool_batches = [teacher_batch([src[i] for i in order[k:k + n]], [tgt[i] for i in order[k:k + n]])
                                  for k in range(0, len(order), n)]
        return self._pool_batches

    def _greedy(self, src: list[list[int]]) -> list[list[int]]:
        model = self.build_model().eval()
        with torch.no_grad():
            return translate_ids(model, src, beam_size=1, batch_size=self.batch_size)

    def pool_from_file(self, path: Path) -> None:
        """English sentences, one a line, each optionally followed by a tab and a German
        reference (else FP32's greedy translation)."""
        rows = read_rows(Path(path), (1, 2), "an English sentence, optionally a German one")
        en = [r[0] for r in rows]
        de = [r[1] for r in rows] if all(len(r) == 2 for r in rows) else None
        check_pool(Path(path), en, self.judged_sources(), "sentence")
        self._pool, self._pool_batches = (en, de), None
        self.pool_batch_size = min(self.pool_batch_size, max(1, len(en) // 4))
        self.pool_name = f"file:{Path(path).name}|n={len(en)}|sha={text_digest(en + (de or []))}"

    def log_probs(self, model: nn.Module, batch):
        """Next-token log-probabilities, teacher-forced; the mask keeps the target's tokens."""
        src, lengths, tgt_in, tgt_out = batch
        logits = model(src, lengths, tgt_in)
        return torch.log_softmax(logits.float(), dim=-1), tgt_out != PAD

    def pool_outputs(self, model: nn.Module, batch):
        return self.measure.outputs(self, model, batch)

    def distance(self, reference: torch.Tensor, other: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.measure.distance(reference, other, mask)

    def split_files(self, split: str) -> tuple[Path, Path]:
        """The English and German files of a judged split: the user's, else Multi30k's."""
        if split in self.files:
            return self.files[split]
        name = SPLIT_FILES[SPLIT_DATA[split]]
        return data_file("multi30k", f"{name}.en.gz"), data_file("multi30k", f"{name}.de.gz")

    def _text(self, split: str) -> tuple[list[str], list[str], str]:
        """A judged split's English, German and signature label (``source_label``)."""
        if split not in SPLIT_DATA:
            raise AutoqError(f"gnmt-multi30k: unknown split {split!r}; use one of {', '.join(SPLIT_DATA)}")
        if split not in self._texts:
            en_path, de_path = self.split_files(split)
            en, de = read_parallel(en_path, de_path, f"gnmt-multi30k {split} file")
            label = source_label((en_path.name, de_path.name), text_digest(en + de), BUILTIN)
            self._texts[split] = (en, de, label)
        return self._texts[split]

    def split_label(self, split: str) -> str:
        """How a score's signature names the split's data: "split=val" for Multi30k's,
        "split=file:my.en,my.de@sha256:..." for other files."""
        return self._text(split)[2]

    def _split(self, split: str) -> tuple[list[list[int]], list[str]]:
        if split not in self._splits:
            en, de, _ = self._text(split)
            self._splits[split] = (encode(self.tokenizer, en), de)
        return self._splits[split]

    def translate(self, model: nn.Module, sentences: list[str], device: str = "cpu") -> list[str]:
        """Detokenized German for raw English sentences (beam search)."""
        return self._translate(model, encode(self.tokenizer, sentences), device)

    def _translate(self, model: nn.Module, src_ids: list[list[int]], device: str) -> list[str]:
        was_training = model.training
        model.to(device).eval()
        try:
            with torch.no_grad():
                ids = translate_ids(model, src_ids, beam_size=self.beam_size, batch_size=self.batch_size,
                                    device=device)
        finally:
            model.train(was_training)
        return decode(self.tokenizer, ids)

    def evaluate(self, model: nn.Module, split: Split = "confirm", fraction: float = 1.0,
                 device: str = "cpu", memo: dict | None = None) -> Score:
        """Corpus BLEU on val ("search") or test_2016_flickr ("confirm"), or a user's files
        in their place, translated in batches of similar length; a fraction below 1 scores an
        evenly spread share of those batches (``run_parts``), whose translations ``memo``
        keeps for the whole."""
        if not 0 < fraction <= 1:
            raise AutoqError(f"gnmt-multi30k: fraction must be in (0, 1], got {fraction}")
        src, refs = self._split(split)
        batches = length_batches(src, self.batch_size)  # as translate_ids cuts the whole split
        hyps = run_parts(batches, fraction, lambda b: self._translate(model, [src[i] for i in b], device),
                         memo, (split, self.batch_size))
        picked = sorted(hyps)
        n = len(picked)
        bleu = sacrebleu.BLEU()
        examples = sentence_stats(bleu, [hyps[i] for i in picked], [refs[i] for i in picked])
        signature = (f"{bleu.get_signature()}|{self.split_label(split)}|n={n}"
                     f"|beam={self.beam_size}{parts_label(len(batches), fraction)}")
        return Score(metric=summed_bleu(bleu, examples.sum(0)), metric_name="bleu", signature=signature,
                     n=n, examples=examples)  # corpus BLEU: what bleu.corpus_score sums up alike

    def summed_metric(self, sums):
        return summed_bleu(sacrebleu.BLEU(), sums)
