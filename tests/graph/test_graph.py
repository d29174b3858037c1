"""Graph mode: tracing unmodified models so their functional ops become op modules."""
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from autoq import AutoqError, Recipe, collect_stats, prepare, quantize
from autoq.graph import TraceWarning, trace
from autoq.quant.handlers import QuantOp
from autoq.quant.lstm import ModularLSTM
from autoq.quant.ops import BatchMatmul, Concat, EltwiseAdd, EltwiseMult, Matmul

FLOAT = Recipe.build({"bits_weights": None, "bits_activations": None})
INT8 = Recipe.build({"bits_weights": 8, "bits_activations": 8})


def max_error(a, b) -> float:
    return (a - b).abs().max().item()


# --- a GNMT-like model written with plain torch ops (no op modules) ----------------
class PlainAttention(nn.Module):
    """Normalized Bahdanau attention with plain +, *, matmul and bmm."""

    def __init__(self, h):
        super().__init__()
        self.linear_q = nn.Linear(h, h, bias=False)
        self.linear_k = nn.Linear(h, h, bias=False)
        self.v = nn.Parameter(torch.randn(h) * 0.3)
        self.scale = nn.Parameter(torch.tensor(h ** -0.5))

    def forward(self, query, values, mask):
        s = torch.tanh(self.linear_q(query).unsqueeze(2) + self.linear_k(values).unsqueeze(1))
        scores = torch.matmul(s, self.v * self.scale)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        return torch.bmm(torch.softmax(scores, dim=-1), values)


class PlainEncoder(nn.Module):
    def __init__(self, embedder, h):
        super().__init__()
        self.embedder = embedder
        self.rnn0 = nn.LSTM(h, h, batch_first=True, bidirectional=True)
        self.rnn1 = nn.LSTM(2 * h, h, batch_first=True)
        self.rnn2 = nn.LSTM(h, h, batch_first=True)

    def forward(self, src):
        x, _ = self.rnn0(self.embedder(src))
        x, _ = self.rnn1(x)
        y, _ = self.rnn2(x)
        return x + y


class PlainDecoder(nn.Module):
    def __init__(self, embedder, h, vocab):
        super().__init__()
        self.embedder = embedder
        self.att_rnn = nn.LSTM(h, h, batch_first=True)
        self.attn = PlainAttention(h)
        self.rnn1 = nn.LSTM(2 * h, h, batch_first=True)
        self.rnn2 = nn.LSTM(2 * h, h, batch_first=True)
        self.classifier = nn.Linear(h, vocab)

    def forward(self, tgt, values, mask):
        q, _ = self.att_rnn(self.embedder(tgt))
        context = self.attn(q, values, mask)
        y, _ = self.rnn1(torch.cat([q, context], dim=-1))
        z, _ = self.rnn2(torch.cat([y, context], dim=-1))
        return self.classifier(y + z)


class PlainGNMT(nn.Module):
    def __init__(self, vocab=40, h=16):
        super().__init__()
        embedder = nn.Embedding(vocab, h)
        self.encoder = PlainEncoder(embedder, h)
        self.decoder = PlainDecoder(embedder, h, vocab)

    def forward(self, src, src_lengths, tgt):
        mask = torch.arange(src.size(1), device=src.device) < src_lengths.unsqueeze(1)
        return self.decoder(tgt, self.encoder(src), mask)


class StepDecoder(PlainDecoder):
    """Decodes one target position at a time: a Python loop over a traced length."""

    def forward(self, tgt, values, mask):
        outs = [super(StepDecoder, self).forward(tgt[:, t:t + 1], values, mask)
                for t in range(tgt.size(1))]
        return torch.cat(outs, dim=1)


GNMT_OPS = ["encoder.eltwiseadd_residual", "decoder.attn.eltwiseadd", "decoder.attn.eltwisemult",
            "decoder.attn.matmul_qk", "decoder.attn.bmm_av", "decoder.concat", "decoder.concat_1",
            "decoder.eltwiseadd_residual"]


