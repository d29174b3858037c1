"""Does the pool matter? The fidelity objective measured on held-out inputs (the search
split's inputs, labels unread: GNMT teacher-forced on FP32's greedy translations) instead
of the default training-data pool, by KL and by top-1 disagreement with FP32 (the share of
examples, or target tokens, whose most likely class differs), ranked against the confirm
metric over the same trials as fidelity_signal.md (whose table it reads).

    python -m experiments.pool_probe minilm-mrpc
    python -m experiments.pool_probe gnmt-multi30k

A probe, not a search setting: it gives the task its held-out pool in code (the task's
``pool_batches``, replaced on the instance), since a pool that shares inputs with a judged
split is refused by --pool.

The committed studies it reads are in git history: `git checkout 2742e32 -- results/`.
"""
from __future__ import annotations

import argparse
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

STUDIES = {"gnmt-multi30k": "results/gnmt-multi30k/vs_random/tpe-local0-refine8-s4",
           "minilm-mrpc": "results/minilm-mrpc"}


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=sorted(STUDIES))
    task_name = p.parse_args().task
    folder = Path(STUDIES[task_name])
    md = Path(f"results/{task_name}/fidelity_signal.md").read_text().splitlines()
    rows = [line.split("|") for line in md if re.match(r"\| \d+ \| 0\.", line)]
    table = {int(r[1]): (float(r[3]), float(r[4]), float(r[5])) for r in rows}
    db = f"sqlite:///{folder}/study.db"
    st = optuna.load_study(study_name=optuna.get_all_study_names(db)[0], storage=db)
    stats = stats_io.load(folder / "stats.yaml")
    task = get_task(task_name)
    held_out = held_out_minilm(task) if task_name == "minilm-mrpc" else held_out_gnmt(task)
    task.pool_batches = lambda: held_out
    ref = Reference(task)
    flips = {}
    orig = task.distance

    def distance(r, o, mask):
        same = (r.argmax(-1) == o.argmax(-1)).float()
        if same.dim() > 1:
            m = mask.float() if mask is not None else torch.ones_like(same)
            same = (same * m).sum(1) / m.sum(1)
        flips.setdefault("cur", []).append((1 - same))
        return orig(r, o, mask)
    task.distance = distance
    model = prepare_task(task)
    out = []
    for n, (search, kl_train, confirm) in table.items():
        flips["cur"] = []
        q = quantize(model, Recipe.from_yaml(st.trials[n].user_attrs["recipe"]), stats)
        kl = ref.measure(q).value
        flip = float(torch.cat(flips["cur"]).mean())
        out.append((n, search, kl_train, kl, flip, confirm))
    conf = [o[5] for o in out]
    print(task_name, "n", len(out))
    print("search metric rho", spearmanr([o[1] for o in out], conf).statistic)
    print("KL train-pool rho", spearmanr([-o[2] for o in out], conf).statistic)
    print("KL held-out rho", spearmanr([-o[3] for o in out], conf).statistic)
    print("flips held-out rho", spearmanr([-o[4] for o in out], conf).statistic)
    fp = st.user_attrs["fp32_metric"]
    near = [o for o in out if fp - o[1] <= 0.1 * abs(fp)]
    for name, col, sgn in (("search", 1, 1), ("KL train", 2, -1), ("KL held-out", 3, -1), ("flips held-out", 4, -1)):
        print("near", len(near), name, spearmanr([sgn * o[col] for o in near], [o[5] for o in near]).statistic)
    for o in out:
        print(o)


if __name__ == "__main__":
    main()
