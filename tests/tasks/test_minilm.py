"""minilm-mrpc: data split, F1, evaluation, calibration and the fine-tune cache.

Uses the pretrained model with a fresh (seeded) head, so no fine-tuned cache is needed.
"""
import json
import os
from collections import Counter
from pathlib import Path

import pytest
import torch

from autoq.errors import AutoqError
from autoq.tasks.minilm import data, finetune
from autoq.tasks.minilm.metric import confusion_rows, f1, f1_of_counts
from autoq.tasks.minilm.model import load_model, load_tokenizer, pretrained_dir
from autoq.tasks.minilm.task import MiniLMMRPC

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _data_env(monkeypatch):
    if not os.environ.get("AUTOQ_DATA"):
        if not (SHARED / "mrpc").is_dir():
            pytest.skip("set AUTOQ_DATA to a folder holding mrpc/")
        monkeypatch.setenv("AUTOQ_DATA", str(SHARED))


@pytest.fixture(scope="module")
def task():
    return MiniLMMRPC(model_dir=pretrained_dir())


@pytest.fixture(scope="module")
def model(task):
    return task.build_model()


def test_split_sizes_disjoint_and_seeded():
    sp = data.splits()
    assert {k: len(v) for k, v in sp.items()} == {"finetune": 3260, "search": 408, "confirm": 408}
    train = data.read_tsv("train.tsv")
    assert Counter(sp["finetune"]) + Counter(sp["search"]) == Counter(train)  # a partition
    assert not set(sp["finetune"]) & set(sp["search"])
    assert data.splits() == sp
    assert data.splits(seed=1)["search"] != sp["search"]


def test_f1_hand_computed():
    # tp=2, fp=1, fn=1: precision = recall = 2/3, so F1 = 2/3
    assert f1([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0]) == pytest.approx(2 / 3)
    assert f1([1, 0, 1], [1, 1, 1]) == pytest.approx(0.8)  # p=2/3, r=1
    assert f1([1, 0], [0, 0]) == 0.0
    for labels, preds in (([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0]), ([1, 0, 1], [1, 1, 1]), ([1, 0], [0, 0])):
        rows = confusion_rows(labels, preds)  # per example: tp, fp, fn
        assert rows.shape == (len(labels), 3) and f1_of_counts(rows.sum(0)) == pytest.approx(f1(labels, preds))


def test_a_fraction_is_spread_batches_and_the_whole_reuses_them(model):
    task = MiniLMMRPC(model_dir=pretrained_dir(), batch_size=16)  # the 408 in 26 batches
    part = task.evaluate(model, "search", fraction=0.1)
    assert part.n == 48 and part.metric_name == "f1" and 0.0 <= part.metric <= 1.0
    assert part.signature.startswith("f1|mrpc-search|n=48|") and part.signature.endswith("|batches=4,13,21/26")
    assert part.examples.shape == (48, 3) and task.summed_metric(part.examples.sum(0)) == pytest.approx(part.metric)
    assert task.evaluate(model, "search", fraction=0.1) == part  # the same part on every call
    assert task.evaluate(model, "confirm", fraction=0.02).signature.startswith("f1|mrpc-dev|n=16|")
    ran = []
    hook = model.register_forward_pre_hook(lambda m, args: ran.append(1))
    try:
        memo = {}
        assert task.evaluate(model, "search", fraction=0.1, memo=memo) == part
        whole = task.evaluate(model, "search", memo=memo)
        assert len(ran) == 26  # 3 batches, then the other 23
    finally:
        hook.remove()
    assert whole == task.evaluate(model, "search")  # what the whole scores without the memo
    assert whole.n == 408 and "batches=" not in whole.signature


def test_chance_is_every_pair_a_paraphrase_signed_like_a_whole_split(task, model):
    labels = [pair.label for pair in data.splits()["search"]]
    best = task.chance("search")
    assert best.metric == pytest.approx(f1(labels, [1] * len(labels)))  # 280 of 408: 0.8140
    assert best.n == 408 and best.examples.shape == (408, 3)
    assert best.signature == task.evaluate(model, "search").signature
    assert task.chance("confirm").signature.startswith("f1|mrpc-dev|n=408|")
    with pytest.raises(AutoqError, match="split"):
        task.chance("train")


def test_evaluate_rejects_bad_arguments(task, model):
    with pytest.raises(AutoqError, match="split"):
        task.evaluate(model, "train")
    with pytest.raises(AutoqError, match="fraction"):
        task.evaluate(model, "search", fraction=0.0)


def test_calibration_batches_fixed(task, model):
    first = task.calibration_batches()
    other = MiniLMMRPC(model_dir=pretrained_dir()).calibration_batches()
    assert len(first) == 8
    for a, b in zip(first, other):
        assert set(a) == {"input_ids", "attention_mask", "token_type_ids"}
        assert a["input_ids"].shape[0] == 16
        assert all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():
        assert model(**first[0]).logits.shape == (16, 2)


def test_missing_data_file_names_it(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOQ_DATA", str(tmp_path))
    with pytest.raises(AutoqError, match="train.tsv"):
        data.splits()


def test_prepare_caches_and_reuses(monkeypatch, tmp_path):
    calls = []

    def fake_train(h):  # skip the real fine-tune: the pretrained model stands in
        calls.append(h)
        return load_model(), load_tokenizer(), {"dev_f1": 0.9, "search_f1": 0.9}

    monkeypatch.setenv("AUTOQ_CACHE", str(tmp_path))
    monkeypatch.setattr(finetune, "train", fake_train)
    path = finetune.prepare()
    assert path.parent == tmp_path / "minilm-mrpc" and path.name == finetune.cache_key()
    assert {"model.safetensors", "config.json", "meta.json"} <= {p.name for p in path.iterdir()}
    assert json.loads((path / "meta.json").read_text())["hparams"] == finetune.HPARAMS
    assert finetune.prepare() == path and len(calls) == 1
    assert finetune.prepare(force=True) == path and len(calls) == 2
    assert [p.name for p in (tmp_path / "minilm-mrpc").iterdir()] == [path.name]  # no temp dirs
    assert MiniLMMRPC().prepare() == path and len(calls) == 2  # the CLI's entry point
    assert MiniLMMRPC(model_dir=path).build_model().training is False


def test_loading_the_model_prints_nothing():
    """transformers imports torchao, which logs CUDA extensions it cannot load and
    torch.compile deprecations; a user's search output must not start with that."""
    import subprocess
    import sys
    code = "from autoq.tasks.minilm.model import load_model; load_model()"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout == "" and run.stderr == "", (run.stdout + run.stderr)[-2000:]