def gnmt_batch(batch=3, src_len=7, tgt_len=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, src_len + 1, (batch,), generator=g)
    lengths[0] = src_len
    return (torch.randint(1, 40, (batch, src_len), generator=g), lengths,
            torch.randint(1, 40, (batch, tgt_len), generator=g))


@pytest.fixture
def gnmt():
    torch.manual_seed(0)
    return PlainGNMT().eval()


# --- a small convolutional net with residual adds ----------------------------------
class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class Gated(Residual):
    """Branches on tensor values: cannot be traced."""

    def forward(self, x):
        y = super().forward(x)
        return y * 0.5 if y.mean() > 10 else y


class ConvNet(nn.Module):
    def __init__(self, block=Residual, c=8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.Sequential(Residual(c), block(c))
        self.side = nn.Conv2d(3, c, 1)
        self.fc = nn.Linear(2 * c, 10)

    def forward(self, x):
        y = torch.cat([self.blocks(self.stem(x)), self.side(x)], dim=1)
        return self.fc(y.mean(dim=(2, 3)))


def images(n=4, size=12, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def convnet():
    torch.manual_seed(0)
    net = ConvNet()
    for m in net.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


# --- MiniLM (Hugging Face BERT), pretrained with a fresh 2-label head ------------------
PAIRS = [("The cat sat on the mat.", "A cat was sitting on the mat."),
         ("Stocks fell sharply on Monday.", "The weather was sunny."),
         ("He plays the piano.", "He is a pianist who performs in concerts every week.")]


@pytest.fixture(scope="module")
def minilm():
    from autoq.tasks.minilm.model import load_model, load_tokenizer
    tok = load_tokenizer()
    enc = tok([a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True, return_tensors="pt")
    batch = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    short = {k: v[:2, :9] for k, v in batch.items()}  # other batch size and length
    return load_model(), batch, short


@pytest.fixture(scope="module")
def minilm_traced(minilm):
    model, batch, _ = minilm
    return trace(model, batch)


def test_minilm_traces_whole_with_documented_names(minilm, minilm_traced):
    model, _, _ = minilm
    traced, report = minilm_traced
    assert isinstance(traced, fx.GraphModule) and report.complete and not report.untraced
    per_layer = ["attention.self.matmul_qk", "attention.self.matmul_av",
                 "attention.output.eltwiseadd_residual", "output.eltwiseadd_residual"]
    expected = ["bert.embeddings.eltwiseadd", "bert.embeddings.eltwiseadd_1"] + [
        f"bert.encoder.layer.{i}.{op}" for i in range(6) for op in per_layer]
    assert report.ops == expected  # the mask adds and the scaling are left alone
    modules = dict(traced.named_modules())
    assert isinstance(modules["bert.encoder.layer.3.attention.self.matmul_qk"], Matmul)
    assert isinstance(modules["bert.encoder.layer.3.output.eltwiseadd_residual"], EltwiseAdd)
    originals = {n: type(m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Embedding))}
    assert {n: type(modules[n]) for n in originals} == originals  # recipes still apply
    assert model.config._attn_implementation == "sdpa"  # the original is untouched


def test_minilm_float_output_equal(minilm, minilm_traced):
    model, batch, short = minilm
    traced, report = minilm_traced
    assert report.max_error <= 1e-5
    with torch.no_grad():
        for b in (batch, short):
            out = traced(**b)
            assert max_error(out.logits, model(**b).logits) <= 1e-5
            assert torch.equal(out[0], out.logits)
    with pytest.raises(AutoqError, match="labels"):  # inputs fixed at trace time are checked
        traced(**batch, labels=torch.zeros(3, dtype=torch.long))
    with pytest.raises(AutoqError, match="kwargs"):
        traced(**batch, output_attentions=True)


def test_minilm_override_on_new_op_changes_only_it(minilm):
    model, batch, short = minilm
    prepared = prepare(model, example_inputs=batch, graph=True)
    stats = collect_stats(prepared, [batch, short])
    qk = [f"bert.encoder.layer.{i}.attention.self.matmul_qk" for i in range(6)]
    assert all(n in stats and set(stats[n]["inputs"]) == {0, 1} for n in qk)
    recipe = Recipe.build({"bits_weights": None, "bits_activations": None},
                          overrides={r".*matmul_qk": {"bits_activations": 4}})
    q = quantize(prepared, recipe, stats)
    wrapped = {n: m for n, m in q.named_modules() if isinstance(m, QuantOp)}
    assert sorted(wrapped) == qk
    assert all(m.config.bits_activations == 4 and m.config.bits_weights is None for m in wrapped.values())
    with torch.no_grad():
        ref = model(**batch).logits
        assert max_error(quantize(prepared, FLOAT, stats)(**batch).logits, ref) <= 1e-5
        assert max_error(q(**batch).logits, ref) > 1e-4


def test_minilm_task_evaluate_accepts_traced(minilm_traced):
    from autoq.tasks.minilm.model import pretrained_dir
    from autoq.tasks.minilm.task import MiniLMMRPC
    if not (Path(os.environ.get("AUTOQ_DATA", "")) / "mrpc" / "train.tsv").is_file():
        pytest.skip("set AUTOQ_DATA to a folder holding mrpc/")
    task = MiniLMMRPC(model_dir=pretrained_dir())
    traced, _ = minilm_traced
    assert task.evaluate(traced, "search", fraction=0.05) == \
        task.evaluate(task.build_model(), "search", fraction=0.05)


def test_gnmt_like_traces_whole(gnmt):
    batch, other = gnmt_batch(), gnmt_batch(batch=2, src_len=4, tgt_len=9, seed=1)
    traced, report = trace(gnmt, batch)
    assert report.complete and report.ops == GNMT_OPS
    kinds = {type(traced.get_submodule(n)) for n in report.ops}
    assert kinds == {EltwiseAdd, EltwiseMult, Matmul, BatchMatmul, Concat}
    prepared = prepare(gnmt, example_inputs=batch, graph=True)
    assert isinstance(prepared.get_submodule("decoder.att_rnn"), ModularLSTM)
    with torch.no_grad():
        for b in (batch, other):
            ref = gnmt(*b)
            assert max_error(traced(*b), ref) <= 1e-5
            assert max_error(prepared(*b), ref) <= 1e-5
    stats = collect_stats(prepared, [batch, other])
    assert set(GNMT_OPS) <= set(stats)
    q = quantize(prepared, INT8, stats)  # global settings: the exposed ops stay float
    assert not any(isinstance(q.get_submodule(n), QuantOp) for n in GNMT_OPS)
    assert isinstance(q.get_submodule("decoder.att_rnn.cells.0.eltwiseadd_gate"), QuantOp)
    named = Recipe.build({"bits_weights": 8, "bits_activations": 8}, overrides={".*": {}})
    q = quantize(prepared, named, stats)  # an override that names them quantizes them
    assert all(isinstance(q.get_submodule(n), QuantOp) for n in GNMT_OPS)


def test_graph_mode_never_changes_a_recipe_that_names_no_exposed_op(convnet):
    """The ops graph mode exposes stay float under a recipe's global settings and parent
    overrides, so the traced model quantized by it equals the eager one."""
    x = images()
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8},
                          overrides={r"blocks\.0": {"bits_weights": 4}})
    eager, graph = prepare(convnet), prepare(convnet, x, graph=True)
    q_eager = quantize(eager, recipe, collect_stats(eager, [x]))
    q_graph = quantize(graph, recipe, collect_stats(graph, [x]))
    with torch.no_grad():
        assert max_error(q_graph(x), q_eager(x)) <= 1e-6


