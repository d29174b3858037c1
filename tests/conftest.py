import os
from pathlib import Path

import pytest
import torch
from torch import nn

from autoq.quant.ops import BatchMatmul, Concat, EltwiseAdd, EltwiseMult, Matmul

os.environ.setdefault("AUTOQ_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class TinyNet(nn.Module):
    """Every module kind the engine handles, written the Distiller way."""

    def __init__(self):
        super().__init__()
        self.embedder = nn.Embedding(50, 16)
        self.rnn = nn.LSTM(16, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.conv = nn.Conv1d(32, 32, 3, padding=1)
        self.proj = nn.Linear(32, 32)
        self.add = EltwiseAdd()
        self.mul = EltwiseMult()
        self.scores = Matmul()
        self.context = BatchMatmul()
        self.cat = Concat(dim=-1)
        self.classifier = nn.Linear(64, 5)

    def forward(self, tokens):
        h, _ = self.rnn(self.embedder(tokens))
        c = self.conv(h.transpose(1, 2)).transpose(1, 2)
        p = self.mul(self.add(self.proj(h), c), torch.sigmoid(c))
        att = torch.softmax(self.scores(p, h.transpose(1, 2)), dim=-1)
        ctx = self.context(att, h)
        return self.classifier(self.cat(p, ctx))


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture
def tiny_batches():
    g = torch.Generator().manual_seed(1)
    return [(torch.randint(0, 50, (4, 7), generator=g),) for _ in range(3)]
