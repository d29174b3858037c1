"""examples/digits: a small CNN with batch norm on scikit-learn's 8x8 digits."""
import sys
from pathlib import Path

import pytest
import torch

import autoq
from autoq.quant.fold import FoldedBatchNorm, folds

pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits"
sys.path.insert(0, str(EXAMPLE))
import digits_task  # noqa: E402


@pytest.fixture(scope="module")
def task():
    return digits_task.make_task()


def test_splits_are_disjoint_and_fp32_is_accurate(task):
    sizes = {k: len(y) for k, (_, y) in task.data.items()}
    assert sizes == {"train": 1000, "search": 300, "confirm": 300, "pool": 197}
    flat = {k: {tuple(img.flatten().tolist()) for img in x} for k, (x, _) in task.data.items()}
    for held in ("search", "confirm"):  # the pool shares no image with the judged splits
        assert not flat["pool"] & flat[held]
    score = task.evaluate(task.build_model(), "confirm")
    assert score.n == 300 and score.metric > 0.9
    assert task.summed_metric(score.examples.sum(0)) == pytest.approx(score.metric)
    chance = task.chance("confirm")
    assert chance.signature == score.signature and chance.metric < 0.2
    assert task.evaluate(task.build_model(), "search", fraction=0.25).n == 75


def test_prepare_folds_both_batchnorms(task):
    model = task.build_model()
    prepared = autoq.prepare(model)
    assert folds(prepared) == {"bn1": "conv1", "bn2": "conv2"}
    assert isinstance(prepared.bn1, FoldedBatchNorm) and isinstance(prepared.bn2, FoldedBatchNorm)
    x = task.data["confirm"][0][:64]
    with torch.no_grad():  # the folded convs compute what conv + BatchNorm did
        assert torch.allclose(prepared(x), model(x), atol=1e-4)


def test_uniform_int8_static_keeps_accuracy(task):
    model = task.build_model()
    plan = autoq.plan(model, autoq.Recipe.load(EXAMPLE / "int8_static.yaml"))
    assert set(plan.configs) == {"conv1", "conv2", "fc1", "fc2"}
    assert all(c.bits_weights == 8 and not c.dynamic for c in plan.configs.values())
    stats = autoq.collect_stats(plan.model, task.calibration_batches())
    qmodel = autoq.quantize_plan(plan, stats)
    fp32, int8 = (task.evaluate(m, "confirm").metric for m in (model, qmodel))
    assert int8 >= fp32 - 0.02
