"""Every bad input fails before anything is applied, with one clear message and exit 2."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from autoq import AutoqError, Recipe, collect_stats, quantize
from autoq.cli import main

TESTS = Path(__file__).parent
PLUGIN = "plugin_task:make_task"


def recipe_yaml(body: str) -> str:
    return "quantizers:\n  q:\n    class: PostTrainLinearQuantizer\n" + body


BAD_RECIPES = [
    # (recipe body, words the message must hold)
    ("    overrides:\n      proj: {bits_weights: 9}\n", ["'proj'", "bits_weights = 9", "2..8"]),
    ("    bits_activations: 1\n", ["bits_activations = 1", "global settings", "2..8"]),
    ("    bits_parameters: 0\n", ["bits_parameters = 0", "global settings", "2..8"]),
    ("    overrides:\n      classifier: {bits_weights: eight}\n", ["bits_weights = 'eight'", "allowed"]),
    ("    mode: SYMETRIC\n", ["mode = 'SYMETRIC'", "ASYMMETRIC_SIGNED"]),
    ("    overrides:\n      proj: {mode: {weights: FOO}}\n", ["'proj'", "mode = 'FOO'", "SYMMETRIC"]),
    ("    clip_acts: MEDIAN\n", ["clip_acts = 'MEDIAN'", "LAPLACE"]),
    ("    overrides:\n      proj: {clip_acts: N_STD}\n", ["'proj'", "N_STD needs clip_n_stds"]),
    ("    overrides:\n      add: {per_channel_wts: true}\n", ["'add'", "per_channel_wts", "Linear"]),
    ("    overrides:\n      decoder.fc: {bits_weights: 4}\n", ["'decoder.fc'", "matches no module", "closest"]),
    ("    overrides:\n      proj: {bits_weight: 4}\n", ["'proj'", "bits_weight", "bits_weights"]),
    ("    bits_accum: 16\n", ["bits_accum = 16", "allowed: 32"]),
    ("    overrides:\n      'rnn.[': {bits_weights: 4}\n", ["'rnn.['", "regular expression"]),
    ("    bits_parametres: 4\n", ["bits_parametres", "bits_parameters"]),
    ("    per_channel_wts: yes please\n", ["per_channel_wts", "true, false"]),
]


@pytest.mark.parametrize("body,words", BAD_RECIPES)
def test_bad_recipe_is_refused_before_applying(body, words, tiny, tiny_batches):
    stats = collect_stats(tiny, tiny_batches)
    with pytest.raises(AutoqError) as e:
        quantize(tiny, Recipe.from_yaml(recipe_yaml(body)), stats)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_wrong_quantizer_class():
    with pytest.raises(AutoqError, match="QuantAwareTrainRangeLinearQuantizer.*allowed: PostTrainLinearQuantizer"):
        Recipe.from_yaml("quantizers:\n  q:\n    class: QuantAwareTrainRangeLinearQuantizer\n")


def test_regex_matching_nothing_lists_closest_names(tiny):
    with pytest.raises(AutoqError) as e:
        quantize(tiny, Recipe.build({}, {"clasifier": {"bits_weights": 4}}), None)
    assert str(e.value).split("closest module names: ")[1].startswith("classifier")


def test_statistics_of_another_model(tiny, tiny_batches):
    other = nn.Sequential(nn.Linear(3, 3))
    stats = collect_stats(other, [torch.randn(2, 3)])
    with pytest.raises(AutoqError, match="made for another model"):
        quantize(tiny, Recipe.build({}), stats)


def test_static_activations_without_statistics(tiny):
    with pytest.raises(AutoqError, match="needs calibration statistics"):
        quantize(tiny, Recipe.build({}), None)


@pytest.fixture
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))


def run_cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("text,words", [
    ("quantizers:\n  q:\n    mode: [SYMMETRIC\n", ["line"]),
    ("quantizers: 3\n", ["'quantizers:' mapping"]),
    ("just text\n", ["'quantizers:' mapping"]),
    ("quantizers:\n  a: {}\n  b: {}\n", ["exactly one quantizer"]),
    ("quantizers:\n  q: {}\npolicies: []\n", ["unknown top-level", "policies"]),
])
def test_cli_bad_recipe_file(tmp_path, capsys, plugin_path, text, words):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    code, out, err = run_cli(["check", "--task", PLUGIN, "--recipe", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("autoq: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for w in words:
        assert w in err


def test_cli_missing_files_and_bad_tasks(tmp_path, capsys, plugin_path):
    good = tmp_path / "good.yaml"
    good.write_text(recipe_yaml("    bits_parameters: 8\n"))
    cases = [
        (["check", "--task", PLUGIN, "--recipe", str(tmp_path / "none.yaml")], "cannot read"),
        (["check", "--task", "nosuchtask", "--recipe", str(good)], "neither a built-in task"),
        (["search", "--task", "gnmt", "--results", str(tmp_path / "r")], "neither a built-in task"),
        (["sensitivity", "--task", "gnmt"], "neither a built-in task"),
        (["check", "--task", "nosuchmodule:make", "--recipe", str(good)], "cannot import"),
        (["check", "--task", "plugin_task:nothing", "--recipe", str(good)], "no attribute 'nothing'"),
        (["check", "--task", "plugin_task:ClosenessTask.evaluate", "--recipe", str(good)], "no attribute"),
        (["size", "--task", PLUGIN, "--stats", str(tmp_path / "none.yaml")], "cannot read"),
    ]
    for argv, words in cases:
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and words in err and "Traceback" not in err, (argv, err)


def test_cli_stats_of_another_model(tmp_path, capsys, plugin_path):
    stats = tmp_path / "s.yaml"
    stats.write_text("fc:\n  inputs: {0: {min: 0, max: 1, avg_min: 0, avg_max: 1, mean: 0, std: 1, b: 1}}\n"
                     "  output: {min: 0, max: 1, avg_min: 0, avg_max: 1, mean: 0, std: 1, b: 1}\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(recipe_yaml("    bits_activations: 8\n"))
    code, _, err = run_cli(["check", "--task", PLUGIN, "--recipe", str(recipe), "--stats", str(stats)], capsys)
    assert code == 2 and "another model" in err


@pytest.mark.parametrize("argv,words", [
    (["eval", "--task", PLUGIN, "--fraction", "2"], "out of range"),
    (["eval", "--task", PLUGIN, "--fraction", "half"], "not a number"),
    (["eval", "--task", PLUGIN, "--device", "tpu"], "not a device"),
    (["eval", "--task", PLUGIN, "--split", "train"], "invalid choice"),
])
def test_cli_bad_arguments_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and words in capsys.readouterr().err


def test_cli_process_prints_no_traceback(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(recipe_yaml("    bits_parameters: 12\n"))
    env = dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "autoq", "check", "--task", PLUGIN, "--recipe", str(recipe)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "autoq: error: recipe global settings: bits_parameters = 12 "
        "is not allowed (allowed: 2..8, 16 (fp16) or null (float))"]


def test_cli_good_recipe_and_eval(tmp_path, capsys, plugin_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(recipe_yaml("    per_channel_wts: true\n"))
    code, out, _ = run_cli(["check", "--task", PLUGIN, "--recipe", str(recipe)], capsys)
    assert code == 0 and out.startswith("ok:")
    code, out, _ = run_cli(["eval", "--task", PLUGIN, "--recipe", str(recipe), "--device", "cpu"], capsys)
    row = json.loads(out)
    assert code == 0 and set(row) == {"task", "metric_name", "metric", "size_bytes", "fp32_size_bytes",
                                      "eval_s", "signature"}
    assert 0.9 < row["metric"] <= 1 and row["size_bytes"] < row["fp32_size_bytes"] / 3


def _snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_bad_input_leaves_a_study_untouched(tmp_path, capsys, plugin_path):
    from autoq.search import SearchConfig, run_search
    space = str(TESTS / "spaces" / "tiny.yaml")
    run_search(SearchConfig(task=PLUGIN, space=space, study="kept", results=tmp_path, n_trials=5,
                            progress=False, device="cpu"))
    before = _snapshot(tmp_path / "kept")
    bad_space = tmp_path / "bad_space.yaml"
    bad_space.write_text("groups:\n  - modules: rnn\n    bits_weights: [4, 9]\n")
    base = ["search", "--task", PLUGIN, "--study", "kept", "--results", str(tmp_path), "--n-trials", "9"]
    cases = [
        (base + ["--space", str(bad_space)], "bits_weights = 9"),
        (base + ["--space", space, "--storage", "mongodb://localhost/x"], "not an RDB URL"),
        (base + ["--space", space, "--storage", "postgresql://autoq@127.0.0.1:1/none"], "cannot be opened"),
        (base + ["--space", space, "--timeout", "tomorrow"], "not a duration"),
        (["pareto", "--study", "missing", "--results", str(tmp_path)], "no search.json"),
        (["pareto", "--study", "kept", "--results", str(tmp_path), "--max-drop", "0"], None),
    ]
    for argv, words in cases:
        code, _, err = run_cli(argv, capsys)
        if words is None:
            continue
        assert code == 2 and words in err and "Traceback" not in err, (argv, err)
    after = _snapshot(tmp_path / "kept")
    after.pop(tmp_path / "kept" / "picked.yaml", None)
    assert after.keys() == before.keys()
    assert all(after[p] == before[p] for p in before if p.name != "study.db")
