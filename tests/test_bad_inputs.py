"""docs/bad_inputs.md rows 46 on, one case each: the command exits 2 with one message
holding the words given, no traceback, and writes no study.

A case is (id, command, files, words). In the command, {tmp} is the test's folder and
{space} the tiny search space; files are written into {tmp} first (text, or bytes).
"""
from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

from autoq.cli import main

TESTS = Path(__file__).parent
DOC = TESTS.parent / "docs" / "bad_inputs.md"
PLUGIN = "plugin_task:make_task"
SEARCH = ["search", "--task", PLUGIN, "--space", "{space}", "--results", "{tmp}/R", "--device", "cpu",
          "--n-trials", "2", "--ladder", "0"]
CHECK = ["check", "--task", PLUGIN, "--recipe"]
INT8 = "quantizers:\n  q:\n    class: PostTrainLinearQuantizer\n    bits_activations: 8\n    bits_parameters: 8\n"
FP32_META = '{"fp32_metric": 0.9, "fp32_confirm_metric": 0.9, "fp32_size_bytes": 1000}'
SPACE = (TESTS / "spaces" / "tiny.yaml").read_text().replace("seeds: [tiny_seed.yaml]\n", "")
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")) + "z: *i\n"
DEEP = "x: " + "[" * 400 + "]" * 400 + "\n"
LATIN1 = "# caf\xe9\nx: 1\n".encode("latin-1")
STATS_OK = {"min": -1.0, "max": 1.0, "avg_min": -0.5, "avg_max": 0.5, "mean": 0.0, "std": 0.3, "b": 0.2}


def stats_yaml(**change) -> str:
    t = {**STATS_OK, **change}
    fields = ", ".join(f"{k}: {v}" for k, v in t.items())
    return f"proj:\n  inputs: {{0: {{{fields}}}}}\n  output: {{{fields}}}\n"


def space(old: str, new: str) -> str:
    assert old in SPACE, old
    return SPACE.replace(old, new)


def stats_case(name, text, words):
    return (name, CHECK + ["int8.yaml", "--stats", "s.yaml"], {"int8.yaml": INT8, "s.yaml": text}, words)


def hf_config(**change) -> str:
    """A checkpoint's config.json alone: enough for every refusal made before weights load."""
    import json
    return json.dumps({"model_type": "bert", "architectures": ["BertForSequenceClassification"],
                       "vocab_size": 64, "hidden_size": 8, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "intermediate_size": 16, **change})


def hf_rows(n: int, label: str | None = None) -> str:
    return "text,label\n" + "".join(f"sentence {i},{label or i % 2}\n" for i in range(n))


def hf_case(name, task_args, files, words):
    argv = ["eval", "--task", "hf-text-classification", "--device", "cpu"]
    files = {"ck/config.json": hf_config(), **files}
    return (name, argv + [a for t in task_args for a in ("--task-arg", t)], files, words)


