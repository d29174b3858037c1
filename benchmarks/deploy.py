"""Deploy benchmark: every registered kernel against FP32 on MiniLM-shaped layers, and a
BERT-shaped model deployed against FP32 and torch's plain quantize_dynamic.

    python -m benchmarks.deploy [--threads 1,2] [--repeats 20] [--quick] [--out DIR]

Per layer (word embedding 30522x384, Linear 384->384, 384->1536, 1536->384, batch 8 x
128 tokens) each kernel that can run the recipe's int8 (or 4-bit embedding) setting is
timed against the float layer on the same input, calls alternating, medians of
``--repeats``; the table gives FP32 time / kernel time (above 1: faster). The model part
builds a 6-layer BERT-shaped stack with ``autoq.deploy.build`` (kernels picked by
measurement) and times it beside FP32 and the peer. Only ratios measured side by side in
one run mean anything on a shared machine; absolute times are printed for reference.
Writes ``<out>/deploy.json`` and ``<out>/deploy.md`` when ``--out`` is given.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
from torch import nn

from autoq import Recipe, plan
from autoq.deploy import build, capture_inputs
from autoq.deploy.measure import alternate, run_batch
from autoq.deploy.registry import kernels_for
from autoq.deploy.run import peer
from autoq.deploy.units import encode_unit, units_of

INT8 = Recipe.build({"bits_weights": 8, "bits_activations": 8, "per_channel_wts": True},
                    {"emb4": {"bits_weights": 4}}, activations={".*": "dynamic"})


class Block(nn.Module):
    """A BERT encoder layer's Linears with GELU and residuals (no attention matmuls)."""

    def __init__(self, h: int, ff: int):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.up, self.down = nn.Linear(h, ff), nn.Linear(ff, h)
        self.norm1, self.norm2 = nn.LayerNorm(h), nn.LayerNorm(h)

    def forward(self, x):
        att = torch.softmax(self.q(x) @ self.k(x).transpose(1, 2) / x.shape[-1] ** 0.5, -1) @ self.v(x)
        x = self.norm1(x + self.o(att))
        return self.norm2(x + self.down(nn.functional.gelu(self.up(x))))


class BertShaped(nn.Module):
    def __init__(self, vocab: int, h: int, ff: int, layers: int):
        super().__init__()
        self.emb8, self.emb4 = nn.Embedding(vocab, h), nn.Embedding(vocab, h)
        self.blocks = nn.ModuleList(Block(h, ff) for _ in range(layers))
        self.head = nn.Linear(h, 2)

    def forward(self, ids):
        x = self.emb8(ids) + self.emb4(ids)
        for b in self.blocks:
            x = b(x)
        return self.head(x[:, 0])


def layer_table(model: nn.Module, ids: torch.Tensor, threads: list[int], repeats: int) -> list[dict]:
    """FP32 time / kernel time for every offered kernel of one block and the embeddings."""
    wanted = {"emb8", "emb4", "blocks.0.q", "blocks.0.up", "blocks.0.down"}
    units = [u for u in units_of(model, plan(model, INT8)) if u.name in wanted]
    inputs = capture_inputs(model, [u.name for u in units], (ids,))
    rows = []
    for unit in units:
        stored, meta = encode_unit(unit)
        args, kwargs = inputs[unit.name]
        calls = {"fp32": lambda m=unit.module: m(*args, **kwargs)}
        for kernel in kernels_for(unit.module):
            offer = kernel.offer(unit)
            if offer is None or kernel.backend == "packed":
                continue
            m = kernel.runtime(unit.module, stored, meta, offer.options)
            calls[kernel.name] = lambda m=m: m(*args, **kwargs)
        for t in threads:
            times = alternate(calls, t, repeats)
            rows += [{"layer": unit.name, "shape": list(unit.module.weight.shape), "threads": t,
                      "kernel": k, "s": v, "fp32_over_kernel": times["fp32"] / v}
                     for k, v in times.items() if k != "fp32"]
    return rows


def model_ratios(model: nn.Module, ids: torch.Tensor, threads: list[int], repeats: int) -> dict:
    deployed = build(model, plan(model, INT8), sample=(ids,), threads=threads)
    calls = {name: (lambda m=m: run_batch(m, (ids,))) for name, m in
             (("fp32", model), ("deployed", deployed.model), ("peer", peer(model)))}
    out = {}
    for t in threads:
        times = alternate(calls, t, repeats)
        out[str(t)] = {"s": times, "speedup": times["fp32"] / times["deployed"],
                       "peer_speedup": times["fp32"] / times["peer"]}
    out["kernels"] = sorted({e["kernel"] for e in deployed.manifest["units"].values() if "kernel" in e})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="tiny shapes, few repeats")
    ap.add_argument("--out")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    torch.manual_seed(0)
    quick, full = (1000, 64, 256, 2, 2, 16), (30522, 384, 1536, 6, 8, 128)
    vocab, h, ff, layers, batch, seq = quick if args.quick else full
    repeats = 3 if args.quick else args.repeats
    model = BertShaped(vocab, h, ff, layers).eval()
    ids = torch.randint(0, vocab, (batch, seq))
    with torch.no_grad():
        rows = layer_table(model, ids, threads, repeats)
        whole = model_ratios(model, ids, threads, repeats)
    lines = [f"# Deploy kernels ({platform.processor() or platform.machine()}, torch {torch.__version__})",
             "", "| layer | threads | kernel | fp32 / kernel |", "|---|---|---|---|"]
    lines += [f"| {r['layer']} {r['shape']} | {r['threads']} | {r['kernel']} | {r['fp32_over_kernel']:.2f} |"
              for r in rows]
    lines += ["", f"Whole BERT-shaped model ({', '.join(whole['kernels'])}):", ""]
    lines += [f"- {t} thread(s): deployed {whole[str(t)]['speedup']:.2f}x, peer "
              f"{whole[str(t)]['peer_speedup']:.2f}x faster than fp32" for t in threads]
    print("\n".join(lines))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "deploy.json").write_text(json.dumps({"layers": rows, "model": whole}, indent=1) + "\n")
        (out / "deploy.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
