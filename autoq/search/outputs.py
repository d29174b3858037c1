"""Anytime results of a study: pareto.csv, pareto.json and recipes/, rewritten atomically."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Callable

import optuna

from ..io import write_atomic
from .config import LATENCY
from .front import pareto_indices
from .front_point import COLUMNS, FrontPoint
from .record import StudyRecord
from .trial_record import TrialRecord


def completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def feasible(t: optuna.trial.FrozenTrial) -> bool:
    return all(v <= 0.0 for v in t.constraints.values())


def sign_of(study: optuna.Study) -> float:
    """+1 when the study's first objective is maximized (a metric), -1 when minimized
    (the fidelity objective's distance from FP32)."""
    return 1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1.0


def front_of(trials: list[optuna.trial.FrozenTrial], margin: float = 0.0,
             sign: float = 1.0) -> list[optuna.trial.FrozenTrial]:
    """The feasible ones of completed ``trials`` on the Pareto front of their values
    (objective, size and maybe latency), smallest first; with a ``margin``, also those
    within it of the front (``pareto_indices``). ``sign`` -1: the objective is minimized."""
    trials = [t for t in trials if feasible(t)]
    return [trials[i] for i in pareto_indices([(sign * t.values[0], *t.values[1:]) for t in trials], margin)]


def front_trials(study: optuna.Study, margin: float = 0.0) -> list[optuna.trial.FrozenTrial]:
    return front_of(completed(study), margin, sign_of(study))


def recipe_path(trial: optuna.trial.FrozenTrial) -> str:
    return f"recipes/{trial.number:05d}.yaml"


def front_rows(study: optuna.Study, confirm: Callable | None, margin: float = 0.0) -> list[FrontPoint]:
    """One row per front point, and with a ``margin`` per point within it of the front
    (``near``: the search split cannot tell it from the front, so it is scored on confirm
    as well). ``confirm`` scores a point on the confirm split (a ``Confirmed``, kept in the
    study)."""
    record = StudyRecord(study)  # one read; what is scored below is added to it
    done, sign = completed(study), sign_of(study)
    strict = {t.number for t in front_of(done, sign=sign)}
    rows = []
    for t in front_of(done, margin, sign):
        if record.stale(t.number) and confirm is not None:
            record.put_confirmed(t.number, confirm(t))
        rows.append(row(t, record, near=t.number not in strict, metric=t.values[0]))
    return rows


def row(t: optuna.trial.FrozenTrial, record: StudyRecord, near: bool, metric: float,
        fidelity: float | None = None) -> FrontPoint:
    """A trial as a front point."""
    c = record.confirmed(t.number)
    low, high = (c.delta if c is not None and c.delta else (None, None))
    fp32_size = record.get("fp32_size_bytes")
    r = TrialRecord.of(t)
    return FrontPoint(trial=t.number, metric=metric, size_bytes=int(t.values[1]),
                      size_ratio=round(t.values[1] / fp32_size, 4) if fp32_size else None,
                      recipe=recipe_path(t), fidelity=fidelity,
                      confirm_metric=c.metric if c else None,
                      confirm_delta_low=low, confirm_delta_high=high,
                      beats_chance=c.beats_chance if c else None, near=near, seed=r.seed,
                      float_in_deploy=r.float_in_deploy,
                      latency_ratio=round(t.values[2], 4) if len(t.values) > 2 else None)


def write_results(study: optuna.Study, out: Path, points: list[FrontPoint]) -> None:
    """Recipes first, then the front that points at them, so every file is always valid."""
    for t in completed(study):  # a file left by another study of this name is replaced
        path, text = out / recipe_path(t), TrialRecord.one(t, "recipe")
        if not path.is_file() or path.read_text(errors="replace") != text:
            write_atomic(path, text)
    rows = [p.to_json() for p in points]
    buf = io.StringIO()
    fields = COLUMNS + ((LATENCY,) if len(study.directions) > 2 else ())
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out / "pareto.csv", buf.getvalue())
    write_atomic(out / "pareto.json", json.dumps(rows, indent=1) + "\n")
