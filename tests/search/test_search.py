"""The search end to end on a tiny task: front, recipes, resume, re-evaluation."""
import random
import sys
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import yaml
import torch

from autoq import AutoqError, Recipe, collect_stats, quantize
from autoq.search.neighbours import draw_parent, neighbour, step
from autoq.search.front import (REF_DROP, contributions, dominates, hypervolume, pareto_indices,
                                relative_hypervolume)
from autoq.search.front_point import FrontPoint
from autoq.search.pick import format_front, load_front, pick
from autoq.search.study_meta import StudyMeta
from autoq.quant import stats as stats_io
from autoq.search.sensitivity import load as sensitivity_load
from autoq.search.space import SearchSpace
from autoq.search.proposals import Neighbour
from autoq.search.run import local_search
from autoq.search.start import ladder, seed_study, sensitivity_path, sensitivity_table
from autoq.search import SearchConfig, Searcher, parse_duration, run_search
from autoq.tasks.paired import agreement, paired_difference

TESTS = Path(__file__).resolve().parents[1]  # tests/
sys.path.insert(0, str(TESTS))
SPACE = str(TESTS / "spaces" / "tiny.yaml")


def config(tmp_path, **kw):
    base = dict(task="plugin_task:make_task", space=SPACE, study="tiny", results=tmp_path,
                n_trials=10, progress=False, device="cpu",
                objective="metric")
    return SearchConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    cfg = config(tmp_path_factory.mktemp("results"), n_trials=14)
    run_search(cfg)
    return cfg


def test_front_files_agree_with_storage(finished):
    meta, rows = load_front(finished.out)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{finished.out / 'study.db'}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(study.trials) == 14
    assert {r.trial for r in rows} <= {t.number for t in done}
    for r in rows:
        t = study.trials[r.trial]
        assert (r.metric, r.size_bytes) == (t.values[0], t.values[1])
        assert r.confirm_metric is not None and (finished.out / r.recipe).is_file()
        assert not any(dominates(tuple(o.values), (r.metric, r.size_bytes)) for o in done)
    on_front = {r.trial for r in rows}
    for t in done:  # everything off the front is dominated by something on it
        if t.number not in on_front:
            assert any(dominates((r.metric, r.size_bytes), tuple(t.values)) for r in rows)
    seeds = {t.user_attrs.get("seed") for t in study.trials}
    assert {"fp32", "int8", "tiny_seed"} <= seeds
    csv_lines = (finished.out / "pareto.csv").read_text().splitlines()
    assert csv_lines[0].startswith("trial,fidelity,metric,confirm_metric,confirm_delta_low,confirm_delta_high,"
                                   "beats_chance,size_bytes") and len(csv_lines) == len(rows) + 1
    assert meta.fp32_metric == pytest.approx(1.0)
    assert all(r.beats_chance is None for r in rows) and meta.chance_metric is None  # none


def test_the_front_says_which_points_beat_the_tasks_chance_score(tmp_path, capsys):
    run_search(config(tmp_path / "zero", task="plugin_task:zero_chance_task", n_trials=8))
    meta, rows = load_front(tmp_path / "zero" / "tiny")
    assert meta.chance_metric == pytest.approx(0.0) and meta.fp32_beats_chance is True
    assert rows and all(r.beats_chance is True for r in rows)
    assert "[chance]" not in format_front(meta, rows) and "warning" not in capsys.readouterr().err
    # a constant answer as good as FP32: nothing beats it, nothing is picked, the user is told
    run_search(config(tmp_path / "perfect", task="plugin_task:perfect_chance_task", n_trials=8))
    assert "cannot be told from a constant answer" in capsys.readouterr().err
    meta, rows = load_front(tmp_path / "perfect" / "tiny")
    assert meta.fp32_beats_chance is False and all(r.beats_chance is False for r in rows)
    assert "[chance]" in format_front(meta, rows)
    with pytest.raises(AutoqError, match=f"{len(rows)} of them no better than chance"):
        pick(meta, rows, max_drop=1.0)


def test_a_study_gains_its_task_s_chance_score_on_resume_and_no_other_is_scored_again(tmp_path, monkeypatch):
    run_search(config(tmp_path, n_trials=6))  # a task without a chance score
    scored = []
    monkeypatch.setattr(Searcher, "confirm", lambda self, t: scored.append(t.number))
    run_search(config(tmp_path, n_trials=7))
    assert scored == []  # its front's confirm scores are all kept
    monkeypatch.undo()  # the same model, now with a chance score: each front point is judged once
    run_search(config(tmp_path, task="plugin_task:zero_chance_task", n_trials=8))
    meta, rows = load_front(tmp_path / "tiny")
    assert meta.chance_metric == pytest.approx(0.0) and meta.fp32_beats_chance is True
    assert rows and all(r.beats_chance is True for r in rows)


def test_min_agreement_keeps_on_the_front_only_recipes_that_answer_as_fp32_does(tmp_path):
    cfg = config(tmp_path, task="plugin_task:label_task", n_trials=14, min_agreement=0.7)
    run_search(cfg)
    searcher = Searcher(cfg)
    study = searcher.study
    _, rows = load_front(cfg.out)
    for r in rows:  # recorded, and so on re-scoring: at least 70% of examples answered alike
        t = study.trials[r.trial]
        assert t.constraints["min_agreement"] <= 0
        if r.seed != "fp32":
            score = searcher.evaluate(Recipe.load(cfg.out / r.recipe))
            assert agreement(score, searcher.fp32_search) >= 0.7
    broke = [t for t in study.trials if t.state.name == "COMPLETE" and t.constraints["min_agreement"] > 0]
    assert broke and not {t.number for t in broke} & {r.trial for r in rows}
    words = "made with --min-agreement 0.7: resume it with --min-agreement 0.7"
    for other in (0.8, None):  # its trials judged otherwise: refused
        with pytest.raises(AutoqError, match=words):
            run_search(config(tmp_path, task="plugin_task:label_task", n_trials=15, min_agreement=other))
    with pytest.raises(AutoqError, match="per-example statistics"):  # a task that gives none
        run_search(config(tmp_path / "b", task="plugin_task:batched_task", min_agreement=0.9))
    assert not (tmp_path / "b").exists()  # refused before a study was made


