"""Does the search beat random search? Hypervolume after a budget of trials, per seed.

    python -m experiments.search_vs_random --task minilm-mrpc [--space minilm-mrpc-cpu]
        [--seeds 0 1 2] [--run] [--device cuda] [--jobs 6] [--timeout 7m] [--note "where it ran"]

Compares the search (by default TPE with Pareto local search; ``--sampler`` picks another of
autoq's samplers, ``--local`` the share of local-search trials) after ``--budget`` trials
with random search
(Optuna's RandomSampler alone) after the same budget and after ``--random-budget`` trials,
seed by seed. Every study starts
from the same seeded trials, the sensitivity ladder included: its table is measured once
into the studies' folder and shared. Studies live in results/<task>/vs_random/<sampler>-s<seed>/
for the task's own space (search_spaces/<task>.yaml), results/<task>/vs_random-<space>/ for
another; random search's studies serve every sampler. With ``--run``, missing or unfinished
studies are run (or resumed: ``--timeout`` bounds each run) first, ``--jobs`` at a time;
without, only what exists is reported. Writes results/<task>/search_vs_random.md (or
search_vs_random-<space>.md; -<sampler> added for a sampler other than TPE).
"""
from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace
from pathlib import Path

import optuna

from autoq.io import write_atomic
from autoq.search import SearchConfig, Searcher, parse_duration, run_search
from autoq.search.config import SAMPLERS
from autoq.search.front import REF_DROP, pareto_indices, relative_hypervolume
from autoq.search.outputs import feasible
from autoq.search.space import SearchSpace
from autoq.search.start import sensitivity_table

ROOT = Path(__file__).resolve().parent.parent  # search_spaces/ and results/

COMPLETE, PRUNED = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
# The studies named <sampler>-s<seed> ran with local search at this share (autoq's default
# until 2026-12-03); any other share is in the name, e.g. tpe-local0-s1, and --refine
# when not 0 (studies before it existed had none), e.g. tpe-local0-refine8-s1
PLAIN_LOCAL = 0.5


def suffix(task: str, space: str) -> str:
    return "" if space == task else f"-{space}"


def space_refine(space: str) -> int:
    """The space's ``refine``: what a search given no --refine spends on its seeds."""
    return SearchSpace.load(ROOT / "search_spaces" / f"{space}.yaml").refine


def folder(task: str, space: str, name: str | None = None) -> Path:
    return ROOT / "results" / task / (name or f"vs_random{suffix(task, space)}")


def load(where: Path, name: str) -> optuna.Study | None:
    db = where / name / "study.db"
    return optuna.load_study(study_name=name, storage=f"sqlite:///{db}") if db.is_file() else None


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials a budget counts, in order: completed or pruned, a repeated recipe
    (``same_as``) left out."""
    return sorted((t for t in study.get_trials(deepcopy=False, states=(COMPLETE, PRUNED))
                   if "same_as" not in t.user_attrs), key=lambda t: t.number)


def done(where: Path, name: str, n: int) -> bool:
    """Whether a study exists with its n trials: it is not resumed, which would record this
    machine's statistics in a study another made, and score its front again."""
    study = load(where, name)
    return study is not None and len(counted(study)) >= n


def kept(trial: optuna.trial.FrozenTrial) -> bool:
    """Completed within the study's constraints: a point its front can hold."""
    return trial.state == COMPLETE and feasible(trial)


def curve(study: optuna.Study | None, budgets: list[int]) -> dict[int, tuple[float, int] | None]:
    """(hypervolume on the search split, trials counted) of the completed trials within the
    constraints among the first N counted, per N; a study with fewer than N counts all it
    has (None: no study)."""
    if study is None:
        return dict.fromkeys(budgets)
    attrs, trials = study.user_attrs, counted(study)
    out = {}
    for n in budgets:
        points = [(t.values[0], t.values[1]) for t in trials[:n] if kept(t)]
        out[n] = (relative_hypervolume(points, attrs["fp32_metric"], attrs["fp32_size_bytes"]),
                  min(n, len(trials)))
    return out


