"""Failing trials, kills and restarts, and several workers on one study."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from autoq import AutoqError, Recipe
from autoq.search.pick import load_front
from autoq.search.storage import MAX_RETRY, open_storage, recover_stale
from autoq.search import SearchConfig, Searcher, run_search

TESTS = Path(__file__).resolve().parents[1]  # tests/
SPACE = str(TESTS / "spaces" / "tiny.yaml")
POSTGRES = os.environ.get("AUTOQ_TEST_POSTGRES")  # set by .ci/run, which starts a server
KILLED = f"killed-{os.getpid()}"  # the study's name: runs sharing one server never meet


def config(tmp_path, task="plugin_task:make_task", **kw):
    base = dict(task=task, space=SPACE, study="tiny", results=tmp_path, n_trials=8,
                progress=False, device="cpu", fidelity=1.0)
    return SearchConfig(**{**base, **kw})


@pytest.fixture(autouse=True)
def plugin_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))


def states(cfg):
    study = optuna.load_study(study_name=cfg.study, storage=cfg.storage or f"sqlite:///{cfg.out / 'study.db'}")
    return study, [t.state for t in study.trials]


def test_nan_and_raising_trials_fail_with_reason_and_the_study_stops(tmp_path):
    for task, words in (("plugin_task:nan_task", "the metric is nan"),
                        ("plugin_task:raising_task", "user code broke")):
        cfg = config(tmp_path / task.split(":")[1], task=task, n_trials=30, objective="metric")
        with pytest.raises(AutoqError, match=f"every searched trial failed.*{words}"):
            run_search(cfg)
        study, st = states(cfg)
        failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
        assert len(st) < 30 and len(failed) >= 5
        assert all(words in t.user_attrs["fail_reason"] for t in failed)
        # FP32 still scored; the front files are valid
        assert json.loads((cfg.out / "pareto.json").read_text())[0]["seed"] == "fp32"


def test_out_of_memory_retries_with_a_smaller_batch(tmp_path):
    searcher = Searcher(config(tmp_path, task="plugin_task:oom_task"))
    assert searcher.score(Recipe.build({})) > 0.9
    assert searcher.task.batch_size == 2


def _search_cmd(results, storage=None, n_trials=24, workers=2, ladder=0):
    cmd = [sys.executable, "-m", "autoq", "search", "--task", "plugin_task:make_task", "--space", SPACE,
           "--study", KILLED, "--results", str(results), "--n-trials", str(n_trials),
           "--workers", str(workers), "--fidelity", "1", "--heartbeat", "1", "--device", "cpu",
           "--ladder", str(ladder)]
    return cmd + (["--storage", storage] if storage else [])


def _env():
    return dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def kill_and_restart(results, storage=None):
    rng = random.Random(0)
    for _ in range(3):  # start, kill every process of the search at a random moment
        proc = subprocess.Popen(_search_cmd(results, storage), env=_env(), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(6, 12))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(4)  # longer than three heartbeats: what was running is now stale
    done = subprocess.run(_search_cmd(results, storage), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def check_study(results, storage):
    study = optuna.load_study(study_name=KILLED, storage=storage)
    trials = study.trials
    finished = [t for t in trials if t.state.is_finished()]
    assert len([t for t in finished if t.state != optuna.trial.TrialState.FAIL]) >= 24 - 3
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    seeds = [t.user_attrs.get("seed") for t in trials if t.user_attrs.get("seed")]
    assert len(seeds) == len(set(seeds))  # each seed recorded once
    # trials killed while running were failed by the heartbeat check and re-run
    stale = [t for t in trials if t.state == optuna.trial.TrialState.FAIL and t.params  # no params:
             and "fail_reason" not in t.user_attrs and "same_as" not in t.user_attrs]  # nothing to re-run
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}  # retries of retries too
    given_up = {t.number for t in stale if len(t.system_attrs.get("retry_history", [])) >= MAX_RETRY}
    assert {t.number for t in stale} - given_up <= retried  # killed 3 times: not run again
    meta, rows = load_front(results / KILLED)
    for r in rows:
        t = trials[r.trial]
        value = r.fidelity if meta.by_fidelity else r.metric
        assert t.state == optuna.trial.TrialState.COMPLETE and value == pytest.approx(t.values[0], abs=1e-8)
        assert Recipe.load(results / KILLED / r.recipe).to_yaml() == t.user_attrs["recipe"]
    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    for t in completed:
        assert (results / KILLED / f"recipes/{t.number:05d}.yaml").is_file()


def add_dead_trial(study: optuna.Study, params: dict | None = None) -> int:
    """A trial RUNNING for 10 s with no heartbeat: its worker died (inside ``ask()`` when
    it has no ``params``, while scoring them otherwise). Returns its number."""
    from datetime import datetime, timedelta
    params = params or {}
    dists = {k: CategoricalDistribution([v]) for k, v in params.items()}
    trial_id = study._storage.create_new_trial(study._study_id, template_trial=optuna.trial.FrozenTrial(
        number=0, state=optuna.trial.TrialState.RUNNING, value=None,
        datetime_start=datetime.now() - timedelta(seconds=10), datetime_complete=None, params=params,
        distributions=dists, user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=0))
    return study._storage.get_trial_number_from_id(trial_id)


def test_a_worker_killed_before_its_first_heartbeat_leaves_no_running_trial(tmp_path):
    storage = open_storage(None, tmp_path, heartbeat_s=1)
    study = optuna.create_study(study_name="s", storage=storage)
    in_ask = add_dead_trial(study)  # asked, then killed inside ask(): nothing to run again
    scoring = add_dead_trial(study, {"x": 1})  # killed while scoring its recipe
    live = study.ask()  # asked just now, no heartbeat yet: not stale
    recover_stale(study)
    by_number = {t.number: t for t in study.trials}
    assert by_number[in_ask].state == by_number[scoring].state == TrialState.FAIL
    assert by_number[live.number].state == TrialState.RUNNING
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert [(t.params, t.system_attrs["retry_history"]) for t in waiting] == [({"x": 1}, [scoring])]


def test_a_trial_failed_but_not_yet_queued_again_is_queued_by_the_next_look(tmp_path):
    """A worker killed between failing a stale trial and queuing it again (two commits)
    strands nothing: every later look queues what has no retry, once."""
    storage = open_storage(None, tmp_path, heartbeat_s=1)
    study = optuna.create_study(study_name="s", storage=storage)
    number = add_dead_trial(study, {"x": 2})
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    storage.set_trial_state_values(trial_id, state=TrialState.FAIL)  # failed; the kill came here
    for _ in range(3):  # every look after it, by any worker
        recover_stale(study)
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].params == {"x": 2}
    assert waiting[0].system_attrs["retry_history"] == [number]


def test_a_trial_killed_too_often_is_not_queued_again(tmp_path):
    storage = open_storage(None, tmp_path, heartbeat_s=1)
    study = optuna.create_study(study_name="s", storage=storage)
    add_dead_trial(study, {"x": 3})
    for _ in range(MAX_RETRY + 2):  # its retry is asked and killed too, again and again
        recover_stale(study)
        waiting = [t for t in study.trials if t.state == TrialState.WAITING]
        if not waiting:
            break
        trial = study.ask()  # pops the retry
        tid = storage.get_trial_id_from_study_id_trial_number(study._study_id, trial.number)
        storage.set_trial_state_values(tid, state=TrialState.FAIL)
    recover_stale(study)
    runs = [t for t in study.trials if t.params == {"x": 3}]
    assert len(runs) == MAX_RETRY + 1 and all(t.state == TrialState.FAIL for t in runs)


def test_a_rerun_of_a_finished_study_fails_its_dead_trials(tmp_path):
    cfg = SearchConfig(task="plugin_task:make_task", space=SPACE, study="done", results=tmp_path,
                       n_trials=2, ladder=0, seeds=(), fidelity=1.0, progress=False, device="cpu",
                       heartbeat_s=1)
    run_search(cfg)
    dead = add_dead_trial(Searcher(cfg).study, {"x": 4})  # killed before the last run ended
    run_search(cfg)  # nothing left to run, but the dead trial is failed and queued again
    study = optuna.load_study(study_name="done", storage=f"sqlite:///{tmp_path / 'done' / 'study.db'}")
    assert TrialState.RUNNING not in [t.state for t in study.trials]
    assert study.trials[dead].state == TrialState.FAIL
    assert any(t.system_attrs.get("retry_history") == [dead] for t in study.trials)


def test_sigkill_and_restart_local_storage(tmp_path):
    kill_and_restart(tmp_path)
    check_study(tmp_path, f"sqlite:///{tmp_path / KILLED / 'study.db'}")


@pytest.mark.skipif(not POSTGRES, reason="AUTOQ_TEST_POSTGRES is not set (.ci/run starts a server)")
def test_sigkill_and_restart_postgres(tmp_path):
    storage = _fresh_postgres_study()
    kill_and_restart(tmp_path, storage)
    check_study(tmp_path, storage)


def _fresh_postgres_study():
    try:
        optuna.delete_study(study_name=KILLED, storage=POSTGRES)
    except KeyError:
        pass
    return POSTGRES


def shared_run(results, storage, processes: int, n_trials: int, workers: int = 1) -> None:
    """``processes`` copies of one search command started at once (as on several machines),
    then the study checked: exactly ``n_trials`` finished, no recipe scored twice, each seed
    once, nothing left running."""
    procs = [subprocess.Popen(_search_cmd(results, storage, n_trials, workers, ladder=2), env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(processes)]
    for proc in procs:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()[-2000:]
    study = optuna.load_study(study_name=KILLED, storage=storage)
    trials = study.trials
    finished = [t for t in trials if "same_as" not in t.user_attrs and (
        t.state in (TrialState.COMPLETE, TrialState.PRUNED) or "fail_reason" in t.user_attrs)]
    assert len(finished) == n_trials
    plans = [t.user_attrs["plan"] for t in trials if t.state == TrialState.COMPLETE and "plan" in t.user_attrs]
    assert len(plans) == len(set(plans))  # no recipe scored twice
    seeds = [t.user_attrs["seed"] for t in trials if "seed" in t.user_attrs]
    assert len(seeds) == len(set(seeds)) and any(x.startswith("sweep-") for x in seeds)  # seeded once
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_two_searches_on_one_local_study_share_the_work(tmp_path):
    shared_run(tmp_path, f"sqlite:///{tmp_path / KILLED / 'study.db'}", processes=2, n_trials=20)


def test_workers_on_one_local_study_share_the_work(tmp_path):
    shared_run(tmp_path, f"sqlite:///{tmp_path / KILLED / 'study.db'}", processes=1, n_trials=20,
               workers=2)


@pytest.mark.skipif(not POSTGRES, reason="AUTOQ_TEST_POSTGRES is not set (.ci/run starts a server)")
def test_four_searches_on_one_postgres_study_share_the_work(tmp_path):
    shared_run(tmp_path, _fresh_postgres_study(), processes=4, n_trials=40)


def test_a_local_study_transaction_holds_the_write_lock_from_its_first_read(tmp_path):
    # else two workers can both read a queued trial as waiting and both run it
    import sqlite3
    from sqlalchemy import text
    from autoq.search.storage import open_storage
    storage = open_storage(None, tmp_path)
    optuna.create_study(study_name="s", storage=storage).enqueue_trial({})
    other = sqlite3.connect(tmp_path / "study.db", timeout=0.1, isolation_level=None)
    with storage.scoped_session() as session:
        assert session.execute(text("SELECT count(*) FROM trials")).scalar() == 1
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # free again once the transaction ends
    other.execute("ROLLBACK")
    study = optuna.load_study(study_name="s", storage=storage)
    assert study.ask().number == 0 and study.trials[0].state == optuna.trial.TrialState.RUNNING


def test_a_new_study_under_an_old_name_never_points_at_the_old_study_s_recipes(tmp_path):
    """An emptied study.db resumed with another seed: trial numbers repeat, the recipes
    differ, and the front must name this study's recipes, not the files left before."""
    run_search(config(tmp_path, n_trials=10, ladder=0))
    (tmp_path / "tiny" / "study.db").unlink()
    run_search(config(tmp_path, n_trials=10, ladder=0, seed=7))
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'tiny' / 'study.db'}")
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        assert (tmp_path / "tiny" / f"recipes/{t.number:05d}.yaml").read_text() == t.user_attrs["recipe"]


