"""Applying recipes: coverage, exact numerics of wrapped layers, no side effects."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autoq import Recipe, collect_stats, quantize
from autoq.quant.actquant import DynamicFakeQuant, Fp16Cast, NoQuant
from autoq.settings import Mode
from autoq.quant.handlers import QuantLayer, QuantOp
from autoq.quant.numerics import clip_range, fake_quant, quantize_weight

INT8 = Recipe.build({"bits_weights": 8, "bits_activations": 8})


def test_every_kind_is_quantized(tiny, tiny_batches):
    stats = collect_stats(tiny, tiny_batches)
    q = quantize(tiny, INT8, stats)
    kinds = {type(m.wrapped_module).__name__ for m in q.modules() if isinstance(m, (QuantLayer, QuantOp))}
    assert kinds == {"Linear", "Conv1d", "EltwiseAdd", "EltwiseMult", "Matmul", "BatchMatmul", "Concat"}
    # the LSTM became modular and its gate matmuls and element-wise ops are wrapped
    assert isinstance(q.rnn.cells_reverse[1].fc_gate_h, QuantLayer)
    assert isinstance(q.rnn.cells[0].eltwisemult_hidden, QuantOp)
    table = q.embedder.weight
    assert len(torch.unique(table)) <= 256


def test_original_model_untouched(tiny, tiny_batches):
    before = copy.deepcopy(tiny.state_dict())
    q = quantize(tiny, INT8, collect_stats(tiny, tiny_batches))
    assert isinstance(tiny.rnn, nn.LSTM)
    assert all(torch.equal(before[k], v) for k, v in tiny.state_dict().items())
    assert q is not tiny


def test_quantized_output_close_to_float(tiny, tiny_batches):
    stats = collect_stats(tiny, tiny_batches)
    x = tiny_batches[0][0]
    ref = tiny(x)
    err8 = (quantize(tiny, INT8, stats)(x) - ref).abs().mean()
    err4 = (quantize(tiny, Recipe.build({"bits_weights": 4, "bits_activations": 4}), stats)(x) - ref).abs().mean()
    assert 0 < err8 < err4
    float_recipe = Recipe.build({"bits_weights": None, "bits_activations": None})
    assert torch.allclose(quantize(tiny, float_recipe, stats)(x), ref, atol=1e-5)


def test_static_linear_is_exactly_distiller_arithmetic():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 6)).eval()
    batches = [torch.randn(5, 8) for _ in range(4)]
    stats = collect_stats(model, batches)
    recipe = Recipe.build({"mode": "ASYMMETRIC_UNSIGNED", "per_channel_wts": True, "clip_acts": "AVG"})
    q = quantize(model, recipe, stats)
    x = batches[1]
    from autoq.settings import ClipMode
    s_in, s_out = stats["0"]["inputs"][0], stats["0"]["output"]
    w = quantize_weight(model[0].weight, 8, Mode.ASYMMETRIC_UNSIGNED, per_channel=True)
    xin = fake_quant(x, 8, Mode.ASYMMETRIC_UNSIGNED, *clip_range(s_in, ClipMode.AVG, 8))
    y = F.linear(xin, w, model[0].bias)
    expected = fake_quant(y, 8, Mode.ASYMMETRIC_UNSIGNED, *clip_range(s_out, ClipMode.AVG, 8))
    assert torch.allclose(q(x), expected, atol=1e-6)


def test_weights_quantized_once_at_apply(monkeypatch):
    import autoq.quant.handlers as handlers
    calls = []
    real = handlers.quantize_weight
    monkeypatch.setattr(handlers, "quantize_weight", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = nn.Sequential(nn.Linear(8, 6), nn.Linear(6, 2)).eval()
    q = quantize(model, Recipe.build({"bits_weights": 4, "bits_activations": None}))
    assert len(calls) == 2
    for _ in range(3):
        q(torch.randn(2, 8))
    assert len(calls) == 2
    w = q[0].wrapped_module.weight
    assert not w.requires_grad and len(torch.unique(w)) <= 15


def test_dynamic_activations_follow_the_batch():
    model = nn.Sequential(nn.Linear(8, 6)).eval()
    recipe = Recipe.build({"bits_activations": 8}, activations={".*": "dynamic"})
    q = quantize(model, recipe)  # no statistics needed
    assert isinstance(q[0].input_quant, DynamicFakeQuant)
    for scale in (0.01, 100.0):
        x = torch.randn(4, 8) * scale
        lo, hi = torch.aminmax(x)
        w = quantize_weight(model[0].weight, 8, Mode.SYMMETRIC, False)
        expected = F.linear(fake_quant(x, 8, Mode.SYMMETRIC, lo, hi), w, model[0].bias)
        assert torch.allclose(q(x), expected, rtol=1e-5, atol=1e-6 * scale)


def test_fp16_and_mixed_bits_per_module(tiny, tiny_batches):
    stats = collect_stats(tiny, tiny_batches)
    recipe = Recipe.build({"bits_weights": 8}, {
        "proj": {"bits_weights": 16, "bits_activations": 16},
        "classifier": {"bits_weights": 2, "bits_activations": None},
        "rnn.*": {"bits_weights": None, "bits_activations": None},
    })
    q = quantize(tiny, recipe, stats)
    assert isinstance(q.proj.input_quant, Fp16Cast)
    assert torch.equal(q.proj.wrapped_module.weight, tiny.proj.weight.half().float())
    assert len(torch.unique(q.classifier.wrapped_module.weight)) <= 3
    assert isinstance(q.classifier.input_quant, NoQuant)
    assert isinstance(q.rnn.cells[0].fc_gate_x, nn.Linear)  # left in float
    q(tiny_batches[0][0])


def test_bias_bits():
    model = nn.Sequential(nn.Linear(8, 6)).eval()
    q = quantize(model, Recipe.build({"bits_activations": None, "bits_bias": 4}))
    assert len(torch.unique(q[0].wrapped_module.bias)) <= 15
    q = quantize(model, Recipe.build({"bits_activations": None}))
    assert torch.equal(q[0].wrapped_module.bias, model[0].bias)


def test_conv2d():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1)).eval()
    batches = [torch.randn(2, 3, 8, 8) for _ in range(2)]
    q = quantize(model, Recipe.build({"per_channel_wts": True}), collect_stats(model, batches))
    assert isinstance(q[0], QuantLayer) and isinstance(q[2], QuantLayer)
    assert (q(batches[0]) - model(batches[0])).abs().max() < 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_same_code_on_cuda(tiny, tiny_batches):
    stats = collect_stats(tiny, tiny_batches)
    q = quantize(tiny, INT8, stats)
    x = tiny_batches[0][0]
    assert torch.allclose(q.cuda()(x.cuda()).cpu(), q.cpu()(x), atol=1e-4)


def test_dynamic_recipe_with_float_ops_needs_no_statistics(tiny, tiny_batches):
    """Every layer dynamic, element-wise ops float: no calibration is needed, and the
    result equals the same recipe quantized with statistics at hand."""
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8},
                          {"add|mul|scores|context|cat": {"bits_activations": None}},
                          {"rnn|conv|proj|classifier": "dynamic"})
    x = tiny_batches[0][0]
    without = quantize(tiny, recipe)
    assert isinstance(without.add, type(tiny.add)) and isinstance(without.cat, type(tiny.cat))
    with_stats = quantize(tiny, recipe, collect_stats(tiny, tiny_batches))
    assert torch.equal(without(x), with_stats(x))