def confirm_hypervolume(study: optuna.Study | None, n: int) -> float | None:
    """Hypervolume on the confirm split of the search-split front of the first n counted
    trials: what the user picking from that front would get on data the search never saw.
    Every point scored on the confirm split when it joined the front (None: one was not)."""
    if study is None:
        return None
    attrs = study.user_attrs
    done = [t for t in counted(study)[:n] if kept(t)]
    points = []
    for i in pareto_indices([tuple(t.values) for t in done]):
        key = f"confirm:{done[i].number}"  # as outputs.front_rows records it, FP32's too
        if key not in attrs:
            return None
        points.append((attrs[key], done[i].values[1]))
    return relative_hypervolume(points, attrs["fp32_confirm_metric"], attrs["fp32_size_bytes"])


def ladder_seeds(studies: list[optuna.Study | None]) -> list[int]:
    """How many sensitivity-ladder seeds each study got: ``--ladder`` spreads its seeds
    along the path and drops one that repeats the last, so a study can get fewer."""
    return sorted({sum(str(t.user_attrs.get("seed", "")).startswith("sensitivity-")
                       for t in s.get_trials(deepcopy=False)) for s in studies if s is not None})


GOOD_DROP, GOOD_SIZE = 0.02, 0.25  # a good recipe: within 2% of FP32's metric at 1/4 of its size


def good(study: optuna.Study | None, n: int) -> int | None:
    """Searched recipes among the first n counted that scored (in full, on the search
    split) within GOOD_DROP of FP32's metric at no more than GOOD_SIZE of its size."""
    if study is None:
        return None
    attrs = study.user_attrs
    return sum(kept(t) and "seed" not in t.user_attrs
               and t.values[0] >= (1 - GOOD_DROP) * attrs["fp32_metric"]
               and t.values[1] <= GOOD_SIZE * attrs["fp32_size_bytes"] for t in counted(study)[:n])


def cost(study: optuna.Study | None, n: int, fidelity: float) -> float | None:
    """Scoring cost of the first n counted trials that are not seeds, in full search-split
    evaluations (a pruned trial costs its first fraction)."""
    if study is None:
        return None
    return sum(1.0 if t.state == COMPLETE else fidelity for t in counted(study)[:n]
               if "seed" not in t.user_attrs)


def run(args) -> None:
    where = folder(args.task, args.space, args.folder)
    base = SearchConfig(task=args.task, space=str(ROOT / "search_spaces" / f"{args.space}.yaml"),
                        study=where.name, results=where.parent,
                        fidelity=args.fidelity, ladder=args.ladder, device=args.device, progress=False,
                        timeout_s=parse_duration(args.timeout) if args.timeout else None)
    table = None
    if args.ladder:
        sensitivity_table(Searcher(base))  # measured once, shared by every study
        table = base.out / "sensitivity.json"
    arms = ((args.arm, args.sampler, args.budget, args.local, args.refine),
            ("random", "random", args.random_budget, 0.0, 0))  # random: alone
    configs = [replace(base, study=f"{arm}-s{seed}", results=where, n_trials=n, sampler=sampler,
                       seed=seed, sensitivity=table, local=local, refine=refine)
               for seed in args.seeds for arm, sampler, n, local, refine in arms]
    configs = [c for c in configs if not done(where, c.study, c.n_trials)]  # left as they are
    if args.jobs == 1:
        for cfg in configs:
            run_search(cfg)
    else:
        from joblib import Parallel, delayed
        Parallel(n_jobs=args.jobs, backend="loky")(delayed(run_search)(cfg) for cfg in configs)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True)
    p.add_argument("--space", default=None, help="a space in search_spaces/ (default: the task's)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--sampler", default="tpe", choices=[s for s in SAMPLERS if s != "random"],
                   help="the search's sampler, with local search (default: autoq's, TPE)")
    p.add_argument("--local", type=float, default=SearchConfig.local,
                   help="the search's share of local-search trials (default: autoq's)")
    p.add_argument("--refine", type=int, default=None,
                   help="the search's trials on the seed recipes' one-knob changes (default: the space's)")
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--random-budget", type=int, default=300)
    p.add_argument("--fidelity", type=float, default=0.25)
    p.add_argument("--ladder", type=int, default=5)
    p.add_argument("--device", default=None)
    p.add_argument("--jobs", type=int, default=1, help="studies run at once")
    p.add_argument("--timeout", default=None, help="bound on each study's run, e.g. 7m; re-run to resume")
    p.add_argument("--note", default="", help="where the studies ran, for the write-up")
    p.add_argument("--folder", default=None,
                   help="the studies' folder under results/<task>/ (default: vs_random[-<space>])")
    p.add_argument("--run", action="store_true", help="run or resume missing studies first")
    args = p.parse_args()
    args.space = args.space or args.task
    args.refine = space_refine(args.space) if args.refine is None else args.refine
    args.arm = args.sampler + ("" if args.local == PLAIN_LOCAL else f"-local{args.local:g}") \
        + (f"-refine{args.refine}" if args.refine else "")
    if args.run:
        run(args)
    rows, where, studies = [], folder(args.task, args.space, args.folder), []
    for seed in args.seeds:
        tpe, rnd = load(where, f"{args.arm}-s{seed}"), load(where, f"random-s{seed}")
        studies += [tpe, rnd]
        t, r = curve(tpe, [args.budget]), curve(rnd, [args.budget, args.random_budget])
        rows.append((seed, t[args.budget], r[args.budget], r[args.random_budget],
                     cost(tpe, args.budget, args.fidelity), cost(rnd, args.random_budget, args.fidelity),
                     confirm_hypervolume(tpe, args.budget), confirm_hypervolume(rnd, args.random_budget),
                     good(tpe, args.budget), good(rnd, args.random_budget)))
    write_report(args, rows, ladder_seeds(studies))


