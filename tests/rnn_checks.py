"""Checks shared by the modular RNN tests: the same outputs and last state as torch's RNN."""
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


def assert_same(torch_rnn: nn.Module, mod: nn.Module, *args) -> None:
    """``mod`` gives ``torch_rnn``'s output and last state on ``args``, within 1e-5."""
    with torch.no_grad():
        (a, ha), (b, hb) = torch_rnn(*args), mod(*args)
    if isinstance(a, PackedSequence):
        a, b = (pad_packed_sequence(t, batch_first=True)[0] for t in (a, b))
    ha, hb = (ha, hb) if isinstance(ha, tuple) else ((ha,), (hb,))
    assert torch.allclose(a, b, atol=1e-5)
    assert all(torch.allclose(s, t, atol=1e-5) for s, t in zip(ha, hb, strict=True))


def assert_same_on_packed_and_unbatched(torch_rnn: nn.Module, mod: nn.Module, h0=None) -> None:
    """Equal on a packed batch of unequal lengths and on one sequence without a batch axis
    (from ``h0`` if given); ``torch_rnn`` is batch_first."""
    x, lengths = torch.randn(3, 7, torch_rnn.input_size), torch.tensor([7, 4, 2])
    assert_same(torch_rnn, mod, pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    assert_same(torch_rnn, mod, x[0], h0)
