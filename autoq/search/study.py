"""The search: a multi-objective Optuna study (metric up, size down) driven by ask/tell.

Each trial builds a recipe from the space, quantizes the prepared model with the
study's one set of statistics, scores it on a fraction of the search split first and
stops there when it is already clearly dominated or breaks the drop constraint.
"""
from __future__ import annotations

import json
import math
import random
import re
import time
import traceback
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import optuna
import torch
from tqdm import tqdm

from ..errors import AutoqError
from ..evaluate import default_device, prepare_task, task_stats
from ..quant import quantize, size_report
from ..quant.plan import make_plan
from ..recipe import Recipe
from ..tasks import get_task
from . import sensitivity
from .front import dominates
from ..io import write_atomic
from .neighbours import draw_parent, neighbour
from .outputs import LATENCY, completed, front_of, front_rows, front_trials, write_results
from .space import SearchSpace
from .storage import heartbeat, open_storage

SAMPLERS = ("tpe", "nsga2", "gp", "random")
GIVE_UP_AFTER = 200  # repeated proposals in a row: the space holds nothing new
NEIGHBOUR_CHANGES = 2  # knobs changed in a repeated proposal's neighbour
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)


@dataclass(frozen=True)
class SearchConfig:
    task: str
    space: str
    study: str
    results: Path = Path("results")
    storage: str | None = None
    n_trials: int = 100
    timeout_s: float | None = None
    sampler: str = "tpe"
    seed: int = 0
    max_drop: float | None = None
    fidelity: float = 0.25  # fraction scored first; 1.0 turns multi-fidelity off
    prune_margin: float | None = None  # default: 2% of the FP32 metric
    device: str | None = None
    workers: int = 1
    progress: bool = True
    seeds: tuple[str, ...] = ("fp32", "int8")
    ladder: int = 5  # seeds from sensitivity analysis (0: none)
    local: float = 0.5  # share of trials that are a front point's neighbour (0: the sampler alone)
    sensitivity: Path | None = None  # a saved table; default: measured once into the study folder
    sensitivity_fraction: float = 0.5  # of the search split, when measured here
    heartbeat_s: float = 10.0  # trials of a worker silent for 3 heartbeats are re-run
    latency: bool = False  # a third objective: the deployed model's time over FP32's

    @property
    def out(self) -> Path:
        return self.results / self.study

    @property
    def objectives(self) -> tuple[str, ...]:
        """The study's values, in order: the metric (up), then costs (down)."""
        return ("metric", "size_bytes") + ((LATENCY,) if self.latency else ())


def parse_duration(text: str) -> float:
    """'8h', '30m', '90s' or plain seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not m:
        raise AutoqError(f"timeout {text!r} is not a duration (allowed: e.g. 8h, 30m, 90s, 3600)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def make_sampler(name: str, seed: int):
    """Optuna's samplers by name; all honour the trials' constraints (max drop)."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise AutoqError(f"sampler {name!r} is not known (allowed: {', '.join(SAMPLERS)})")


