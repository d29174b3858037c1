"""g2p-en's grapheme-to-phoneme network in torch: a GRU encoder over the letters, a GRU
decoder over the phonemes started from the encoder's last state, and a Linear over the
phoneme vocabulary; weights read from the ``checkpoint20.npz`` that the g2p-en package
ships (the package itself is not imported: its import downloads nltk data).

g2p-en's numpy cell computes r, z = sigmoid(W_ir x + b_ir + W_hr h + b_hr, ...),
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h, with the rows of
``*_w_ih``/``*_w_hh`` stacked as (r, z, n): the equations and gate order of nn.GRU, so
the arrays are copied as they are.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

GRAPHEMES = ["<pad>", "<unk>", "</s>"] + list("abcdefghijklmnopqrstuvwxyz")
_VOWELS = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()
_CONSONANTS = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split()
# g2p-en's phoneme list: the specials, then CMUdict's 69 phonemes and a bare "UW", sorted
PHONEMES = ["<pad>", "<unk>", "<s>", "</s>"] + sorted(
    [v + s for v in _VOWELS for s in "012"] + _CONSONANTS + ["UW"])
PAD, SOS, EOS = 0, 2, 3
CHAR_EOS = GRAPHEMES.index("</s>")
MAX_STEPS = 20  # g2p-en's decoder stops after 20 phonemes


def checkpoint_path() -> Path:
    """checkpoint20.npz inside the installed g2p_en package (found, not imported)."""
    spec = importlib.util.find_spec("g2p_en")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("g2p-en is not installed: pip install g2p-en")
    return Path(list(spec.submodule_search_locations)[0]) / "checkpoint20.npz"


def load_weights(path: Path | None = None) -> dict[str, np.ndarray]:
    with np.load(path or checkpoint_path()) as npz:
        return {k: npz[k] for k in npz.files}


def encode_words(words: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Letter ids of each word followed by </s>, padded: (batch, time), and the lengths."""
    ids = [[GRAPHEMES.index(c) if c in GRAPHEMES[3:] else 1 for c in w] + [CHAR_EOS] for w in words]
    lengths = torch.tensor([len(x) for x in ids])
    chars = torch.full((len(ids), int(lengths.max())), PAD, dtype=torch.long)
    for i, x in enumerate(ids):
        chars[i, :len(x)] = torch.tensor(x)
    return chars, lengths


def teacher_inputs(prons: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder inputs (<s> + phonemes) and targets (phonemes + </s>), padded."""
    ids = [[PHONEMES.index(p) for p in pron] for pron in prons]
    T = max(len(x) for x in ids) + 1
    dec_in = torch.full((len(ids), T), PAD, dtype=torch.long)
    dec_out = torch.full((len(ids), T), PAD, dtype=torch.long)
    for i, x in enumerate(ids):
        dec_in[i, :len(x) + 1] = torch.tensor([SOS] + x)
        dec_out[i, :len(x) + 1] = torch.tensor(x + [EOS])
    return dec_in, dec_out


class G2PNet(nn.Module):
    def __init__(self, emb: int = 256, hidden: int = 256):
        super().__init__()
        self.enc_emb = nn.Embedding(len(GRAPHEMES), emb)
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.dec_emb = nn.Embedding(len(PHONEMES), emb)
        self.decoder = nn.GRU(emb, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, len(PHONEMES))

    @classmethod
    def pretrained(cls, path: Path | None = None) -> "G2PNet":
        w = load_weights(path)
        model = cls(w["enc_emb"].shape[1], w["enc_w_hh"].shape[1])
        copies = {"enc_emb.weight": "enc_emb", "dec_emb.weight": "dec_emb",
                  "fc.weight": "fc_w", "fc.bias": "fc_b"}
        for rnn, pre in (("encoder", "enc"), ("decoder", "dec")):
            for kind in ("w", "b"):
                for src in ("ih", "hh"):
                    name = "weight" if kind == "w" else "bias"
                    copies[f"{rnn}.{name}_{src}_l0"] = f"{pre}_{kind}_{src}"
        model.load_state_dict({k: torch.from_numpy(w[v]) for k, v in copies.items()})
        return model.eval()

    def encode(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The encoder's state after each word's </s>: (1, batch, hidden)."""
        packed = pack_padded_sequence(self.enc_emb(chars), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        return self.encoder(packed)[1]

    def forward(self, chars, lengths, dec_in=None):
        """Logits (batch, steps, phonemes): teacher-forced on ``dec_in`` when given, else
        those of greedy decoding (what ``greedy`` returns)."""
        h = self.encode(chars, lengths)
        if dec_in is None:
            return self._greedy(h)[1]
        out, _ = self.decoder(self.dec_emb(dec_in), h)
        return self.fc(out)

    def _greedy(self, h):
        prev = torch.full((h.shape[1],), SOS, dtype=torch.long, device=h.device)
        done = torch.zeros_like(prev, dtype=torch.bool)
        ids, logits = [], []
        for _ in range(MAX_STEPS):
            out, h = self.decoder(self.dec_emb(prev).unsqueeze(1), h)
            step = self.fc(out[:, 0])
            prev = step.argmax(-1)
            ids.append(prev)
            logits.append(step)
            done = done | (prev == EOS)
            if bool(done.all()):
                break
        return torch.stack(ids, 1), torch.stack(logits, 1)

    @torch.no_grad()
    def greedy(self, chars, lengths) -> list[list[str]]:
        """Each word's phonemes, decoded greedily as g2p-en does (up to </s>, at most 20)."""
        ids = self._greedy(self.encode(chars, lengths))[0].tolist()
        return [[PHONEMES[i] for i in (row[:row.index(EOS)] if EOS in row else row)] for row in ids]
