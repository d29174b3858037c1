"""GNMT task: module layout, op coverage, decoding, the shipped checkpoint and scoring."""
import copy
import os
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from autoq.graph import trace
from autoq import collect_stats, prepare, quantize
from autoq.quant.handlers import QuantOp
from autoq.quant.ops import BatchMatmul, Concat, EltwiseAdd, EltwiseMult, Matmul
from autoq.tasks.gnmt.beam import beam_search
from autoq.tasks.gnmt.checkpoint import ASSET_DIR, SUMS, WEIGHTS, read_sums, sha256
from autoq.recipe import Recipe
from autoq.tasks.gnmt.model import BOS, EOS, GNMT, GNMTConfig, with_plain_ops

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
os.environ.setdefault("AUTOQ_DATA", str(DATA))
needs_asset = pytest.mark.skipif(not (ASSET_DIR / WEIGHTS).is_file(),
                                 reason=f"trained GNMT checkpoint not in {ASSET_DIR} yet")
needs_data = pytest.mark.skipif(not (Path(os.environ["AUTOQ_DATA"]) / "multi30k").is_dir(),
                                reason="Multi30k not under $AUTOQ_DATA")
OPS = (EltwiseAdd, EltwiseMult, Matmul, BatchMatmul, Concat)
V, H = 50, 16


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small ops on a shared CPU: one thread avoids OpenMP's spin-waits."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return GNMT(GNMTConfig(vocab_size=V, hidden_size=H, dropout=0.0)).eval()


def batch(b=3, s=7, t=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V, (b, s), generator=g)
    lengths = torch.tensor([s] + [s - 2] * (b - 1))
    src[1:, s - 2:] = 0  # padding
    return src, lengths, torch.randint(4, V, (b, t), generator=g)


def test_module_names(tiny):
    mods = dict(tiny.named_modules(remove_duplicate=False))
    expected = {
        "encoder.embedder": nn.Embedding, "decoder.embedder": nn.Embedding,
        **{f"encoder.rnn_layers.{i}": nn.LSTM for i in range(4)},
        **{f"encoder.eltwiseadd_residuals.{i}": EltwiseAdd for i in range(2)},
        "decoder.att_rnn.rnn": nn.LSTM,
        "decoder.att_rnn.attn.linear_q": nn.Linear, "decoder.att_rnn.attn.linear_k": nn.Linear,
        "decoder.att_rnn.attn.eltwiseadd_qk": EltwiseAdd,
        "decoder.att_rnn.attn.eltwiseadd_norm_bias": EltwiseAdd,
        "decoder.att_rnn.attn.eltwisemul_norm_scaler": EltwiseMult,
        "decoder.att_rnn.attn.matmul_score": Matmul,
        "decoder.att_rnn.attn.context_matmul": BatchMatmul,
        **{f"decoder.rnn_layers.{i}": nn.LSTM for i in range(3)},
        **{f"decoder.concat_inputs.{i}": Concat for i in range(3)},
        **{f"decoder.eltwiseadd_residuals.{i}": EltwiseAdd for i in range(2)},
        "decoder.classifier.classifier": nn.Linear,
    }
    for name, kind in expected.items():
        assert isinstance(mods.get(name), kind), name
    assert mods["encoder.rnn_layers.0"].bidirectional
    assert mods["encoder.rnn_layers.1"].input_size == 2 * H
    assert all(mods[f"decoder.rnn_layers.{i}"].input_size == 2 * H for i in range(3))
    assert mods["decoder.att_rnn.attn.linear_q"].bias is None
    assert mods["decoder.embedder"].weight is mods["encoder.embedder"].weight
    assert mods["decoder.classifier.classifier"].out_features == V


