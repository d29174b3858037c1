"""Convolutions deployed: Conv+BatchNorm folded as the plan folded them, int8 convs on
torch's quantized kernels with static activations, what they cannot run listed as a
fallback, and the size on disk as the search predicted it."""
import pytest
import torch
from torch import nn
from torch.ao.nn.quantized import Conv1d as QuantizedConv1d
from torch.ao.nn.quantized import Conv2d as QuantizedConv2d

from autoq import Recipe, collect_stats, plan, quantize_plan, size_report
from autoq.deploy import build, deployable_choices, load_deployed, read_manifest, save_deployed
from autoq.quant.fold import FoldedBatchNorm

INT8_STATIC = Recipe.build({"bits_weights": 8, "bits_activations": 8, "per_channel_wts": True})
CONV = {1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d), 2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)}


class LeNet(nn.Module):
    """Conv, BatchNorm, ReLU, MaxPool twice, then two Linears; ``width`` scales it."""

    def __init__(self, dims: int = 2, width: int = 1, side: int = 16):
        super().__init__()
        conv, norm, pool = CONV[dims]
        c1, c2 = 8 * width, 16 * width
        self.features = nn.Sequential(conv(1, c1, 5, padding=2), norm(c1), nn.ReLU(), pool(2),
                                      conv(c1, c2, 3, bias=False), norm(c2), nn.ReLU(), pool(2))
        flat = c2 * ((side // 2 - 2) // 2) ** dims
        self.fc1, self.fc2 = nn.Linear(flat, 32 * width), nn.Linear(32 * width, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(self.features(x).flatten(1))))


def lenet(dims: int = 2, width: int = 1, side: int = 16) -> nn.Module:
    torch.manual_seed(0)
    model = LeNet(dims, width, side)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    return model.eval()


def images(dims: int, n: int = 8, side: int = 16, seed: int = 1):
    return (torch.randn(n, 1, *[side] * dims, generator=torch.Generator().manual_seed(seed)),)


def deploy(model, recipe, batches, **kwargs):
    stats = collect_stats(model, batches)
    planned = plan(model, recipe)
    return build(model, planned, stats, **kwargs), planned, stats


@pytest.mark.parametrize("dims", [1, 2])
def test_int8_static_convs_run_on_quantized_kernels(tmp_path, dims):
    batches = [images(dims, seed=s) for s in range(3)]
    deployed, planned, stats = deploy(lenet(dims), INT8_STATIC, batches, sample=batches[0], repeats=2)
    assert deployed.fallbacks == []
    units = deployed.manifest["units"]
    assert units["features.0"]["kernel"].endswith(":int8-conv") and units["features.4"]["act"]
    assert deployed.manifest["folded"] == {"features.1": "features.0", "features.5": "features.4"}
    save_deployed(deployed, tmp_path)
    loaded = load_deployed(tmp_path, lambda: lenet(dims))
    quantized = (QuantizedConv1d, QuantizedConv2d)[dims - 1]
    for i in (0, 4):
        assert isinstance(loaded.features[i].conv, quantized)
        assert isinstance(loaded.features[i + 1], FoldedBatchNorm)
    predicted, ref = quantize_plan(planned, stats), lenet(dims)
    with torch.no_grad():
        for batch in batches:
            got, fq = loaded(*batch), predicted(*batch)
            assert torch.equal(got, deployed.model(*batch))  # the saved model is the built one
            step = units["fc2"]["act"]["output"]["step"]
            assert (got - fq).abs().max() <= 4 * step  # the engine's grid, rounded alike
            assert ((got - fq).norm() / ref(*batch).norm()).item() < 0.02


def test_a_float_conv_of_a_folded_pair_round_trips(tmp_path):
    """The conv stays float: its folded weights are saved as they are, folded again at load."""
    batches = [images(2)]
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8},
                          {"features.0": {"bits_weights": None, "bits_activations": None}})
    deployed, _, _ = deploy(lenet(), recipe, batches)
    save_deployed(deployed, tmp_path)
    assert "features.0.bias" in read_manifest(tmp_path)["float_tensors"]
    loaded = load_deployed(tmp_path, lenet)
    with torch.no_grad():
        assert torch.equal(loaded(*batches[0]), deployed.model(*batches[0]))
        assert (loaded(*batches[0]) - lenet()(*batches[0])).abs().max() < 0.1


def test_dynamic_activations_on_a_conv_fall_back_and_say_why():
    batches = [images(2)]
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8}, activations={".*": "dynamic"})
    deployed, _, _ = deploy(lenet(), recipe, batches, sample=batches[0], repeats=2)
    units = deployed.manifest["units"]
    assert units["features.0"]["kernel"] == "packed:float"
    assert units["fc1"]["kernel"] != "packed:float"
    conv = [f for f in deployed.fallbacks if f["module"] == "features.0"]
    assert conv and all("no dynamic quantized convolution" in f["why"] for f in conv)
    assert {"int8 dynamic activations"} <= {f["asked"] for f in conv}


def test_what_the_int8_conv_cannot_honour_is_listed():
    batches = [images(2)]
    asym = Recipe.build({"bits_weights": 8, "bits_activations": 8, "mode": "ASYMMETRIC_UNSIGNED"})
    deployed, _, _ = deploy(lenet(), asym, batches, backends=["onednn"])
    assert deployed.manifest["units"]["features.0"]["kernel"] == "packed:float"
    assert any(f["module"] == "features.0" and "symmetric weights only" in f["why"]
               for f in deployed.fallbacks)
    deployed, _, _ = deploy(lenet(), asym, batches, backends=["fbgemm"])  # fbgemm runs them
    assert deployed.manifest["units"]["features.0"]["kernel"] == "fbgemm:int8-conv"
    assert not any(f["module"].startswith("features") for f in deployed.fallbacks)


def test_deployable_conv_choices_are_what_the_int8_conv_runs():
    conv = deployable_choices("cpu", nn.Conv2d)
    assert conv["activations"] == ("static",) and conv["bits_activations"] == (8,)
    assert "dynamic" in deployable_choices("cpu", nn.Linear)["activations"]
    assert deployable_choices("onednn", nn.Conv1d)["mode"] == ("SYMMETRIC",)


def test_size_on_disk_is_the_predicted_size(tmp_path):
    """Uniform int8 with static activations on a LeNet over 1 MB deployed."""
    model, batches = lenet(width=8, side=28), [images(2, n=4, side=28)]
    deployed, planned, stats = deploy(model, INT8_STATIC, batches)  # no sample: no timing
    assert deployed.fallbacks == []
    save_deployed(deployed, tmp_path)
    disk = sum((tmp_path / f).stat().st_size for f in ("model.safetensors", "manifest.json"))
    predicted = size_report(planned, stats).total_bytes
    assert disk > 1_000_000 and predicted < 0.3 * size_report(plan(model, None)).total_bytes
    assert abs(disk / predicted - 1) < 0.05, disk / predicted
