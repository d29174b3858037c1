"""What a search is asked to do: the study's settings and the samplers' names."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import AutoqError

SAMPLERS = ("tpe", "nsga2", "gp", "random")
OBJECTIVES = ("fidelity", "metric")
LATENCY = "latency_ratio"  # the third objective's name, and its field in the front's rows


@dataclass(frozen=True)
class SearchConfig:
    task: str
    space: str
    study: str
    results: Path = Path("autoq-results")  # a user's own folder: never the repository's results/
    storage: str | None = None
    n_trials: int = 100
    timeout_s: float | None = None
    trial_timeout_s: float | None = None  # one trial's limit; default: 20x FP32's evaluation + 60 s
    sampler: str = "tpe"
    seed: int = 0
    max_drop: float | None = None
    # the least share of the search split that a recipe must score exactly as FP32 does (a
    # classifier: the same answer); a constraint, as max_drop is. None: the space's, if it
    # sets one; 0: none
    min_agreement: float | None = None
    # the front also holds the points within this much metric of it (None: the space's)
    front_margin: float | None = None
    fidelity: float = 0.25  # fraction scored first; 1.0 turns multi-fidelity off
    prune_margin: float | None = None  # default: 2% of the FP32 metric
    device: str | None = None
    workers: int = 1
    progress: bool = True
    seeds: tuple[str, ...] = ("fp32", "int8")
    ladder: int = 5  # seeds from sensitivity analysis (0: none)
    # share of trials that are a front point's neighbour (Pareto local search); 0, the sampler
    # alone, set a higher hypervolume on both tasks (results/HISTORY.md, 2026-12-03)
    local: float = 0.0
    # trials spent first on no-larger one-knob changes of the space's seed recipes (None:
    # the space's refine, else 0)
    refine: int | None = None
    sensitivity: Path | None = None  # a saved table; default: measured once into the study folder
    sensitivity_fraction: float = 0.5  # of the search split, when measured here
    heartbeat_s: float = 10.0  # trials of a worker silent for 3 heartbeats are re-run
    latency: bool = False  # a third objective: the deployed model's time over FP32's
    # what a trial is scored by: "fidelity" (distance from FP32's outputs on the task's
    # unlabelled pool; the metric is scored on the front only) or "metric" (the search split)
    objective: str = "fidelity"
    pool: Path | None = None  # a file of unlabelled inputs for the fidelity objective
    front_size: int = 12  # a fidelity study's front: at most this many recipes scored by the metric

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise unknown_sampler(self.sampler)
        if not 0.0 <= self.local <= 1.0:
            raise AutoqError(f"local = {self.local} is not allowed (allowed: a share from 0 to 1)")
        if self.min_agreement is not None and not 0.0 <= self.min_agreement <= 1.0:
            raise AutoqError(f"min_agreement = {self.min_agreement} is not allowed "
                             f"(allowed: a share from 0, off, to 1)")
        if self.front_margin is not None and not self.front_margin >= 0:
            raise AutoqError(f"front_margin = {self.front_margin} is not allowed (allowed: 0 or more)")
        if self.refine is not None and self.refine < 0:
            raise AutoqError(f"refine = {self.refine} is not allowed (allowed: 0 or more trials)")
        if self.objective not in OBJECTIVES:
            raise AutoqError(f"objective {self.objective!r} is not known (allowed: {', '.join(OBJECTIVES)})")
        if self.pool is not None and self.objective != "fidelity":
            raise AutoqError("--pool feeds the fidelity objective: give --objective fidelity, or leave out --pool")
        if self.front_size < 2:
            raise AutoqError(f"front_size = {self.front_size} is not allowed (allowed: 2 or more)")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise AutoqError(f"workers = {self.workers} is not allowed (allowed: 1 to {MAX_WORKERS})")
        if not 0 <= self.seed < 2 ** 32:
            raise AutoqError(f"seed = {self.seed} is not allowed (allowed: 0 to 2**32 - 1)")
        if not 1 <= self.heartbeat_s <= 3600:
            raise AutoqError(f"heartbeat = {self.heartbeat_s} s is not allowed (allowed: 1 to 3600 s)")
        for name, v in (("timeout", self.timeout_s), ("trial_timeout", self.trial_timeout_s)):
            if v is not None and not 0 < v < 10 ** 7:
                raise AutoqError(f"{name} = {v} s is not allowed (allowed: more than 0, e.g. 8h, 30m)")
        check_study_name(self.study)
        if self.results.exists() and not self.results.is_dir():
            raise AutoqError(f"--results {self.results} is a file, not a folder")

    @property
    def out(self) -> Path:
        return self.results / self.study

    @property
    def objectives(self) -> tuple[str, ...]:
        """The study's values, in order: the metric (up), then costs (down)."""
        return ("metric", "size_bytes") + ((LATENCY,) if self.latency else ())


MAX_WORKERS = 64
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_study_name(name: str) -> None:
    """A study's name is a folder's name in --results, never a path."""
    if not STUDY_NAME.fullmatch(str(name)):
        raise AutoqError(f"study name {str(name)[:80]!r} is not allowed (allowed: letters, digits, "
                         f"'.', '_' and '-', starting with a letter or digit, at most 128; a name, "
                         f"not a path)")


def parse_duration(text: str) -> float:
    """'8h', '30m', '90s' or plain seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not m:
        raise AutoqError(f"timeout {text!r} is not a duration (allowed: e.g. 8h, 30m, 90s, 3600)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def unknown_sampler(name: str) -> AutoqError:
    return AutoqError(f"sampler {name!r} is not known (allowed: {', '.join(SAMPLERS)})")