def test_gnmt_like_step_decoder_is_reported(gnmt):
    gnmt.decoder.__class__ = StepDecoder
    batch = gnmt_batch()
    with pytest.warns(TraceWarning, match="decoder"):
        traced, report = trace(gnmt, batch)
    assert [u.name for u in report.untraced] == ["", "decoder"]
    assert all("integer" in u.reason and "test_graph.py" in u.reason for u in report.untraced)
    assert isinstance(traced, PlainGNMT) and isinstance(traced.encoder, fx.GraphModule)
    assert report.ops == ["encoder.eltwiseadd_residual", "decoder.attn.eltwiseadd",
                          "decoder.attn.eltwisemult", "decoder.attn.matmul_qk", "decoder.attn.bmm_av"]
    with torch.no_grad():
        assert max_error(traced(*batch), gnmt(*batch)) <= 1e-5


def test_convnet_residual_adds(convnet):
    x = images()
    traced, report = trace(convnet, x)
    assert report.complete
    assert report.ops == ["blocks.0.eltwiseadd_residual", "blocks.1.eltwiseadd_residual", "concat"]
    assert isinstance(traced.get_submodule("concat"), Concat) and traced.concat.dim == 1
    with torch.no_grad():
        for batch in (x, images(n=2, size=9, seed=1)):
            assert max_error(traced(batch), convnet(batch)) <= 1e-5
    prepared = prepare(convnet, x, graph=True)
    stats = collect_stats(prepared, [x])
    assert {"blocks.0.eltwiseadd_residual", "concat"} <= set(stats)
    recipe = Recipe.build({"bits_weights": None, "bits_activations": None},
                          overrides={r"blocks\.0\.eltwiseadd_residual": {"bits_activations": 4}})
    q = quantize(prepared, recipe, stats)
    assert [n for n, m in q.named_modules() if isinstance(m, QuantOp)] == ["blocks.0.eltwiseadd_residual"]


