"""The modular Elman RNN equals nn.RNN (tanh and relu) in float; the engine quantizes,
sizes and covers it; deploy runs its gates on int8 Linear kernels, never silently float."""
import itertools

import pytest
import torch
from torch import nn

from autoq import Recipe, collect_stats, is_prepared, plan, prepare, quantize, quantize_plan, size_report
from autoq.quant.coverage import coverage
from autoq.quant.elman import ModularElmanRNN
from rnn_checks import assert_same, assert_same_on_packed_and_unbatched


@pytest.mark.parametrize("layers,bidirectional,batch_first,with_h0,nonlinearity", list(itertools.product(
    (1, 2), (False, True), (False, True), (False, True), ("tanh", "relu"))))
def test_float_output_equals_torch_rnn(layers, bidirectional, batch_first, with_h0, nonlinearity):
    torch.manual_seed(0)
    rnn = nn.RNN(6, 8, num_layers=layers, nonlinearity=nonlinearity, bidirectional=bidirectional,
                 batch_first=batch_first).eval()
    mod = ModularElmanRNN.copied_from(rnn).eval()
    x = torch.randn(3, 5, 6) if batch_first else torch.randn(5, 3, 6)
    h0 = torch.randn(layers * (2 if bidirectional else 1), 3, 8) if with_h0 else None
    assert_same(rnn, mod, x, h0)


@pytest.mark.parametrize("nonlinearity", ("tanh", "relu"))
def test_packed_and_unbatched_inputs_equal_torch_rnn(nonlinearity):
    torch.manual_seed(1)
    rnn = nn.RNN(4, 5, num_layers=2, nonlinearity=nonlinearity, bidirectional=True, batch_first=True).eval()
    mod = ModularElmanRNN.copied_from(rnn).eval()
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[nonlinearity]
    assert mod.nonlinearity == nonlinearity and isinstance(mod.cells_reverse[1].act, act)
    assert_same_on_packed_and_unbatched(rnn, mod)
    assert_same_on_packed_and_unbatched(rnn, mod, h0=torch.randn(4, 5))


class Tagger(nn.Module):
    def __init__(self, nonlinearity="tanh"):
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.encoder = nn.RNN(8, 16, nonlinearity=nonlinearity, batch_first=True, bidirectional=True)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x))[0])


def tagger():
    torch.manual_seed(3)
    return Tagger().eval()


@pytest.mark.parametrize("nonlinearity", ("tanh", "relu"))
def test_prepare_makes_an_rnn_modular_and_the_engine_quantizes_and_sizes_it(nonlinearity):
    torch.manual_seed(2)
    model = Tagger(nonlinearity).eval()
    assert not is_prepared(model)
    prepared = prepare(model)
    assert is_prepared(prepared) and isinstance(prepared.encoder, ModularElmanRNN)
    assert coverage(prepared).uncovered == () and coverage(model).uncovered[0].kind == "RNN"
    names = set(plan(prepared, Recipe.build({"bits_weights": 8, "bits_activations": 8})).configs)
    assert {"encoder.cells.0.fc_gate_x", "encoder.cells_reverse.0.eltwiseadd_gate"} <= names
    batches = [(torch.randint(0, 30, (4, 9)),) for _ in range(3)]
    stats = collect_stats(prepared, batches)
    x = batches[0][0]
    base = {"bits_weights": 8, "bits_activations": 8}
    with torch.no_grad():
        ref = model(x)
        q8 = quantize(prepared, Recipe.build(base), stats)(x)
        q2 = quantize(prepared, Recipe.build(base, {"encoder": {"bits_weights": 2}}), stats)(x)
    err8, err2 = (q8 - ref).norm() / ref.norm(), (q2 - ref).norm() / ref.norm()
    assert 0 < err8 < 0.05 and err2 > err8  # the RNN's widths change its output
    fp32 = size_report(plan(model, None)).total_bytes
    int8 = size_report(plan(model, Recipe.build({"bits_weights": 8, "bits_activations": None}))).total_bytes
    rnn_params = sum(p.numel() for p in model.encoder.parameters())
    assert fp32 == sum(p.numel() for p in model.parameters()) * 4
    assert fp32 - int8 > 0.7 * rnn_params * 3  # the RNN's weights shrink 4x too


def _float_in_silence(deployed, planned) -> list[str]:
    """Plan entries of the RNN asking for quantized weights (gates) or activations that run
    float without a fallback saying so."""
    from autoq.deploy.registry import kernel_named
    units, listed = deployed.manifest["units"], {f["module"] for f in deployed.fallbacks}
    owner = {n: u for u, e in units.items() for n in e["covers"]}
    asked = [n for n, cfg in planned.configs.items() if n.startswith("encoder.") and (
        cfg.bits_activations is not None or (".fc_gate_" in n and cfg.bits_weights is not None))]
    assert asked
    return [n for n in asked if n not in listed
            and not (n in owner and kernel_named(units[owner[n]]["kernel"]).low_precision)]


def _int8_linear(module: nn.Module) -> bool:
    """torch's int8 Linear (its weight prepacked) or torchao's (an int8 tensor subclass)."""
    return hasattr(module, "packed") or type(module.weight) not in (torch.Tensor, nn.Parameter)


@pytest.mark.parametrize("activations", (None, 8))
def test_an_rnn_deploys_its_gates_on_int8_linear_kernels_and_loads_back(tmp_path, activations):
    from autoq.deploy import build, load_deployed, save_deployed
    from autoq.deploy.registry import kernel_named
    model = tagger()
    x = (torch.randint(0, 30, (8, 12)),)
    prepared = prepare(model)
    stats = collect_stats(prepared, [x])
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": activations,
                           "mode": {"weights": "SYMMETRIC", "activations": "ASYMMETRIC_UNSIGNED"}})
    planned = plan(prepared, recipe)
    timed = build(model, planned, stats, sample=x, repeats=2)  # kernels picked by measurement
    assert _float_in_silence(timed, planned) == []
    deployed = build(model, planned, stats)  # untimed: the first low-precision kernel
    assert _float_in_silence(deployed, planned) == [] and deployed.manifest["modular"] == ["encoder"]
    units = deployed.manifest["units"]
    for cells, layer, gate in itertools.product(("cells", "cells_reverse"), (0,), ("x", "h")):
        name = f"encoder.{cells}.{layer}.fc_gate_{gate}"
        kernel = kernel_named(units[name]["kernel"])
        assert kernel.low_precision and nn.Linear in kernel.kinds
        assert _int8_linear(deployed.model.get_submodule(name))
    assert isinstance(deployed.model.encoder, ModularElmanRNN)
    save_deployed(deployed, tmp_path)
    loaded = load_deployed(tmp_path, tagger)
    with torch.no_grad():
        ref, fq, out = model(*x), quantize_plan(planned, stats)(*x), loaded(*x)
        assert torch.equal(out, deployed.model(*x))
    assert (out - fq).norm() / fq.norm() < 0.05 and (out - ref).norm() / ref.norm() < 0.05
