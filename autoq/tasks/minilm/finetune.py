"""Fine-tune MiniLM on MRPC once and cache the result outside the repository.

Run as ``python -m autoq.tasks.minilm.finetune [--force]``; ``prepare()`` is the API.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import torch
import transformers
from tqdm import tqdm

from . import data
from .metric import f1, predict_all
from .model import load_model, load_tokenizer, pretrained_dir

HPARAMS = {
    "seed": 42,
    "epochs": 3,
    "batch_size": 32,
    "lr": 5e-5,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "grad_clip": 1.0,
    "max_length": data.MAX_LENGTH,
    "threads": 2,
}
TARGET_F1 = 0.85


def cache_root() -> Path:
    return Path(os.environ.get("AUTOQ_CACHE", Path.home() / ".cache" / "autoq")) / "minilm-mrpc"


def cache_key(hparams: dict = HPARAMS) -> str:
    """Hash of the hyper-parameters, the data and the base model's config."""
    base = (pretrained_dir() / "config.json").read_text()
    blob = json.dumps({"h": hparams, "data": data.checksum(), "base": base}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_dir(hparams: dict = HPARAMS) -> Path | None:
    """The cached fine-tuned model directory, or None when absent."""
    path = cache_root() / cache_key(hparams)
    ok = (path / "meta.json").is_file() and (path / "model.safetensors").is_file()
    return path if ok else None


def _optimizer(model, h: dict, total: int):
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": h["weight_decay"]},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=h["lr"])
    warm = max(1, int(h["warmup_ratio"] * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    return opt, sched


def train(h: dict = HPARAMS) -> tuple[torch.nn.Module, object, dict]:
    """Fine-tune from the pretrained weights; returns (model, tokenizer, results)."""
    torch.set_num_threads(h["threads"])
    torch.manual_seed(h["seed"])
    rng = random.Random(h["seed"])
    tok = load_tokenizer()
    sp = data.splits()
    enc = {k: data.Encoded(tok, v, h["max_length"]) for k, v in sp.items()}
    model = load_model()
    steps = h["epochs"] * math.ceil(len(enc["finetune"]) / h["batch_size"])
    opt, sched = _optimizer(model, h, steps)
    start = time.time()
    model.train()
    bar = tqdm(total=steps, desc="fine-tune minilm-mrpc", unit="step")
    for epoch in range(h["epochs"]):
        for idx in enc["finetune"].train_batches(h["batch_size"], rng):
            batch = enc["finetune"].batch(idx)
            labels = torch.tensor([enc["finetune"].labels[i] for i in idx])
            loss = model(**batch, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), h["grad_clip"])
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
    bar.close()
    train_s = time.time() - start
    model.eval()
    scores = {s: f1(enc[s].labels, predict_all(model, enc[s]))
              for s in ("search", "confirm")}
    results = {"dev_f1": scores["confirm"], "search_f1": scores["search"],
               "train_seconds": round(train_s, 1),
               "total_seconds": round(time.time() - start, 1), "steps": steps,
               "n_finetune": len(enc["finetune"])}
    return model, tok, results


def prepare(force: bool = False) -> Path:
    """Directory of the fine-tuned model: from the cache, else fine-tuned now (minutes)."""
    found = cached_dir()
    if found and not force:
        return found
    final = cache_root() / cache_key()
    final.parent.mkdir(parents=True, exist_ok=True)
    model, tok, results = train(HPARAMS)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        meta = {"task": "minilm-mrpc", "key": final.name, "hparams": HPARAMS,
                "data_checksum": data.checksum(), "split_seed": data.SPLIT_SEED,
                "search_size": data.SEARCH_SIZE, **results,
                "torch": torch.__version__, "transformers": transformers.__version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if final.exists():  # forced, or another process finished first
            if not force:
                shutil.rmtree(tmp)
                return final
            trash = final.with_name(f".{final.name}-old-{os.getpid()}")
            os.rename(final, trash)
            shutil.rmtree(trash)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if results["dev_f1"] < TARGET_F1:
        print(f"warning: dev F1 {results['dev_f1']:.4f} is below the target {TARGET_F1}")
    return final


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fine-tune MiniLM on MRPC and cache it.")
    ap.add_argument("--force", action="store_true", help="fine-tune again even if cached")
    args = ap.parse_args(argv)
    path = prepare(force=args.force)
    meta = json.loads((path / "meta.json").read_text())
    print(f"{path}\ndev F1 {meta['dev_f1']:.4f}  search F1 {meta['search_f1']:.4f}  "
          f"fine-tune {meta['train_seconds']:.0f} s")


if __name__ == "__main__":
    main()
