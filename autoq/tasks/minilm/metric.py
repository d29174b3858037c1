"""Batched prediction and F1 of the positive (paraphrase) class."""
from __future__ import annotations

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


def predict(model: torch.nn.Module, enc: Encoded, n: int, device: str = "cpu",
            batch_size: int = 64) -> list[int]:
    """Class predictions for the first n examples, length-sorted for little padding."""
    preds = [0] * n
    with torch.no_grad():
        for idx, batch in enc.sorted_batches(n, batch_size):
            batch = {k: v.to(device) for k, v in batch.items()}
            for i, p in zip(idx, logits_of(model(**batch)).argmax(-1).tolist()):
                preds[i] = p
    return preds


def f1(labels: list[int], preds: list[int]) -> float:
    """F1 of label 1; 0.0 when there are no true or predicted positives."""
    return float(f1_score(labels, preds, pos_label=1, average="binary", zero_division=0.0))