def test_untraceable_block_is_reported_and_the_rest_exposed():
    torch.manual_seed(0)
    net, x = ConvNet(block=Gated).eval(), images()
    with pytest.warns(TraceWarning, match="blocks.1"):
        traced, report = trace(net, x)
    assert [u.name for u in report.untraced] == ["", "blocks", "blocks.1"]
    assert all("tensor values" in u.reason and "test_graph.py" in u.reason for u in report.untraced)
    assert report.ops == ["blocks.0.eltwiseadd_residual"]
    assert isinstance(traced.blocks[0], fx.GraphModule) and type(traced.blocks[1]) is Gated
    with torch.no_grad():
        assert max_error(traced(x), net(x)) <= 1e-5
    stats = collect_stats(traced, [x])
    assert "blocks.0.eltwiseadd_residual" in stats


class ShapeBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        y = self.proj(x)
        return x + y if x.size(1) > 2 else y


def test_shape_branch_is_guarded():
    model = ShapeBranch().eval()
    traced, report = trace(model, torch.randn(2, 5, 4))
    assert report.ops == ["eltwiseadd_residual"] and len(report.guards) == 1
    assert "test_graph.py" in report.guards[0]
    x = torch.randn(3, 7, 4)
    assert torch.equal(traced(x), model(x))
    with pytest.raises(AutoqError, match="branch"):
        traced(torch.randn(3, 2, 4))


def test_graph_mode_needs_example_inputs(convnet):
    with pytest.raises(AutoqError, match="example inputs"):
        prepare(convnet, graph=True)


def test_graph_space_and_recipe_flag(tmp_path):
    """A space with graph: true traces the model; its recipes say so and round-trip."""
    from autoq import Recipe
    from autoq.search.space import SearchSpace
    space = SearchSpace.from_dict({"graph": True, "groups": [{"modules": "x", "bits_weights": [4, 8]}]})
    space.units = {space.groups[0].name: ["x"]}
    recipe = space.recipe({})
    assert recipe.graph and "graph: true" in recipe.to_yaml()
    assert Recipe.from_yaml(recipe.to_yaml()).graph
    assert not Recipe.build({}).graph


