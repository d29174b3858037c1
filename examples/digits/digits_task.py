"""A small CNN with batch norm on scikit-learn's 8x8 digits, scored by accuracy:
``autoq search --task digits_task:make_task`` (run from this folder);
``python digits_task.py --train`` trains it again into cnn.pt."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_digits
from torch import nn

from autoq.tasks import Score, Task

WEIGHTS = Path(__file__).resolve().parent / "cnn.pt"
SIZES = {"train": 1000, "search": 300, "confirm": 300}  # the pool: the other 197 images


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(2)
        self.fc1, self.fc2 = nn.Linear(64 * 4 * 4, 256), nn.Linear(256, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def splits(seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Seeded, disjoint train/search/confirm splits and the pool; images scaled to [0, 1]."""
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    cut = np.cumsum([0, *SIZES.values(), len(y)])
    return {k: (x[order[a:b]], y[order[a:b]]) for k, a, b in zip([*SIZES, "pool"], cut, cut[1:])}


def train(epochs: int = 8, seed: int = 0) -> DigitsCNN:
    """Adam on the training split, fixed seed (a few seconds on CPU); saves cnn.pt."""
    torch.manual_seed(seed)
    x, y = splits(seed)["train"]
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for rows in torch.randperm(len(y)).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
            opt.step()
    torch.save(model.state_dict(), WEIGHTS)
    return model.eval()


class Digits(Task):
    """Accuracy of the CNN on seeded splits of load_digits (1,797 images, 10 classes)."""

    name, metric_name, direction = "digits-cnn", "accuracy", "maximize"

    def __init__(self, seed: int = 0, batch_size: int = 100):
        self.data, self.seed, self.batch_size = splits(seed), seed, batch_size
        self.pool_name = f"digits-pool|sklearn-{sklearn.__version__}|n={len(self.data['pool'][1])}|seed={seed}"

    def build_model(self):
        model = DigitsCNN()
        model.load_state_dict(torch.load(WEIGHTS, weights_only=True))
        return model.eval()

    def calibration_batches(self):
        x = self.data["train"][0][:256]
        return [(x[i:i + 64],) for i in range(0, len(x), 64)]

    def pool_batches(self):
        x = self.data["pool"][0]
        return [(x[i:i + 64],) for i in range(0, len(x), 64)]

    def _signature(self, split, n):
        return f"accuracy|sklearn-digits|{split}|n={n}|seed={self.seed}"

    def _score(self, right, split):
        right = np.asarray(right, dtype=float)
        examples = np.stack([right, np.ones_like(right)], 1)
        return Score(float(right.mean()), self.metric_name, self._signature(split, len(right)),
                     len(right), examples=examples)

    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu", memo=None):
        x, y = self.data[split]
        n = max(1, math.ceil(fraction * len(y)))
        model = model.to(device).eval()
        with torch.no_grad():
            pred = torch.cat([model(x[i:i + self.batch_size].to(device)).argmax(-1).cpu()
                              for i in range(0, n, self.batch_size)])[:n]
        return self._score((pred == y[:n]).numpy(), split)

    def chance(self, split="confirm"):
        y = self.data[split][1]
        return self._score((y == torch.bincount(y).argmax()).numpy(), split)

    def summed_metric(self, sums):
        return sums[0] / sums[1] if sums[1] else math.nan


def make_task():
    return Digits()


if __name__ == "__main__" and "--train" in sys.argv:
    task, model = Digits(), train()
    print({s: task.evaluate(model, s).metric for s in ("search", "confirm")})
