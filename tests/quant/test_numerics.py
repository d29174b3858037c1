"""Scales, zero points and fake quantization against torch's reference ops and observers."""
import math

import pytest
import torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

from autoq.settings import ClipMode, Mode
from autoq.quant.numerics import (aciq_alpha, clip_range, fake_quant, fake_quant_tensor, qparams, qrange,
                                  quantize_weight)

MODES = list(Mode)
BITS = range(2, 9)


def torch_observer(mode, bits, per_channel):
    qmin, qmax = qrange(bits, mode)
    signed = mode is not Mode.ASYMMETRIC_UNSIGNED
    if per_channel:
        scheme = torch.per_channel_symmetric if mode is Mode.SYMMETRIC else torch.per_channel_affine
        return PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8 if signed else torch.quint8,
                                        qscheme=scheme, quant_min=qmin, quant_max=qmax)
    scheme = torch.per_tensor_symmetric if mode is Mode.SYMMETRIC else torch.per_tensor_affine
    return MinMaxObserver(dtype=torch.qint8 if signed else torch.quint8, qscheme=scheme,
                          quant_min=qmin, quant_max=qmax)


def by_hand(x, step, zp, qmin, qmax):
    """The textbook formula in float64, independent of torch's fused kernels."""
    x, step, zp = x.double(), step.double(), zp.double()
    return ((torch.round(x / step) + zp).clamp(qmin, qmax) - zp) * step


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bits", BITS)
def test_per_tensor_matches_torch(mode, bits):
    x = torch.randn(64, 32) * 3 + 0.5
    obs = torch_observer(mode, bits, per_channel=False)
    obs(x)
    t_scale, t_zp = obs.calculate_qparams()
    lo, hi = torch.aminmax(x)
    step, zp = qparams(lo, hi, bits, mode)
    assert step.item() == pytest.approx(t_scale.item(), rel=1e-6)
    assert zp.item() == t_zp.item()
    qmin, qmax = qrange(bits, mode)
    ours = fake_quant(x, bits, mode, lo, hi)
    ref = torch.fake_quantize_per_tensor_affine(x, t_scale.item(), int(t_zp), qmin, qmax)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert torch.allclose(ours.double(), by_hand(x, step, zp, qmin, qmax), atol=1e-5)
    assert len(torch.unique(ours)) <= 2 ** bits


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bits", BITS)
def test_per_channel_matches_torch(mode, bits):
    w = torch.randn(8, 20) * torch.linspace(0.1, 5, 8).unsqueeze(1) + 0.2
    obs = torch_observer(mode, bits, per_channel=True)
    obs(w)
    t_scale, t_zp = obs.calculate_qparams()
    qmin, qmax = qrange(bits, mode)
    ours = quantize_weight(w, bits, mode, per_channel=True)
    ref = torch.fake_quantize_per_channel_affine(w, t_scale.float(), t_zp.int(), 0, qmin, qmax)
    assert torch.allclose(ours, ref, atol=1e-6)
    lo, hi = torch.aminmax(w, dim=1)
    step, zp = qparams(lo, hi, bits, mode)
    assert torch.allclose(ours.double(), by_hand(w, step.unsqueeze(1), zp.unsqueeze(1), qmin, qmax), atol=1e-5)


def test_asymmetric_range_holds_zero_exactly():
    x = torch.rand(100) + 2.0  # all positive: the range is widened to [0, max]
    out = fake_quant(x, 8, Mode.ASYMMETRIC_UNSIGNED, x.min(), x.max())
    assert fake_quant(torch.zeros(1), 8, Mode.ASYMMETRIC_UNSIGNED, x.min(), x.max()).item() == 0.0
    assert (out - x).abs().max() <= (x.max() / 255) / 2 + 1e-6


def test_fp16_and_float():
    x = torch.randn(10) * 1000
    assert torch.equal(fake_quant(x, None, Mode.SYMMETRIC, 0, 0), x)
    assert torch.equal(fake_quant(x, 16, Mode.SYMMETRIC, 0, 0), x.half().float())


# Banner et al. (2019), optimal clipping in units of b (Laplace) and sigma (Gaussian).
LAPLACE = {2: 2.83, 3: 3.89, 4: 5.03, 8: 9.89}
GAUSS = {2: 1.71, 3: 2.15, 4: 2.55, 8: 3.92}