def hanging(tmp_path, **kw) -> SearchConfig:
    """A task whose quantized evaluations hang, on the tiny space without its seed recipe."""
    space = tmp_path / "space.yaml"
    space.write_text((TESTS / "spaces" / "tiny.yaml").read_text().replace("seeds: [tiny_seed.yaml]\n", ""))
    return config(tmp_path, task="plugin_task:hanging_task", space=str(space), n_trials=50, ladder=0,
                  seeds=("fp32",), objective="metric", **kw)


def test_hung_trials_fail_at_their_limit_with_that_reason(tmp_path):
    cfg = hanging(tmp_path, trial_timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(AutoqError, match=r"every searched trial failed.*timed out after 1 s \(--trial-timeout\)"):
        run_search(cfg)
    assert time.monotonic() - start < 60
    study, _ = states(cfg)
    assert TrialState.RUNNING not in [t.state for t in study.trials]


def test_the_study_timeout_holds_while_a_trial_hangs(tmp_path):
    cfg = hanging(tmp_path, trial_timeout_s=600.0, timeout_s=12.0)  # FP32's seed first, even under load
    start = time.monotonic()
    run_search(cfg)  # ends at --timeout, not when the hung trial would
    assert time.monotonic() - start < 60
    study, _ = states(cfg)
    cut = [t for t in study.trials if t.state == TrialState.FAIL and t.params]
    assert len(cut) == 1 and "fail_reason" not in cut[0].user_attrs  # cut short: re-run on resume
    study = optuna.load_study(study_name=cfg.study, storage=open_storage(None, cfg.out))
    recover_stale(study)
    assert [t.params for t in study.trials if t.state == TrialState.WAITING] == [cut[0].params]


def _workers_cmd(results, n_trials):
    return _search_cmd(results, None, n_trials, workers=2, ladder=0)


def _children(pid: int) -> list[int]:
    """The worker processes of a search (not multiprocessing's resource tracker), read
    from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
    return found


def test_a_killed_worker_is_replaced_and_the_run_ends_whole(tmp_path):
    proc = subprocess.Popen(_workers_cmd(tmp_path, 60), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.5)
    time.sleep(3)
    os.kill(max(_children(proc.pid)), signal.SIGKILL)  # one worker dies mid-run
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    assert "starting another in its place" in proc.stderr.read()
    study = optuna.load_study(study_name=KILLED, storage=f"sqlite:///{tmp_path / KILLED / 'study.db'}")
    finished = [t for t in study.trials if "same_as" not in t.user_attrs and (
        t.state in (TrialState.COMPLETE, TrialState.PRUNED) or "fail_reason" in t.user_attrs)]
    assert len(finished) == 60


def _living(pids):
    def lives(pid):
        try:
            return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
        except FileNotFoundError:
            return False
    return [w for w in pids if lives(w)]


def test_when_the_parent_dies_its_workers_stop(tmp_path):
    proc = subprocess.Popen(_workers_cmd(tmp_path, 100000), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.5)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30  # a loaded machine is slow to reap them
    while (alive := _living(workers)) and time.monotonic() < deadline:
        time.sleep(0.5)
    try:
        assert alive == []
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if alive else None


def test_workers_share_the_cores_unless_omp_num_threads_says(monkeypatch):
    import torch
    from autoq.search.workers import _share_cores, cores
    cores, before = cores(), torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        _share_cores(1)
        assert torch.get_num_threads() == cores
        _share_cores(2 * cores)  # more workers than cores: one thread each, never none
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", str(cores))
        _share_cores(1)  # the user's setting stands
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
