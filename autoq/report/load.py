"""A study's trials as plain points for the report, read from its storage and search.json."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from ..errors import AutoqError
from ..search.front import pareto_indices
from ..search.front_point import FrontPoint
from ..search.outputs import feasible, front_rows
from ..search.pick import load_front, pick
from ..search.study_meta import StudyMeta
from ..search.record import StudyRecord
from ..search.storage import open_storage
from ..search.trial_record import TrialRecord
from .settings import settings_lines

State = optuna.trial.TrialState


@dataclass
class Point:
    trial: int
    kind: str  # fp32, seed, searched, infeasible (over max drop or under min agreement) or pruned
    size_bytes: float
    metric: float  # the partial metric (low fidelity) for pruned trials
    seed: str | None = None
    confirm: float | None = None  # front points only
    on_front: bool = False  # in pareto.json: on the front, or within its margin
    settings: list[str] = field(default_factory=list)
    latency: float | None = None  # deployed time over FP32's, when the study measures it
    confirm_delta: str = ""  # front points: the confirm metric less FP32's, 95% interval
    near: bool = False  # kept only by the front margin (--front-margin)


@dataclass(frozen=True)
class Int8:
    """The uniform int8 seed: its size, its objective's value and its metric (None: a
    fidelity study did not score it)."""

    size_bytes: float
    value: float
    metric: float | None


@dataclass
class StudyData:
    name: str
    meta: StudyMeta  # search.json
    points: list[Point]
    front: list[FrontPoint]  # as in pareto.json, smallest first
    states: Counter  # trial state name (lower case) -> count
    failures: Counter  # fail reason -> count
    stored: bool = True  # False: read from the front files alone (no storage in the folder)
    int8: Int8 | None = None  # the uniform int8 seed, when the study has it

    def y_view(self) -> tuple[float, float] | None:
        """The metric's range shown: zoomed on the front when far worse points would squash
        it (they are drawn at the edge and listed apart); None keeps every point in view."""
        top = max([p.metric for p in self.points] + [self.meta.fp32_metric])
        front = [r.metric for r in self.front] or [top]
        span = max(top - min(front), 0.02 * abs(top), 1e-6)
        low = min(front) - 1.5 * span
        if min(p.metric for p in self.points) >= low:
            return None
        return low, top + 0.08 * span

    def below_view(self) -> list[Point]:
        view = self.y_view() if self.points else None
        return [p for p in self.points if view and p.metric < view[0]]

    @property
    def metric_name(self) -> str:
        return self.meta.metric_name

    @property
    def off_line_label(self) -> str:
        """What a front point off the metric-size line is: on the fidelity front (a fidelity
        study), else on the front by its latency."""
        return "fidelity" if self.meta.by_fidelity else "faster"

    @property
    def near_count(self) -> int:
        """Rows of the front kept only by its margin."""
        return sum(r.near for r in self.front)

    @property
    def fp32_size(self) -> float:
        return float(self.meta.fp32_size_bytes)

    def ratio(self, size_bytes: float) -> float:
        return size_bytes / self.fp32_size

    def marks(self) -> list[tuple[float, str, str]]:
        """Levels of the search-split metric drawn across the chart: (value, label, kind),
        the drop limit ("limit") and the task's constant answer ("chance")."""
        m, out = self.meta, []
        if m.max_drop is not None:
            out.append((m.fp32_metric - m.sign * m.max_drop, f"max drop {m.max_drop:g}", "limit"))
        if m.chance_metric is not None:
            out.append((m.chance_metric, "constant answer", "chance"))
        return out

    @property
    def tolerance(self) -> float:
        """The drop a pick allows: the study's --max-drop, else 1% of FP32's metric."""
        m = self.meta
        return m.max_drop if m.max_drop is not None else 0.01 * abs(m.fp32_metric)

    def recommended(self) -> FrontPoint | None:
        """The front row ``autoq pareto --max-drop`` picks at ``tolerance`` (None: none fits)."""
        try:
            return pick(self.meta, self.front, self.tolerance)
        except AutoqError:
            return None

    def size_front(self) -> list[Point]:
        """Front points that no front point beats on metric and size alone, smallest first:
        the whole front without a latency objective; with one, the faster ones are left out."""
        front = [p for p in self.points if p.on_front and not p.near]
        return sorted((front[i] for i in pareto_indices([(p.metric, p.size_bytes) for p in front])),
                      key=lambda p: p.size_bytes)