def write_report(args, rows, n_ladder: list[int]) -> None:
    b, rb, name = args.budget, args.random_budget, args.arm.upper()

    def fmt(v, n):
        if v is None:
            return "not run"
        hv, counted = v
        return f"{hv:.4f}" + ("" if counted == n else f" ({counted} trials)")

    where = folder(args.task, args.space, args.folder)
    sens = where / "sensitivity.json"
    table = json.loads(sens.read_text()) if sens.is_file() else None
    n_sens = sum(len(v) for v in table["drops"].values()) if table else 0
    flag = "" if args.space == args.task else f" --space {args.space}"
    flag += "" if args.sampler == "tpe" else f" --sampler {args.sampler}"
    flag += "" if args.local == SearchConfig.local else f" --local {args.local:g}"
    flag += "" if args.refine == space_refine(args.space) else f" --refine {args.refine}"
    flag += f" --folder {args.folder}" if args.folder else ""
    flag += "" if args.seeds == [0, 1, 2] else " --seeds " + " ".join(map(str, args.seeds))
    made = [json.loads(f.read_text()).get("min_agreement") for f in sorted(where.glob("*/search.json"))]
    agree = next((m for m in made if m), None)
    lines = [f"# {args.task}: the search against random search, space {args.space}", "",
             f"Made by `python -m experiments.search_vs_random --task {args.task}{flag} --run`"
             + (f" ({args.note})" if args.note else "") + ". Hypervolume "
             f"(`autoq.search.front.relative_hypervolume`) of the completed trials among the first N "
             f"finished ones (a repeated recipe not counted), on the search split: metric / FP32 "
             f"metric over size / FP32 size, "
             f"reference ({1 - REF_DROP:g}, 1). A study that stopped short of N counts the trials "
             f"it has, shown in brackets. Every study: the same space, fidelity {args.fidelity}, "
             f"the same seeded first trials (FP32, uniform int8, the space's seeds and "
             f"{' or '.join(map(str, n_ladder)) or 'none'} from the sensitivity ladder, "
             f"`--ladder {args.ladder}` less its repeats); {name} "
             + (f"with Pareto local search (`--local {args.local:g}`" if args.local else "alone (`--local 0`")
             + ("" if args.local != SearchConfig.local else ", autoq's default")
             + (f", first {args.refine} trials on the space's seed recipes changed by one knob, "
                f"`--refine {args.refine}`" if args.refine else ", `--refine 0`")
             + "), random search alone (`--local 0`, `--refine 0`). "
             f"Studies: results/{args.task}/{where.name}/."
             + (f" Every study keeps to `--min-agreement {agree:g}` (the space's `min_agreement`): "
                f"only trials within it count." if agree else ""), "",
             f"Cost is the searched trials' scoring in full search-split evaluations (a pruned trial "
             f"costs {args.fidelity}, a recipe proposed again nothing). The shared sensitivity table "
             + (f"took {n_sens} scores on {table['fraction']:g} of the split "
                f"({n_sens * table['fraction']:.0f} full evaluations), once for all studies."
                if table else "was not measured."), "",
             f"Good recipes: searched ones that scored within {GOOD_DROP:.0%} of FP32's metric at no "
             f"more than {GOOD_SIZE:g} of its size (search split, in full): how many a budget finds, "
             f"which the hypervolume, set by the front's best few, does not show.", "",
             f"| seed | {name} after {b} | random after {b} | random after {rb} | {name}@{b} >= random@{rb} "
             f"| cost {name}@{b} | cost random@{rb} | good {name}@{b} | good random@{rb} |",
             "|---|---|---|---|---|---|---|---|---|"]
    complete = []
    for seed, t, r1, r3, ct, cr, _, _, gt, gr in rows:
        full = t is not None and r3 is not None and t[1] == b and r3[1] == rb
        verdict = ("yes" if t[0] >= r3[0] else "no") if full else ""
        if full:
            complete.append((t[0], r1[0], r3[0]))
        costs = " | ".join("" if c is None else f"{c:.1f}" for c in (ct, cr))
        goods = " | ".join("" if g is None else str(g) for g in (gt, gr))
        lines.append(f"| {seed} | {fmt(t, b)} | {fmt(r1, b)} | {fmt(r3, rb)} | {verdict} | {costs} | {goods} |")
    if complete:
        lines += ["", f"Mean over {len(complete)} complete seed(s): {name}@{b} "
                  f"{statistics.mean(c[0] for c in complete):.4f}, random@{b} "
                  f"{statistics.mean(c[1] for c in complete):.4f}, random@{rb} "
                  f"{statistics.mean(c[2] for c in complete):.4f}; {name}@{b} >= random@{rb} on "
                  f"{sum(c[0] >= c[2] for c in complete)} of {len(complete)}."]
    lines += confirm_lines(rows, b, rb, name)
    lines += front_lines(where, args.seeds, args.arm)
    other = "" if args.arm == "tpe" else f"-{args.arm}"
    out = where.parent / f"search_{where.name}{other}.md"
    write_atomic(out, "\n".join(lines) + "\n")
    print(out.read_text())


