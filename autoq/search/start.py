"""A study's start: FP32's figures and what the study is made with, then the seeded first
trials (FP32, uniform int8, the space's seed recipes, the sensitivity ladder) and the
refinement of the seed recipes, queued once."""
from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from tqdm import tqdm

from ..errors import AutoqError
from ..recipe import Recipe
from ..tasks.paired import beats
from .limits import StudyTimeout, TrialTimeout, time_limit
from .meta import notices
from . import fidelity_table, sensitivity
from .record import StudyRecord
from .trial_record import TrialRecord

if TYPE_CHECKING:
    from .searcher import Searcher


def preflight(s: Searcher) -> None:
    """What refuses a search before its study (or its folder) is made."""
    if s.min_agreement is not None and s.fp32_search.examples is None:
        raise AutoqError(f"min_agreement {s.min_agreement:g} (--min-agreement, else the "
                         f"space's) needs a task whose scores carry per-example statistics "
                         f"(Score.examples); {s.cfg.task} gives none: give --min-agreement 0")


def record_reference(s: Searcher) -> None:
    """FP32's figures and what the study is made with, recorded once; a resumed study, or
    another worker's, is checked against them (trials judged otherwise must not mix)."""
    preflight(s)
    r = s.record()
    if not r.has("fp32_metric"):
        for name, value in (("model_key", s.model_key), ("fp32_metric", s.fp32_search.metric),
                            ("fp32_size_bytes", s.size(None)), ("fp32_confirm_metric", s.fp32_confirm.metric),
                            ("task", s.cfg.task), ("min_agreement", s.min_agreement),
                            ("objective", s.objective.name), ("fp32_eval_s", s.fp32_eval_s)):
            r.put(name, value)
        if s.fidelity_search:
            r.put("pool", s.objective.reference.key)
    if s.fidelity_search and r.get("pool") != s.objective.reference.key:
        raise AutoqError(f"study {s.cfg.study!r} was made with the pool {r.get('pool')!r}, here "
                         f"{s.objective.reference.key!r}: resume it with the --pool it was made "
                         f"with, or give a new --study")
    check_settings(s, r)
    s.check_model(r.get("model_key"), f"study {s.cfg.study!r}",
                  "run every worker on the model it was made with (a built-in task's "
                  "fine-tune lies in AUTOQ_CACHE, by default ~/.cache/autoq: copy or share "
                  "it), or give a new --study")
    made = r.get("min_agreement")  # trials judged otherwise would mix
    if made != s.min_agreement:
        raise AutoqError(f"study {s.cfg.study!r} was made with --min-agreement {made or 0:g}: "
                         f"resume it with --min-agreement {made or 0:g}, or give a new --study")
    chance = None if r.has("chance_metric") else s.task.chance("search")
    if chance is not None:  # can the search split tell FP32 from a constant answer?
        r.put("chance_metric", chance.metric)
        r.put("chance_confirm_metric", s.chance_confirm.metric)
        r.put("fp32_beats_chance", beats(s.task, s.fp32_search, chance))
    if s.handle.kept_stats() is None:
        s.handle.keep_stats(s.stats)
    check_fraction(s, r)


def check_fraction(s: Searcher, r: StudyRecord) -> None:
    """A metric study's fraction of the search split scored first: kept on resume, since
    partial scores on other examples must not be compared."""
    made = r.get("fidelity")
    if made is None:
        r.put("fidelity", s.cfg.fidelity)
        r.put("fraction_parts", "spread batches")
    elif s.cfg.fidelity < 1.0:
        if made != s.cfg.fidelity:
            raise AutoqError(f"study {s.cfg.study!r} was made with fidelity {made:g}: resume "
                             f"it with --fidelity {made:g} (or 1, scoring every trial in full), "
                             f"or give a new --study")
        if not r.has("fraction_parts") and s.task.reuses_outputs:
            raise AutoqError(f"study {s.cfg.study!r} was made by an earlier autoq, which "
                             f"scored the split's first examples for a fraction: resume it "
                             f"with --fidelity 1, or give a new --study")