def studies_in(results: Path) -> list[str]:
    return sorted(p.name for p in results.iterdir() if (p / "search.json").is_file()) \
        if results.is_dir() else []


def load_study_data(study_dir: Path, storage: str | None = None) -> StudyData:
    """Everything the report shows; AutoqError when ``study_dir`` is not a study's folder."""
    if not study_dir.is_dir():
        known = ", ".join(studies_in(study_dir.parent)) or "none"
        raise AutoqError(f"study folder {study_dir} does not exist (studies in "
                         f"{study_dir.parent}: {known})")
    meta, rows = load_front(study_dir)  # raises if search.json or pareto.json is missing or bad
    name = study_dir.resolve().name
    if storage is None and not (study_dir / "study.db").is_file():
        if not rows:
            raise AutoqError(f"study folder {study_dir} has no study.db and an empty front (if "
                             f"the search used --storage URL, pass the same URL with --storage)")
        return StudyData(name, meta, [front_point(r) for r in rows], rows, Counter(), Counter(),
                         stored=False)
    store = open_storage(storage, study_dir)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        known = ", ".join(optuna.get_all_study_names(store)) or "none"
        raise AutoqError(f"the storage of {study_dir} holds no study named {name!r} "
                         f"(studies there: {known})") from None

    # as pareto.json, from the same snapshot as the points; a fidelity study's front is
    # what its end decided (search/decide.py), and only trials the metric was scored on
    # are points of the metric's chart
    fidelity = meta.by_fidelity
    record = StudyRecord(study) if fidelity else None
    front = rows if fidelity else front_rows(study, None, meta.front_margin)
    points, states, failures = _points(study, front, record)
    int8 = next((t for t in study.get_trials(deepcopy=False, states=(State.COMPLETE,))
                 if TrialRecord.of(t).seed == "int8"), None)
    baseline = None if int8 is None else Int8(int8.values[1], int8.values[0],
                                              record.metric(int8.number) if record else int8.values[0])
    return StudyData(name, meta, points, front, states, failures, int8=baseline)


def _points(study: optuna.Study, front: list[FrontPoint],
            record: StudyRecord | None) -> tuple[list[Point], Counter, Counter]:
    """The study's trials as chart points (a fidelity study, whose ``record`` is given:
    those the metric was scored on), with the count of each state and of each failure
    reason."""
    confirm = {r.trial: r.confirm_metric for r in front}
    near = {r.trial for r in front if r.near}
    deltas = {r.trial: r.delta_text() + ("; no better than a constant answer"
                                         if r.beats_chance is False else "") for r in front}
    points, states, failures = [], Counter(), Counter()
    for t in study.get_trials(deepcopy=False):
        states[t.state.name.lower()] += 1
        r = TrialRecord.of(t)
        seed = None if r.seed is None else str(r.seed)
        if record is not None and not record.scored(t.number):
            continue
        if t.state == State.COMPLETE and t.values and t.values[1] > 0:  # > 0: a log axis
            kind = "fp32" if seed == "fp32" else "seed" if seed else \
                "searched" if feasible(t) else "infeasible"
            metric = record.metric(t.number) if record is not None else t.values[0]
            points.append(Point(t.number, kind, t.values[1], metric, seed,
                                confirm.get(t.number), t.number in confirm, settings_lines(t),
                                t.values[2] if len(t.values) > 2 else None, deltas.get(t.number, ""),
                                t.number in near))
        elif t.state == State.PRUNED:
            partial, size = r.partial_metric, r.size_bytes
            if isinstance(partial, (int, float)) and isinstance(size, (int, float)) and size > 0:
                points.append(Point(t.number, "pruned", size, partial, seed,
                                    settings=settings_lines(t),
                                    latency=r.latency_ratio))
        elif t.state == State.FAIL:
            failures[str(r.fail_reason or "no reason recorded (interrupted?)")] += 1
    return points, states, failures


def front_point(r: FrontPoint) -> Point:
    """A chart point from a front point, for a folder that holds the front but not the study."""
    seed = None if r.seed is None else str(r.seed)
    kind = "fp32" if seed == "fp32" else "seed" if seed else "searched"
    return Point(r.trial, kind, r.size_bytes, r.metric, seed, r.confirm_metric, True,
                 latency=r.latency_ratio, confirm_delta=r.delta_text(), near=r.near)