def confirm_lines(rows, b: int, rb: int, name: str) -> list[str]:
    """The same comparison on the confirm split, for the seeds whose studies both reached
    their budget."""
    pairs = [(seed, tc, rc) for seed, t, _, r, _, _, tc, rc, *_ in rows
             if tc is not None and rc is not None and t[1] == b and r[1] == rb]
    if not pairs:
        return []
    lines = ["", f"The same fronts on the confirm split, which the search never scores by: each "
             f"front point's confirm-split metric (over FP32's there) at its size, the front as it "
             f"stood after {b} trials for {name} and {rb} for random search "
             f"(`confirm_hypervolume`). This is what a user picking from the front gets.", "",
             f"| seed | {name} after {b}, confirm | random after {rb}, confirm | {name} >= random |",
             "|---|---|---|---|"]
    lines += [f"| {seed} | {t:.4f} | {r:.4f} | {'yes' if t >= r else 'no'} |" for seed, t, r in pairs]
    lines += ["", f"Mean over {len(pairs)} seed(s): {name}@{b} {statistics.mean(p[1] for p in pairs):.4f}, "
              f"random@{rb} {statistics.mean(p[2] for p in pairs):.4f}; {name}@{b} >= random@{rb} on "
              f"{sum(p[1] >= p[2] for p in pairs)} of {len(pairs)}."]
    return lines


def front_lines(where: Path, seeds: list[int], arm: str) -> list[str]:
    """Each study's front as it stands, on the confirm split (the search split's figure in
    brackets), at each point's size over FP32's."""
    lines = []
    for name in [f"{s}-s{seed}" for seed in seeds for s in (arm, "random")]:
        front, meta = where / name / "pareto.json", where / name / "search.json"
        if not front.is_file() or not meta.is_file():
            continue
        fp32 = json.loads(meta.read_text())
        if not lines:
            lines = ["", f"Fronts on the confirm split (FP32 {fp32['fp32_confirm_metric']:.4g}), "
                     f"confirm (search) @ size / FP32 size, smallest first; `near`: within the "
                     f"study's front margin of the front, not on it:", ""]
        points = ", ".join(f"{r['confirm_metric']:.4g} ({r['metric']:.4g}) @ "
                           f"{r['size_bytes'] / fp32['fp32_size_bytes']:.3f}"
                           + (" near" if r.get("near") else "") for r in json.loads(front.read_text()))
        margin = fp32.get("front_margin") or 0
        lines.append(f"- {name}" + (f" (front margin {margin:g})" if margin else "") + f": {points}")
    return lines


if __name__ == "__main__":
    main()