def test_a_space_s_min_agreement_is_the_default_and_0_turns_it_off(tmp_path):
    space = tmp_path / "agree.yaml"  # the tiny space, with a constraint of its own
    space.write_text((TESTS / "spaces" / "tiny.yaml").read_text().replace(
        "seeds: [tiny_seed.yaml]", f"seeds: [{TESTS / 'spaces' / 'tiny_seed.yaml'}]\nmin_agreement: 0.7"))
    made = config(tmp_path, task="plugin_task:label_task", space=str(space), n_trials=9)
    run_search(made)
    study = Searcher(made).study
    assert study.user_attrs["min_agreement"] == 0.7
    assert all("min_agreement" in t.constraints for t in study.trials if t.state.name == "COMPLETE")
    with pytest.raises(AutoqError, match="made with --min-agreement 0.7: resume it with --min-agreement 0.7"):
        run_search(replace(made, n_trials=10, min_agreement=0))
    off = replace(made, study="off", min_agreement=0)  # 0: no agreement constraint at all
    run_search(off)
    study = Searcher(off).study
    assert study.user_attrs["min_agreement"] is None
    assert not any("min_agreement" in t.constraints for t in study.trials if t.state.name == "COMPLETE")
    with pytest.raises(AutoqError, match="made with --min-agreement 0: resume it with --min-agreement 0"):
        run_search(replace(off, n_trials=10, min_agreement=None))  # the space's 0.7 now


def test_each_front_point_has_its_confirm_interval_against_fp32(finished, tmp_path):
    meta, rows = load_front(finished.out)
    searcher = Searcher(finished)
    for r in rows:
        gap = r.confirm_metric - meta.fp32_confirm_metric
        assert r.confirm_delta_low <= gap + 1e-6 and gap - 1e-6 <= r.confirm_delta_high
        if r.seed == "fp32":
            assert (r.confirm_delta_low, r.confirm_delta_high) == (0.0, 0.0)
        else:  # the paired bootstrap over the confirm split, as the task scores it
            score = searcher.evaluate(Recipe.load(finished.out / r.recipe), split="confirm")
            d = paired_difference(searcher.task, score, searcher.fp32_confirm)
            assert [r.confirm_delta_low, r.confirm_delta_high] == [round(d.low, 6), round(d.high, 6)]
    assert "less FP32, 95%" in format_front(meta, rows)
    # a task whose scores carry no per-example statistics: the front has no interval
    run_search(config(tmp_path, task="plugin_task:batched_task", n_trials=3, fidelity=1.0, ladder=0))
    _, rows = load_front(tmp_path / "tiny")
    assert rows and all(r.confirm_delta_low is None and r.confirm_delta_high is None for r in rows)


def test_every_recipe_re_evaluates_to_the_recorded_metric(finished):
    searcher = Searcher(finished)
    for t in searcher.study.trials:
        if t.state != optuna.trial.TrialState.COMPLETE or t.user_attrs.get("seed") == "fp32":
            continue
        recipe = Recipe.load(finished.out / f"recipes/{t.number:05d}.yaml")
        assert searcher.score(recipe) == pytest.approx(t.values[0], abs=1e-6)
        assert searcher.size(recipe) == t.values[1]


def test_resume_continues_to_the_total(tmp_path):
    cfg = config(tmp_path, n_trials=6, fidelity=1.0)
    run_search(cfg)
    run_search(config(tmp_path, n_trials=9, fidelity=1.0))
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'tiny' / 'study.db'}")
    assert len(study.trials) == 9
    assert sum(t.user_attrs.get("seed") == "fp32" for t in study.trials) == 1


def test_max_drop_keeps_only_feasible_points(tmp_path):
    cfg = config(tmp_path, n_trials=10, max_drop=0.02)
    run_search(cfg)
    meta, rows = load_front(cfg.out)
    assert rows and all(meta.fp32_metric - r.metric <= 0.02 for r in rows)
    # picking goes by the confirm split: the smallest point that holds there
    holds = [r for r in rows if meta.fp32_confirm_metric - r.confirm_metric <= 0.02]
    assert holds and pick(meta, rows, 0.02) == min(holds, key=lambda r: r.size_bytes)


def test_a_front_point_reads_back_as_written():
    point = FrontPoint(trial=4, metric=0.81, size_bytes=900, size_ratio=0.45, recipe="recipes/00004.yaml",
                       fidelity=0.02, confirm_metric=0.8, confirm_delta_low=-0.02, confirm_delta_high=0.01,
                       beats_chance=True, seed="int8")
    row = point.to_json()
    assert list(row)[:3] == ["trial", "fidelity", "metric"] and "latency_ratio" not in row
    assert FrontPoint.from_json(row, "here") == point
    assert point.delta_text() == "-0.020 to +0.010" and point.worst_drop(1.0) == pytest.approx(0.02)
    assert point.drops(0.82, 0.81, 1.0) == pytest.approx([0.01, 0.01])
    timed = replace(point, latency_ratio=0.5)
    assert timed.to_json()["latency_ratio"] == 0.5 and FrontPoint.from_json(timed.to_json(), "here") == timed


