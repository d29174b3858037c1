"""The night's loop: trials until the budget, the front written after each, on one or
several worker processes."""
from __future__ import annotations

import time

import optuna
from tqdm import tqdm

from ..errors import AutoqError
from .config import SearchConfig
from .decide import fidelity_front
from .front_point import FrontPoint
from .searcher import Searcher
from .meta import write_meta
from .front import drop_kept
from .proposals import LocalSearch, Neighbour, Refine
from .limits import StudyTimeout
from .lock import study_lock
from .start import preflight, seed_study
from .trial_record import TrialRecord
from .workers import supervise

GIVE_UP_AFTER = 200  # repeated proposals in a row: the space holds nothing new
NEIGHBOUR_CHANGES = 2  # knobs changed in a repeated proposal's neighbour


def trial_bar(searcher: Searcher, opened: bool = True) -> tqdm:
    """The trials' progress bar (worker 0's), from the first seed on; ``opened``: the study
    exists already, and the bar starts at its finished trials."""
    cfg = searcher.cfg
    return tqdm(total=cfg.n_trials, initial=min(searcher.finished(), cfg.n_trials) if opened else 0,
                unit="trial", desc="trials", disable=not cfg.progress or searcher.worker != 0,
                dynamic_ncols=True)


def local_search(searcher: Searcher) -> LocalSearch:
    """Pareto local search on the study's front, its hypervolume measured from the worst
    metric worth keeping (FP32's less --max-drop, else less REF_DROP of it; a fidelity
    study: the front's worst distance) and FP32's costs."""
    r, cfg, sign = searcher.record(), searcher.cfg, searcher.objective.sign
    worst = None
    if not searcher.fidelity_search:  # oriented: higher is better
        worst = sign * r.fp32_metric - drop_kept(r.fp32_metric, cfg.max_drop)
    return LocalSearch(searcher.space, searcher.handle.rng, sign, worst,
                       (r.fp32_size,) + ((1.0,) if cfg.latency else ()))


def loop(searcher: Searcher, bar: tqdm | None = None) -> None:
    """Run trials until the study has ``n_trials`` finished ones (or the timeout), writing
    the front after each."""
    cfg = searcher.cfg
    if searcher.deadline is None and cfg.timeout_s is not None:  # a worker's own clock
        searcher.deadline = time.monotonic() + cfg.timeout_s
    bar = bar if bar is not None else trial_bar(searcher)
    local, again = local_search(searcher), Neighbour(searcher.space, searcher.handle.rng)
    failures_in_a_row = repeats = 0
    while searcher.deadline is None or time.monotonic() < searcher.deadline:
        if searcher.handle.rng.random() < cfg.local:
            local.queue(searcher.study)
        trial = searcher.handle.next_trial()  # None: every trial the study needs is done or running
        if trial is None:
            break
        try:
            t = searcher.run_trial(trial)
        except StudyTimeout:  # --timeout came during the trial: it is re-run on resume
            break
        if TrialRecord.of(t).same_as is not None:  # TPE re-proposes a front point when nothing beats it
            again.queue(searcher.study, t, NEIGHBOUR_CHANGES, "neighbour_of")
            repeats += 1
            if repeats >= GIVE_UP_AFTER:
                tqdm.write(f"autoq: stopped: the last {repeats} proposals were all recipes "
                           f"scored before (the space holds nothing new)")
                break
            continue
        repeats = 0
        failures_in_a_row = failures_in_a_row + 1 if t.state is optuna.trial.TrialState.FAIL else 0
        if failures_in_a_row >= 5 and not completed_search_trials(searcher.study):
            raise AutoqError(failure_summary(searcher.study))
        rows = searcher.write()
        bar.n = min(searcher.finished(), cfg.n_trials)
        bar.set_postfix_str(fidelity_summary(searcher) if searcher.fidelity_search
                            else front_summary(rows), refresh=False)
        bar.refresh()
    bar.close()


def completed_search_trials(study: optuna.Study) -> list:
    return [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if TrialRecord.of(t).seed is None]


def failure_summary(study: optuna.Study) -> str:
    failed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    reasons: dict[str, int] = {}
    for t in failed:
        reason = TrialRecord.of(t).fail_reason or "unknown"
        reasons[reason] = reasons.get(reason, 0) + 1
    listed = "; ".join(f"{n}x {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
    return (f"every searched trial failed ({len(failed)} failures, no completed trial), so the "
            f"search stops instead of running on: {listed}")


def front_summary(rows: list[FrontPoint]) -> str:
    """'front 4 | 31.2@8.1MB 30.5@4.0MB ...' (best metric at each size so far; with the
    latency objective, '@8.1MB/0.45x': the time over FP32's)."""
    points = " ".join(f"{r.metric:.3g}@{r.size_bytes / 1e6:.2g}MB"
                      + ("" if r.latency_ratio is None else f"/{r.latency_ratio:.2f}x") for r in rows[-4:])
    return f"front {len(rows)} | {points}"


def fidelity_summary(searcher: Searcher) -> str:
    """'fidelity front 7 | 0.0031@8.1MB ...' (least distance from FP32 at each size so far)."""
    front = fidelity_front(searcher.study)
    points = " ".join(f"{t.values[0]:.2g}@{t.values[1] / 1e6:.2g}MB" for t in front[-4:])
    return f"fidelity front {len(front)} | {points}"


def run_search(cfg: SearchConfig) -> list[FrontPoint]:
    """Run (or resume) a study to ``n_trials`` finished trials; return the front's rows."""
    searcher = Searcher(cfg)
    if cfg.timeout_s is not None:  # seeding counts toward --timeout too
        searcher.deadline = time.monotonic() + cfg.timeout_s
    bar = trial_bar(searcher, opened=False)  # the study is checked before it is opened
    preflight(searcher)
    with study_lock(searcher.handle.storage, cfg.study):  # one process seeds; the others wait
        seed_study(searcher, bar)
        Refine(searcher.space, searcher.handle.rng, searcher.refine, searcher.size,
               searcher.plan_key).queue(searcher.study)
    searcher.write()
    write_meta(searcher)
    if cfg.workers == 1:
        loop(searcher, bar)
    else:
        bar.close()
        supervise(cfg, lambda: searcher.finished() < cfg.n_trials)
    return searcher.write(decide=True)
