"""Does the pool or the distance matter? Over the trials of fidelity_signal.md (whose
table it reads), several distances from FP32 measured on two pools, ranked against the
confirm metric: the task's default pool (training data's inputs) and held-out inputs (the
search split's inputs, labels unread; GNMT teacher-forced on FP32's greedy translations).

    python -m experiments.pool_probe --task minilm-mrpc --study DIR
    python -m experiments.pool_probe --task gnmt-multi30k --study DIR
    python -m experiments.pool_probe --task minilm-mrpc --study DIR --signal PAGE --section ''

Distances, per example (a translator's: per target token, then averaged over the
sentence): KL(FP32 || recipe) (the objective's default), total variation, top-1
disagreement (1 where the most likely class, or token, differs from FP32's), and the mean
squared difference of the centred log-probabilities (a logit distance that does not
saturate). A probe, not a search setting: a held-out pool shares inputs with a judged
split, which --pool refuses.

The studies it reads are in git history: `git checkout 2742e32 -- results/` (MiniLM:
results/minilm-mrpc; GNMT: results/gnmt-multi30k/vs_random/tpe-local0-refine8-s4).
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import optuna
import torch
from scipy.stats import spearmanr

from autoq import Recipe, quantize
from autoq.evaluate import prepare_task
from autoq.fidelity import Reference
from autoq.quant import stats as stats_io
from autoq.tasks import get_task
from autoq.tasks.gnmt.beam import translate_ids
from autoq.tasks.gnmt.corpus import encode, read_lines, teacher_batch
from autoq.tasks.minilm.data import Encoded, splits
from autoq.tasks.minilm.model import load_tokenizer


def held_out_minilm(task) -> list:
    """The search split's pairs, labels unread, in batches as the task cuts its own pool."""
    pairs = splits()["search"]
    enc = Encoded(load_tokenizer(task.model_dir), pairs)
    return [enc.batch(b) for b in enc.sorted_batches(min(task.batch_size, max(1, len(pairs) // 4)))]


def held_out_gnmt(task) -> list:
    """The search split's English (val) teacher-forced on FP32's greedy translations, in
    batches as the task cuts a pool without German."""
    src = encode(task.tokenizer, read_lines("val", "en"))
    with torch.no_grad():
        tgt = translate_ids(task.build_model().eval(), src, beam_size=1, batch_size=task.batch_size)
    order = sorted(range(len(src)), key=lambda i: (len(tgt[i]), len(src[i])))  # little padding
    parts = [order[k:k + task.pool_batch_size] for k in range(0, len(order), task.pool_batch_size)]
    return [teacher_batch([src[i] for i in part], [tgt[i] for i in part]) for part in parts]


def _centred(logp: torch.Tensor) -> torch.Tensor:
    return logp - logp.mean(-1, keepdim=True)


OTHERS = {  # per position, from FP32's log-probabilities r and the recipe's q
    "total variation": lambda r, q: 0.5 * (r.exp() - q.exp()).abs().sum(-1),
    "top-1 disagreement": lambda r, q: (r.argmax(-1) != q.argmax(-1)).double(),
    "logit MSE": lambda r, q: ((_centred(r) - _centred(q)) ** 2).mean(-1),
}


def per_example(d: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if d.dim() == 1:
        return d.double()
    m = torch.ones_like(d) if mask is None else mask.to(d.dtype)
    return ((d * m).sum(1) / m.sum(1)).double()


class Pool:
    """A ``Reference`` on a pool's batches (FP32's log-probabilities, held once), and a
    model's distances from them."""

    def __init__(self, task, batches: list, name: str):
        self.task, self.ref = task, Reference(task, batches=batches, pool_key=name)

    def distances(self, model) -> dict[str, float]:
        sums = {name: [] for name in ["KL", *OTHERS]}
        with torch.no_grad():
            for b, batch in enumerate(self.ref.batches):
                r, mask = self.ref.fp32(b)
                q, _ = self.task.log_probs(model, batch)
                r, q = r.double(), q.double()
                sums["KL"].append(self.task.distance(r, q, mask))  # the objective's own
                for name, f in OTHERS.items():
                    sums[name].append(per_example(f(r, q), mask))
        return {name: float(torch.cat(v).mean()) for name, v in sums.items()}


def signal_table(page: Path, section: str) -> dict[int, tuple[float, float]]:
    """Trial -> (search metric, confirm metric): the first trial table of a page that
    fidelity_signal.py wrote, after the first line holding ``section`` (any, if empty)."""
    lines = page.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if section.lower() in line.lower()), None)
    if start is None:
        raise SystemExit(f"{page} has no line holding {section!r} (--section)")
    rows = []
    for line in lines[start:]:
        if re.match(r"\| \d+ \| 0\.", line):
            rows.append(line.split("|"))
        elif rows:  # the table has ended
            break
    return {int(r[1]): (float(r[3]), float(r[5])) for r in rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, choices=["gnmt-multi30k", "minilm-mrpc"])
    p.add_argument("--study", required=True, help="the study folder fidelity_signal.md read")
    p.add_argument("--signal", help="the page whose trials are probed (default: the task's "
                   "results/<task>/fidelity_signal.md)")
    p.add_argument("--section", default="over a metric study's trials",
                   help="the page's section that holds the trial table ('' : the first table)")
    p.add_argument("--json", help="write every trial's figures here")
    args = p.parse_args()
    folder = Path(args.study)
    db = f"sqlite:///{folder.resolve()}/study.db"
    study = optuna.load_study(study_name=optuna.get_all_study_names(db)[0], storage=db)
    stats = stats_io.load(folder / "stats.yaml")
    task = get_task(args.task)
    held = held_out_minilm(task) if args.task == "minilm-mrpc" else held_out_gnmt(task)
    pools = {"default pool": Pool(task, list(task.pool_batches()), task.pool_key),
             "held-out": Pool(task, held, "held-out")}
    model = prepare_task(task)
    rows = []
    page = Path(args.signal or f"results/{args.task}/fidelity_signal.md")
    for n, (search, confirm) in signal_table(page, args.section).items():
        q = quantize(model, Recipe.from_yaml(study.trials[n].user_attrs["recipe"]), stats).eval()
        row = {"trial": n, "search": search, "confirm": confirm}
        for pool_name, pool in pools.items():
            row.update({f"{d}, {pool_name}": v for d, v in pool.distances(q).items()})
        rows.append(row)
        print(row, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    fp = study.user_attrs["fp32_metric"]
    near = [r for r in rows if fp - r["search"] <= 0.1 * abs(fp)]
    print(f"| Spearman with the confirm metric | all ({len(rows)}) | within 10% of FP32 ({len(near)}) |")
    print("|---|---|---|")
    for key in [k for k in rows[0] if k not in ("trial", "confirm")]:
        sign = 1 if key == "search" else -1  # a distance: lower foretells higher
        rho = [spearmanr([sign * r[key] for r in part], [r["confirm"] for r in part]).statistic
               for part in (rows, near)]
        label = "search-split metric" if key == "search" else key
        print(f"| {label} | {rho[0]:.3f} | {rho[1]:.3f} |")


if __name__ == "__main__":
    main()
