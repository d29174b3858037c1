"""MRPC pairs, the fixed search/fine-tune split, tokenisation and padded batches."""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import AutoqError
from ..data import data_file, md5, read_text

SEARCH_SIZE = 408  # held out of train for the search; the size of MRPC dev
SPLIT_SEED = 0
MAX_LENGTH = 128
HEADER = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Pair:
    label: int
    a: str
    b: str


def read_tsv(name: str) -> list[Pair]:
    """All pairs of mrpc/<name> in file order."""
    path = data_file("mrpc", name)
    return parse_pairs(read_text(path, "MRPC file"), str(path))


def read_pairs(path: Path, what: str) -> list[Pair]:
    """All pairs of a user's MRPC-format file (``parse_pairs``) in file order."""
    return parse_pairs(read_text(path, what), f"{what} {path}")


def parse_pairs(text: str, where: str) -> list[Pair]:
    """The pairs of an MRPC-format TSV: 5 tab-separated fields a row (``HEADER``), a
    header row first or none, label 0 or 1; blank lines are skipped. ``where`` names the
    file in a message."""
    pairs = []
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        row = line.split("\t")
        if not pairs and row == HEADER:
            continue
        if len(row) != 5:
            raise AutoqError(f"{where}, line {i}: {len(row)} tab-separated field(s); an MRPC row "
                             f"has 5: {', '.join(HEADER)}")
        if row[0] not in ("0", "1"):
            raise AutoqError(f"{where}, line {i}: label {row[0][:20]!r} is not 0 or 1 "
                             f"(the first field, Quality: 1 for a paraphrase)")
        if not row[3].strip() or not row[4].strip():
            raise AutoqError(f"{where}, line {i}: an empty sentence")
        pairs.append(Pair(int(row[0]), row[3], row[4]))
    if not pairs:
        raise AutoqError(f"{where}: no sentence pairs (an empty file, or a header alone)")
    return pairs


def splits(seed: int = SPLIT_SEED) -> dict[str, list[Pair]]:
    """'finetune' (3260) and 'search' (408) from train, in a seeded shuffled order;
    'confirm' is dev (408) in file order."""
    train = read_tsv("train.tsv")
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    return {"finetune": [train[i] for i in order[SEARCH_SIZE:]],
            "search": [train[i] for i in order[:SEARCH_SIZE]],
            "confirm": read_tsv("dev.tsv")}


def checksum() -> str:
    """Fingerprint of the data that fine-tuning depends on."""
    sums = [md5(data_file("mrpc", n)) for n in ("train.tsv", "dev.tsv")]
    return hashlib.sha256(f"{sums}|{SEARCH_SIZE}|{SPLIT_SEED}".encode()).hexdigest()[:16]


class Encoded:
    """Tokenised pairs, unpadded; ``batch`` pads a selection to its longest member."""

    def __init__(self, tokenizer, pairs: list[Pair], max_length: int = MAX_LENGTH):
        enc = tokenizer([p.a for p in pairs], [p.b for p in pairs], truncation=True,
                        max_length=max_length)
        self.features = {k: enc[k] for k in INPUT_KEYS}
        self.labels = [p.label for p in pairs]
        self.lengths = [len(x) for x in enc["input_ids"]]
        self.pad_id = tokenizer.pad_token_id or 0

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: list[int]) -> dict[str, torch.Tensor]:
        width = max(self.lengths[i] for i in idx)
        out = {}
        for k in INPUT_KEYS:
            pad = self.pad_id if k == "input_ids" else 0
            rows = [self.features[k][i] + [pad] * (width - self.lengths[i]) for i in idx]
            out[k] = torch.tensor(rows, dtype=torch.long)
        return out

    def sorted_batches(self, batch_size: int) -> list[list[int]]:
        """Every example, longest first, cut into batches: for fast inference."""
        order = sorted(range(len(self)), key=lambda i: -self.lengths[i])
        return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]

    def train_batches(self, batch_size: int, rng: random.Random) -> list[list[int]]:
        """Shuffled batches of similar length (sorted within chunks of 8 batches)."""
        order = list(range(len(self)))
        rng.shuffle(order)
        chunk = batch_size * 8
        batches = []
        for s in range(0, len(order), chunk):
            part = sorted(order[s:s + chunk], key=lambda i: self.lengths[i])
            batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
        rng.shuffle(batches)
        return batches