def test_a_graph_study_pick_keeps_graph_mode_and_scores_as_its_front_says(tmp_path):
    """Every recipe a graph-mode study writes carries graph: true, so the pick, scored on
    its own, is the model the front measured."""
    import json
    import subprocess
    import yaml
    from autoq.evaluate import evaluate
    from autoq.search import SearchConfig, run_search
    from autoq.tasks import get_task
    tests = Path(__file__).resolve().parents[1]
    doc = yaml.safe_load((tests / "spaces" / "tiny.yaml").read_text())
    doc["graph"] = True
    doc.pop("seeds")
    (tmp_path / "graph.yaml").write_text(yaml.safe_dump(doc))
    run_search(SearchConfig(task="plugin_task:make_task", space=str(tmp_path / "graph.yaml"), study="tiny",
                            results=tmp_path, n_trials=4, progress=False, device="cpu",
                            objective="metric", ladder=0))
    subprocess.run(["autoq", "pareto", "--study", "tiny", "--results", str(tmp_path), "--max-drop", "0.5"],
                   check=True, capture_output=True, cwd=tests)
    folder = tmp_path / "tiny"
    front = json.loads((folder / "pareto.json").read_text())
    assert all(Recipe.load(folder / p["recipe"]).graph for p in front)
    picked = Recipe.load(folder / "picked.yaml")
    assert picked.graph
    point = next(p for p in front if (folder / p["recipe"]).read_text() == (folder / "picked.yaml").read_text())
    score = evaluate(get_task("plugin_task:make_task"), picked, split="confirm")
    assert score["metric"] == pytest.approx(point["confirm_metric"], abs=1e-9)


def test_a_recipe_naming_traced_ops_without_graph_mode_is_refused(convnet):
    """Scored without graph mode, a recipe naming an op only the traced model has is
    refused, with the hint, rather than scoring another model."""
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8},
                          overrides={r"blocks\.0\.eltwiseadd_residual": {"bits_activations": 4}})
    with pytest.raises(AutoqError, match="graph: true"):
        quantize(prepare(convnet), recipe)


def test_exposed_ops_a_recipe_quantizes_are_marked_float_on_deploy(convnet):
    """A graph study's trial that quantizes exposed ops counts them, and the front says
    they stay float when deployed."""
    from types import SimpleNamespace
    from autoq.quant import make_plan
    from autoq.search.pick import format_front
    from autoq.search.scorer import Scorer
    model = prepare(convnet, images(), graph=True)
    fake = SimpleNamespace(space=SimpleNamespace(graph=True), model=model,
                           plan=lambda r: make_plan(model, r))
    plain = Recipe.build({"bits_weights": 8, "bits_activations": 8}, graph=True)
    named = Recipe.build({"bits_weights": 8, "bits_activations": 8}, graph=True,
                         overrides={r".*eltwiseadd_residual": {"bits_activations": 8}})
    assert Scorer.float_in_deploy(fake, plain) == 0
    assert Scorer.float_in_deploy(fake, named) == 2
    from autoq.search.front_point import FrontPoint
    row = FrontPoint(trial=3, fidelity=0.01, metric=0.9, confirm_metric=0.9, size_bytes=1000,
                     size_ratio=0.5, float_in_deploy=2, recipe="recipes/00003.yaml")
    from autoq.search.study_meta import StudyMeta
    meta = StudyMeta(metric_name="accuracy", fp32_metric=0.9, fp32_confirm_metric=0.9, fp32_size_bytes=2000)
    text = format_front(meta, [row])
    assert "[2 op(s) float on deploy]" in text and "no deploy kernel runs them" in text
