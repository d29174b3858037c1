"""Optuna storage for a study: a local SQLite file by default, any RDB URL (PostgreSQL)
for several machines; heartbeats so that trials of a killed worker are re-run."""
from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy import event

from ..errors import AutoqError
from ._optuna import Storage

# ask/tell drives heartbeats itself (see heartbeat below), which Optuna warns about
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
optuna.logging.set_verbosity(optuna.logging.WARNING)

HEARTBEAT_S = 10  # a running trial's worker records a heartbeat this often
STALE_AFTER = 3  # heartbeats missed before a trial counts as dead and is re-run
MAX_RETRY = 2  # a recipe whose worker dies this often is not run again (it may be what kills it)


def open_storage(url: str | None, study_dir: Path, heartbeat_s: float = HEARTBEAT_S) -> Storage:
    url = url or f"sqlite:///{(study_dir / 'study.db').resolve()}"
    if not url.startswith(("sqlite:///", "postgresql", "mysql")):
        raise AutoqError(f"storage {url!r} is not an RDB URL (allowed: sqlite:///PATH, "
                         f"postgresql://USER@HOST/DB, mysql://...)")
    study_dir.mkdir(parents=True, exist_ok=True)
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        storage = Storage(url, engine_kwargs=engine, heartbeat_interval=max(1, int(heartbeat_s)),
                          grace_period=max(2, int(STALE_AFTER * heartbeat_s)),
                          heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY))
    except Exception as e:  # sqlalchemy raises many kinds; all mean the same to a user
        raise AutoqError(f"storage {url!r} cannot be opened: {type(e).__name__}: "
                         f"{str(e).splitlines()[0]}") from None
    if url.startswith("sqlite"):
        _serialize(storage.engine)
    return storage


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