class _Arith(TorchFunctionMode):
    """Records add/mul/matmul/cat calls made outside op modules and parametric layers."""

    NAMES = {"add", "__add__", "__radd__", "__iadd__", "add_", "mul", "__mul__", "__rmul__", "__imul__",
             "mul_", "matmul", "__matmul__", "__rmatmul__", "bmm", "mm", "cat", "concat", "einsum",
             "addmm", "baddbmm", "sub", "__sub__", "__rsub__"}

    def __init__(self):
        super().__init__()
        self.depth, self.stray = 0, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if self.depth == 0 and name in self.NAMES:
            self.stray.append(name)
        return func(*args, **(kwargs or {}))


def test_arithmetic_goes_through_op_modules(tiny):
    mode, calls = _Arith(), {}
    leaves = OPS + (nn.LSTM, nn.Linear, nn.Embedding)

    def enter(m, *_):
        mode.depth += 1

    def leave(m, *_):
        mode.depth -= 1
        calls[type(m)] = calls.get(type(m), 0) + 1

    hooks = [h for m in tiny.modules() if isinstance(m, leaves)
             for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
    try:
        with torch.no_grad(), mode:
            tiny(*batch())
    finally:
        for h in hooks:
            h.remove()
    assert mode.stray == [], f"arithmetic outside op modules: {mode.stray}"
    assert calls[EltwiseAdd] == 2 + 2 + 2 and calls[EltwiseMult] == 1
    assert calls[Matmul] == 1 and calls[BatchMatmul] == 1 and calls[Concat] == 3


def test_teacher_forcing_matches_stepwise_decoding(tiny):
    src, lengths, tgt = batch()
    with torch.no_grad():
        logits = tiny(src, lengths, tgt)
        assert logits.shape == (3, 5, V)
        memory, steps = tiny.encode(src, lengths), []
        state = tiny.zero_state(3, memory[1])
        for t in range(tgt.size(1)):
            step, state, attn = tiny.decode_step(tgt[:, t], state, memory)
            steps.append(step)
            assert attn.shape == (3, 7)
            assert torch.allclose(attn.sum(-1), torch.ones(3), atol=1e-5)
            assert attn[1:, 5:].abs().max() == 0  # padding gets no attention
    torch.testing.assert_close(torch.stack(steps, 1), logits, atol=1e-5, rtol=1e-4)


def test_beam_of_one_is_greedy_and_search_is_deterministic(tiny):
    src, lengths, _ = batch()
    hyps = beam_search(tiny, src, lengths, beam_size=1, cov_penalty_factor=0.0)
    with torch.no_grad():
        memory = tiny.encode(src, lengths)
        state = tiny.zero_state(3, memory[1])
        tokens, greedy = torch.full((3,), BOS), []
        for _ in range(int(1.5 * 7) + 5):
            logits, state, _ = tiny.decode_step(tokens, state, memory)
            tokens = logits.argmax(-1)
            greedy.append(tokens)
    for i, hyp in enumerate(hyps):
        ref = torch.stack(greedy, 1)[i].tolist()
        assert hyp == ref[:ref.index(EOS)] if EOS in ref else hyp == ref[:len(hyp)]
    beams = beam_search(tiny, src, lengths, beam_size=5)
    assert beams == beam_search(tiny, src, lengths, beam_size=5)
    assert all(len(h) <= 1.5 * 7 + 5 and EOS not in h for h in beams)


@needs_asset
def test_checkpoint_matches_sha256sums():
    sums = read_sums(ASSET_DIR)
    assert {WEIGHTS, "tokenizer.json", "config.json", "train.log"} <= set(sums)
    for name, digest in sums.items():
        assert sha256(ASSET_DIR / name) == digest, name
    assert (ASSET_DIR / WEIGHTS).stat().st_size <= 25 * 2 ** 20
    assert (ASSET_DIR / SUMS).is_file()


@needs_asset
@needs_data
def test_task_scores_and_calibrates():
    from autoq.tasks import Score, get_task

    task = get_task("gnmt-multi30k")
    assert (task.name, task.metric_name, task.direction) == ("gnmt-multi30k", "bleu", "maximize")
    model = task.build_model()
    assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())
    calib = task.calibration_batches()
    assert len(calib) == 8 and calib[0][0].shape[0] == 64
    assert all(torch.equal(a, b) for x, y in zip(calib, task.calibration_batches()) for a, b in zip(x, y))
    with torch.no_grad():
        assert model(*calib[0]).shape[:2] == calib[0][2].shape
    task = get_task("gnmt-multi30k", batch_size=16)  # val's 1014 sentences in 64 batches
    score = task.evaluate(model, "search", fraction=0.02)  # one batch, the middle one
    assert isinstance(score, Score) and score.n == 16 and score.metric_name == "bleu"
    assert score.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert score.signature.endswith("|split=val|n=16|beam=5|batches=32/64")
    assert score.metric > 15
    assert score.examples.shape == (16, 10)  # per sentence: sacrebleu's statistics, which sum to BLEU
    assert task.summed_metric(score.examples.sum(0)) == pytest.approx(score.metric, abs=1e-9)
    assert task.evaluate(model, "search", fraction=0.02) == score  # deterministic
    confirm = task.evaluate(model, "confirm", fraction=0.01)
    assert confirm.n == 16 and "|split=test_2016_flickr|" in confirm.signature
    memo, ran = {}, []
    hook = model.encoder.register_forward_pre_hook(lambda m, args: ran.append(1))
    try:
        assert task.evaluate(model, "search", fraction=0.02, memo=memo) == score
        more = task.evaluate(model, "search", fraction=0.04, memo=memo)  # batches 10, 32 and 53
        assert len(ran) == 3 and more.signature.endswith("|batches=10,32,53/64")
    finally:
        hook.remove()
    assert more == task.evaluate(model, "search", fraction=0.04)  # as scored without the memo


