"""Does the pool matter? The fidelity objective measured on held-out inputs (the search
split's inputs, labels unread: GNMT teacher-forced on FP32's greedy translations) instead
of the default training-data pool, by KL and by top-1 disagreement with FP32 (the share of
examples, or target tokens, whose most likely class differs), ranked against the confirm
metric over the same trials as fidelity_signal.md (whose table it reads).

    python -m experiments.pool_probe minilm-mrpc
    python -m experiments.pool_probe gnmt-multi30k

A probe, not a search setting: it swaps the task's pool in place (a private attribute),
since a pool that shares inputs with a judged split is refused by --pool.

The committed studies it reads are in git history: `git checkout 2742e32 -- results/`.
"""
import re
import sys
from pathlib import Path
import optuna
import torch
from scipy.stats import spearmanr
from autoq.evaluate import prepare_task
from autoq.fidelity import Reference
from autoq.quant import quantize, stats as stats_io
from autoq.recipe import Recipe
from autoq.tasks import get_task
task_name = sys.argv[1]
folder = Path({"gnmt-multi30k": "results/gnmt-multi30k/vs_random/tpe-local0-refine8-s4",
               "minilm-mrpc": "results/minilm-mrpc"}[task_name])
md = Path(f"results/{task_name}/fidelity_signal.md").read_text().splitlines()
rows = [l.split("|") for l in md if re.match(r"\| \d+ \| 0\.", l)]
table = {int(r[1]): (float(r[3]), float(r[4]), float(r[5])) for r in rows}
st = optuna.load_study(study_name=optuna.get_all_study_names(f"sqlite:///{folder}/study.db")[0], storage=f"sqlite:///{folder}/study.db")
stats = stats_io.load(folder / "stats.yaml")
task = get_task(task_name)
if task_name == "minilm-mrpc":
    task.pool_batches()
    task._pool, task._pool_batches = list(task._splits["search"]), None
else:
    from autoq.tasks.gnmt.corpus import read_lines
    task._pool, task._pool_batches = (read_lines("val", "en"), None), None
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
for o in out: print(o)
