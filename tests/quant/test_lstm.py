"""The modular LSTM equals nn.LSTM within 1e-5."""
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from autoq.quant import ModularLSTM, convert_rnns

ATOL = 1e-5


def pair(**kw):
    torch.manual_seed(0)
    lstm = nn.LSTM(12, 20, **kw).eval()
    return lstm, ModularLSTM.copied_from(lstm).eval()


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
    converted = convert_rnns(model)
    assert not any(isinstance(m, nn.LSTM) for m in converted.modules())
    names = dict(converted.named_modules())
    assert "1.0.cells_reverse.0.fc_gate_h" in names and "0.cells.0.eltwisemult_hidden" in names


@pytest.mark.parametrize("clip", ["NONE", "AVG"])
def test_gate_add_skips_requantizing_onto_the_same_grid(monkeypatch, clip):
    """The gate add leaves a gate projection alone when it would requantize it onto the
    grid it is already on; the output is bit for bit what it was with both steps."""
    from autoq import collect_stats, quantize
    from autoq.quant.actquant import NoQuant
    from autoq.quant.lstm import LSTMCell
    from autoq.recipe import Recipe
    torch.manual_seed(0)
    lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True).eval()
    batches = [(torch.randn(3, 5, 6),) for _ in range(2)]
    recipe = Recipe.build({"bits_activations": 8, "bits_weights": 8, "clip_acts": clip})
    stats = collect_stats(lstm, batches)
    q = quantize(lstm, recipe, stats)
    skipped = [type(m) for c in q.cells for m in c.eltwiseadd_gate.input_quants]
    # the recurrent projection feeds the add unchanged: always the same grid; the input
    # projection, computed for the whole sequence, only shares it without averaged clipping
    assert skipped == ([NoQuant, NoQuant] * 2 if clip == "NONE" else
                       [type(q.cells[0].eltwiseadd_gate.input_quants[0]), NoQuant] * 2)
    monkeypatch.setattr(LSTMCell, "skip_requantization", lambda self: None)
    both = quantize(lstm, recipe, stats)
    assert not any(isinstance(m, NoQuant) for c in both.cells for m in c.eltwiseadd_gate.input_quants)
    with torch.no_grad():
        for (x,) in batches:
            assert torch.equal(q(x)[0], both(x)[0])
