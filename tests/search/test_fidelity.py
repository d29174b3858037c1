"""The fidelity objective: its reference, the budget sweep, pools, and a fidelity study
end to end on the tiny task (front, resume, refusals)."""
import itertools
import random
import sys
from pathlib import Path

import optuna
import pytest
import torch

from autoq import AutoqError
from autoq.cli import main
from autoq.evaluate import prepare_task, task_stats
from autoq.fidelity import Reference
from autoq import quantize
from autoq.recipe import Recipe
from autoq.search import SearchConfig, Searcher, run_search
from autoq.search.run import local_search
from autoq.search.allocate import Option, best_within, frontier, sweep
from autoq.search.pick import load_front, pick
from autoq.tasks import get_task

TESTS = Path(__file__).resolve().parents[1]  # tests/
sys.path.insert(0, str(TESTS))
SPACE = str(TESTS / "spaces" / "tiny.yaml")


def config(tmp_path, **kw):
    base = dict(task="plugin_task:make_task", space=SPACE, study="fid", results=tmp_path,
                n_trials=14, progress=False, device="cpu", objective="fidelity", fidelity=1.0)
    return SearchConfig(**{**base, **kw})


def test_fp32_is_zero_from_itself_and_a_recipe_is_not():
    task = get_task("plugin_task:make_task")
    ref = Reference(task)
    assert ref.measure(task.build_model()).value == 0.0
    model = prepare_task(task)
    q = quantize(model, Recipe.build({"bits_weights": 4, "bits_activations": 8}), task_stats(task, model))
    f = ref.measure(q)
    assert f.value > 0 and f.n == len(f.examples) and "/" not in f.signature
    half = ref.measure(q, 0.5)
    assert half.n < f.n and "/2" in half.signature
    other = Reference(task, batches=task.calibration_batches()[:1], pool_key="probe")  # other inputs
    assert other.measure(task.build_model()).value == 0.0 and other.key == "probe|batches=1"
    assert other.measure(q).n == len(task.calibration_batches()[0][0]) != f.n
    with pytest.raises(AutoqError, match="together"):
        Reference(task, batches=task.calibration_batches())


def test_a_task_s_own_distance_must_be_named():
    from plugin_task import ClosenessTask

    class Flips(ClosenessTask):
        def distance(self, ref, other, mask):
            return (ref.argmax(-1) != other.argmax(-1)).float()

    with pytest.raises(AutoqError, match="own distance.*set distance_name"):
        Reference(Flips())
    Flips.distance_name = "top1-disagreement"
    task = Flips()
    model = prepare_task(task)
    q = quantize(model, Recipe.build({"bits_weights": 2, "bits_activations": 4}), task_stats(task, model))
    f = Reference(task).measure(q)
    assert f.signature.startswith("top1-disagreement|") and set(f.examples) <= {0.0, 1.0}


def test_allocation_is_optimal_on_a_hand_made_table():
    """Greedy by cost per byte misses the optimum here; the frontier must not."""
    units = {"a": [Option(8, 80, 0.0), Option(4, 40, 1.0), Option(2, 20, 9.0)],
             "b": [Option(8, 60, 0.0), Option(4, 30, 2.5), Option(2, 15, 2.6)],
             "c": [Option(8, 50, 0.0), Option(6, 38, 0.1), Option(3, 19, 4.0)]}
    front = frontier(units)
    combos = list(itertools.product(*units.values()))
    for budget in range(54, 191):
        fits = [sum(o.cost for o in c) for c in combos if sum(o.bytes for o in c) <= budget]
        got = best_within(front, budget)
        assert (got is None) == (not fits)
        if fits:
            assert got.cost == pytest.approx(min(fits))
            assert sum(units[u][[o.bits for o in units[u]].index(b)].bytes for u, b in got.bits.items()) == got.bytes
    picks = sweep(front, 4)
    assert picks[0].bytes == front[0].bytes and picks[-1].bytes == front[-1].bytes
    rng = random.Random(1)  # and on random tables against brute force
    for _ in range(20):
        units = {u: [Option(b, rng.randint(1, 40) * b, rng.random() * (8 - b)) for b in (2, 4, 8)] for u in "abcd"}
        front = frontier(units)
        combos = list(itertools.product(*units.values()))
        budget = rng.randint(min(sum(o.bytes for o in c) for c in combos), 700)
        best = min(sum(o.cost for o in c) for c in combos if sum(o.bytes for o in c) <= budget)
        assert best_within(front, budget).cost == pytest.approx(best)


