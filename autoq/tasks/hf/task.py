"""The hf-text-classification task: any local Hugging Face sequence-classification
checkpoint, scored by accuracy (or F1 of one class) on a CSV or TSV file's labels."""
from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import AutoqError
from ...fidelity import text_digest
from ..base import SPLITS, Score, Task, evaluating, parts_label, run_parts
from ..pool import check_pool
from . import table
from .checkpoint import load_model, load_tokenizer, read_config
from .options import NAMES, TASK, bad, options

CALIB_EXAMPLES, CALIB_BATCH = 128, 16


class Encoded:
    """A split's examples, tokenised per batch and padded to its longest member."""

    def __init__(self, tokenizer, rows: list[table.Example], max_length: int):
        self.tokenizer, self.rows, self.max_length = tokenizer, rows, max_length
        self.lengths = [len(ids) for ids in self._tokens(range(len(rows)))["input_ids"]]

    def _tokens(self, idx, **kwargs):
        picked = [self.rows[i] for i in idx]
        pairs = [r.pair for r in picked] if picked and picked[0].pair is not None else None
        return self.tokenizer([r.text for r in picked], pairs, truncation=True,
                              max_length=self.max_length, **kwargs)

    def batch(self, idx: list[int]) -> dict[str, torch.Tensor]:
        return dict(self._tokens(idx, padding=True, return_tensors="pt"))

    def sorted_batches(self, size: int) -> list[list[int]]:
        """Every example, longest first, cut into batches: for fast inference."""
        order = sorted(range(len(self.rows)), key=lambda i: -self.lengths[i])
        return [order[s:s + size] for s in range(0, len(order), size)]


def file_label(path: Path) -> str:
    return f"{path.name}@sha256:{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


def logits_of(out) -> torch.Tensor:
    """Logits from an HF output, a dict, a tuple or a bare tensor (traced models)."""
    if hasattr(out, "logits"):
        return out.logits
    return out["logits"] if isinstance(out, dict) else out[0] if isinstance(out, (tuple, list)) else out


