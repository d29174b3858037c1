"""Calibration statistics: values, Distiller's layout, one pass, cache."""
import pytest
import torch
from torch import nn

from autoq import AutoqError, collect_stats
from autoq.quant import stats as stats_io


def linear_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 4)).eval()


def test_values_against_direct_computation():
    model = linear_model()
    batches = [torch.randn(5, 6) * (i + 1) for i in range(3)]
    s = collect_stats(model, batches)["0"]["inputs"][0]
    x = torch.cat(batches).double()
    assert s["min"] == pytest.approx(x.min().item(), rel=1e-6)
    assert s["max"] == pytest.approx(x.max().item(), rel=1e-6)
    assert s["avg_min"] == pytest.approx(x.min(dim=1).values.mean().item(), rel=1e-5)
    assert s["avg_max"] == pytest.approx(x.max(dim=1).values.mean().item(), rel=1e-5)
    assert s["mean"] == pytest.approx(x.mean().item(), abs=1e-6)
    assert s["std"] == pytest.approx(x.std(unbiased=False).item(), rel=1e-5)
    assert s["b"] == pytest.approx((x - x.mean()).abs().mean().item(), rel=0.05)
    assert s["total_numel"] == x.numel()


def test_distiller_layout_and_yaml_round_trip(tmp_path, tiny, tiny_batches):
    stats = collect_stats(tiny, tiny_batches)
    entry = stats["rnn.cells.0.eltwiseadd_gate"]
    assert set(entry) == {"inputs", "output"} and set(entry["inputs"]) == {0, 1}
    assert set(entry["output"]) >= {"min", "max", "avg_min", "avg_max", "mean", "std", "b"}
    assert "embedder" not in stats  # embeddings quantize only their table
    stats_io.save(stats, tmp_path / "acts_quantization_stats.yaml")
    assert stats_io.load(tmp_path / "acts_quantization_stats.yaml") == stats


def test_one_forward_pass_per_batch(tiny, tiny_batches):
    calls = []
    tiny.register_forward_hook(lambda *a: calls.append(1))
    collect_stats(tiny, tiny_batches)
    assert len(calls) == len(tiny_batches)


def test_cache_is_keyed_by_weights_and_data(tmp_path, tiny, tiny_batches):
    calls = []
    tiny.register_forward_pre_hook(lambda *a: calls.append(1))
    first = collect_stats(tiny, tiny_batches, cache_dir=tmp_path)
    again = collect_stats(tiny, tiny_batches, cache_dir=tmp_path)
    assert again == first and len(calls) == len(tiny_batches)
    collect_stats(tiny, tiny_batches[:2], cache_dir=tmp_path)
    with torch.no_grad():
        tiny.proj.weight.add_(1.0)
    collect_stats(tiny, tiny_batches, cache_dir=tmp_path)
    assert len(calls) == 2 * len(tiny_batches) + 2
    assert len(list(tmp_path.glob("stats-*.yaml"))) == 3


def test_malformed_statistics_file(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("fc:\n  inputs:\n    0: {min: 0, max: 1}\n  output: {min: 0}\n")
    with pytest.raises(AutoqError, match="lacks numeric"):
        stats_io.load(bad)


def test_cache_handles_scalar_tensors(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).eval()  # num_batches_tracked is 0-d
    batches = [torch.randn(2, 1, 6, 6)]
    assert collect_stats(model, batches, cache_dir=tmp_path) == collect_stats(model, batches, cache_dir=tmp_path)
