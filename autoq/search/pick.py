"""Reading a finished (or running) study's front from its results folder."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import AutoqError
from ..fidelity import fidelity_text
from .config import LATENCY
from .front_point import FrontPoint
from .study_meta import StudyMeta


def load_front(study_dir: Path) -> tuple[StudyMeta, list[FrontPoint]]:
    """(search.json, pareto.json) of a study folder."""
    if study_dir.exists() and not study_dir.is_dir():
        raise AutoqError(f"study folder {study_dir} is a file: give --study the name of a folder "
                         f"that autoq search wrote")
    try:
        meta = json.loads((study_dir / "search.json").read_text())
        rows = json.loads((study_dir / "pareto.json").read_text())
    except FileNotFoundError as e:
        raise AutoqError(f"study folder {study_dir} has no {Path(e.filename).name}: "
                         f"is it a study's results folder? (run autoq search first)") from None
    except json.JSONDecodeError as e:
        raise AutoqError(f"study folder {study_dir}: a results file is not valid JSON "
                         f"(line {e.lineno})") from None
    if not isinstance(meta, dict) or not isinstance(rows, list):
        raise AutoqError(f"study folder {study_dir}: search.json must hold a mapping and pareto.json "
                         f"a list of rows (written by autoq search; was one edited?)")
    where = f"study folder {study_dir}"
    return StudyMeta.from_json(meta, where), [FrontPoint.from_json(r, where) for r in rows]


BY = {"size": "size_bytes", "latency": LATENCY}


def pick(meta: StudyMeta, rows: list[FrontPoint], max_drop: float,
         by: str = "size", confident: bool = False) -> FrontPoint:
    """The smallest (``by="latency"``: fastest) front point whose metric is within
    ``max_drop`` of FP32's on each split it was scored on (search and confirm), and which
    beats the task's chance score on confirm (when it has one). A drop is in the metric's
    units, and a metric that is minimized (an error rate) drops as it rises.

    ``confident``: on confirm, the far end of the 95% interval of the difference from FP32
    must be within ``max_drop`` too, not only the point estimate: a drop the split shows to
    be at most ``max_drop`` (one-sided, 97.5%), so that the pick's drop on new data of the
    kind is within the bound, as far as the confirm split can tell."""
    if by not in BY:
        raise AutoqError(f"cannot pick by {by!r} (allowed: {', '.join(BY)})")
    if any(getattr(r, BY[by]) is None for r in rows):
        raise AutoqError(f"cannot pick by {by}: the study has no {by} objective "
                         f"(search with --latency for one)")
    sign = meta.sign
    if confident and any(r.delta is None for r in rows):
        raise AutoqError("cannot pick --confident: the front's points carry no confirm interval "
                         "(the task's scores give no per-example statistics); pick without it")

    def ok(r: FrontPoint) -> bool:
        drops = r.drops(meta.fp32_metric, meta.fp32_confirm_metric, sign)
        fits = bool(drops) and max(drops) <= max_drop
        return fits and (not confident or r.worst_drop(sign) <= max_drop)  # FP32's is 0
    fits = [r for r in rows if ok(r) and r.beats_chance is not False]
    if not fits:
        constant = sum(r.beats_chance is False for r in rows)
        raise AutoqError(f"no recipe on the front is within {max_drop} of FP32"
                         + (" at the far end of its confirm interval" if confident else "")
                         + f" ({len(rows)} points" + (f", {constant} of them no better than chance"
                                                      if constant else "")
                         + "; try a larger --max-drop" + (", or pick without --confident" if confident else "")
                         + ")")
    return min(fits, key=lambda r: (getattr(r, BY[by]), r.size_bytes))


def format_front(meta: StudyMeta, rows: list[FrontPoint]) -> str:
    name = meta.metric_name
    latency = any(r.latency_ratio is not None for r in rows)
    fid = any(r.fidelity is not None for r in rows)
    head = (f"{'trial':>6}" + (f" {'fidelity':>9}" if fid else "") + f" {name + ' (search)':>16} {name + ' (confirm)':>17} {'less FP32, 95%':>18} "
            f"{'size MB':>9} {'x FP32':>7}" + (f" {'time x FP32':>11}" if latency else "") + "  recipe")
    lines = [head, "-" * len(head)]
    for r in rows:
        confirm = "" if r.confirm_metric is None else f"{r.confirm_metric:.4g}"
        tag = f"  [{r.seed}]" if r.seed else ""
        tag += "  [near]" if r.near else ""
        tag += "  [chance]" if r.beats_chance is False else ""
        tag += f"  [{r.float_in_deploy} op(s) float on deploy]" if r.float_in_deploy else ""
        lines.append(f"{r.trial:>6}" + (f" {r.fidelity or 0:>9.3g}" if fid else "") + f" {r.metric:>16.4g} {confirm:>17} {r.delta_text():>18} "
                     f"{r.size_bytes / 1e6:>9.3f} {r.size_ratio or 0:>7.3f}"
                     + (f" {r.latency_ratio or 0:>11.3f}" if latency else "") + f"  {r.recipe}{tag}")
    lines.append(f"FP32: {name} {meta.fp32_metric:.4g} (search), "
                 f"{meta.fp32_confirm_metric:.4g} (confirm), {meta.fp32_size_bytes / 1e6:.3f} MB")
    if fid:
        lines.append(f"fidelity: {fidelity_text(meta.distance)} on the pool "
                     f"({meta.pool or 'the task pool'}); 0 is FP32 itself. The metric "
                     f"was scored only on these recipes of the fidelity front")
    if any(r.near for r in rows):
        lines.append(f"[near]: off the front by less than {meta.front_margin:g} {name} on "
                     f"the search split (--front-margin), so kept and scored on confirm")
    if any(r.beats_chance is False for r in rows):
        lines.append(f"[chance]: on the confirm split, not told apart from a constant answer "
                     f"({name} {_or_nan(meta.chance_confirm_metric):.4g}): never picked")
    if any(r.float_in_deploy for r in rows):
        lines.append("[op(s) float on deploy]: ops graph mode exposed that the recipe quantizes; no "
                     "deploy kernel runs them, so `autoq deploy` keeps them float (its fallbacks)")
    if rows and not any(r.delta for r in rows):
        lines.append("less FP32, 95%: empty, since the task's scores carry no per-example "
                     "statistics (Score.examples) to resample; see docs/tasks.md")
    if any(r.delta for r in rows):
        lines.append("less FP32, 95%: the confirm metric less FP32's there, a paired bootstrap over "
                     "the split's examples; an interval holding 0 does not tell the two apart")
    return "\n".join(lines)


def _or_nan(x: float | None) -> float:
    return float("nan") if x is None else x