def test_plain_ops_gnmt_is_traced_by_its_roots(tiny):
    """GNMT without op modules: graph mode traces encoder and decoder (what beam search
    drives), finds the same ops again, and the traced model decodes as the original."""
    plain = with_plain_ops(copy.deepcopy(tiny))
    assert not any(isinstance(m, OPS) for m in plain.modules())
    src, lengths, tgt = batch()
    traced, report = trace(plain, (src, lengths, tgt))
    assert isinstance(traced, GNMT) and report.traced == ["encoder", "decoder"] and not report.untraced
    hand_ops = [n for n, m in tiny.named_modules() if isinstance(m, OPS)]
    assert len(report.ops) == len(hand_ops) == 12
    assert beam_search(traced, src, lengths) == beam_search(tiny, src, lengths)
    prepared = prepare(plain, (src, lengths, tgt), graph=True)
    seed = Recipe.build({"bits_activations": 8}, overrides={".*att_rnn.attn.*": {"clip_acts": "NONE"}})
    q = quantize(prepared, seed, collect_stats(prepared, [(src, lengths, tgt)]))
    attn_ops = [n for n in report.ops if ".att_rnn.attn." in n]
    assert len(attn_ops) == 5 and all(isinstance(q.get_submodule(n), QuantOp) for n in attn_ops)
    assert beam_search(q, src, lengths)  # decodes once quantized


def test_summed_sentence_statistics_are_sacrebleus_corpus_bleu():
    import sacrebleu
    from autoq.tasks.gnmt.corpus import read_lines
    from autoq.tasks.gnmt.task import sentence_stats, summed_bleu
    refs = read_lines("test", "de")
    hyps = [r if i % 3 else " ".join(r.split()[:-2]) for i, r in enumerate(refs)]
    hyps[5] = ""  # an empty translation too
    bleu = sacrebleu.BLEU()
    rows = sentence_stats(bleu, hyps, refs)
    assert rows.shape == (len(refs), 10)
    assert summed_bleu(bleu, rows.sum(0)) == pytest.approx(bleu.corpus_score(hyps, [refs]).score, abs=1e-12)