class HFTextClassification(Task):
    """Arguments as ``--task-arg key=value`` (options.Options; docs/tasks.md), or a YAML
    file of them as ``config=FILE``."""

    name = TASK
    direction = "maximize"
    reuses_outputs = True

    def __init__(self, model=None, data=None, search=None, confirm=None, pool=None, text=None,
                 text_pair=None, label=None, metric=None, positive=None, seed=None,
                 max_length=None, batch_size=None, search_size=None, confirm_size=None,
                 max_rows=None, config=None):
        given = {k: v for k, v in locals().items() if k in NAMES}
        self.opts = o = options(given, config)
        hf_config = read_config(o.model)
        self.classes = int(hf_config.num_labels)
        self.label2id = {str(k): int(v) for k, v in (hf_config.label2id or {}).items()}
        self.metric_name, self.batch_size = o.metric, o.batch_size
        self.positive = self._positive()
        self._read_splits()
        self._tokenizer = load_tokenizer(o.model)
        self._encoded: dict[str, Encoded] = {}
        self._calib: list | None = None
        self._pool_batches: list | None = None

    def _positive(self) -> int | None:
        """F1's positive class (binary checkpoints only; default class 1)."""
        o = self.opts
        if o.metric != "f1":
            if o.positive is not None:
                raise bad("positive", o.positive, "only with metric=f1")
            return None
        if self.classes != 2:
            raise bad("metric", "f1", f"accuracy: the checkpoint has {self.classes} classes, and "
                      f"f1 is of one class against the other, for two classes only")
        pos = table.label_id(o.positive or "1", self.label2id, self.classes)
        if pos is None:
            raise bad("positive", o.positive, table.labels_allowed(self.label2id, self.classes))
        return pos

    def _read(self, path: Path, labelled: bool = True) -> list[table.Example]:
        return table.read(path, self.opts, labelled, self.label2id, self.classes)

    def _read_splits(self) -> None:
        """The labelled splits, the pool, and what calibrates (the pool, else search)."""
        o = self.opts
        if o.data is not None:
            parts = table.carve(o.data, self._read(o.data), o)
            label = file_label(o.data)
            self.sources = {s: f"{label}|split={s}|seed={o.seed}" for s in SPLITS}
            judged = {r.key for s in SPLITS for r in parts[s]}
            pool = [r for r in parts["pool"] if r.key not in judged]
            pool_name = f"{label}|split=pool|seed={o.seed}|n={len(pool)}"
        else:
            parts = {s: self._read(getattr(o, s)) for s in SPLITS}
            for s in SPLITS:
                table.check_split(getattr(o, s), parts[s])
            self.sources = {s: f"{file_label(getattr(o, s))}|split={s}" for s in SPLITS}
            pool, pool_name = None, f"calibration|{o.search.name}|split=search"
        self.splits = {s: parts[s] for s in SPLITS}
        self._pool, self.pool_name = pool, pool_name
        if o.pool is not None:
            self.pool_from_file(o.pool)
        self._calib_rows = self._pool or self.splits["search"]

    def _encode(self, split: str) -> Encoded:
        if split not in self._encoded:
            self._encoded[split] = Encoded(self._tokenizer, self.splits[split], self.opts.max_length)
        return self._encoded[split]

    def build_model(self) -> nn.Module:
        return load_model(self.opts.model)

    def calibration_batches(self) -> list[dict[str, torch.Tensor]]:
        """A seeded sample of the pool's texts (else the search split's), as model(**batch)
        inputs; the same on every call, a later --pool file notwithstanding."""
        if self._calib is None:
            enc = Encoded(self._tokenizer, self._calib_rows, self.opts.max_length)
            n = len(self._calib_rows)
            picked = random.Random(self.opts.seed).sample(range(n), min(n, CALIB_EXAMPLES))
            self._calib = [enc.batch(picked[i:i + CALIB_BATCH]) for i in range(0, len(picked), CALIB_BATCH)]
        return list(self._calib)

    def pool_batches(self) -> list[dict[str, torch.Tensor]]:
        """Unlabelled texts in batches of similar length: pool=FILE (or --pool), else the
        part of data= left after the splits, else the calibration batches."""
        if self._pool is None:
            return self.calibration_batches()
        if self._pool_batches is None:
            enc = Encoded(self._tokenizer, self._pool, self.opts.max_length)
            size = min(self.batch_size, max(1, len(self._pool) // 4))  # a fraction: several batches
            self._pool_batches = [enc.batch(b) for b in enc.sorted_batches(size)]
        return self._pool_batches

    def pool_from_file(self, path: Path) -> None:
        """A CSV or TSV file with the text column(s) (labels unread), none of its texts in
        the search or confirm split."""
        rows = self._read(Path(path), labelled=False)
        judged = {r.key for s in SPLITS for r in self.splits[s]}
        check_pool(Path(path), [r.key for r in rows], judged, "text")
        self._pool, self._pool_batches = rows, None
        digest = text_digest([r.key for r in rows])
        self.pool_name = f"file:{Path(path).name}|n={len(rows)}|sha={digest}"

    def evaluate(self, model: nn.Module, split: str = "confirm", fraction: float = 1.0,
                 device: str = "cpu", memo: dict | None = None) -> Score:
        """The metric on the split in batches of similar length; a fraction below 1 scores
        an evenly spread share of those batches (``run_parts``), whose answers ``memo`` keeps."""
        _check_split(split)
        if not 0.0 < fraction <= 1.0:
            raise AutoqError(f"fraction must be in (0, 1], got {fraction}")
        enc = self._encode(split)
        batches = enc.sorted_batches(self.batch_size)

        def predict(idx: list[int]) -> list[int]:
            batch = {k: v.to(device) for k, v in enc.batch(idx).items()}
            return logits_of(model(**batch)).argmax(-1).tolist()
        with evaluating(model, device), torch.no_grad():
            preds = run_parts(batches, fraction, predict, memo, (split, self.batch_size))
        return self._score(split, preds, parts_label(len(batches), fraction))

    def chance(self, split: str = "confirm") -> Score:
        """The best constant answer: every example the positive class (f1), or the split's
        most frequent class (accuracy)."""
        _check_split(split)
        gold = [r.label for r in self.splits[split]]
        answer = self.positive if self.positive is not None else max(sorted(set(gold)), key=gold.count)
        return self._score(split, dict.fromkeys(range(len(gold)), answer), "")

    def _score(self, split: str, preds: dict[int, int], parts: str) -> Score:
        """The metric of answers by example index, signed with the examples they cover."""
        picked = sorted(preds)
        gold = np.asarray([self.splits[split][i].label for i in picked])
        rows = self.example_rows(gold, np.asarray([preds[i] for i in picked]))
        pos = f"|pos={self.positive}" if self.positive is not None else ""
        sig = (f"{self.metric_name}|{self.sources[split]}|n={len(picked)}{pos}"
               f"|maxlen={self.opts.max_length}{parts}")
        return Score(metric=self.summed_metric(rows.sum(0)), metric_name=self.metric_name,
                     signature=sig, n=len(picked), examples=rows)

    def example_rows(self, gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Per example: f1's (true positive, false positive, false negative), or accuracy's
        (correct, 1, the answer: so that equal rows are equal answers), as numbers."""
        if self.positive is None:
            return np.stack([gold == pred, np.ones(len(gold)), pred], 1).astype(float)
        g, p = gold == self.positive, pred == self.positive
        return np.stack([p & g, p & ~g, ~p & g], 1).astype(float)

    def summed_metric(self, sums: np.ndarray) -> float:
        if self.positive is None:
            return float(sums[0] / sums[1])
        tp, fp, fn = sums[:3]
        return float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise AutoqError(f"split {split!r} is not one of {', '.join(SPLITS)}")
