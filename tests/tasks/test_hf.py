"""hf-text-classification on a real checkpoint: the fine-tuned MiniLM MRPC folder in the
cache (skipped when absent) and MRPC dev. The refusals that need no weights are cases of
tests/test_bad_inputs.py."""
import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from autoq.cli import main
from autoq.errors import AutoqError
from autoq.tasks import get_task
from autoq.tasks.data import CACHE
from autoq.tasks.paired import agreement

MRPC = {"text": "#1 String", "text_pair": "#2 String", "label": "Quality"}


def _checkpoint() -> Path | None:
    for root in (CACHE, Path.home() / ".cache" / "autoq"):
        found = sorted(root.glob("minilm-mrpc*/config.json")) + sorted(root.glob("minilm-mrpc*/*/config.json"))
        if found:
            return found[0].parent
    return None


CKPT = _checkpoint()
pytestmark = pytest.mark.skipif(CKPT is None, reason="no fine-tuned minilm-mrpc checkpoint in the cache")


@pytest.fixture(scope="module")
def dev() -> Path:
    path = Path(os.environ.get("AUTOQ_DATA", "")) / "mrpc" / "dev.tsv"
    if not path.is_file():
        pytest.skip("set AUTOQ_DATA to a folder holding mrpc/dev.tsv")
    return path


@pytest.fixture(scope="module")
def f1_task(dev):
    return get_task("hf-text-classification", model=str(CKPT), data=str(dev), metric="f1", **MRPC)


@pytest.fixture(scope="module")
def model(f1_task):
    return f1_task.build_model()


def test_fp32_f1_on_a_carved_split_is_plausible(f1_task, model):
    assert {s: len(r) for s, r in f1_task.splits.items()} == {"search": 163, "confirm": 163}
    assert len(f1_task.pool_batches()) >= 4 and f1_task.pool_name.startswith("dev.tsv@sha256:")
    score = f1_task.evaluate(model, "search")
    assert score.metric > 0.8 and score.n == 163
    assert score.signature.startswith("f1|dev.tsv@sha256:") and "|split=search|seed=0|n=163|pos=1" in score.signature
    assert f1_task.summed_metric(score.examples.sum(0)) == pytest.approx(score.metric)
    chance = f1_task.chance("search")  # every pair a paraphrase
    assert chance.signature == score.signature and 0.5 < chance.metric < score.metric + 0.1


def test_accuracy_a_fraction_and_the_whole_reuse_answers(dev, model):
    task = get_task("hf-text-classification", model=str(CKPT), data=str(dev), max_rows=120,
                    search_size=40, confirm_size=40, seed=3, **MRPC)
    memo = {}
    part = task.evaluate(model, "confirm", 0.5, memo=memo)
    whole = task.evaluate(model, "confirm", memo=memo)
    assert part.n < whole.n == 40 and "|batches=" in part.signature and "|batches=" not in whole.signature
    assert whole.metric == pytest.approx(whole.examples[:, 0].mean()) and whole.metric > 0.6
    assert agreement(whole, task.evaluate(model, "confirm")) == 1.0
    gold = np.array([r.label for r in task.splits["confirm"]])
    assert task.chance("confirm").metric == pytest.approx(max(gold.mean(), 1 - gold.mean()))


def test_eval_command_prints_a_score(dev, capsys):
    code = main(["eval", "--task", "hf-text-classification", "--device", "cpu",
                 "--task-arg", f"model={CKPT}", "--task-arg", f"data={dev}", "--task-arg", "text=#1 String",
                 "--task-arg", "text_pair=#2 String", "--task-arg", "label=Quality", "--task-arg", "metric=f1",
                 "--task-arg", "max_rows=120", "--task-arg", "search_size=40", "--task-arg", "confirm_size=40"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["metric_name"] == "f1" and 0.5 < out["metric"] <= 1.0
    assert "|split=confirm|seed=0|n=40|" in out["signature"]


def _rows(path: Path, n: int, skip: int = 0) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1 + skip:1 + skip + n]


def test_split_files_label_names_a_pool_file_and_a_config_file(dev, tmp_path):
    """search= and confirm= as CSV (quoted, labels by name), pool= unlabelled, all from a
    YAML config=FILE whose paths are relative to it."""
    names = {"0": "LABEL_0", "1": "LABEL_1"}
    for name, skip in (("search.csv", 0), ("confirm.csv", 20)):
        with open(tmp_path / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["sentence1", "sentence2", "label"])
            w.writerows([r[3], r[4], names[r[0]]] for r in _rows(dev, 20, skip))
    for name, skip in (("pool.csv", 40), ("judged.csv", 0)):
        with open(tmp_path / name, "w", newline="") as f:
            csv.writer(f).writerows([["sentence1", "sentence2"]] + [r[3:5] for r in _rows(dev, 40, skip)])
    (tmp_path / "task.yaml").write_text(
        f"model: {CKPT}\nsearch: search.csv\nconfirm: confirm.csv\npool: pool.csv\n"
        "text: sentence1\ntext_pair: sentence2\nlabel: label\n")
    task = get_task("hf-text-classification", config=str(tmp_path / "task.yaml"), batch_size=8)
    assert [r.label for r in task.splits["search"]] == [int(r[0]) for r in _rows(dev, 20)]
    assert task.pool_name.startswith("file:pool.csv|n=40|") and task.batch_size == 8
    assert len(task.calibration_batches()) == 3  # 40 pool texts, in batches of 16
    with pytest.raises(AutoqError, match="also in the splits"):  # --pool: no judged text
        task.pool_from_file(tmp_path / "judged.csv")


def test_a_checkpoint_without_its_classifier_is_refused(dev, tmp_path):
    """A base model's weights under a classifier's config: the head would be random."""
    from transformers import AutoConfig, AutoModel
    config = AutoConfig.from_pretrained(CKPT, local_files_only=True)
    config.num_hidden_layers = 1
    AutoModel.from_config(config).save_pretrained(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (CKPT / name).is_file():
            shutil.copy(CKPT / name, tmp_path / name)
    conf = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**conf, "architectures": ["BertForSequenceClassification"]}))
    task = get_task("hf-text-classification", model=str(tmp_path), data=str(dev), **MRPC)
    with pytest.raises(AutoqError, match="lacks .* weight"):
        task.build_model()
