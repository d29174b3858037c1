"""Nothing left float in silence: coverage of a model (an nn.Bilinear has no handler), overrides that would claim bits
a module never gets, and a user handler's parameters counted at their width."""
import sys

import pytest
import torch
from torch import nn

from autoq import AutoqError, Recipe, plan, prepare, size_report
from autoq.cli import main
from autoq.quant import make_plan
from autoq.quant.coverage import coverage
from autoq.quant.handlers import _HANDLERS, _USES_ACT_STATS, _WEIGHTS, register_handler


class BilinearNet(nn.Module):
    """An nn.Bilinear encoder (most of the bytes, no handler), a BatchNorm and a Linear head."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(40, 16)
        self.encoder = nn.Bilinear(16, 16, 64)
        self.norm = nn.BatchNorm1d(64)
        self.head = nn.Linear(64, 5)

    def forward(self, x):
        e = self.embed(x)[:, -1]
        return self.head(self.norm(self.encoder(e, e)))


def nbytes(m: nn.Module) -> int:
    return sum(p.numel() * 4 for p in m.parameters(recurse=False)) + \
        sum(b.numel() * (4 if b.is_floating_point() else b.element_size()) for b in m.buffers(recurse=False))


def test_coverage_names_every_module_left_float_with_its_bytes():
    model = prepare(BilinearNet().eval())
    cover = coverage(model)
    names = [(u.name, u.kind) for u in cover.uncovered]
    assert names == [("encoder", "Bilinear"), ("norm", "BatchNorm1d")]  # largest first
    assert cover.uncovered[0].bytes == nbytes(model.encoder)
    assert cover.total_bytes == sum(nbytes(m) for m in model.modules())
    assert cover.covered_bytes == nbytes(model.embed) + nbytes(model.head)
    assert cover.share < 0.2 and "encoder (Bilinear" in cover.summary()


def test_an_override_on_a_module_autoq_does_not_quantize_is_refused():
    model = prepare(BilinearNet().eval())
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8}, {"encoder": {"bits_weights": 4}})
    with pytest.raises(AutoqError, match=r"'encoder' matches only modules autoq does not quantize \(Bilinear\)"):
        make_plan(model, recipe)


def test_an_override_shadowed_by_an_earlier_one_is_refused():
    model = prepare(BilinearNet().eval())
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8},
                          {"head": {"bits_weights": 4}, "he.*": {"bits_weights": 2}})
    with pytest.raises(AutoqError, match=r"'he\.\*'.*governed by another override"):
        make_plan(model, recipe)


def test_a_user_handler_states_the_parameters_it_stores_and_size_counts_them():
    saved = dict(_HANDLERS), set(_USES_ACT_STATS), dict(_WEIGHTS)
    try:
        @register_handler(nn.Bilinear, activations=False,
                          weights=lambda m: tuple(n for n, _ in m.named_parameters() if n.startswith("weight")))
        def bilinear_handler(module, config, stats):
            return module  # stands in: the size is what is checked here
        model = prepare(BilinearNet().eval())
        assert [u.name for u in coverage(model).uncovered] == ["norm"]
        int4 = size_report(plan(model, Recipe.build({"bits_weights": 4, "bits_activations": None})))
        encoder = int4.layers["encoder"]
        weights = sum(p.numel() for n, p in model.encoder.named_parameters() if n.startswith("weight"))
        biases = sum(p.numel() for n, p in model.encoder.named_parameters() if n.startswith("bias"))
        assert encoder.bytes == pytest.approx(weights / 2 + biases * 4, abs=64)  # 4-bit weights, float biases
    finally:
        _HANDLERS.clear(), _HANDLERS.update(saved[0])
        _USES_ACT_STATS.clear(), _USES_ACT_STATS.update(saved[1])
        _WEIGHTS.clear(), _WEIGHTS.update(saved[2])


def test_check_and_size_say_what_stays_float(tmp_path, monkeypatch, capsys):
    (tmp_path / "float_task.py").write_text(
        "import torch, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from test_coverage_model import BilinearNet\n"
        "from autoq.tasks import Score, Task\n"
        "class T(Task):\n"
        "    name, metric_name = 'float', 'acc'\n"
        "    def build_model(self):\n"
        "        torch.manual_seed(0)\n"
        "        return BilinearNet().eval()\n"
        "    def calibration_batches(self):\n"
        "        return [(torch.randint(0, 40, (4, 6)),)]\n"
        "    def evaluate(self, model, split='confirm', fraction=1.0, device='cpu'):\n"
        "        return Score(1.0, 'acc', f'acc|{split}', 1)\n"
        "def make():\n"
        "    return T()\n")
    (tmp_path / "test_coverage_model.py").write_text(
        "from torch import nn\n" + BilinearNet_source())
    (tmp_path / "r.yaml").write_text(Recipe.build({"bits_weights": 8, "bits_activations": 8}).to_yaml())
    (tmp_path / "bad.yaml").write_text(Recipe.build({"bits_weights": 8, "bits_activations": 8},
                                                     {"encoder": {"bits_weights": 2}}).to_yaml())
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "--task", "float_task:make", "--recipe", "r.yaml"]) == 0
    out = capsys.readouterr().out
    assert "float in every recipe: encoder (Bilinear" in out
    assert main(["size", "--task", "float_task:make"]) == 0
    assert '"uncovered": [{"name": "encoder", "kind": "Bilinear"' in capsys.readouterr().out
    assert main(["check", "--task", "float_task:make", "--recipe", "bad.yaml"]) == 2
    assert "claim bits they never get" in capsys.readouterr().err


def BilinearNet_source() -> str:
    import inspect
    return inspect.getsource(BilinearNet)
