"""The modular LSTM equals nn.LSTM within 1e-5."""
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from autoq.quant.lstm import ModularLSTM, convert_lstms

ATOL = 1e-5


def pair(**kw):
    torch.manual_seed(0)
    lstm = nn.LSTM(12, 20, **kw).eval()
    return lstm, ModularLSTM.from_lstm(lstm).eval()


def close(a, b):
    return (a - b).abs().max().item() <= ATOL


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_tensor_input(layers, bidirectional, batch_first):
    ref, mod = pair(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn(6, 9, 12)
    dirs = 2 if bidirectional else 1
    batch = 6 if batch_first else 9
    hx = (torch.randn(layers * dirs, batch, 20), torch.randn(layers * dirs, batch, 20))
    for state in (None, hx):
        a, (ha, ca) = ref(x, state)
        b, (hb, cb) = mod(x, state)
        assert close(a, b) and close(ha, hb) and close(ca, cb)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_variable_lengths(bidirectional):
    ref, mod = pair(num_layers=2, bidirectional=bidirectional, batch_first=True)
    x = torch.randn(5, 8, 12)
    lengths = torch.tensor([8, 3, 5, 1, 6])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    a, (ha, ca) = ref(packed)
    b, (hb, cb) = mod(packed)
    a, _ = pad_packed_sequence(a, batch_first=True)
    b, _ = pad_packed_sequence(b, batch_first=True)
    assert close(a, b) and close(ha, hb) and close(ca, cb)


def test_unbatched_and_no_bias():
    ref, mod = pair(num_layers=2, bias=False)
    x = torch.randn(7, 12)
    a, (ha, _) = ref(x)
    b, (hb, _) = mod(x)
    assert close(a, b) and close(ha, hb)


def test_step_by_step_decoding_carries_state():
    ref, mod = pair(num_layers=2, batch_first=True)
    x = torch.randn(3, 5, 12)
    full, _ = ref(x)
    state, outs = None, []
    for t in range(5):
        out, state = mod(x[:, t:t + 1], state)
        outs.append(out)
    assert close(full, torch.cat(outs, dim=1))


def test_convert_replaces_every_lstm_and_keeps_names():
    model = nn.Sequential(nn.LSTM(4, 4), nn.Sequential(nn.LSTM(4, 4, bidirectional=True)))
    converted = convert_lstms(model)
    assert not any(isinstance(m, nn.LSTM) for m in converted.modules())
    names = dict(converted.named_modules())
    assert "1.0.cells_reverse.0.fc_gate_h" in names and "0.cells.0.eltwisemult_hidden" in names
