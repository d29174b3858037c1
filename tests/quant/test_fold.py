"""Conv+BatchNorm folding in ``autoq.prepare``: equal to the unfolded model in float, found
on an fx trace (or in nn.Sequential when the model does not trace, with a notice), never
in training mode, and a recipe naming a folded BatchNorm is refused."""
import pytest
import torch
from torch import nn

from autoq import AutoqError, Recipe, collect_stats, is_prepared, plan, prepare, quantize
from autoq.quant.fold import FoldedBatchNorm, FoldWarning
from autoq.quant.handlers import QuantLayer

CONV = {1: (nn.Conv1d, nn.BatchNorm1d), 2: (nn.Conv2d, nn.BatchNorm2d)}


def spread(model: nn.Module) -> nn.Module:
    """Non-trivial running statistics and affine parameters on every BatchNorm; eval mode."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.3, 3)
            if m.affine:
                m.weight.data.uniform_(0.5, 2)
                m.bias.data.uniform_(-1, 1)
    return model.eval()


class Net(nn.Module):
    """conv -> bn -> relu -> conv -> bn; a BatchNorm after the pooling (not after a conv);
    and a conv whose output a BatchNorm and the residual both read (not foldable)."""

    def __init__(self, dims: int, bias: bool, affine: bool):
        super().__init__()
        conv, bn = CONV[dims]
        self.conv1, self.bn1 = conv(3, 8, 3, padding=1, bias=bias), bn(8, affine=affine)
        self.conv2, self.bn2 = conv(8, 8, 3, padding=1, bias=bias), bn(8, affine=affine)
        self.conv3, self.bn3 = conv(8, 8, 1), bn(8)
        self.pooled = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        z = self.conv3(y)
        y = self.bn3(z) + z
        return self.head(self.pooled(y.flatten(2).mean(-1)))


def net(dims=2, bias=True, affine=True):
    torch.manual_seed(0)
    return spread(Net(dims, bias, affine))


def inputs(dims: int, n: int = 4):
    return torch.randn(n, 3, *[9] * dims, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_folded_model_equals_the_float_one(dims, bias, affine):
    model = net(dims, bias, affine)
    prepared = prepare(model)
    assert isinstance(prepared.bn1, FoldedBatchNorm) and isinstance(prepared.bn2, FoldedBatchNorm)
    assert prepared.bn1.into == "conv1" and prepared.conv2.bias is not None
    assert isinstance(prepared.bn3, CONV[dims][1]) and isinstance(prepared.pooled, nn.BatchNorm1d)
    x = inputs(dims)
    with torch.no_grad():
        assert (prepared(x) - model(x)).abs().max() <= 1e-5
    assert isinstance(model.bn1, CONV[dims][1])  # the original is untouched
    assert not is_prepared(model) and is_prepared(prepared)


def test_the_engine_quantizes_the_folded_conv():
    model, x = net(), inputs(2)
    stats = collect_stats(model, [x])  # collected on the folded model, as planned
    assert stats == collect_stats(prepare(model), [x])
    with torch.no_grad():
        after_bn = model.bn1(model.conv1(x))
    assert stats["conv1"]["output"]["max"] == pytest.approx(after_bn.max().item(), abs=1e-5)
    q = quantize(model, Recipe.build({"bits_weights": 8, "bits_activations": 8}), stats)
    assert isinstance(q.conv1, QuantLayer) and isinstance(q.bn1, FoldedBatchNorm)
    with torch.no_grad():
        ref = model(x)
        assert ((q(x) - ref).norm() / ref.norm()).item() < 0.05


def test_graph_mode_keeps_the_folded_batchnorms():
    model = net()
    planned = plan(model, Recipe.build({"bits_weights": 8, "bits_activations": 8}, graph=True),
                   (inputs(2),), graph=True)
    assert isinstance(planned.model.get_submodule("bn2"), FoldedBatchNorm)
    assert "conv2" in planned.configs


class Untraceable(nn.Module):
    """Branches on tensor values: an nn.Sequential conv+bn is folded, the other pair is not."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        self.conv, self.bn = nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.bn(self.conv(self.stem(x)))
        return y * 2 if y.mean() > 100 else y


def test_an_untraceable_model_folds_sequential_pairs_and_says_what_it_left():
    torch.manual_seed(0)
    model = spread(Untraceable())
    with pytest.warns(FoldWarning, match=r"does not trace .*left unfolded \(float\): bn$"):
        prepared = prepare(model)
    assert isinstance(prepared.stem[1], FoldedBatchNorm) and isinstance(prepared.bn, nn.BatchNorm2d)
    x = inputs(2)
    with torch.no_grad():
        assert (prepared(x) - model(x)).abs().max() <= 1e-5


def test_an_override_on_a_folded_batchnorm_is_refused():
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8}, {"bn2": {"bits_weights": 4}})
    with pytest.raises(AutoqError, match="'bn2' is a BatchNorm autoq folded into the conv 'conv2'.*"
                                         "set its bits on 'conv2'"):
        plan(net(), recipe)
    fine = Recipe.build({"bits_weights": 8, "bits_activations": 8}, {"conv2": {"bits_weights": 4}})
    assert plan(net(), fine).configs["conv2"].bits_weights == 4  # the conv keeps its name


def test_training_mode_is_left_unfolded_with_a_notice():
    model = net().train()
    with pytest.warns(FoldWarning, match="training mode"):
        prepared = prepare(model)
    assert isinstance(prepared.bn1, nn.BatchNorm2d)