CASES = [
    # --- the bounded YAML reader, for each kind of file -------------------------------
    ("recipe-alias-bomb", CHECK + ["r.yaml"], {"r.yaml": BOMB}, "aliases are expanded"),
    ("space-alias-bomb", SEARCH[:4] + ["s.yaml"] + SEARCH[5:], {"s.yaml": BOMB}, "aliases are expanded"),
    stats_case("stats-alias-bomb", BOMB, "aliases are expanded"),
    ("recipe-deep", CHECK + ["r.yaml"], {"r.yaml": DEEP}, "levels"),
    ("space-deep", SEARCH[:4] + ["s.yaml"] + SEARCH[5:], {"s.yaml": DEEP}, "levels"),
    stats_case("stats-deep", DEEP, "levels"),
    ("recipe-not-utf8", CHECK + ["r.yaml"], {"r.yaml": LATIN1}, "not UTF-8"),
    ("space-not-utf8", SEARCH[:4] + ["s.yaml"] + SEARCH[5:], {"s.yaml": LATIN1}, "not UTF-8"),
    stats_case("stats-not-utf8", LATIN1, "not UTF-8"),
    ("recipe-key-twice", CHECK + ["r.yaml"], {"r.yaml": INT8 + "quantizers: {}\n"}, "given twice"),
    ("space-key-twice", SEARCH[:4] + ["s.yaml"] + SEARCH[5:], {"s.yaml": SPACE + "defaults: {}\n"},
     "given twice"),
    stats_case("stats-key-twice", stats_yaml() + stats_yaml(), "given twice"),
    ("recipe-dev-zero", CHECK + ["/dev/zero"], {}, "not a regular file"),
    ("space-dev-zero", SEARCH[:4] + ["/dev/zero"] + SEARCH[5:], {}, "not a regular file"),
    stats_case("stats-dev-zero", None, "not a regular file"),
    ("recipe-a-folder", CHECK + ["{tmp}"], {}, "not a regular file"),
    ("space-missing", SEARCH[:4] + ["none.yaml"] + SEARCH[5:], {}, "no such file"),
    # --- search spaces -------------------------------------------------------------
    ("space-defaults-a-list", SEARCH[:4] + ["s.yaml"] + SEARCH[5:],
     {"s.yaml": space("defaults: {bits_weights: 8, bits_activations: 8, mode: ASYMMETRIC_SIGNED}",
                      "defaults: [8]")}, "defaults must be a mapping"),
    ("space-seeds-numbers", SEARCH[:4] + ["s.yaml"] + SEARCH[5:], {"s.yaml": SPACE + "seeds: [5]\n"},
     "seeds must be a list of recipe file names"),
    ("space-seed-file-missing", SEARCH[:4] + ["s.yaml"] + SEARCH[5:],
     {"s.yaml": SPACE + "seeds: [gone.yaml]\n"}, "no such file"),
    ("space-per-layer-a-string", SEARCH[:4] + ["s.yaml"] + SEARCH[5:],
     {"s.yaml": space("per_layer: true", "per_layer: 'no'")}, "per_layer 'no' is not allowed"),
    ("space-choice-twice", SEARCH[:4] + ["s.yaml"] + SEARCH[5:],
     {"s.yaml": space("bits_weights: [2, 4, 8]", "bits_weights: [2, 4, 4, 8]")}, "a choice twice"),
    ("space-choice-a-mapping", SEARCH[:4] + ["s.yaml"] + SEARCH[5:],
     {"s.yaml": space("bits_weights: [2, 4, 8]", "bits_weights: [2, {a: 1}]")}, "is not allowed"),
    ("space-graph-a-string", SEARCH[:4] + ["s.yaml"] + SEARCH[5:], {"s.yaml": SPACE + "graph: 'yes'\n"},
     "graph must be true or false"),
    ("space-no-groups", SEARCH[:4] + ["s.yaml"] + SEARCH[5:], {"s.yaml": "groups: []\n"},
     "non-empty 'groups'"),
    ("space-a-list", SEARCH[:4] + ["s.yaml"] + SEARCH[5:], {"s.yaml": "- modules: rnn\n"},
     "non-empty 'groups'"),
    ("space-group-unknown-key", SEARCH[:4] + ["s.yaml"] + SEARCH[5:],
     {"s.yaml": space("per_layer: true", "per_layer: true\n    bits: [4]")}, "unknown key"),
    ("space-activations-unknown", SEARCH[:4] + ["s.yaml"] + SEARCH[5:],
     {"s.yaml": space("activations: [static, dynamic]", "activations: [sometimes]")},
     "activations = 'sometimes'"),
    ("space-group-without-modules", SEARCH[:4] + ["s.yaml"] + SEARCH[5:],
     {"s.yaml": "groups:\n  - name: a\n    bits_weights: [4]\n"}, "at least 'modules'"),
    ("space-group-names-twice", SEARCH[:4] + ["s.yaml"] + SEARCH[5:],
     {"s.yaml": space("name: heads", "name: rnn")}, "unique"),
    # --- recipes -------------------------------------------------------------------
    ("recipe-autoq-a-list", CHECK + ["r.yaml"], {"r.yaml": INT8 + "autoq: [graph]\n"},
     "autoq block must be a mapping"),
    ("recipe-autoq-unknown-key", CHECK + ["r.yaml"], {"r.yaml": INT8 + "autoq: {fast: true}\n"},
     "allows only"),
    ("recipe-autoq-graph-a-string", CHECK + ["r.yaml"], {"r.yaml": INT8 + "autoq: {graph: 'yes'}\n"},
     "true or false"),
    ("recipe-n-stds-nan", CHECK + ["r.yaml"],
     {"r.yaml": INT8 + "    clip_acts: N_STD\n    clip_n_stds: .nan\n"}, "positive finite"),
    ("recipe-n-stds-inf", CHECK + ["r.yaml"],
     {"r.yaml": INT8 + "    clip_acts: N_STD\n    clip_n_stds: .inf\n"}, "positive finite"),
    ("recipe-n-stds-negative", CHECK + ["r.yaml"],
     {"r.yaml": INT8 + "    clip_acts: N_STD\n    clip_n_stds: -2\n"}, "positive finite"),
    ("recipe-quantizers-null", CHECK + ["r.yaml"], {"r.yaml": "quantizers:\n"}, "quantizers"),
    ("recipe-empty-file", CHECK + ["r.yaml"], {"r.yaml": ""}, "quantizers"),
    ("recipe-quantizer-a-number", CHECK + ["r.yaml"], {"r.yaml": "quantizers: {q: 5}\n"},
     "must be a mapping"),
    # --- statistics files ----------------------------------------------------------
    stats_case("stats-null-entry", "proj:\n", "is not a mapping"),
    stats_case("stats-nan", stats_yaml(min=".nan"), "not finite"),
    stats_case("stats-inf", stats_yaml(max=".inf"), "not finite"),
    stats_case("stats-negative-std", stats_yaml(std=-1), "below 0"),
    stats_case("stats-min-above-max", stats_yaml(min=2.0), "above max"),
    stats_case("stats-a-list", "- 1\n", "expected a mapping of module names"),
    stats_case("stats-no-output", "proj:\n  inputs: {}\n", "output mapping"),
    stats_case("stats-inputs-a-list", stats_yaml().replace("inputs: {0:", "inputs: [{0:").replace(
        "}}\n  output", "}}]\n  output"), "output mapping"),
    stats_case("stats-field-a-bool", stats_yaml(min="true"), "lacks numeric min"),
    # --- study names: a name, never a path -----------------------------------------
    ("study-parent-path", SEARCH + ["--study", "../../x"], {}, "a name, not a path"),
    ("study-absolute-path", SEARCH + ["--study", "/tmp/x"], {}, "a name, not a path"),
    ("study-sub-folder", SEARCH + ["--study", "a/b"], {}, "a name, not a path"),
    ("study-dot", SEARCH + ["--study", "."], {}, "a name, not a path"),
    ("study-empty", SEARCH + ["--study", ""], {}, "a name, not a path"),
    ("study-too-long", SEARCH + ["--study", "x" * 200], {}, "at most 128"),
    ("pareto-study-path", ["pareto", "--study", "../x", "--results", "{tmp}"], {}, "a name, not a path"),
    ("report-study-path", ["report", "--study", "/etc", "--results", "{tmp}"], {}, "a name, not a path"),
    ("sensitivity-study-path", ["sensitivity", "--task", PLUGIN, "--space", "{space}", "--study", "a/b"],
     {}, "a name, not a path"),
    # --- counts and numbers --------------------------------------------------------
    ("workers-1000", SEARCH + ["--workers", "1000"], {}, "allowed: 1 to 64"),
    ("workers-0", SEARCH + ["--workers", "0"], {}, "out of range"),
    ("seed-negative", SEARCH + ["--seed", "-1"], {}, "seed = -1 is not allowed"),
    ("seed-too-large", SEARCH + ["--seed", str(2 ** 40)], {}, "is not allowed (allowed: 0 to 2**32"),
    ("heartbeat-inf", SEARCH + ["--heartbeat", "inf"], {}, "heartbeat = inf s is not allowed"),
    ("heartbeat-1e30", SEARCH + ["--heartbeat", "1e30"], {}, "1 to 3600 s"),
    ("heartbeat-0", SEARCH + ["--heartbeat", "0"], {}, "1 to 3600 s"),
    ("ladder-negative", SEARCH + ["--ladder", "-3"], {}, "out of range"),
    ("n-trials-0", SEARCH[:-4] + ["--n-trials", "0"], {}, "out of range"),
    ("front-size-1", SEARCH + ["--front-size", "1"], {}, "2 or more"),
    ("local-above-1", SEARCH + ["--local", "2"], {}, "out of range"),
    ("min-agreement-above-1", SEARCH + ["--min-agreement", "2", "--objective", "metric"], {},
     "out of range"),
    ("max-drop-negative", SEARCH + ["--max-drop", "-1"], {}, "out of range"),
    ("refine-negative", SEARCH + ["--refine", "-1"], {}, "out of range"),
    ("timeout-negative", SEARCH + ["--timeout=-5m"], {}, "not a duration"),
    ("objective-unknown", SEARCH + ["--objective", "speed"], {}, "invalid choice"),
    ("sampler-unknown", SEARCH + ["--sampler", "grid"], {}, "invalid choice"),
    ("fidelity-fraction-with-fidelity-objective", SEARCH + ["--fidelity", "0.5"], {},
     "applies to --objective metric"),
    ("pool-with-metric-objective", SEARCH + ["--objective", "metric", "--pool", "p.txt"],
     {"p.txt": "x\n"}, "--pool feeds the fidelity objective"),
    ("pool-for-a-task-without-a-reader", SEARCH + ["--pool", "p.txt"], {"p.txt": "x\n"},
     "reads no pool file"),
    # --- storage and results folders -----------------------------------------------
    ("storage-in-memory", SEARCH + ["--storage", "sqlite:///:memory:"], {}, "is in memory"),
    ("storage-bare-sqlite", SEARCH + ["--storage", "sqlite://"], {}, "not an RDB URL"),
    ("storage-password-masked", SEARCH + ["--storage", "postgresql://u:secretpw@127.0.0.1:1/db"], {},
     "u:***@127.0.0.1"),
    ("results-a-file", SEARCH[:6] + ["f.txt"] + SEARCH[7:], {"f.txt": "x"}, "is a file, not a folder"),
    # --- a task's own code ---------------------------------------------------------
    ("task-factory-raises", ["eval", "--task", "bad_tasks:raising_factory", "--device", "cpu"], {},
     "its factory raised RuntimeError"),
    ("task-module-raises-on-import", ["eval", "--task", "bad_tasks_import:make", "--device", "cpu"],
     {"bad_tasks_import.py": "raise RuntimeError('broken module')\n"}, "cannot import module"),
    ("task-factory-returns-no-task", ["eval", "--task", "bad_tasks:not_a_task", "--device", "cpu"], {},
     "not an autoq.tasks.Task"),
    ("evaluate-returns-a-float", ["eval", "--task", "bad_tasks:float_eval", "--device", "cpu"], {},
     "returned float"),
    ("evaluate-raises", ["eval", "--task", "bad_tasks:raising_eval", "--device", "cpu"], {},
     "raised ValueError: evaluate broke"),
    ("fp32-scores-nan-eval", ["eval", "--task", "bad_tasks:nan_fp32", "--device", "cpu"], {},
     "FP32 scores nan"),
    ("fp32-scores-nan-search", ["search", "--task", "bad_tasks:nan_fp32"] + SEARCH[3:], {},
     "the metric is nan"),
    ("search-evaluate-returns-a-float", ["search", "--task", "bad_tasks:float_eval"] + SEARCH[3:]
     + ["--objective", "metric"], {}, "returned float"),
    ("no-calibration-batches", ["search", "--task", "bad_tasks:no_calibration"] + SEARCH[3:], {},
     "calibration_batches() gave no batches"),
    ("foreign-optuna-study", SEARCH + ["--study", "other"], {"R/other/.foreign": ""},
     "not made by autoq search"),
    # --- study folders ---------------------------------------------------------------
    ("pareto-malformed-json", ["pareto", "--study", "s", "--results", "{tmp}"],
     {"s/search.json": "{}", "s/pareto.json": "{not json"}, "not valid JSON"),
    ("pareto-confident-without-max-drop", ["pareto", "--study", "s", "--results", "{tmp}", "--confident"],
     {"s/search.json": "{}", "s/pareto.json": "[]"}, "give --max-drop"),
    ("pareto-study-a-file", ["pareto", "--study", "s", "--results", "{tmp}"], {"s": "{}"}, "is a file"),
    ("pareto-search-json-a-list", ["pareto", "--study", "s", "--results", "{tmp}"],
     {"s/search.json": "[]", "s/pareto.json": "[]"}, "search.json"),
    ("pareto-row-lacks-fields", ["pareto", "--study", "s", "--results", "{tmp}"],
     {"s/search.json": FP32_META, "s/pareto.json": '[{"trial": 1, "metric": 0.9}]'},
     "a pareto.json row lacks recipe, size_bytes, size_ratio"),
    ("pareto-search-json-lacks-fp32", ["pareto", "--study", "s", "--results", "{tmp}"],
     {"s/search.json": '{"fp32_metric": 0.9}', "s/pareto.json": "[]"},
     "search.json lacks fp32_confirm_metric, fp32_size_bytes"),
    ("report-not-a-study", ["report", "--study", "none", "--results", "{tmp}"], {}, "does not exist"),
    # --- deploy ----------------------------------------------------------------------
    ("deploy-threads-0", ["deploy", "--task", PLUGIN, "--recipe", "int8.yaml", "--out", "{tmp}/d",
                          "--threads", "0"], {"int8.yaml": INT8}, "--threads '0'"),
    ("deploy-threads-words", ["deploy", "--task", PLUGIN, "--recipe", "int8.yaml", "--out", "{tmp}/d",
                              "--threads", "two"], {"int8.yaml": INT8}, "--threads 'two'"),
    ("deploy-backend-unknown", ["deploy", "--task", PLUGIN, "--recipe", "int8.yaml", "--out", "{tmp}/d",
                                "--backends", "tensorrt"], {"int8.yaml": INT8}, "unknown ['tensorrt']"),
    ("deploy-repeats-0", ["deploy", "--task", PLUGIN, "--recipe", "int8.yaml", "--out", "{tmp}/d",
                          "--repeats", "0"], {"int8.yaml": INT8}, "out of range"),
    ("size-recipe-missing", ["size", "--task", PLUGIN, "--recipe", "none.yaml"], {}, "no such file"),
    # --- --task-arg, and the hf-text-classification task's checkpoint and data -------
    ("task-arg-unknown", ["eval", "--task", PLUGIN, "--task-arg", "bogus=1"], {},
     "takes no argument 'bogus' (it takes no arguments)"),
    ("task-arg-malformed", ["eval", "--task", "plugin_task:ChanceTask", "--task-arg", "level"], {},
     "--task-arg 'level' is not KEY=VALUE (its arguments: level)"),
    ("task-arg-missing", ["eval", "--task", "plugin_task:ChanceTask"], {},
     "needs --task-arg level=... (its arguments: level)"),
    ("task-arg-twice", ["eval", "--task", "plugin_task:ChanceTask", "--task-arg", "level=1",
                        "--task-arg", "level=2"], {}, "--task-arg level given twice"),
    hf_case("hf-no-model", [], {}, "needs model=DIR"),
    hf_case("hf-not-a-checkpoint", ["model={tmp}", "data=d.csv"], {"d.csv": hf_rows(60)},
            "is not a Hugging Face checkpoint folder"),
    hf_case("hf-not-sequence-classification", ["model=base", "data=d.csv"],
            {"base/config.json": hf_config(architectures=["BertModel"]), "d.csv": hf_rows(60)},
            "not a sequence-classification model"),
    hf_case("hf-neither-data-nor-splits", ["model=ck"], {}, "give data=FILE"),
    hf_case("hf-not-csv-or-tsv", ["model=ck", "data=d.txt"], {"d.txt": hf_rows(60)}, "not a .csv or .tsv file"),
    hf_case("hf-missing-column", ["model=ck", "data=d.csv", "text=sentence"], {"d.csv": hf_rows(60)},
            "no column 'sentence' (text=); its columns: 'text', 'label'"),
    hf_case("hf-empty-label", ["model=ck", "data=d.csv"], {"d.csv": hf_rows(60).replace(",1\n", ",\n", 1)},
            "line 3: no label in column 'label'"),
    hf_case("hf-label-not-a-class", ["model=ck", "data=d.csv"], {"d.csv": hf_rows(60, "maybe")},
            "label 'maybe' is not a class of the checkpoint (allowed: the checkpoint's config.label2id "
            "names LABEL_0, LABEL_1, or a class number 0 to 1)"),
    hf_case("hf-f1-on-three-classes", ["model=three", "data=d.csv", "metric=f1"],
            {"three/config.json": hf_config(id2label={"0": "a", "1": "b", "2": "c"}), "d.csv": hf_rows(60)},
            "for two classes only"),
    hf_case("hf-metric-unknown", ["model=ck", "data=d.csv", "metric=bleu"], {"d.csv": hf_rows(60)},
            "metric='bleu' is not allowed (allowed: accuracy, f1)"),
    hf_case("hf-too-few-rows", ["model=ck", "data=d.csv"], {"d.csv": hf_rows(40)},
            "40 row(s), too few for search_size=0.4"),
    hf_case("hf-pool-shares-judged-texts", ["model=ck", "data=d.csv", "pool=p.csv", "search_size=10",
                                            "confirm_size=10"], {"d.csv": hf_rows(40), "p.csv": hf_rows(40)},
            "also in the splits the front is judged on"),
]