@pytest.mark.parametrize("bits", sorted(LAPLACE))
def test_aciq_alpha_closed_form(bits):
    assert aciq_alpha(bits, "laplace") == pytest.approx(LAPLACE[bits], abs=0.015)
    assert aciq_alpha(bits, "gauss") == pytest.approx(GAUSS[bits], abs=0.015)


def _stats(x):
    return {"min": x.min().item(), "max": x.max().item(), "mean": x.mean().item(),
            "std": x.std().item(), "b": (x - x.mean()).abs().mean().item(),
            "avg_min": x.min().item(), "avg_max": x.max().item()}


def test_aciq_clip_values_on_samples():
    g = torch.Generator().manual_seed(0)
    gauss = torch.randn(200_000, generator=g) * 2.0 + 1.0
    lo, hi = clip_range(_stats(gauss), ClipMode.GAUSS, 4)
    assert hi == pytest.approx(1.0 + 2.55 * 2.0, rel=0.01)
    assert lo == pytest.approx(1.0 - 2.55 * 2.0, rel=0.01)
    lap = torch.distributions.Laplace(0.0, 0.5).sample((200_000,))
    lo, hi = clip_range(_stats(lap), ClipMode.LAPLACE, 4)
    assert hi == pytest.approx(5.03 * 0.5, rel=0.02)


def test_aciq_alpha_minimizes_empirical_error():
    """On Laplace data, the ACIQ clip is near the brute-force best clip at 3 bits."""
    torch.manual_seed(0)
    x = torch.distributions.Laplace(0.0, 1.0).sample((400_000,))

    def mse(alpha):
        # 2**bits levels over [-alpha, alpha], as in the ACIQ model
        step = 2 * alpha / 2 ** 3
        q = torch.clamp(torch.floor(x / step) + 0.5, -4 + 0.5, 4 - 0.5) * step
        return ((q - x) ** 2).mean().item()

    grid = [a / 10 for a in range(20, 80)]
    best = min(grid, key=mse)
    assert abs(best - aciq_alpha(3, "laplace")) < 0.5
    assert mse(aciq_alpha(3, "laplace")) < 1.05 * mse(best)


def test_clip_n_std_and_avg_stay_inside_observed_range():
    s = {"min": -1.0, "max": 4.0, "avg_min": -0.5, "avg_max": 3.0, "mean": 1.0, "std": 1.0, "b": 0.8}
    assert clip_range(s, ClipMode.NONE, 8) == (-1.0, 4.0)
    assert clip_range(s, ClipMode.AVG, 8) == (-0.5, 3.0)
    assert clip_range(s, ClipMode.N_STD, 8, n_stds=2) == (-1.0, 3.0)
    lo, hi = clip_range(s, ClipMode.GAUSS, 8)
    assert (lo, hi) == (-1.0, 4.0) and math.isfinite(lo)


@pytest.mark.parametrize("zero_point", [0, 3])
def test_fake_quant_of_a_broadcast_view_equals_its_copy(zero_point):
    """An expanded input is quantized once per distinct value, with the same result."""
    base = torch.randn(4, 1, 6)
    view = base.expand(4, 5, 6)
    got = fake_quant_tensor(view, 0.05, zero_point, -128, 127)
    want = fake_quant_tensor(view.contiguous(), 0.05, zero_point, -128, 127)
    assert got.shape == view.shape and torch.equal(got, want)


@pytest.mark.parametrize("clip", list(ClipMode))
def test_dynamic_quantizer_sees_a_broadcast_view_as_its_copy(clip):
    """The run-time range of an expanded input is computed on its distinct values only,
    and equals the range of the materialized tensor for every clip mode."""
    from autoq.quant.actquant import DynamicFakeQuant
    q = DynamicFakeQuant(8, Mode.ASYMMETRIC_SIGNED, clip, 2.0 if clip is ClipMode.N_STD else None)
    base = torch.randn(3, 1, 5, 4)
    for view in (base.expand(3, 6, 5, 4), base[:1].expand(3, 6, 5, 4)):
        torch.testing.assert_close(q(view), q(view.contiguous()), rtol=0, atol=1e-6)
