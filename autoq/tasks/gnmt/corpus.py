"""Multi30k English->German text, the joint subword tokenizer and length-bucketed batches."""
from __future__ import annotations

import gzip
import random

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from ..data import data_file
from .model import EOS, PAD, SPECIALS, BOS

SPLIT_FILES = {"train": "train", "val": "val", "test": "test_2016_flickr"}


def read_lines(split: str, lang: str) -> list[str]:
    """Raw (cased, untokenized) sentences of a Multi30k split ("train", "val", "test")."""
    with gzip.open(data_file("multi30k", f"{SPLIT_FILES[split]}.{lang}.gz"), "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


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
