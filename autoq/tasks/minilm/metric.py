"""Batched prediction and F1 of the positive (paraphrase) class."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import f1_score

from .data import Encoded


def logits_of(out) -> torch.Tensor:
    """Logits from an HF output, a dict, a tuple or a bare tensor (traced models)."""
    if hasattr(out, "logits"):
        return out.logits
    if isinstance(out, dict):
        return out["logits"]
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def predict(model: torch.nn.Module, enc: Encoded, idx: list[int], device: str = "cpu") -> list[int]:
    """Class predictions for the examples ``idx``, as one padded batch."""
    with torch.no_grad():
        batch = {k: v.to(device) for k, v in enc.batch(idx).items()}
        return logits_of(model(**batch)).argmax(-1).tolist()


def predict_all(model: torch.nn.Module, enc: Encoded, device: str = "cpu",
                batch_size: int = 64) -> list[int]:
    """Class predictions for every example, in order."""
    preds = [0] * len(enc)
    for idx in enc.sorted_batches(batch_size):
        for i, p in zip(idx, predict(model, enc, idx, device)):
            preds[i] = p
    return preds


def f1(labels: list[int], preds: list[int]) -> float:
    """F1 of label 1; 0.0 when there are no true or predicted positives."""
    return float(f1_score(labels, preds, pos_label=1, average="binary", zero_division=0.0))


def confusion_rows(labels: list[int], preds: list[int]) -> np.ndarray:
    """Per example: (true positive, false positive, false negative), as 0 or 1."""
    gold, pred = np.asarray(labels) == 1, np.asarray(preds) == 1
    return np.stack([pred & gold, pred & ~gold, ~pred & gold], 1).astype(float)


def f1_of_counts(sums: np.ndarray) -> float:
    """F1 of summed ``confusion_rows``: what ``f1`` gives on those examples."""
    tp, fp, fn = sums
    return float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0
