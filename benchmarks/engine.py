"""Engine benchmark: FP32 vs 8-bit quantized forward time, and the cost of calibration.

    python -m benchmarks.engine [--device cpu|cuda] [--quick] [--threads N] [--out DIR]

Two models defined here: a GNMT-shaped one (nn.LSTM encoder/decoder with Bahdanau
attention) and a BERT-shaped Linear stack. Each is timed as a user runs it (FP32, nn.LSTM)
and after ``autoq.quantize`` with 8-bit weights and static 8-bit activations everywhere.
Times are medians over repeated runs after a warm-up, FP32 and quantized alternating.
``calib_over_fp32`` is the time of ``collect_stats`` (cache off) over the calibration
batches divided by one FP32 pass over them, the worse of the two models. One torch
thread by default: on a small machine shared with training jobs, more threads than free
cores make every small op wait on descheduled workers and the numbers meaningless.

Writes ``<out>/engine.json`` (the block for this device merged into what is there) and
``<out>/engine.md``. ``--quick`` uses tiny shapes and writes nothing unless ``--out`` is given.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import time
from pathlib import Path

import torch
from torch import nn

import autoq
from autoq.io import write_atomic
from autoq.quant import BatchMatmul, Concat, EltwiseAdd, Matmul

ROOT = Path(__file__).resolve().parent.parent  # results/

TARGET_RATIO, TARGET_CALIB = 1.5, 2.0


# --- models -------------------------------------------------------------------------------

class Attention(nn.Module):
    """Bahdanau: scores = tanh(Wq q + Wk k) . v, context = softmax(scores) @ values."""

    def __init__(self, h: int):
        super().__init__()
        self.linear_q, self.linear_k = nn.Linear(h, h, bias=False), nn.Linear(h, h, bias=False)
        self.eltwiseadd_qk, self.tanh = EltwiseAdd(), nn.Tanh()
        self.v = nn.Parameter(torch.randn(h, 1) / h ** 0.5)
        self.matmul_score, self.context_matmul = Matmul(), BatchMatmul()

    def forward(self, query, values):
        # (B, Tq, 1, H) + (B, 1, Tk, H) -> (B, Tq, Tk, H)
        s = self.eltwiseadd_qk(self.linear_q(query).unsqueeze(2), self.linear_k(values).unsqueeze(1))
        scores = self.matmul_score(self.tanh(s), self.v).squeeze(-1)
        return self.context_matmul(scores.softmax(-1), values)


class GNMT(nn.Module):
    """Shared embedding; encoder: bidirectional LSTM, then 3 LSTMs, residuals from the third;
    decoder: attention LSTM, then 3 LSTMs fed [hidden, context], residuals from the second."""

    def __init__(self, vocab: int, h: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, h)
        self.encoder = nn.ModuleList([nn.LSTM(h, h, batch_first=True, bidirectional=True),
                                      nn.LSTM(2 * h, h, batch_first=True)]
                                     + [nn.LSTM(h, h, batch_first=True) for _ in range(2)])
        self.encoder_residuals = nn.ModuleList(EltwiseAdd() for _ in range(2))
        self.att_rnn, self.attention = nn.LSTM(h, h, batch_first=True), Attention(h)
        self.decoder = nn.ModuleList(nn.LSTM(2 * h, h, batch_first=True) for _ in range(3))
        self.concats = nn.ModuleList(Concat(2) for _ in range(3))
        self.decoder_residuals = nn.ModuleList(EltwiseAdd() for _ in range(2))
        self.classifier = nn.Linear(h, vocab)

    def forward(self, src, tgt):
        x = self.embedding(src)
        for i, rnn in enumerate(self.encoder):
            y = rnn(x)[0]
            x = self.encoder_residuals[i - 2](y, x) if i >= 2 else y
        memory = x
        x = self.att_rnn(self.embedding(tgt))[0]
        context = self.attention(x, memory)
        for i, rnn in enumerate(self.decoder):
            y = rnn(self.concats[i](x, context))[0]
            x = self.decoder_residuals[i - 1](y, x) if i >= 1 else y
        return self.classifier(x)


class Block(nn.Module):
    """A post-LN transformer block whose matmuls and adds are op modules."""

    def __init__(self, d: int, heads: int, ff: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.matmul_scores, self.context_matmul = Matmul(), BatchMatmul()
        self.ff1, self.act, self.ff2 = nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d)
        self.add_attn, self.add_ffn = EltwiseAdd(), EltwiseAdd()
        self.norm_attn, self.norm_ffn = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x):
        b, t, d = x.shape
        heads = lambda y: y.view(b, t, self.heads, -1).transpose(1, 2)  # (B, heads, T, d/heads)
        q, k, v = heads(self.q(x) * (d // self.heads) ** -0.5), heads(self.k(x)), heads(self.v(x))
        probs = self.matmul_scores(q, k.transpose(-1, -2)).softmax(-1)
        c = self.context_matmul(probs.reshape(b * self.heads, t, t), v.reshape(b * self.heads, t, -1))
        x = self.norm_attn(self.add_attn(x, self.o(c.view(b, self.heads, t, -1).transpose(1, 2).reshape(b, t, d))))
        return self.norm_ffn(self.add_ffn(x, self.ff2(self.act(self.ff1(x)))))


class Bert(nn.Sequential):
    def __init__(self, blocks: int, d: int, heads: int, ff: int):
        super().__init__(*(Block(d, heads, ff) for _ in range(blocks)))


# name -> (shapes, quick shapes)
SHAPES = {
    "gnmt": (dict(vocab=8000, hidden=512, batch=64, src=22, tgt=20),
             dict(vocab=100, hidden=32, batch=4, src=6, tgt=5)),
    "bert": (dict(blocks=6, d=384, heads=12, ff=1536, batch=8, seq=128),
             dict(blocks=2, d=32, heads=4, ff=64, batch=2, seq=8)),
}
# name -> (forward reps, calibration reps): a full run stays within ~3 minutes on 1 thread
REPS = {"gnmt": (11, 3), "bert": (11, 3)}
CALIB_BATCHES = 2


def make(name: str, s: dict, n_batches: int, device: torch.device):
    """The model and ``n_batches`` random batches (tuples of forward arguments)."""
    if name == "gnmt":
        model = GNMT(s["vocab"], s["hidden"])
        batches = [(torch.randint(1, s["vocab"], (s["batch"], s["src"])),
                    torch.randint(1, s["vocab"], (s["batch"], s["tgt"]))) for _ in range(n_batches)]
    else:
        model = Bert(s["blocks"], s["d"], s["heads"], s["ff"])
        batches = [(torch.randn(s["batch"], s["seq"], s["d"]),) for _ in range(n_batches)]
    batches = [tuple(t.to(device) for t in b) for b in batches]
    return model.to(device).eval(), batches


# --- timing -------------------------------------------------------------------------------

def timer(device: torch.device):
    """``run(fn) -> (seconds, fn())``, synchronized on CUDA."""
    def run(fn):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, out
    return run


def bench(name: str, shapes: dict, reps: int, calib_reps: int, device: torch.device) -> dict:
    time_it = timer(device)
    model, batches = make(name, shapes, CALIB_BATCHES, device)
    batch = batches[0]
    fp32_pass = lambda: [model(*b) for b in batches]
    with torch.no_grad():
        fp32_pass()  # warm-up
        passes, calib = [], []
        for _ in range(calib_reps):  # collect_stats on the float model, no cache
            passes.append(time_it(fp32_pass)[0])
            seconds, stats = time_it(lambda: autoq.collect_stats(model, batches))
            calib.append(seconds)
        quant = autoq.quantize(model, autoq.Recipe.build({"bits_weights": 8, "bits_activations": 8}), stats)
        ref, out = model(*batch), quant(*batch)  # warm-up, and a sanity check of the quantized model
        err = ((out - ref).norm() / ref.norm()).item()
        fp32, q = [], []
        for _ in range(reps):
            fp32.append(time_it(lambda: model(*batch))[0])
            q.append(time_it(lambda: quant(*batch))[0])
    fp32_s, quant_s = statistics.median(fp32), statistics.median(q)
    return {"fp32_s": fp32_s, "quant_s": quant_s, "ratio": quant_s / fp32_s,
            "calib_over_fp32": statistics.median(calib) / statistics.median(passes), "rel_err": err}


# --- output -------------------------------------------------------------------------------

def machine(device: torch.device, threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    desc = (f"CPU {cpu}, {os.cpu_count()} logical cores, {threads} torch threads, torch {torch.__version__}, "
            f"load average {os.getloadavg()[0]:.1f} at start")
    return desc + (f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "")


def markdown_section(device: str, block: dict, rows: dict, desc: str) -> str:
    lines = [f"## {device}", "", desc, "",
             "| model | FP32 (s) | quantized (s) | quant/FP32 | calibration / FP32 pass |",
             "|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['fp32_s']:.4f} | {r['quant_s']:.4f} | {r['ratio']:.2f} "
                     f"| {r['calib_over_fp32']:.2f} |")
    lines += ["", f"Targets: quant/FP32 <= {TARGET_RATIO}, calibration <= {TARGET_CALIB} FP32 passes "
              f"(JSON `calib_over_fp32` = {block['calib_over_fp32']:.2f}, the worse model).", ""]
    return "\n".join(lines)


def save(out: Path, device: str, block: dict, section: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "engine.json", out / "engine.md"
    data = json.loads(json_path.read_text()) if json_path.is_file() else {}
    data[device] = block
    write_atomic(json_path, json.dumps(data, indent=2) + "\n")
    # keep the other devices' sections of the markdown, replace this one
    sections = {}
    if md_path.is_file():
        for part in re.split(r"^(?=## )", md_path.read_text(), flags=re.M):
            if part.startswith("## "):
                sections[part.split()[1]] = part.rstrip() + "\n"
    sections[device] = section
    body = "\n".join(sections[d] for d in sorted(sections))
    write_atomic(md_path, "# autoq engine benchmark\n\n"
                 "8-bit weights, static 8-bit activations everywhere; times are medians. Made by "
                 "`python -m benchmarks.engine --device cpu|cuda`, one section a device.\n\n" + body)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--quick", action="store_true", help="tiny shapes, a smoke test")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: stable on a machine shared with training jobs)")
    p.add_argument("--out", type=Path, default=None, help="default results/bench (none with --quick)")
    args = p.parse_args()
    out = args.out or (None if args.quick else ROOT / "results/bench")
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    desc = machine(device, args.threads)
    print(desc)
    rows = {name: bench(name, shapes[args.quick], *((3, 1) if args.quick else REPS[name]), device)
            for name, shapes in SHAPES.items()}
    print(f"{'model':6} {'fp32_s':>9} {'quant_s':>9} {'ratio':>6} {'calib/fp32':>10} {'rel_err':>8}")
    for name, r in rows.items():
        print(f"{name:6} {r['fp32_s']:9.4f} {r['quant_s']:9.4f} {r['ratio']:6.2f} "
              f"{r['calib_over_fp32']:10.2f} {r['rel_err']:8.4f}")
    block = {name: {k: r[k] for k in ("fp32_s", "quant_s", "ratio")} for name, r in rows.items()}
    block.update(calib_over_fp32=max(r["calib_over_fp32"] for r in rows.values()),
                 threads=args.threads, torch=torch.__version__)
    ok = all(r["ratio"] <= TARGET_RATIO for r in rows.values()) and block["calib_over_fp32"] <= TARGET_CALIB
    print(f"targets (ratio <= {TARGET_RATIO}, calibration <= {TARGET_CALIB}): {'met' if ok else 'MISSED'}")
    if out is not None:
        save(out, args.device, block, markdown_section(args.device, block, rows, desc))
        print(f"wrote {out / 'engine.json'} and {out / 'engine.md'}")


if __name__ == "__main__":
    main()