class Searcher:
    """One worker: the task, its prepared model and statistics, and the study."""

    def __init__(self, cfg: SearchConfig, worker: int = 0):
        self.cfg, self.worker = cfg, worker
        self.device = cfg.device or default_device()
        if self.device == "cuda" and torch.cuda.device_count() > 1:
            self.device = f"cuda:{worker % torch.cuda.device_count()}"
        self.task = get_task(cfg.task)
        self.space = SearchSpace.load(cfg.space)
        self.model = prepare_task(self.task, self.space.graph)
        self.space.bind([n for n, _ in self.model.named_modules()])
        self.stats = task_stats(self.task, self.model)

    @cached_property
    def study(self) -> optuna.Study:
        """The study, created or resumed in its storage on first use."""
        study = optuna.create_study(
            study_name=self.cfg.study,
            storage=open_storage(self.cfg.storage, self.cfg.out, self.cfg.heartbeat_s),
            directions=["maximize"] + ["minimize"] * (len(self.cfg.objectives) - 1),
            load_if_exists=True, sampler=make_sampler(self.cfg.sampler, self.cfg.seed + self.worker))
        if len(study.directions) != len(self.cfg.objectives):
            made = "with" if len(study.directions) > 2 else "without"
            raise AutoqError(f"study {self.cfg.study!r} was made {made} the latency objective: "
                             f"resume it {made} --latency, or give a new --study")
        resumed = len(study.get_trials(deepcopy=False))
        if resumed:  # a fresh stream, else the sampler replays the proposals it made before
            study.sampler = make_sampler(self.cfg.sampler, hash((self.cfg.seed, self.worker, resumed)) % 2 ** 31)
        return study

    @cached_property
    def rng(self) -> random.Random:
        """Local search's choices: a fresh stream on resume, as for the sampler."""
        return random.Random(hash((self.cfg.seed, self.worker, len(self.study.get_trials(deepcopy=False)))))

    def plan_key(self, recipe: Recipe) -> str:
        return make_plan(self.model, recipe).key

    def evaluated(self, key: str, text: str) -> optuna.trial.FrozenTrial | None:
        """A finished trial that quantized the model the same way: the sampler proposed
        it again. (Trials of studies made before the plan key match on recipe text.)"""
        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        for t in self.study.get_trials(deepcopy=False, states=done):
            attrs = t.user_attrs
            if attrs["plan"] == key if "plan" in attrs else attrs.get("recipe") == text:
                return t
        return None

    # --- scoring ------------------------------------------------------------
    def score(self, recipe: Recipe | None, fraction: float = 1.0, split: str = "search") -> float:
        model = self.task.build_model() if recipe is None else quantize(self.model, recipe, self.stats)
        model = model.to(self.device)
        while True:
            try:
                value = self.task.evaluate(model, split=split, fraction=fraction, device=self.device).metric
                break
            except torch.cuda.OutOfMemoryError:  # retry with half the batch, down to one
                batch = getattr(self.task, "batch_size", 1)
                if batch <= 1:
                    raise
                self.task.batch_size = batch // 2
                torch.cuda.empty_cache()
        if not math.isfinite(value):
            raise FloatingPointError(f"the metric is {value}")
        return value

    def size(self, recipe: Recipe | None) -> int:
        return size_report(self.model, recipe, self.stats).total_bytes

    def costs(self, recipe: Recipe | None) -> list[float]:
        """The objectives after the metric: size, and latency over FP32's when asked for."""
        return [self.size(recipe)] + ([self.latency(recipe)] if self.cfg.latency else [])

    @cached_property
    def timing(self):
        """(FP32's model on the device, the batch it and each recipe are timed on)."""
        return self.task.build_model().eval().to(self.device), self.task.calibration_batches()[0]

    def latency(self, recipe: Recipe | None) -> float:
        if recipe is None:
            return 1.0
        from ..deploy.latency import relative_latency  # the kernels load only when asked for
        try:
            model, sample = self.timing
            return relative_latency(model, recipe, self.stats, sample, self.device)
        except AutoqError as e:  # this recipe does not deploy: its trial fails, the night goes on
            raise RuntimeError(f"deploy for latency: {e}") from None

    def constraint(self, metric: float) -> float:
        fp32 = self.study.user_attrs["fp32_metric"]
        return (fp32 - metric) - self.cfg.max_drop if self.cfg.max_drop is not None else 0.0

    def confirm(self, trial: optuna.trial.FrozenTrial) -> float:
        recipe = Recipe.from_yaml(trial.user_attrs["recipe"]) if trial.user_attrs.get("seed") != "fp32" \
            else None
        return self.score(recipe, split="confirm")

    # --- set-up: FP32 reference and seeded trials ---------------------------
    def seed_study(self, extra: list[tuple[str, Recipe]] = ()) -> None:
        if "fp32_metric" not in self.study.user_attrs:
            self.study.set_user_attr("fp32_metric", self.score(None))
            self.study.set_user_attr("fp32_size_bytes", self.size(None))
            self.study.set_user_attr("fp32_confirm_metric", self.score(None, split="confirm"))
            self.study.set_user_attr("task", self.cfg.task)
        done = {t.user_attrs.get("seed") for t in self.study.get_trials(deepcopy=False)}
        seeds: list[tuple[str, Recipe | None, dict | None]] = []  # (name, recipe, choices)
        if "fp32" in self.cfg.seeds:
            seeds.append(("fp32", None, None))
        if "int8" in self.cfg.seeds:
            seeds.append(("int8", Recipe.build({"bits_weights": 8, "bits_activations": 8}), None))
        seeds += [(n, r, self.space.express(r, self.model))  # expressed: local search starts there
                  for n, r in zip(self.space.seed_names, self.space.seeds) if n not in done]
        seeds += [(n, r, None) for n, r in extra]
        if self.cfg.ladder > 0:  # points of the space: the sampler learns from them
            seeds += [(n, self.space.recipe(p), p) for n, p in sensitivity.ladder(
                self.space, self.sensitivity_table(), self.cfg.ladder, self.cfg.max_drop)]
        for name, recipe, params in seeds:
            if name in done:
                continue
            text = (recipe or Recipe.build({"bits_weights": None, "bits_activations": None})).to_yaml()
            try:
                metric = self.study.user_attrs["fp32_metric"] if recipe is None else self.score(recipe)
            except AutoqError:
                raise
            except Exception as e:  # a seed that breaks is recorded, like any trial
                self.study.add_trial(optuna.trial.create_trial(
                    state=optuna.trial.TrialState.FAIL,
                    user_attrs={"seed": name, "recipe": text, "fail_reason": f"{type(e).__name__}: {e}"}))
                continue
            self.study.add_trial(optuna.trial.create_trial(
                values=[metric, *self.costs(recipe)],
                params=params, distributions=params and self.distributions(params),
                user_attrs={"seed": name, "recipe": text,
                            **({"plan": self.plan_key(recipe)} if recipe else {})},
                constraints={"max_drop": self.constraint(metric)}))

    def distributions(self, params: dict) -> dict:
        knobs = self.space.knobs()
        return {k: optuna.distributions.CategoricalDistribution(list(knobs[k])) for k in params}

    def sensitivity_table(self) -> dict:
        """The given table, else the study folder's, measured there the first time."""
        path = self.cfg.sensitivity or self.cfg.out / "sensitivity.json"
        if self.cfg.sensitivity is not None or path.is_file():
            return sensitivity.load(path)
        n = len(sensitivity.jobs(self.space))
        with tqdm(total=n, unit="eval", desc="sensitivity", disable=not self.cfg.progress) as bar:
            table = sensitivity.measure(self, self.cfg.sensitivity_fraction, bar.update)
        sensitivity.save(table, path)
        return table

    # --- the loop -----------------------------------------------------------
    def finished(self) -> int:
        """Trials that scored a recipe or found it broken. A repeated proposal does not
        count, nor a trial cut short (its worker killed: it is run again)."""
        return sum("same_as" not in t.user_attrs and
                   (t.state != optuna.trial.TrialState.FAIL or "fail_reason" in t.user_attrs)
                   for t in self.study.get_trials(deepcopy=False, states=FINISHED))

    def enqueue_neighbour(self, trial: optuna.trial.FrozenTrial, changes: int, why: str) -> None:
        """Queue a neighbour of ``trial`` (``changes`` knobs moved) as the next trial."""
        if trial.params:
            params = neighbour(trial.params, self.space.knobs(), changes, self.rng)
            self.study.enqueue_trial(params, user_attrs={why: trial.number})

    def enqueue_local(self) -> None:
        """Pareto local search: a neighbour of a front point or of one of the space's seed
        recipes (hand-tuned starting points stay parents when the front passes them)."""
        done = completed(self.study)
        front = front_of(done)
        on_front = {t.number for t in front}
        seeds = [t for t in done if t.user_attrs.get("seed") in self.space.seed_names
                 and t.number not in on_front]
        parent = draw_parent(front, seeds, self.rng)
        if parent is not None:
            self.enqueue_neighbour(parent, self.rng.choice((1, 2)), "local_of")

    def clearly_dominated(self, metric: float, costs: list[float]) -> bool:
        margin = self.cfg.prune_margin
        if margin is None:
            margin = 0.02 * abs(self.study.user_attrs["fp32_metric"])
        if self.cfg.max_drop is not None and self.constraint(metric + margin) > 0:
            return True
        return any(dominates(t.values, (metric + margin, *costs)) for t in front_trials(self.study))

    def run_trial(self) -> optuna.trial.FrozenTrial:
        optuna.storages.fail_stale_trials(self.study)
        trial = self.study.ask()
        with heartbeat(self.study, trial):
            try:
                recipe = self.space.suggest(trial)
                text = recipe.to_yaml()
                trial.set_user_attr("recipe", text)
                key = self.plan_key(recipe)
                trial.set_user_attr("plan", key)
                same = self.evaluated(key, text)
                if same is not None:  # scored already: not again, and not counted
                    trial.set_user_attr("same_as", same.number)  # FAIL: the sampler skips it
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    return self.study.trials[trial.number]
                costs = self.costs(recipe)
                for name, value in zip(self.cfg.objectives[1:], costs):
                    trial.set_user_attr(name, value)  # a pruned trial's, for the report
                if self.cfg.fidelity < 1.0:
                    partial = self.score(recipe, self.cfg.fidelity)
                    trial.set_user_attr("partial_metric", partial)
                    if self.clearly_dominated(partial, costs):
                        self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                        return self.study.trials[trial.number]
                metric = self.score(recipe)
                trial.set_constraint("max_drop", self.constraint(metric))
                self.study.tell(trial, [metric, *costs])
            except (AutoqError, KeyboardInterrupt):
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            except Exception as e:  # a trial's failure must not end the night
                trial.set_user_attr("fail_reason", f"{type(e).__name__}: {e}")
                trial.set_user_attr("traceback", traceback.format_exc()[-2000:])
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return self.study.trials[trial.number]

    def write(self) -> list[dict]:
        rows = front_rows(self.study, self.confirm)
        write_results(self.study, self.cfg.out, rows)
        return rows

    def loop(self) -> None:
        cfg, start = self.cfg, time.monotonic()
        optuna.storages.fail_stale_trials(self.study)  # also when the study is already done
        bar = tqdm(total=cfg.n_trials, initial=min(self.finished(), cfg.n_trials), unit="trial",
                   disable=not cfg.progress or self.worker != 0, dynamic_ncols=True)
        failures_in_a_row = repeats = 0
        while self.finished() < cfg.n_trials:
            if cfg.timeout_s is not None and time.monotonic() - start > cfg.timeout_s:
                break
            if self.rng.random() < cfg.local:
                self.enqueue_local()
            t = self.run_trial()
            if "same_as" in t.user_attrs:  # TPE re-proposes a front point when nothing beats it
                self.enqueue_neighbour(t, NEIGHBOUR_CHANGES, "neighbour_of")
                repeats += 1
                if repeats >= GIVE_UP_AFTER:
                    tqdm.write(f"autoq: stopped: the last {repeats} proposals were all recipes "
                               f"scored before (the space holds nothing new)")
                    break
                continue
            repeats = 0
            failures_in_a_row = failures_in_a_row + 1 if t.state is optuna.trial.TrialState.FAIL else 0
            if failures_in_a_row >= 5 and not completed_search_trials(self.study):
                raise AutoqError(failure_summary(self.study))
            rows = self.write()
            bar.n = min(self.finished(), cfg.n_trials)
            bar.set_postfix_str(front_summary(rows), refresh=False)
            bar.refresh()
        bar.close()


