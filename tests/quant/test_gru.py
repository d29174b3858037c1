"""The modular GRU equals nn.GRU in float, and the engine quantizes, sizes and covers it."""
import itertools

import pytest
import torch
from torch import nn

from autoq import Recipe, collect_stats, plan, prepare, quantize, quantize_plan, size_report
from autoq.quant.coverage import coverage
from autoq.quant.gru import ModularGRU
from rnn_checks import assert_same, assert_same_on_packed_and_unbatched


@pytest.mark.parametrize("layers,bidirectional,batch_first,with_h0",
                         list(itertools.product((1, 2), (False, True), (False, True), (False, True))))
def test_float_output_equals_torch_gru(layers, bidirectional, batch_first, with_h0):
    torch.manual_seed(0)
    gru = nn.GRU(6, 8, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first).eval()
    mod = ModularGRU.copied_from(gru).eval()
    x = torch.randn(3, 5, 6) if batch_first else torch.randn(5, 3, 6)
    h0 = torch.randn(layers * (2 if bidirectional else 1), 3, 8) if with_h0 else None
    assert_same(gru, mod, x, h0)


def test_packed_and_unbatched_inputs_equal_torch_gru():
    torch.manual_seed(1)
    gru = nn.GRU(4, 5, num_layers=2, bidirectional=True, batch_first=True).eval()
    assert_same_on_packed_and_unbatched(gru, ModularGRU.copied_from(gru).eval())


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.encoder = nn.GRU(8, 16, batch_first=True, bidirectional=True)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x))[0])


def test_prepare_makes_a_gru_modular_and_the_engine_quantizes_all_of_it():
    torch.manual_seed(2)
    model = Tagger().eval()
    prepared = prepare(model)
    assert isinstance(prepared.encoder, ModularGRU) and coverage(prepared).uncovered == ()
    names = [n for n, _ in prepared.named_modules()]
    assert "encoder.cells.0.fc_gate_x" in names and "encoder.cells_reverse.0.eltwisemult_reset" in names
    batches = [(torch.randint(0, 30, (4, 9)),) for _ in range(3)]
    stats = collect_stats(prepared, batches)
    x = batches[0][0]
    with torch.no_grad():
        ref = model(x)
        q8 = quantize(prepared, Recipe.build({"bits_weights": 8, "bits_activations": 8}), stats)(x)
        q4 = quantize(prepared, Recipe.build({"bits_weights": 8, "bits_activations": 8},
                                             {"encoder": {"bits_weights": 2}}), stats)(x)
    err8, err4 = (q8 - ref).norm() / ref.norm(), (q4 - ref).norm() / ref.norm()
    assert 0 < err8 < 0.05 and err4 > err8  # the GRU's widths change its output
    fp32 = size_report(plan(prepared, None)).total_bytes
    weights_only = Recipe.build({"bits_weights": 8, "bits_activations": None})
    int8 = size_report(plan(prepared, weights_only)).total_bytes
    gru_params = sum(p.numel() for p in model.encoder.parameters())
    assert fp32 - int8 > 0.7 * gru_params * 3  # the GRU's weights shrink 4x too


def test_a_gru_deploys_on_torch_s_quantized_gru_and_loads_back(tmp_path):
    from autoq.deploy import build, load_deployed, save_deployed
    from autoq.deploy.run import peer
    torch.manual_seed(3)
    model = Tagger().eval()
    x = (torch.randint(0, 30, (8, 12)),)
    prepared = prepare(model)
    stats = collect_stats(prepared, [x])
    recipe = Recipe.build(  # int8 gates with dynamic activations, element-wise ops float
        {"bits_weights": 8, "bits_activations": 8,
         "mode": {"weights": "SYMMETRIC", "activations": "ASYMMETRIC_UNSIGNED"}},
        {"encoder.cells.*.(act|eltwise).*": {"bits_activations": None}},
        {"encoder": "dynamic", "head": "dynamic"})
    planned = plan(prepared, recipe)
    deployed = build(model, planned, stats, sample=x)
    kernel = deployed.manifest["units"]["encoder"]["kernel"]
    assert kernel.endswith(":gru") and not [f for f in deployed.manifest["fallbacks"]
                                           if f["module"].startswith("encoder")]
    save_deployed(deployed, tmp_path)
    loaded = load_deployed(tmp_path, lambda: Tagger().eval())
    with torch.no_grad():
        ref, fq = model(*x), quantize_plan(planned, stats)(*x)
        out = loaded(*x)
    assert (out - fq).norm() / fq.norm() < 0.05 and (out - ref).norm() / ref.norm() < 0.05
    assert "GRU" in type(peer(model).encoder).__name__ and "quantized" in type(peer(model).encoder).__module__