def test_a_confident_pick_holds_at_the_far_end_of_its_interval():
    def point(trial, search, confirm, delta, size, seed=None):
        return FrontPoint(trial=trial, metric=search, size_bytes=size, size_ratio=size / 1000,
                          recipe=f"recipes/{trial:05d}.yaml", confirm_metric=confirm,
                          confirm_delta_low=delta[0], confirm_delta_high=delta[1], seed=seed)
    meta = StudyMeta(fp32_metric=0.80, fp32_confirm_metric=0.80, fp32_size_bytes=1000)
    rows = [point(1, 0.795, 0.796, (-0.030, 0.020), 100),  # the estimate holds, the far end not
            point(2, 0.799, 0.801, (-0.008, 0.010), 200), point(0, 0.80, 0.80, (0.0, 0.0), 1000, "fp32")]
    assert pick(meta, rows, 0.01).trial == 1
    assert pick(meta, rows, 0.01, confident=True).trial == 2
    with pytest.raises(AutoqError, match="far end of its confirm interval.*without --confident"):
        pick(meta, rows[:1], 0.01, confident=True)
    # an error rate drops as it rises: the interval's upper end is its worse
    errors = StudyMeta(fp32_metric=0.20, fp32_confirm_metric=0.20, fp32_size_bytes=1000, direction="minimize")
    rows = [point(1, 0.205, 0.204, (-0.020, 0.030), 100), point(2, 0.201, 0.199, (-0.010, 0.008), 200)]
    assert pick(errors, rows, 0.01).trial == 1 and pick(errors, rows, 0.01, confident=True).trial == 2
    with pytest.raises(AutoqError, match="no confirm interval"):  # a task without per-example scores
        pick(meta, [point(1, 0.80, 0.80, (None, None), 100)], 0.01, confident=True)


def test_pareto_against_hand_made_points():
    points = [(1, 1), (2, 2), (1.5, 3), (3, 4), (3, 5), (0.5, 0.5), (2, 2)]
    assert pareto_indices(points) == [5, 0, 1, 3]
    assert hypervolume(points, (0, 6)) == pytest.approx(0.5 * 0.5 + 1 * 1 + 2 * 2 + 3 * 2)
    assert hypervolume([], (0, 6)) == 0
    assert not dominates((1, 1), (1, 1)) and dominates((1, 1), (1, 2))
    # a third objective (latency, lower is better) keeps points that lose on the first two
    points3 = [(2, 2, 1.0), (1, 3, 0.5), (1, 3, 0.6), (1, 3, 0.5), (2, 2, 1.2), (3, 5, 2.0)]
    assert pareto_indices(points3) == [0, 1, 5]
    assert dominates((1, 3, 0.5), (1, 3, 0.6)) and not dominates((2, 2, 1.0), (1, 3, 0.5))


def expressible_seed_space(tmp_path) -> str:
    """The tiny space with a seed recipe that its choices can express."""
    (tmp_path / "seed.yaml").write_text(Recipe.build(
        {"bits_weights": 8, "bits_activations": 8, "mode": "ASYMMETRIC_SIGNED"},
        {"rnn": {"bits_weights": 4}, "classifier": {"clip_acts": "AVG"}}).to_yaml())
    space = tmp_path / "space.yaml"
    space.write_text(Path(SPACE).read_text().replace("tiny_seed.yaml", str(tmp_path / "seed.yaml")))
    return str(space)


def test_refine_tries_no_larger_one_knob_changes_of_the_seed_recipe_once(tmp_path):
    cfg = config(tmp_path, space=expressible_seed_space(tmp_path), n_trials=12, ladder=0, refine=3)
    run_search(cfg)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{cfg.out / 'study.db'}")
    seed = next(t for t in study.trials if t.user_attrs.get("seed") == "seed")
    refined = [t for t in study.trials if "refine_of" in t.user_attrs]
    assert seed.params and len(refined) == 3 and all(t.user_attrs["refine_of"] == seed.number for t in refined)
    assert min(t.number for t in refined) == seed.number + 1  # first, right after the seeds
    for t in refined:
        moved = [k for k in seed.params if t.params[k] != seed.params[k]]
        assert len(moved) == 1 and t.values[1] <= seed.values[1]
    assert len({t.user_attrs["plan"] for t in refined}) == 3 and seed.user_attrs["plan"] not in \
        {t.user_attrs["plan"] for t in refined}
    run_search(replace(cfg, n_trials=14))  # resumed: not queued again
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{cfg.out / 'study.db'}")
    assert sum("refine_of" in t.user_attrs for t in study.trials) == 3
    space = Path(cfg.space)
    space.write_text(space.read_text() + "refine: 2\n")  # a space's refine: the default
    run_search(replace(cfg, study="by-space", refine=None, n_trials=8))
    study = optuna.load_study(study_name="by-space", storage=f"sqlite:///{cfg.out.parent / 'by-space' / 'study.db'}")
    assert sum("refine_of" in t.user_attrs for t in study.trials) == 2


def test_a_front_margin_keeps_the_points_within_it_of_the_front():
    # (metric, size): 1 is 0.05 below the front point 0 and larger; 2 is 0.3 below it
    points = [(3.0, 1.0), (2.95, 1.5), (2.7, 2.0), (3.5, 3.0), (3.45, 3.1), (1.0, 0.5)]
    assert pareto_indices(points) == [5, 0, 3]
    assert pareto_indices(points, 0.1) == [5, 0, 1, 3, 4]
    assert pareto_indices(points, 0.5) == [5, 0, 1, 2, 3, 4]
    assert dominates((3.0, 1.0), (2.7, 2.0), 0.2) and not dominates((3.0, 1.0), (2.95, 1.5), 0.1)
    assert not dominates((3.0, 1.0), (2.0, 0.9), 0.1)  # larger: never, whatever the lead


