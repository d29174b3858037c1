"""Does a distance on decoded translations foretell the confirm BLEU better than the
teacher-forced KL? For the trials of results/gnmt-multi30k/fidelity_signal.md, each recipe
greedy-decodes the task's default pool (1,024 training sentences, no references read) and
is compared with FP32's greedy translations by corpus BLEU, chrF and TER, and by the share
of sentences translated exactly as FP32 does; Spearman's rank correlation of each with the
confirm BLEU is printed as a markdown table, beside the page's search BLEU and KL.

    python -m experiments.decoded_signal --study DIR > section.md

DIR holds the study's study.db and stats.yaml (`git archive 2742e32
results/gnmt-multi30k/vs_random/tpe-local0-refine8-s4 | tar -x -C /tmp` restores them).
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import optuna
import sacrebleu
import torch
from scipy.stats import spearmanr

from autoq import Recipe, plan, quantize_plan
from autoq.evaluate import prepare_task
from autoq.quant import stats as stats_io
from autoq.tasks import get_task
from autoq.tasks.gnmt.beam import translate_ids
from autoq.tasks.gnmt.corpus import EOS, PAD, decode

PAGE = Path("results/gnmt-multi30k/fidelity_signal.md")


def page_rows() -> dict[int, tuple[float, float, float]]:
    """trial -> (search BLEU, KL, confirm BLEU), as the page's table gives them."""
    rows = [line.split("|") for line in PAGE.read_text().splitlines() if re.match(r"\| \d+ \| 0\.", line)]
    return {int(r[1]): (float(r[3]), float(r[4]), float(r[5])) for r in rows}


def sources(task) -> list[list[int]]:
    """The pool's English sentences as token ids, from its teacher-forcing batches."""
    out = []
    for src, lengths, *_ in task.pool_batches():
        out += [row[:n - 1].tolist() for row, n in zip(src, lengths.tolist())]  # </s> dropped
    assert all(PAD not in s and EOS not in s for s in out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--study", required=True, help="the study folder the page was made from")
    folder = Path(p.parse_args().study)
    db = f"sqlite:///{(folder / 'study.db').resolve()}"
    study = optuna.load_study(study_name=optuna.get_all_study_names(db)[0], storage=db)
    stats = stats_io.load(folder / "stats.yaml")
    task = get_task("gnmt-multi30k")
    src, model = sources(task), prepare_task(task)

    def greedy(m) -> list[str]:
        with torch.no_grad():
            return decode(task.tokenizer, translate_ids(m.eval(), src, beam_size=1, batch_size=128))

    started = time.time()
    fp32 = greedy(task.build_model())
    measures = {"search bleu (the page)": [], "KL, teacher-forced (the page)": [], "BLEU vs FP32's greedy": [],
                "chrF vs FP32's greedy": [], "TER vs FP32's greedy (lower: closer)": [],
                "sentences as FP32 translates them": []}
    confirm = []
    for trial, (search, kl, conf) in page_rows().items():
        out = greedy(quantize_plan(plan(model, Recipe.from_yaml(study.trials[trial].user_attrs["recipe"])), stats))
        values = [search, -kl, sacrebleu.corpus_bleu(out, [fp32]).score, sacrebleu.corpus_chrf(out, [fp32]).score,
                  -sacrebleu.corpus_ter(out, [fp32]).score, sum(a == b for a, b in zip(out, fp32)) / len(out)]
        for column, v in zip(measures.values(), values):
            column.append(v)
        confirm.append(conf)
    print(f"{len(confirm)} trials, {len(src)} pool sentences, {time.time() - started:.0f} s\n")
    print("| Spearman with the confirm bleu | all |\n|---|---|")
    for name, column in measures.items():
        print(f"| {name} | {spearmanr(column, confirm).statistic:.3f} |")


if __name__ == "__main__":
    main()
