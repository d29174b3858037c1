"""The minilm-mrpc task: MiniLM fine-tuned on MRPC, scored by F1 of the paraphrase class."""
from __future__ import annotations

import random
from pathlib import Path

import torch
from torch import nn

from ...errors import AutoqError
from ..base import SPLITS, Score, Task, parts_label, run_parts
from . import data
from .metric import confusion_rows, f1, f1_of_counts, predict
from .model import load_model, load_tokenizer

_SPLIT_LABEL = {"search": "search", "confirm": "dev"}  # signature names


class MiniLMMRPC(Task):
    """``model_dir``: a model directory to use instead of the cached fine-tuned one
    (e.g. the pretrained package's, for tests); None fine-tunes on first use."""

    name = "minilm-mrpc"
    metric_name = "f1"
    direction = "maximize"
    reuses_outputs = True

    def __init__(self, model_dir: str | Path | None = None, batch_size: int = 64,
                 calib_batches: int = 8, calib_batch_size: int = 16, calib_seed: int = 0):
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.batch_size = batch_size
        self.calib_shape = (calib_batches, calib_batch_size, calib_seed)
        self._tokenizer = None
        self._splits = None
        self._encoded: dict[str, data.Encoded] = {}
        self._calib = None

    def prepare(self, force: bool = False) -> Path:
        """Fine-tune (or find in the cache) the model; ``autoq prepare`` calls this."""
        from .finetune import prepare
        if self.model_dir is None or force:
            self.model_dir = prepare(force=force)
        return self.model_dir

    def _model_dir(self) -> Path:
        return self.model_dir if self.model_dir is not None else self.prepare()

    def _encode(self, split: str) -> data.Encoded:
        if split not in self._encoded:
            if self._tokenizer is None:
                self._tokenizer = load_tokenizer(self.model_dir)
            if self._splits is None:
                self._splits = data.splits()
            self._encoded[split] = data.Encoded(self._tokenizer, self._splits[split])
        return self._encoded[split]

    def build_model(self) -> nn.Module:
        return load_model(self._model_dir())

    def calibration_batches(self) -> list[dict[str, torch.Tensor]]:
        """A fixed seeded subset of the fine-tuning pairs, as model(**batch) inputs."""
        if self._calib is None:
            count, size, seed = self.calib_shape
            enc = self._encode("finetune")
            picked = random.Random(seed).sample(range(len(enc)), count * size)
            self._calib = [enc.batch(picked[i:i + size]) for i in range(0, len(picked), size)]
        return list(self._calib)

    def evaluate(self, model: nn.Module, split: str = "confirm", fraction: float = 1.0,
                 device: str = "cpu", memo: dict | None = None) -> Score:
        """F1 on the split in batches of similar length; a fraction below 1 scores an evenly
        spread share of those batches (``run_parts``), whose predictions ``memo`` keeps."""
        if split not in SPLITS:
            raise AutoqError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        if not 0.0 < fraction <= 1.0:
            raise AutoqError(f"fraction must be in (0, 1], got {fraction}")
        enc = self._encode(split)
        batches = enc.sorted_batches(self.batch_size)
        param = next(model.parameters(), None)
        home = param.device if param is not None else None
        was_training = model.training
        model.to(device).eval()
        try:
            preds = run_parts(batches, fraction, lambda b: predict(model, enc, b, device),
                              memo, (split, self.batch_size))
        finally:
            if home is not None:
                model.to(home)
            model.train(was_training)
        return self._score(split, preds, parts_label(len(batches), fraction))

    def chance(self, split: str = "confirm") -> Score:
        """Every pair called a paraphrase: the constant answer with the higher F1."""
        if split not in SPLITS:
            raise AutoqError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        return self._score(split, dict.fromkeys(range(len(self._encode(split))), 1), "")

    def _score(self, split: str, preds: dict[int, int], parts: str) -> Score:
        """F1 of predictions by example index, signed with the examples they cover."""
        enc, picked = self._encode(split), sorted(preds)
        sig = (f"f1|mrpc-{_SPLIT_LABEL[split]}|n={len(picked)}|pos=1|maxlen={data.MAX_LENGTH}"
               f"|split-seed={data.SPLIT_SEED}{parts}")
        labels, picked_preds = [enc.labels[i] for i in picked], [preds[i] for i in picked]
        return Score(metric=f1(labels, picked_preds), metric_name="f1", signature=sig,
                     n=len(picked), examples=confusion_rows(labels, picked_preds))

    def summed_metric(self, sums):
        return f1_of_counts(sums)
