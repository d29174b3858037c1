"""The minilm-mrpc task: MiniLM fine-tuned on MRPC, scored by F1 of the paraphrase class."""
from __future__ import annotations

import random
from pathlib import Path

import torch
from torch import nn

from ...errors import AutoqError
from ...fidelity import text_digest
from ..base import SPLITS, Score, Task, evaluating, parts_label, run_parts
from ..data import source_label, user_file
from ..pool import check_pool, read_rows, sample, without_note
from . import data
from .metric import confusion_rows, f1, f1_of_counts, predict
from .model import load_model, load_tokenizer

_SPLIT_FILE = {"search": "train.tsv", "confirm": "dev.tsv"}  # where the built-in splits come from
# signature label -> (file name, digest of its pairs): a score of these reads as before
BUILTIN = {"mrpc-search": (("train.tsv",), "90010b89bd37"), "mrpc-dev": (("dev.tsv",), "32fa15ae60b2")}


def pairs_digest(pairs: list[data.Pair]) -> str:
    return text_digest([f"{p.label}\t{p.a}\t{p.b}" for p in pairs])


class MiniLMMRPC(Task):
    """``model_dir``: a model directory to use instead of the cached fine-tuned one
    (e.g. the pretrained package's, for tests); None fine-tunes on first use.
    ``search``/``confirm``: a user's MRPC-format file scored instead of the built-in split
    (the fine-tune does not change); a score's signature names the file it was scored on."""

    name = "minilm-mrpc"
    metric_name = "f1"
    direction = "maximize"
    reuses_outputs = True

    def __init__(self, model_dir: str | Path | None = None, batch_size: int = 64,
                 calib_batches: int = 8, calib_batch_size: int = 16, calib_seed: int = 0,
                 pool_size: int = 1024, search: str | Path | None = None,
                 confirm: str | Path | None = None):
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.batch_size = batch_size
        self.calib_shape = (calib_batches, calib_batch_size, calib_seed)
        self._tokenizer = None
        self._splits = None
        self._labels: dict[str, str] = {}  # split -> its signature label
        self.files = {split: user_file(spec, f"minilm-mrpc {split}")
                      for split, spec in (("search", search), ("confirm", confirm)) if spec is not None}
        self._user = {split: data.read_pairs(path, f"minilm-mrpc {split} file")
                      for split, path in self.files.items()}  # a bad file is refused now
        self._encoded: dict[str, data.Encoded] = {}
        self._calib = None
        self.pool_size = pool_size
        self.pool_name = f"mrpc-finetune|n={pool_size}|seed={calib_seed}"
        self._pool: list[data.Pair] | None = None
        self._pool_batches: list | None = None

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
            self._encoded[split] = data.Encoded(self._tokenizer, self._splits_now()[split])
        return self._encoded[split]

    def build_model(self) -> nn.Module:
        return load_model(self._model_dir())

    def calibration_batches(self) -> list[dict[str, torch.Tensor]]:
        """A fixed seeded subset of the fine-tuning pairs, as model(**batch) inputs."""
        if self._calib is None:
            count, size, seed = self.calib_shape
            enc = self._encode("finetune")
            picked = self._calibration_picks()
            self._calib = [enc.batch(picked[i:i + size]) for i in range(0, len(picked), size)]
        return list(self._calib)

    def _calibration_picks(self) -> list[int]:
        count, size, seed = self.calib_shape
        return random.Random(seed).sample(range(len(self._encode("finetune"))), count * size)

    def _judged(self, builtin: bool = False) -> set[tuple[str, str]]:
        """The sentence pairs of the splits a front is judged on; ``builtin``: of the
        built-in ones, whether or not a user's file replaces them."""
        splits = data.splits() if builtin else self._splits_now()
        return {(p.a, p.b) for split in SPLITS for p in splits[split]}

    def pool_batches(self) -> list[dict[str, torch.Tensor]]:
        """Pairs without their labels, in batches of similar length: by default
        ``pool_size`` fine-tuning pairs that are not calibration pairs (the fine-tuning data is
        disjoint from both judged splits), else a ``--pool`` file's pairs."""
        if self._pool_batches is None:
            if self._pool is None:
                tuned, calib = self._splits_now()["finetune"], set(self._calibration_picks())
                builtin = self._judged(builtin=True)
                judged = self._judged() | builtin
                picked = sample(len(tuned), lambda i: i not in calib and (tuned[i].a, tuned[i].b) not in judged,
                                self.pool_size, self.calib_shape[2] + 1)
                self._pool = [tuned[i] for i in picked]
                self.pool_name += without_note([(p.a, p.b) for p in tuned], builtin, judged)
            if self._tokenizer is None:
                self._tokenizer = load_tokenizer(self.model_dir)
            enc = data.Encoded(self._tokenizer, self._pool)
            size = min(self.batch_size, max(1, len(self._pool) // 4))  # a fraction: several batches
            self._pool_batches = [enc.batch(b) for b in enc.sorted_batches(size)]
        return self._pool_batches

    def split_pairs(self, split: str, builtin: dict) -> tuple[str, list[data.Pair]]:
        """The file name and pairs of a judged split: the user's, else the built-in one
        (of ``builtin``, data.splits())."""
        if split in self._user:
            return self.files[split].name, self._user[split]
        return _SPLIT_FILE[split], builtin[split]

    def split_label(self, split: str) -> str:
        """How a score's signature names the split's data: "mrpc-dev" or "mrpc-search" for
        the built-in splits, "split=file:my.tsv@sha256:..." for other files."""
        if split not in SPLITS:
            raise AutoqError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        self._splits_now()
        return self._labels[split]

    def _splits_now(self) -> dict:
        """The splits, read once (data.splits), a user's files in place of judged ones;
        the fine-tuning pairs are always the built-in ones."""
        if self._splits is None:
            splits = data.splits()
            for split in SPLITS:
                name, pairs = self.split_pairs(split, splits)
                self._labels[split] = source_label((name,), pairs_digest(pairs), BUILTIN)
                splits[split] = pairs
            self._splits = splits
        return self._splits

    def pool_from_file(self, path: Path) -> None:
        """Sentence pairs, one a line, tab-separated; an MRPC file (5 fields, with or
        without its header row) gives its two sentences, its labels unread."""
        rows = read_rows(Path(path), (2, 5), "two sentences, or an MRPC row")
        if rows and rows[0] == data.HEADER:
            rows = rows[1:]
        pairs = [data.Pair(0, *(r[3:5] if len(r) == 5 else r)) for r in rows]
        check_pool(Path(path), [(p.a, p.b) for p in pairs], self._judged(), "sentence pair")
        self._pool, self._pool_batches = pairs, None
        self.pool_name = f"file:{Path(path).name}|n={len(pairs)}|sha={text_digest([p.a + chr(9) + p.b for p in pairs])}"

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
        with evaluating(model, device):
            preds = run_parts(batches, fraction, lambda b: predict(model, enc, b, device),
                              memo, (split, self.batch_size))
        return self._score(split, preds, parts_label(len(batches), fraction))

    def chance(self, split: str = "confirm") -> Score:
        """Every pair called a paraphrase: the constant answer with the higher F1."""
        if split not in SPLITS:
            raise AutoqError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        return self._score(split, dict.fromkeys(range(len(self._encode(split))), 1), "")

    def _score(self, split: str, preds: dict[int, int], parts: str) -> Score:
        """F1 of predictions by example index, signed with the examples they cover."""
        enc, picked = self._encode(split), sorted(preds)
        sig = (f"f1|{self.split_label(split)}|n={len(picked)}|pos=1|maxlen={data.MAX_LENGTH}"
               f"|split-seed={data.SPLIT_SEED}{parts}")
        labels, picked_preds = [enc.labels[i] for i in picked], [preds[i] for i in picked]
        return Score(metric=f1(labels, picked_preds), metric_name="f1", signature=sig,
                     n=len(picked), examples=confusion_rows(labels, picked_preds))

    def summed_metric(self, sums):
        return f1_of_counts(sums)