def test_the_front_margin_is_kept_scored_on_confirm_and_shown(finished):
    from autoq.report.load import load_study_data
    margin = 0.5
    run_search(replace(finished, front_margin=margin))  # resumed: the same trials, a wider front
    meta, rows = load_front(finished.out)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{finished.out / 'study.db'}")
    strict = [r for r in rows if not r.near]
    near = [r for r in rows if r.near]
    assert meta.front_margin == margin and strict and near
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    for r in near:  # off the front, within the margin of it, and scored on confirm
        assert any(dominates((s.metric, s.size_bytes), (r.metric, r.size_bytes)) for s in strict)
        assert not any(dominates((s.metric, s.size_bytes), (r.metric, r.size_bytes), margin)
                       for s in strict)
        assert r.confirm_metric is not None
    kept = {r.trial for r in rows}
    assert all(t.number in kept for t in done if not any(
        dominates((s.metric, s.size_bytes), tuple(t.values), margin) for s in strict))
    assert "[near]" in format_front(meta, rows)
    data = load_study_data(finished.out)
    assert {p.trial for p in data.points if p.near} == {r.trial for r in near}
    assert data.near_count == len(near) and all(not p.near for p in data.size_front())
    run_search(finished)  # back to the space's margin (0): the strict front again
    assert not any(r.near for r in load_front(finished.out)[1])


def test_a_latency_objective_makes_a_three_way_front(tmp_path):
    from autoq.report import write_report
    cfg = config(tmp_path, n_trials=8, ladder=0, latency=True)
    run_search(cfg)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{cfg.out / 'study.db'}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(study.directions) == 3 and all(len(t.values) == 3 and t.values[2] > 0 for t in done)
    assert next(t for t in done if t.user_attrs.get("seed") == "fp32").values[2] == 1.0
    meta, rows = load_front(cfg.out)
    assert meta.objectives == ("metric", "size_bytes", "latency_ratio")
    assert {r.trial for r in rows} == {t.number for t in done
                                          if not any(dominates(o.values, t.values) for o in done)}
    assert all(r.latency_ratio == round(study.trials[r.trial].values[2], 4) for r in rows)
    assert (cfg.out / "pareto.csv").read_text().splitlines()[0].endswith(",latency_ratio")
    fastest = pick(meta, rows, 1.0, by="latency")
    assert fastest.latency_ratio == min(r.latency_ratio for r in rows)
    html, _ = write_report(cfg.out)
    assert "time x FP32" in html.read_text()
    with pytest.raises(AutoqError, match="made with the latency objective"):
        run_search(config(tmp_path, n_trials=9, ladder=0))  # resumed without --latency


def test_picking_by_latency_needs_the_objective(finished):
    meta, rows = load_front(finished.out)
    with pytest.raises(AutoqError, match="no latency objective"):
        pick(meta, rows, 1.0, by="latency")


def test_space_builds_recipes_per_layer(tiny):
    space = SearchSpace.load(SPACE).bind([n for n, _ in tiny.named_modules()])
    assert space.units == {"rnn": ["rnn"], "heads": ["proj", "classifier"]}
    recipe = space.recipe({"rnn:bits_weights": 2, "rnn:activations": "dynamic",
                           "classifier:bits_weights": None})
    assert recipe.settings("rnn.cells.0.fc_gate_x")["bits_weights"] == 2
    assert recipe.is_dynamic("rnn.cells.0.fc_gate_x") and not recipe.is_dynamic("proj")
    assert recipe.activations == {"rnn": "dynamic"}
    assert recipe.settings("classifier")["bits_weights"] is None
    assert recipe.settings("proj")["bits_weights"] == 2  # first choice
    quantize(tiny, recipe, collect_stats(tiny, [(torch.randint(0, 50, (2, 5)),)]))


@pytest.mark.parametrize("doc,words", [
    ({"groups": []}, "non-empty 'groups'"),
    ({"groups": [{"modules": "x", "bits_weights": [9]}]}, "bits_weights = 9"),
    ({"groups": [{"modules": "x", "activations": ["sometimes"]}]}, "static, dynamic"),
    ({"groups": [{"modules": "x", "bits": [8]}]}, "unknown key"),
    ({"groups": [{"modules": "(x"}]}, "not a valid regex"),
    ({"groups": [{"modules": "x", "clip_acts": ["N_STD"]}]}, "clip_n_stds"),
    ({"groups": [{"modules": "x"}], "budget": 3}, "unknown key"),
    ({"groups": [{"modules": "x"}], "min_agreement": "most"}, "min_agreement 'most' is not allowed"),
    ({"groups": [{"modules": "x"}], "min_agreement": 1.2}, "a share from 0, off, to 1"),
    ({"groups": [{"modules": "x"}], "front_margin": -1}, "front_margin -1 is not allowed"),
    ({"groups": [{"modules": "x"}], "front_margin": "wide"}, "the metric's units, 0 or more"),
    ({"groups": [{"modules": "x"}], "refine": 2.5}, "refine 2.5 is not allowed"),
])
def test_bad_space(doc, words):
    with pytest.raises(AutoqError, match=words):
        SearchSpace.from_dict(doc)


def test_space_group_matching_nothing(tiny):
    space = SearchSpace.from_dict({"groups": [{"modules": "clasifier", "bits_weights": [4, 8]}]})
    with pytest.raises(AutoqError, match="matches no module; closest module names: classifier"):
        space.bind([n for n, _ in tiny.named_modules()])


def test_durations():
    assert parse_duration("8h") == 8 * 3600 and parse_duration("90") == 90
    with pytest.raises(AutoqError, match="not a duration"):
        parse_duration("soon")


@pytest.mark.parametrize("bad, message", [
    (dict(sampler="cmaes"), "sampler 'cmaes' is not known \\(allowed: tpe, nsga2, gp, random\\)"),
    (dict(local=1.5), "local = 1.5 is not allowed"),
    (dict(workers=0), "workers = 0 is not allowed"),
    (dict(min_agreement=1.5), "min_agreement = 1.5 is not allowed \\(allowed: a share from 0, off, to 1\\)"),
    (dict(front_margin=-0.5), "front_margin = -0.5 is not allowed \\(allowed: 0 or more\\)"),
    (dict(refine=-1), "refine = -1 is not allowed \\(allowed: 0 or more trials\\)")])
