"""Train GNMT on Multi30k en->de: ``python -m autoq.tasks.gnmt.train --out DIR``.

Fixed seed; bf16 autocast on the forward pass (the CPU's AMX makes it faster); Adam with warmup and cosine decay, label smoothing, gradient clipping,
length-bucketed batches. After each epoch: val loss and greedy val BLEU; the best epoch
is written to DIR as the shipped asset (see checkpoint.save_asset) and ``DIR/last.pt``
holds what ``--resume`` needs. At the end the best asset is scored with beam search.
"""
from __future__ import annotations

import argparse
import math
import random
import shutil
import time
from pathlib import Path

import sacrebleu
import torch
import torch.nn.functional as F

from .beam import translate_ids
from .checkpoint import load_model, load_tokenizer, save_asset, write_sums
from .corpus import decode, encode, length_batches, read_lines, teacher_batch, train_tokenizer
from .model import GNMT, GNMTConfig, PAD


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=200, help="steps")
    p.add_argument("--final-lr-ratio", type=float, default=0.05)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--smoothing", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", type=int, default=1, help="bf16 autocast for the forward pass (CPU AMX)")
    p.add_argument("--time-limit", type=float, default=0, help="minutes; no new epoch past this")
    p.add_argument("--stop-after", type=int, default=0,
                   help="stop after this epoch, keeping the schedule of --epochs")
    p.add_argument("--max-steps", type=int, default=0, help="stop each epoch after this many steps (smoke tests)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    return p.parse_args(argv)


class Log:
    """Prints and appends to DIR/train.log."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, msg: str) -> None:
        print(msg, flush=True)
        with open(self.path, "a") as f:
            f.write(msg + "\n")


def bleu(model, tok, src_ids, refs, beam_size) -> sacrebleu.metrics.bleu.BLEUScore:
    hyps = decode(tok, translate_ids(model, src_ids, beam_size=beam_size, batch_size=128))
    return sacrebleu.corpus_bleu(hyps, [refs])


def lr_at(step: int, total: int, a) -> float:
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    frac = min(1.0, (step - a.warmup) / max(1, total - a.warmup))
    return a.lr * (a.final_lr_ratio + (1 - a.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


def load_pairs(tok, log):
    """Multi30k's splits (English encoded, German as text), and the training pairs encoded
    on both sides, each side 1 to 80 tokens."""
    data = {s: (encode(tok, read_lines(s, "en")), read_lines(s, "de")) for s in ("train", "val", "test")}
    train_src, train_tgt = data["train"][0], encode(tok, data["train"][1])
    keep = [i for i in range(len(train_src)) if 0 < len(train_src[i]) <= 80 and 0 < len(train_tgt[i]) <= 80]
    train_src, train_tgt = [train_src[i] for i in keep], [train_tgt[i] for i in keep]
    log(f"vocab {tok.get_vocab_size()}; train pairs {len(keep)}; "
        f"mean tokens en {sum(map(len, train_src)) / len(keep):.1f} de {sum(map(len, train_tgt)) / len(keep):.1f}")
    return data, train_src, train_tgt


def train_epoch(model, opt, batches, train_src, train_tgt, step: int, total: int, a, log):
    """One pass over ``batches`` (lists of pair indices); returns the step reached, the
    summed loss and the target tokens it was summed over."""
    model.train()
    te, tot_loss, tot_tok = time.time(), 0.0, 0
    for i, idx in enumerate(batches):
        src, src_len, tgt_in, tgt_out = teacher_batch([train_src[j] for j in idx], [train_tgt[j] for j in idx])
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, a)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(a.bf16)):
            logits = model(src, src_len, tgt_in)
        logits = logits.float()
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), tgt_out.view(-1), ignore_index=PAD,
                               label_smoothing=a.smoothing, reduction="sum")
        ntok = int((tgt_out != PAD).sum())
        opt.zero_grad(set_to_none=True)
        (loss / ntok).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        step += 1
        tot_loss, tot_tok = tot_loss + loss.item(), tot_tok + ntok
        if (i + 1) % 50 == 0:
            log(f"step {i + 1}/{len(batches)} loss {tot_loss / tot_tok:.3f} "
                f"lr {opt.param_groups[0]['lr']:.2e} {tot_tok / (time.time() - te):.0f} tok/s")
    return step, tot_loss, tot_tok


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    best_dir, log = a.out / "best", Log(a.out / "train.log")
    log(f"args: {vars(a)}")

    tok = load_tokenizer(best_dir) if a.resume else train_tokenizer(a.vocab)
    data, train_src, train_tgt = load_pairs(tok, log)

    cfg = GNMTConfig(vocab_size=tok.get_vocab_size(), hidden_size=a.hidden, num_layers=a.layers, dropout=a.dropout)
    model = GNMT(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    log(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    rng = random.Random(a.seed)
    lengths = [len(s) + len(t) for s, t in zip(train_src, train_tgt)]
    steps_per_epoch = math.ceil(len(train_src) / a.batch)
    if a.max_steps:
        steps_per_epoch = min(steps_per_epoch, a.max_steps)
    total = steps_per_epoch * a.epochs
    step, start_epoch, best, stale = resume(a, model, opt, rng) if a.resume else (0, 1, -1.0, 0)

    t0 = time.time()
    for epoch in range(start_epoch, a.epochs + 1):
        te = time.time()
        batches = length_batches(lengths, a.batch, rng)[:steps_per_epoch]
        step, tot_loss, tot_tok = train_epoch(model, opt, batches, train_src, train_tgt, step, total, a,
                                              lambda m: log(f"epoch {epoch} {m}"))
        train_time = time.time() - te
        model.eval()
        val = bleu(model, tok, data["val"][0], data["val"][1], beam_size=1)
        log(f"epoch {epoch} done: train loss {tot_loss / tot_tok:.3f}, {train_time:.0f}s train, "
            f"val greedy BLEU {val.score:.2f} ({time.time() - te - train_time:.0f}s), elapsed {time.time() - t0:.0f}s")
        if val.score > best:
            best, stale = val.score, 0
            save_asset(model, tok, best_dir, {"epoch": epoch, "val_greedy_bleu": round(val.score, 2)})
            log(f"epoch {epoch}: new best, saved to {best_dir}")
        else:
            stale += 1
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "epoch": epoch,
                    "best": best, "stale": stale, "rng": rng.getstate(), "torch_rng": torch.get_rng_state()},
                   a.out / "last.pt")
        if a.stop_after and epoch >= a.stop_after:
            log(f"stopped after epoch {epoch} (--stop-after)")
            break
        if a.time_limit and (time.time() - t0) + (time.time() - te) > a.time_limit * 60:
            log(f"time limit: another epoch would end past {a.time_limit} minutes")
            break
        if stale >= a.patience:
            log(f"early stop: no val improvement for {stale} epochs")
            break

    finish(best_dir, tok, data, log)
    log(f"total time {time.time() - t0:.0f}s")
    shutil.copy(a.out / "train.log", best_dir / "train.log")
    write_sums(best_dir)


def resume(a, model, opt, rng) -> tuple[int, int, float, int]:
    """The last epoch's checkpoint restored; returns (step, next epoch, best BLEU, stale epochs)."""
    ck = torch.load(a.out / "last.pt", weights_only=True)
    model.load_state_dict(ck["model"]), opt.load_state_dict(ck["opt"])
    rng.setstate(ck["rng"]), torch.set_rng_state(ck["torch_rng"])
    return ck["step"], ck["epoch"] + 1, ck["best"], ck["stale"]


def finish(best_dir, tok, data, log) -> None:
    """The best checkpoint as it ships (fp16 weights upcast to fp32), scored by beam search."""
    model = load_model(best_dir)
    for split in ("val", "test"):
        t = time.time()
        score = bleu(model, tok, data[split][0], data[split][1], beam_size=5)
        log(f"best checkpoint, {split}, beam 5: {score} ({time.time() - t:.0f}s)")


if __name__ == "__main__":
    main()
