"""Optuna storage for a study: a local SQLite file by default, any RDB URL (PostgreSQL)
for several machines; heartbeats so that trials of a killed worker are re-run."""
from __future__ import annotations

import fcntl
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState, create_trial
from sqlalchemy import event

from ..errors import AutoqError, mask_secrets
from ._optuna import Storage, fail_stale
from .lock import sqlite_lock_path
from .trial_record import TrialRecord

# ask/tell drives heartbeats itself (see heartbeat below), which Optuna warns about
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
optuna.logging.set_verbosity(optuna.logging.WARNING)

HEARTBEAT_S = 10  # a running trial's worker records a heartbeat this often
STALE_AFTER = 3  # heartbeats missed before a trial counts as dead and is re-run
MAX_RETRY = 2  # a recipe whose worker dies this often is not run again (it may be what kills it)


def open_storage(url: str | None, study_dir: Path, heartbeat_s: float = HEARTBEAT_S) -> Storage:
    url = url or f"sqlite:///{(study_dir / 'study.db').resolve()}"
    shown = mask_secrets(url)
    if not url.startswith(("sqlite:///", "postgresql", "mysql")):
        raise AutoqError(f"storage {shown!r} is not an RDB URL (allowed: sqlite:///PATH, "
                         f"postgresql://USER@HOST/DB, mysql://...)")
    if url in ("sqlite://", "sqlite:///:memory:") or ":memory:" in url or "mode=memory" in url:
        raise AutoqError(f"storage {shown!r} is in memory: a study lives in a file or a server, "
                         f"so that it resumes and workers share it (allowed: sqlite:///PATH, "
                         f"postgresql://USER@HOST/DB)")
    study_dir.mkdir(parents=True, exist_ok=True)
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(4):
        try:
            with _creating(url):
                storage = Storage(url, engine_kwargs=engine, heartbeat_interval=max(1, int(heartbeat_s)),
                                  grace_period=max(2, int(STALE_AFTER * heartbeat_s)))
            break
        except Exception as e:  # sqlalchemy raises many kinds; all mean the same to a user
            if attempt < 3 and _made_meanwhile(e):  # another process made the tables at this
                time.sleep(0.5 * (attempt + 1))  # moment: they are there now
                continue
            raise AutoqError(f"storage {shown!r} cannot be opened: {type(e).__name__}: "
                             f"{mask_secrets(str(e).splitlines()[0])}") from None
    if url.startswith("sqlite"):
        _serialize(storage.engine)
    return storage


@contextmanager
def _creating(url: str):
    """Around opening a storage: processes opening one SQLite file at once take turns (the
    first makes its tables); a server's own transactions order the rest."""
    if not url.startswith("sqlite:///"):
        yield
        return
    with open(sqlite_lock_path(url), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _made_meanwhile(e: Exception) -> bool:
    """A failure because another process made the same tables at the same moment."""
    return type(e).__name__ == "IntegrityError" or "already exists" in str(e)


def _serialize(engine) -> None:
    """Make each SQLite transaction take the write lock at its first statement.

    Python's sqlite3 begins a transaction only before a write, so a read-then-update
    (Optuna popping a queued trial) is not atomic: two workers could both pop the same
    trial and run it twice. SQLite has no row locks (Optuna's ``for_update`` does nothing
    there), so the transaction as a whole takes the lock."""

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made before the hooks are dropped


@contextmanager
def heartbeat(storage: RDBStorage, study: optuna.Study, trial: optuna.Trial):
    """Record the trial's heartbeat while it runs (ask/tell does not do it by itself)."""
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), trial.number)
    interval = storage.get_heartbeat_interval() or HEARTBEAT_S
    stop = threading.Event()

    def beat():
        while not stop.wait(interval):
            storage.record_heartbeat(trial_id)

    storage.record_heartbeat(trial_id)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def cut_short(t: optuna.trial.FrozenTrial) -> bool:
    """A trial whose worker died (or was stopped) before it finished: failed with no
    reason of its own, and not a repeated proposal."""
    return t.state == TrialState.FAIL and all(  # runs over the study on every trial
        TrialRecord.one(t, name) is None for name in ("fail_reason", "same_as", "stopped"))


def recover_stale(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Fail the running trials whose worker stopped beating, then queue every trial cut
    short that has no retry yet (up to MAX_RETRY times each). Run under the study lock: a
    process killed between the two steps leaves a trial that the next call queues, so no
    trial is stranded whatever the moment of the kill."""
    fail_stale(study)
    trials = study.get_trials(deepcopy=False)  # returned: the study after the stale are failed
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    for t in trials:
        history = [*t.system_attrs.get("retry_history", ()), t.number]
        if cut_short(t) and t.number not in retried and len(history) <= MAX_RETRY and t.params:
            study.add_trial(create_trial(
                state=TrialState.WAITING, params=t.params, distributions=t.distributions,
                user_attrs=TrialRecord.of(t).queued_by,
                system_attrs={**t.system_attrs, "failed_trial": t.system_attrs.get("failed_trial", t.number),
                              "retry_history": history}))
    return trials