def test_a_bad_setting_fails_when_the_config_is_made(tmp_path, bad, message):
    with pytest.raises(AutoqError, match=message):
        config(tmp_path, **bad)
    assert not (tmp_path / "tiny").exists()


def test_sensitivity_table_and_its_ladder_of_seeds(tmp_path):
    from autoq.search import sensitivity
    searcher = Searcher(config(tmp_path))
    result = sensitivity.measure(searcher, fraction=0.5)
    assert not (tmp_path / "tiny" / "study.db").exists()
    assert set(result.drops) == {"rnn", "proj", "classifier"}
    assert all(result.drops[u][2] > result.drops[u][4] for u in result.drops)
    assert all(result.saved_bytes[u][2] > result.saved_bytes[u][4] > 0 for u in result.drops)
    sensitivity.save(result, tmp_path / "sens.json")
    assert sensitivity.load(tmp_path / "sens.json") == result
    steps = sensitivity.path(searcher.space, result)
    assert steps[0] == (0.0, {"rnn": 8, "proj": 8, "classifier": 8})
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)  # drop only grows along it
    assert all(sum(a.values()) > sum(b.values()) for (_, a), (_, b) in zip(steps, steps[1:]))
    seeds = sensitivity.ladder(searcher.space, result, 4, top=1e9)  # a loose budget: the end
    assert seeds[-1][1]["rnn:bits_weights"] == min(result.drops["rnn"])
    assert sensitivity.ladder(searcher.space, result, 3, top=0.0) == [
        ("sensitivity-1", searcher.space.complete({f"{u}:bits_weights": 8 for u in ("rnn", "proj", "classifier")}))]
    run_search(config(tmp_path, n_trials=12, ladder=3, sensitivity=tmp_path / "sens.json"))
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'tiny' / 'study.db'}")
    ladder = [t for t in study.trials if t.user_attrs.get("seed", "").startswith("sensitivity")]
    assert ladder and all(t.params for t in ladder)  # the sampler sees them as points of the space
    assert all(searcher.space.recipe(t.params).to_yaml() == t.user_attrs["recipe"] for t in ladder)


def test_with_min_agreement_the_ladder_stays_within_the_disagreement_it_allows(tmp_path):
    from autoq.search import sensitivity
    cfg = config(tmp_path, task="plugin_task:label_task", ladder=4, min_agreement=0.4)
    searcher = Searcher(cfg)
    table = sensitivity_table(searcher)
    assert table.disagree.keys() == table.drops.keys()
    assert all(0 < table.disagree[u][2] <= 1 for u in table.disagree)
    seeds = ladder(searcher)

    def predicted(choices, cost):
        return sum(table.by(cost)[k.split(":")[0]][b] for k, b in choices.items()
                   if k.endswith(":bits_weights") and b < 8)

    assert len(seeds) > 1 and all(predicted(c, "disagree") <= 0.6 for _, c in seeds)
    by_drop = sensitivity.ladder(searcher.space, table, 4, top=0.6)  # the same budget in F1
    assert predicted(by_drop[-1][1], "disagree") > 0.6  # would have gone past the constraint
    both = ladder(Searcher(replace(cfg, max_drop=0.1)))  # --max-drop too: cut where it passes
    assert [c for _, c in both] == [c for _, c in seeds if predicted(c, "drops") <= 0.1]
    assert len(both) < len(seeds)
    # a table from before the column: refused, with what to do
    sensitivity.save(replace(table, disagree=None), sensitivity_path(searcher))
    with pytest.raises(AutoqError, match="no agreement with FP32.*autoq sensitivity.*--ladder 0"):
        ladder(Searcher(cfg))


def test_a_search_measures_its_sensitivity_once(tmp_path):
    run_search(config(tmp_path, n_trials=8, ladder=2))
    table = tmp_path / "tiny" / "sensitivity.json"
    stamp = table.stat().st_mtime_ns
    run_search(config(tmp_path, n_trials=9, ladder=2))  # resumed: the table is reused
    assert table.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("name", ["tpe", "gp", "nsga2"])