def made_with(s: Searcher) -> dict:
    """The settings a study's trials and front are judged by, which a resume must keep."""
    space = hashlib.sha256(Path(s.cfg.space).read_bytes()).hexdigest()[:12]
    made = {"task": f"{s.task.name} ({s.task.metric_name})", "space": f"{Path(s.cfg.space).name}@{space}",
            "sampler": s.cfg.sampler, "max_drop": s.cfg.max_drop, "objective": s.objective.name,
            "search split": s.fp32_search.signature, "confirm split": s.fp32_confirm.signature}
    if s.fidelity_search:  # fidelities by another distance must not mix
        made["distance"] = s.task.distance_name
    return made


def check_settings(s: Searcher, r: StudyRecord) -> None:
    """Record what the study is made with, once; refuse a resume with other settings (one
    message naming each, exit 2), before anything of the study is rewritten."""
    now, kept = made_with(s), r.get("settings")
    if kept is None:
        r.put("settings", now)
        return
    other = [f"{k} {kept[k]!r} (here {now[k]!r})" for k in now if k in kept and kept[k] != now[k]]
    if other:
        raise AutoqError(f"study {s.cfg.study!r} was made with {', '.join(other)}: resume it with "
                         f"the settings it was made with, or give a new --study")
    unknown = [k for k in now if k not in kept]
    if unknown:  # a study made by an earlier autoq: checked from this resume on
        tqdm.write(f"autoq: warning: study {s.cfg.study!r} was made before autoq recorded its "
                   f"{', '.join(unknown)}, so this resume cannot be checked against them; they "
                   f"are recorded as they are here, and later resumes are checked", file=sys.stderr)
        r.put("settings", {**now, **kept})


def seed_study(s: Searcher, bar=None) -> None:
    """FP32's figures once, then the seeded first trials not yet in the study: FP32, uniform
    int8, the space's seed recipes and the sensitivity ladder (a fidelity study: the budget
    sweep). ``bar`` (tqdm) moves as each is scored."""
    if bar is not None:
        bar.set_postfix_str("scoring FP32 on the search and confirm splits", refresh=True)
    record_reference(s)
    if bar is not None:
        bar.n = min(s.finished(), s.cfg.n_trials)
        bar.refresh()
    for line in notices(s):  # before the night, not after it
        tqdm.write(f"autoq: {line}", file=sys.stderr)
    if s.record().get("seeded"):  # by this process before, or by another on the study
        return
    done = {TrialRecord.of(t).seed for t in s.study.get_trials(deepcopy=False)}
    seeds = seed_recipes(s, done)
    graph = s.space.graph
    pending = [x for x in seeds if x[0] not in done]
    if bar is not None and bar.n + len(pending) > bar.total:
        bar.total = bar.n + len(pending)
        tqdm.write(f"autoq: --n-trials {s.cfg.n_trials} is fewer than the study's {len(seeds)} seed "
                   f"trials; all of them are scored, and no trial from the sampler", file=sys.stderr)
    for name, recipe, params in pending:
        if bar is not None:
            bar.set_postfix_str(f"seed {name}", refresh=True)
        text = (recipe or Recipe.build({"bits_weights": None, "bits_activations": None}, graph=graph)).to_yaml()
        left = None if s.deadline is None else s.deadline - time.monotonic()
        try:
            with time_limit(s.trial_limit(), left):
                value, score = seed_value(s, recipe)
        except AutoqError:
            raise
        except StudyTimeout:  # --timeout: the seeds left are scored when the study resumes
            return
        except (Exception, TrialTimeout) as e:  # a seed that breaks is recorded, like any trial
            reason = f"{e} (--trial-timeout)" if isinstance(e, TrialTimeout) else f"{type(e).__name__}: {e}"
            s.study.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.FAIL,
                user_attrs=TrialRecord(seed=name, recipe=text, fail_reason=reason).attrs()))
            if bar is not None:
                bar.update()
            continue
        s.study.add_trial(optuna.trial.create_trial(
            values=[value, *s.costs(recipe)],
            params=params, distributions=params and distributions(s.space, params),
            user_attrs=TrialRecord(seed=name, recipe=text, plan=recipe and s.plan_key(recipe),
                                   float_in_deploy=s.float_in_deploy(recipe)).attrs(),
            constraints=s.constraints(score)))
        if bar is not None:
            bar.update()
    s.record().put("seeded", True)


