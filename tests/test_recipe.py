"""Distiller's override semantics and YAML round trips."""
import pytest
import yaml

from autoq import AutoqError, Recipe

SEED = """\
quantizers:
  post_train_quantizer:
    class: PostTrainLinearQuantizer
    bits_activations: 8
    bits_parameters: 8
    bits_accum: 32
    mode: ASYMMETRIC_SIGNED
    per_channel_wts: true
    clip_acts: AVG
    overrides:
      .*att_rnn.attn.*:
        clip_acts: NONE # Quantize without clipping
      decoder.classifier.classifier:
        clip_acts: NONE # Quantize without clipping
"""


def overrides(mapping):
    return Recipe.build({"bits_weights": 8}, mapping)


def test_seed_recipe_loads_as_written():
    r = Recipe.from_yaml(SEED)
    assert r.settings("decoder.att_rnn.attn.linear_q")["clip_acts"] == "NONE"
    assert r.settings("decoder.classifier.classifier")["clip_acts"] == "NONE"
    assert r.settings("encoder.rnn_layers.0")["clip_acts"] == "AVG"
    assert r.settings("encoder.embedder")["bits_weights"] == 8


def test_round_trip_unchanged(tmp_path):
    r = Recipe.from_yaml(SEED)
    r.save(tmp_path / "r.yaml")
    again = Recipe.load(tmp_path / "r.yaml")
    assert again.to_dict() == r.to_dict() == yaml.safe_load(SEED)
    assert again.to_yaml() == r.to_yaml()


def test_first_match_wins_in_order():
    r = overrides({"fc.*": {"bits_weights": 4}, ".*": {"bits_weights": 2}})
    assert r.settings("fc1")["bits_weights"] == 4
    assert r.settings("conv")["bits_weights"] == 2
    r = overrides({".*": {"bits_weights": 2}, "fc.*": {"bits_weights": 4}})
    assert r.settings("fc1")["bits_weights"] == 2


def test_full_match_only():
    r = overrides({"fc": {"bits_weights": 4}})
    assert r.match("fc") == "fc"
    assert r.match("fc2") is None and r.match("head.fc") is None


def test_exact_name_beats_regex_listed_first():
    r = overrides({"fc.*": {"bits_weights": 4}, "fc1": {"bits_weights": 6}})
    assert r.settings("fc1")["bits_weights"] == 6
    assert r.settings("fc2")["bits_weights"] == 4


def test_module_prefix_stripped_from_names_and_keys():
    r = overrides({"module.encoder.fc": {"bits_weights": 4}})
    assert r.settings("encoder.fc")["bits_weights"] == 4
    assert r.settings("module.encoder.fc")["bits_weights"] == 4


def test_override_of_parent_governs_children():
    r = overrides({"encoder.rnn_layers.0": {"bits_weights": 4}})
    assert r.settings("encoder.rnn_layers.0.cells.0.fc_gate_x")["bits_weights"] == 4
    assert r.settings("encoder.rnn_layers.1.cells.0.fc_gate_x")["bits_weights"] == 8


def test_mode_per_tensor_kind_and_dynamic_block():
    r = Recipe.from_yaml("""
quantizers:
  q:
    mode: {activations: ASYMMETRIC_UNSIGNED, weights: SYMMETRIC}
autoq:
  activations: {'encoder\\.rnn\\.cells\\.1\\..*': static, 'encoder\\..*': dynamic, decoder.att: dynamic}
""")
    assert r.settings("x")["mode"] == {"activations": "ASYMMETRIC_UNSIGNED", "weights": "SYMMETRIC"}
    assert r.is_dynamic("encoder.fc") and r.is_dynamic("encoder.rnn.cells.0.fc_gate_x")
    assert not r.is_dynamic("decoder.fc")
    assert not r.is_dynamic("encoder.rnn.cells.1.fc_gate_h")  # the first matching key wins
    assert r.is_dynamic("decoder.att.cells.0.fc_gate_h")  # a parent's key covers its children
    assert Recipe.from_yaml(r.to_yaml()).to_dict() == r.to_dict()


def test_malformed_yaml_names_the_line():
    with pytest.raises(AutoqError, match="bad.yaml line 4"):
        Recipe.from_yaml("quantizers:\n  q:\n    bits: [1, 2\n  x: 1\n", "bad.yaml")