def test_the_sampler_models_every_knob_though_seeds_outside_the_space_have_none(finished, name):
    from autoq.search.samplers import make_sampler
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{finished.out / 'study.db'}")
    assert any(not t.params for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    knobs = {k for t in study.trials for k in t.params}
    assert make_sampler(name, 0).infer_relative_search_space(study, study.trials[-1]).keys() == knobs


def test_deployable_limits_the_choices():
    doc = {"deployable": "fbgemm", "groups": [
        {"modules": "x", "bits_weights": [4, 8], "clip_acts": ["NONE", "AVG"], "bits_activations": [6, 8]}]}
    space = SearchSpace.from_dict(doc)
    assert space.groups[0].choices["clip_acts"] == ("NONE",)
    assert space.groups[0].choices["bits_activations"] == (8,)
    with pytest.raises(AutoqError, match="no clip_acts choice .* runs on fbgemm kernels"):
        SearchSpace.from_dict({"deployable": "fbgemm", "groups": [{"modules": "x", "clip_acts": ["AVG"]}]})


def test_deployable_limits_each_kind_once_bound():
    """A conv runs on int8 only with static activations: a group holding a conv keeps no
    dynamic choice, one holding only Linears keeps both, and a conv group with nothing
    else is refused."""
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    modules = dict(net.named_modules())
    doc = {"deployable": "cpu", "groups": [
        {"name": "conv", "modules": "0", "activations": ["dynamic", "static"]},
        {"name": "fc", "modules": "2", "activations": ["dynamic", "static"]}]}
    space = SearchSpace.from_dict(doc).bind(list(modules), modules)
    assert [g.choices["activations"] for g in space.groups] == [("static",), ("dynamic", "static")]
    doc["groups"][0]["activations"] = ["dynamic"]
    with pytest.raises(AutoqError, match="no activations choice .* runs a Conv2d on cpu kernels"):
        SearchSpace.from_dict(doc).bind(list(modules), modules)


def test_relative_hypervolume_is_in_units_of_fp32():
    fp32_metric, fp32_size = 30.0, 1000.0
    # half the size at FP32's metric: a rectangle 0.5 wide and REF_DROP high
    assert relative_hypervolume([(30.0, 500.0)], fp32_metric, fp32_size) == pytest.approx(0.5 * REF_DROP)
    assert relative_hypervolume([(26.0, 500.0)], fp32_metric, fp32_size) == 0  # below the reference


def searched_recipes(study) -> list[str]:
    return [t.user_attrs["recipe"] for t in study.trials if "seed" not in t.user_attrs]


def test_resume_does_not_replay_the_first_proposals(tmp_path):
    run_search(config(tmp_path, n_trials=8, fidelity=1.0, sampler="random"))
    storage = f"sqlite:///{tmp_path / 'tiny' / 'study.db'}"
    first = searched_recipes(optuna.load_study(study_name="tiny", storage=storage))
    run_search(config(tmp_path, n_trials=8 + len(first), fidelity=1.0, sampler="random"))
    after = searched_recipes(optuna.load_study(study_name="tiny", storage=storage))[len(first):]
    assert len(after) == len(first) and after != first


def test_a_recipe_proposed_again_is_not_scored_again(tmp_path, monkeypatch):
    space = tmp_path / "one.yaml"
    space.write_text("defaults: {bits_weights: 8, bits_activations: 8}\n"
                     "groups:\n  - {name: rnn, modules: rnn, bits_weights: [4]}\n")
    scored = []
    real = Searcher.evaluate
    monkeypatch.setattr(Searcher, "evaluate", lambda self, recipe, *a, **k: scored.append(recipe) or real(self, recipe, *a, **k))
    monkeypatch.setattr("autoq.search.run.GIVE_UP_AFTER", 30)
    run_search(config(tmp_path, space=str(space), n_trials=6, fidelity=1.0, seeds=(), ladder=0))
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'tiny' / 'study.db'}")
    searched = [t for t in study.trials if "seed" not in t.user_attrs]
    # one recipe in the whole space: scored once, then 30 repeats (no neighbour to try)
    # and the search stops instead of spinning, short of its 6 trials
    assert len(searched) == 31 and len({t.user_attrs["recipe"] for t in searched}) == 1
    assert [t.user_attrs.get("same_as") for t in searched] == [None] + [searched[0].number] * 30
    assert all(t.state == optuna.trial.TrialState.FAIL for t in searched[1:])
    assert Searcher(config(tmp_path, space=str(space), seeds=(), ladder=0)).finished() == 1  # the one recipe
    # FP32 (search and confirm), the searched recipe once, the front's confirm score
    assert sum(r is not None for r in scored) == 2


def test_pruning_compares_a_fraction_with_the_same_fraction(tmp_path, monkeypatch):
    """A quarter of a split can be harder than the whole: a recipe that scores
    there as the front's points and FP32 do is not out, whatever their full figures."""
    searcher = Searcher(config(tmp_path, ladder=0, max_drop=0.5))
    seed_study(searcher)
    calls = []
    monkeypatch.setattr(Searcher, "score", lambda self, recipe, fraction=1.0, split="search":
                        calls.append(fraction) or 0.1)  # every recipe: 0.1 on the quarter
    largest = [searcher.study.user_attrs["fp32_size_bytes"] + 1]  # every front point is smaller
    assert not searcher.early_stop.clearly_dominated(0.1, largest)  # full figures near 1.0 would prune it
    assert searcher.early_stop.clearly_dominated(0.1 - 0.05, largest)  # beaten by more than the margin
    front = [t.number for t in searcher.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert set(calls) == {0.25} and len(calls) <= len(front) + 1  # once each, kept in the study
    assert "partial:fp32" in searcher.study.user_attrs
    # smaller than every front point: only the drop from FP32's quarter score can prune it
    margin = 0.02 * searcher.study.user_attrs["fp32_metric"]
    assert not searcher.early_stop.clearly_dominated(0.1 - 0.5 + margin / 2, [0])  # the margin's doubt
    assert searcher.early_stop.clearly_dominated(0.1 - 0.5 - 2 * margin, [0])
    with pytest.raises(AutoqError, match="made with fidelity 0.25: resume it with --fidelity 0.25"):
        seed_study(Searcher(config(tmp_path, ladder=0, fidelity=0.5, max_drop=0.5)))
    seed_study(Searcher(config(tmp_path, ladder=0, fidelity=1.0, max_drop=0.5)))  # no partial scores: any study
    assert searcher.study.user_attrs["fidelity"] == 0.25  # kept for a later resume with it


def test_the_whole_split_runs_only_the_batches_the_fraction_did_not(tmp_path):
    searcher = Searcher(config(tmp_path, task="plugin_task:batched_task", ladder=0))
    task, recipe = searcher.task, Recipe.build({"bits_weights": 4, "bits_activations": 8})
    part = searcher.score(recipe, 0.25)
    assert task.runs == 1  # one batch of the four
    whole = searcher.score(recipe)
    assert task.runs == 4  # the other three
    fresh = quantize(searcher.model, recipe, searcher.stats)
    assert (part, whole) == (task.evaluate(fresh, "search", 0.25).metric, task.evaluate(fresh, "search").metric)
    runs = task.runs
    searcher.score(Recipe.build({"bits_weights": 8, "bits_activations": 8}))
    assert task.runs == runs + 4  # another model: a memo of its own


def test_a_study_whose_fractions_were_first_examples_resumes_only_in_full(tmp_path):
    cfg = config(tmp_path, task="plugin_task:batched_task", ladder=0)
    cfg.out.mkdir(parents=True)
    old = optuna.create_study(study_name=cfg.study, storage=f"sqlite:///{cfg.out / 'study.db'}",
                              directions=["maximize", "minimize"])
    old.set_user_attr("fidelity", 0.25)  # as an earlier autoq made it: no fraction_parts
    with pytest.raises(AutoqError, match="earlier autoq.*--fidelity 1"):
        seed_study(Searcher(cfg))
    seed_study(Searcher(config(tmp_path, task="plugin_task:batched_task", ladder=0, fidelity=1.0)))


def test_a_study_or_table_is_not_carried_on_with_another_model(tmp_path):
    run_search(config(tmp_path, n_trials=4, fidelity=1.0, ladder=2))
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'tiny' / 'study.db'}")
    table = tmp_path / "tiny" / "sensitivity.json"
    key = Searcher(config(tmp_path)).model_key
    assert study.user_attrs["model_key"] == key and sensitivity_load(table).model_key == key
    before = len(study.trials)
    with pytest.raises(AutoqError, match="study 'tiny' was made with another model"):
        run_search(config(tmp_path, task="plugin_task:retrained_task", n_trials=6, fidelity=1.0))
    assert len(study.trials) == before
    with pytest.raises(AutoqError, match="sensitivity file .* another model.*autoq sensitivity"):
        seed_study(Searcher(config(tmp_path, task="plugin_task:retrained_task", study="other",
                                           sensitivity=table)))
    seed_study(Searcher(config(tmp_path, task="plugin_task:retrained_task", study="other", ladder=0)))


