"""One study's lock, shared by every process on it, on one machine or many, through the
study's own storage: an exclusive file lock beside a SQLite file, a session advisory lock
on PostgreSQL (``GET_LOCK`` on MySQL). The operating system or the database server drops
it when its holder dies, so a killed process never leaves a study locked.

Held briefly: to seed a study (once, by the first process; the others wait, then find the
seeds done), and to recover stale trials, check the trial count and start a trial in one
step, so that N processes on ``--n-trials T`` finish exactly T trials.
"""
from __future__ import annotations

import fcntl
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from optuna.storages import RDBStorage
from sqlalchemy import make_url, text


def _key(study: str) -> int:
    return zlib.crc32(f"autoq:{study}".encode())  # fits PostgreSQL's bigint lock keys


def sqlite_lock_path(url: str) -> Path:
    """The lock file beside a SQLite study file (also taken while its tables are made)."""
    return Path(f"{make_url(url).database}.lock")


_held = threading.local()  # the locks this thread holds: taken again, they are no-ops


@contextmanager
def study_lock(storage: RDBStorage, study: str) -> Iterator[None]:
    url = storage.engine.url
    name = (str(url), study)
    held = _held.__dict__.setdefault("names", set())
    if name in held:
        yield
        return
    held.add(name)
    try:
        with _lock(storage, study):
            yield
    finally:
        held.discard(name)


@contextmanager
def _lock(storage: RDBStorage, study: str) -> Iterator[None]:
    url = storage.engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = sqlite_lock_path(str(url))  # one lock for the file's studies
        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, or the process dies
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return
    if backend == "postgresql":
        take, give = "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)"
    elif backend == "mysql":
        take, give = "SELECT GET_LOCK(:k, -1)", "SELECT RELEASE_LOCK(:k)"
    else:
        raise ValueError(f"no study lock for the {backend!r} storage")
    key = _key(study) if backend == "postgresql" else str(_key(study))
    with storage.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(take), {"k": key})  # a session lock: no transaction held open
        try:
            yield
        finally:
            conn.execute(text(give), {"k": key})