BAD_TASKS = '''
import sys
sys.path.insert(0, {tests!r})
from plugin_task import ClosenessTask
from autoq.tasks import Score


def raising_factory():
    raise RuntimeError("factory broke")


def not_a_task():
    return 42


class FloatEval(ClosenessTask):
    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu"):
        return 0.5


class RaisingEval(ClosenessTask):
    def evaluate(self, *args, **kwargs):
        raise ValueError("evaluate broke")


class NanFP32(ClosenessTask):
    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu"):
        s = super().evaluate(model, split, fraction, device)
        return Score(float("nan"), s.metric_name, s.signature, s.n)


class NoCalibration(ClosenessTask):
    def calibration_batches(self):
        return []


def float_eval(): return FloatEval()
def raising_eval(): return RaisingEval()
def nan_fp32(): return NanFP32()
def no_calibration(): return NoCalibration()
'''


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "bad_tasks.py").write_text(BAD_TASKS.format(tests=str(TESTS)))
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_refused(case, folder, capsys):
    _, argv, files, words = case
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".foreign"):  # an Optuna study of another program, in the study's storage
            optuna.create_study(study_name="other", storage=f"sqlite:///{path.parent / 'study.db'}") \
                .add_trial(optuna.trial.create_trial(value=1.0))
        elif content is None:
            continue
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if "s.yaml" in files and files["s.yaml"] is None:
        argv = [a.replace("s.yaml", "/dev/zero") for a in argv]
    argv = [a.replace("{tmp}", str(folder)).replace("{space}", str(TESTS / "spaces" / "tiny.yaml"))
            for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err and "Traceback" not in err, err
    assert "secretpw" not in err
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1, err  # one message


def test_every_row_of_the_catalogue_is_a_case_and_every_case_a_row():
    text = DOC.read_text()
    rows = re.findall(r"^\| (\d+) \|", text, flags=re.M)
    assert [int(r) for r in rows] == list(range(1, len(rows) + 1))  # numbered in order
    named = set(re.findall(r"test_bad_inputs\.py::test_refused\[([\w-]+)\]", text))
    assert named == {c[0] for c in CASES}
    assert len(rows) >= 140
