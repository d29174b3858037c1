"""Size accounting, checked against sums done by hand."""
from torch import nn

from autoq import Recipe, plan, size_report
from autoq.quant.ops import EltwiseAdd


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)  # 40 weights
        self.fc = nn.Linear(4, 3)  # 12 weights + 3 bias
        self.add = EltwiseAdd()
        self.norm = nn.LayerNorm(3)  # 6 params, never quantized

    def forward(self, x):
        y = self.fc(self.emb(x))
        return self.norm(self.add(y, y))


def test_fp32_size():
    report = size_report(plan(Small(), None))
    assert report.total_bytes == report.fp32_bytes == (40 + 15 + 6) * 4


def test_int8_symmetric_per_tensor_static():
    r = size_report(plan(Small(), Recipe.build({"bits_weights": 8, "bits_activations": 8})),
                    stats={"add": {"inputs": {0: {}, 1: {}}}})
    emb = 40 + 4  # int8 table + one fp32 scale
    fc = 12 + 4 + 3 * 4 + 2 * 4  # weights + scale, float bias, input and output scales
    add = 3 * 4  # two input scales and an output scale
    norm = 6 * 4
    assert r.layers["emb"].bytes == emb and r.layers["fc"].bytes == fc
    assert r.total_bytes == emb + fc + add + norm
    assert r.fp32_bytes == (40 + 15 + 6) * 4


def test_packed_sub_byte_per_channel_asymmetric_dynamic():
    recipe = Recipe.build({"bits_weights": 3, "bits_activations": 8, "per_channel_wts": True,
                           "mode": "ASYMMETRIC_UNSIGNED"}, activations={".*": "dynamic"})
    r = size_report(plan(Small(), recipe))
    emb = 15 + 10 * 8  # ceil(40 * 3 / 8) packed + per-row scale and zero point
    fc = 5 + 3 * 8 + 3 * 4  # ceil(12 * 3 / 8) + per-channel scale and zero point, float bias
    assert r.layers["emb"].bytes == emb and r.layers["fc"].bytes == fc
    assert r.total_bytes == emb + fc + 6 * 4


def test_fp16_and_float_layers():
    recipe = Recipe.build({"bits_weights": 16, "bits_activations": None},
                          {"emb": {"bits_weights": None}})
    r = size_report(plan(Small(), recipe))
    assert r.layers["fc"].bytes == 12 * 2 + 3 * 4
    assert r.layers["emb"].bytes == 40 * 4


def test_lstm_counts_its_modular_weights():
    model = nn.Sequential(nn.LSTM(4, 5))
    r = size_report(plan(model, Recipe.build({"bits_weights": 8}, activations={".*": "dynamic"})))
    n = 4 * 5 * 4 + 4 * 5 * 5  # weight_ih + weight_hh
    assert r.fp32_bytes == (n + 2 * 20) * 4
    assert r.total_bytes == n + 2 * 4 + 2 * 20 * 4
