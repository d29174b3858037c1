"""A night in miniature: several `autoq search` processes on one PostgreSQL study, one of
them SIGKILLed (its whole process group) every few seconds and started again at once, for
a fixed time; then one last resume without kills. Reports trials finished, cut short and
re-run, recipes scored twice (should be 0), trials lost (cut short and never queued again,
should be 0) and seed recipes recorded more than once (should be 0).

    python -m benchmarks.night --storage postgresql://postgres@127.0.0.1:55432/autoq \\
        [--minutes 10] [--processes 4] [--out results/bench/night.md]

The tiny task of the tests (tests/plugin_task.py), so that trials are short and kills land
in every phase of a trial. Needs a PostgreSQL server (.ci/run shows how to start one).
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import optuna
from optuna.trial import TrialState

from autoq.io import write_atomic
from autoq.search.storage import MAX_RETRY, cut_short, open_storage
from autoq.search.trial_record import TrialRecord

ROOT = Path(__file__).resolve().parents[1]
STUDY = "night"


def command(storage: str, results: Path, n_trials: int) -> list[str]:
    return [sys.executable, "-m", "autoq", "search", "--task", "plugin_task:make_task",
            "--space", str(ROOT / "tests" / "spaces" / "tiny.yaml"), "--study", STUDY,
            "--results", str(results), "--storage", storage, "--n-trials", str(n_trials),
            "--heartbeat", "1", "--device", "cpu", "--ladder", "3"]


def start(storage: str, results: Path, n_trials: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'tests'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.Popen(command(storage, results, n_trials), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def count(study: optuna.Study) -> dict[str, int]:
    trials = study.trials
    notes = {t.number: TrialRecord.of(t) for t in trials}
    finished = [t for t in trials if notes[t.number].same_as is None and (
        t.state in (TrialState.COMPLETE, TrialState.PRUNED) or notes[t.number].fail_reason is not None)]
    cut = [t for t in trials if t.params and cut_short(t)]
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    given_up = {t.number for t in cut if len(t.system_attrs.get("retry_history", ())) + 1 > MAX_RETRY}
    plans = collections.Counter(notes[t.number].plan for t in trials
                                if t.state == TrialState.COMPLETE and notes[t.number].plan is not None)
    seeds = collections.Counter(notes[t.number].seed for t in trials if notes[t.number].seed is not None)
    return {"trials": len(trials), "finished": len(finished), "cut short by a kill": len(cut),
            "re-run": len(retried & {t.number for t in cut}), "given up (cut short 3 times)": len(given_up),
            "lost (cut short, never queued again)": len({t.number for t in cut} - retried - given_up),
            "recipes scored twice": sum(n - 1 for n in plans.values() if n > 1),
            "seeds recorded twice": sum(n - 1 for n in seeds.values() if n > 1),
            "still running": sum(t.state == TrialState.RUNNING for t in trials)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--storage", required=True)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--results", default="/tmp/autoq-night")
    p.add_argument("--out", default=str(ROOT / "results" / "bench" / "night.md"))
    args = p.parse_args()
    try:
        optuna.delete_study(study_name=STUDY, storage=args.storage)
    except KeyError:
        pass
    results, rng = Path(args.results), random.Random(0)
    procs = [start(args.storage, results, 10 ** 6) for _ in range(args.processes)]
    kills, end = 0, time.monotonic() + args.minutes * 60
    while time.monotonic() < end:
        time.sleep(rng.uniform(2, 6))
        i = rng.randrange(len(procs))
        os.killpg(procs[i].pid, signal.SIGKILL)
        procs[i].wait()
        kills += 1
        procs[i] = start(args.storage, results, 10 ** 6)
    for proc in procs:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kills += len(procs)
    time.sleep(4)  # past three heartbeats: what ran is stale now
    study = optuna.load_study(study_name=STUDY, storage=open_storage(args.storage, results))
    during = count(study)
    target = during["finished"] + 10
    last = subprocess.run(command(args.storage, results, target), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")))
    after = count(optuna.load_study(study_name=STUDY, storage=open_storage(args.storage, results)))
    exhausted = ("" if after["finished"] >= target else
                 f"; it ended at {after['finished']} finished trials because the tiny space holds "
                 f"no more new recipes (a search stops after 200 proposals in a row of recipes "
                 f"already scored, which is also why the study holds {after['trials']} trials)")
    rows = "\n".join(f"| {k} | {during[k]} | {after[k]} |" for k in during)
    text = f"""# A night in miniature: {args.processes} processes, a SIGKILL every 2 to 6 s

`python -m benchmarks.night --storage postgresql://... --minutes {args.minutes:g} --processes {args.processes}`,
{date.today()}, this project's 2-core CPU, PostgreSQL 15 on loopback. {args.processes} `autoq search`
processes on one study (the tests' tiny task and space, `--heartbeat 1`, `--ladder 3`); every
2 to 6 s one of them, chosen at random, is killed with its process group (SIGKILL) and started
again at once: {kills} kills in {args.minutes:g} minutes, landing in every phase (seeding,
asking, scoring, telling, writing the front). Then one more resume without kills, to
`--n-trials {target}` (exit {last.returncode}){exhausted}.

| | after the kills | after the resume |
|---|---|---|
{rows}

"Lost" counts trials cut short that were neither queued again nor given up
({"none: no kill stranded a trial" if after["lost (cut short, never queued again)"] == 0 else "some were stranded"}). "Recipes scored twice" counts completed trials whose quantization
plan another completed trial had already scored; "seeds recorded twice" the seed recipes
stored more than once.
"""
    write_atomic(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
