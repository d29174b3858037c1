"""A study's search.json (``StudyMeta``: what it was asked and FP32's figures, for the
front's readers) and the notices a search prints when it starts."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..quant.coverage import coverage
from .study_meta import StudyMeta

if TYPE_CHECKING:
    from .searcher import Searcher


def write_meta(s: Searcher) -> None:
    cfg, r = s.cfg, s.record()
    StudyMeta(fp32_metric=r.fp32_metric, fp32_confirm_metric=r.fp32_confirm_metric,
              fp32_size_bytes=r.fp32_size, task=cfg.task, metric_name=s.task.metric_name,
              direction=s.task.direction, objective=cfg.objective, objectives=tuple(cfg.objectives),
              pool=r.get("pool") if s.fidelity_search else None,
              distance=s.task.distance_name if s.fidelity_search else None, space=str(cfg.space),
              sampler=cfg.sampler, seed=cfg.seed, max_drop=cfg.max_drop,
              min_agreement=s.min_agreement, front_margin=s.front_margin, front_size=cfg.front_size,
              fidelity=cfg.fidelity, ladder=cfg.ladder, refine=s.refine, local=cfg.local,
              chance_metric=r.get("chance_metric"), chance_confirm_metric=r.get("chance_confirm_metric"),
              fp32_beats_chance=r.get("fp32_beats_chance")).write(cfg.out)


def notices(s: Searcher) -> list[str]:
    """What a user should know before the night: settings that do not apply, a small
    pool, a search split that cannot tell FP32 from a constant answer."""
    r, out = s.record(), []
    cover = coverage(s.model)
    if cover.share < 0.99:  # nothing left float in silence
        out.append(cover.summary())
    if s.fidelity_search and s.space.min_agreement:
        out.append(f"the space's min_agreement {s.space.min_agreement:g} constrains a metric study "
                   f"only (--objective metric); a fidelity study measures agreement with FP32 by "
                   f"its objective")
    if s.fidelity_search and str(r.get("pool", "")).startswith("calibration"):
        out.append(f"the fidelity objective's pool is the task's calibration batches "
                   f"({r.get('pool')}); give the task a larger unlabelled pool (Task.pool_batches "
                   f"or --pool) for a steadier objective")
    if r.get("fp32_beats_chance") is False:
        out.append(f"warning: on the search split FP32 ({r.fp32_metric:.4g}) cannot be told from "
                   f"a constant answer ({r.get('chance_metric'):.4g}; paired bootstrap, 95%), so "
                   f"the search split's differences are mostly luck: judge the front by its "
                   f"confirm column")
    return out
