"""Multi30k English->German text, the joint subword tokenizer and length-bucketed batches."""
from __future__ import annotations

import gzip
import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from ...errors import AutoqError
from ..data import data_file, read_text, user_file
from .model import EOS, PAD, SPECIALS, BOS

SPLIT_FILES = {"train": "train", "val": "val", "test": "test_2016_flickr"}


def read_lines(split: str, lang: str) -> list[str]:
    """Raw (cased, untokenized) sentences of a Multi30k split ("train", "val", "test")."""
    if split not in SPLIT_FILES:
        raise AutoqError(f"Multi30k has no split {split!r} (it has: {', '.join(SPLIT_FILES)})")
    with gzip.open(data_file("multi30k", f"{SPLIT_FILES[split]}.{lang}.gz"), "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def parallel_files(spec, key: str) -> tuple[Path, Path]:
    """The English and German files a user gives as split ``key``: "my.en,my.de" or a pair
    of paths."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec) if isinstance(spec, (tuple, list)) else [spec]
    if len(parts) != 2 or not all(str(p).strip() for p in parts):
        raise AutoqError(f"gnmt-multi30k {key}={spec!r}: name two files of parallel lines, "
                         f"English then German, as {key}=my.en,my.de")
    en, de = (user_file(str(p).strip(), f"gnmt-multi30k {key}") for p in parts)
    return en, de


def read_parallel(en_path: Path, de_path: Path, what: str) -> tuple[list[str], list[str]]:
    """The sentence pairs of two UTF-8 files (plain or .gz), one sentence a line, English
    then German, line for line; blank lines at the end are dropped, others refused."""
    sides = []
    for path in (en_path, de_path):
        lines = read_text(path, what).split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            raise AutoqError(f"{what} {path}: empty (one sentence a line is expected)")
        sides.append(lines)
    en, de = sides
    if len(en) != len(de):
        raise AutoqError(f"{what}: {en_path} has {len(en)} lines and {de_path} {len(de)}; the two "
                         f"hold the same sentences line for line, English then German")
    for path, lines in ((en_path, en), (de_path, de)):
        blank = next((i for i, line in enumerate(lines, 1) if not line.strip()), None)
        if blank is not None:
            raise AutoqError(f"{what} {path}, line {blank}: empty (one sentence a line is expected)")
    return en, de


def train_tokenizer(vocab_size: int = 8000) -> Tokenizer:
    """A joint BPE vocabulary learned on both sides of train; Metaspace makes decoding
    give detokenized text directly."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=2)
    tok.train_from_iterator(read_lines("train", "en") + read_lines("train", "de"), trainer)
    assert [tok.token_to_id(s) for s in SPECIALS] == [PAD, 1, BOS, EOS]
    return tok


def encode(tok: Tokenizer, lines: list[str]) -> list[list[int]]:
    return [e.ids for e in tok.encode_batch(lines, add_special_tokens=False)]


def decode(tok: Tokenizer, seqs: list[list[int]]) -> list[str]:
    return tok.decode_batch(seqs, skip_special_tokens=True)


def pad(seqs: list[list[int]]) -> torch.Tensor:
    out = torch.full((len(seqs), max(len(s) for s in seqs)), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def source_batch(src: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sources end with </s>: (src (B, S), src_lengths (B,))."""
    seqs = [s + [EOS] for s in src]
    return pad(seqs), torch.tensor([len(s) for s in seqs])


def teacher_batch(src: list[list[int]], tgt: list[list[int]]):
    """(src, src_lengths, tgt_in, tgt_out): tgt_in starts with <s>, tgt_out ends with </s>."""
    s, lengths = source_batch(src)
    return s, lengths, pad([[BOS] + t for t in tgt]), pad([t + [EOS] for t in tgt])


def length_batches(lengths: list[int], batch_size: int, rng: random.Random | None = None) -> list[list[int]]:
    """Indices grouped into batches of similar length (shuffled within ties and across
    batches when rng is given; in length order otherwise)."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random() if rng else i))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng:
        rng.shuffle(batches)
    return batches