def test_every_worker_quantizes_with_the_study_s_statistics(tmp_path, monkeypatch):
    cfg = config(tmp_path, n_trials=5, fidelity=1.0, ladder=0)
    run_search(cfg)
    kept = stats_io.load(cfg.out / "stats.yaml")  # with a recipe, all that rebuilds a trial's model
    assert kept == Searcher(cfg).stats
    assert "stats" not in Searcher(cfg).study.user_attrs  # kept apart: those are read every trial
    import autoq.search.scorer as searcher_module
    own = searcher_module.task_stats
    nudged = lambda task, model: {name: {**e, "inputs": {i: {**t, "max": t["max"] * 1.01}
                                                         for i, t in e["inputs"].items()}}
                                  for name, e in own(task, model).items()}
    monkeypatch.setattr(searcher_module, "task_stats", nudged)  # another machine's last bits
    other = Searcher(cfg)
    assert other.stats != kept
    other.study  # joining the study, it takes the study's statistics
    assert other.stats == kept
    for t in other.study.trials:
        if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs.get("seed") != "fp32":
            assert other.score(Searcher.recipe_of(t)) == t.values[0]


def test_a_repeated_proposal_queues_a_neighbour(tmp_path):
    searcher = Searcher(config(tmp_path, ladder=0))
    seed_study(searcher)
    first = searcher.run_trial()
    Neighbour(searcher.space, searcher.handle.rng).queue(searcher.study, first, 2, "neighbour_of")  # as after a repeat
    nxt = searcher.run_trial()
    assert nxt.user_attrs["neighbour_of"] == first.number
    changed = [k for k in first.params if nxt.params[k] != first.params[k]]
    assert len(changed) == min(2, sum(len(d.choices) > 1 for d in first.distributions.values()))


def test_a_neighbour_moves_a_width_one_step():
    rng = random.Random(0)
    knobs = {"a:bits_weights": (2, 4, 8), "a:bits_activations": (8, None), "a:clip_acts": ("NONE", "AVG", "LAPLACE")}
    for _ in range(50):
        assert step("a:bits_weights", knobs["a:bits_weights"], 4, rng) in (2, 8)
        assert step("a:bits_weights", knobs["a:bits_weights"], 2, rng) == 4
        assert step("a:bits_activations", knobs["a:bits_activations"], None, rng) == 8
        assert step("a:clip_acts", knobs["a:clip_acts"], "AVG", rng) in ("NONE", "LAPLACE")
        params = {"a:bits_weights": 8, "a:bits_activations": 8, "a:clip_acts": "NONE"}
        moved = neighbour(params, knobs, 2, rng)
        assert sum(moved[k] != params[k] for k in params) == 2


def test_local_search_scores_neighbours_of_the_front(tmp_path):
    run_search(config(tmp_path, n_trials=14, ladder=2, local=1.0, fidelity=1.0))
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'tiny' / 'study.db'}")
    local = [t for t in study.trials if "local_of" in t.user_attrs  # one may wait for a next run
             and t.state != optuna.trial.TrialState.WAITING]
    assert len(local) >= 5
    for t in local:
        parent = study.trials[t.user_attrs["local_of"]]
        assert parent.state == optuna.trial.TrialState.COMPLETE
        assert 1 <= sum(t.params[k] != parent.params[k] for k in parent.params) <= 2
    with pytest.raises(AutoqError, match="local = 1.5 is not allowed"):
        run_search(config(tmp_path, local=1.5))