def completed_search_trials(study: optuna.Study) -> list:
    return [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if "seed" not in t.user_attrs]


def failure_summary(study: optuna.Study) -> str:
    failed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    reasons: dict[str, int] = {}
    for t in failed:
        reason = t.user_attrs.get("fail_reason", "unknown")
        reasons[reason] = reasons.get(reason, 0) + 1
    listed = "; ".join(f"{n}x {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
    return (f"every searched trial failed ({len(failed)} failures, no completed trial), so the "
            f"search stops instead of running on: {listed}")


def front_summary(rows: list[dict]) -> str:
    """'front 4 | 31.2@8.1MB 30.5@4.0MB ...' (best metric at each size so far; with the
    latency objective, '@8.1MB/0.45x': the time over FP32's)."""
    points = " ".join(f"{r['metric']:.3g}@{r['size_bytes'] / 1e6:.2g}MB"
                      + (f"/{r[LATENCY]:.2f}x" if LATENCY in r else "") for r in rows[-4:])
    return f"front {len(rows)} | {points}"


def _worker(cfg: SearchConfig, worker: int) -> None:
    Searcher(cfg, worker).loop()


def run_search(cfg: SearchConfig) -> list[dict]:
    """Run (or resume) a study to ``n_trials`` finished trials; return the front's rows."""
    if cfg.sampler not in SAMPLERS:
        raise AutoqError(f"sampler {cfg.sampler!r} is not known (allowed: {', '.join(SAMPLERS)})")
    if not 0.0 <= cfg.local <= 1.0:
        raise AutoqError(f"local = {cfg.local} is not allowed (allowed: a share from 0 to 1)")
    if cfg.workers < 1:
        raise AutoqError(f"workers = {cfg.workers} is not allowed (allowed: 1 or more)")
    searcher = Searcher(cfg)
    searcher.seed_study()
    searcher.write()
    attrs = searcher.study.user_attrs
    write_atomic(cfg.out / "search.json", json.dumps(
        {"task": cfg.task, "space": str(cfg.space), "sampler": cfg.sampler, "seed": cfg.seed,
         "max_drop": cfg.max_drop, "fidelity": cfg.fidelity, "ladder": cfg.ladder, "local": cfg.local,
         "objectives": list(cfg.objectives),
         "metric_name": searcher.task.metric_name, "fp32_metric": attrs["fp32_metric"],
         "fp32_confirm_metric": attrs["fp32_confirm_metric"],
         "fp32_size_bytes": attrs["fp32_size_bytes"]}, indent=1) + "\n")
    if cfg.workers == 1:
        searcher.loop()
    else:
        from joblib import Parallel, delayed
        Parallel(n_jobs=cfg.workers, backend="loky")(
            delayed(_worker)(replace(cfg, progress=(i == 0)), i) for i in range(cfg.workers))
    return searcher.write()