def seed_recipes(s: Searcher, done: set) -> list[tuple[str, Recipe | None, dict | None]]:
    """(name, recipe, the space's choices or None) of every seed: FP32, uniform int8, the
    space's seed files and the ladder or budget sweep. A graph study's say graph: true."""
    seeds: list[tuple[str, Recipe | None, dict | None]] = []
    if "fp32" in s.cfg.seeds:
        seeds.append(("fp32", None, None))
    graph = s.space.graph  # every recipe of a graph study says so: it names the traced model
    if "int8" in s.cfg.seeds:
        seeds.append(("int8", Recipe.build({"bits_weights": 8, "bits_activations": 8}, graph=graph), None))
    given = [dataclasses.replace(r, graph=True) if graph else r for r in s.space.seeds]
    seeds += [(n, r, s.space.express(r, s.model))  # expressed: local search starts there
              for n, r in zip(s.space.seed_names, given) if n not in done]
    if s.cfg.ladder > 0:  # points of the space: the sampler learns from them
        seeds += [(n, s.space.recipe(p), p) for n, p in ladder(s)]
    return seeds


def seed_value(s: Searcher, recipe: Recipe | None):
    """A seed's objective value, and its metric's score for constraints (None: FP32's, or
    a fidelity study, which has no constraints during the search)."""
    if s.fidelity_search:
        return s.objective.measure(recipe).value, None
    if recipe is None:
        return s.record().fp32_metric, None
    score = s.evaluate(recipe)
    return score.metric, score


def distributions(space, params: dict) -> dict:
    """Optuna's view of a seed's choices: each knob's choices in the space."""
    knobs = space.knobs()
    return {k: optuna.distributions.CategoricalDistribution(list(knobs[k])) for k in params}


def ladder(s: Searcher) -> list[tuple[str, dict]]:
    """The sensitivity ladder's seeds, within the study's constraints: by predicted
    metric drop up to --max-drop, or with --min-agreement by predicted disagreement with
    FP32 up to the share it allows (and no further than a predicted drop of --max-drop
    when both are given)."""
    table = sensitivity_table(s)
    if s.fidelity_search:  # the budget sweep: the best predicted recipe across all sizes
        return fidelity_table.sweep(s.space, table, s.cfg.ladder)
    if s.min_agreement is None:
        return sensitivity.ladder(s.space, table, s.cfg.ladder, s.cfg.max_drop)
    if table.disagree is None:
        raise AutoqError(f"the sensitivity table {sensitivity_path(s)} has no agreement "
                         f"with FP32 (made by an earlier autoq), which --min-agreement "
                         f"seeds by: measure it again (autoq sensitivity), or give --ladder 0")
    within = {} if s.cfg.max_drop is None else {"drops": s.cfg.max_drop}
    return sensitivity.ladder(s.space, table, s.cfg.ladder, 1 - s.min_agreement,
                              cost="disagree", within=within)


def sensitivity_path(s: Searcher) -> Path:
    name = "sensitivity-fidelity.json" if s.fidelity_search else "sensitivity.json"
    return s.cfg.sensitivity or s.cfg.out / name


def sensitivity_table(s: Searcher) -> sensitivity.Table:
    """The given table, else the study folder's, measured there the first time."""
    path = sensitivity_path(s)
    if s.cfg.sensitivity is not None or path.is_file():
        table = sensitivity.load(path)
        s.check_model(table.model_key, f"sensitivity file {path}",
                      "measure it on this model (autoq sensitivity), or leave out --sensitivity")
        if (table.kind == "fidelity") != s.fidelity_search:
            raise AutoqError(f"sensitivity file {path} measures {table.kind}, "
                             f"this study is scored by {s.objective.name}: measure it with "
                             f"autoq sensitivity --objective {s.objective.name}")
        return table
    kept = fidelity_table.cached(s, s.cfg.sensitivity_fraction) if s.fidelity_search else None
    if kept is not None and kept.is_file():
        table = sensitivity.load(kept)
        print(f"sensitivity: the table measured before for this model, pool and space ({kept})",
              file=sys.stderr)
    else:
        kind = fidelity_table if s.fidelity_search else sensitivity
        measure, jobs = kind.measure, kind.jobs
        with tqdm(total=len(jobs(s.space)), unit="eval", desc="sensitivity", disable=not s.cfg.progress) as bar:
            table = measure(s, s.cfg.sensitivity_fraction, bar.update)
        if kept is not None:
            sensitivity.save(table, kept)
    sensitivity.save(table, path)
    return table