def test_builtin_pools_are_disjoint_from_the_judged_splits():
    gnmt = get_task("gnmt-multi30k")
    batches = gnmt.pool_batches()
    assert sum(len(b[0]) for b in batches) == gnmt.pool_size
    en = gnmt._pool[0]
    assert not set(en) & gnmt.judged_sources() and len(set(en)) > 0.9 * len(en)
    calib = {gnmt.tokenizer.decode([i for i in row.tolist() if i > 3]) for b in gnmt.calibration_batches() for row in b[0]}
    assert len(calib & set(en)) < 5  # calibration pairs are left out (decoding may merge a few)


def test_a_pool_file_overlapping_a_judged_split_is_refused(tmp_path, capsys):
    from autoq.tasks.gnmt.corpus import read_lines
    val = read_lines("val", "en")
    path = tmp_path / "pool.txt"
    path.write_text("\n".join(read_lines("train", "en")[:100] + val[:3]) + "\n")
    with pytest.raises(AutoqError, match="3 sentence.*judged"):
        get_task("gnmt-multi30k").pool_from_file(path)
    bad = {"empty.txt": "", "few.txt": "A dog runs.\n" * 5, "fields.txt": "a\tb\tc\n" * 40}
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        assert main(["search", "--task", "gnmt-multi30k", "--pool", str(tmp_path / name),
                     "--results", str(tmp_path), "--n-trials", "1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("autoq: error: pool file") and "Traceback" not in err
    assert not (tmp_path / "gnmt-multi30k").exists() or not any((tmp_path / "gnmt-multi30k").glob("*.db"))


def test_a_pool_file_is_read_and_teacher_forced_on_fp32_translations(tmp_path):
    from autoq.tasks.gnmt.corpus import read_lines
    task = get_task("gnmt-multi30k", pool_batch_size=16)
    path = tmp_path / "pool.txt"
    path.write_text("\ufeff" + "\r\n".join(read_lines("train", "en")[-40:]) + "\r\n")
    task.pool_from_file(path)
    assert task.pool_name.startswith("file:pool.txt|n=40") and task._pool[1] is None
    batches = task.pool_batches()
    assert sum(len(b[0]) for b in batches) == 40 and len(batches) >= 4
    assert Reference(task).measure(task.build_model(), 0.5).value == 0.0


def test_gnmt_chrf_measure_is_zero_for_fp32_signed_and_named(tmp_path, capsys):
    task = get_task("gnmt-multi30k", pool_measure="chrf", pool_size=96, pool_batch_size=32)
    ref = Reference(task)
    fp32 = ref.measure(task.build_model())
    assert fp32.value == 0.0 and fp32.signature.startswith("chrf-drop-greedy|") and fp32.n == 96
    model = prepare_task(task)
    for bits in (8, 3):  # 3-bit weights lose many chrF points; int8 few, and may gain some
        f = ref.measure(quantize(model, Recipe.build({"bits_weights": bits, "bits_activations": None}),
                                 task_stats(task, model)))
        assert f.value != 0.0 and (bits == 8 or f.value > 5)
    assert all(len(b[0]) == 32 for b in task.pool_batches())
    lengths = [int(n) for b in task.pool_batches() for n in b[1]]
    assert lengths == sorted(lengths)  # decoded in batches of like sources, as a split is
    with pytest.raises(AutoqError, match="pool_measure 'bleu' is not known.*kl, chrf"):
        get_task("gnmt-multi30k", pool_measure="bleu")
    assert main(["search", "--task", "gnmt-multi30k", "--task-arg", "pool_measure=x", "--n-trials", "1",
                 "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pool_measure 'x' is not known" in err and "Traceback" not in err and not any(tmp_path.iterdir())


def test_gnmt_kl_measure_is_teacher_forced_and_never_below_zero():
    task = get_task("gnmt-multi30k", pool_measure="kl", pool_size=96, pool_batch_size=32)
    ref = Reference(task)
    assert ref.measure(task.build_model()).value == 0.0
    model = prepare_task(task)
    f = ref.measure(quantize(model, Recipe.build({"bits_weights": 4, "bits_activations": None}),
                             task_stats(task, model)))
    assert f.signature.startswith("kl-next-token|") and f.value > 0 and (f.examples >= 0).all()
    targets = [int((b[3] != 0).sum(1).max()) for b in task.pool_batches()]
    assert targets == sorted(targets)  # teacher-forced in batches of like targets: little padding


def measured_task(measure: str = "kl"):
    from plugin_task import ClosenessTask

    class Measured(ClosenessTask):
        distance_name = f"{measure}-test"

        def distance(self, ref, other, mask):
            d = super().distance(ref, other, mask)
            return d if measure == "kl" else d.sqrt()
    return Measured()


def signed_task():
    """A task whose measure, like a translator's chrF drop, scores a recipe that moves the
    model a little below FP32's 0 (better), and one that moves it far above."""
    from plugin_task import ClosenessTask

    class Signed(ClosenessTask):
        distance_name = "signed-kl"

        def distance(self, ref, other, mask):
            kl = super().distance(ref, other, mask)
            return kl - 0.1 * kl.sqrt()
    return Signed()


def test_fp32_heads_the_front_when_a_signed_measure_puts_recipes_below_it(tmp_path):
    cfg = config(tmp_path, task="test_fidelity:signed_task", n_trials=8, front_size=4, max_drop=0.5)
    run_search(cfg)
    meta, rows = load_front(cfg.out)
    assert meta.distance == "signed-kl" and rows[-1].seed == "fp32" and rows[-1].fidelity == 0
    assert min(r.fidelity for r in rows) < 0 and len(rows) <= 4
    assert pick(meta, rows, 0.0, confident=True).size_bytes <= meta.fp32_size_bytes


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    cfg = config(tmp_path_factory.mktemp("results"))
    run_search(cfg)
    return cfg


def test_every_front_point_carries_both_splits_and_its_fidelity(study):
    meta, rows = load_front(study.out)
    assert meta.objective == "fidelity" and 2 <= len(rows) <= study.front_size + 1
    storage = optuna.load_study(study_name="fid", storage=f"sqlite:///{study.out / 'study.db'}")
    assert storage.directions[0] == optuna.study.StudyDirection.MINIMIZE
    for r in rows:
        assert r.metric is not None and r.confirm_metric is not None
        assert r.confirm_delta_low <= r.confirm_delta_high
        assert r.fidelity == pytest.approx(storage.trials[r.trial].values[0], abs=1e-8)
        assert (study.out / r.recipe).is_file()
    assert any(r.seed == "fp32" and r.fidelity == 0 for r in rows)
    assert any(str(t.user_attrs.get("seed", "")).startswith("sweep-") for t in storage.trials)
    chosen = pick(meta, rows, 0.05)
    assert meta.fp32_confirm_metric - chosen.confirm_metric <= 0.05
    assert meta.fp32_metric - chosen.metric <= 0.05


def test_a_fidelity_study_resumes_and_refuses_another_objective(study, capsys):
    run_search(config(study.results, n_trials=18))
    storage = optuna.load_study(study_name="fid", storage=f"sqlite:///{study.out / 'study.db'}")
    done = [t for t in storage.trials if t.state.is_finished() and "same_as" not in t.user_attrs]
    assert len(done) == 18
    assert sum(str(t.user_attrs.get("seed", "")) == "fp32" for t in storage.trials) == 1
    with pytest.raises(AutoqError, match="--objective fidelity"):
        run_search(config(study.results, n_trials=20, objective="metric", fidelity=0.25))



def make_pool_task():
    from plugin_task import ClosenessTask

    class WithPool(ClosenessTask):
        def pool_batches(self):
            g = torch.Generator().manual_seed(7)
            return [(torch.randint(0, 50, (8, 7), generator=g),) for _ in range(6)]
    return WithPool()


def test_a_plugin_task_with_its_own_pool(tmp_path):
    cfg = config(tmp_path, task="test_fidelity:make_pool_task", n_trials=10)
    run_search(cfg)
    meta, rows = load_front(cfg.out)
    assert meta.pool == "pool_batches|batches=6" and rows  # its own pool, named so
    plain = config(tmp_path, study="plain", n_trials=10)
    run_search(plain)
    assert load_front(plain.out)[0].pool == "calibration|batches=2"


def test_pool_and_min_agreement_refused_where_they_do_not_apply(tmp_path, capsys):
    base = ["search", "--task", "plugin_task:make_task", "--space", SPACE, "--results", str(tmp_path)]
    assert main(base + ["--pool", str(SPACE)]) == 2
    assert "reads no pool file" in capsys.readouterr().err
    assert main(base + ["--objective", "metric", "--pool", str(SPACE)]) == 2
    assert "--pool feeds the fidelity objective" in capsys.readouterr().err
    assert main(base + ["--fidelity", "0.25"]) == 2
    assert "applies to --objective metric" in capsys.readouterr().err


def test_a_metric_that_breaks_on_the_front_does_not_end_the_study(tmp_path):
    cfg = config(tmp_path, task="plugin_task:nan_task", n_trials=10)
    run_search(cfg)  # fidelity trials run; the NaN metric is met only where it decides
    meta, rows = load_front(cfg.out)
    study = optuna.load_study(study_name="fid", storage=f"sqlite:///{cfg.out / 'study.db'}")
    broken = [k for k in study.user_attrs if k.startswith("metric_error:")]
    assert broken and all("nan" in study.user_attrs[k] for k in broken)
    assert all(r.metric is not None for r in rows) and rows[-1].seed == "fp32"


def test_a_resume_with_other_settings_is_refused_and_writes_nothing(study, capsys):
    before = {p: p.read_bytes() for p in study.out.glob("*.json")}
    args = ["search", "--task", "plugin_task:make_task", "--space", SPACE, "--study", "fid",
            "--results", str(study.results), "--n-trials", "40"]
    for extra, word in ((["--max-drop", "0.5"], "max_drop"), (["--sampler", "random"], "sampler"),
                        (["--task", "test_fidelity:measured_task", "--task-arg", "measure=sqrt"], "distance"),
                        (["--task", "plugin_task:seeded_task", "--task-arg", "data_seed=1"], "search split")):
        assert main(args + extra) == 2
        err = capsys.readouterr().err
        assert f"was made with {word}" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in study.out.glob("*.json")} == before


def test_a_study_made_before_the_split_signatures_says_so_and_records_them(tmp_path, capsys):
    cfg = config(tmp_path, n_trials=6)
    run_search(cfg)
    study = optuna.load_study(study_name="fid", storage=f"sqlite:///{cfg.out / 'study.db'}")
    made = study.user_attrs["settings"]
    study.set_user_attr("settings", {k: v for k, v in made.items() if not k.endswith("split")})
    run_search(config(tmp_path, n_trials=7))  # an earlier autoq's study: resumed, with a warning
    assert "cannot be checked against them" in capsys.readouterr().err
    assert optuna.load_study(study_name="fid", storage=study._storage).user_attrs["settings"] == made
    with pytest.raises(AutoqError, match="was made with search split"):  # checked from now on
        run_search(config(tmp_path, n_trials=8, task="plugin_task:seeded_task data_seed=1"))


def test_the_mrpc_pool_is_unlabelled_fine_tuning_pairs_and_a_pair_file_is_checked(tmp_path):
    from autoq.tasks.minilm.data import HEADER, read_tsv
    from autoq.tasks.minilm.model import pretrained_dir
    from autoq.tasks.minilm.task import MiniLMMRPC
    task = MiniLMMRPC(model_dir=pretrained_dir(), pool_size=256)
    batches = task.pool_batches()
    assert sum(len(b["input_ids"]) for b in batches) == 256
    pairs = {(p.a, p.b) for p in task._pool}
    assert not pairs & task._judged()
    calib = {task._splits["finetune"][i] for i in task._calibration_picks()}
    assert not {(p.a, p.b) for p in calib} & pairs
    dev = read_tsv("dev.tsv")  # an MRPC file, header and all: its sentences are judged
    path = tmp_path / "pool.tsv"
    rows = ["\t".join(HEADER)] + [f"1\t1\t2\t{p.a}\t{p.b}" for p in dev[:40]]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(AutoqError, match="40 sentence pair.*judged"):
        task.pool_from_file(path)
    train = [p for p in task._splits["finetune"]][:40]
    path.write_text("\n".join(f"{p.a}\t{p.b}" for p in train) + "\n")
    task.pool_from_file(path)
    assert task.pool_name.startswith("file:pool.tsv|n=40") and len(task.pool_batches()) == 4


def test_the_report_of_a_fidelity_study_recommends_its_pick(study):
    from autoq.report import write_report
    html, png = write_report(study.out)
    page = html.read_text()
    meta, rows = load_front(study.out)
    chosen = pick(meta, rows, 0.01 * meta.fp32_metric)
    assert f"trial {chosen.trial}: " in page and "[recommended]" in page
    assert "fidelity to FP32 on the pool" in page and png.stat().st_size > 10_000


def make_error_task():
    """The plugin task scored by its relative error: a metric that is better lower."""
    import math
    from plugin_task import ClosenessTask
    from autoq.tasks import Score

    class ErrorTask(ClosenessTask):
        name, metric_name, direction = "tiny-error", "error", "minimize"

        def evaluate(self, model, split="confirm", fraction=1.0, device="cpu"):
            s = super().evaluate(model, split, fraction, device)
            return Score(1 - s.metric, "error", s.signature, s.n, examples=s.examples)

        def summed_metric(self, sums):
            return math.sqrt(sums[0] / sums[1])
    return ErrorTask()


@pytest.mark.parametrize("objective", ["fidelity", "metric"])
def test_an_error_rate_is_searched_downward_end_to_end(tmp_path, objective):
    cfg = config(tmp_path, task="test_fidelity:make_error_task", n_trials=14, objective=objective,
                 fidelity=1.0, max_drop=0.05)
    run_search(cfg)
    meta, rows = load_front(cfg.out)
    assert meta.direction == "minimize" and rows
    errors = [r.metric for r in sorted(rows, key=lambda r: r.size_bytes)]
    if objective == "metric":  # the front: smaller recipes err more, never less
        assert errors == sorted(errors, reverse=True) and min(errors) == pytest.approx(0.0, abs=1e-9)
    chosen = pick(meta, rows, 0.05)
    assert chosen.metric - meta.fp32_metric <= 0.05 and chosen.confirm_metric <= 0.05
    assert all(r.metric >= 0 for r in rows)
    if objective == "metric":  # local search keeps up to 0.05 more error, as -value
        assert local_search(Searcher(cfg)).worst == pytest.approx(-(meta.fp32_metric + 0.05))
    study = optuna.load_study(study_name="fid", storage=f"sqlite:///{cfg.out / 'study.db'}")
    if objective == "metric":
        assert study.directions[0] == optuna.study.StudyDirection.MINIMIZE
        assert all(t.constraints["max_drop"] <= 0 for t in study.trials
                   if t.number in {r.trial for r in rows})