def test_a_parent_is_drawn_by_the_hypervolume_it_alone_holds_up():
    from collections import Counter
    from types import SimpleNamespace as T
    # (metric, size) against the reference (0.5, 10): the first point is below it
    front = [T(values=(0.4, 1.0), params={"a": 0}), T(values=(1.0, 2.0), params={"a": 1}),
             T(values=(2.0, 3.0), params={"a": 2}), T(values=(3.0, 9.0), params={})]
    seed = T(values=(0.9, 5.0), params={"a": 3})
    # alone: 0.5 x 1 for a=1, 1 x 6 for a=2, 1 x 1 for the point without params (never drawn)
    assert contributions([t.values for t in front], (0.5, 10)) == pytest.approx([0, 0.5, 6, 1])
    rng = random.Random(0)
    drawn = Counter(draw_parent(front, [seed], (0.5, 10), rng).params["a"] for _ in range(2000))
    # below the reference: holds up nothing; the seed: the drawable points' average, 6.5 / 3
    weights = {0: 0, 1: 0.5, 2: 6, 3: 6.5 / 3}
    for a, w in weights.items():
        assert drawn[a] / 2000 == pytest.approx(w / sum(weights.values()), abs=0.03)
    # nothing above the reference: all alike
    low = [T(values=(0.1, 1.0), params={"a": 0}), T(values=(0.2, 2.0), params={"a": 1})]
    assert {draw_parent(low, [], (0.5, 10), rng).params["a"] for _ in range(50)} == {0, 1}
    assert draw_parent(front[3:], [], (0.5, 10), rng) is None


def test_hypervolume_in_three_objectives_and_exclusive_shares():
    # (metric up, size down, latency down) against (0, 6, 2): B alone for latency 0.5..1,
    # then A's 2 x 4 covers B's 1 x 3
    points = [(2, 2, 1.0), (1, 3, 0.5)]
    assert hypervolume(points, (0, 6, 2)) == pytest.approx(1 * 3 * 0.5 + 2 * 4 * 1)
    assert contributions(points, (0, 6, 2)) == pytest.approx([9.5 - 1 * 3 * 1.5, 9.5 - 2 * 4 * 1])
    assert contributions([(1, 1), (1, 1), (0.5, 2)], (0, 6)) == pytest.approx([0, 0, 0])


def test_a_seed_recipe_the_space_can_express_becomes_a_local_search_parent(tmp_path):
    seed = Recipe.load(TESTS / "spaces" / "tiny_seed.yaml")
    searcher = Searcher(config(tmp_path, ladder=0))
    assert searcher.space.express(seed, searcher.model) is None  # its mode is not the space's
    params = {**searcher.space.complete({}), "rnn:bits_weights": 4, "classifier:clip_acts": "AVG"}
    assert searcher.space.express(searcher.space.recipe(params), searcher.model) == params
    space = expressible_seed_space(tmp_path)
    searcher = Searcher(config(tmp_path, space=space, ladder=0, local=1.0, fidelity=1.0))
    seed_study(searcher)
    tried = searcher.study.trials[-1]
    assert tried.user_attrs["seed"] == "seed"
    assert (tried.params["rnn:bits_weights"], tried.params["classifier:clip_acts"]) == (4, "AVG")
    assert Recipe.from_yaml(tried.user_attrs["recipe"]).to_yaml() == Recipe.load(tmp_path / "seed.yaml").to_yaml()
    parents = set()
    local = local_search(searcher)
    for _ in range(12):
        local.queue(searcher.study)
        parents.add(searcher.run_trial().user_attrs.get("local_of"))
    assert tried.number in parents  # drawn whether or not it is on the front


def test_deployable_checks_the_weights_mode_of_a_mode_mapping():
    doc = {"deployable": "onednn", "defaults": {"mode": {"weights": "SYMMETRIC", "activations": "ASYMMETRIC_UNSIGNED"}},
           "groups": [{"modules": "x", "bits_weights": [4, 8]}]}
    assert SearchSpace.from_dict(doc).defaults["mode"]["activations"] == "ASYMMETRIC_UNSIGNED"
    doc["defaults"]["mode"] = {"weights": "ASYMMETRIC_UNSIGNED"}
    with pytest.raises(AutoqError, match="mode"):
        SearchSpace.from_dict(doc)


def test_mode_mappings_are_choices_optuna_stores_as_they_are():
    """A searched mode mapping is offered to Optuna as a label (no warning about
    persistent storage) and comes back as the mapping in the recipe, kept or dropped by
    a deployable backend by its weights mode."""
    import warnings
    modes = [{"weights": "SYMMETRIC", "activations": "ASYMMETRIC_UNSIGNED"},
             {"weights": "ASYMMETRIC_SIGNED", "activations": "ASYMMETRIC_UNSIGNED"}]
    space = SearchSpace.from_dict({"groups": [{"name": "g", "modules": "x", "mode": modes}]})
    space.units = {"g": ["x"]}
    assert all(isinstance(o, str) for o in space.groups[0].choices["mode"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = {yaml.safe_dump(space.suggest(study.ask()).overrides["x"]["mode"]) for _ in range(20)}
    assert got == {yaml.safe_dump(m) for m in modes}
    onednn = SearchSpace.from_dict({"deployable": "onednn", "groups": [{"modules": "x", "mode": modes}]})
    assert onednn.groups[0].choices["mode"] == ("weights=SYMMETRIC,activations=ASYMMETRIC_UNSIGNED",)


def test_recipes_that_quantize_alike_are_one_recipe(tmp_path, monkeypatch):
    """Clipping of float activations acts on nothing: the two recipes the space can write
    are one model, scored once."""
    space = tmp_path / "inert.yaml"
    space.write_text("defaults: {bits_weights: 8, bits_activations: 8}\n"
                     "groups:\n  - {name: rnn, modules: rnn, bits_activations: [null], "
                     "clip_acts: [NONE, AVG], activations: [static, dynamic]}\n")
    monkeypatch.setattr("autoq.search.run.GIVE_UP_AFTER", 20)
    run_search(config(tmp_path, space=str(space), n_trials=4, fidelity=1.0, seeds=(), ladder=0))
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'tiny' / 'study.db'}")
    tried = [t for t in study.trials if "recipe" in t.user_attrs]  # not one still queued
    assert len({t.user_attrs["recipe"] for t in tried}) > 1
    assert len({t.user_attrs["plan"] for t in tried}) == 1
    assert sum("same_as" not in t.user_attrs for t in tried) == 1
